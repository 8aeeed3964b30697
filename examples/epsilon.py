"""Epsilon: added to the variance under the square root (default 0.001). A larger Epsilon
shrinks the outputs: x / sqrt(MovingVariance + Epsilon).

Reference page: BatchNormalizationLayer > Options > "Epsilon".
Run: python examples/epsilon.py
"""

import numpy as np

import netgraph as ng

x = np.array([1.0, 2.0, 3.0])
print("Epsilon  output")
for eps in (0.001, 0.1, 1.0, 10.0):
    bn = ng.NetInitialize(ng.BatchNormalizationLayer(Epsilon=eps, Input=3))
    y = bn(x)
    print(f"{eps:7}  {y}")
    np.testing.assert_allclose(y, x / np.sqrt(1 + eps), rtol=1e-6)

try:
    ng.BatchNormalizationLayer(Epsilon=0)
except ng.NetError as err:
    print("Epsilon 0 is refused:", err)
