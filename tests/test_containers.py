"""NetChain and NetGraph: construction, every edge form, graph ports, evaluation and shape
inference (API.md "Containers" and "Precise rules"; wolfram-semantics.md §2).

Expected values are written out in numpy beside each test. Error cases already pinned by
test_faults.py (a cycle of three, a misspelt vertex or inner port, two producers on one port,
a conv feeding a vector input) are not repeated; the variants here are the other forms.
"""

from __future__ import annotations

import numpy as np
import pytest
from layer_check import check_gradients, raises

import netgraph as ng

F64 = np.float64
I = ng.Information  # noqa: E741


def rounded(rng: np.random.Generator, *shape: int) -> np.ndarray:
    """Random float64 values that float32 storage keeps exactly."""
    return rng.normal(size=shape).astype(np.float32).astype(F64)


def linear(rng: np.random.Generator, n: int, n_in: int) -> tuple[ng.LinearLayer, tuple]:
    """A LinearLayer with set arrays, and (W, b) to compute it by hand: x @ W.T + b."""
    w, b = rounded(rng, n, n_in), rounded(rng, n)
    return ng.LinearLayer(n, Weights=w, Biases=b), (w, b)


def ports(net: ng.Layer) -> tuple[dict, dict]:
    return I(net, "InputPorts"), I(net, "OutputPorts")


# --------------------------------------------------------------------------- NetChain


def test_chain_from_a_list_with_input_and_output_shapes():
    chain = ng.NetChain([ng.LinearLayer(4), "Ramp", ng.LinearLayer()], Input=3, Output=2)
    assert ports(chain) == ({"Input": (3,)}, {"Output": (2,)})
    assert list(I(chain, "Layers")) == [(0,), (1,), (2,)]
    # Output= sized the last LinearLayer, whose n was left Automatic
    assert I(chain, "ArraysDimensions") == {
        (0, "Weights"): (4, 3),
        (0, "Biases"): (4,),
        (2, "Weights"): (2, 4),
        (2, "Biases"): (2,),
    }


def test_chain_from_a_dict_of_named_layers_keeps_names_and_order():
    chain = ng.NetChain({"lin": ng.LinearLayer(4), "act": "Tanh", "out": 2}, Input=3)
    assert list(I(chain, "Layers")) == [("lin",), ("act",), ("out",)]
    assert isinstance(ng.NetExtract(chain, "act"), ng.ElementwiseLayer)
    assert ng.NetExtract(chain, ("out", "Input")) == (4,)
    assert ports(chain) == ({"Input": (3,)}, {"Output": (2,)})


@pytest.mark.parametrize(
    "entry, cls, check",
    [
        ("Tanh", ng.ElementwiseLayer, lambda layer: layer.Function == "Tanh"),
        (5, ng.LinearLayer, lambda layer: layer.output_shapes == {"Output": (5,)}),
        ([3, "Ramp"], ng.NetChain, lambda layer: I(layer, "LayersCount") == 2),
        ({"x": 3, "y": "Sin"}, ng.NetChain, lambda layer: list(layer._child_keys()) == ["x", "y"]),
    ],
    ids=["activation name", "int", "nested list", "nested dict"],
)
def test_shorthand_entries(entry, cls, check):
    chain = ng.NetChain([ng.LinearLayer(2), entry], Input=3)
    layer = ng.NetExtract(chain, 1)
    assert type(layer) is cls and check(layer)
    assert ng.NetExtract(chain, (1, "Input")) == (2,)


def test_shorthand_activation_computes_its_function():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 3))
    chain = ng.NetChain(["Tanh", "Ramp", [["Sin"]]], Input=3)
    np.testing.assert_allclose(chain(x), np.sin(np.maximum(np.tanh(x), 0)), rtol=1e-6)


@pytest.mark.parametrize("entry", [1.5, True, None, object()])
def test_an_entry_that_is_no_layer_is_a_graph_error(entry):
    raises(ng.NetGraphError, lambda: ng.NetChain([ng.LinearLayer(2), entry]), "expected a layer")


def test_an_unknown_activation_name_suggests_the_right_one():
    raises(ng.NetOptionError, lambda: ng.NetChain(["Tahn"]), "Tahn", "Tanh")


def test_inner_chain_layers_must_have_one_output():
    two_outputs = ng.NetGraph({"a": ng.LinearLayer(2), "b": ng.LinearLayer(3)}, [])
    raises(
        ng.NetGraphError,
        lambda: ng.NetChain({"split": two_outputs, "lin": ng.LinearLayer(2)}),
        "'split'",
        "2 outputs",
        "NetGraph",
    )
    # the last layer may have several: the chain exposes them all
    chain = ng.NetChain([ng.LinearLayer(4), two_outputs], Input=3)
    assert ports(chain) == ({"Input": (3,)}, {"Output1": (2,), "Output2": (3,)})


def test_a_first_layer_with_several_inputs_exposes_them():
    chain = ng.NetChain([ng.MeanSquaredLossLayer(), ng.ElementwiseLayer("Sqrt")], Input=3)
    assert ports(chain) == ({"Input": (3,), "Target": (3,)}, {"Output": ()})
    rng = np.random.default_rng(2)
    x, t = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    got = chain({"Input": x, "Target": t}, WorkingPrecision="Real64")
    np.testing.assert_allclose(got, np.sqrt(np.mean((x - t) ** 2, axis=1)), rtol=1e-12)


def test_an_empty_container_is_an_error():
    raises(ng.NetGraphError, lambda: ng.NetChain([]), "at least one layer")
    raises(ng.NetGraphError, lambda: ng.NetGraph({}, []), "at least one layer")


# ------------------------------------------------------------------------------ edges


def _three_layers(rng):
    first, (w1, b1) = linear(rng, 3, 4)
    last, (w2, b2) = linear(rng, 2, 3)

    def reference(x):
        return np.maximum(x @ w1.T + b1, 0) @ w2.T + b2

    return first, last, reference


@pytest.mark.parametrize(
    "build",
    [
        lambda f, l: ng.NetGraph({"a": f, "b": "Ramp", "c": l}, [("a", "b", "c")], Input=4),
        lambda f, l: ng.NetGraph({"a": f, "b": "Ramp", "c": l}, [("a", "b"), ("b", "c")], Input=4),
        lambda f, l: ng.NetGraph([f, "Ramp", l], [(0, 1, 2)], Input=4),
        lambda f, l: ng.NetGraph([f, "Ramp", l], [(-3, -2, -1)], Input=4),
        lambda f, l: ng.NetGraph({"a": f, "b": "Ramp", "c": l}, [(0, "b", -1)], Input=4),
        lambda f, l: ng.NetGraph(
            {"a": f, "b": "Ramp", "c": l},
            [(ng.NetPort("Input"), "a", "b", "c", ng.NetPort("Output"))],
            Input=4,
        ),
        lambda f, l: ng.NetGraph({"a": f, "b": "Ramp", "c": l}, {"a": "b", "b": "c"}, Input=4),
        lambda f, l: ng.NetGraph(
            [f, "Ramp", l],
            [(0, ng.NetPort(1, "Input")), (ng.NetPort(-2, "Output"), ng.NetPort(-1, "Input"))],
            Input=4,
        ),
    ],
    ids=[
        "path",
        "pairs",
        "positions",
        "negative",
        "mixed",
        "graph ports",
        "dict of edges",
        "inner ports by position",
    ],
)
def test_edge_forms_of_one_chain(build):
    rng = np.random.default_rng(3)
    first, last, reference = _three_layers(rng)
    graph = build(first, last)
    assert ports(graph) == ({"Input": (4,)}, {"Output": (2,)})
    x = rng.normal(size=(6, 4))
    np.testing.assert_allclose(graph(x, WorkingPrecision="Real64"), reference(x), rtol=1e-12)
    keys = list(graph._child_keys())
    edges = set(I(graph, "LayersGraph").edges)
    assert edges == {
        (ng.NetPort("Input"), keys[0]),
        (keys[0], keys[1]),
        (keys[1], keys[2]),
        (keys[2], ng.NetPort("Output")),
    }


def test_named_graph_ports_in_and_out():
    rng = np.random.default_rng(4)
    first, last, reference = _three_layers(rng)
    graph = ng.NetGraph(
        {"a": first, "b": "Ramp", "c": last},
        [(ng.NetPort("x"), "a", "b", "c", ng.NetPort("y"))],
        x=4,
    )
    assert ports(graph) == ({"x": (4,)}, {"y": (2,)})
    x = rng.normal(size=4)
    y = graph({"x": x}, WorkingPrecision="Real64")  # one output port: an array, not a dict
    np.testing.assert_allclose(y, reference(x), rtol=1e-12)


def test_inner_ports_as_destination_and_source():
    rng = np.random.default_rng(5)
    lin, (w, b) = linear(rng, 3, 2)
    graph = ng.NetGraph(
        {"a": lin, "loss": ng.MeanSquaredLossLayer()},
        [
            ("a", ng.NetPort("loss", "Input")),
            (ng.NetPort("t"), ng.NetPort("loss", "Target")),
            (ng.NetPort("loss", "Loss"), ng.NetPort("L")),
        ],
        Input=2,
    )
    assert I(graph, "InputPorts") == {"t": (3,), "Input": (2,)}
    assert I(graph, "OutputPorts") == {"L": ()}
    x, t = rng.normal(size=(4, 2)), rng.normal(size=(4, 3))
    got = graph({"Input": x, "t": t}, WorkingPrecision="Real64")
    np.testing.assert_allclose(got, np.mean((x @ w.T + b - t) ** 2, axis=1), rtol=1e-12)


def test_an_inner_output_port_picks_one_output_of_a_multi_output_layer():
    rng = np.random.default_rng(6)
    p, (wp, bp) = linear(rng, 2, 3)
    q, (wq, bq) = linear(rng, 4, 3)
    split = ng.NetGraph({"p": p, "q": q}, [])  # outputs Output1 (p) and Output2 (q)
    graph = ng.NetGraph(
        {"split": split, "act": "Tanh"}, [(ng.NetPort("split", "Output2"), "act")], Input=3
    )
    # split's unused Output1 dangles: a graph output under its own name, beside act's Output
    assert I(graph, "OutputPorts") == {"Output1": (2,), "Output": (4,)}
    x = rng.normal(size=3)
    out = graph(x, WorkingPrecision="Real64")
    np.testing.assert_allclose(out["Output"], np.tanh(x @ wq.T + bq), rtol=1e-12)
    np.testing.assert_allclose(out["Output1"], x @ wp.T + bp, rtol=1e-12)
    raises(
        ng.NetGraphError,
        lambda: ng.NetGraph({"split": split, "act": "Tanh"}, [("split", "act")]),
        "several outputs",
        "NetPort('split', port)",
    )


def _sources(rng, sizes):
    layers, params = {}, {}
    for key, n in zip("abc", sizes):
        layers[key], params[key] = linear(rng, n, 3)
    return layers, {k: (lambda x, w=w, b=b: x @ w.T + b) for k, (w, b) in params.items()}


@pytest.mark.parametrize(
    "layer, sizes, combine",
    [
        (ng.CatenateLayer(), (1, 2, 3), lambda c, a, b: np.concatenate([c, a, b], axis=-1)),
        (ng.TotalLayer(), (2, 2, 2), lambda c, a, b: c + a + b),
        (ng.ThreadingLayer(lambda x, y, z: x * y - z), (2, 2, 2), lambda c, a, b: c * a - b),
    ],
    ids=["CatenateLayer", "TotalLayer", "ThreadingLayer"],
)
def test_a_list_of_sources_feeds_input1_to_inputn_in_order(layer, sizes, combine):
    rng = np.random.default_rng(7)
    layers, f = _sources(rng, sizes)
    graph = ng.NetGraph({**layers, "v": layer}, [(["c", "a", "b"], "v")], Input=3)
    inner = ng.NetExtract(graph, "v")
    assert inner.input_shapes == {
        "Input1": (sizes[2],),
        "Input2": (sizes[0],),
        "Input3": (sizes[1],),
    }
    x = rng.normal(size=(5, 3))
    want = combine(f["c"](x), f["a"](x), f["b"](x))
    np.testing.assert_allclose(graph(x, WorkingPrecision="Real64"), want, rtol=1e-12)


def test_a_list_of_two_sources_into_a_loss_is_input_then_target():
    rng = np.random.default_rng(8)
    layers, f = _sources(rng, (2, 2))
    graph = ng.NetGraph({**layers, "loss": ng.MeanSquaredLossLayer()}, [(["b", "a"], "loss")])
    assert I(graph, "OutputPorts") == {"Loss": ()}
    x = rng.normal(size=(4, 3))
    want = np.mean((f["b"](x) - f["a"](x)) ** 2, axis=1)
    np.testing.assert_allclose(graph(x, WorkingPrecision="Real64"), want, rtol=1e-12)
    raises(
        ng.NetGraphError,
        lambda: ng.NetGraph(
            {**layers, "c": 2, "loss": ng.MeanSquaredLossLayer()}, [(["a", "b", "c"], "loss")]
        ),
        "'loss'",
        "takes 2 more input(s), got 3",
    )


def test_variadic_ports_fed_by_name():
    rng = np.random.default_rng(9)
    layers, f = _sources(rng, (1, 2))
    swapped = ng.NetGraph(
        {**layers, "cat": ng.CatenateLayer()},
        [("a", ng.NetPort("cat", "Input2")), ("b", ng.NetPort("cat", "Input1"))],
        Input=3,
    )
    x = rng.normal(size=3)
    want = np.concatenate([f["b"](x), f["a"](x)])
    np.testing.assert_allclose(swapped(x, WorkingPrecision="Real64"), want, rtol=1e-12)
    # the highest port fed decides the count; the ports below it become graph inputs
    third = ng.NetGraph(
        {"a": layers["a"], "cat": ng.CatenateLayer()}, [("a", ng.NetPort("cat", "Input3"))], Input=3
    )
    assert ng.NetExtract(third, ("cat", "Input3")) == (1,)
    assert I(third, "InputPorts") == {"Input": (3,), "Input1": (None,), "Input2": (None,)}
    out = third({"Input": x, "Input1": [10.0], "Input2": [20.0, 30.0]}, WorkingPrecision="Real64")
    np.testing.assert_allclose(out, np.concatenate([[10.0, 20.0, 30.0], f["a"](x)]), rtol=1e-12)
    raises(
        ng.NetGraphError,
        lambda: ng.NetGraph(
            {**layers, "cat": ng.CatenateLayer()}, [("a", ng.NetPort("cat", "Foo"))]
        ),
        "'Foo'",
        "Input1, Input2",
    )


def test_an_explicit_input_count_is_kept_and_its_free_ports_become_graph_inputs():
    rng = np.random.default_rng(10)
    layers, _ = _sources(rng, (1, 2))
    graph = ng.NetGraph(
        {**layers, "cat": ng.CatenateLayer(InputPorts=3)}, [(["a", "b"], "cat")], Input=3
    )
    assert I(graph, "InputPorts") == {"Input": (3,), "Input3": (None,)}
    assert len(ng.NetExtract(graph, "cat").input_ports) == 3


@pytest.mark.parametrize(
    "edge",
    [["a", "b"], ("a",), "ab", 3, ("a", ["b"])],
    ids=["a list", "one vertex", "a string", "an int", "a list as destination"],
)
def test_an_edge_that_is_not_a_path_of_vertices_is_an_error(edge):
    layers = {"a": ng.LinearLayer(2), "b": ng.LinearLayer(2)}
    raises(ng.NetGraphError, lambda: ng.NetGraph(layers, [edge]), repr(edge))


def test_an_unknown_vertex_lists_the_valid_names():
    layers = {"linear": ng.LinearLayer(2), "act": "Ramp"}
    raises(ng.NetGraphError, lambda: ng.NetGraph(layers, [("linear", "acts")]), "'acts'", '"act"')
    raises(
        ng.NetGraphError,
        lambda: ng.NetGraph(layers, [(ng.NetPort("lnear", "Output"), "act")]),
        "'lnear'",
        'Did you mean "linear"?',
    )
    raises(ng.NetGraphError, lambda: ng.NetGraph([2, "Ramp"], [(0, 2)]), "2", '"0", "1"')
    raises(ng.NetGraphError, lambda: ng.NetGraph([2, "Ramp"], [(-3, 1)]), "-3")
    raises(ng.NetGraphError, lambda: ng.NetChain([2], Inptu=3), "'Inptu'", 'Did you mean "Input"?')


@pytest.mark.parametrize(
    "layers, edges, cycle",
    [
        ({"a": ng.LinearLayer(2), "b": "Tanh"}, [("a", "b", "a")], "'a' -> 'b' -> 'a'"),
        ({"a": ng.LinearLayer(2), "b": "Tanh"}, [("b", "a"), ("a", "b")], "'a' -> 'b' -> 'a'"),
        ({"a": ng.LinearLayer(2)}, [("a", "a")], "'a' -> 'a'"),
        ([ng.LinearLayer(2), "Tanh", "Sin"], [(-1, 1, -1)], "1 -> 2 -> 1"),
        (
            {"a": ng.LinearLayer(2), "b": "Tanh"},
            [("a", ng.NetPort("b", "Input")), (ng.NetPort("b", "Output"), "a")],
            "'a' -> 'b' -> 'a'",
        ),
    ],
    ids=["path", "two edges", "self-loop", "by position", "inner ports"],
)
def test_a_cycle_is_reported_from_its_first_layer(layers, edges, cycle):
    raises(ng.NetGraphError, lambda: ng.NetGraph(layers, edges), "acyclic", f"cycle {cycle}.")


def test_a_port_fed_twice_names_both_producers():
    layers = {"a": ng.LinearLayer(2), "b": ng.LinearLayer(2)}
    raises(
        ng.NetGraphError,
        lambda: ng.NetGraph(layers, [(ng.NetPort("Input"), "b"), ("a", ng.NetPort("b", "Input"))]),
        "port 'Input' of layer 'b'",
        "NetPort('Input') and 'a'",
    )


def test_a_port_name_cannot_be_both_input_and_output():
    raises(
        ng.NetGraphError,
        lambda: ng.NetGraph(
            {"a": ng.LinearLayer(2)}, [(ng.NetPort("Input"), "a", ng.NetPort("Input"))]
        ),
        "'Input'",
        "both an input and an output",
    )


# ------------------------------------------------------------------------------ ports


def test_unconnected_inputs_share_one_graph_input_and_outputs_are_numbered():
    rng = np.random.default_rng(11)
    a, (wa, ba) = linear(rng, 2, 4)
    b, (wb, bb) = linear(rng, 3, 4)
    graph = ng.NetGraph({"a": a, "b": b}, [], Input=4)
    assert ports(graph) == ({"Input": (4,)}, {"Output1": (2,), "Output2": (3,)})
    x = rng.normal(size=(5, 4))
    out = graph(x, WorkingPrecision="Real64")
    assert set(out) == {"Output1", "Output2"}
    np.testing.assert_allclose(out["Output1"], x @ wa.T + ba, rtol=1e-12)
    np.testing.assert_allclose(out["Output2"], x @ wb.T + bb, rtol=1e-12)


def test_one_dangling_output_is_output_and_explicit_names_are_kept():
    chain_like = ng.NetGraph(
        {"a": ng.LinearLayer(2), "b": ng.LinearLayer(3)}, [("a", "b")], Input=4
    )
    assert I(chain_like, "OutputPorts") == {"Output": (3,)}
    named = ng.NetGraph(
        {"a": ng.LinearLayer(2), "b": ng.LinearLayer(3)},
        [("a", ng.NetPort("left")), ("b", ng.NetPort("right"))],
        Input=4,
    )
    assert I(named, "OutputPorts") == {"left": (2,), "right": (3,)}
    fan_out = ng.NetGraph({"a": 2, "b": "Tanh", "c": "Sin"}, [("a", "b"), ("a", "c")], Input=4)
    assert I(fan_out, "OutputPorts") == {"Output1": (2,), "Output2": (2,)}


def test_a_graph_input_can_feed_a_graph_output_directly():
    graph = ng.NetGraph(
        {"a": ng.ElementwiseLayer("Square")}, [(ng.NetPort("Input"), ng.NetPort("Copy"))], Input=2
    )
    out = graph(np.array([3.0, -2.0]))
    np.testing.assert_array_equal(out["Copy"], [3.0, -2.0])
    np.testing.assert_array_equal(out["Output"], [9.0, 4.0])


def test_unknown_dims_are_none():
    assert ports(ng.NetGraph({"a": ng.LinearLayer(3)}, [])) == ({"Input": None}, {"Output": (3,)})
    assert ports(ng.NetChain(["Ramp", "Tanh"])) == ({"Input": None}, {"Output": None})
    conv = ng.NetChain([ng.ConvolutionLayer(4, 3)], Input=(2, None, None))
    assert ports(conv) == ({"Input": (2, None, None)}, {"Output": (4, None, None)})
    assert ports(ng.NetChain(["Ramp", ng.BatchNormalizationLayer(Scaling=np.ones(5))])) == (
        {"Input": (5, ...)},
        {"Output": (5, ...)},
    )


# ------------------------------------------------------------------ containers are layers


def _nested(rng):
    """chain{g: graph{inner: chain[L1, Ramp], skip: L2, sum: Total}, out: L3} and its numpy."""
    l1, (w1, b1) = linear(rng, 3, 2)
    l2, (w2, b2) = linear(rng, 3, 2)
    l3, (w3, b3) = linear(rng, 1, 3)
    graph = ng.NetGraph(
        {"inner": ng.NetChain([l1, "Ramp"]), "skip": l2, "sum": ng.TotalLayer()},
        [(ng.NetPort("Input"), "inner"), (ng.NetPort("Input"), "skip"), (["inner", "skip"], "sum")],
    )
    net = ng.NetChain({"g": graph, "out": l3}, Input=2)

    def reference(x):
        return (np.maximum(x @ w1.T + b1, 0) + x @ w2.T + b2) @ w3.T + b3

    return net, reference


def test_containers_nest_and_evaluate_like_a_layer():
    rng = np.random.default_rng(12)
    net, reference = _nested(rng)
    assert isinstance(net, ng.Layer) and isinstance(ng.NetExtract(net, "g"), ng.NetGraph)
    assert I(net, "LayersCount") == 5
    assert ports(net) == ({"Input": (2,)}, {"Output": (1,)})
    x = rng.normal(size=(6, 2))
    want = reference(x)
    opts = {"WorkingPrecision": "Real64"}
    np.testing.assert_allclose(net(x, **opts), want, rtol=1e-12)  # a batch
    np.testing.assert_allclose(net(x[2], **opts), want[2], rtol=1e-12)  # one example
    np.testing.assert_allclose(net(list(x), **opts), want, rtol=1e-12)  # a list of examples
    np.testing.assert_allclose(net({"Input": x}, **opts), want, rtol=1e-12)  # a dict of ports
    np.testing.assert_allclose(net(x), want, rtol=1e-5, atol=1e-6)  # Real32
    assert net(x).dtype == np.float32
    out = net(ng.NumericArray(x, "Real32"))
    assert isinstance(out, ng.NumericArray) and out.shape == (6, 1)


def test_containers_are_immutable_values():
    rng = np.random.default_rng(13)
    net = ng.NetChain({"a": ng.LinearLayer(3), "b": ng.BatchNormalizationLayer()}, Input=2)
    before = (repr(net), I(net, "Arrays"), ports(net))
    initialized = ng.NetInitialize(net)
    replaced = ng.NetReplacePart(net, {("b", "Epsilon"): 0.5, "a": ng.LinearLayer(4)})
    trained = ng.NetTrain(
        initialized,
        (rng.normal(size=(8, 2)), rng.normal(size=(8, 3))),
        MaxTrainingRounds=1,
        BatchSize=8,
        TrainingProgressReporting=None,
    )
    assert (repr(net), I(net, "Arrays"), ports(net)) == before
    assert not net.is_initialized() and initialized.is_initialized()
    assert ng.NetExtract(net, ("b", "Epsilon")) == 0.001
    assert ng.NetExtract(replaced, ("b", "Input")) == (4,)
    assert trained != initialized
    for attribute in ("Input", "_layers", "anything"):
        with pytest.raises(ng.NetError, match="immutable"):
            setattr(net, attribute, 1)
    with pytest.raises(ng.NetError, match="immutable"):
        del net._given


def test_a_dict_of_outputs_for_several_output_ports():
    graph = ng.NetGraph({"sq": "Square", "neg": ng.ElementwiseLayer(lambda x: -x)}, [], Input=2)
    out = graph([[1.0, 2.0], [3.0, 4.0]])
    assert set(out) == {"Output1", "Output2"}
    np.testing.assert_array_equal(out["Output1"], [[1.0, 4.0], [9.0, 16.0]])
    np.testing.assert_array_equal(out["Output2"], [[-1.0, -2.0], [-3.0, -4.0]])


# -------------------------------------------------------------------------- gradients


def test_gradients_through_a_chain_equal_the_hand_composed_backward_pass():
    """y = W2 Ramp(W1 x + b1) + b2; NetPortGradient differentiates sum(G * y)."""
    rng = np.random.default_rng(14)
    l1, (w1, b1) = linear(rng, 4, 3)
    l2, (w2, b2) = linear(rng, 2, 4)
    net = ng.NetChain({"l1": l1, "relu": "Ramp", "l2": l2}, Input=3)
    x, g = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    z = x @ w1.T + b1
    h = np.maximum(z, 0)
    d_h = g @ w2
    d_z = d_h * (z > 0)
    want = {
        "Input": d_z @ w1,
        ("l1", "Weights"): d_z.T @ x,
        ("l1", "Biases"): d_z.sum(axis=0),
        ("l2", "Weights"): g.T @ h,
        ("l2", "Biases"): g.sum(axis=0),
    }
    feed = {"Input": x, ng.NetPortGradient("Output"): g}
    everything = net(feed, ng.NetPortGradient(ng.All), WorkingPrecision="Real64")
    assert list(everything) == list(want)
    for key, value in want.items():
        np.testing.assert_allclose(everything[key], value, rtol=1e-10, atol=1e-12)
        alone = net(feed, ng.NetPortGradient(key), WorkingPrecision="Real64")
        np.testing.assert_allclose(alone, value, rtol=1e-10, atol=1e-12)
    # without a forced gradient, G is all ones: d(sum of outputs)/dx
    ones = np.ones((5, 2)) @ w2 * (z > 0) @ w1
    np.testing.assert_allclose(
        net(x, ng.NetPortGradient("Input"), WorkingPrecision="Real64"), ones, rtol=1e-10
    )


def test_gradients_of_a_nested_graph_equal_finite_differences():
    rng = np.random.default_rng(15)
    net, _ = _nested(rng)
    net = ng.NetReplacePart(net, {("g", "inner", 1): "Tanh"})  # smooth, for finite differences
    checked = check_gradients(net, rng.normal(size=(3, 2)))
    assert set(checked) == {
        "Input",
        ("g", "inner", 0, "Weights"),
        ("g", "inner", 0, "Biases"),
        ("g", "skip", "Weights"),
        ("g", "skip", "Biases"),
        ("out", "Weights"),
        ("out", "Biases"),
    }


def test_gradients_of_a_multi_input_multi_output_graph_equal_finite_differences():
    rng = np.random.default_rng(16)
    a, _ = linear(rng, 3, 2)
    graph = ng.NetGraph(
        {"a": a, "b": "Tanh", "cat": ng.CatenateLayer(), "bn": ng.BatchNormalizationLayer()},
        [(ng.NetPort("x"), "a", "b"), (["b", ng.NetPort("y")], "cat", "bn", ng.NetPort("z"))],
        x=2,
        y=2,
    )
    graph = ng.NetInitialize(ng.NetReplacePart(graph, {("bn", "Scaling"): rounded(rng, 5)}))
    data = {"x": rng.normal(size=(4, 2)), "y": rng.normal(size=(4, 2))}
    assert ports(graph) == ({"x": (2,), "y": (2,)}, {"z": (5,)})
    check_gradients(graph, data)
    check_gradients(graph, data, mode="Train")


# ---------------------------------------------------------------------- evaluation mode


def test_train_mode_reaches_batch_norm_and_dropout_inside_nested_containers():
    rng = np.random.default_rng(17)
    scaling, biases = rounded(rng, 3), rounded(rng, 3)
    mean, var = rounded(rng, 3), np.abs(rounded(rng, 3)) + 0.5
    bn = ng.BatchNormalizationLayer(
        Scaling=scaling, Biases=biases, MovingMean=mean, MovingVariance=var
    )
    block = ng.NetChain({"bn": bn, "drop": ng.DropoutLayer(0.5)})
    net = ng.NetChain({"graph": ng.NetGraph({"block": block}, []), "act": "Tanh"}, Input=3)
    x = rng.normal(size=(64, 3)) * 2 + 1
    eps = 0.001
    test_mode = np.tanh(scaling * (x - mean) / np.sqrt(var + eps) + biases)
    np.testing.assert_allclose(net(x, WorkingPrecision="Real64"), test_mode, rtol=1e-12)
    train = net(x, NetEvaluationMode="Train", WorkingPrecision="Real64", RandomSeeding=3)
    normalized = scaling * (x - x.mean(0)) / np.sqrt(x.var(0) + eps) + biases
    kept = train != 0
    assert 0.3 < kept.mean() < 0.7  # dropout is active
    np.testing.assert_allclose(train[kept], np.tanh(2 * normalized)[kept], rtol=1e-10)


# -------------------------------------------------------------------- shape inference


def test_forward_inference_from_the_input():
    chain = ng.NetChain(
        {
            "conv": ng.ConvolutionLayer(4, 3, Stride=2, PaddingSize=1),
            "pool": ng.PoolingLayer(2, Stride=2),
            "flat": ng.FlattenLayer(),
            "lin": ng.LinearLayer(5),
        },
        Input=(1, 9, 9),
    )
    conv_side = (9 + 2 * 1 - 3) // 2 + 1  # 5
    pool_side = (conv_side - 2) // 2 + 1  # 2
    expected = {
        "conv": (4, conv_side, conv_side),
        "pool": (4, pool_side, pool_side),
        "flat": (4 * pool_side * pool_side,),
        "lin": (5,),
    }
    for key, shape in expected.items():
        assert ng.NetExtract(chain, (key, "Output")) == shape
    assert I(chain, "ArraysDimensions")[("lin", "Weights")] == (5, 16)


def test_backward_inference_from_a_later_layer():
    chain = ng.NetChain([ng.ElementwiseLayer("Ramp"), ng.LinearLayer(5, Input=3)])
    assert ng.NetExtract(chain, (0, "Input")) == (3,)
    assert ports(chain) == ({"Input": (3,)}, {"Output": (5,)})
    deep = ng.NetChain(["Ramp", ["Tanh", "Sin"], ng.BatchNormalizationLayer(Input=(2, 4))])
    assert ng.NetExtract(deep, (1, 0, "Input")) == (2, 4)
    assert I(deep, "InputPorts") == {"Input": (2, 4)}


def test_inference_runs_both_ways_to_a_fixed_point():
    # Input fixes layer 0's input; the BN's given Input fixes layer 0's output, hence its n
    chain = ng.NetChain([ng.LinearLayer(), "Ramp", ng.BatchNormalizationLayer(Input=6), 2], Input=3)
    assert I(chain, "ArraysDimensions")[(0, "Weights")] == (6, 3)
    assert ng.NetExtract(chain, (1, "Input")) == (6,)
    # a graph: the catenation's output size fixes the free branch
    graph = ng.NetGraph(
        {"a": ng.LinearLayer(2), "b": ng.LinearLayer(), "cat": ng.CatenateLayer()},
        [(["a", "b"], "cat")],
        Input=3,
        Output=7,
    )
    assert ng.NetExtract(graph, ("b", "Output")) == (5,)
    assert I(graph, "ArraysDimensions")[("b", "Weights")] == (5, 3)


@pytest.mark.parametrize("depth", [60, 300])
def test_inference_reaches_every_layer_of_a_deep_chain(depth):
    down = ng.NetChain([ng.LinearLayer(3)] + ["Tanh"] * depth + [ng.LinearLayer(2)], Input=4)
    assert I(down, "ArraysDimensions")[(depth + 1, "Weights")] == (2, 3)
    assert ng.NetInitialize(down)(np.ones(4)).shape == (2,)
    up = ng.NetChain(["Tanh"] * depth + [ng.LinearLayer(2, Input=3)])
    assert I(up, "InputPorts") == {"Input": (3,)}
    assert ng.NetExtract(up, (0, "Output")) == (3,)


def test_a_given_array_fixes_channel_counts_in_both_directions():
    # a BN's 3-element Scaling fixes the chain input channels and the next conv's weights
    chain = ng.NetChain(
        [ng.BatchNormalizationLayer(Scaling=np.ones(3)), ng.ConvolutionLayer(4, 3)],
        Input=(None, 8, 8),
    )
    assert ports(chain) == ({"Input": (3, 8, 8)}, {"Output": (4, 6, 6)})
    assert I(chain, "ArraysDimensions")[(1, "Weights")] == (4, 3, 3, 3)
    # a conv's given weights fix the channels of the layers before it
    before = ng.NetChain(["Ramp", ng.ConvolutionLayer(4, 3, Weights=np.ones((4, 2, 3, 3)))])
    assert ng.NetExtract(before, (0, "Input")) == (2, None, None)
    # a BN with a 4-element Scaling after a conv must see 4 channels; the rank follows the conv
    after = ng.NetChain(
        [ng.ConvolutionLayer(4, 3), "Ramp", ng.BatchNormalizationLayer(Scaling=np.ones(4))],
        Input=(2, 6, 6),
    )
    assert ng.NetExtract(after, (2, "Input")) == (4, 4, 4)
    # with 5 channels from the conv instead, the BN's Scaling is to blame, not the Ramp
    raises(
        ng.NetArrayError,
        lambda: ng.NetChain(
            [ng.ConvolutionLayer(5, 3), "Ramp", ng.BatchNormalizationLayer(Scaling=np.ones(4))],
            Input=(2, 6, 6),
        ),
        'in layer 2: BatchNormalizationLayer: array "Scaling"',
        "expected (5,), given (4,)",
    )


@pytest.mark.parametrize(
    "build, words",
    [
        (
            lambda: ng.NetChain([ng.LinearLayer(4), ng.LinearLayer(2, Input=5)]),
            ['layer 0 port "Output" (4,)', 'layer 1 port "Input" (5,)', "4 vs 5"],
        ),
        (
            lambda: ng.NetChain([ng.LinearLayer(3)], Input=2, Output=4),
            ['layer 0 port "Output" (3,)', 'NetPort("Output") (4,)'],
        ),
        (
            lambda: ng.NetChain([ng.BatchNormalizationLayer(Input=(4, 3))], Input=(2, 3)),
            ['NetPort("Input") (2, 3)', 'layer 0 port "Input" (4, 3)', "2 vs 4"],
        ),
        (
            lambda: ng.NetGraph(
                {"a": ng.LinearLayer(2), "b": ng.LinearLayer(3), "t": ng.TotalLayer()},
                [(["a", "b"], "t")],
                Input=4,
            ),
            ["'t'", "\"Input1\" (2,) is fed by layer 'a'", "\"Input2\" (3,) is fed by layer 'b'"],
        ),
    ],
    ids=["layer to layer", "graph output", "graph input", "total of two sizes"],
)
def test_a_shape_conflict_is_an_error_at_construction(build, words):
    message = raises(ng.NetShapeError, build, *words)
    assert "incompatible" in message or "in layer" in message
