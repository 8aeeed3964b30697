"""Paths into containers: NetExtract, NetReplacePart, NetPortGradient and NetTrain's
LearningRateMultipliers take layer names, 0-based positions (negative from the end) and tuple
paths through nested containers, e.g. ("block", 2, "Weights") (API.md "Precise rules").

The net used throughout is

    chain{block: chain{lin: L1, bn: BN, act: Tanh, lin2: L2}, out: L3}

with every array set, and its numpy reference `forward` below.
"""

from __future__ import annotations

import numpy as np
import pytest
from layer_check import raises

import netgraph as ng

F64 = np.float64
I = ng.Information  # noqa: E741
EPS = 0.001  # BatchNormalizationLayer's default Epsilon


def rounded(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.normal(size=shape).astype(np.float32).astype(F64)


def make_parts(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "W1": rounded(rng, 4, 5),
        "b1": rounded(rng, 4),
        "s": rounded(rng, 4),
        "beta": rounded(rng, 4),
        "m": rounded(rng, 4),
        "v": np.abs(rounded(rng, 4)) + 0.5,
        "W2": rounded(rng, 3, 4),
        "b2": rounded(rng, 3),
        "W3": rounded(rng, 2, 3),
        "b3": rounded(rng, 2),
    }


P = make_parts()


def make_net(p: dict = P, bn: bool = True, **bn_options) -> ng.NetChain:
    layers = {"lin": ng.LinearLayer(4, Weights=p["W1"], Biases=p["b1"])}
    if bn:
        layers["bn"] = ng.BatchNormalizationLayer(
            Scaling=p["s"], Biases=p["beta"], MovingMean=p["m"], MovingVariance=p["v"], **bn_options
        )
    layers["act"] = "Tanh"
    layers["lin2"] = ng.LinearLayer(3, Weights=p["W2"], Biases=p["b2"])
    block = ng.NetChain(layers)
    out = ng.LinearLayer(2, Weights=p["W3"], Biases=p["b3"])
    return ng.NetChain({"block": block, "out": out}, Input=5)


NET = make_net()


def forward(x: np.ndarray, p: dict = P, eps: float = EPS, act=np.tanh, bn: bool = True) -> dict:
    """Every intermediate of the net (Test mode), in float64."""
    z1 = x @ p["W1"].T + p["b1"]
    if not bn:  # the BN layer left out: the identity
        p = {**p, "s": np.sqrt(p["v"] + eps), "m": 0.0, "beta": 0.0}
    inv = p["s"] / np.sqrt(p["v"] + eps)
    z2 = (z1 - p["m"]) * inv + p["beta"]
    h = act(z2)
    z3 = h @ p["W2"].T + p["b2"]
    y = z3 @ p["W3"].T + p["b3"]
    return {"z1": z1, "inv": inv, "z2": z2, "h": h, "z3": z3, "y": y}


def snapshot(net: ng.Layer) -> tuple:
    arrays = I(net, "Arrays")
    return repr(net), {
        k: v if v is ng.Automatic else (v.dtype, v.tobytes()) for k, v in arrays.items()
    }


# -------------------------------------------------------------------------- NetExtract


@pytest.mark.parametrize(
    "spec",
    [
        ("block", "lin2", "Weights"),
        ["block", "lin2", "Weights"],
        ("block", 3, "Weights"),
        ("block", -1, "Weights"),
        (0, "lin2", "Weights"),
        (-2, -1, "Weights"),
    ],
)
def test_extract_an_array_by_names_positions_and_negative_positions(spec):
    np.testing.assert_array_equal(ng.NetExtract(NET, spec), P["W2"])


@pytest.mark.parametrize("spec", ["block", 0, -2, ("block",)])
def test_extract_a_nested_container(spec):
    block = ng.NetExtract(NET, spec)
    assert isinstance(block, ng.NetChain)
    assert block.input_shapes == {"Input": (5,)}  # inferred from the outer Input=5
    assert list(I(block, "Layers")) == [("lin",), ("bn",), ("act",), ("lin2",)]


def test_an_extracted_layer_is_its_class_with_inferred_shapes_and_works_alone():
    lin = ng.NetExtract(NET, ("block", "lin"))
    assert isinstance(lin, ng.LinearLayer)
    assert (lin.input_shapes, lin.output_shapes) == ({"Input": (5,)}, {"Output": (4,)})
    bn = ng.NetExtract(NET, (0, 1))
    assert isinstance(bn, ng.BatchNormalizationLayer) and bn.input_shapes == {"Input": (4,)}
    x = np.random.default_rng(1).normal(size=(3, 5))
    np.testing.assert_allclose(
        lin(x, WorkingPrecision="Real64"), x @ P["W1"].T + P["b1"], rtol=1e-12
    )
    assert ng.NetExtract(NET, ("block", 2)).Function == "Tanh"


def test_extract_options_ports_and_multipliers_by_path():
    net = make_net(Epsilon=0.01, Momentum=0.5)
    assert ng.NetExtract(net, ("block", "bn", "Epsilon")) == 0.01
    assert ng.NetExtract(net, (0, 1, "Momentum")) == 0.5
    assert ng.NetExtract(net, ("block", "act", "Function")) == "Tanh"
    assert ng.NetExtract(net, ("block", "lin2", "Output")) == (3,)
    assert ng.NetExtract(net, ("out", "Input")) == (3,)
    assert ng.NetExtract(net, ("block", "Output")) == (3,)
    assert (ng.NetExtract(net, "Input"), ng.NetExtract(net, "Output")) == ((5,), (2,))
    assert ng.NetExtract(net, ("out", "LearningRateMultipliers")) is ng.Automatic


def test_extracted_arrays_are_copies():
    got = ng.NetExtract(NET, ("block", "bn", "MovingMean"))
    got[:] = 99.0
    np.testing.assert_array_equal(ng.NetExtract(NET, ("block", "bn", "MovingMean")), P["m"])


def test_extract_all_gives_the_top_level_layers():
    parts = ng.NetExtract(NET, ng.All)
    assert list(parts) == ["block", "out"]
    assert parts["out"] == ng.NetExtract(NET, "out")


def test_an_unset_array_is_automatic():
    net = ng.NetChain({"block": ng.NetChain([ng.LinearLayer(2)])}, Input=3)
    assert ng.NetExtract(net, ("block", 0, "Biases")) is ng.Automatic


@pytest.mark.parametrize(
    "spec, error, words",
    [
        (("blok",), ng.NetGraphError, ["'blok'", 'Did you mean "block"?']),
        (("block", "lni"), ng.NetGraphError, ["'lni'", 'Did you mean "lin"?']),
        (("block", 4), ng.NetGraphError, ["4 layers", "position 4 is out of range"]),
        (("block", -5, "Weights"), ng.NetGraphError, ["position -5"]),
        (("block", "lin", "Weight"), ng.NetOptionError, ["'Weight'", 'Did you mean "Weights"?']),
        (("out", "Biases", 0), ng.NetOptionError, ["0"]),
    ],
)
def test_a_bad_path_names_what_exists(spec, error, words):
    raises(error, lambda: ng.NetExtract(NET, spec), *words)


# ---------------------------------------------------------------------- NetReplacePart


def test_replacing_a_layer_of_another_size_propagates():
    open_net = ng.NetChain(
        {
            "block": ng.NetChain([ng.LinearLayer(4), "Ramp"]),
            "bn": ng.BatchNormalizationLayer(),
            "out": 2,
        },
        Input=5,
    )
    wider = ng.NetReplacePart(open_net, {("block", 0): ng.LinearLayer(6)})
    assert ng.NetExtract(wider, ("block", 1, "Input")) == (6,)
    assert I(wider, "ArraysDimensions")[("bn", "Scaling")] == (6,)
    assert I(wider, "ArraysDimensions")[("out", "Weights")] == (2, 6)
    assert I(open_net, "ArraysDimensions")[("out", "Weights")] == (2, 4)  # unchanged
    # by position, and with a shorthand
    assert ng.NetExtract(ng.NetReplacePart(open_net, {(0, -2): 8}), ("bn", "Input")) == (8,)
    assert ng.NetExtract(ng.NetReplacePart(open_net, {-1: 3}), "Output") == (3,)


def test_an_incompatible_replacement_raises_and_leaves_the_net_untouched():
    before = snapshot(NET)
    # the initialized BN downstream holds 4-element arrays: a 6-wide layer cannot feed it
    raises(
        ng.NetArrayError,  # the downstream BN's given arrays refuse 6 channels
        lambda: ng.NetReplacePart(NET, {("block", "lin"): ng.LinearLayer(6)}),
        "'lin'",
        "'bn'",
        "6",
    )
    # a layer that wants another input size than the net's Input=5
    raises(
        ng.NetShapeError,
        lambda: ng.NetReplacePart(NET, {("block", 0): ng.LinearLayer(4, Input=7)}),
        'NetPort("Input") (5,)',
        "(7,)",
    )
    raises(
        ng.NetArrayError,
        lambda: ng.NetReplacePart(NET, {("block", "lin2", "Biases"): np.zeros(4)}),
        '"Biases"',
        "(4,)",
    )
    raises(ng.NetGraphError, lambda: ng.NetReplacePart(NET, {("block", 9): "Tanh"}), "9")
    assert snapshot(NET) == before


def test_replace_an_option_deep_inside_a_nested_container():
    x = np.random.default_rng(2).normal(size=(4, 5))
    for path in [("block", "bn", "Epsilon"), (0, 1, "Epsilon"), (-2, -3, "Epsilon")]:
        changed = ng.NetReplacePart(NET, {path: 0.5})
        assert ng.NetExtract(changed, ("block", "bn", "Epsilon")) == 0.5
        got = changed(x, WorkingPrecision="Real64")
        np.testing.assert_allclose(got, forward(x, eps=0.5)["y"], rtol=1e-12)
    np.testing.assert_allclose(NET(x, WorkingPrecision="Real64"), forward(x)["y"], rtol=1e-12)


def test_replace_layers_and_arrays_deep_inside():
    x = np.random.default_rng(3).normal(size=(4, 5))
    sine = ng.NetReplacePart(NET, {("block", "act"): "Sin"})
    np.testing.assert_allclose(
        sine(x, WorkingPrecision="Real64"), forward(x, act=np.sin)["y"], rtol=1e-12
    )
    b2 = np.arange(3.0)
    forms = [
        ng.NetReplacePart(NET, {(0, -1, "Biases"): b2}),
        ng.NetReplacePart(NET, [(("block", "lin2", "Biases"), b2)]),
        ng.NetReplacePart(NET, ("block", 3, "Biases"), b2),
    ]
    for net in forms:
        np.testing.assert_array_equal(ng.NetExtract(net, ("block", "lin2", "Biases")), b2)
        np.testing.assert_allclose(
            net(x, WorkingPrecision="Real64"), forward(x, {**P, "b2": b2})["y"], rtol=1e-12
        )


def test_replace_a_whole_nested_container_and_the_net_input():
    replaced = ng.NetReplacePart(NET, {"block": ng.NetChain([ng.LinearLayer(3), "Ramp"])})
    assert I(replaced, "LayersCount") == 3
    assert I(replaced, "ArraysDimensions")[("block", 0, "Weights")] == (3, 5)
    open_net = ng.NetChain({"block": ng.NetChain([ng.LinearLayer(4)]), "out": 2})
    assert I(open_net, "ArraysDimensions")[("block", 0, "Weights")] == (4, None)
    sized = ng.NetReplacePart(open_net, "Input", 7)
    assert I(sized, "ArraysDimensions")[("block", 0, "Weights")] == (4, 7)


def test_a_replacement_with_other_ports_gets_graph_ports_as_at_construction():
    chain = ng.NetChain([ng.LinearLayer(3), ng.LinearLayer(2)], Input=3)
    with_loss = ng.NetReplacePart(chain, {-1: ng.MeanSquaredLossLayer()})
    assert I(with_loss, "InputPorts") == {"Input": (3,), "Target": (3,)}
    assert I(with_loss, "OutputPorts") == {"Loss": ()}
    back = ng.NetReplacePart(with_loss, {-1: ng.LinearLayer(2)})
    assert (I(back, "InputPorts"), I(back, "OutputPorts")) == ({"Input": (3,)}, {"Output": (2,)})
    net = ng.NetInitialize(ng.NetReplacePart(with_loss, {(0, "Weights"): np.eye(3)}))
    x, t = np.array([1.0, 2.0, 3.0]), np.array([0.0, 2.0, 5.0])
    loss = net({"Input": x, "Target": t}, WorkingPrecision="Real64")
    np.testing.assert_allclose(loss, np.mean((x - t) ** 2), rtol=1e-12)  # zero biases


@pytest.mark.parametrize(
    "net, rules, words",
    [
        (
            ng.NetGraph({"a": ng.LinearLayer(3), "b": ng.LinearLayer(2)}, [("a", "b")], Input=3),
            {"a": ng.MeanSquaredLossLayer()},
            ["'a' has no output port 'Output'", "port 'Input' of layer 'b'", '"Loss"'],
        ),
        (
            ng.NetGraph(
                {"a": 2, "b": 2, "cat": ng.CatenateLayer()}, [(["a", "b"], "cat")], Input=3
            ),
            {"cat": ng.LinearLayer(2)},
            ["'cat' has no input port 'Input1'", "'a'"],
        ),
        (
            ng.NetGraph(
                {"a": 3, "loss": ng.MeanSquaredLossLayer()},
                [
                    ("a", ng.NetPort("loss", "Input")),
                    (ng.NetPort("t"), ng.NetPort("loss", "Target")),
                ],
                Input=3,
            ),
            {"loss": ng.LinearLayer(2)},
            ["'loss' has no input port 'Target'", "NetPort('t')"],
        ),
        (
            ng.NetChain([ng.LinearLayer(3), ng.LinearLayer(2)], Input=3),
            {0: ng.NetGraph({"p": 2, "q": 3}, [])},
            ["layer 0 (NetGraph) has 2 outputs"],
        ),
    ],
    ids=["a used output", "a variadic layer's inputs", "an explicit input", "a chain link"],
)
def test_a_replacement_that_drops_a_connected_port_is_an_error(net, rules, words):
    before = snapshot(net)
    raises(ng.NetGraphError, lambda: ng.NetReplacePart(net, rules), *words)
    assert snapshot(net) == before


# ---------------------------------------------------------------------- NetPortGradient


def hand_gradients(x: np.ndarray, g: np.ndarray, bn: bool = True) -> dict:
    """The gradients of sum(g * y) by the chain rule, written out."""
    f = forward(x, bn=bn)
    d_z3 = g @ P["W3"]
    d_h = d_z3 @ P["W2"]
    d_z2 = d_h * (1 - f["h"] ** 2)
    d_z1 = d_z2 * f["inv"]
    bn_grads = {
        ("block", "bn", "Scaling"): (d_z2 * (f["z1"] - P["m"]) / np.sqrt(P["v"] + EPS)).sum(0),
        ("block", "bn", "Biases"): d_z2.sum(0),
    }
    return {
        "Input": d_z1 @ P["W1"],
        ("block", "lin", "Weights"): d_z1.T @ x,
        ("block", "lin", "Biases"): d_z1.sum(0),
        **(bn_grads if bn else {}),
        ("block", "lin2", "Weights"): d_z3.T @ f["h"],
        ("block", "lin2", "Biases"): d_z3.sum(0),
        ("out", "Weights"): g.T @ f["z3"],
        ("out", "Biases"): g.sum(0),
    }


@pytest.mark.parametrize(
    "spec, key",
    [
        (("block", "lin", "Weights"), ("block", "lin", "Weights")),
        ((0, 0, "Weights"), ("block", "lin", "Weights")),
        ([-2, -4, "Weights"], ("block", "lin", "Weights")),
        (("block", 1, "Scaling"), ("block", "bn", "Scaling")),
        (("block", "bn", "Biases"), ("block", "bn", "Biases")),
        ((0, -1, "Biases"), ("block", "lin2", "Biases")),
        ((-1, "Weights"), ("out", "Weights")),
        (("out", "Biases"), ("out", "Biases")),
        ("Input", "Input"),
    ],
)
def test_port_gradient_by_path_equals_the_hand_written_chain_rule(spec, key):
    rng = np.random.default_rng(4)
    x, g = rng.normal(size=(6, 5)), rng.normal(size=(6, 2))
    feed = {"Input": x, ng.NetPortGradient("Output"): g}
    got = NET(feed, ng.NetPortGradient(spec), WorkingPrecision="Real64")
    np.testing.assert_allclose(got, hand_gradients(x, g)[key], rtol=1e-9, atol=1e-12)


def test_port_gradient_all_is_keyed_by_canonical_paths():
    rng = np.random.default_rng(5)
    x, g = rng.normal(size=(3, 5)), rng.normal(size=(3, 2))
    want = hand_gradients(x, g)
    got = NET(
        {"Input": x, ng.NetPortGradient("Output"): g},
        ng.NetPortGradient(ng.All),
        WorkingPrecision="Real64",
    )
    assert list(got) == list(want)  # learned arrays only: no moving statistics
    for key, value in want.items():
        np.testing.assert_allclose(got[key], value, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    "spec, error, words",
    [
        (("block", "bn", "MovingMean"), ng.NetArrayError, ["MovingMean", "state array"]),
        (("block", "lin"), ng.NetGraphError, ["names a layer, not an array"]),
        (("block", "lin", "Wieghts"), ng.NetArrayError, ["'Wieghts'", '"Weights"']),
        (("blok", "lin", "Weights"), ng.NetArrayError, ["'blok'", '"block"']),
    ],
)
def test_port_gradient_of_a_bad_path(spec, error, words):
    raises(error, lambda: NET(np.ones(5), ng.NetPortGradient(spec)), *words)


# --------------------------------------------------------------- LearningRateMultipliers
# NetTrain runs BatchNormalization with batch statistics, so these use the net without its BN
# layer: chain{block: chain{lin: L1, act: Tanh, lin2: L2}, out: L3}.

LR = 0.1
PLAIN = make_net(bn=False)


def sgd_step(option) -> tuple:
    """One full-batch SGD step of NetTrain in float64, and the hand-written gradients."""
    rng = np.random.default_rng(6)
    x, t = rng.normal(size=(8, 5)), rng.normal(size=(8, 2))
    results = ng.NetTrain(
        PLAIN,
        (x, t),
        "All",
        Method="SGD",
        LearningRate=LR,
        LearningRateMultipliers=option,
        MaxTrainingRounds=1,
        BatchSize=8,
        WorkingPrecision="Real64",
        TrainingProgressReporting=None,
        RandomSeeding=1,
    )
    # the mean over the batch of the mean squared error over 2 outputs: d/dy = 2 (y - t) / 16
    y = forward(x, bn=False)["y"]
    return results, hand_gradients(x, 2 * (y - t) / t.size, bn=False)


@pytest.mark.parametrize(
    "option, multipliers",
    [
        ({("block", "lin", "Weights"): 0.5}, {("block", "lin", "Weights"): 0.5}),
        ({(0, -1, "Biases"): 2.0, -1: 0}, {("block", "lin2", "Biases"): 2.0, "out": 0}),
        ({("block", "lin2"): 0, "out": 3.0}, {"lin2": 0, "out": 3.0}),
        ({"block": 0}, {"block": 0}),
        ({(0, 0): None, "Biases": 0.25}, {"lin": 0, "Biases": 0.25}),
        (
            [(("block", "lin", "Weights"), 0), (ng.All, 0.5)],
            {("block", "lin", "Weights"): 0, "*": 0.5},
        ),
    ],
    ids=[
        "array path",
        "position path, negative layer",
        "nested layer path",
        "container",
        "layer by position, array name",
        "first rule wins",
    ],
)
def test_learning_rate_multipliers_by_path(option, multipliers):
    results, grads = sgd_step(option)
    trained = I(results["TrainedNet"], "Arrays")
    reported = results["ArraysLearningRateMultipliers"]

    def multiplier(key: tuple) -> float:
        for rule, m in multipliers.items():  # the first rule that matches, as NetTrain reads them
            if rule == key or rule in key[:-1] or rule == key[-1]:
                return m
        return multipliers.get("*", 1.0)

    for key, start in I(PLAIN, "Arrays").items():
        m = multiplier(key)
        assert reported[key] == m, key
        if m == 0:
            np.testing.assert_array_equal(trained[key], start)  # bit-identical
        else:
            want = start - LR * m * grads[key]
            np.testing.assert_allclose(trained[key], want, rtol=1e-9, atol=1e-12, err_msg=str(key))


@pytest.mark.parametrize(
    "key, error, words",
    [
        (("block", "lni", "Weights"), ng.NetOptionError, "('block', 'lni', 'Weights') names no"),
        (("block", "lin", "Wieghts"), ng.NetOptionError, "'Wieghts') names no"),
        (("blok",), ng.NetOptionError, "('blok',) names no"),
        (("block", 7), ng.NetGraphError, "position 7 is out of range"),
    ],
)
def test_a_multiplier_path_that_names_nothing_is_an_error(key, error, words):
    x = np.ones((4, 5))
    with pytest.raises(ng.NetError) as info:
        ng.NetTrain(
            PLAIN,
            (x, x[:, :2]),
            LearningRateMultipliers={key: 0},
            BatchSize=4,
            TrainingProgressReporting=None,
        )
    assert type(info.value) is error and words in str(info.value)


def test_a_failed_deep_replacement_names_the_layer():
    chain = ng.NetChain({"lin": ng.LinearLayer(3), "bn": ng.BatchNormalizationLayer()}, Input=2)
    message = raises(
        ng.NetArrayError,
        lambda: ng.NetReplacePart(chain, {("lin", "Biases"): [1] * 4}),
        "in layer 'lin'",
        "Biases",
    )
    assert "(4,)" in message
