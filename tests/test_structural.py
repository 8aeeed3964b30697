"""SoftmaxLayer, FlattenLayer, ReshapeLayer, DropoutLayer against references written here."""

import math

import numpy as np
import pytest
from layer_check import check_gradients, check_layer, numeric_gradient

import netgraph as ng


def ports(net):
    return {**ng.Information(net, "InputPorts"), **ng.Information(net, "OutputPorts")}


# ------------------------------------------------------------------------- Softmax


def reference_softmax(x, axis):
    """exp(x)/sum(exp(x)) one vector at a time (x moderate: no shift needed)."""
    x = np.moveaxis(np.asarray(x, np.float64), axis, -1)
    out = np.empty_like(x)
    for index in np.ndindex(x.shape[:-1]):
        e = [math.exp(v) for v in x[index]]
        out[index] = [v / sum(e) for v in e]
    return np.moveaxis(out, -1, axis)


@pytest.mark.parametrize("shape", [(5,), (2, 4), (2, 3, 4)])
def test_softmax_check_layer(shape):
    check_layer(ng.SoftmaxLayer(Input=shape), shape, output_shape=shape)


@pytest.mark.parametrize("level, axis", [(-1, -1), (1, 1), (2, 2), (-2, 1)])
def test_softmax_levels(level, axis):
    x = np.random.default_rng(0).standard_normal((3, 2, 4))
    got = ng.SoftmaxLayer(level, Input=(2, 4))(x, WorkingPrecision="Real64")
    np.testing.assert_allclose(got, reference_softmax(x, axis), rtol=1e-12)


def test_softmax_values_and_stability():
    np.testing.assert_allclose(ng.SoftmaxLayer()(np.log([1.0, 3.0])), [0.25, 0.75], rtol=1e-6)
    for precision in ("Real32", "Real64"):
        y = ng.SoftmaxLayer()(np.array([1000.0, 0.0]), WorkingPrecision=precision)
        np.testing.assert_allclose(y, [1.0, math.exp(-1000)], atol=0)
        g = ng.SoftmaxLayer()(np.array([[1000.0, 0.0, -1000.0]]), ng.NetPortGradient("Input"))
        assert np.all(np.isfinite(g))


def test_softmax_gradient_by_hand():
    # d(sum_i G_i y_i)/dx_k = y_k (G_k - sum_i G_i y_i); with y = (1/4, 3/4) and G = (1, 0):
    # (1/4 * 3/4, 3/4 * (0 - 1/4)) = (3/16, -3/16).
    layer = ng.SoftmaxLayer(Input=2)
    data = {"Input": np.log([1.0, 3.0]), ng.NetPortGradient("Output"): np.array([1.0, 0.0])}
    np.testing.assert_allclose(
        layer(data, ng.NetPortGradient("Input")), [3 / 16, -3 / 16], rtol=1e-6
    )


def test_softmax_options():
    with pytest.raises(ng.NetOptionError, match="Level"):
        ng.SoftmaxLayer(0)
    with pytest.raises(ng.NetShapeError, match="rank >= 2"):
        ng.SoftmaxLayer(2, Input=4)
    with pytest.raises(ng.NetShapeError, match='"Input"'):
        ng.SoftmaxLayer(Input="Real")


# ------------------------------------------------------------------------- Flatten


@pytest.mark.parametrize(
    "level, input_shape, output_shape",
    [
        (None, (2, 3, 4), (24,)),
        (1, (2, 3, 4), (6, 4)),
        (2, (2, 3, 4), (24,)),
        (-1, (2, 3, 4), (2, 12)),
        (-2, (2, 3, 4), (24,)),
        (None, (5,), (5,)),
    ],
)
def test_flatten_check_layer(level, input_shape, output_shape):
    layer = ng.FlattenLayer(level, Input=input_shape)
    check_layer(layer, input_shape, output_shape=output_shape)
    x = np.arange(2 * math.prod(input_shape), dtype=np.float64).reshape(2, *input_shape)
    np.testing.assert_array_equal(layer(x), x.reshape(2, *output_shape))  # row-major


def test_flatten_infers_backwards():
    layer = ng.FlattenLayer(Input=(2, None, 4), Output=24)
    assert ports(layer)["Input"] == (2, 3, 4)
    layer = ng.FlattenLayer(1, Output=(6, 4))
    assert ports(layer)["Input"] == (None, None, 4)
    chain = ng.NetChain([ng.FlattenLayer(), ng.LinearLayer(3)], Input=(2, 5))
    assert ng.Information(chain, "ArraysDimensions")[(1, "Weights")] == (3, 10)


def test_flatten_errors():
    with pytest.raises(ng.NetShapeError, match="rank >= 3"):
        ng.FlattenLayer(2, Input=(5, 3))
    with pytest.raises(ng.NetShapeError, match="Output"):
        ng.FlattenLayer(Input=(2, 3), Output=5)
    with pytest.raises(ng.NetOptionError, match="Level"):
        ng.FlattenLayer(0)
    assert ng.NetExtract(ng.FlattenLayer(math.inf), "Level") is ng.Automatic


# ------------------------------------------------------------------------- Reshape


@pytest.mark.parametrize(
    "dims, input_shape, output_shape",
    [((3, 4), (12,), (3, 4)), ((2, -1), (2, 6), (2, 6)), ((-1,), (2, 3, 2), (12,)), ((), (1,), ())],
)
def test_reshape_check_layer(dims, input_shape, output_shape):
    layer = ng.ReshapeLayer(dims, Input=input_shape)
    check_layer(layer, input_shape, output_shape=output_shape)
    x = np.arange(3 * math.prod(input_shape), dtype=np.float64).reshape(3, *input_shape)
    np.testing.assert_array_equal(layer(x), x.reshape(3, *output_shape))


def test_reshape_inference():
    assert ports(ng.ReshapeLayer((3, 2), Input=(None, 2)))["Input"] == (3, 2)
    assert ports(ng.ReshapeLayer((3, None), Input=(4, 3)))["Output"] == (3, 4)
    assert ng.NetExtract(ng.ReshapeLayer((3, ng.Automatic)), "Dimensions") == (3, -1)
    assert ng.ReshapeLayer((2, -1))(np.arange(6.0)).shape == (2, 3)


def test_reshape_errors():
    with pytest.raises(ng.NetShapeError, match="15 elements"):
        ng.ReshapeLayer((4, -1), Input=(5, 3))
    with pytest.raises(ng.NetShapeError, match="15 elements"):
        ng.ReshapeLayer((4, 2), Input=(5, 3))
    for bad in [(2, -1, -1), (0, 3), (2.5,), "3"]:
        with pytest.raises(ng.NetOptionError, match="Dimensions"):
            ng.ReshapeLayer(bad)
    layer = ng.ReshapeLayer((2, 3))
    with pytest.raises(ng.NetShapeError):
        layer(np.ones((4, 5)))


# ------------------------------------------------------------------------- Dropout


def test_dropout_check_layer_test_mode():
    check_layer(ng.DropoutLayer(0.3, Input=(2, 3)), (2, 3), output_shape=(2, 3), modes=("Test",))


def test_dropout_test_mode_is_identity():
    x = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    np.testing.assert_array_equal(ng.DropoutLayer(0.9)(x), x)
    grad = ng.DropoutLayer(0.9)(x, ng.NetPortGradient("Input"))
    np.testing.assert_array_equal(grad, np.ones_like(x))


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_dropout_train_statistics(p):
    x = np.full((200, 100), 3.0)
    y = ng.DropoutLayer(p)(x, NetEvaluationMode="Train", RandomSeeding=5)
    dropped = np.mean(y == 0)
    assert abs(dropped - p) < 0.02  # 20000 draws: the standard error is about 0.0035
    np.testing.assert_allclose(y[y != 0], 3.0 / (1 - p), rtol=1e-6)


def test_dropout_reproducible_with_random_seeding():
    x = np.ones((10, 10))
    drop = ng.DropoutLayer()

    def run(seed, precision="Real32"):
        return drop(x, NetEvaluationMode="Train", RandomSeeding=seed, WorkingPrecision=precision)

    np.testing.assert_array_equal(run(1), run(1))
    assert not np.array_equal(run(1), run(2))
    np.testing.assert_array_equal(run(1), run(1, "Real64"))  # one mask for both precisions
    assert not np.array_equal(
        drop(x, NetEvaluationMode="Train"), drop(x, NetEvaluationMode="Train")
    )  # unseeded: a fresh mask each call (fails with probability 2^-100)


def test_dropout_train_gradient_uses_the_forward_mask():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    g = rng.standard_normal((3, 4))
    drop = ng.DropoutLayer(0.4, Input=4)
    opts = {"NetEvaluationMode": "Train", "RandomSeeding": 7, "WorkingPrecision": "Real64"}
    y = drop(x, **opts)
    analytic = drop(
        {"Input": x, ng.NetPortGradient("Output"): g}, ng.NetPortGradient("Input"), **opts
    )
    numeric = numeric_gradient(lambda v: np.sum(g * drop(v, **opts)), x)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(analytic, g * (y / x), rtol=1e-12)  # the mask times 1/(1-p)


def test_dropout_options():
    assert ng.NetExtract(ng.DropoutLayer(), "DropoutProbability") == 0.5
    x = np.arange(4.0)
    np.testing.assert_array_equal(ng.DropoutLayer(0)(x, NetEvaluationMode="Train"), x)
    for bad in [1, 1.5, -0.1, "0.5"]:
        with pytest.raises(ng.NetOptionError, match="DropoutProbability"):
            ng.DropoutLayer(bad)


def test_dropout_in_a_chain_with_gradients():
    chain = ng.NetInitialize(ng.NetChain([ng.LinearLayer(4), ng.DropoutLayer(0.5)], Input=3))
    x = np.random.default_rng(1).standard_normal((2, 3))
    check_gradients(chain, x)  # Test mode: dropout is the identity


def test_api_chain_tail_flatten_linear_softmax():
    # API.md's chain after the convolution: BN, Ramp, Flatten, Linear, Softmax.
    chain = ng.NetChain(
        [
            ng.BatchNormalizationLayer(),
            "Ramp",
            ng.FlattenLayer(),
            ng.LinearLayer(10),
            ng.SoftmaxLayer(),
        ],
        Input=(2, 4, 4),
    )
    assert ng.Information(chain, "OutputPorts") == {"Output": (10,)}
    assert ng.Information(chain, "ArraysDimensions")[(3, "Weights")] == (10, 32)
    net = ng.NetInitialize(chain)
    y = net(np.random.default_rng(0).standard_normal((3, 2, 4, 4)))
    np.testing.assert_allclose(y.sum(axis=1), np.ones(3), rtol=1e-6)
    check_gradients(net, np.random.default_rng(1).standard_normal((2, 2, 4, 4)))
