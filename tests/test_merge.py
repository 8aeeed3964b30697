"""CatenateLayer, TotalLayer, ThreadingLayer: variadic ports, graphs, references written here."""

import operator

import numpy as np
import pytest
from layer_check import check_gradients

import netgraph as ng


def ports(net):
    return {**ng.Information(net, "InputPorts"), **ng.Information(net, "OutputPorts")}


def feed(*arrays):
    return {f"Input{i + 1}": a for i, a in enumerate(arrays)}


# ------------------------------------------------------------------------- Catenate


def test_catenate_ports_and_values():
    cat = ng.CatenateLayer()
    assert [p.name for p in cat.input_ports] == ["Input1", "Input2"]
    y = cat(feed(np.array([1.0, 2.0]), np.array([3.0])))
    np.testing.assert_array_equal(y, [1.0, 2.0, 3.0])
    three = ng.CatenateLayer(InputPorts=3, Input1=(2, 5), Output=(6, 5))
    assert ports(three) == {
        "Input1": (2, 5),
        "Input2": (None, 5),
        "Input3": (None, 5),
        "Output": (6, 5),
    }
    assert ng.Options(ng.CatenateLayer)["InputPorts"] == 2


@pytest.mark.parametrize("level, axis", [(1, 1), (2, 2), (-1, 2), (-2, 1)])
def test_catenate_matches_numpy(level, axis):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 2, 4)), rng.standard_normal((3, 2, 4))
    cat = ng.CatenateLayer(level)
    got = cat(feed(a, b), WorkingPrecision="Real64")
    want = np.array([np.concatenate([a[n], b[n]], axis=axis - 1) for n in range(3)])
    np.testing.assert_array_equal(got, want)


def test_catenate_gradients():
    rng = np.random.default_rng(1)
    cat = ng.CatenateLayer(InputPorts=3, Input1=(2, 3), Input2=(1, 3), Input3=(4, 3))
    data = feed(*(rng.standard_normal((2, k, 3)) for k in (2, 1, 4)))
    grads = check_gradients(cat, data)
    assert grads["Input2"].shape == (2, 1, 3)


def test_catenate_infers_a_missing_size_from_output():
    cat = ng.CatenateLayer(Input1=3, Input2=(None,), Output=7)
    assert ports(cat)["Input2"] == (4,)
    with pytest.raises(ng.NetShapeError, match="too small"):
        ng.CatenateLayer(Input1=7, Input2=(None,), Output=7)
    with pytest.raises(ng.NetShapeError):
        ng.CatenateLayer(Input1=(2, 3), Input2=(2, 4))  # the non-joined dims differ
    with pytest.raises(ng.NetShapeError):
        ng.CatenateLayer(Input1=3, Input2=4, Output=8)


def test_api_graph_with_catenate():
    graph = ng.NetGraph(
        {
            "a": ng.LinearLayer(8),
            "b": ng.LinearLayer(8),
            "cat": ng.CatenateLayer(),
            "out": ng.LinearLayer(2),
        },
        [
            (ng.NetPort("Input"), "a"),
            (ng.NetPort("Input"), "b"),
            (["a", "b"], "cat", "out", ng.NetPort("Output")),
        ],
        Input=4,
    )
    assert ports(graph) == {"Input": (4,), "Output": (2,)}
    assert ng.Information(graph, "ArraysDimensions")[("out", "Weights")] == (2, 16)
    net = ng.NetInitialize(graph)
    x = np.random.default_rng(2).standard_normal((5, 4))

    def affine(key, v):
        return v @ ng.NetExtract(net, (key, "Weights")).T + ng.NetExtract(net, (key, "Biases"))

    want = affine("out", np.concatenate([affine("a", x), affine("b", x)], axis=1))
    np.testing.assert_allclose(net(x), want, rtol=1e-5, atol=1e-6)
    check_gradients(net, x.astype(np.float64))


def test_graph_infers_backwards_through_catenate():
    graph = ng.NetGraph(
        {
            "a": ng.LinearLayer(),
            "b": ng.LinearLayer(3),
            "cat": ng.CatenateLayer(),
            "out": ng.LinearLayer(2, Weights=np.zeros((2, 11)), Input=(None,)),
        },
        [(ng.NetPort("Input"), "a"), (ng.NetPort("Input"), "b"), (["a", "b"], "cat", "out")],
        Input=4,
    )
    assert ng.Information(graph, "ArraysDimensions")[("a", "Weights")] == (8, 4)


def test_three_sources_make_three_ports():
    graph = ng.NetGraph(
        {"t": "Tanh", "r": "Ramp", "s": "Sin", "cat": ng.CatenateLayer()},
        [
            (ng.NetPort("Input"), "t"),
            (ng.NetPort("Input"), "r"),
            (ng.NetPort("Input"), "s"),
            (["t", "r", "s"], "cat"),
        ],
        Input=(2, 3),
    )
    assert ng.NetExtract(graph, ("cat", "InputPorts")) == 3
    assert ports(graph)["Output"] == (6, 3)
    x = np.random.default_rng(3).standard_normal((2, 3))
    want = np.concatenate([np.tanh(x), np.maximum(x, 0), np.sin(x)])
    np.testing.assert_allclose(graph(x), want, rtol=1e-6)


# ------------------------------------------------------------------------- Total


def test_total():
    rng = np.random.default_rng(4)
    xs = [rng.standard_normal((3, 2, 2)) for _ in range(3)]
    total = ng.TotalLayer(InputPorts=3)
    np.testing.assert_allclose(total(feed(*xs), WorkingPrecision="Real64"), xs[0] + xs[1] + xs[2])
    grads = check_gradients(total, feed(*xs))
    np.testing.assert_array_equal(grads["Input1"], grads["Input3"])
    ones = total(feed(*xs), ng.NetPortGradient("Input2"))
    np.testing.assert_array_equal(ones, np.ones((3, 2, 2)))
    assert ports(ng.TotalLayer(Input1=(2, 3)))["Output"] == (2, 3)
    assert ports(ng.TotalLayer(Output=4))["Input2"] == (4,)
    with pytest.raises(ng.NetShapeError):
        ng.TotalLayer(Input1=3, Input2=4)


def test_total_of_a_residual_block():
    graph = ng.NetGraph(
        {"lin": ng.LinearLayer(3), "add": ng.TotalLayer()},
        [(ng.NetPort("Input"), "lin"), (["lin", ng.NetPort("Input")], "add")],
        Input=3,
    )
    net = ng.NetInitialize(graph)
    x = np.array([1.0, -2.0, 0.5])
    w = ng.NetExtract(net, ("lin", "Weights"))
    np.testing.assert_allclose(net(x), w @ x + x, rtol=1e-6)


# ------------------------------------------------------------------------- Threading

REFERENCES = {
    "Plus": lambda *xs: sum(xs),
    "Times": lambda *xs: np.prod(xs, axis=0),
    "Max": lambda *xs: np.max(xs, axis=0),
    "Min": lambda *xs: np.min(xs, axis=0),
    "Subtract": lambda a, b: a - b,
    "Divide": lambda a, b: a / b,
    "Power": lambda a, b: a**b,
}


def thread_inputs(name, n, seed=5):
    rng = np.random.default_rng(seed)
    if name in ("Divide", "Power"):  # positive bases and divisors, away from 0
        return [rng.uniform(0.5, 2.0, (3, 4)) for _ in range(n)]
    return [rng.standard_normal((3, 4)) for _ in range(n)]  # ties have probability 0


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_threading_values_and_gradients(name):
    n = 2 if name in ("Subtract", "Divide", "Power") else 3
    xs = thread_inputs(name, n)
    layer = ng.ThreadingLayer(name, InputPorts=n, Input1=4)
    got = layer(feed(*xs), WorkingPrecision="Real64")
    np.testing.assert_allclose(got, REFERENCES[name](*xs), rtol=1e-12)
    check_gradients(layer, feed(*xs))


def test_threading_gradients_by_hand():
    times = ng.ThreadingLayer("Times", InputPorts=3)
    data = feed(np.array([2.0]), np.array([0.0]), np.array([5.0]))
    grads = times(data, ng.NetPortGradient(ng.All))
    assert [float(grads[p][0]) for p in ("Input1", "Input2", "Input3")] == [0.0, 10.0, 0.0]
    pick = ng.ThreadingLayer("Max")(
        feed(np.array([1.0, 3.0]), np.array([1.0, 2.0])), ng.NetPortGradient(ng.All)
    )
    np.testing.assert_array_equal(pick["Input1"], [1.0, 1.0])  # a tie goes to the first
    np.testing.assert_array_equal(pick["Input2"], [0.0, 0.0])
    power = ng.ThreadingLayer("Power")(
        feed(np.array([0.0, 2.0]), np.array([2.0, 3.0])), ng.NetPortGradient("Input2")
    )
    np.testing.assert_allclose(power, [0.0, 8 * np.log(2)], rtol=1e-6)  # 0 where base <= 0


def test_threading_names_and_arity():
    assert ng.NetExtract(ng.ThreadingLayer(operator.add), "Function") == "Plus"
    assert ng.NetExtract(ng.ThreadingLayer(np.multiply), "Function") == "Times"
    assert ng.NetExtract(ng.ThreadingLayer(max), "Function") == "Max"
    assert ng.NetExtract(ng.ThreadingLayer("plus"), "Function") == "Plus"
    assert set(REFERENCES) == set(ng.ThreadingLayer.functions())
    with pytest.raises(ng.NetOptionError, match="exactly 2 inputs"):
        ng.ThreadingLayer("Subtract", InputPorts=3)
    with pytest.raises(ng.NetError, match="exactly 2 inputs"):
        ng.NetGraph(
            {"t": "Tanh", "sub": ng.ThreadingLayer("Subtract")},
            [(ng.NetPort("Input"), "t"), (["t", "t", ng.NetPort("Input")], "sub")],
        )
    with pytest.raises(ng.NetOptionError, match='did you mean "Times"'):
        ng.ThreadingLayer("Timse")


def test_threading_callable_is_evaluation_only():
    layer = ng.ThreadingLayer(lambda a, b: a * b + 1)
    a, b = np.array([2.0, 3.0]), np.array([4.0, -1.0])
    np.testing.assert_array_equal(layer(feed(a, b)), [9.0, -2.0])
    per_element = ng.ThreadingLayer(lambda a, b: max(a, b) - min(a, b))
    np.testing.assert_array_equal(per_element(feed(a, b)), [2.0, 4.0])
    with pytest.raises(ng.NetError, match="derivative"):
        layer(feed(a, b), ng.NetPortGradient("Input1"))
