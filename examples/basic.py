"""Basic examples: create a BatchNormalizationLayer, then one with its input given, initialize
it and apply it to an input.

Reference page: BatchNormalizationLayer > Basic Examples.
Run: python examples/basic.py
"""

import numpy as np

import netgraph as ng

# A layer with nothing known: no channel count, so no arrays yet.
print(ng.BatchNormalizationLayer())

# Give the input dimensions: a vector of 3 elements, i.e. 3 channels.
bn = ng.BatchNormalizationLayer(Input=3)
print(bn)

# NetInitialize is deterministic for BN: Scaling 1, Biases 0, MovingMean 0, MovingVariance 1.
bn = ng.NetInitialize(bn)
print(bn)

# Applied to an input ("Test" mode): x / sqrt(1 + Epsilon) for the fresh arrays.
y = bn(np.array([1.0, 2.0, 3.0]))
print("bn([1, 2, 3]) =", y)
np.testing.assert_allclose(y, np.array([1.0, 2.0, 3.0]) / np.sqrt(1.001), rtol=1e-6)
