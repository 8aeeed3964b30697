"""Momentum: how fast MovingMean/MovingVariance follow the training batches. After each NetTrain
step, moving = Momentum*moving + (1 - Momentum)*batch statistic (biased variance). Momentum 1
freezes the moving arrays; Momentum 0 keeps exactly the last batch's statistics.

Reference page: BatchNormalizationLayer > Options > "Momentum".
Run: python examples/momentum.py
"""

import numpy as np

import netgraph as ng

rng = np.random.default_rng(0)
x = rng.normal(loc=[3.0, -1.0], scale=[2.0, 0.5], size=(64, 2))
mean, var = x.mean(axis=0), x.var(axis=0)  # biased variance, as the layer uses
steps = 3  # 64 examples, BatchSize 64: one step per round, all data in every batch
print("data mean", mean.round(4), "biased variance", var.round(4))
print(f"after {steps} NetTrain steps:")
for momentum in (0.9, 0.5, 0.0, 1.0):
    bn = ng.BatchNormalizationLayer(Input=2, Momentum=momentum)
    trained = ng.NetTrain(bn, (x, x), MaxTrainingRounds=steps, TrainingProgressReporting=None)
    moving_mean = ng.NetExtract(trained, "MovingMean")
    moving_var = ng.NetExtract(trained, "MovingVariance")
    print(f"  Momentum {momentum}: MovingMean {moving_mean}  MovingVariance {moving_var}")
    # Starting from mean 0 and variance 1, k identical batch statistics give
    # moving = Momentum**k * start + (1 - Momentum**k) * statistic.
    kept = momentum**steps
    np.testing.assert_allclose(moving_mean, (1 - kept) * mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(moving_var, kept + (1 - kept) * var, rtol=1e-5)
