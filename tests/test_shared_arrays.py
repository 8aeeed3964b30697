"""NetSharedArray and NetInsertSharedArrays in containers (API.md "Functions", the BN sharing
rule; wolfram-semantics.md §1.10 and §5).

One shared array is one array: held once by the outermost container, one shape for every use,
its gradient the sum over its uses. BatchNormalizationLayer's moving statistics are never
shared. test_faults.py already covers the lone-layer errors (a NetSharedArray for MovingMean,
two shapes in one chain); the container forms are here.
"""

from __future__ import annotations

import numpy as np
from layer_check import check_gradients, raises

import netgraph as ng

F64 = np.float64
I = ng.Information  # noqa: E741
W = ng.NetSharedArray("w")


def rounded(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.normal(size=shape).astype(np.float32).astype(F64)


def tied(rng: np.random.Generator):
    """y = tanh(x W' + b1) W' + b2 with one shared W (3, 3); the net and its parts."""
    w, b1, b2 = rounded(rng, 3, 3), rounded(rng, 3), rounded(rng, 3)
    net = ng.NetChain(
        {
            "l1": ng.LinearLayer(3, Weights=W, Biases=b1),
            "act": "Tanh",
            "l2": ng.LinearLayer(3, Weights=W, Biases=b2),
        },
        Input=3,
    )
    return ng.NetReplacePart(net, {W: w}), (w, b1, b2)


def untied(w: np.ndarray, b1: np.ndarray, b2: np.ndarray) -> ng.NetChain:
    """The same net with two separate copies of W."""
    return ng.NetChain(
        {
            "l1": ng.LinearLayer(3, Weights=w, Biases=b1),
            "act": "Tanh",
            "l2": ng.LinearLayer(3, Weights=w, Biases=b2),
        },
        Input=3,
    )


# ------------------------------------------------------------------------ one array


def test_one_array_used_by_two_layers_is_held_once():
    rng = np.random.default_rng(0)
    net, (w, b1, b2) = tied(rng)
    arrays = I(net, "Arrays")
    assert list(arrays) == [W, ("l1", "Biases"), ("l2", "Biases")]
    assert I(net, "SharedArraysCount") == 1
    assert I(net, "ArraysCount") == 3
    assert I(net, "ArraysTotalElementCount") == 9 + 3 + 3
    assert I(net, "ArraysTotalSize") == 4 * 15
    for spec in (W, ("l1", "Weights"), ("l2", "Weights"), (-1, "Weights")):
        np.testing.assert_array_equal(ng.NetExtract(net, spec), w)
    x = rng.normal(size=(4, 3))
    want = np.tanh(x @ w.T + b1) @ w.T + b2
    np.testing.assert_allclose(net(x, WorkingPrecision="Real64"), want, rtol=1e-12)


def test_replacing_the_value_through_any_use_changes_every_use():
    rng = np.random.default_rng(1)
    net, _ = tied(rng)
    new = rounded(rng, 3, 3)
    for key in (W, ("l1", "Weights"), ("l2", "Weights")):
        replaced = ng.NetReplacePart(net, {key: new})
        np.testing.assert_array_equal(ng.NetExtract(replaced, ("l1", "Weights")), new)
        np.testing.assert_array_equal(ng.NetExtract(replaced, ("l2", "Weights")), new)
    assert not np.array_equal(ng.NetExtract(net, W), new)  # the original is unchanged


def test_extract_a_shared_array_by_its_placeholder():
    rng = np.random.default_rng(2)
    net, (w, *_) = tied(rng)
    got = ng.NetExtract(net, ng.NetSharedArray("w"))
    np.testing.assert_array_equal(got, w)
    got[:] = 0  # a copy
    np.testing.assert_array_equal(ng.NetExtract(net, W), w)
    open_net = ng.NetChain([ng.LinearLayer(3, Weights=W), ng.LinearLayer(3, Weights=W)], Input=3)
    assert ng.NetExtract(open_net, W) is ng.Automatic
    raises(ng.NetArrayError, lambda: ng.NetExtract(net, ng.NetSharedArray("ww")), "'ww'", '"w"')


def test_the_outermost_container_holds_the_value_and_lends_it_to_extracted_parts():
    rng = np.random.default_rng(3)
    value = rounded(rng, 3, 3)
    inner = ng.NetChain({"a": ng.LinearLayer(3, Weights=W)})
    outer = ng.NetInitialize(
        ng.NetReplacePart(
            ng.NetChain({"x": inner, "y": ng.LinearLayer(3, Weights=W)}, Input=3), {W: value}
        )
    )
    assert [k for k in I(outer, "Arrays") if isinstance(k, ng.NetSharedArray)] == [W]
    part = ng.NetExtract(outer, "x")
    assert part.is_initialized()
    np.testing.assert_array_equal(I(part, "Arrays")[W], value)
    leaf = I(outer, "Layers")[("x", "a")]  # a leaf with its shared value, usable alone
    x = rng.normal(size=3)
    np.testing.assert_allclose(
        leaf(x, WorkingPrecision="Real64"),
        x @ value.T + ng.NetExtract(outer, ("x", "a", "Biases")),
        rtol=1e-12,
    )
    changed = ng.NetReplacePart(outer, {("x", "a", "Weights"): np.eye(3)})
    np.testing.assert_array_equal(ng.NetExtract(changed, ("y", "Weights")), np.eye(3))


def test_a_lone_layer_carries_its_shared_value_into_a_container():
    value = np.arange(6.0).reshape(3, 2)
    lone = ng.NetReplacePart(ng.LinearLayer(3, Weights=W, Input=2), {W: value})
    assert lone != ng.NetReplacePart(lone, {W: value + 1})  # the value is part of the layer
    chain = ng.NetChain([lone, "Ramp"])
    np.testing.assert_array_equal(ng.NetExtract(chain, W), value)
    raises(
        ng.NetArrayError,
        lambda: ng.NetChain([lone, ng.NetReplacePart(lone, {W: value + 1})]),
        "'w'",
        "two different values",
    )


# ------------------------------------------------------------------------------ shapes


def test_one_use_sizes_the_array_for_every_other_use():
    sized = ng.LinearLayer(3, Weights=W, Input=2)
    graph = ng.NetGraph(
        {"l1": sized, "l2": ng.LinearLayer(Weights=W)},
        [(ng.NetPort("p"), "l1"), (ng.NetPort("q"), "l2")],
    )
    assert I(graph, "ArraysDimensions") == {
        W: (3, 2),
        ("l1", "Biases"): (3,),
        ("l2", "Biases"): (3,),
    }
    assert I(graph, "OutputPorts") == {"Output1": (3,), "Output2": (3,)}
    net = ng.NetInitialize(graph)
    x = np.array([1.0, -2.0])
    out = net({"p": x, "q": x})
    np.testing.assert_array_equal(out["Output1"], out["Output2"])  # one W, zero biases
    # through nested containers, in both directions
    for inner, other in [
        (ng.NetChain({"a": sized}), ng.LinearLayer(Weights=W)),
        (ng.NetChain({"a": ng.LinearLayer(Weights=W)}), sized),
    ]:
        nested = ng.NetGraph(
            {"x": inner, "y": other}, [(ng.NetPort("p"), "x"), (ng.NetPort("q"), "y")]
        )
        assert I(nested, "ArraysDimensions")[W] == (3, 2)
        assert I(nested, "OutputPorts") == {"Output1": (3,), "Output2": (3,)}


def test_a_shared_value_sizes_the_layers_that_use_it():
    chain = ng.NetChain([ng.LinearLayer(Weights=W), "Tanh", ng.LinearLayer(Weights=W)], Input=3)
    assert I(chain, "ArraysDimensions")[W] == (None, 3)
    sized = ng.NetReplacePart(chain, {W: np.eye(3)})
    assert I(sized, "ArraysDimensions")[(2, "Biases")] == (3,)
    assert I(sized, "OutputPorts") == {"Output": (3,)}
    raises(
        ng.NetArrayError,
        lambda: ng.NetReplacePart(chain, {W: np.ones((4, 3))}),
        "layer 2",
        "shared array 'w' has shape (4, 3)",
    )


def test_uses_that_disagree_name_both_layers_and_shapes():
    raises(
        ng.NetArrayError,
        lambda: ng.NetChain(
            {
                "x": ng.NetChain({"a": ng.LinearLayer(3, Weights=W)}),
                "y": ng.LinearLayer(4, Weights=W),
            },
            Input=2,
        ),
        "shared array 'w'",
        "LinearLayer y needs shape (4, 3)",
        "LinearLayer x/a has (3, 2)",
    )


# ------------------------------------------------------------------ NetInsertSharedArrays


def test_insert_shared_arrays_names_them_from_their_paths():
    net = ng.NetChain(
        {"block": ng.NetChain([ng.LinearLayer(3), ng.BatchNormalizationLayer()]), "out": 2}, Input=4
    )
    for prefix in ("", "p/"):
        shared = ng.NetInsertSharedArrays(net, prefix) if prefix else ng.NetInsertSharedArrays(net)
        assert list(I(shared, "Arrays")) == [
            ng.NetSharedArray(prefix + "block/0/Weights"),
            ng.NetSharedArray(prefix + "block/0/Biases"),
            ng.NetSharedArray(prefix + "block/1/Scaling"),
            ng.NetSharedArray(prefix + "block/1/Biases"),
            ("block", 1, "MovingMean"),  # moving statistics are never shared
            ("block", 1, "MovingVariance"),
            ng.NetSharedArray(prefix + "out/Weights"),
            ng.NetSharedArray(prefix + "out/Biases"),
        ]
        assert I(shared, "SharedArraysCount") == 6
    assert I(net, "SharedArraysCount") == 0  # the original is unchanged


def test_insert_shared_arrays_keeps_the_values():
    net = ng.NetInitialize(
        ng.NetChain({"lin": ng.LinearLayer(3), "bn": ng.BatchNormalizationLayer()}, Input=2)
    )
    shared = ng.NetInsertSharedArrays(net, "s/")
    for (key, name), value in I(net, "Arrays").items():
        got = ng.NetExtract(shared, (key, name))
        np.testing.assert_array_equal(got, value)
    x = np.random.default_rng(4).normal(size=(3, 2))
    np.testing.assert_array_equal(shared(x), net(x))


def test_moving_statistics_are_never_shared():
    chain = ng.NetChain(
        [ng.BatchNormalizationLayer(), "Tanh", ng.BatchNormalizationLayer()], Input=3
    )
    for name in ("MovingMean", "MovingVariance"):
        raises(
            ng.NetArrayError,
            lambda name=name: ng.NetReplacePart(chain, {(2, name): ng.NetSharedArray("m")}),
            f'"{name}"',
            "cannot be a NetSharedArray",
        )
    bn = ng.NetInsertSharedArrays(ng.BatchNormalizationLayer(), "bn/")
    twice = ng.NetChain([bn, "Tanh", bn], Input=3)
    assert list(I(twice, "Arrays")) == [
        ng.NetSharedArray("bn/Scaling"),
        ng.NetSharedArray("bn/Biases"),
        (0, "MovingMean"),
        (0, "MovingVariance"),
        (2, "MovingMean"),
        (2, "MovingVariance"),
    ]


def test_training_keeps_one_scaling_and_separate_moving_statistics():
    rng = np.random.default_rng(5)
    bn = ng.NetInsertSharedArrays(ng.BatchNormalizationLayer(), "bn/")
    net = ng.NetChain({"a": bn, "lin": ng.LinearLayer(3), "b": bn}, Input=3)
    x = rng.normal(size=(16, 3)) * 3 + 2
    trained = ng.NetTrain(
        net,
        (x, rng.normal(size=(16, 3))),
        MaxTrainingRounds=2,
        BatchSize=8,
        TrainingProgressReporting=None,
        RandomSeeding=1,
    )
    a, b = ng.NetExtract(trained, "a"), ng.NetExtract(trained, "b")
    np.testing.assert_array_equal(ng.NetExtract(a, "Scaling"), ng.NetExtract(b, "Scaling"))
    assert not np.array_equal(ng.NetExtract(a, "Scaling"), np.ones(3))
    assert not np.allclose(ng.NetExtract(a, "MovingMean"), ng.NetExtract(b, "MovingMean"))


# --------------------------------------------------------------------------- gradients


def test_the_gradient_of_a_shared_array_is_the_sum_over_its_uses():
    rng = np.random.default_rng(6)
    net, (w, b1, b2) = tied(rng)
    x, g = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    feed = {"Input": x, ng.NetPortGradient("Output"): g}
    opts = {"WorkingPrecision": "Real64"}
    shared = net(feed, ng.NetPortGradient(W), **opts)
    separate = untied(w, b1, b2)
    per_use = [separate(feed, ng.NetPortGradient((k, "Weights")), **opts) for k in ("l1", "l2")]
    np.testing.assert_allclose(shared, per_use[0] + per_use[1], rtol=1e-12)
    # and by hand: y = tanh(x W' + b1) W' + b2
    z = x @ w.T + b1
    h = np.tanh(z)
    d_z = (g @ w) * (1 - h**2)
    np.testing.assert_allclose(shared, g.T @ h + d_z.T @ x, rtol=1e-10)
    for path in (("l1", "Weights"), ("l2", "Weights")):  # a path to a use names the array
        np.testing.assert_array_equal(net(feed, ng.NetPortGradient(path), **opts), shared)
    everything = net(feed, ng.NetPortGradient(ng.All), **opts)
    assert list(everything) == ["Input", W, ("l1", "Biases"), ("l2", "Biases")]


def test_shared_gradients_match_finite_differences():
    rng = np.random.default_rng(7)
    net, _ = tied(rng)
    checked = check_gradients(net, rng.normal(size=(4, 3)))
    assert W in checked


def test_a_batch_norm_used_twice_sums_its_scaling_gradients_in_train_mode():
    rng = np.random.default_rng(8)
    scaling, biases = rounded(rng, 3), rounded(rng, 3)
    bn = ng.NetInsertSharedArrays(
        ng.NetInitialize(ng.BatchNormalizationLayer(Scaling=scaling, Biases=biases)), "bn/"
    )
    lin = ng.LinearLayer(3, Weights=rounded(rng, 3, 3), Biases=rounded(rng, 3))
    net = ng.NetInitialize(ng.NetChain({"a": bn, "lin": lin, "b": bn}, Input=3))
    x, g = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    feed = {"Input": x, ng.NetPortGradient("Output"): g}
    opts = {"WorkingPrecision": "Real64", "NetEvaluationMode": "Train"}
    plain = ng.NetInitialize(
        ng.NetChain(
            {
                "a": ng.BatchNormalizationLayer(Scaling=scaling, Biases=biases),
                "lin": lin,
                "b": ng.BatchNormalizationLayer(Scaling=scaling, Biases=biases),
            },
            Input=3,
        )
    )
    for name in ("Scaling", "Biases"):
        shared = net(feed, ng.NetPortGradient(ng.NetSharedArray("bn/" + name)), **opts)
        per_use = [plain(feed, ng.NetPortGradient((k, name)), **opts) for k in ("a", "b")]
        np.testing.assert_allclose(shared, per_use[0] + per_use[1], rtol=1e-10, atol=1e-12)
    check_gradients(net, x, mode="Train")


# ------------------------------------------------------------------------ NetInitialize, files


def test_initialize_sets_a_shared_array_once():
    net = ng.NetChain([ng.LinearLayer(3, Weights=W), "Tanh", ng.LinearLayer(3, Weights=W)], Input=3)
    first = ng.NetInitialize(net)
    np.testing.assert_array_equal(
        ng.NetExtract(first, (0, "Weights")), ng.NetExtract(first, (2, "Weights"))
    )
    again = ng.NetInitialize(ng.NetReplacePart(first, {W: np.eye(3)}))
    np.testing.assert_array_equal(ng.NetExtract(again, W), np.eye(3))  # set arrays are kept
    redone = ng.NetInitialize(ng.NetReplacePart(first, {W: np.eye(3)}), ng.All, RandomSeeding=9)
    assert not np.array_equal(ng.NetExtract(redone, W), np.eye(3))


def test_export_import_of_shared_arrays_is_exact(tmp_path):
    rng = np.random.default_rng(9)
    bn = ng.NetInsertSharedArrays(ng.BatchNormalizationLayer(), "bn/")
    inner = ng.NetChain({"a": ng.LinearLayer(3, Weights=W), "bn": bn})
    net = ng.NetInitialize(
        ng.NetChain({"x": inner, "y": ng.LinearLayer(3, Weights=W), "bn2": bn}, Input=3)
    )
    net = ng.NetReplacePart(net, {W: ng.NumericArray(rng.normal(size=(3, 3)), "Real64")})
    path = tmp_path / "shared.safetensors"
    ng.Export(path, net)
    back = ng.Import(path)
    assert back == net
    assert I(back, "SharedArraysCount") == I(net, "SharedArraysCount") == 3
    before, after = I(net, "Arrays"), I(back, "Arrays")
    assert list(after) == list(before)
    for key, value in before.items():
        assert after[key].dtype == value.dtype and after[key].tobytes() == value.tobytes(), key
    assert after[W].dtype == np.float64
    x = rng.normal(size=(4, 3))
    np.testing.assert_array_equal(back(x), net(x))
