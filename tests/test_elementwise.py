"""ElementwiseLayer: every named function against the math module, element by element.

`REFERENCE` holds an independent scalar formula per name (math module, constants typed from
the literature); derivatives are checked against central differences of those formulas.
"""

import math

import numpy as np
import pytest
from layer_check import check_gradients, check_layer

import netgraph as ng
from netgraph.layers.elementwise import erfc

SELU_LAMBDA = 1.0507009873554804934193349852946  # Klambauer et al. 2017
SELU_ALPHA = 1.6732632423543772848170429916717


def _sigmoid(v):
    return 1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v))


def _softplus(v):
    return max(v, 0.0) + math.log1p(math.exp(-abs(v)))


REFERENCE = {
    "Ramp": lambda v: max(v, 0.0),
    "Tanh": math.tanh,
    "LogisticSigmoid": _sigmoid,
    "Sin": math.sin,
    "Cos": math.cos,
    "Exp": math.exp,
    "Log": math.log,
    "Sqrt": math.sqrt,
    "Abs": abs,
    "Square": lambda v: v * v,
    "SoftPlus": _softplus,
    "ELU": lambda v: v if v > 0 else math.exp(v) - 1,
    "SELU": lambda v: SELU_LAMBDA * (v if v > 0 else SELU_ALPHA * (math.exp(v) - 1)),
    "GELU": lambda v: 0.5 * v * (1 + math.erf(v / math.sqrt(2))),
    "Swish": lambda v: v * _sigmoid(v),
    "HardTanh": lambda v: min(max(v, -1.0), 1.0),
    "HardSigmoid": lambda v: min(max((v + 1) / 2, 0.0), 1.0),
    "HardSwish": lambda v: v * min(max(v + 3, 0.0), 6.0) / 6,
    "Mish": lambda v: v * math.tanh(_softplus(v)),
    "SoftSign": lambda v: v / (1 + abs(v)),
    "Erf": math.erf,
}
REQUIRED = [
    "Ramp",
    "Tanh",
    "LogisticSigmoid",
    "Sin",
    "Cos",
    "Exp",
    "Log",
    "Sqrt",
    "Abs",
    "Square",
    "SoftPlus",
    "ELU",
    "SELU",
    "GELU",
    "Swish",
    "HardTanh",
    "HardSigmoid",
]
ALIASES = {
    "ReLU": "Ramp",
    "RectifiedLinearUnit": "Ramp",
    "Sigmoid": "LogisticSigmoid",
    "ExponentialLinearUnit": "ELU",
    "ScaledExponentialLinearUnit": "SELU",
    "GaussianErrorLinearUnit": "GELU",
}
POSITIVE_ONLY = {"Log", "Sqrt"}
# Away from every kink (0, +-1, +-3), in the interesting range of each function.
POINTS = np.array([-4.2, -2.5, -1.3, -0.7, -0.1, 0.3, 0.8, 1.2, 2.7, 3.4])


def points_for(name):
    return np.abs(POINTS) + 0.05 if name in POSITIVE_ONLY else POINTS


def test_every_required_name_and_alias_is_listed():
    names = ng.ElementwiseLayer.functions()
    for name in [*REQUIRED, *ALIASES]:
        assert name in names
    assert set(REFERENCE) <= set(names)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_values_against_math(name):
    x = points_for(name)
    want = np.array([REFERENCE[name](float(v)) for v in x])
    layer = ng.ElementwiseLayer(name)
    np.testing.assert_allclose(layer(x, WorkingPrecision="Real64"), want, rtol=1e-13, atol=1e-15)
    y32 = layer(x)
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, want, rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_derivative_against_finite_differences_of_math(name):
    x = points_for(name)
    h = 1e-6
    f = REFERENCE[name]
    want = np.array([(f(float(v) + h) - f(float(v) - h)) / (2 * h) for v in x])
    got = ng.ElementwiseLayer(name)(x, ng.NetPortGradient("Input"), WorkingPrecision="Real64")
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("alias, name", sorted(ALIASES.items()))
def test_aliases(alias, name):
    x = POINTS
    layer = ng.ElementwiseLayer(alias)
    assert layer.function_name == name
    assert ng.NetExtract(layer, "Function") == alias
    np.testing.assert_array_equal(layer(x), ng.ElementwiseLayer(name)(x))


@pytest.mark.parametrize("name", ["Ramp", "Tanh", "GELU", "SELU", "HardSigmoid", "Mish"])
def test_check_layer(name):
    check_layer(ng.ElementwiseLayer(name, Input=(2, 3)), (2, 3), output_shape=(2, 3))


def test_check_layer_scalar_input():
    check_layer(ng.ElementwiseLayer("Sin", Input="Real"), (), output_shape=())


@pytest.mark.parametrize("name", ["Log", "Sqrt"])
def test_gradients_on_their_domain(name):
    x = np.random.default_rng(0).uniform(0.5, 3.0, (3, 4))
    check_gradients(ng.ElementwiseLayer(name, Input=4), x)


def test_log_of_zero_is_an_error_not_inf():
    with pytest.raises(ng.NetError, match="Output"):
        ng.ElementwiseLayer("Log")(np.array([0.0, 1.0]))


def test_kinks_take_derivative_zero():
    x = np.array([0.0, -1.0, 1.0])
    grad = ng.ElementwiseLayer("Ramp")(x, ng.NetPortGradient("Input"))
    np.testing.assert_array_equal(grad, [0.0, 0.0, 1.0])
    grad = ng.ElementwiseLayer("Abs")(x, ng.NetPortGradient("Input"))
    np.testing.assert_array_equal(grad, [0.0, -1.0, 1.0])
    grad = ng.ElementwiseLayer("HardTanh")(x, ng.NetPortGradient("Input"))
    np.testing.assert_array_equal(grad, [1.0, 0.0, 0.0])


@pytest.mark.parametrize("precision", ["Real32", "Real64"])
def test_extreme_inputs_stay_finite(precision):
    x = np.array([-1000.0, -40.0, 40.0, 1000.0])
    opts = {"WorkingPrecision": precision}
    sig = ng.ElementwiseLayer("LogisticSigmoid")(x, **opts)
    np.testing.assert_allclose(sig, [0.0, math.exp(-40), 1.0, 1.0], rtol=1e-6)
    np.testing.assert_allclose(
        ng.ElementwiseLayer("SoftPlus")(x, **opts), [0, 0, 40, 1000], atol=1e-15
    )
    np.testing.assert_allclose(ng.ElementwiseLayer("ELU")(x, **opts), [-1, -1, 40, 1000])
    np.testing.assert_allclose(ng.ElementwiseLayer("GELU")(x, **opts), [0, 0, 40, 1000], atol=1e-15)
    for name in ["Swish", "Mish", "SELU", "GELU", "LogisticSigmoid", "SoftPlus"]:
        grad = ng.ElementwiseLayer(name)(x, ng.NetPortGradient("Input"), **opts)
        assert np.all(np.isfinite(grad)), name


def test_gelu_left_tail_has_relative_accuracy():
    # x*Phi(x) at x = -10 is about -7.6e-23: computed from erfc, not 1 + erf(x/sqrt 2).
    x = np.array([-10.0, -20.0])
    want = [0.5 * v * math.erfc(-v / math.sqrt(2)) for v in x]
    got = ng.ElementwiseLayer("GELU")(x, WorkingPrecision="Real64")
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_erfc_against_math():
    x = np.concatenate([np.linspace(-6, 6, 1201), np.linspace(6, 26, 201)])
    want = np.array([math.erfc(v) for v in x])
    np.testing.assert_allclose(erfc(x), want, rtol=2e-13)
    x32 = np.linspace(-4, 4, 801).astype(np.float32)
    want32 = np.array([math.erfc(float(v)) for v in x32])
    got32 = erfc(x32)
    assert got32.dtype == np.float32
    np.testing.assert_allclose(got32, want32, rtol=2e-6)
    big = np.linspace(-5, 5, 100_000)  # several blocks
    np.testing.assert_allclose(erfc(big.reshape(10, -1)).ravel(), erfc(big), rtol=0, atol=0)


# ------------------------------------------------------------------------- Python callables


def test_callable_vectorised_and_per_element():
    x = np.array([-2.0, 0.5, 3.0])
    np.testing.assert_allclose(ng.ElementwiseLayer(lambda v: v**3 + 1)(x), x**3 + 1, rtol=1e-6)
    per_element = ng.ElementwiseLayer(lambda v: max(v, 0.25))  # fails on arrays
    np.testing.assert_array_equal(per_element(x), [0.25, 0.5, 3.0])
    atan = ng.ElementwiseLayer(math.atan)  # math functions take one number
    np.testing.assert_allclose(atan(x), [math.atan(v) for v in x], rtol=1e-6)
    assert atan(x.astype(np.float32), WorkingPrecision="Real64").dtype == np.float64


def test_callable_cannot_be_differentiated():
    layer = ng.ElementwiseLayer(lambda v: v * 2, Input=2)
    with pytest.raises(ng.NetError, match="derivative .* unknown"):
        layer(np.ones(2), ng.NetPortGradient("Input"))
    chain = ng.NetInitialize(ng.NetChain([ng.LinearLayer(2), lambda v: v * 2], Input=2))
    assert chain(np.ones(2)).shape == (2,)
    with pytest.raises(ng.NetError, match="named function"):
        chain(np.ones(2), ng.NetPortGradient(ng.All))


def test_callable_that_fails_is_a_net_error():
    with pytest.raises(ng.NetError, match="failed on the input"):
        ng.ElementwiseLayer(lambda v: "text" + v)(np.ones(2))


def test_numpy_functions_become_names():
    assert ng.ElementwiseLayer(np.tanh).function_name == "Tanh"
    assert ng.ElementwiseLayer(math.exp).function_name == "Exp"
    grad = ng.ElementwiseLayer(np.sin)(np.array([0.0]), ng.NetPortGradient("Input"))
    np.testing.assert_allclose(grad, [1.0])


# ------------------------------------------------------------------------- options, shorthand


def test_names_and_errors():
    assert ng.ElementwiseLayer("relu").function_name == "Ramp"
    assert ng.NetExtract(ng.ElementwiseLayer("tanh"), "Function") == "Tanh"
    with pytest.raises(ng.NetOptionError, match='did you mean "Ramp"'):
        ng.ElementwiseLayer("Rampp")
    with pytest.raises(ng.NetOptionError, match="Function"):
        ng.ElementwiseLayer(3)
    with pytest.raises(ng.NetOptionError, match="Function"):
        ng.ElementwiseLayer()


def test_bare_names_in_containers():
    chain = ng.NetChain([ng.LinearLayer(3), "Ramp", "Tanh"], Input=2)
    assert [type(ng.NetExtract(chain, i)).__name__ for i in range(3)] == [
        "LinearLayer",
        "ElementwiseLayer",
        "ElementwiseLayer",
    ]
    assert ng.NetExtract(chain, (1, "Function")) == "Ramp"
    assert ng.Information(chain, "OutputPorts") == {"Output": (3,)}
    graph = ng.NetGraph({"act": "GELU"}, [], Input=(2, 2))
    assert ng.Information(graph, "OutputPorts") == {"Output": (2, 2)}


def test_callable_cannot_be_trained():
    net = ng.NetChain([ng.LinearLayer(2), lambda v: v * 2], Input=3)
    data = (np.ones((4, 3)), np.ones((4, 2)))
    with pytest.raises(ng.NetError, match="derivative .* unknown"):
        ng.NetTrain(net, data, MaxTrainingRounds=1, BatchSize=2, TrainingProgressReporting=None)


@pytest.mark.parametrize("name", ["Ramp", "Tanh", "LogisticSigmoid", "Exp", "Sqrt"])
def test_output_only_derivatives_do_not_keep_the_input(name):
    """These derivatives are functions of y alone, so the backward cache holds no input."""
    from netgraph.layer import Context

    layer = ng.ElementwiseLayer(name, Input=3)
    x = np.array([[0.5, 1.0, 2.0]], np.float32)
    outputs, cache, _ = layer.forward({}, {"Input": x}, Context(need_grad=True))
    assert not any(part is x for part in cache)
    d_x = layer.backward({}, cache, {"Output": np.ones_like(x)}, Context())[0]["Input"]
    h = 1e-3
    finite = (
        layer(x.astype(np.float64) + h, WorkingPrecision="Real64")
        - layer(x.astype(np.float64) - h, WorkingPrecision="Real64")
    ) / (2 * h)
    np.testing.assert_allclose(d_x, finite, rtol=1e-3)
