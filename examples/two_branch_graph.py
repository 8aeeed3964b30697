"""A NetGraph with two branches: the input goes through a Linear -> BN -> Ramp branch and a plain
Linear branch, the two are catenated, and a final LinearLayer reads both. Shapes are inferred
across the graph, and each BN has its own arrays.

Run: python examples/two_branch_graph.py
"""

import numpy as np

import netgraph as ng

graph = ng.NetGraph(
    {
        "a": ng.LinearLayer(8),
        "bn": ng.BatchNormalizationLayer(),
        "relu": "Ramp",
        "b": ng.LinearLayer(4),
        "cat": ng.CatenateLayer(),
        "out": ng.LinearLayer(2),
    },
    [
        (ng.NetPort("Input"), "a", "bn", "relu"),
        (ng.NetPort("Input"), "b"),
        (["relu", "b"], "cat", "out", ng.NetPort("Output")),
    ],
    Input=5,
)
print(ng.Information(graph))
edges = ng.Information(graph, "LayersGraph").edges()
print("data flow:", ", ".join(f"{a} -> {b}" for a, b in edges))

# Train it briefly to fit a made-up target, then apply it.
rng = np.random.default_rng(0)
x = rng.normal(size=(200, 5))
y = np.stack([x[:, 0] * x[:, 1], np.abs(x[:, 2])], axis=1)
results = ng.NetTrain(
    graph, (x, y), "All", MaxTrainingRounds=20, LearningRate=0.01, TrainingProgressReporting=None
)
trained = results["TrainedNet"]
print(f"loss: first round {results['RoundLossList'][0]:.3f}, last {results['RoundLoss']:.3f}")
print("BN MovingMean after training:", ng.NetExtract(trained, ("bn", "MovingMean")).round(3))
print("output for one example:", trained(x[0]))
