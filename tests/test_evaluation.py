"""Evaluation: options, data forms, example/batch detection, forced gradients, errors.

`_Product` is a test-only two-port layer (y = Weights * Input1 * Input2) for the multi-port
data forms; BatchNormalizationLayer serves the single-port cases.
"""

import numpy as np
import pytest
from layer_check import check_gradients

import netgraph as ng
from netgraph.layer import ArraySpec, Layer, Port


class _Product(Layer):
    """y = Weights * Input1 * Input2, elementwise; Weights has the shape of one example."""

    input_ports = (Port("Input1"), Port("Input2"))
    array_specs = (ArraySpec("Weights", "learned", "ones"),)

    def infer(self, store) -> None:
        store.same("Input1", "Input2")
        store.same("Input1", "Output")
        store.same("Input1", "Weights")

    def forward(self, arrays, inputs, ctx):
        x1, x2 = inputs["Input1"], inputs["Input2"]
        return {"Output": arrays["Weights"] * x1 * x2}, (x1, x2), None

    def backward(self, arrays, cache, d_outputs, ctx):
        # d_x1 = dy*W*x2, d_x2 = dy*W*x1, d_W = sum over the batch of dy*x1*x2
        x1, x2 = cache
        dy = d_outputs["Output"]
        w = arrays["Weights"]
        return {"Input1": dy * w * x2, "Input2": dy * w * x1}, {"Weights": (dy * x1 * x2).sum(0)}


@pytest.fixture
def bn():
    return ng.BatchNormalizationLayer(
        Scaling=[2.0, 1.0, 0.5],
        Biases=[0.0, 1.0, 2.0],
        MovingMean=[1.0, 0.0, -1.0],
        MovingVariance=[0.75, 0.75, 0.75],
        Epsilon=0.25,
        Input=3,
    )


def expected_bn(x):
    """The bn fixture's Test-mode output: scaling*(x - mean)/1 + biases (var + eps = 1,
    exactly in float32)."""
    return np.array([2.0, 1.0, 0.5]) * (np.asarray(x) - [1.0, 0.0, -1.0]) + [0.0, 1.0, 2.0]


def product(shape=(2, 3), weights=None):
    w = np.full(shape, 2.0) if weights is None else weights
    return _Product(Input1=shape, Weights=w)


# ------------------------------------------------------------------------------- options


def test_bad_evaluation_mode_message(bn):
    with pytest.raises(
        ng.NetOptionError, match='NetEvaluationMode should be set to either "Test" or "Train"'
    ):
        bn(np.ones(3), NetEvaluationMode="Training")


@pytest.mark.parametrize("bad", ["Real16", "Real128", 64, None, "real64"])
def test_bad_working_precision(bn, bad):
    with pytest.raises(ng.NetOptionError, match="WorkingPrecision"):
        bn(np.ones(3), WorkingPrecision=bad)


@pytest.mark.parametrize("device", ["GPU", ("GPU", 0), "TPU"])
def test_target_device_other_than_cpu(bn, device):
    with pytest.raises(ng.NetOptionError, match="TargetDevice"):
        bn(np.ones(3), TargetDevice=device)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_bad_batch_size(bn, bad):
    with pytest.raises(ng.NetOptionError, match="BatchSize"):
        bn(np.ones((4, 3)), BatchSize=bad)


@pytest.mark.parametrize(
    "name, suggestion",
    [
        ("BatchSise", "BatchSize"),
        ("NetEvaluationMod", "NetEvaluationMode"),
        ("WorkingPrecission", "WorkingPrecision"),
    ],
)
def test_unknown_option_did_you_mean(bn, name, suggestion):
    with pytest.raises(ng.NetOptionError, match=f'Did you mean "{suggestion}"'):
        bn(np.ones(3), **{name: 1})


def test_snake_case_and_valid_options(bn):
    x = np.ones((4, 3))
    y = bn(
        x,
        working_precision="Real64",
        batch_size=2,
        net_evaluation_mode="Test",
        target_device="CPU",
        random_seeding=3,
    )
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, expected_bn(x), rtol=1e-12)


def test_random_seeding_must_be_an_integer(bn):
    with pytest.raises(ng.NetOptionError, match="RandomSeeding"):
        bn(np.ones(3), RandomSeeding=1.5)


# ---------------------------------------------------------------------------- data forms


def test_one_example_batch_and_list(bn):
    x = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 4.0]])
    one = bn(x[0])
    assert one.shape == (3,) and one.dtype == np.float32
    np.testing.assert_allclose(one, expected_bn(x[0]), rtol=1e-6)
    batch = bn(x)
    assert batch.shape == (2, 3)
    np.testing.assert_allclose(batch, expected_bn(x), rtol=1e-6)
    for form in ([list(r) for r in x], list(x), tuple(x), [ng.NumericArray(r) for r in x]):
        np.testing.assert_array_equal(bn(form), batch)
    np.testing.assert_array_equal(bn({"Input": x}), batch)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.float16, np.float64, bool])
def test_numeric_dtypes_are_cast(bn, dtype):
    x = np.array([[1, 0, 1], [0, 1, 1]]).astype(dtype)
    y = bn(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, expected_bn(x.astype(np.float64)), rtol=1e-6)


def test_outputs_are_private_writable_arrays(bn):
    x = np.ones((2, 3))
    y = bn(x)
    y[...] = 123.0
    np.testing.assert_allclose(bn(x), expected_bn(x), rtol=1e-6)


def test_ragged_list_is_a_data_error(bn):
    with pytest.raises(ng.NetDataError, match="ragged"):
        bn([[1.0, 2.0, 3.0], [1.0, 2.0]])


@pytest.mark.parametrize(
    "data",
    [
        ["a", "b", "c"],
        np.array(["a", "b", "c"]),
        [1.0, None, 3.0],
        np.array([1, {}, 3], dtype=object),
        np.array([1j, 2, 3]),
    ],
)
def test_non_numeric_data_is_a_data_error_naming_the_port(bn, data):
    with pytest.raises(ng.NetDataError, match='"Input"'):
        bn(data)


@pytest.mark.parametrize("data", [np.ones((0, 3)), []])
def test_empty_data_is_a_data_error(bn, data):
    with pytest.raises(ng.NetDataError, match="empty"):
        bn(data)


def test_wrong_rank_names_the_port_and_both_ranks():
    bn = ng.NetInitialize(ng.BatchNormalizationLayer(Input=(3, 4, 4)))
    with pytest.raises(ng.NetShapeError, match=r'"Input".*rank 3.*rank 2') as info:
        bn(np.ones((3, 4)))
    assert "channel" in str(info.value)  # the hint for a missing channel axis
    with pytest.raises(ng.NetShapeError, match=r'"Input".*rank 5'):
        bn(np.ones((2, 2, 3, 4, 4)))


def test_uninitialized_net_names_the_missing_arrays():
    partial = ng.BatchNormalizationLayer(Input=3, Scaling=[1.0, 1.0, 1.0])
    with pytest.raises(ng.NetNotInitializedError, match="NetInitialize") as info:
        partial(np.ones(3))
    message = str(info.value)
    for name in ("Biases", "MovingMean", "MovingVariance"):
        assert name in message
    assert "Scaling" not in message


# ------------------------------------------------------------------------ several ports


def test_two_port_layer_dict_data():
    net = product()
    x1 = np.arange(6.0).reshape(2, 3)
    x2 = np.full((2, 3), 0.5)
    np.testing.assert_allclose(net({"Input1": x1, "Input2": x2}), 2.0 * x1 * x2)
    batch = net({"Input1": np.stack([x1, x1]), "Input2": np.stack([x2, -x2])})
    np.testing.assert_allclose(batch, [2.0 * x1 * x2, -2.0 * x1 * x2])


def test_two_port_layer_data_errors():
    net = product()
    x = np.ones((2, 3))
    with pytest.raises(ng.NetDataError, match='"Input2"'):
        net({"Input1": x})
    with pytest.raises(ng.NetDataError, match='Did you mean "Input2"'):
        net({"Input1": x, "Inptu2": x})
    with pytest.raises(ng.NetDataError, match="dict"):
        net(x)
    with pytest.raises(ng.NetDataError, match="batch"):
        net({"Input1": x, "Input2": np.ones((4, 2, 3))})
    with pytest.raises(ng.NetDataError, match="different sizes"):
        net({"Input1": np.ones((4, 2, 3)), "Input2": np.ones((5, 2, 3))})


def test_two_port_layer_gradients_by_finite_differences():
    rng = np.random.default_rng(0)
    net = product(weights=rng.uniform(-1, 1, (2, 3)))
    data = {"Input1": rng.standard_normal((4, 2, 3)), "Input2": rng.standard_normal((4, 2, 3))}
    checked = check_gradients(net, data)
    assert set(checked) == {"Input1", "Input2", ("Weights",)}


def test_two_port_layer_gradient_all_keys():
    net = product()
    g = net({"Input1": np.ones((2, 3)), "Input2": np.ones((2, 3))}, ng.NetPortGradient(ng.All))
    assert set(g) == {"Input1", "Input2", ("Weights",)}
    np.testing.assert_allclose(g["Input1"], np.full((2, 3), 2.0))  # W * x2 with dy = 1


# ----------------------------------------------------------------------------- gradients


def test_forced_output_gradient(bn):
    x = np.ones((2, 3))
    g_out = np.array([[1.0, 2.0, 3.0], [-1.0, 0.0, 4.0]])
    g = bn({"Input": x, ng.NetPortGradient("Output"): g_out}, ng.NetPortGradient("Input"))
    np.testing.assert_allclose(g, g_out * [2.0, 1.0, 0.5], rtol=1e-6)


def test_forced_gradient_for_one_example(bn):
    g = bn(
        {"Input": np.ones(3), ng.NetPortGradient("Output"): np.array([1.0, 2.0, 3.0])},
        ng.NetPortGradient("Input"),
    )
    assert g.shape == (3,)
    np.testing.assert_allclose(g, [2.0, 2.0, 1.5], rtol=1e-6)


@pytest.mark.parametrize("shape", [(2, 2), (3, 3), (3,), (2, 3, 1)])
def test_forced_gradient_of_wrong_shape(bn, shape):
    with pytest.raises(ng.NetShapeError, match='"Output"'):
        bn(
            {"Input": np.ones((2, 3)), ng.NetPortGradient("Output"): np.ones(shape)},
            ng.NetPortGradient("Input"),
        )


def test_forced_gradient_errors(bn):
    x = np.ones((2, 3))
    with pytest.raises(ng.NetDataError, match='Did you mean "Output"'):
        bn({"Input": x, ng.NetPortGradient("Outptu"): x}, ng.NetPortGradient("Input"))
    with pytest.raises(ng.NetDataError, match="NaN"):
        bn(
            {"Input": x, ng.NetPortGradient("Output"): np.full((2, 3), np.nan)},
            ng.NetPortGradient("Input"),
        )


def test_gradient_request_errors(bn):
    x = np.ones((2, 3))
    with pytest.raises(ng.NetError, match="NetPortGradient"):
        bn(x, "Gradient")
    with pytest.raises(ng.NetError, match="one property"):
        bn(x, ng.NetPortGradient("Input"), ng.NetPortGradient("Biases"))
    with pytest.raises(ng.NetArrayError, match='Did you mean "Scaling"'):
        bn(x, ng.NetPortGradient("Scalling"))


def test_gradient_dtype_follows_working_precision(bn):
    x = np.ones((2, 3))
    assert bn(x, ng.NetPortGradient("Input")).dtype == np.float32
    assert bn(x, ng.NetPortGradient("Biases"), WorkingPrecision="Real64").dtype == np.float64
    g = bn(ng.NumericArray(x, "Real32"), ng.NetPortGradient("Input"))
    assert isinstance(g, ng.NumericArray) and g.type == "Real32"


# ----------------------------------------------------------------------------- modes


def test_train_mode_statistics_are_the_whole_input_whatever_the_batch_size(bn):
    # issue 12 item 8: BatchSize bounds memory and never changes a result, so in "Train" mode
    # a BatchNormalizationLayer sees the whole input (tests/test_error_provenance.py checks the
    # values against the formula)
    x = np.random.default_rng(1).standard_normal((4, 3))
    chunked = bn(x, NetEvaluationMode="Train", BatchSize=2)
    np.testing.assert_array_equal(chunked, bn(x, NetEvaluationMode="Train"))


def test_numeric_array_precision(bn):
    x = np.ones((2, 3))
    y = bn(ng.NumericArray(x, "Real64"))
    assert isinstance(y, ng.NumericArray) and y.type == "Real32"
    y = bn(ng.NumericArray(x, "Real32"), WorkingPrecision="Real64")
    assert y.type == "Real64"
    np.testing.assert_allclose(y.normal(), expected_bn(x), rtol=1e-12)


def test_overflowing_gradient_raises_instead_of_returning_inf():
    bn = ng.NetInitialize(ng.BatchNormalizationLayer(Input=2, Scaling=[10.0, 10.0]))
    x = np.ones((2, 2), np.float32)  # outputs are small; d_x = 10*G/sqrt(1.001) overflows
    huge = np.full((2, 2), 3e38, np.float32)
    with pytest.raises(ng.NetError, match="gradient"):
        bn({"Input": x, ng.NetPortGradient("Output"): huge}, ng.NetPortGradient("Input"))
