"""The fast per-channel kernels behind BatchNormalizationLayer: float32 partial sums combined
in float64 must match float64 references, including data far from zero (1e4 + noise), on every
reduction path (long runs, short runs, chunked runs, rows blocked)."""

import numpy as np
import pytest

import netgraph as ng
from netgraph.layer import Context
from netgraph.layers._channel_ops import RUN, channel_dots, channel_sums, per_channel, view3

EPS = 0.001

# (shape, interleaving): a few values per channel, long runs, short runs, a run longer than
# RUN, many rows of B = 1, channels last, and a (C, B) pattern too large to materialise.
SHAPES = [
    ((4, 3), False),
    ((16, 4, 8, 8), False),
    ((64, 3, 2, 2), False),
    ((2, 3, RUN + 904), False),
    ((3 * RUN + 5, 6), False),
    ((8, 6, 5, 3), True),
    ((2, 4, 20000), False),
]


def offset_data(shape, seed, offset=1e4):
    rng = np.random.default_rng(seed)
    return (offset + rng.standard_normal(shape)).astype(np.float32)


def reference_train(x3, g, b):
    """Float64 batch normalization of an (A, C, B) array and its backward, straight from the
    definitions (x_hat, then the three-term input gradient)."""
    x = x3.astype(np.float64)
    m = x.shape[0] * x.shape[2]
    mu = x.mean(axis=(0, 2))
    var = x.var(axis=(0, 2))
    inv_std = 1 / np.sqrt(var + EPS)
    x_hat = (x - mu[:, None]) * inv_std[:, None]
    y = g[:, None] * x_hat + b[:, None]

    def backward(dy):
        dy = dy.astype(np.float64)
        d_b = dy.sum(axis=(0, 2))
        d_g = (dy * x_hat).sum(axis=(0, 2))
        d_x = (g * inv_std)[:, None] * (dy - d_b[:, None] / m - x_hat * d_g[:, None] / m)
        return d_x, d_g, d_b

    return y, mu, var, backward


@pytest.mark.parametrize("shape,interleaving", SHAPES)
def test_channel_sums_and_dots_match_float64(shape, interleaving):
    x3 = view3(offset_data(shape, 1), interleaving)
    centred = x3 - np.float32(1e4)
    x64, c64 = x3.astype(np.float64), centred.astype(np.float64)
    np.testing.assert_allclose(channel_sums(x3), x64.sum(axis=(0, 2)), rtol=1e-6)
    np.testing.assert_allclose(
        channel_dots(centred, centred), (c64 * c64).sum(axis=(0, 2)), rtol=1e-5
    )
    np.testing.assert_allclose(
        channel_dots(x3, centred), (x64 * c64).sum(axis=(0, 2)), rtol=1e-5, atol=1.0
    )


@pytest.mark.parametrize("shape,interleaving", SHAPES)
def test_train_statistics_far_from_zero(shape, interleaving):
    x = offset_data(shape, 2)
    channels = shape[-1] if interleaving else shape[1]
    bn = ng.NetInitialize(
        ng.BatchNormalizationLayer(Input=shape[1:], Interleaving=interleaving, Momentum=0.0)
    )
    arrays = {
        k: ng.NetExtract(bn, k) for k in ("Scaling", "Biases", "MovingMean", "MovingVariance")
    }
    _, _, state = bn.forward(arrays, {"Input": x}, Context(mode="Train"))
    _, mu, var, _ = reference_train(view3(x, interleaving), np.ones(channels), np.zeros(channels))
    np.testing.assert_allclose(state["MovingMean"], mu, rtol=1e-9)
    np.testing.assert_allclose(state["MovingVariance"], var, rtol=1e-5)


@pytest.mark.parametrize("shape,interleaving", SHAPES)
def test_train_forward_and_backward_match_float64_reference(shape, interleaving):
    rng = np.random.default_rng(3)
    x = offset_data(shape, 4)
    dy = rng.standard_normal(shape).astype(np.float32)
    channels = shape[-1] if interleaving else shape[1]
    g = rng.uniform(0.5, 1.5, channels).astype(np.float32)
    b = rng.uniform(-1, 1, channels).astype(np.float32)
    bn = ng.BatchNormalizationLayer(
        Input=shape[1:],
        Interleaving=interleaving,
        Epsilon=EPS,
        Scaling=g,
        Biases=b,
        MovingMean=np.zeros(channels),
        MovingVariance=np.ones(channels),
    )
    y = bn(x, NetEvaluationMode="Train")
    grads = bn(
        {"Input": x, ng.NetPortGradient("Output"): dy},
        ng.NetPortGradient(ng.All),
        NetEvaluationMode="Train",
    )
    y_ref, _, _, backward = reference_train(view3(x, interleaving), g, b)
    d_x, d_g, d_b = backward(view3(dy, interleaving))
    np.testing.assert_allclose(view3(y, interleaving), y_ref, atol=2e-5 * np.abs(y_ref).max())
    np.testing.assert_allclose(view3(grads["Input"], interleaving), d_x, atol=1e-4 * _scale(d_x))
    np.testing.assert_allclose(grads[("Scaling",)], d_g, rtol=1e-4, atol=1e-4 * _scale(d_g))
    np.testing.assert_allclose(grads[("Biases",)], d_b, rtol=1e-4, atol=1e-4 * _scale(d_b))


def _scale(a):
    return float(np.abs(a).max())


@pytest.mark.parametrize("shape,interleaving", SHAPES[:3] + SHAPES[5:])
def test_test_mode_forward_and_backward_match_float64_reference(shape, interleaving):
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    c = shape[-1] if interleaving else shape[1]
    g, b, mm = (rng.uniform(-1, 1, c).astype(np.float32) for _ in range(3))
    mv = rng.uniform(0.5, 2.0, c).astype(np.float32)
    bn = ng.BatchNormalizationLayer(
        Input=shape[1:],
        Interleaving=interleaving,
        Epsilon=EPS,
        Scaling=g,
        Biases=b,
        MovingMean=mm,
        MovingVariance=mv,
    )
    y = bn(x)
    grads = bn({"Input": x, ng.NetPortGradient("Output"): dy}, ng.NetPortGradient(ng.All))
    x3, dy3 = view3(x, interleaving).astype(np.float64), view3(dy, interleaving)
    inv_std = (1 / np.sqrt(mv.astype(np.float64) + EPS))[:, None]
    x_hat = (x3 - mm[:, None]) * inv_std
    np.testing.assert_allclose(
        view3(y, interleaving), g[:, None] * x_hat + b[:, None], rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(
        view3(grads["Input"], interleaving), dy3 * g[:, None] * inv_std, rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        grads[("Scaling",)], (dy3 * x_hat).sum(axis=(0, 2)), rtol=1e-4, atol=1e-3
    )


@pytest.mark.parametrize("mode", ["Test", "Train"])
def test_outputs_own_their_data(mode):
    """Layers return fresh arrays, so evaluation hands them out without another copy."""
    x = offset_data((4, 3, 5), 6, offset=0.0)
    bn = ng.NetInitialize(ng.BatchNormalizationLayer(Input=(3, 5)))
    arrays = {
        k: ng.NetExtract(bn, k) for k in ("Scaling", "Biases", "MovingMean", "MovingVariance")
    }
    ctx = Context(mode=mode)
    outs, cache, _ = bn.forward(arrays, {"Input": x}, ctx)
    d_ins, _ = bn.backward(arrays, cache, {"Output": np.ones_like(x)}, ctx)
    for arr in (outs["Output"], d_ins["Input"]):
        assert arr.flags.owndata and arr.flags.c_contiguous and arr.shape == x.shape
        assert not np.shares_memory(arr, x)


def test_per_channel_pattern_and_column():
    x3 = np.zeros((2, 3, 4), np.float32)
    values = np.array([1.0, 2.0, 3.0])
    pattern = per_channel(values, x3)
    assert pattern.shape == (3, 4) and pattern.dtype == np.float32
    np.testing.assert_array_equal(pattern, np.repeat(values[:, None], 4, axis=1))
    assert per_channel(values, np.zeros((2, 3, 1), np.float32)).shape == (3, 1)
