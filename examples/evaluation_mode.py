"""NetEvaluationMode: "Test" (the default) normalizes with the stored MovingMean and
MovingVariance; "Train" normalizes each batch by its own mean and biased variance (dividing by
N), as NetTrain does. Evaluating in either mode never changes the layer.

Reference page: BatchNormalizationLayer > Options > NetEvaluationMode.
Run: python examples/evaluation_mode.py
"""

import numpy as np

import netgraph as ng

bn = ng.NetInitialize(ng.BatchNormalizationLayer(Input=2))
batch = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 9.0]])

print("Test mode:\n", bn(batch))  # x / sqrt(1 + 0.001)
train = bn(batch, NetEvaluationMode="Train")
print("Train mode:\n", train)

# By hand: mean (3, 5), biased variance (8/3, 26/3).
mu, var = batch.mean(axis=0), batch.var(axis=0)
print("batch mean", mu, "biased variance", var)
np.testing.assert_allclose(train, (batch - mu) / np.sqrt(var + 0.001), rtol=1e-5)

# A batch of one vector: every channel has variance 0, so the output is exactly Biases.
print("one example, Train mode:", bn(batch[:1], NetEvaluationMode="Train"))

# The layer is a value: evaluation never moved its moving statistics.
print("MovingMean still", ng.NetExtract(bn, "MovingMean"))
