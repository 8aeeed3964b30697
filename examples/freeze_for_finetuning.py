"""Freezing BatchNormalization for fine-tuning: with LearningRateMultipliers 0 for the BN layers,
NetTrain leaves every BN array (Scaling, Biases, MovingMean, MovingVariance) bit-identical and
runs those layers in "Test" mode, while the other layers keep learning.

Reference page: BatchNormalizationLayer > Details (LearningRateMultipliers).
Run: python examples/freeze_for_finetuning.py
"""

import numpy as np

import netgraph as ng

rng = np.random.default_rng(0)
x = rng.normal(1.0, 2.0, size=(256, 4))
y = np.stack([np.sin(x[:, 0]) + x[:, 1], x[:, 2] * x[:, 3]], axis=1)

net = ng.NetChain(
    {
        "hidden": ng.LinearLayer(16),
        "bn": ng.BatchNormalizationLayer(),
        "relu": "Ramp",
        "head": ng.LinearLayer(2),
    },
    Input=4,
)
options = dict(MaxTrainingRounds=5, TrainingProgressReporting=None)
pretrained = ng.NetTrain(net, (x, y), **options)
moving_mean = ng.NetExtract(pretrained, ("bn", "MovingMean"))
print("pretrained BN MovingMean (first 4 of 16):", moving_mean[:4].round(3))

# Fine-tune on new data with the BN layer frozen.
x_new = rng.normal(-1.0, 1.0, size=(256, 4))
y_new = np.stack([np.cos(x_new[:, 0]), x_new[:, 1] - x_new[:, 2]], axis=1)
tuned = ng.NetTrain(pretrained, (x_new, y_new), LearningRateMultipliers={"bn": 0}, **options)

print("array                   unchanged by fine-tuning")
for path in ng.Information(tuned, "Arrays"):
    same = np.array_equal(ng.NetExtract(pretrained, path), ng.NetExtract(tuned, path))
    print(f"{'/'.join(map(str, path)):<22}  {same}")
    assert same == (path[0] == "bn")
