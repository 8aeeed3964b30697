"""BatchNormalizationLayer inside NetTrain: batch statistics, the moving update, freezing,
small batches, shared arrays, and a small convolutional net, against hand computations.

Where the batch order matters the tests use BatchSize = n: one batch per round holding every
example, so a hand loop sees the same batches (the order inside a batch only changes rounding).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from training_check import QUIET, arrays, assert_same_arrays

import netgraph as ng

RNG = np.random.default_rng(99)


def f32(a) -> np.ndarray:
    """Values a float32 array stores exactly, as float64."""
    return np.asarray(a, np.float32).astype(np.float64)


def bn_arrays(net, key=None) -> dict:
    a = arrays(net)
    names = ("Scaling", "Biases", "MovingMean", "MovingVariance")
    return {n: a[(key, n) if key is not None else (n,)] for n in names}


# ------------------------------------------------------------- hand BatchNormalization


def bn_train_forward(z, scaling, biases, eps):
    """Train mode: the batch's mean and biased variance per channel (axis 1)."""
    mu = z.mean(axis=0)
    var = ((z - mu) ** 2).mean(axis=0)
    inv_std = 1 / np.sqrt(var + eps)
    x_hat = (z - mu) * inv_std
    return scaling * x_hat + biases, (x_hat, inv_std, mu, var)


def bn_train_backward(d_y, scaling, cache):
    """The textbook batch-norm backward over n examples."""
    x_hat, inv_std = cache[:2]
    n = len(d_y)
    d_x_hat = d_y * scaling
    d_z = inv_std / n * (n * d_x_hat - d_x_hat.sum(0) - x_hat * (d_x_hat * x_hat).sum(0))
    return d_z, (d_y * x_hat).sum(0), d_y.sum(0)


def bn_test(z, s, b, mean, var, eps):
    return s * (z - mean) / np.sqrt(var + eps) + b


# -------------------------------------------------------------------- the moving update


def test_worked_example_from_the_reference():
    x = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 9.0]])
    trained = ng.NetTrain(
        ng.BatchNormalizationLayer(Input=2), (x, x), MaxTrainingRounds=1, BatchSize=3, **QUIET
    )
    got = bn_arrays(trained)
    np.testing.assert_allclose(got["MovingMean"], [0.3, 0.5], rtol=1e-6)
    np.testing.assert_allclose(got["MovingVariance"], [1.1666667, 1.7666667], rtol=1e-6)
    # the same from the rule: 0.9 * old + 0.1 * (batch mean, biased batch variance)
    np.testing.assert_allclose(got["MovingMean"], 0.1 * x.mean(0), rtol=1e-6)
    np.testing.assert_allclose(got["MovingVariance"], 0.9 + 0.1 * x.var(0, ddof=0), rtol=1e-6)
    assert got["MovingMean"].dtype == np.float32


@pytest.mark.parametrize("interleaving", [False, True])
def test_statistics_cover_batch_and_spatial_axes(interleaving):
    shape = (4, 3, 2) if interleaving else (2, 4, 3)  # 2 channels
    x = RNG.normal(3.0, 2.0, size=(6, *shape))
    bn = ng.BatchNormalizationLayer(Interleaving=interleaving, Input=shape, Momentum=0.5)
    trained = ng.NetTrain(bn, (x, x), MaxTrainingRounds=1, BatchSize=6, **QUIET)
    axes = (0, 1, 2) if interleaving else (0, 2, 3)
    got = bn_arrays(trained)
    np.testing.assert_allclose(got["MovingMean"], 0.5 * x.mean(axis=axes), rtol=1e-5)
    np.testing.assert_allclose(got["MovingVariance"], 0.5 + 0.5 * x.var(axis=axes), rtol=1e-5)


def test_each_batch_is_normalized_by_its_own_statistics():
    """Several batches per round. With Scaling frozen, Biases 0 (its gradient is the mean of
    x_hat, 0 in every batch) and a zero target, a batch's loss is mean(x_hat^2) =
    var/(var + Epsilon), which is 1 up to 1e-10 for *every* batch composition; normalizing
    with the moving statistics (Test mode) would give mean(x^2)/(1 + Epsilon), about 26."""
    x = RNG.normal(5.0, 1.0, size=(12, 2))
    bn = ng.BatchNormalizationLayer(Input=2, Epsilon=1e-12)
    results = ng.NetTrain(
        bn,
        (x, np.zeros_like(x)),
        "All",
        MaxTrainingRounds=3,
        BatchSize=4,
        WorkingPrecision="Real64",
        LearningRateMultipliers={"Scaling": 0},
        **QUIET,
    )
    assert len(results["BatchLossList"]) == 9
    np.testing.assert_allclose(results["BatchLossList"], 1.0, rtol=1e-9)
    assert np.mean(x**2) > 20


def test_the_moving_update_happens_once_per_step():
    """Twelve identical examples: every batch, whatever its members, has mean x0 and variance
    0, so after k steps MovingMean = (1 - 0.9^k) x0 and MovingVariance = 0.9^k. Batches of 4
    for 2 rounds are k = 6 steps."""
    x0 = np.array([2.0, -3.0])
    x = np.tile(x0, (12, 1))
    trained = ng.NetTrain(
        ng.BatchNormalizationLayer(Input=2),
        (x, x),
        MaxTrainingRounds=2,
        BatchSize=4,
        WorkingPrecision="Real64",
        **QUIET,
    )
    got = bn_arrays(trained)
    np.testing.assert_allclose(got["MovingMean"], (1 - 0.9**6) * x0, rtol=1e-12)
    np.testing.assert_allclose(got["MovingVariance"], [0.9**6, 0.9**6], rtol=1e-12)


def test_multi_step_training_matches_a_hand_loop():
    """LinearLayer -> BN (Momentum 0.8, Epsilon 0.01, non-trivial arrays) -> mean squared
    loss, plain SGD, 4 rounds of one full batch: every array, the moving statistics and the
    batch losses follow the hand loop."""
    n, lr, momentum, eps = 9, 0.2, 0.8, 0.01
    x = RNG.normal(size=(n, 3))
    target = RNG.normal(size=(n, 2))
    w, b = f32(RNG.normal(size=(2, 3))), f32(RNG.normal(size=2))
    s, beta = f32([1.5, 0.7]), f32([0.2, -0.3])
    mean, var = f32([0.1, -0.2]), f32([0.8, 1.3])
    net = ng.NetChain(
        {
            "lin": ng.LinearLayer(2, Weights=w, Biases=b),
            "bn": ng.BatchNormalizationLayer(
                Momentum=momentum,
                Epsilon=eps,
                Scaling=s,
                Biases=beta,
                MovingMean=mean,
                MovingVariance=var,
            ),
        },
        Input=3,
    )
    losses = []
    for _ in range(4):
        z = x @ w.T + b
        y, cache = bn_train_forward(z, s, beta, eps)
        losses.append(np.mean((y - target) ** 2))
        d_z, d_s, d_beta = bn_train_backward(2 * (y - target) / y.size, s, cache)
        w, b = w - lr * d_z.T @ x, b - lr * d_z.sum(0)
        s, beta = s - lr * d_s, beta - lr * d_beta
        mu, batch_var = cache[2], cache[3]
        mean = momentum * mean + (1 - momentum) * mu  # once per step, biased variance
        var = momentum * var + (1 - momentum) * batch_var
    results = ng.NetTrain(
        net,
        (x, target),
        "All",
        MaxTrainingRounds=4,
        BatchSize=n,
        Method="SGD",
        LearningRate=lr,
        WorkingPrecision="Real64",
        **QUIET,
    )
    got = arrays(results["TrainedNet"])
    expected = {
        ("lin", "Weights"): w,
        ("lin", "Biases"): b,
        ("bn", "Scaling"): s,
        ("bn", "Biases"): beta,
        ("bn", "MovingMean"): mean,
        ("bn", "MovingVariance"): var,
    }
    for key, value in expected.items():
        np.testing.assert_allclose(got[key], value, rtol=1e-10, atol=1e-12, err_msg=str(key))
    np.testing.assert_allclose(results["BatchLossList"], losses, rtol=1e-10)


def test_momentum_one_freezes_the_moving_arrays_but_not_the_batch_statistics():
    x = RNG.normal(2.0, 3.0, size=(8, 2))
    target = RNG.normal(size=(8, 2))
    mean, var = f32([0.5, -1.0]), f32([2.0, 0.5])
    bn = ng.BatchNormalizationLayer(
        Momentum=1, Scaling=[1.0, 1.0], Biases=[0.0, 0.0], MovingMean=mean, MovingVariance=var
    )
    results = ng.NetTrain(
        bn, (x, target), "All", MaxTrainingRounds=3, BatchSize=4, Method="SGD", **QUIET
    )
    got = bn_arrays(results["TrainedNet"])
    np.testing.assert_array_equal(got["MovingMean"], mean.astype(np.float32))
    np.testing.assert_array_equal(got["MovingVariance"], var.astype(np.float32))
    assert not np.array_equal(got["Scaling"], [1, 1]) and not np.array_equal(got["Biases"], [0, 0])
    # the first step normalizes with the batch statistics: with BatchSize = n its loss is
    first = ng.NetTrain(bn, (x, target), "All", MaxTrainingRounds=1, BatchSize=8, **QUIET)
    y, _ = bn_train_forward(x, 1.0, 0.0, 0.001)
    np.testing.assert_allclose(first["BatchLossList"][0], np.mean((y - target) ** 2), rtol=1e-5)
    moving = bn_test(x, 1.0, 0.0, mean, var, 0.001)
    assert abs(np.mean((moving - target) ** 2) - first["BatchLossList"][0]) > 1


def test_momentum_zero_keeps_exactly_the_last_batch_statistics():
    """LinearLayer -> BN(Momentum 0), one full batch per round: after R rounds the moving
    arrays are the statistics of the BN's input under the LinearLayer arrays of round R-1,
    which a run stopped after R-1 rounds (same seed, deterministic) returns."""
    x = RNG.normal(size=(10, 3))
    target = RNG.normal(size=(10, 2))
    net = ng.NetChain(
        {"lin": ng.LinearLayer(2), "bn": ng.BatchNormalizationLayer(Momentum=0)}, Input=3
    )
    options = {**QUIET, "BatchSize": 10, "RandomSeeding": 4, "LearningRate": 0.05}
    before = arrays(ng.NetTrain(net, (x, target), MaxTrainingRounds=2, **options))
    after = arrays(ng.NetTrain(net, (x, target), MaxTrainingRounds=3, **options))
    z = x @ before[("lin", "Weights")].T.astype(float) + before[("lin", "Biases")]
    np.testing.assert_allclose(after[("bn", "MovingMean")], z.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(after[("bn", "MovingVariance")], z.var(0), rtol=1e-5)
    # alone, the last batch is the whole data set
    alone = ng.NetTrain(
        ng.BatchNormalizationLayer(Momentum=0, Input=3),
        (x, x),
        MaxTrainingRounds=2,
        BatchSize=10,
        **QUIET,
    )
    np.testing.assert_allclose(bn_arrays(alone)["MovingMean"], x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(bn_arrays(alone)["MovingVariance"], x.var(0), rtol=1e-5)


# --------------------------------------------------------------------------- freezing


FROZEN = {
    "Scaling": f32([1.5, 0.5]),
    "Biases": f32([0.25, -1.0]),
    "MovingMean": f32([0.3, -0.7]),
    "MovingVariance": f32([2.0, 0.4]),
}


def frozen_chain(w, b, layer_option: bool) -> ng.NetChain:
    bn_options = {"LearningRateMultipliers": 0} if layer_option else {}
    return ng.NetChain(
        {
            "lin": ng.LinearLayer(2, Weights=w, Biases=b),
            "bn": ng.BatchNormalizationLayer(**FROZEN, **bn_options),
        },
        Input=3,
    )


@pytest.mark.parametrize(
    "layer_option, multipliers",
    [(False, {"bn": 0}), (False, {"bn": None}), (True, ng.Automatic), (False, {1: 0})],
    ids=["by key", "None by key", "layer option", "by position"],
)
def test_frozen_batchnorm_keeps_its_arrays_and_runs_in_test_mode(layer_option, multipliers):
    n, lr = 8, 0.1
    x = RNG.normal(size=(n, 3))
    target = RNG.normal(size=(n, 2))
    w, b = f32(RNG.normal(size=(2, 3))), f32(RNG.normal(size=2))
    net = frozen_chain(w, b, layer_option)
    trained = ng.NetTrain(
        net,
        (x, target),
        MaxTrainingRounds=1,
        BatchSize=n,
        Method="SGD",
        LearningRate=lr,
        LearningRateMultipliers=multipliers,
        WorkingPrecision="Real64",
        **QUIET,
    )
    got = arrays(trained)
    for name, value in FROZEN.items():
        stored = got[("bn", name)]
        np.testing.assert_array_equal(stored, value)  # bit-identical
    # the LinearLayer's gradient goes through the Test-mode BN (moving statistics):
    # y = s (z - mean)/sqrt(var + eps) + beta, so dL/dz = dL/dy * s/sqrt(var + eps)
    s, beta, mean, var = (FROZEN[k] for k in FROZEN)
    z = x @ w.T + b
    y = bn_test(z, s, beta, mean, var, 0.001)
    d_z = 2 * (y - target) / y.size * s / np.sqrt(var + 0.001)
    np.testing.assert_allclose(got[("lin", "Weights")], w - lr * d_z.T @ x, rtol=1e-10)
    np.testing.assert_allclose(got[("lin", "Biases")], b - lr * d_z.sum(0), rtol=1e-10)
    # (the Train-mode gradient would be far from it)
    y_train, cache = bn_train_forward(z, s, beta, 0.001)
    d_z_train, _, _ = bn_train_backward(2 * (y_train - target) / y.size, s, cache)
    assert np.abs(d_z_train.T @ x - d_z.T @ x).max() > 1e-3


def test_partly_frozen_batchnorm_still_trains_in_train_mode():
    x = RNG.normal(4.0, 1.0, size=(8, 2))
    bn = ng.BatchNormalizationLayer(Input=2)
    trained = ng.NetTrain(
        bn,
        (x, x),
        MaxTrainingRounds=1,
        BatchSize=8,
        LearningRateMultipliers={"Scaling": 0},
        **QUIET,
    )
    got = bn_arrays(trained)
    np.testing.assert_array_equal(got["Scaling"], [1, 1])
    np.testing.assert_allclose(got["MovingMean"], 0.1 * x.mean(0), rtol=1e-5)


# ------------------------------------------------------------------------ small batches


def test_batch_of_one_vector_is_a_clear_train_error():
    x = RNG.normal(size=(6, 3))
    net = ng.NetChain({"lin": ng.LinearLayer(3), "bn": ng.BatchNormalizationLayer()}, Input=3)
    with pytest.raises(ng.NetTrainError) as info:
        ng.NetTrain(net, (x, x), MaxTrainingRounds=1, BatchSize=1, **QUIET)
    message = str(info.value)
    assert "BatchSize" in message and "single value" in message
    assert 'in layer "bn"' in message and "BatchNormalizationLayer" in message
    alone = ng.BatchNormalizationLayer(Input=3)
    with pytest.raises(ng.NetTrainError, match=r"^BatchNormalizationLayer: .*BatchSize"):
        ng.NetTrain(alone, (x, x), MaxTrainingRounds=1, BatchSize=1, **QUIET)


def test_one_value_per_channel_after_pooling_is_a_train_error():
    x = RNG.normal(size=(4, 1, 2, 2))
    net = ng.NetChain(
        [ng.ConvolutionLayer(2, 1), ng.PoolingLayer(2), ng.BatchNormalizationLayer()],
        Input=(1, 2, 2),
    )
    with pytest.raises(ng.NetTrainError, match="BatchSize"):
        ng.NetTrain(net, (x, np.zeros((4, 2, 1, 1))), MaxTrainingRounds=1, BatchSize=1, **QUIET)


def test_frozen_batchnorm_trains_with_batches_of_one():
    """A frozen BN normalizes with its moving statistics, so one example per batch is fine."""
    x = RNG.normal(size=(4, 2))
    net = ng.NetChain(
        {"lin": ng.LinearLayer(2), "bn": ng.BatchNormalizationLayer(**FROZEN)}, Input=2
    )
    trained = ng.NetTrain(
        net, (x, x), MaxTrainingRounds=1, BatchSize=1, LearningRateMultipliers={"bn": 0}, **QUIET
    )
    for name, value in FROZEN.items():
        np.testing.assert_array_equal(ng.NetExtract(trained, ("bn", name)), value)


def test_batch_of_one_image_is_fine_when_channels_have_several_values():
    x = RNG.normal(size=(3, 2, 3, 3))
    results = ng.NetTrain(
        ng.BatchNormalizationLayer(Input=(2, 3, 3)),
        (x, x),
        "All",
        MaxTrainingRounds=1,
        BatchSize=1,
        **QUIET,
    )
    assert results["BatchesPerRound"] == 3


@pytest.mark.parametrize("n, batches", [(17, 1), (33, 2), (18, 2)])
def test_a_final_batch_of_one_joins_the_previous_batch(n, batches):
    x = RNG.normal(1.0, 2.0, size=(n, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # n >= BatchSize: no warning either
        results = ng.NetTrain(
            ng.BatchNormalizationLayer(Input=2, Momentum=0),
            (x, x),
            "All",
            MaxTrainingRounds=2,
            BatchSize=16,
            **QUIET,
        )
    assert results["BatchesPerRound"] == batches
    assert len(results["BatchLossList"]) == 2 * batches
    assert results["BatchSize"] == 16
    trained = results["TrainedNet"]
    if n == 17:  # one batch of all 17: Momentum 0 keeps exactly their statistics
        np.testing.assert_allclose(bn_arrays(trained)["MovingMean"], x.mean(0), rtol=1e-5)
        np.testing.assert_allclose(bn_arrays(trained)["MovingVariance"], x.var(0), rtol=1e-5)
    # evaluating one example still works (moving statistics)
    a = bn_arrays(trained)
    expected = bn_test(x[0], a["Scaling"], a["Biases"], a["MovingMean"], a["MovingVariance"], 1e-3)
    np.testing.assert_allclose(trained(x[0]), expected, rtol=1e-5)


# ------------------------------------------------------------------------ shared arrays


def shared_chain(shared: bool, w: np.ndarray) -> ng.NetChain:
    bn = ng.BatchNormalizationLayer(Input=2)
    if shared:
        bn = ng.NetInsertSharedArrays(bn)
        return ng.NetChain([bn, ng.LinearLayer(2, Weights=w, Biases=[0.0, 0.0]), bn])
    second = ng.BatchNormalizationLayer(Input=2)
    return ng.NetChain([bn, ng.LinearLayer(2, Weights=w, Biases=[0.0, 0.0]), second])


def test_shared_scaling_and_biases_train_as_one_array_with_separate_moving_statistics():
    x = RNG.normal(1.0, 2.0, size=(12, 2))
    target = RNG.normal(size=(12, 2))
    w = f32([[0.8, -0.6], [0.3, 1.2]])
    options = {
        **QUIET,
        "MaxTrainingRounds": 1,
        "BatchSize": 12,
        "Method": "SGD",
        "LearningRate": 0.1,
        "WorkingPrecision": "Real64",
    }
    shared = arrays(ng.NetTrain(shared_chain(True, w), (x, target), **options))
    separate = arrays(ng.NetTrain(shared_chain(False, w), (x, target), **options))
    # one step from equal values: the shared array moves by the sum of both uses' steps
    for name, start in (("Scaling", 1.0), ("Biases", 0.0)):
        step = (separate[(0, name)] - start) + (separate[(2, name)] - start)
        np.testing.assert_allclose(
            shared[ng.NetSharedArray(name)] - start, step, rtol=1e-10, atol=1e-14
        )
    # the moving statistics stay per layer
    np.testing.assert_allclose(shared[(0, "MovingMean")], separate[(0, "MovingMean")], rtol=1e-10)
    np.testing.assert_allclose(shared[(2, "MovingMean")], separate[(2, "MovingMean")], rtol=1e-10)

    # trained longer: Scaling/Biases identical in both uses, moving statistics differ
    trained = ng.NetTrain(
        shared_chain(True, w), (x, target), MaxTrainingRounds=5, BatchSize=4, **QUIET
    )
    first, second = ng.NetExtract(trained, 0), ng.NetExtract(trained, 2)
    for name in ("Scaling", "Biases"):
        np.testing.assert_array_equal(ng.NetExtract(first, name), ng.NetExtract(second, name))
    for name in ("MovingMean", "MovingVariance"):
        a, b = ng.NetExtract(first, name), ng.NetExtract(second, name)
        assert np.abs(a - b).max() > 1e-2, name
    assert ng.Information(trained, "SharedArraysCount") == 2


# --------------------------------------------------------------------- convolutional net


def test_convolutional_net_with_batchnorm_trains():
    n = 48
    labels = RNG.integers(0, 2, size=n)
    stripes = np.zeros((2, 6, 6))
    stripes[0, ::2, :] = 1.0  # horizontal
    stripes[1, :, ::2] = 1.0  # vertical
    x = stripes[labels][:, None] + 0.3 * RNG.normal(size=(n, 1, 6, 6))
    net = ng.NetChain(
        {
            "conv": ng.ConvolutionLayer(4, 3),
            "bn": ng.BatchNormalizationLayer(),
            "relu": "Ramp",
            "pool": ng.PoolingLayer(2, Stride=2),
            "flat": ng.FlattenLayer(),
            "lin": ng.LinearLayer(2),
            "softmax": ng.SoftmaxLayer(),
        },
        Input=(1, 6, 6),
    )
    results = ng.NetTrain(
        net,
        (x, labels),
        "All",
        MaxTrainingRounds=15,
        BatchSize=8,
        LearningRate=0.01,
        RandomSeeding=2,
        **QUIET,
    )
    losses = results["RoundLossList"]
    assert losses[-1] < 0.5 * losses[0]
    np.testing.assert_allclose(losses[0], np.log(2), rtol=0.5)  # starts near chance
    trained = results["TrainedNet"]
    stats = bn_arrays(trained, "bn")
    assert np.isfinite(stats["MovingMean"]).all() and (stats["MovingVariance"] > 0).all()
    assert not np.array_equal(stats["MovingMean"], np.zeros(4))
    probabilities = trained(x)
    assert np.mean(probabilities.argmax(axis=1) == labels) > 0.9
    assert trained(x[0]).shape == (2,)


def test_validation_loss_uses_the_moving_statistics():
    x = RNG.normal(2.0, 1.5, size=(10, 2))
    xv = RNG.normal(2.0, 1.5, size=(5, 2))
    tv = RNG.normal(size=(5, 2))
    results = ng.NetTrain(
        ng.BatchNormalizationLayer(Input=2, Momentum=0.5),
        (x, x),
        "All",
        MaxTrainingRounds=1,
        BatchSize=10,
        ValidationSet=(xv, tv),
        WorkingPrecision="Real64",
        **QUIET,
    )
    a = bn_arrays(results["TrainedNet"])
    y = bn_test(xv, a["Scaling"], a["Biases"], a["MovingMean"], a["MovingVariance"], 1e-3)
    np.testing.assert_allclose(results["ValidationLossList"][0], np.mean((y - tv) ** 2), rtol=1e-10)


def test_training_never_changes_the_given_batchnorm():
    bn = ng.NetInitialize(ng.BatchNormalizationLayer(Input=2))
    twin = ng.NetInitialize(ng.BatchNormalizationLayer(Input=2))
    x = RNG.normal(size=(8, 2))
    ng.NetTrain(bn, (x, x), MaxTrainingRounds=2, BatchSize=4, **QUIET)
    assert_same_arrays(bn, twin)
