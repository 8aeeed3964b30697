"""Ports: a BatchNormalizationLayer that takes a rank-3 input (channels first) and one that takes
a vector (every element is its own channel); the Output port always has the Input's shape.

Reference page: BatchNormalizationLayer > Scope > Ports.
Run: python examples/ports.py
"""

import numpy as np

import netgraph as ng

# Rank-3 input: 3 channels of 4x5 images. The arrays have one value per channel.
image_bn = ng.NetInitialize(ng.BatchNormalizationLayer(Input=(3, 4, 5)))
print(image_bn)
ports = ng.Information(image_bn, "InputPorts"), ng.Information(image_bn, "OutputPorts")
print("ports:", ports[0], "->", ports[1])
print("arrays:", ng.Information(image_bn, "ArraysDimensions"))
x = np.random.default_rng(0).uniform(size=(3, 4, 5))
print("output shape:", image_bn(x).shape)

# Channels last with Interleaving=True: the same 3 channels, stored as (4, 5, 3).
last = ng.NetInitialize(ng.BatchNormalizationLayer(Input=(4, 5, 3), Interleaving=True))
print("Interleaving=True arrays:", ng.Information(last, "ArraysDimensions"))

# Vector input: 6 elements, 6 channels.
vector_bn = ng.NetInitialize(ng.BatchNormalizationLayer(Input=6))
vector_ports = ng.Information(vector_bn, "InputPorts"), ng.Information(vector_bn, "OutputPorts")
print("vector ports:", vector_ports[0], "->", vector_ports[1])
print("vector arrays:", ng.Information(vector_bn, "ArraysDimensions"))
print("output:", vector_bn(np.arange(6.0)))
