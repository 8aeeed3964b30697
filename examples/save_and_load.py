"""Saving and loading: Export writes a trained net (every array, moving statistics included) to
one safetensors file; Import reads it back as an equal net with bit-identical outputs. Loading
is safe for untrusted files (no pickle), and a damaged file raises NetLoadError.

Run: python examples/save_and_load.py
"""

import os
import tempfile

import numpy as np

import netgraph as ng

rng = np.random.default_rng(0)
x = rng.normal(size=(128, 3, 4))
y = x.sum(axis=(1, 2))[:, None]
net = ng.NetChain(
    [ng.BatchNormalizationLayer(), ng.FlattenLayer(), ng.LinearLayer(1)], Input=(3, 4)
)
trained = ng.NetTrain(net, (x, y), MaxTrainingRounds=3, TrainingProgressReporting=None)

with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, "net.safetensors")
    ng.Export(path, trained)
    print(f"wrote {os.path.getsize(path)} bytes")
    loaded = ng.Import(path)
    print("loaded:", loaded)
    print("equal net:", loaded == trained)
    print("identical outputs:", np.array_equal(loaded(x), trained(x)))
    print("moving statistics kept:", ng.NetExtract(loaded, (0, "MovingVariance")).round(4))

    data = bytearray(open(path, "rb").read())
    data[-3] ^= 0xFF  # flip bits in the last array
    with open(path, "wb") as f:
        f.write(data)
    try:
        ng.Import(path)
    except ng.NetLoadError as err:
        print("damaged file:", str(err)[:80], "...")
