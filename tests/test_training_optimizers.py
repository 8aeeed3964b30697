"""NetTrain optimizers: the objective, ADAM, SGD (with momentum), RMSProp, their sub-options and
LearningRateMultipliers, each against a hand computation.

Every test trains in float64 with BatchSize = n, so a round is one step on the whole data set and
the hand loop sees the same batch (the order of examples inside a batch only changes rounding).
"""

from __future__ import annotations

import numpy as np
import pytest
from training_check import QUIET, arrays, linear, mse_gradient, mse_loss

import netgraph as ng

RNG = np.random.default_rng(7)
N = 10
X = RNG.normal(size=(N, 3))
Y = RNG.normal(size=(N, 2))
# float32-representable starting arrays, so the layer stores exactly these values
W0 = RNG.normal(size=(2, 3)).astype(np.float32).astype(np.float64)
B0 = RNG.normal(size=2).astype(np.float32).astype(np.float64)
FULL_BATCH = {**QUIET, "BatchSize": N, "WorkingPrecision": "Real64", "RandomSeeding": 3}


def train(rounds: int, net=None, data=(X, Y), prop="TrainedNet", **options):
    net = linear(W0, B0) if net is None else net
    return ng.NetTrain(net, data, prop, MaxTrainingRounds=rounds, **{**FULL_BATCH, **options})


def weights(net) -> tuple[np.ndarray, np.ndarray]:
    a = arrays(net)
    return a[("Weights",)], a[("Biases",)]


def assert_arrays(net, w, b, rtol=1e-12):
    got_w, got_b = weights(net)
    assert got_w.dtype == np.float64
    np.testing.assert_allclose(got_w, w, rtol=rtol, atol=1e-15)
    np.testing.assert_allclose(got_b, b, rtol=rtol, atol=1e-15)


# ------------------------------------------------------------------------------ objective


def test_objective_is_the_batch_mean_of_per_example_losses():
    lr = 0.1
    results = train(1, prop="All", Method="SGD", LearningRate=lr)
    # one example's loss: mean_j (W x + b - y)_j^2 over k = 2 outputs; its gradient
    # dW = (2/k) r x^T, db = (2/k) r with r = W x + b - y; the objective averages over examples
    per_example_w, per_example_b = [], []
    for x, y in zip(X, Y):
        r = W0 @ x + B0 - y
        per_example_w.append(2 / 2 * np.outer(r, x))
        per_example_b.append(2 / 2 * r)
    w1 = W0 - lr * np.mean(per_example_w, axis=0)
    b1 = B0 - lr * np.mean(per_example_b, axis=0)
    assert_arrays(results["TrainedNet"], w1, b1)
    initial = np.mean([np.mean((W0 @ x + B0 - y) ** 2) for x, y in zip(X, Y)])
    np.testing.assert_allclose(results["BatchLossList"][0], initial, rtol=1e-12)
    np.testing.assert_allclose(results["RoundLossList"][0], initial, rtol=1e-12)


def test_objective_does_not_grow_with_the_batch():
    """Duplicating every example doubles the batch but not the (mean) gradient."""
    once = train(1, Method="SGD", LearningRate=0.1)
    twice = train(
        1,
        data=(np.vstack([X, X]), np.vstack([Y, Y])),
        BatchSize=2 * N,
        Method="SGD",
        LearningRate=0.1,
    )
    np.testing.assert_allclose(weights(twice)[0], weights(once)[0], rtol=1e-12)


def test_real32_training_matches_the_formula_to_float32_accuracy():
    lr = 0.1
    net = train(1, Method="SGD", LearningRate=lr, WorkingPrecision="Real32")
    g_w, g_b = mse_gradient(W0, B0, X, Y)
    got_w, got_b = weights(net)
    assert got_w.dtype == np.float32
    np.testing.assert_allclose(got_w, W0 - lr * g_w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_b, B0 - lr * g_b, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------------- ADAM


def test_first_adam_step_is_lr_g_over_abs_g_plus_eps():
    lr = 0.01
    g_w, g_b = mse_gradient(W0, B0, X, Y)
    # mhat = g and vhat = g^2 after one step, so the step is lr g/(|g| + 1e-5)
    net = train(1, Method="ADAM", LearningRate=lr)
    assert_arrays(net, W0 - lr * g_w / (abs(g_w) + 1e-5), B0 - lr * g_b / (abs(g_b) + 1e-5))


def test_automatic_learning_rate_for_adam_is_0_001():
    g_w, g_b = mse_gradient(W0, B0, X, Y)
    results = train(1, prop="All")
    assert results["OptimizationMethod"] == "ADAM"
    assert results["InitialLearningRate"] == 0.001
    w1 = W0 - 0.001 * g_w / (abs(g_w) + 1e-5)
    b1 = B0 - 0.001 * g_b / (abs(g_b) + 1e-5)
    assert_arrays(results["TrainedNet"], w1, b1)


@pytest.mark.parametrize(
    "sub, beta1, beta2, eps",
    [({}, 0.9, 0.999, 1e-5), ({"Beta1": 0.5, "Beta2": 0.9, "Epsilon": 0.01}, 0.5, 0.9, 0.01)],
    ids=["defaults", "sub-options"],
)
def test_two_adam_steps(sub, beta1, beta2, eps):
    lr = 0.05
    w, b = W0.copy(), B0.copy()
    m = [np.zeros_like(w), np.zeros_like(b)]
    v = [np.zeros_like(w), np.zeros_like(b)]
    for t in (1, 2):
        grads = mse_gradient(w, b, X, Y)
        params = [w, b]
        for i, g in enumerate(grads):
            m[i] = beta1 * m[i] + (1 - beta1) * g
            v[i] = beta2 * v[i] + (1 - beta2) * g**2
            m_hat = m[i] / (1 - beta1**t)
            v_hat = v[i] / (1 - beta2**t)
            params[i] = params[i] - lr * m_hat / (np.sqrt(v_hat) + eps)
        w, b = params
    method = ("ADAM", sub) if sub else "ADAM"
    assert_arrays(train(2, Method=method, LearningRate=lr), w, b, rtol=1e-10)


# ------------------------------------------------------------------------- SGD, RMSProp


def test_sgd_with_momentum_over_two_steps():
    lr, mu = 0.1, 0.9
    g1 = mse_gradient(W0, B0, X, Y)
    w1, b1 = W0 - lr * g1[0], B0 - lr * g1[1]
    g2 = mse_gradient(w1, b1, X, Y)
    # velocity u = mu u + g: after two steps u = mu g1 + g2
    w2 = w1 - lr * (mu * g1[0] + g2[0])
    b2 = b1 - lr * (mu * g1[1] + g2[1])
    net = train(2, Method=("SGD", {"Momentum": mu}), LearningRate=lr)
    assert_arrays(net, w2, b2, rtol=1e-10)


def test_plain_sgd_has_no_momentum():
    lr = 0.1
    g1 = mse_gradient(W0, B0, X, Y)
    w1, b1 = W0 - lr * g1[0], B0 - lr * g1[1]
    g2 = mse_gradient(w1, b1, X, Y)
    assert_arrays(train(2, Method="SGD", LearningRate=lr), w1 - lr * g2[0], b1 - lr * g2[1])


def test_first_rmsprop_step():
    lr = 0.01
    g_w, g_b = mse_gradient(W0, B0, X, Y)
    # s = (1 - 0.95) g^2; step = lr g/(sqrt(s) + 1e-8)
    w1 = W0 - lr * g_w / (np.sqrt(0.05 * g_w**2) + 1e-8)
    b1 = B0 - lr * g_b / (np.sqrt(0.05 * g_b**2) + 1e-8)
    assert_arrays(train(1, Method="RMSProp", LearningRate=lr), w1, b1)


# --------------------------------------------------------------------------- sub-options


def test_l2_regularization_adds_lambda_w_to_the_gradient():
    lr, lam = 0.1, 0.3
    g_w, g_b = mse_gradient(W0, B0, X, Y)
    net = train(1, Method=("SGD", {"L2Regularization": lam}), LearningRate=lr)
    assert_arrays(net, W0 - lr * (g_w + lam * W0), B0 - lr * (g_b + lam * B0))


def test_gradient_clipping_clips_each_element():
    lr = 0.1
    g_w, g_b = mse_gradient(W0, B0, X, Y)
    c = float(np.median(abs(g_w)))  # some elements clipped, some not
    assert (abs(g_w) > c).any() and (abs(g_w) < c).any()
    net = train(1, Method=("SGD", {"GradientClipping": c}), LearningRate=lr)
    assert_arrays(net, W0 - lr * np.clip(g_w, -c, c), B0 - lr * np.clip(g_b, -c, c))


def test_learning_rate_schedule_is_a_factor_per_batch():
    lr = 0.1
    calls = []

    def schedule(batch, total):
        calls.append((batch, total))
        return {1: 1.0, 2: 0.25, 3: 0.0}[batch]

    w, b = W0.copy(), B0.copy()
    for factor in (1.0, 0.25, 0.0):
        g_w, g_b = mse_gradient(w, b, X, Y)
        w, b = w - lr * factor * g_w, b - lr * factor * g_b
    results = train(
        3, prop="All", Method=("SGD", {"LearningRateSchedule": schedule}), LearningRate=lr
    )
    assert_arrays(results["TrainedNet"], w, b, rtol=1e-10)
    assert results["InitialLearningRate"] == lr
    assert results["FinalLearningRate"] == 0.0
    assert [c[0] for c in calls if c[1] == 3][:3] == [1, 2, 3]  # (batch, total batches)


def test_training_reduces_the_loss():
    results = train(30, prop="All", Method="ADAM", LearningRate=0.05)
    losses = results["RoundLossList"]
    assert losses[-1] < 0.5 * losses[0]
    np.testing.assert_allclose(losses[0], mse_loss(W0, B0, X, Y), rtol=1e-12)


@pytest.mark.parametrize(
    "method, pattern",
    [
        ("ADAMM", 'Did you mean "ADAM"'),
        ("sgd", "Method"),
        (("SGD", {"Momentom": 0.9}), 'Did you mean "Momentum"'),
        (("ADAM", {"beta1": 0.9}), 'Did you mean "Beta1"'),
        (("RMSProp", {"Beta": "0.9"}), "Beta"),
        (("ADAM", {"Epsilon": float("nan")}), "Epsilon"),
        (("SGD", {"LearningRateSchedule": 0.5}), "LearningRateSchedule"),
        (("SGD", {"GradientClipping": "big"}), "GradientClipping"),
        (42, "Method"),
    ],
)
def test_bad_method_and_sub_options(method, pattern):
    with pytest.raises(ng.NetOptionError, match=pattern):
        train(1, Method=method)


@pytest.mark.parametrize("lr", [0, -0.1, "0.01", float("inf"), True])
def test_bad_learning_rate(lr):
    with pytest.raises(ng.NetOptionError, match="LearningRate"):
        train(1, LearningRate=lr)


# ------------------------------------------------------------------ LearningRateMultipliers
# A chain a -> b of two LinearLayers with a mean-squared loss; one SGD step must move each
# array by -lr * multiplier * its gradient, the gradients written out here.

A_W = RNG.normal(size=(4, 3)).astype(np.float32).astype(np.float64)
A_B = RNG.normal(size=4).astype(np.float32).astype(np.float64)
B_W = RNG.normal(size=(2, 4)).astype(np.float32).astype(np.float64)
B_B = RNG.normal(size=2).astype(np.float32).astype(np.float64)


def two_layers(**options) -> ng.NetChain:
    return ng.NetChain({"a": linear(A_W, A_B), "b": linear(B_W, B_B)}, **options)


def two_layer_gradients() -> dict:
    h = X @ A_W.T + A_B
    r = h @ B_W.T + B_B - Y
    d_z = 2 * r / r.size  # d(mean over examples of mean over outputs)/dz
    d_h = d_z @ B_W
    return {
        ("a", "Weights"): d_h.T @ X,
        ("a", "Biases"): d_h.sum(axis=0),
        ("b", "Weights"): d_z.T @ h,
        ("b", "Biases"): d_z.sum(axis=0),
    }


START = {("a", "Weights"): A_W, ("a", "Biases"): A_B, ("b", "Weights"): B_W, ("b", "Biases"): B_B}


def check_multipliers(option, expected: dict, net=None):
    lr = 0.1
    grads = two_layer_gradients()
    results = train(
        1,
        net=two_layers() if net is None else net,
        prop="All",
        Method="SGD",
        LearningRate=lr,
        LearningRateMultipliers=option,
    )
    got = arrays(results["TrainedNet"])
    for key, start in START.items():
        want = start - lr * expected[key] * grads[key]
        if expected[key] == 0:
            np.testing.assert_array_equal(got[key], start)  # bit-identical
        else:
            np.testing.assert_allclose(got[key], want, rtol=1e-12, atol=1e-15)
    return results


AW, AB, BW, BB = START


@pytest.mark.parametrize(
    "option, expected",
    [
        (ng.Automatic, {AW: 1, AB: 1, BW: 1, BB: 1}),
        (0.5, {AW: 0.5, AB: 0.5, BW: 0.5, BB: 0.5}),
        ({"a": 0.5}, {AW: 0.5, AB: 0.5, BW: 1, BB: 1}),
        ({1: 2.0}, {AW: 1, AB: 1, BW: 2, BB: 2}),
        ({-2: 3.0}, {AW: 3, AB: 3, BW: 1, BB: 1}),
        ({("b", "Weights"): 0.25}, {AW: 1, AB: 1, BW: 0.25, BB: 1}),
        ({(0, "Biases"): 4.0}, {AW: 1, AB: 4, BW: 1, BB: 1}),
        ({"Biases": -1.0}, {AW: 1, AB: -1, BW: 1, BB: -1}),
        ({"a": 0}, {AW: 0, AB: 0, BW: 1, BB: 1}),
        ({"b": None}, {AW: 1, AB: 1, BW: 0, BB: 0}),
        ({("a", "Weights"): 0, "a": 2.0}, {AW: 0, AB: 2, BW: 1, BB: 1}),  # first match wins
        ([("Weights", 0.5), (ng.All, 0)], {AW: 0.5, AB: 0, BW: 0.5, BB: 0}),
    ],
    ids=[
        "automatic",
        "number",
        "layer key",
        "position",
        "negative position",
        "array path",
        "path by position",
        "array name, negative",
        "zero freezes",
        "None freezes",
        "first rule wins",
        "freeze all but",
    ],
)
def test_learning_rate_multipliers(option, expected):
    results = check_multipliers(option, expected)
    reported = results["ArraysLearningRateMultipliers"]
    for key, mult in expected.items():
        assert reported[key] == mult


def test_layer_option_multiplier_applies_when_no_rule_matches():
    net = ng.NetChain({"a": linear(A_W, A_B, LearningRateMultipliers=0), "b": linear(B_W, B_B)})
    check_multipliers(ng.Automatic, {AW: 0, AB: 0, BW: 1, BB: 1}, net=net)
    check_multipliers({"b": 0.5}, {AW: 0, AB: 0, BW: 0.5, BB: 0.5}, net=net)
    check_multipliers({"a": 2.0}, {AW: 2, AB: 2, BW: 1, BB: 1}, net=net)


def test_everything_frozen_warns_and_returns_the_same_arrays():
    net = two_layers()
    with pytest.warns(UserWarning, match="frozen"):
        trained = train(2, net=net, LearningRateMultipliers=0)
    for key, value in arrays(trained).items():
        np.testing.assert_array_equal(value, START[key])


def test_a_net_without_arrays_warns():
    model = ng.NetChain([ng.ElementwiseLayer("Tanh")], Input=3)
    with pytest.warns(UserWarning, match="no trainable arrays"):
        trained = train(1, net=model, data=(X, X))
    assert trained == model


@pytest.mark.parametrize(
    "option, pattern",
    [
        ({"a": "fast"}, "number"),
        ({"a": float("nan")}, "finite"),
        ("a", "LearningRateMultipliers"),
        (float("inf"), "finite"),
    ],
)
def test_bad_learning_rate_multipliers(option, pattern):
    with pytest.raises(ng.NetOptionError, match=pattern):
        train(1, net=two_layers(), LearningRateMultipliers=option)
