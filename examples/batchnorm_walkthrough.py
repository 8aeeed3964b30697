"""A short walk through BatchNormalizationLayer: build, infer, initialize, apply, inspect.

Run: python examples/batchnorm_walkthrough.py
"""

import numpy as np

import netgraph as ng

# A layer knows nothing until its input is given; then every shape is inferred.
bn = ng.BatchNormalizationLayer(Input=(3, 4, 4))
print("uninitialized:", bn)
print("ports:", ng.Information(bn, "InputPorts"), "->", ng.Information(bn, "OutputPorts"))

# NetInitialize is deterministic: Scaling 1, Biases 0, MovingMean 0, MovingVariance 1.
bn = ng.NetInitialize(bn)
for name in ("Scaling", "Biases", "MovingMean", "MovingVariance"):
    print(f"{name:>15}:", ng.NetExtract(bn, name))

# Plain evaluation ("Test" mode) uses the moving statistics.
x = np.arange(48, dtype=np.float32).reshape(3, 4, 4) / 10
y = bn(x)
print("test mode, channel means of the output:", y.mean(axis=(1, 2)).round(4))

# "Train" mode normalizes with the batch's own statistics; the net does not change.
batch = np.random.default_rng(0).normal(5.0, 3.0, size=(8, 3, 4, 4)).astype(np.float32)
yt = bn(batch, NetEvaluationMode="Train")
print(
    "train mode, per-channel mean/std:",
    yt.mean(axis=(0, 2, 3)).round(4),
    yt.std(axis=(0, 2, 3)).round(4),
)

# The hand formula of the reference page, from the extracted arrays.
s, b, m, v = (ng.NetExtract(bn, k) for k in ("Scaling", "Biases", "MovingMean", "MovingVariance"))
eps = ng.NetExtract(bn, "Epsilon")
by_hand = s[:, None, None] * (x - m[:, None, None]) / np.sqrt(v[:, None, None] + eps)
by_hand += b[:, None, None]
print("matches the formula:", np.allclose(y, by_hand, rtol=1e-6))

# Gradients by port, and a report.
g = bn(batch, ng.NetPortGradient("Scaling"))  # Test mode: sum of the normalized inputs
print("d(sum of outputs)/d Scaling:", g.round(4))
print()
print(ng.Information(bn))
