"""Scaling: the learned factor applied to the normalized input, one value per channel.

Reference page: BatchNormalizationLayer > Scope > Parameters > "Scaling".
Run: python examples/scaling.py
"""

import numpy as np

import netgraph as ng

bn = ng.NetInitialize(ng.BatchNormalizationLayer(Scaling=[0.0, 1.0, 10.0], Input=3))
print("Scaling:", ng.NetExtract(bn, "Scaling"))

x = np.array([2.0, 2.0, 2.0])
y = bn(x)
print("bn([2, 2, 2]) =", y)  # (0, 1, 10) * 2 / sqrt(1.001)
np.testing.assert_allclose(y, np.array([0.0, 1.0, 10.0]) * 2 / np.sqrt(1.001), rtol=1e-6)

# Scaling 0 silences a channel in both modes.
batch = np.random.default_rng(0).normal(size=(5, 3))
print("Train mode, channel 1 of a batch:", bn(batch, NetEvaluationMode="Train")[:, 0])
