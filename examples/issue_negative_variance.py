"""Possible issue: a MovingVariance below -Epsilon would take the square root of a negative
number. netgraph refuses such arrays when they are given (and NaN or infinite values anywhere),
and an evaluation that would produce NaN fails instead of returning it.

Reference page: BatchNormalizationLayer > Possible Issues.
Run: python examples/issue_negative_variance.py
"""

import numpy as np

import netgraph as ng

arrays = dict(Scaling=[1.0, 1.0], Biases=[0.0, 0.0], MovingMean=[0.0, 0.0])

try:
    ng.BatchNormalizationLayer(**arrays, MovingVariance=[1.0, -0.5])
except ng.NetError as err:
    print("MovingVariance -0.5 refused:", err)

try:
    ng.BatchNormalizationLayer(**arrays, MovingVariance=[1.0, np.nan])
except ng.NetError as err:
    print("NaN refused:", err)

# Between -Epsilon and 0 the square root is still real, so the layer accepts it.
bn = ng.BatchNormalizationLayer(**arrays, MovingVariance=[1.0, -0.0005])
print("MovingVariance -0.0005 (> -Epsilon) accepted; output:", bn(np.array([1.0, 1.0])))

# Replacing an array goes through the same check.
try:
    ng.NetReplacePart(bn, {"MovingVariance": [1.0, -2.0]})
except ng.NetError as err:
    print("NetReplacePart refused too:", type(err).__name__)

# Data that would turn into NaN/Inf makes the evaluation fail instead of returning it.
try:
    bn(np.array([np.nan, 1.0]))
except ng.NetError as err:
    print("NaN input refused:", err)
