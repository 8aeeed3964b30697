"""Possible issue: NetInitialize of a bare BatchNormalizationLayer() fails, because its channel
count (the length of its four arrays) is unknown until its input shape is known, from Input= or
from its neighbours in a container.

Reference page: BatchNormalizationLayer > Possible Issues.
Run: python examples/issue_uninitialized.py
"""

import numpy as np

import netgraph as ng

try:
    ng.NetInitialize(ng.BatchNormalizationLayer())
except ng.NetError as err:
    print("NetInitialize(BatchNormalizationLayer()) fails:")
    print("  ", err)

try:
    ng.BatchNormalizationLayer()(np.ones(3))
except ng.NetError as err:
    print("evaluating it fails too:", type(err).__name__)

# Input= gives the shape ...
print("with Input=4:", ng.NetInitialize(ng.BatchNormalizationLayer(Input=4)))

# ... or the container infers it from the neighbours: LinearLayer(5) makes 5 channels.
chain = ng.NetInitialize(ng.NetChain([ng.LinearLayer(5), ng.BatchNormalizationLayer()], Input=2))
print("in a chain after LinearLayer(5):", ng.Information(chain, "ArraysDimensions")[(1, "Scaling")])
