"""Properties & relations: in evaluation ("Test") mode a BatchNormalizationLayer computes
Scaling*(x - MovingMean)/sqrt(MovingVariance + Epsilon) + Biases per channel. Extract the four
arrays with NetExtract and recompute it by hand.

Reference page: BatchNormalizationLayer > Properties & Relations.
Run: python examples/properties_relations.py
"""

import numpy as np

import netgraph as ng

rng = np.random.default_rng(2)
channels = 3
bn = ng.BatchNormalizationLayer(
    Scaling=rng.uniform(0.5, 2.0, channels),
    Biases=rng.normal(size=channels),
    MovingMean=rng.normal(size=channels),
    MovingVariance=rng.uniform(0.1, 3.0, channels),
    Epsilon=0.01,
    Input=(channels, 2, 2),
)
x = rng.normal(size=(channels, 2, 2))

# The arrays are stored as float32; compute the formula in float64 from them.
scaling, biases, mean, variance = (
    ng.NetExtract(bn, name).astype(np.float64)
    for name in ("Scaling", "Biases", "MovingMean", "MovingVariance")
)
epsilon = ng.NetExtract(bn, "Epsilon")
for name, value in zip(
    ("Scaling", "Biases", "MovingMean", "MovingVariance"), (scaling, biases, mean, variance)
):
    print(f"{name:>14}: {value}")
print(f"{'Epsilon':>14}: {epsilon}")

per_channel = (slice(None), None, None)  # broadcast a (3,) vector over (3, 2, 2)
by_hand = (
    scaling[per_channel] * (x - mean[per_channel]) / np.sqrt(variance[per_channel] + epsilon)
    + biases[per_channel]
)
y = bn(x)
print("layer output, channel 0:\n", y[0])
print("by hand,      channel 0:\n", by_hand[0].astype(np.float32))
print("max difference:", float(np.abs(y - by_hand).max()))
np.testing.assert_allclose(y, by_hand, rtol=1e-5, atol=1e-6)

# With WorkingPrecision "Real64" the layer computes in float64 too: equal to rounding.
y64 = bn(x, WorkingPrecision="Real64")
np.testing.assert_allclose(y64, by_hand, rtol=1e-12)
print("Real64 output equals the formula to 1e-12")
