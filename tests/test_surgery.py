"""Net surgery (NetTake, NetDrop, NetAppend, NetPrepend, NetJoin, NetInsert, NetDelete, NetFlatten,
NetRename), NetGraph(chain), chain indexing and NetExtract with lists and ng.All.

Outputs are checked against a plain numpy forward pass of the same arrays."""

from __future__ import annotations

import numpy as np
import pytest
from layer_check import check_gradients, raises

import netgraph as ng

RNG = np.random.default_rng(3)
# float32 values (what layers store), held in float64 for the hand forward pass
WA, BA = RNG.normal(size=(4, 3)).astype(np.float32), RNG.normal(size=4).astype(np.float32)
WC, BC = RNG.normal(size=(2, 4)).astype(np.float32), RNG.normal(size=2).astype(np.float32)
X = RNG.normal(size=(5, 3)).astype(np.float32)


def lin_a(**kw):
    return ng.LinearLayer(4, Weights=WA, Biases=BA, **kw)


def lin_c(**kw):
    return ng.LinearLayer(2, Weights=WC, Biases=BC, **kw)


def named():
    return ng.NetChain({"a": lin_a(), "b": "Ramp", "c": lin_c(), "d": "Tanh"}, Input=3)


def positional():
    return ng.NetChain([lin_a(), "Ramp", lin_c(), "Tanh"], Input=3)


def hand(x, steps="abcd"):
    """The chain a -> Ramp -> c -> Tanh by hand, over the given steps."""
    x = np.asarray(x, np.float64)
    fns = {
        "a": lambda v: v @ WA.T.astype(float) + BA,
        "b": lambda v: np.maximum(v, 0),
        "c": lambda v: v @ WC.T.astype(float) + BC,
        "d": np.tanh,
    }
    for s in steps:
        x = fns[s](x)
    return x


def close(a, b):
    np.testing.assert_allclose(np.asarray(a, np.float64), b, rtol=1e-5, atol=1e-6)


def keys(net):
    return list(net._given)


# ------------------------------------------------------------------------------ NetTake/Drop


@pytest.mark.parametrize(
    "spec, kept",
    [
        (2, "ab"),
        (4, "abcd"),
        (-1, "d"),
        (-3, "bcd"),
        ("c", "abc"),
        (("b", "c"), "bc"),
        ((1, -1), "bcd"),
        (("a", "a"), "a"),
        (slice(1, 3), "bc"),
        (slice(None, -1), "abc"),
    ],
)
def test_net_take_forms(spec, kept):
    taken = ng.NetTake(named(), spec)
    assert keys(taken) == list(kept)
    ins = hand(X, "abcd"[: "abcd".index(kept[0])])
    close(taken(ins.astype(np.float32)), hand(ins, kept))
    if kept == "abcd":
        raises(ng.NetGraphError, lambda: ng.NetDrop(named(), spec), "no layers")
    else:
        assert keys(ng.NetDrop(named(), spec)) == [k for k in "abcd" if k not in kept]


def test_take_then_drop_composes_to_the_chain():
    chain = positional()
    for n in range(1, 4):
        head, tail = ng.NetTake(chain, n), ng.NetDrop(chain, n)
        assert keys(head) == list(range(n)) and keys(tail) == list(range(4 - n))
        close(tail(head(X)), hand(X))


def test_a_taken_part_keeps_the_shapes_it_had_inside_the_chain():
    taken = ng.NetTake(named(), ("b", "c"))  # Ramp knows its input only from layer a
    assert ng.Information(taken, "InputPorts") == {"Input": (4,)}
    assert ng.Information(ng.NetTake(named(), 1), "OutputPorts") == {"Output": (4,)}
    assert ng.Information(ng.NetDrop(named(), -1), "OutputPorts") == {"Output": (2,)}


def test_net_drop_forms():
    assert keys(ng.NetDrop(named(), 1)) == ["b", "c", "d"]
    assert keys(ng.NetDrop(named(), -2)) == ["a", "b"]
    assert keys(ng.NetDrop(named(), "b")) == ["c", "d"]
    assert keys(ng.NetDrop(named(), slice(1, 3))) == ["a", "d"]
    assert keys(ng.NetDrop(positional(), (1, 2))) == [0, 1]
    assert ng.NetDrop(named(), 0) == named()
    middle = ng.NetDrop(named(), ("b", "c"))  # a -> Tanh
    close(middle(X), np.tanh(hand(X, "a")))


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: ng.NetTake(named(), 5), ng.NetGraphError, ["cannot take 5 layers", "4 layers"]),
        (lambda: ng.NetTake(named(), 0), ng.NetGraphError, ["NetTake", "no layers"]),
        (lambda: ng.NetTake(named(), "cc"), ng.NetGraphError, ["no layer 'cc'", '"c"']),
        (lambda: ng.NetTake(named(), ("c", "a")), ng.NetGraphError, ["'c' (position 2)"]),
        (lambda: ng.NetTake(named(), (0, 9)), ng.NetGraphError, ["position 9 is out of range"]),
        (lambda: ng.NetTake(named(), slice(0, 4, 2)), ng.NetGraphError, ["no step"]),
        (lambda: ng.NetTake(named(), 1.5), ng.NetGraphError, ["got 1.5"]),
        (lambda: ng.NetDrop(named(), 4), ng.NetGraphError, ["NetDrop", "no layers"]),
        (lambda: ng.NetDrop(named(), -5), ng.NetGraphError, ["cannot take 5 layers"]),
        (lambda: ng.NetTake(lin_a(), 1), ng.NetGraphError, ["expected a NetGraph", "Linear"]),
        (lambda: ng.NetDrop(ng.NetGraph(named()), 1), ng.NetGraphError, ["a NetChain"]),
    ],
)
def test_take_and_drop_errors(call, error, words):
    raises(error, call, *words)


# ---------------------------------------------------------------------- adding and joining


def test_net_append_and_prepend():
    head = ng.NetChain({"a": lin_a(), "b": "Ramp"}, Input=3)
    chain = ng.NetAppend(head, {"c": lin_c(), "d": "Tanh"})
    assert keys(chain) == list("abcd")
    close(chain(X), hand(X))
    one = ng.NetAppend(ng.NetChain([lin_a()], Input=3), "Ramp")
    assert keys(one) == [0, 1]
    close(one(X), hand(X, "ab"))
    mixed = ng.NetAppend(ng.NetChain([lin_a()]), {"act": "Ramp"})
    assert keys(mixed) == ["0", "act"]  # unnamed layers are named by their position
    front = ng.NetPrepend(ng.NetChain([lin_c(), "Tanh"]), [lin_a(), "Ramp"])
    assert keys(front) == [0, 1, 2, 3]
    close(front(X), hand(X))


def test_port_shapes_given_to_a_chain_stay_with_their_layers():
    chain = ng.NetChain([ng.LinearLayer(4)], Input=3, Output=4)
    longer = ng.NetAppend(chain, ng.LinearLayer(2))
    assert ng.Information(longer, "InputPorts") == {"Input": (3,)}
    assert ng.Information(longer, "OutputPorts") == {"Output": (2,)}
    assert ng.NetExtract(longer, (1, "Input")) == (4,)
    ramp = ng.NetChain(["Ramp"], Input=4)  # Ramp takes 4 values, whatever comes before it
    front = ng.NetPrepend(ramp, ng.LinearLayer(4))
    assert ng.Information(front, "InputPorts") == {"Input": None}  # unknown: Linear flattens
    assert ng.Information(front, "OutputPorts") == {"Output": (4,)}
    msg = raises(ng.NetShapeError, lambda: ng.NetPrepend(ramp, ng.LinearLayer(6)), "NetPrepend")
    assert "4" in msg and "6" in msg
    joined = lambda: ng.NetJoin(named(), ng.NetChain({"e": "Sin"}, Input=5))  # noqa: E731
    raises(ng.NetShapeError, joined, "NetJoin", "5")


def test_net_join():
    first = ng.NetChain({"a": lin_a(), "b": "Ramp"}, Input=3)
    second = ng.NetChain({"c": lin_c(), "d": "Tanh"})
    joined = ng.NetJoin(first, second)
    assert keys(joined) == list("abcd")
    close(joined(X), hand(X))
    three = ng.NetJoin(ng.NetChain([lin_a()]), "Ramp", ng.NetChain([lin_c()]))
    assert keys(three) == [0, 1, 2]
    close(three(X), hand(X, "abc"))
    assert ng.NetJoin(named()) == named()


def test_join_errors_name_the_conflict():
    bad = ng.NetChain({"e": ng.LinearLayer(2, Input=5)})
    msg = raises(ng.NetShapeError, lambda: ng.NetJoin(named(), bad), "NetJoin")
    assert "5" in msg and "2" in msg
    raises(ng.NetGraphError, lambda: ng.NetJoin(named(), named()), "two layers would be named 'a'")
    graph = ng.NetGraph(named())
    raises(ng.NetGraphError, lambda: ng.NetJoin(named(), graph), "argument 1 is a NetGraph")
    raises(ng.NetGraphError, lambda: ng.NetJoin(), "at least one")


def test_net_insert():
    chain = ng.NetChain({"a": lin_a(), "c": lin_c()}, Input=3)
    assert keys(ng.NetInsert(chain, {"b": "Ramp"}, "c")) == ["a", "b", "c"]
    assert keys(ng.NetInsert(chain, {"b": "Ramp"}, 1)) == ["a", "b", "c"]
    assert keys(ng.NetInsert(chain, {"b": "Ramp"}, -1)) == ["a", "b", "c"]
    assert keys(ng.NetInsert(chain, {"d": "Tanh"}, 2)) == ["a", "c", "d"]
    close(ng.NetInsert(chain, {"b": "Ramp"}, "c")(X), hand(X, "abc"))
    positional_chain = ng.NetChain([lin_a(), lin_c()], Input=3)
    inserted = ng.NetInsert(positional_chain, "Ramp", 1)
    assert keys(inserted) == [0, 1, 2]
    close(inserted(X), hand(X, "abc"))
    first = ng.NetInsert(ng.NetChain([lin_c()]), lin_a(), 0)
    close(first(X), hand(X, "ac"))


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: ng.NetInsert(named(), "Ramp", 5), ["position 5 is out of range", "-4 to 4"]),
        (lambda: ng.NetInsert(named(), "Ramp", "e"), ["no layer 'e'"]),
        (lambda: ng.NetInsert(named(), {"a": "Ramp"}, 0), ["two layers would be named 'a'"]),
        (lambda: ng.NetInsert(named(), ["Ramp", "Tanh"], 0), ["one layer"]),
        (lambda: ng.NetInsert(named(), {"x": "Ramp", "y": "Tanh"}, 0), ["got 2"]),
        (lambda: ng.NetInsert(named(), "Rampp", 0), ["Rampp"]),
        (lambda: ng.NetAppend(named(), []), ["empty"]),
        (lambda: ng.NetAppend(named(), {1: "Ramp"}), ["must be strings"]),
    ],
)
def test_insert_and_append_errors(call, words):
    with pytest.raises(ng.NetError) as info:
        call()
    for word in words:
        assert word in str(info.value), str(info.value)


def test_net_delete_on_a_chain():
    assert keys(ng.NetDelete(named(), "b")) == ["a", "c", "d"]
    assert keys(ng.NetDelete(named(), [0, -1])) == ["b", "c"]
    assert keys(ng.NetDelete(positional(), 1)) == [0, 1, 2]
    assert ng.Information(ng.NetDelete(named(), "a"), "InputPorts") == {"Input": (4,)}
    close(ng.NetDelete(named(), ["b", "d"])(X), hand(X, "ac"))
    raises(ng.NetGraphError, lambda: ng.NetDelete(named(), "bb"), "no layer 'bb'", '"b"')
    raises(ng.NetGraphError, lambda: ng.NetDelete(named(), list("abcd")), "no layers")


# ------------------------------------------------------------------------------- graphs


def graph():
    """Input -> a (4) -> Ramp -> c (2) = Output; a -> Tanh = Side."""
    return ng.NetGraph(
        {"a": lin_a(), "r": "Ramp", "c": lin_c(), "t": "Tanh"},
        [
            (ng.NetPort("Input"), "a", "r", "c", ng.NetPort("Output")),
            ("a", "t", ng.NetPort("Side")),
        ],
        Input=3,
    )


def test_net_take_on_a_graph():
    side = ng.NetTake(graph(), "t")
    assert keys(side) == ["a", "t"]
    close(side(X), np.tanh(hand(X, "a")))
    out = ng.NetTake(graph(), ng.NetPort("Output"))
    assert keys(out) == ["a", "r", "c"] and list(out._outputs) == ["Output"]
    close(out(X), hand(X, "abc"))
    part = ng.NetTake(graph(), ("r", "c"))  # its input is what layer a gave
    assert ng.Information(part, "InputPorts") == {"Input": (4,)}
    close(part(hand(X, "a").astype(np.float32)), hand(hand(X, "a"), "bc"))
    both = ng.NetTake(graph(), (ng.NetPort("Input"), ng.All))
    assert keys(both) == ["a", "r", "c", "t"] and set(both._outputs) == {"Output", "Side"}
    two = ng.NetTake(graph(), [ng.NetPort("c", "Output"), "t"])
    assert list(two._outputs) == ["Output1", "Output2"]


def test_net_take_on_a_graph_errors():
    raises(ng.NetGraphError, lambda: ng.NetTake(graph(), ng.NetPort("Sied")), '"Side"')
    raises(ng.NetGraphError, lambda: ng.NetTake(graph(), ("t", "c")), "'c' does not depend")
    raises(ng.NetGraphError, lambda: ng.NetTake(graph(), ng.NetPort("c", "Out")), "no output")
    bad_start = (ng.NetPort("Inptu"), "c")
    raises(ng.NetGraphError, lambda: ng.NetTake(graph(), bad_start), '"Input"')


def test_net_delete_on_a_graph():
    g = ng.NetDelete(graph(), "t")
    assert keys(g) == ["a", "r", "c"] and list(g._outputs) == ["Output"]
    close(g(X), hand(X, "abc"))
    cut = ng.NetDelete(graph(), "r")  # c's input becomes a new graph input, not "Input"
    assert ng.Information(cut, "InputPorts") == {"Input": (3,), "Input1": (4,)}
    assert set(cut._outputs) == {"Output", "Side"}
    h = RNG.normal(size=(5, 4)).astype(np.float32)
    got = cut({"Input": X, "Input1": h})
    close(got["Output"], hand(h, "c"))
    close(got["Side"], np.tanh(hand(X, "a")))


def test_net_graph_of_a_chain_is_flat():
    g = ng.NetGraph(named())
    assert type(g) is ng.NetGraph and keys(g) == list("abcd")
    assert ng.Information(g, "LayersCount") == 4
    close(g(X), hand(X))
    g0 = ng.NetGraph(positional(), Input=3)
    assert ng.NetExtract(g0, (2, "Weights")).tolist() == WC.tolist()


# ----------------------------------------------------------------------------- NetFlatten


def nested(inner_names=True):
    block = {"a": lin_a(), "b": "Ramp"} if inner_names else [lin_a(), "Ramp"]
    tail = {"c": lin_c(), "d": "Tanh"} if inner_names else [lin_c(), "Tanh"]
    if inner_names:
        return ng.NetChain({"block": ng.NetChain(block), "tail": ng.NetChain(tail)}, Input=3)
    return ng.NetChain([ng.NetChain(block), ng.NetChain(tail)], Input=3)


def test_net_flatten_chains():
    flat = ng.NetFlatten(nested())
    assert type(flat) is ng.NetChain
    assert keys(flat) == ["block/a", "block/b", "tail/c", "tail/d"]
    close(flat(X), hand(X))
    assert ng.NetExtract(flat, ("tail/c", "Weights")).tolist() == WC.tolist()
    flat = ng.NetFlatten(nested(inner_names=False))
    assert keys(flat) == [0, 1, 2, 3]
    close(flat(X), hand(X))
    assert ng.NetFlatten(named()) == named()  # nothing to flatten


def test_net_flatten_depth():
    deep = ng.NetChain({"outer": nested(), "last": "Ramp"})
    one = ng.NetFlatten(deep, 1)
    assert keys(one) == ["outer/block", "outer/tail", "last"]
    assert keys(ng.NetFlatten(deep)) == [
        "outer/block/a",
        "outer/block/b",
        "outer/tail/c",
        "outer/tail/d",
        "last",
    ]
    assert ng.NetFlatten(deep, 0) == deep
    raises(ng.NetGraphError, lambda: ng.NetFlatten(deep, -1), "non-negative")
    clash = ng.NetGraph({"b": ng.NetChain({"c": "Ramp"}), "b/c": "Tanh"}, [("b", "b/c")])
    raises(ng.NetGraphError, lambda: ng.NetFlatten(clash), "two layers would be named 'b/c'")


def test_net_flatten_graphs_and_gradients():
    outer = ng.NetGraph(
        {"g": graph(), "post": ng.ElementwiseLayer("Sin")},
        [(ng.NetPort("g", "Side"), "post", ng.NetPort("SinSide"))],
    )
    flat = ng.NetFlatten(outer)
    assert type(flat) is ng.NetGraph
    assert keys(flat) == ["g/a", "g/r", "g/c", "g/t", "post"]
    got, want = flat(X), outer(X)
    assert set(got) == set(want) == {"Output", "SinSide"}
    close(got["SinSide"], np.sin(np.tanh(hand(X, "a"))))
    close(got["Output"], hand(X, "abc"))
    check_gradients(flat, X.astype(np.float64)[:2])


# ------------------------------------------------------------------------------ NetRename


def test_net_rename():
    renamed = ng.NetRename(named(), "b", "relu")
    assert keys(renamed) == ["a", "relu", "c", "d"]
    close(renamed(X), hand(X))
    assert keys(ng.NetRename(positional(), {0: "lin", -1: "act"})) == ["lin", "1", "2", "act"]
    assert keys(ng.NetRename(named(), str.upper)) == list("ABCD")
    g = ng.NetRename(graph(), {ng.NetPort("Side"): ng.NetPort("Aux"), "t": "tanh"})
    assert set(g._outputs) == {"Output", "Aux"} and "tanh" in keys(g)
    close(g(X)["Aux"], np.tanh(hand(X, "a")))


def test_net_rename_errors():
    raises(ng.NetGraphError, lambda: ng.NetRename(named(), "b", "a"), "two layers", "'a'")
    raises(ng.NetGraphError, lambda: ng.NetRename(named(), "x", "y"), "no layer 'x'")
    raises(ng.NetGraphError, lambda: ng.NetRename(named(), "a", 3), "non-empty str")
    port = {ng.NetPort("Input"): ng.NetPort("X")}
    raises(ng.NetGraphError, lambda: ng.NetRename(named(), port), "NetGraph(chain)")
    wrong = {ng.NetPort("Sied"): ng.NetPort("X")}
    raises(ng.NetGraphError, lambda: ng.NetRename(graph(), wrong), '"Side"')
    raises(ng.NetGraphError, lambda: ng.NetRename(graph(), 5), "a function")
    clash = {ng.NetPort("Side"): ng.NetPort("Output")}
    raises(ng.NetGraphError, lambda: ng.NetRename(graph(), clash), "two ports", "'Output'")


# ------------------------------------------------------------------ Python niceties, values


def test_chain_indexing_and_iteration():
    chain = named()
    assert len(chain) == 4 and len(graph()) == 4
    assert chain[0] == ng.NetExtract(chain, 0) and chain["c"] == ng.NetExtract(chain, "c")
    assert chain[-1] == ng.NetExtract(chain, "d")
    assert isinstance(chain[0], ng.LinearLayer)
    assert chain["c", "Biases"].tolist() == BC.tolist()
    sliced = chain[1:3]
    assert type(sliced) is ng.NetChain and keys(sliced) == ["b", "c"]
    assert [type(layer).__name__ for layer in chain] == [
        "LinearLayer",
        "ElementwiseLayer",
        "LinearLayer",
        "ElementwiseLayer",
    ]
    raises(ng.NetGraphError, lambda: chain[4], "position 4 is out of range")
    raises(ng.NetGraphError, lambda: chain["x"], "'x'")
    raises(ng.NetGraphError, lambda: graph()[0:2], "NetTake(graph, spec)")


def test_surgery_never_changes_its_arguments():
    chain, before = named(), named()
    other = ng.NetChain({"e": "Sin"})
    for call in (
        lambda: ng.NetTake(chain, 2),
        lambda: ng.NetDrop(chain, 1),
        lambda: ng.NetAppend(chain, other),
        lambda: ng.NetJoin(chain, other),
        lambda: ng.NetInsert(chain, {"x": "Sin"}, 1),
        lambda: ng.NetDelete(chain, "b"),
        lambda: ng.NetRename(chain, "a", "z"),
        lambda: ng.NetFlatten(ng.NetChain({"n": chain})),
    ):
        call()
        assert chain == before and other == ng.NetChain({"e": "Sin"})


def test_trained_and_shared_arrays_are_kept():
    w = ng.NetSharedArray("w")
    square = RNG.normal(size=(4, 4)).astype(np.float32)
    chain = ng.NetChain(
        {
            "a": lin_a(),
            "s1": ng.LinearLayer(4, Weights=w, Biases=BA),
            "s2": ng.LinearLayer(4, Weights=w, Biases=BA),
        },
        Input=3,
    )
    chain = ng.NetReplacePart(chain, {w: square})
    tail = ng.NetDrop(chain, 1)
    assert ng.Information(tail, "SharedArraysCount") == 1
    assert ng.NetExtract(tail, w).tolist() == square.tolist()
    h = hand(X, "a")
    want = (h @ square.T.astype(float) + BA) @ square.T.astype(float) + BA
    close(tail(h.astype(np.float32)), want)
    flat = ng.NetFlatten(ng.NetChain({"inner": chain}))
    assert ng.Information(flat, "SharedArraysCount") == 1
    close(flat(X), want)
    other = ng.NetReplacePart(chain, {w: square + 1})
    raises(ng.NetArrayError, lambda: ng.NetJoin(chain, ng.NetRename(other, str.upper)), "'w'")
    trained = ng.NetTrain(
        named(),
        (X, RNG.normal(size=(5, 2))),
        MaxTrainingRounds=2,
        BatchSize=5,
        TrainingProgressReporting=None,
    )
    taken = ng.NetTake(trained, ("c", "d"))
    assert ng.NetExtract(taken, ("c", "Weights")).tolist() == trained["c", "Weights"].tolist()
    assert trained["c", "Weights"].tolist() != WC.tolist()


def test_learning_rate_multipliers_keep_applying_to_the_same_arrays():
    chain = ng.NetChain(
        {"a": lin_a(), "b": "Ramp", "c": lin_c()}, Input=3, LearningRateMultipliers={"a": 0}
    )
    lrm = lambda net: ng.Information(net, "ArraysLearningRateMultipliers")  # noqa: E731
    assert lrm(ng.NetDrop(chain, -1)) == {("a", "Weights"): 0.0, ("a", "Biases"): 0.0}
    assert lrm(ng.NetDrop(chain, 1)) == {("c", "Weights"): 1.0, ("c", "Biases"): 1.0}
    frozen = ng.NetChain([lin_a(), "Ramp"], Input=3, LearningRateMultipliers=0)
    grown = ng.NetAppend(frozen, lin_c())  # the new layer is not frozen
    assert lrm(grown) == {
        (0, "Weights"): 0.0,
        (0, "Biases"): 0.0,
        (2, "Weights"): 1.0,
        (2, "Biases"): 1.0,
    }
    renamed = ng.NetRename(chain, "a", "first")
    assert lrm(renamed)[("first", "Weights")] == 0.0 and lrm(renamed)[("c", "Biases")] == 1.0
    inner = ng.NetChain({"a": lin_a(), "b": "Ramp"}, LearningRateMultipliers=[(slice(0, 1), 0.5)])
    outer = ng.NetChain({"in": inner, "c": lin_c()}, Input=3, LearningRateMultipliers=2)
    flat = ng.NetFlatten(outer)
    want = {  # the inner rule for "a"; the outer number for the rest
        ("in/a", "Weights"): 0.5,
        ("in/a", "Biases"): 0.5,
        ("c", "Weights"): 2.0,
        ("c", "Biases"): 2.0,
    }
    assert lrm(flat) == want
    assert lrm(outer) == {
        (("in", "a") if k[0] == "in/a" else (k[0],)) + k[1:]: v for k, v in want.items()
    }


# ------------------------------------------------------------------------------ NetExtract


def test_net_extract_lists_and_all():
    chain = named()
    got = ng.NetExtract(chain, [("a", "Biases"), ("c", "Input"), ["d"]])
    assert got[0].tolist() == BA.tolist() and got[1] == (4,)
    assert isinstance(got[2], ng.ElementwiseLayer)
    assert ng.NetExtract(chain, ["c", "Biases"]).tolist() == BC.tolist()  # still one path
    biases = ng.NetExtract(chain, (ng.All, "Biases"))
    assert list(biases) == ["a", "c"]
    assert biases["a"].tolist() == BA.tolist() and biases["c"].tolist() == BC.tolist()
    assert ng.NetExtract(positional(), (ng.All, "Input")) == {0: (3,), 1: (4,), 2: (4,), 3: (2,)}
    deep = ng.NetExtract(nested(), (ng.All, ng.All, "Weights"))
    assert list(deep) == ["block", "tail"] and list(deep["tail"]) == ["c"]
    unset = ng.NetExtract(ng.NetChain([ng.LinearLayer(2)]), (ng.All, "Biases"))
    assert unset == {0: ng.Automatic}
    raises(ng.NetOptionError, lambda: ng.NetExtract(chain, (ng.All, "Baises")), '"Biases"')
    raises(ng.NetGraphError, lambda: ng.NetExtract(lin_a(), (ng.All, "Biases")), "no layers")


def test_surgery_keeps_a_class_decoder_on_the_kept_last_layer():
    labels = ["a", "b", "c"]
    w = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]], dtype=np.float32)
    chain = ng.NetChain(
        {"pre": ng.ElementwiseLayer("Ramp"), "lin": ng.LinearLayer(3, Weights=w, Biases=[0, 0, 0])},
        Input=2,
        Output=ng.NetDecoder(("Class", labels)),
    )
    x = np.array([0.5, 2.0], dtype=np.float32)  # scores (0.5, 2, -2.5): "b" by hand
    for edited in (
        ng.NetGraph(chain),
        ng.NetFlatten(chain),
        ng.NetTake(chain, 2),
        ng.NetDrop(chain, 1),
        ng.NetRename(chain, "pre", "relu"),
        chain[0:2],
    ):
        assert edited(x) == "b"
    # appending a layer after the decoded one leaves the decoder behind
    appended = ng.NetAppend(chain, ng.ElementwiseLayer("Ramp"))
    np.testing.assert_allclose(appended(x), [0.5, 2.0, 0.0])
