"""Biases: the learned shift added after normalization, one value per channel.

Reference page: BatchNormalizationLayer > Scope > Parameters > "Biases".
Run: python examples/biases.py
"""

import numpy as np

import netgraph as ng

# Giving an array fixes the channel count (3); the other arrays still need NetInitialize.
bn = ng.NetInitialize(ng.BatchNormalizationLayer(Biases=[1.0, 2.0, 3.0], Input=(3, 2)))
print("Biases:", ng.NetExtract(bn, "Biases"))

x = np.zeros((3, 2))
print("applied to zeros, every channel gets its bias:\n", bn(x))
np.testing.assert_allclose(bn(x), [[1, 1], [2, 2], [3, 3]], rtol=1e-6)

# In "Train" mode a single example is normalized to 0 in each channel, so only Biases remain.
print("Train mode, one example:", bn(np.ones((1, 3, 2)) * 7, NetEvaluationMode="Train")[0])
