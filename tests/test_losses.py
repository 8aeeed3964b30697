"""MeanSquaredLossLayer and CrossEntropyLossLayer against per-example loops written here."""

import math

import numpy as np
import pytest
from layer_check import check_gradients

import netgraph as ng


def ports(net):
    return {**ng.Information(net, "InputPorts"), **ng.Information(net, "OutputPorts")}


def loss_of(layer, p, t, **opts):
    return layer({"Input": p, "Target": t}, **opts)


# ------------------------------------------------------------------------- references


def reference_mse(x, t):
    return [np.mean([(a - b) ** 2 for a, b in zip(xi.ravel(), ti.ravel())]) for xi, ti in zip(x, t)]


def reference_index(p, t):
    """Per example: the mean over positions of -log p[position][class]."""
    out = []
    for pi, ti in zip(p, t):
        rows = pi.reshape(-1, pi.shape[-1])
        classes = np.reshape(ti, -1)
        out.append(np.mean([-math.log(row[c]) for row, c in zip(rows, classes)]))
    return out


def reference_probabilities(p, t):
    out = []
    for pi, ti in zip(p, t):
        rows, targets = pi.reshape(-1, pi.shape[-1]), ti.reshape(-1, ti.shape[-1])
        out.append(
            np.mean([-sum(b * math.log(a) for a, b in zip(r, s)) for r, s in zip(rows, targets)])
        )
    return out


def reference_binary(p, t):
    return [
        np.mean(
            [-(b * math.log(a) + (1 - b) * math.log(1 - a)) for a, b in zip(pi.ravel(), ti.ravel())]
        )
        for pi, ti in zip(p, t)
    ]


def probabilities(rng, shape):
    e = np.exp(rng.standard_normal(shape))
    return e / e.sum(axis=-1, keepdims=True)


# ------------------------------------------------------------------------- MeanSquared


@pytest.mark.parametrize("shape", [(), (3,), (2, 3)])
def test_mse_values_and_gradients(shape):
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((4, *shape)), rng.standard_normal((4, *shape))
    mse = ng.MeanSquaredLossLayer(Input=shape)
    assert ports(mse) == {"Input": shape, "Target": shape, "Loss": ()}
    got = loss_of(mse, x, t, WorkingPrecision="Real64")
    np.testing.assert_allclose(got, reference_mse(x, t), rtol=1e-12)
    assert loss_of(mse, x, t).dtype == np.float32
    check_gradients(mse, {"Input": x, "Target": t})


def test_mse_by_hand_and_gradient_formula():
    mse = ng.MeanSquaredLossLayer()
    assert float(loss_of(mse, np.array([1.0, 2.0]), np.array([0.0, 4.0]))) == 2.5
    grads = mse({"Input": [1.0, 2.0], "Target": [0.0, 4.0]}, ng.NetPortGradient(ng.All))
    np.testing.assert_array_equal(grads["Input"], [1.0, -2.0])  # 2 (x - t)/M with M = 2
    np.testing.assert_array_equal(grads["Target"], [-1.0, 2.0])


def test_mse_shape_mismatch():
    with pytest.raises(ng.NetShapeError, match='"Target"'):
        ng.MeanSquaredLossLayer(Input=3, Target=4)
    with pytest.raises(ng.NetShapeError, match='"Target"'):
        ng.MeanSquaredLossLayer(Input=3)({"Input": np.ones(3), "Target": np.ones(4)})


# ------------------------------------------------------------------------- Index


@pytest.mark.parametrize("input_shape", [(4,), (3, 4)])
def test_index_values_and_gradients(input_shape):
    rng = np.random.default_rng(1)
    p = probabilities(rng, (5, *input_shape))
    t = rng.integers(0, input_shape[-1], (5, *input_shape[:-1]))
    ce = ng.CrossEntropyLossLayer("Index", Input=input_shape)
    assert ports(ce) == {"Input": input_shape, "Target": input_shape[:-1], "Loss": ()}
    got = loss_of(ce, p, t, WorkingPrecision="Real64")
    np.testing.assert_allclose(got, reference_index(p, t), rtol=1e-12)
    grads = check_gradients(ce, {"Input": p, "Target": t})
    assert list(grads) == ["Input"]  # class indices have no gradient


def test_index_standalone_batch_and_example():
    ce = ng.CrossEntropyLossLayer()
    p = np.array([[0.25, 0.75], [0.5, 0.5]])
    np.testing.assert_allclose(loss_of(ce, p, [1, 0]), [-math.log(0.75), math.log(2)], rtol=1e-6)
    np.testing.assert_allclose(loss_of(ce, p[0], 1), -math.log(0.75), rtol=1e-6)
    np.testing.assert_allclose(loss_of(ce, p, np.array([1.0, 0.0])), [0.2876821, 0.6931472])


def test_index_targets_are_checked():
    ce = ng.CrossEntropyLossLayer("Index", Input=3)
    p = np.full((2, 3), 1 / 3)
    for bad, message in [([0, 3], "0..2"), ([-1, 0], "0..2"), ([0.5, 1], "integers")]:
        with pytest.raises(ng.NetDataError, match="CrossEntropyLossLayer"):
            loss_of(ce, p, np.array(bad))
        with pytest.raises(ng.NetDataError, match=message):
            loss_of(ce, p, np.array(bad))
    with pytest.raises(ng.NetError, match='"Target"'):
        ce({"Input": p, "Target": [0, 1]}, ng.NetPortGradient("Target"))


@pytest.mark.parametrize("precision, tiny", [("Real32", np.float32), ("Real64", np.float64)])
def test_index_probability_zero_is_finite(precision, tiny):
    ce = ng.CrossEntropyLossLayer("Index", Input=2)
    loss = loss_of(ce, np.array([0.0, 1.0]), 0, WorkingPrecision=precision)
    assert float(loss) == pytest.approx(-math.log(np.finfo(tiny).tiny), rel=1e-6)  # 87.3, 708.4
    grad = ce({"Input": np.array([0.0, 1.0]), "Target": 0}, ng.NetPortGradient("Input"))
    assert np.all(np.isfinite(grad))


def test_softmax_then_index_loss_gradient_is_p_minus_onehot():
    graph = ng.NetGraph(
        {"soft": ng.SoftmaxLayer(), "loss": ng.CrossEntropyLossLayer("Index")},
        [
            (ng.NetPort("Input"), "soft", "loss"),
            (ng.NetPort("Target"), ng.NetPort("loss", "Target")),
        ],
        Input=3,
    )
    x = np.array([0.5, -1.0, 2.0])
    p = np.exp(x) / np.exp(x).sum()
    grad = graph({"Input": x, "Target": 2}, ng.NetPortGradient("Input"), WorkingPrecision="Real64")
    np.testing.assert_allclose(grad, p - [0, 0, 1], rtol=1e-12)


def test_index_inference():
    assert ports(ng.CrossEntropyLossLayer(Target=(4,)))["Input"] == (4, None)
    assert ports(ng.CrossEntropyLossLayer(Input=(None, 5)))["Target"] == (None,)
    assert ng.CrossEntropyLossLayer().input_ports[1].dtype == "Integer"
    assert ng.CrossEntropyLossLayer("Binary").input_ports[1].dtype == "Real"
    with pytest.raises(ng.NetShapeError, match='"Input"'):
        ng.CrossEntropyLossLayer("Index", Input="Real")


# ------------------------------------------------------------------------- Probabilities


@pytest.mark.parametrize("input_shape", [(4,), (2, 3)])
def test_probabilities_values_and_gradients(input_shape):
    rng = np.random.default_rng(2)
    p, t = probabilities(rng, (3, *input_shape)), probabilities(rng, (3, *input_shape))
    ce = ng.CrossEntropyLossLayer("Probabilities", Input=input_shape)
    assert ports(ce)["Target"] == input_shape
    got = loss_of(ce, p, t, WorkingPrecision="Real64")
    np.testing.assert_allclose(got, reference_probabilities(p, t), rtol=1e-12)
    grads = check_gradients(ce, {"Input": p, "Target": t})
    assert set(grads) == {"Input", "Target"}


def test_probabilities_zero_probability_is_finite():
    ce = ng.CrossEntropyLossLayer("Probabilities")
    loss = loss_of(ce, np.array([0.0, 1.0]), np.array([0.5, 0.5]))
    assert math.isfinite(float(loss)) and float(loss) > 40


# ------------------------------------------------------------------------- Binary


@pytest.mark.parametrize("shape", [(), (3,), (2, 2)])
def test_binary_values_and_gradients(shape):
    rng = np.random.default_rng(3)
    p, t = rng.uniform(0.05, 0.95, (4, *shape)), rng.uniform(0, 1, (4, *shape))
    ce = ng.CrossEntropyLossLayer("Binary", Input=shape)
    got = loss_of(ce, p, t, WorkingPrecision="Real64")
    np.testing.assert_allclose(got, reference_binary(p, t), rtol=1e-12)
    check_gradients(ce, {"Input": p, "Target": t})


@pytest.mark.parametrize("precision", ["Real32", "Real64"])
def test_binary_saturated_probabilities_are_finite(precision):
    ce = ng.CrossEntropyLossLayer("Binary", Input="Real")  # rank-1 data: a batch of scalars
    eps = np.finfo(np.float32 if precision == "Real32" else np.float64).eps
    losses = loss_of(
        ce, np.array([0.0, 1.0, 1.0]), np.array([1.0, 0.0, 1.0]), WorkingPrecision=precision
    )
    np.testing.assert_allclose(losses[:2], -math.log(eps), rtol=1e-5)
    assert float(losses[2]) == pytest.approx(-math.log1p(-eps), abs=1e-7)
    assert float(loss_of(ce, 0.5, 1.0)) == pytest.approx(math.log(2), rel=1e-6)


def test_options():
    assert ng.NetExtract(ng.CrossEntropyLossLayer(), "TargetForm") == "Index"
    with pytest.raises(ng.NetOptionError, match="TargetForm"):
        ng.CrossEntropyLossLayer("Indices")
    assert "Target" in ng.Options(ng.CrossEntropyLossLayer)
    assert "Loss" in ng.Options(ng.MeanSquaredLossLayer)
