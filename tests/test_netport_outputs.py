"""net(x, NetPort(...)): inner layers' outputs, read in the same forward pass as the outputs.

Every expected value is computed here with plain numpy from the arrays the test sets.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from layer_check import raises

import netgraph as ng

W1 = np.array([[1.0, -2.0], [0.5, 1.0], [-1.0, 0.0]])
B1 = np.array([0.5, -1.0, 2.0])
W2 = np.array([[1.0, 1.0, -1.0]])
B2 = np.array([0.25])
X = np.array([[1.0, 2.0], [-3.0, 0.5], [2.0, -1.0], [0.0, 4.0], [1.5, 1.5]])


def _chain():
    return ng.NetChain(
        {
            "lin1": ng.LinearLayer(3, Weights=W1, Biases=B1),
            "relu": ng.ElementwiseLayer("Ramp"),
            "lin2": ng.LinearLayer(1, Weights=W2, Biases=B2),
        },
        Input=2,
    )


def _hand(x):
    h1 = x @ W1.T + B1
    h2 = np.maximum(h1, 0)
    return h1, h2, h2 @ W2.T + B2


def test_inner_output_of_one_example_and_of_a_batch():
    net = _chain()
    h1, h2, out = _hand(X)
    got = net(X, ng.NetPort("lin1", "Output"))
    assert got.shape == (5, 3) and got.dtype == np.float32
    np.testing.assert_allclose(got, h1, rtol=1e-6)
    one = net(X[1], ng.NetPort("relu", "Output"))
    assert one.shape == (3,)
    np.testing.assert_allclose(one, h2[1], rtol=1e-6)
    np.testing.assert_allclose(net(X, ng.NetPort("Output")), out, rtol=1e-6)
    np.testing.assert_allclose(net(X, ng.NetPort("Output")), net(X), rtol=0)


def test_a_layer_name_alone_means_its_output():
    net = _chain()
    np.testing.assert_allclose(net(X, ng.NetPort("relu")), _hand(X)[1], rtol=1e-6)


def test_list_of_ports_gives_a_dict_keyed_by_the_ports_asked():
    net = _chain()
    asked = [ng.NetPort("relu", "Output"), ng.NetPort("lin1", "Output"), ng.NetPort("Output")]
    got = net(X, asked)
    assert list(got) == asked
    h1, h2, out = _hand(X)
    np.testing.assert_allclose(got[ng.NetPort("lin1", "Output")], h1, rtol=1e-6)
    np.testing.assert_allclose(got[ng.NetPort(("relu",), "Output")], h2, rtol=1e-6)
    np.testing.assert_allclose(got[ng.NetPort("Output")], out, rtol=1e-6)


def test_all_gives_every_layer_output():
    net = _chain()
    got = net(X[0], ng.NetPort(ng.All))
    keys = [ng.NetPort(k, "Output") for k in ("lin1", "relu", "lin2")]
    assert list(got) == keys
    for key, expected in zip(keys, _hand(X[:1])):
        assert got[key].shape == expected[0].shape
        np.testing.assert_allclose(got[key], expected[0], rtol=1e-6)


def test_positions_in_a_list_built_chain():
    net = ng.NetChain(
        [
            ng.LinearLayer(3, Weights=W1, Biases=B1),
            "Ramp",
            ng.LinearLayer(1, Weights=W2, Biases=B2),
        ],
        Input=2,
    )
    h1, h2, _ = _hand(X)
    np.testing.assert_allclose(net(X, ng.NetPort(0, "Output")), h1, rtol=1e-6)
    np.testing.assert_allclose(net(X, ng.NetPort(-2, "Output")), h2, rtol=1e-6)
    assert list(net(X, ng.NetPort(ng.All))) == [ng.NetPort(i, "Output") for i in range(3)]
    raises(ng.NetGraphError, lambda: net(X, ng.NetPort(7, "Output")), "position 7")


def _nested():
    block = ng.NetChain(
        {"lin": ng.LinearLayer(3, Weights=W1, Biases=B1), "bn": ng.BatchNormalizationLayer()}
    )
    net = ng.NetChain({"block": block, "out": ng.LinearLayer(1, Weights=W2, Biases=B2)}, Input=2)
    rules = {
        ("block", "bn", "Scaling"): [2.0, 1.0, 0.5],
        ("block", "bn", "Biases"): [0.0, 1.0, -1.0],
        ("block", "bn", "MovingMean"): [1.0, -1.0, 0.5],
        ("block", "bn", "MovingVariance"): [4.0, 1.0, 0.25],
    }
    return ng.NetReplacePart(net, rules)


def _bn(h, mean, var, eps=0.001):
    return (h - mean) / np.sqrt(var + eps) * np.array([2.0, 1.0, 0.5]) + np.array([0.0, 1.0, -1.0])


def test_nested_paths_in_every_spelling():
    net = _nested()
    h = X @ W1.T + B1
    expected = _bn(h, np.array([1.0, -1.0, 0.5]), np.array([4.0, 1.0, 0.25]))
    for port in (
        ng.NetPort(("block", "bn"), "Output"),
        ng.NetPort("block", "bn", "Output"),
        ng.NetPort(("block", "bn", "Output")),
        ng.NetPort((0, -1), "Output"),
    ):
        np.testing.assert_allclose(net(X, port), expected, rtol=1e-5, atol=1e-6)
    # a container's own output port
    np.testing.assert_allclose(
        net(X, ng.NetPort("block", "Output")), expected, rtol=1e-5, atol=1e-6
    )
    keys = list(net(X, ng.NetPort(ng.All)))
    assert keys == [
        ng.NetPort(("block", "lin"), "Output"),
        ng.NetPort(("block", "bn"), "Output"),
        ng.NetPort("out", "Output"),
    ]


def test_train_mode_uses_batch_statistics_of_the_whole_input():
    net = _nested()
    h = (X @ W1.T + B1)[:4]
    port = ng.NetPort("block", "bn", "Output")
    whole = net(X[:4], port, NetEvaluationMode="Train")
    np.testing.assert_allclose(whole, _bn(h, h.mean(0), h.var(0)), rtol=1e-4, atol=1e-5)
    # BatchSize never changes a result: a net holding BN runs in one batch in "Train" mode
    chunked = net(X[:4], port, NetEvaluationMode="Train", BatchSize=2)
    np.testing.assert_allclose(chunked, _bn(h, h.mean(0), h.var(0)), rtol=1e-4, atol=1e-5)
    # in "Test" mode the chunks are evaluated separately and joined
    np.testing.assert_allclose(net(X, port, BatchSize=3), net(X, port), rtol=1e-6)


def test_working_precision_real64():
    net = _chain()
    got = net(X, ng.NetPort("lin1", "Output"), WorkingPrecision="Real64")
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, _hand(X)[0], rtol=1e-12)


def test_numeric_array_in_numeric_array_out_and_data_untouched():
    net = _chain()
    x = X.copy()
    x.setflags(write=False)
    before = x.tobytes()
    got = net(ng.NumericArray(x, "Real32"), [ng.NetPort("lin1", "Output")])
    value = got[ng.NetPort("lin1", "Output")]
    assert isinstance(value, ng.NumericArray)
    np.testing.assert_allclose(np.asarray(value), _hand(X)[0], rtol=1e-6)
    assert x.tobytes() == before


def test_a_graph_with_two_branches():
    graph = ng.NetGraph(
        {
            "a": ng.LinearLayer(3, Weights=W1, Biases=B1),
            "b": ng.ElementwiseLayer("Tanh"),
            "cat": ng.CatenateLayer(),
        },
        [(ng.NetPort("Input"), "a"), (ng.NetPort("Input"), "b"), (["a", "b"], "cat")],
        Input=2,
    )
    got = graph(X, [ng.NetPort("a", "Output"), ng.NetPort("b", "Output")])
    np.testing.assert_allclose(got[ng.NetPort("a", "Output")], X @ W1.T + B1, rtol=1e-6)
    np.testing.assert_allclose(got[ng.NetPort("b", "Output")], np.tanh(X), rtol=1e-6)
    # the catenated output is still computed from both: nothing was freed early
    np.testing.assert_allclose(
        graph(X), np.concatenate([X @ W1.T + B1, np.tanh(X)], axis=1), rtol=1e-6
    )


def test_a_single_layer():
    lin = ng.LinearLayer(3, Weights=W1, Biases=B1)
    got = lin(X, ng.NetPort(ng.All))
    assert list(got) == [ng.NetPort("Output")]
    np.testing.assert_allclose(got[ng.NetPort("Output")], X @ W1.T + B1, rtol=1e-6)


def test_input_ports_are_refused_naming_what_feeds_them():
    net = _chain()
    raises(
        ng.NetGraphError,
        lambda: net(X, ng.NetPort("relu", "Input")),
        "NetPort('relu', 'Input')",
        "input port",
        "NetPort('lin1', 'Output')",
    )
    raises(ng.NetGraphError, lambda: net(X, ng.NetPort("lin1", "Input")), "the net's input")
    raises(ng.NetGraphError, lambda: net(X, ng.NetPort("Input")), "input port of the net")
    nested = _nested()
    raises(
        ng.NetGraphError,
        lambda: nested(X, ng.NetPort("block", "bn", "Input")),
        "NetPort(('block', 'lin'), 'Output')",
    )


def test_unknown_names_get_did_you_mean():
    net = _chain()
    raises(ng.NetGraphError, lambda: net(X, ng.NetPort("rleu", "Output")), "'rleu'", '"relu"')
    raises(ng.NetGraphError, lambda: net(X, ng.NetPort("relu", "Ouptut")), "'Ouptut'", '"Output"')
    raises(ng.NetGraphError, lambda: net(X, ng.NetPort("Outptu")), '"Output"')
    nested = _nested()
    raises(ng.NetGraphError, lambda: nested(X, ng.NetPort("block", "nb", "Output")), "'nb'", '"bn"')
    raises(
        ng.NetGraphError,
        lambda: net(X, [ng.NetPort("relu", "Output"), "relu"]),
        "NetPorts only",
    )
    raises(ng.NetGraphError, lambda: net(X, ng.NetPort("relu"), ng.NetPort("lin1")), "one list")


@pytest.mark.parametrize(
    "spec",
    [(ng.All,), ("a", "b", "Output"), (("a", "b"), "Output"), ((0, -1), "Output")],
)
def test_new_netport_forms_hash_and_compare_by_value(spec):
    a, b = ng.NetPort(*spec), ng.NetPort(*spec)
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != ng.NetPort("Output")


def test_port_outputs_do_not_change_plain_results_or_gradients():
    net = _chain()
    plain = net(X)
    net(X, ng.NetPort(ng.All))
    np.testing.assert_array_equal(net(X), plain)
    grad = net(X, ng.NetPortGradient("Input"))
    h1 = X @ W1.T + B1
    # d(sum out)/dx = W2 . diag(h1 > 0) . W1
    expected = ((h1 > 0) * W2) @ W1
    np.testing.assert_allclose(grad, expected, rtol=1e-6)


KEYS = st.one_of(
    st.text(max_size=5), st.integers(-4, 4), st.sampled_from(["lin1", "relu", "Output", "Input"])
)


@settings(max_examples=80, deadline=None, derandomize=True)
@given(path=st.lists(KEYS, min_size=1, max_size=4), port=st.one_of(st.text(max_size=6), st.none()))
def test_wrong_ports_raise_net_errors_only(path, port):
    net = _nested()
    with contextlib.suppress(ng.NetError):
        net(X[0], ng.NetPort(*path, port))
    with contextlib.suppress(ng.NetError):
        net(X[0], [ng.NetPort(*path)])
