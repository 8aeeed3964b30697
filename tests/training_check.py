"""Shared helpers for the NetTrain tests (not a test file).

Expected values in the tests are written as plain numpy formulas; these helpers only read nets
and compare them.
"""

from __future__ import annotations

import numpy as np

import netgraph as ng

QUIET = {"TrainingProgressReporting": None}


def arrays(net: ng.Layer) -> dict:
    """Every array of `net` by path, as plain ndarrays."""
    return {k: np.array(v) for k, v in ng.Information(net, "Arrays").items()}


def assert_same_arrays(a: ng.Layer, b: ng.Layer) -> None:
    """Bit-identical arrays (same paths, dtypes and values)."""
    arrays_a, arrays_b = arrays(a), arrays(b)
    assert arrays_a.keys() == arrays_b.keys()
    for key, value in arrays_a.items():
        assert value.dtype == arrays_b[key].dtype, key
        np.testing.assert_array_equal(value, arrays_b[key], err_msg=str(key))


def assert_same_run(a, b) -> None:
    """Two NetTrain results with bit-identical nets and loss histories."""
    assert_same_arrays(a["TrainedNet"], b["TrainedNet"])
    assert a["RoundLossList"] == b["RoundLossList"]
    assert a["BatchLossList"] == b["BatchLossList"]
    assert a["ValidationLossList"] == b["ValidationLossList"]


def mse_gradient(w: np.ndarray, b: np.ndarray, x: np.ndarray, y: np.ndarray):
    """d/dW, d/db of mean_i mean_j (W x_i + b - y_i)_j**2 (LinearLayer + MeanSquaredLoss)."""
    n, k = y.shape
    r = x @ w.T + b - y
    return 2.0 / (n * k) * r.T @ x, 2.0 / (n * k) * r.sum(axis=0)


def mse_loss(w: np.ndarray, b: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((x @ w.T + b - y) ** 2))


def linear(w: np.ndarray, b: np.ndarray, **options) -> ng.Layer:
    """An initialized LinearLayer with the given arrays."""
    return ng.LinearLayer(len(b), Weights=w, Biases=b, Input=w.shape[1], **options)
