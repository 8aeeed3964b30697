"""Batch application: a BatchNormalizationLayer applied to a batch (an array whose rank is the
port's rank + 1, or a list of examples) gives one output per example, the same as applying it to
each example on its own ("Test" mode does not mix examples).

Reference page: BatchNormalizationLayer > Scope > Ports (batch application).
Run: python examples/batch_application.py
"""

import numpy as np

import netgraph as ng

bn = ng.NetInitialize(ng.BatchNormalizationLayer(Input=(2, 3)))
rng = np.random.default_rng(1)
batch = rng.normal(size=(4, 2, 3)).astype(np.float32)

out = bn(batch)  # rank 3 = port rank 2 + 1: a batch of 4 examples
print("batch of", len(batch), "->", out.shape)

as_list = bn([example for example in batch])  # a list of examples is a batch too
one_by_one = np.stack([bn(example) for example in batch])
print("array batch == list batch:", np.array_equal(out, as_list))
print("batch == one example at a time:", np.allclose(out, one_by_one, rtol=1e-6))

# A NumericArray in gives a NumericArray out.
na = bn(ng.NumericArray(batch, "Real32"))
print("NumericArray in ->", type(na).__name__, na.type, na.shape)
