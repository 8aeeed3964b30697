"""Possible issue: MovingMean and MovingVariance are never shared. NetInsertSharedArrays on a
BatchNormalizationLayer shares only Scaling and Biases; used twice in a net and trained, the two
copies keep one Scaling/Biases but their own moving statistics (each sees different inputs).
Giving a NetSharedArray for a moving array is refused.

Reference page: BatchNormalizationLayer > Possible Issues (and NetInsertSharedArrays).
Run: python examples/issue_shared_moving_stats.py
"""

import numpy as np

import netgraph as ng

shared_bn = ng.NetInsertSharedArrays(ng.BatchNormalizationLayer(Input=3))
net = ng.NetGraph(
    {"bn1": shared_bn, "scale": ng.LinearLayer(3), "bn2": shared_bn},
    [(ng.NetPort("Input"), "bn1", "scale", "bn2")],
    Input=3,
)
rng = np.random.default_rng(0)
x = rng.normal(2.0, 3.0, size=(256, 3))
trained = ng.NetTrain(net, (x, np.tanh(x)), MaxTrainingRounds=3, TrainingProgressReporting=None)
print("shared arrays:", ng.Information(trained, "SharedArraysCount"))

bn1, bn2 = ng.NetExtract(trained, "bn1"), ng.NetExtract(trained, "bn2")
for name in ("Scaling", "Biases", "MovingMean", "MovingVariance"):
    a, b = ng.NetExtract(trained, ("bn1", name)), ng.NetExtract(trained, ("bn2", name))
    print(f"{name:>14}: bn1 {a}  bn2 {b}  equal: {np.array_equal(a, b)}")
assert np.array_equal(
    ng.NetExtract(trained, ("bn1", "Scaling")), ng.NetExtract(trained, ("bn2", "Scaling"))
)
assert not np.allclose(
    ng.NetExtract(trained, ("bn1", "MovingMean")), ng.NetExtract(trained, ("bn2", "MovingMean"))
)

try:
    ng.BatchNormalizationLayer(MovingMean=ng.NetSharedArray("m"), Input=3)
except ng.NetError as err:
    print("NetSharedArray for MovingMean refused:", err)
