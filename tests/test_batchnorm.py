"""BatchNormalizationLayer: every rule of API.md's table, against numbers computed here.

Expected values come from `reference_bn` (a plain numpy formula written in this file), from
hand arithmetic, or from the worked tables of wolfram-semantics.md §1.6 and §8.
"""

import numpy as np
import pytest
from layer_check import check_gradients, check_layer

import netgraph as ng
from netgraph.layer import Context

EPS = 0.001
ARRAY_NAMES = ("Scaling", "Biases", "MovingMean", "MovingVariance")
WORKED_BATCH = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 9.0]])


def reference_bn(x, channel_axis, scaling, biases, mean=None, var=None, eps=EPS):
    """y = scaling*(x - mean)/sqrt(var + eps) + biases over a *batch* x; the statistics are
    the batch's own (np.var is the biased variance) unless mean/var are given."""
    x = np.asarray(x, np.float64)
    axis = channel_axis % x.ndim
    others = tuple(a for a in range(x.ndim) if a != axis)
    if mean is None:
        mean, var = x.mean(axis=others), x.var(axis=others)
    shape = [1] * x.ndim
    shape[axis] = -1

    def per_channel(v):
        return np.asarray(v, np.float64).reshape(shape)

    return per_channel(scaling) * (x - per_channel(mean)) / np.sqrt(
        per_channel(var) + eps
    ) + per_channel(biases)


def arrays_of(bn):
    return {name: ng.NetExtract(bn, name) for name in ARRAY_NAMES}


def bn_with(shape, interleaving=False, **arrays):
    """An initialized BN with C = 3 channels and distinct per-channel arrays."""
    values = {
        "Scaling": [0.5, 2.0, -1.5],
        "Biases": [1.0, -2.0, 0.25],
        "MovingMean": [0.3, -1.0, 2.0],
        "MovingVariance": [0.5, 4.0, 1.5],
    }
    values.update(arrays)
    return ng.BatchNormalizationLayer(Input=shape, Interleaving=interleaving, **values)


# ------------------------------------------------------------------------- channel axis

CHANNEL_CASES = [  # example shape, Interleaving; C = 3 in every case
    ((3,), False),
    ((3,), True),
    ((3, 5), False),
    ((5, 3), True),
    ((3, 4, 5), False),
    ((4, 5, 3), True),
    ((3, 2, 4, 5), False),
    ((2, 4, 5, 3), True),
]


@pytest.mark.parametrize("shape, interleaving", CHANNEL_CASES)
def test_channel_axis_fixes_array_length(shape, interleaving):
    bn = ng.BatchNormalizationLayer(Input=shape, Interleaving=interleaving)
    dims = ng.Information(bn, "ArraysDimensions")
    assert dims == {(name,): (3,) for name in ARRAY_NAMES}
    assert ng.Information(bn, "OutputPorts") == {"Output": shape}


@pytest.mark.parametrize("shape, interleaving", CHANNEL_CASES)
def test_channel_axis_in_train_mode(shape, interleaving):
    rng = np.random.default_rng(1)
    offsets = np.array([-3.0, 0.0, 5.0]).reshape([3] + [1] * (len(shape) - 1))
    if interleaving:
        offsets = np.moveaxis(offsets, 0, -1)
    x = rng.standard_normal((4, *shape)) * [1.0] + offsets
    bn = bn_with(shape, interleaving)
    channel = -1 if interleaving else 1
    expected = reference_bn(x, channel, [0.5, 2.0, -1.5], [1.0, -2.0, 0.25])
    got = bn(x, NetEvaluationMode="Train", WorkingPrecision="Real64")
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("shape, interleaving", CHANNEL_CASES)
def test_channel_axis_in_test_mode(shape, interleaving):
    x = np.random.default_rng(2).standard_normal((2, *shape))
    bn = bn_with(shape, interleaving)
    channel = -1 if interleaving else 1
    expected = reference_bn(
        x, channel, [0.5, 2.0, -1.5], [1.0, -2.0, 0.25], [0.3, -1.0, 2.0], [0.5, 4.0, 1.5]
    )
    np.testing.assert_allclose(bn(x, WorkingPrecision="Real64"), expected, rtol=1e-6)


@pytest.mark.parametrize("spec", ["Real", ()])
def test_rank0_input_rejected(spec):
    with pytest.raises(ng.NetShapeError, match="rank"):
        ng.BatchNormalizationLayer(Input=spec)


def test_rank0_data_rejected_when_only_channels_are_known():
    bn = ng.NetInitialize(ng.BatchNormalizationLayer(Scaling=[1.0, 2.0, 3.0]))
    with pytest.raises(ng.NetShapeError, match='"Input"'):
        bn(np.float32(1.0))


# ----------------------------------------------------------------------- arrays and init


def test_four_arrays_learned_and_state():
    bn = ng.NetInitialize(ng.BatchNormalizationLayer(Input=(4, 2)))
    assert list(ng.Information(bn, "ArraysDimensions")) == [(n,) for n in ARRAY_NAMES]
    multipliers = ng.Information(bn, "ArraysLearningRateMultipliers")
    assert multipliers[("MovingMean",)] == 0 and multipliers[("MovingVariance",)] == 0
    assert multipliers[("Scaling",)] == 1 and multipliers[("Biases",)] == 1


def test_net_initialize_values_are_fixed_constants():
    seeds = [
        ng.NetInitialize(ng.BatchNormalizationLayer(Input=(4, 2)), RandomSeeding=s) for s in (1, 2)
    ]
    for bn in seeds:
        a = arrays_of(bn)
        np.testing.assert_array_equal(a["Scaling"], np.ones(4))
        np.testing.assert_array_equal(a["Biases"], np.zeros(4))
        np.testing.assert_array_equal(a["MovingMean"], np.zeros(4))
        np.testing.assert_array_equal(a["MovingVariance"], np.ones(4))
        assert all(v.dtype == np.float32 for v in a.values())


# ---------------------------------------------------------------------------- test mode


def test_test_mode_hand_values():
    # sqrt(3.99 + 0.01) = 2 and sqrt(0.24 + 0.01) = 0.5:
    # y0 = 2*(5 - 1)/2 + 1 = 5, y1 = 0.5*(3 - 2)/0.5 - 1 = 0.
    bn = ng.BatchNormalizationLayer(
        Epsilon=0.01,
        Scaling=[2.0, 0.5],
        Biases=[1.0, -1.0],
        MovingMean=[1.0, 2.0],
        MovingVariance=[3.99, 0.24],
    )
    np.testing.assert_allclose(bn(np.array([5.0, 3.0])), [5.0, 0.0], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("interleaving", [False, True])
def test_test_mode_formula_with_explicit_arrays_and_epsilon(interleaving):
    rng = np.random.default_rng(3)
    arrays = {
        "Scaling": rng.uniform(-2, 2, 3),
        "Biases": rng.uniform(-2, 2, 3),
        "MovingMean": rng.uniform(-2, 2, 3),
        "MovingVariance": rng.uniform(0.1, 3, 3),
    }
    shape = (4, 2, 3) if interleaving else (3, 4, 2)
    bn = ng.BatchNormalizationLayer(Input=shape, Interleaving=interleaving, Epsilon=0.05, **arrays)
    x = rng.standard_normal((5, *shape)) * 3
    stored = {k: v.astype(np.float32) for k, v in arrays.items()}  # arrays are kept in float32
    expected = reference_bn(
        x,
        -1 if interleaving else 1,
        stored["Scaling"],
        stored["Biases"],
        stored["MovingMean"],
        stored["MovingVariance"],
        eps=0.05,
    )
    np.testing.assert_allclose(bn(x, WorkingPrecision="Real64"), expected, rtol=1e-12)
    np.testing.assert_allclose(bn(x), expected, rtol=1e-5, atol=1e-5)


def test_default_evaluation_mode_is_test():
    bn = bn_with((3,))
    x = np.random.default_rng(4).standard_normal((6, 3))
    np.testing.assert_array_equal(bn(x), bn(x, NetEvaluationMode="Test"))
    assert not np.allclose(bn(x), bn(x, NetEvaluationMode="Train"))


# -------------------------------------------------------------------- worked values, §8


def test_worked_test_mode_vector():
    bn = ng.NetInitialize(ng.BatchNormalizationLayer(Input=3))
    y = bn(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(y, [0.99950037, 1.99900075, 2.99850112], rtol=1e-6)
    np.testing.assert_allclose(y, np.array([1.0, 2.0, 3.0]) / np.sqrt(1.001), rtol=1e-6)


def test_worked_train_mode_batch_output():
    bn = ng.NetInitialize(ng.BatchNormalizationLayer(Input=2))
    expected = [[-1.2245153, -1.0189905], [0.0, -0.3396635], [1.2245153, 1.3586541]]
    y = bn(WORKED_BATCH, NetEvaluationMode="Train")
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)


def test_worked_train_mode_batch_statistics():
    bn = ng.NetInitialize(ng.BatchNormalizationLayer(Input=2, Momentum=0.0))
    _, _, state = bn.forward(arrays_of(bn), {"Input": WORKED_BATCH}, Context(mode="Train"))
    np.testing.assert_allclose(state["MovingMean"], [3.0, 5.0], rtol=1e-12)
    np.testing.assert_allclose(state["MovingVariance"], [8 / 3, 26 / 3], rtol=1e-12)


def test_worked_rank3_channel_statistics():
    x = np.arange(8.0).reshape(2, 2, 2)  # Range[0, 7] as {2, 2, 2}, one example
    bn = ng.NetInitialize(ng.BatchNormalizationLayer(Input=(2, 2, 2), Momentum=0.0))
    _, _, state = bn.forward(arrays_of(bn), {"Input": x[None]}, Context(mode="Train"))
    np.testing.assert_allclose(state["MovingMean"], [1.5, 5.5], rtol=1e-12)
    np.testing.assert_allclose(state["MovingVariance"], [1.25, 1.25], rtol=1e-12)
    centred = np.array([-1.5, -0.5, 0.5, 1.5]).reshape(2, 2)
    expected = np.stack([centred, centred]) / np.sqrt(1.25 + EPS)
    y = bn(x, NetEvaluationMode="Train")
    np.testing.assert_allclose(y, expected, rtol=1e-6)


@pytest.mark.parametrize("data", [[5.0, -6.0, 7.0], [[5.0, -6.0, 7.0]]])
def test_single_example_in_train_mode_returns_biases(data):
    bn = ng.BatchNormalizationLayer(
        Biases=[1.0, 2.0, 3.0],
        Scaling=[5.0, 6.0, 7.0],
        MovingMean=[9, 9, 9],
        MovingVariance=[2, 2, 2],
    )
    y = bn(np.array(data), NetEvaluationMode="Train")
    np.testing.assert_array_equal(y.reshape(-1), [1.0, 2.0, 3.0])


# ---------------------------------------------------------------------------- train mode


def test_train_mode_variance_is_biased():
    bn = ng.NetInitialize(ng.BatchNormalizationLayer(Input=1))
    # mean 1, biased variance ((0-1)^2 + (2-1)^2)/2 = 1 (the unbiased one would be 2)
    y = bn(np.array([[0.0], [2.0]]), NetEvaluationMode="Train")
    np.testing.assert_allclose(y, [[-1 / np.sqrt(1.001)], [1 / np.sqrt(1.001)]], rtol=1e-6)


def test_train_mode_ignores_moving_arrays():
    x = np.random.default_rng(5).standard_normal((6, 3))
    a = bn_with((3,))
    b = bn_with((3,), MovingMean=[100.0, -50.0, 7.0], MovingVariance=[30.0, 0.01, 9.0])
    np.testing.assert_array_equal(a(x, NetEvaluationMode="Train"), b(x, NetEvaluationMode="Train"))


@pytest.mark.parametrize("interleaving", [False, True])
@pytest.mark.parametrize("rank", [2, 4])
def test_train_mode_backward_through_batch_statistics(interleaving, rank):
    shape = {2: (3, 4), 4: (3, 2, 3, 2)}[rank]
    if interleaving:
        shape = shape[1:] + (3,)
    rng = np.random.default_rng(6)
    bn = bn_with(shape, interleaving)
    x = rng.standard_normal((4, *shape)) * 2 + 1
    check_gradients(bn, x, mode="Train", rtol=1e-4, atol=1e-6)


def test_train_mode_gradient_of_plain_sum_hand_values():
    # Per channel, sum_batch(y) = N*Biases + Scaling*sum(x_hat) = N*Biases (sum x_hat = 0):
    # d/dx = 0, d/dScaling = sum(x_hat) = 0, d/dBiases = N = 5.
    bn = bn_with((3,))
    x = np.random.default_rng(7).standard_normal((5, 3))
    g = bn(x, ng.NetPortGradient(ng.All), NetEvaluationMode="Train", WorkingPrecision="Real64")
    np.testing.assert_allclose(g["Input"], 0.0, atol=1e-12)
    np.testing.assert_allclose(g[("Scaling",)], 0.0, atol=1e-12)
    np.testing.assert_allclose(g[("Biases",)], [5.0, 5.0, 5.0], rtol=1e-12)


def test_test_mode_backward_finite_differences():
    bn = bn_with((3, 2, 2))
    x = np.random.default_rng(8).standard_normal((2, 3, 2, 2))
    check_gradients(bn, x, mode="Test")


# -------------------------------------------------------------------------- moving update


def test_moving_update_worked_numbers():
    bn = ng.NetInitialize(ng.BatchNormalizationLayer(Input=2))  # Momentum 0.9
    _, _, state = bn.forward(arrays_of(bn), {"Input": WORKED_BATCH}, Context(mode="Train"))
    np.testing.assert_allclose(state["MovingMean"], [0.3, 0.5], rtol=1e-7)
    np.testing.assert_allclose(state["MovingVariance"], [1.1666667, 1.7666667], rtol=1e-7)


def test_moving_update_formula_rank3():
    rng = np.random.default_rng(9)
    old_mean, old_var = np.float32([0.5, -1.0, 2.0]), np.float32([1.5, 0.25, 3.0])
    bn = bn_with((3, 2, 2), Momentum=0.7, MovingMean=old_mean, MovingVariance=old_var)
    x = rng.standard_normal((4, 3, 2, 2)) * 2 + 3
    _, _, state = bn.forward(arrays_of(bn), {"Input": x}, Context(mode="Train"))
    mu, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))  # biased
    old_mean, old_var = old_mean.astype(np.float64), old_var.astype(np.float64)
    np.testing.assert_allclose(state["MovingMean"], 0.7 * old_mean + 0.3 * mu, rtol=1e-12)
    np.testing.assert_allclose(state["MovingVariance"], 0.7 * old_var + 0.3 * var, rtol=1e-12)


def test_momentum_one_leaves_moving_arrays_but_normalizes_with_batch():
    old_mean, old_var = np.float32([0.5, -1.0]), np.float32([1.5, 0.25])
    bn = ng.NetInitialize(
        ng.BatchNormalizationLayer(Input=2, Momentum=1, MovingMean=old_mean, MovingVariance=old_var)
    )
    outs, _, state = bn.forward(arrays_of(bn), {"Input": WORKED_BATCH}, Context(mode="Train"))
    np.testing.assert_array_equal(state["MovingMean"], old_mean)
    np.testing.assert_array_equal(state["MovingVariance"], old_var)
    np.testing.assert_allclose(outs["Output"], reference_bn(WORKED_BATCH, 1, 1, 0), rtol=1e-7)


def test_momentum_zero_gives_exactly_the_batch_statistics():
    bn = ng.NetInitialize(
        ng.BatchNormalizationLayer(
            Input=2, Momentum=0, MovingMean=[7.0, 7.0], MovingVariance=[9.0, 9.0]
        )
    )
    _, _, state = bn.forward(arrays_of(bn), {"Input": WORKED_BATCH}, Context(mode="Train"))
    np.testing.assert_allclose(state["MovingMean"], [3.0, 5.0], rtol=1e-12)
    np.testing.assert_allclose(state["MovingVariance"], [2.6666667, 8.6666667], rtol=1e-7)


def test_test_mode_forward_has_no_state_update():
    bn = bn_with((3,))
    _, _, state = bn.forward(arrays_of(bn), {"Input": np.ones((2, 3))}, Context(mode="Test"))
    assert not state


def test_evaluation_never_changes_any_array():
    bn = bn_with((3, 2))
    before = {k: v.tobytes() for k, v in arrays_of(bn).items()}
    x = np.random.default_rng(10).standard_normal((5, 3, 2))
    for mode in ("Test", "Train"):
        bn(x, NetEvaluationMode=mode)
        bn(x, NetEvaluationMode=mode, BatchSize=2)
        bn(x, ng.NetPortGradient(ng.All), NetEvaluationMode=mode)
        bn(x[0], NetEvaluationMode=mode)
    assert {k: v.tobytes() for k, v in arrays_of(bn).items()} == before


# ---------------------------------------------------------------------------- validation


@pytest.mark.parametrize("bad", [0, 0.0, -1e-3, float("nan"), float("inf"), "1e-3", "abc", True])
def test_bad_epsilon_rejected(bad):
    with pytest.raises(ng.NetOptionError, match="Epsilon"):
        ng.BatchNormalizationLayer(Epsilon=bad)
    with pytest.raises(ng.NetOptionError, match="Epsilon"):
        ng.NetReplacePart(bn_with((3,)), {"Epsilon": bad})


@pytest.mark.parametrize("bad", [-0.1, 1.1, float("nan"), float("-inf"), "0.5"])
def test_momentum_outside_unit_interval_rejected(bad):
    with pytest.raises(ng.NetOptionError, match="Momentum"):
        ng.BatchNormalizationLayer(Momentum=bad)


@pytest.mark.parametrize("good", [0, 1, 0.0, 1.0, 0.5])
def test_momentum_bounds_accepted(good):
    assert ng.NetExtract(ng.BatchNormalizationLayer(Momentum=good), "Momentum") == good


def test_misspelt_option_suggests_the_right_name():
    with pytest.raises(ng.NetOptionError, match='Did you mean "Epsilon"'):
        ng.BatchNormalizationLayer(Epsilion=0.1)


@pytest.mark.parametrize("name", ARRAY_NAMES)
def test_array_of_wrong_length_rejected(name):
    with pytest.raises(ng.NetArrayError, match=name):
        ng.BatchNormalizationLayer(Input=(3, 4), **{name: [1.0, 1.0]})
    with pytest.raises(ng.NetArrayError, match=name):
        ng.NetReplacePart(bn_with((3, 4)), {name: [1.0, 1.0, 1.0, 1.0]})


def test_arrays_of_different_lengths_rejected_without_input():
    with pytest.raises(ng.NetArrayError, match="Biases"):
        ng.BatchNormalizationLayer(Scaling=[1.0, 2.0, 3.0], Biases=[1.0, 2.0])


def test_moving_variance_must_exceed_minus_epsilon():
    # Values exact in float32: with Epsilon 0.25, -0.125 is allowed and -0.25 is not.
    ok = ng.BatchNormalizationLayer(Input=2, Epsilon=0.25, MovingVariance=[1.0, -0.125])
    with pytest.raises(ng.NetArrayError, match="MovingVariance"):
        ng.BatchNormalizationLayer(Input=2, Epsilon=0.25, MovingVariance=[1.0, -0.25])
    with pytest.raises(ng.NetArrayError, match="MovingVariance"):
        ng.NetReplacePart(ok, {"MovingVariance": [-3.0, 1.0]})
    with pytest.raises(ng.NetArrayError, match="MovingVariance"):
        ng.NetReplacePart(ok, {"Epsilon": 0.1})  # the existing -0.125 is now <= -Epsilon


@pytest.mark.parametrize("name", ["MovingMean", "MovingVariance"])
def test_moving_arrays_cannot_be_shared(name):
    with pytest.raises(ng.NetArrayError, match=name):
        ng.BatchNormalizationLayer(Input=3, **{name: ng.NetSharedArray("s")})
    with pytest.raises(ng.NetArrayError, match=name):
        ng.NetReplacePart(bn_with((3,)), {name: ng.NetSharedArray("s")})


@pytest.mark.parametrize("name", ["Scaling", "Biases"])
def test_learned_arrays_can_be_shared(name):
    bn = ng.NetInitialize(ng.BatchNormalizationLayer(Input=3, **{name: ng.NetSharedArray("s")}))
    assert ng.Information(bn, "SharedArraysCount") == 1
    expected = {"Scaling": [1.0, 1.0, 1.0], "Biases": [0.0, 0.0, 0.0]}[name]
    np.testing.assert_array_equal(ng.NetExtract(bn, name), expected)
    x = np.array([[1.0, 2.0, 3.0]])
    np.testing.assert_allclose(bn(x), x / np.sqrt(1.001), rtol=1e-6)


def test_shared_scaling_gets_its_gradient_under_the_shared_name():
    shared = ng.NetSharedArray("s")
    bn = ng.BatchNormalizationLayer(Input=3, Scaling=shared, Biases=[0.5, 0.0, -0.5])
    bn = ng.NetReplacePart(ng.NetInitialize(bn), {shared: [1.0, 2.0, 3.0]})
    x = np.random.default_rng(17).standard_normal((4, 3))
    checked = check_gradients(bn, x, mode="Train")
    assert set(checked) == {"Input", shared, ("Biases",)}


@pytest.mark.parametrize(
    "make, data",
    [
        (lambda: bn_with((3,)), np.ones((2, 4))),
        (
            lambda: ng.NetInitialize(ng.BatchNormalizationLayer(Scaling=[1.0, 1, 1])),
            np.ones((2, 4, 5)),
        ),
        (
            lambda: ng.NetInitialize(
                ng.BatchNormalizationLayer(Scaling=[1.0, 1, 1], Interleaving=True)
            ),
            np.ones((2, 5, 4)),
        ),
    ],
)
def test_wrong_channel_count_at_evaluation(make, data):
    with pytest.raises(ng.NetShapeError, match=r'"Scaling"|\b4\b'):
        make()(data)


def test_wrong_channel_count_message_names_scaling_and_both_counts():
    with pytest.raises(ng.NetShapeError) as info:
        bn_with((3,))(np.ones((2, 4)))
    message = str(info.value)
    assert '"Scaling"' in message and "4" in message and "3" in message


# ------------------------------------------------------------------------- non-finite


def test_overflow_in_test_mode_raises():
    bn = ng.NetInitialize(ng.BatchNormalizationLayer(Input=2, Scaling=[10.0, 10.0]))
    x = np.array([[3e38, -3e38], [-3e38, 3e38]], np.float32)
    with pytest.raises(ng.NetError, match="overflow"):
        bn(x)


def test_overflow_in_train_mode_output_raises():
    bn = ng.NetInitialize(
        ng.BatchNormalizationLayer(Input=2, Scaling=[1e38, 1e38], Biases=[3e38, 3e38])
    )
    x = np.array([[1.0, 2.0], [3.0, 5.0]], np.float32)  # x_hat = +-1: 3e38 + 1e38 overflows
    with pytest.raises(ng.NetError, match="overflow"):
        bn(x, NetEvaluationMode="Train")


def test_huge_data_in_train_mode_is_never_silently_wrong():
    # True answer: x_hat = +-1 per channel. Squares of 3e38 overflow float32, so the layer
    # either computes the statistics safely or raises; it must not return Biases instead.
    bn = ng.NetInitialize(ng.BatchNormalizationLayer(Input=2, Scaling=[10.0, 10.0]))
    x = np.array([[3e38, -3e38], [-3e38, 3e38]], np.float32)
    try:
        y = bn(x, NetEvaluationMode="Train")
    except ng.NetError:
        return
    np.testing.assert_allclose(y, [[10.0, -10.0], [-10.0, 10.0]], rtol=1e-3)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_is_a_data_error(bad):
    x = np.array([[1.0, bad, 3.0]])
    with pytest.raises(ng.NetDataError, match='"Input"'):
        bn_with((3,))(x)


# ------------------------------------------------------------------------------ numerics


def test_large_offset_train_statistics_are_accurate_in_float32():
    rng = np.random.default_rng(11)
    x = (1e4 + rng.standard_normal((512, 3))).astype(np.float32)
    y = ng.NetInitialize(ng.BatchNormalizationLayer(Input=3))(x, NetEvaluationMode="Train")
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=1e-4)
    # std of the output is sqrt(var/(var + eps)) with the data's own variance
    var = x.astype(np.float64).var(axis=0)
    np.testing.assert_allclose(y.std(axis=0), np.sqrt(var / (var + EPS)), rtol=1e-4)
    np.testing.assert_allclose(y, reference_bn(x, 1, 1, 0), atol=1e-5)


@pytest.mark.parametrize("mode", ["Test", "Train"])
def test_float16_input(mode):
    x = np.random.default_rng(12).standard_normal((4, 3)).astype(np.float16)
    bn = bn_with((3,))
    y = bn(x, NetEvaluationMode=mode)
    assert y.dtype == np.float32
    stats = {} if mode == "Train" else {"mean": [0.3, -1.0, 2.0], "var": [0.5, 4.0, 1.5]}
    expected = reference_bn(x, 1, [0.5, 2.0, -1.5], [1.0, -2.0, 0.25], **stats)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------- information, forms


@pytest.mark.parametrize("initialize", [True, False])
def test_information_numbers(initialize):
    bn = ng.BatchNormalizationLayer(Input=(16, 8, 8))
    if initialize:
        bn = ng.NetInitialize(bn)
    assert ng.Information(bn, "ArraysCount") == 4
    assert ng.Information(bn, "ArraysTotalElementCount") == 64
    assert ng.Information(bn, "ArraysTotalSize") == 256
    assert ng.Information(bn, "ArraysElementCounts") == {(n,): 16 for n in ARRAY_NAMES}


def test_built_from_arrays_alone():
    bn = ng.BatchNormalizationLayer(
        Biases=[1, 2, 3], Scaling=[0, 0, 0], MovingMean=[0, 0, 0], MovingVariance=[1, 1, 1]
    )
    assert ng.Information(bn, "InputPorts") == {"Input": (3, ...)}
    one = bn(np.array([5.0, 6.0, 7.0]))
    np.testing.assert_array_equal(one, [1.0, 2.0, 3.0])
    batch = bn(np.ones((4, 3)))
    np.testing.assert_array_equal(batch, np.tile([1.0, 2.0, 3.0], (4, 1)))


def test_built_from_arrays_alone_treats_higher_rank_as_batch():
    bn = ng.BatchNormalizationLayer(
        Scaling=[0.5, 2.0, -1.5],
        Biases=[1.0, -2.0, 0.25],
        MovingMean=[0.3, -1.0, 2.0],
        MovingVariance=[0.5, 4.0, 1.5],
    )
    x = np.random.default_rng(13).standard_normal((2, 3, 5))  # two (3, 5) examples
    expected = reference_bn(
        x, 1, [0.5, 2.0, -1.5], [1.0, -2.0, 0.25], [0.3, -1.0, 2.0], [0.5, 4.0, 1.5]
    )
    np.testing.assert_allclose(bn(x), expected, rtol=1e-5, atol=1e-6)


def test_output_option_fixes_input():
    bn = ng.BatchNormalizationLayer(Output=(3, 4))
    assert ng.Information(bn, "InputPorts") == {"Input": (3, 4)}
    assert ng.Information(bn, "ArraysDimensions")[("Scaling",)] == (3,)


def test_numeric_array_in_numeric_array_out():
    bn = bn_with((3,))
    x = np.random.default_rng(14).standard_normal((2, 3))
    y = bn(ng.NumericArray(x, "Real32"))
    assert isinstance(y, ng.NumericArray) and y.type == "Real32"
    np.testing.assert_array_equal(y.normal(), bn(x.astype(np.float32)))
    y64 = bn(ng.NumericArray(x, "Real64"), WorkingPrecision="Real64")
    assert isinstance(y64, ng.NumericArray) and y64.type == "Real64"


@pytest.mark.parametrize("batch_size", [1, 2, 3, 7, 100])
def test_batch_size_chunking_in_test_mode(batch_size):
    bn = bn_with((3, 2))
    x = np.random.default_rng(15).standard_normal((7, 3, 2))
    np.testing.assert_allclose(bn(x, BatchSize=batch_size), bn(x), rtol=1e-7, atol=1e-7)
    g = bn(x, ng.NetPortGradient("Scaling"), BatchSize=batch_size)
    np.testing.assert_allclose(g, bn(x, ng.NetPortGradient("Scaling")), rtol=1e-5)


# ----------------------------------------------------------------------------- gradients


def test_array_gradients_are_summed_over_the_batch():
    rng = np.random.default_rng(16)
    bn = bn_with((3, 2))
    x, g = rng.standard_normal((4, 3, 2)), rng.standard_normal((4, 3, 2))
    feed = {"Input": x, ng.NetPortGradient("Output"): g}
    opts = {"WorkingPrecision": "Real64"}
    x_hat = (x - np.reshape([0.3, -1.0, 2.0], (3, 1))) / np.sqrt(
        np.reshape([0.5, 4.0, 1.5], (3, 1)) + EPS
    )
    d_biases = bn(feed, ng.NetPortGradient("Biases"), **opts)
    d_scaling = bn(feed, ng.NetPortGradient("Scaling"), **opts)
    np.testing.assert_allclose(d_biases, g.sum(axis=(0, 2)), rtol=1e-6)
    np.testing.assert_allclose(d_scaling, (g * x_hat).sum(axis=(0, 2)), rtol=1e-6)
    per_example = sum(
        bn(
            {"Input": x[i], ng.NetPortGradient("Output"): g[i]},
            ng.NetPortGradient("Scaling"),
            **opts,
        )
        for i in range(4)
    )
    np.testing.assert_allclose(d_scaling, per_example, rtol=1e-6)


def test_input_gradient_of_plain_sum_in_test_mode():
    bn = bn_with((3,))
    g = bn(np.zeros((2, 3)), ng.NetPortGradient("Input"))
    per_channel = np.array([0.5, 2.0, -1.5]) / np.sqrt(np.array([0.5, 4.0, 1.5]) + EPS)
    np.testing.assert_allclose(g, np.tile(per_channel, (2, 1)), rtol=1e-6)


@pytest.mark.parametrize("name", ["MovingMean", "MovingVariance"])
def test_gradient_of_a_moving_array_raises(name):
    with pytest.raises(ng.NetError, match=name):
        bn_with((3,))(np.ones((2, 3)), ng.NetPortGradient(name))


def test_gradient_all_has_input_and_learned_arrays_only():
    g = bn_with((3,))(np.ones((2, 3)), ng.NetPortGradient(ng.All))
    assert set(g) == {"Input", ("Scaling",), ("Biases",)}
    assert g["Input"].shape == (2, 3) and g[("Scaling",)].shape == (3,)


# ----------------------------------------------------------------------------- check_layer


def test_check_layer_channels_first_rank3(tmp_path):
    layer = ng.BatchNormalizationLayer(Input=(3, 4, 5), Epsilon=0.01, Momentum=0.8)
    check_layer(
        layer,
        (3, 4, 5),
        output_shape=(3, 4, 5),
        array_shapes={name: (3,) for name in ARRAY_NAMES},
        options={"Epsilon": 0.01, "Momentum": 0.8, "Interleaving": False},
        tmp_path=tmp_path,
    )


def test_check_layer_interleaved(tmp_path):
    layer = ng.BatchNormalizationLayer(Input=(4, 5, 3), Interleaving=True)
    check_layer(
        layer,
        (4, 5, 3),
        output_shape=(4, 5, 3),
        array_shapes={name: (3,) for name in ARRAY_NAMES},
        options={"Interleaving": True},
        tmp_path=tmp_path,
    )
