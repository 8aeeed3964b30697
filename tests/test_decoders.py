"""NetDecoder: "Class" and "Boolean" decoders on output ports: shapes, evaluation properties,
NetTrain with labels, files, Information. Expected numbers are computed here with numpy."""

from __future__ import annotations

import contextlib
import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from layer_check import raises

import netgraph as ng
from netgraph.manifest import net_from_manifest, net_to_manifest

LABELS = ["cat", "dog", "bird"]
X = np.array([[0.0, 2.0, 0.0], [3.0, 1.0, -1.0], [0.5, 0.5, 2.5], [1.0, 1.0, 1.0]])


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _classifier(decoder=None, **kw):
    """logits = x (identity weights), then softmax; the decoder on the chain's Output."""
    kw = {"Output": decoder, **kw} if decoder is not None else kw
    lin = ng.LinearLayer(Weights=np.eye(3), Biases=np.zeros(3))
    return ng.NetChain({"lin": lin, "probs": ng.SoftmaxLayer()}, Input=3, **kw)


DEC = ng.NetDecoder(("Class", LABELS))


# ------------------------------------------------------------------ the decoder value


def test_both_spellings_are_one_value():
    assert ng.NetDecoder("Class", LABELS) == DEC
    assert hash(ng.NetDecoder("Class", tuple(LABELS))) == hash(DEC)
    assert ng.NetDecoder(("Class", ["cat", "dog"])) != DEC
    assert ng.NetDecoder("Boolean") == ng.NetDecoder("Boolean") != DEC
    assert ng.NetDecoder(("Class", [1, 2])) != ng.NetDecoder(("Class", [1.5, 2]))
    assert DEC.port_shape == (3,) and ng.NetDecoder("Boolean").port_shape is None
    assert "cat" in repr(DEC) and repr(ng.NetDecoder("Boolean")) == 'NetDecoder("Boolean")'


def test_bad_decoders():
    raises(ng.NetOptionError, lambda: ng.NetDecoder(("Clas", LABELS)), '"Class"')
    raises(ng.NetOptionError, lambda: ng.NetDecoder("Class", "cat"), "list of class labels")
    raises(ng.NetOptionError, lambda: ng.NetDecoder("Class", ["only"]), "at least 2")
    raises(ng.NetOptionError, lambda: ng.NetDecoder("Class", [1, 2, True]), "distinct", "True")
    raises(ng.NetOptionError, lambda: ng.NetDecoder("Class", ["a", "a"]), "distinct")
    raises(ng.NetError, lambda: ng.NetDecoder("Class", ["a", None]), "label 1", "NoneType")
    raises(ng.NetError, lambda: ng.NetDecoder("Class", ["a", float("nan")]), "finite")
    raises(ng.NetError, lambda: ng.NetDecoder("Class", ["a", ["b"]]), "label 1")
    raises(ng.NetOptionError, lambda: ng.NetDecoder("Boolean", ["y", "n"]), "no labels")


def test_numpy_labels_become_plain_values():
    dec = ng.NetDecoder("Class", np.array([10, 20, 30]))
    assert dec.labels == (10, 20, 30) and all(type(v) is int for v in dec.labels)


def test_decoder_as_a_function():
    p = np.array([0.2, 0.5, 0.3])
    assert DEC(p) == "dog"
    assert DEC(np.stack([p, p[::-1]])) == ["dog", "dog"]
    assert DEC([0.6, 0.3, 0.1]) == "cat"
    assert DEC(p, ("TopDecisions", 2)) == ["dog", "bird"]
    assert DEC(p, ("Probability", "bird")) == pytest.approx(0.3)
    assert DEC(p, "Entropy") == pytest.approx(-np.sum(p * np.log(p)))
    assert DEC([1.0, 0.0, 0.0], "Entropy") == 0.0  # 0 log 0 is 0
    raises(ng.NetOptionError, lambda: DEC(p, ("Probability", "dgo")), '"dog"')
    raises(ng.NetOptionError, lambda: DEC(p, ("TopProbabilities", 0)), "positive integer")
    raises(ng.NetOptionError, lambda: DEC(p, ("Entropy", 2)), "no argument")


# ------------------------------------------------------------------ shapes


def test_a_class_decoder_fixes_the_port_size():
    net = ng.NetChain([ng.LinearLayer(), ng.SoftmaxLayer()], Input=2, Output=DEC)
    assert ng.Information(net, "OutputPorts") == {"Output": (3,)}
    assert ng.Information(net, "ArraysDimensions")[(0, "Weights")] == (3, 2)
    layer = ng.SoftmaxLayer(Output=DEC)
    assert ng.Information(layer, "InputPorts") == {"Input": (3,)}


def test_a_size_conflict_names_both_and_the_decoder():
    msg = raises(
        ng.NetShapeError,
        lambda: ng.NetChain([ng.LinearLayer(4), ng.SoftmaxLayer()], Output=DEC),
        "(4,)",
        "(3,)",
        "NetDecoder",
    )
    assert '"Output"' in msg
    raises(ng.NetShapeError, lambda: ng.SoftmaxLayer(Input=5, Output=DEC), "(5,)", "(3,)")


def test_decoders_go_on_output_ports_only():
    raises(ng.NetOptionError, lambda: ng.SoftmaxLayer(Input=DEC), '"Input"', "output port")
    raises(
        ng.NetGraphError,
        lambda: ng.NetChain([ng.SoftmaxLayer()], Input=DEC),
        '"Input" is not one',
    )
    raises(
        ng.NetShapeError,
        lambda: ng.NetChain([ng.LinearLayer(3)], Input=2, Output=ng.NetDecoder("Boolean")),
        "(3,)",
        "() or (1,)",
    )


# ------------------------------------------------------------------ evaluation


def test_decision_for_one_example_and_a_batch():
    net = _classifier(DEC)
    expected = [LABELS[i] for i in np.argmax(X, axis=1)]
    assert net(X[0]) == expected[0] == "dog"
    assert net(X) == expected
    assert net(X, "Decision") == expected
    assert net(X.tolist()) == expected


def test_probabilities_and_top_probabilities():
    net = _classifier(DEC)
    p = _softmax(X)
    probs = net(X[1], "Probabilities")
    assert list(probs) == LABELS
    np.testing.assert_allclose([probs[k] for k in LABELS], p[1], rtol=1e-6)
    batch = net(X, "Probabilities")
    assert isinstance(batch, list) and len(batch) == 4
    np.testing.assert_allclose([[d[k] for k in LABELS] for d in batch], p, rtol=1e-6)
    top = net(X[2], ("TopProbabilities", 2))
    order = np.argsort(-p[2])[:2]
    assert [k for k, _ in top] == [LABELS[i] for i in order]
    np.testing.assert_allclose([v for _, v in top], p[2][order], rtol=1e-6)
    assert len(net(X[2], "TopProbabilities")) == 3  # the default 5, capped by the 3 classes
    assert [k for k, _ in net(X[2], "TopProbabilities")] == [LABELS[i] for i in np.argsort(-p[2])]
    np.testing.assert_allclose(net(X, ("Probability", "bird")), p[:, 2], rtol=1e-6)
    np.testing.assert_allclose(net(X, "Entropy"), -(p * np.log(p)).sum(axis=1), rtol=1e-5)


def test_none_skips_the_decoder():
    net = _classifier(DEC)
    raw = net(X, None)
    assert isinstance(raw, np.ndarray)
    np.testing.assert_allclose(raw, _softmax(X), rtol=1e-6)
    np.testing.assert_allclose(_classifier()(X, None), raw, rtol=0)


def test_properties_are_checked_before_the_net_runs():
    net = _classifier(DEC)
    raises(ng.NetOptionError, lambda: net(X, "Probabilites"), '"Probabilities"')
    raises(ng.NetOptionError, lambda: _classifier()(X, "Probabilities"), "NetDecoder", "has none")


def test_a_decoder_on_the_last_layer_decodes_the_chain_and_a_graph_output():
    lin = ng.LinearLayer(Weights=np.eye(3), Biases=np.zeros(3))
    chain = ng.NetChain([lin, ng.SoftmaxLayer(Output=DEC)], Input=3)
    assert chain(X) == [LABELS[i] for i in np.argmax(X, axis=1)]
    graph = ng.NetGraph({"lin": lin, "sm": ng.SoftmaxLayer()}, [("lin", "sm")], Output=DEC)
    assert graph(X[0]) == "dog"
    outer = ng.NetChain({"inner": chain})  # decoders reach through nested containers
    assert outer(X[3], ("TopDecisions", 1)) == ["cat"]  # a tie: the first class


def test_several_outputs_only_the_decoded_one_changes():
    graph = ng.NetGraph(
        {"probs": ng.SoftmaxLayer(Output=DEC), "raw": ng.ElementwiseLayer("Tanh")},
        [
            (ng.NetPort("Input"), "probs"),
            (ng.NetPort("Input"), "raw"),
            ("probs", ng.NetPort("Label")),
            ("raw", ng.NetPort("Values")),
        ],
        Input=3,
    )
    out = graph(X)
    assert out["Label"] == [LABELS[i] for i in np.argmax(X, axis=1)]
    np.testing.assert_allclose(out["Values"], np.tanh(X), rtol=1e-6)


def test_netport_and_gradients_read_numbers_even_on_a_decoded_port():
    net = _classifier(DEC)
    np.testing.assert_allclose(net(X, ng.NetPort("Output")), _softmax(X), rtol=1e-6)
    # d(sum of softmax)/dx is 0: the probabilities always sum to 1
    np.testing.assert_allclose(net(X, ng.NetPortGradient("Input")), 0.0, atol=1e-6)
    weights = ng.NetPortGradient(("lin", "Biases"))
    np.testing.assert_allclose(net(X, weights), _classifier()(X, weights), rtol=0, atol=0)


def _sigmoid_net(shape, decoder=True):
    """p = sigmoid(x0 - x1), on an output of shape () or (1,)."""
    lin = ng.LinearLayer(shape, Weights=[[1.0, -1.0]], Biases=np.zeros(shape))
    kw = {"Output": ng.NetDecoder("Boolean")} if decoder else {}
    return ng.NetChain([lin, ng.ElementwiseLayer("LogisticSigmoid")], Input=2, **kw)


@pytest.mark.parametrize("shape", [(), (1,)])
def test_boolean_decoder(shape):
    net = _sigmoid_net(shape)
    x = np.array([[2.0, 1.0], [0.0, 3.0], [1.0, 1.0]])
    p = 1.0 / (1.0 + np.exp(-(x[:, 0] - x[:, 1])))
    assert net(x) == [True, False, False]  # p = 0.5 exactly is not > 0.5
    assert net(x[0]) is True
    probs = net(x[1], "Probabilities")
    assert list(probs) == [True, False]
    assert probs[True] == pytest.approx(p[1]) and probs[False] == pytest.approx(1 - p[1])
    np.testing.assert_allclose(net(x, ("Probability", False)), 1 - p, rtol=1e-6)


# ------------------------------------------------------------------ training


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    return x, np.argmax(x + 0.3 * rng.normal(size=(n, 3)), axis=1)


def _trained_arrays(net, data, **kw):
    opts = dict(MaxTrainingRounds=3, BatchSize=8, TrainingProgressReporting=None, **kw)
    return ng.Information(ng.NetTrain(net, data, **opts), "Arrays")


def _plain_classifier(decoder=None):
    kw = {"Output": decoder} if decoder is not None else {}
    return ng.NetChain([ng.LinearLayer(3), ng.SoftmaxLayer()], Input=3, **kw)


def _same_arrays(a, b):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_labels_train_exactly_like_class_indices():
    x, idx = _data()
    labels = [LABELS[i] for i in idx]
    given = list(labels)
    by_index = _trained_arrays(_plain_classifier(), {"Input": x, "Output": idx})
    by_label = _trained_arrays(_plain_classifier(DEC), {"Input": x, "Output": labels})
    _same_arrays(by_index, by_label)
    pairs = _trained_arrays(_plain_classifier(DEC), list(zip(x, labels)))
    _same_arrays(by_index, pairs)
    tupled = _trained_arrays(_plain_classifier(DEC), (x, labels))
    _same_arrays(by_index, tupled)
    assert labels == given  # the caller's list is only read


def test_training_learns_and_keeps_the_decoder():
    x, idx = _data(200)
    labels = [LABELS[i] for i in idx]
    net = ng.NetTrain(
        _plain_classifier(DEC),
        {"Input": x, "Output": labels},
        MaxTrainingRounds=60,
        LearningRate=0.05,
        TrainingProgressReporting=None,
        ValidationSet=(x[:20], labels[:20]),
    )
    assert ng.Information(net, "OutputPortDecoders") == {"Output": DEC}
    predicted = net(x)
    accuracy = np.mean([a == b for a, b in zip(predicted, labels)])
    assert accuracy > 0.8  # the classes are argmax(x) up to noise: nearly linear


def test_integer_labels_are_labels_not_indices():
    dec = ng.NetDecoder(("Class", [10, 20, 30]))
    x, idx = _data()
    by_index = _trained_arrays(_plain_classifier(), {"Input": x, "Output": idx})
    by_label = _trained_arrays(
        _plain_classifier(dec), {"Input": x, "Output": [10 * (i + 1) for i in idx]}
    )
    _same_arrays(by_index, by_label)
    raises(
        ng.NetDataError,
        lambda: _trained_arrays(_plain_classifier(dec), {"Input": x, "Output": list(idx)}),
        "example 0",
        repr(int(idx[0])),
    )


def test_an_unknown_label_names_it_and_its_position():
    x, idx = _data(6)
    labels = [LABELS[i] for i in idx]
    labels[4] = "dgo"
    raises(
        ng.NetDataError,
        lambda: ng.NetTrain(_plain_classifier(DEC), {"Input": x, "Output": labels}),
        "example 4",
        "'dgo'",
        '"dog"',
    )
    raises(
        ng.NetDataError,
        lambda: ng.NetTrain(_plain_classifier(DEC), (x, [True] * 6)),
        "example 0",
        "True",
    )


@pytest.mark.parametrize("shape", [(), (1,)])
def test_booleans_train_exactly_like_binary_targets(shape):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(30, 2))
    truth = x[:, 0] > x[:, 1]
    numbers = truth.astype(float).reshape(-1, *shape)
    plain = _trained_arrays(_sigmoid_net(shape, decoder=False), {"Input": x, "Output": numbers})
    decoded = _trained_arrays(_sigmoid_net(shape), {"Input": x, "Output": list(truth)})
    _same_arrays(plain, decoded)
    raises(
        ng.NetDataError,
        lambda: ng.NetTrain(_sigmoid_net(shape), (x, ["yes"] * 30)),
        "example 0",
        "True/False",
    )


# ------------------------------------------------------------------ values, files, Information


def test_edits_keep_the_decoder_and_equality_sees_it():
    net = _classifier(DEC)
    assert net != _classifier()
    replaced = ng.NetReplacePart(net, ("lin", "Biases"), [0.0, 0.0, 5.0])
    assert ng.NetExtract(replaced, "Output") == DEC
    assert replaced(X[0]) == "bird"
    other = ng.NetDecoder(("Class", ["x", "y", "z"]))
    swapped = ng.NetReplacePart(net, "Output", other)
    assert swapped(X[0]) == "y"
    plain = ng.NetReplacePart(net, "Output", 3)  # a shape replaces the decoder
    assert ng.Information(plain, "OutputPortDecoders") == {}
    assert isinstance(plain(X[0]), np.ndarray)


def test_export_import_round_trip(tmp_path):
    nested = ng.NetChain(
        {
            "block": _classifier(),
            "sm": ng.SoftmaxLayer(Output=ng.NetDecoder(("Class", [1, 2.5, "x"]))),
        }
    )
    boolean = ng.NetInitialize(_sigmoid_net((1,)))
    for i, net in enumerate([ng.NetInitialize(_classifier(DEC)), nested, boolean]):
        path = tmp_path / f"net{i}.safetensors"
        ng.Export(path, net)
        back = ng.Import(path)
        assert back == net
        assert ng.Information(back, "OutputPortDecoders") == ng.Information(
            net, "OutputPortDecoders"
        )
        x = X[:, :2] if net is boolean else X
        assert back(x) == net(x)


def _manifest_with(change):
    manifest, tensors = net_to_manifest(ng.NetInitialize(_classifier(DEC)))
    manifest = copy.deepcopy(manifest)
    change(manifest["net"]["decoders"]["Output"])
    return lambda: net_from_manifest(manifest, tensors)


def test_decoders_in_files_are_validated():
    manifest, tensors = net_to_manifest(ng.NetInitialize(_classifier(DEC)))
    assert manifest["net"]["decoders"] == {"Output": {"type": "Class", "labels": LABELS}}
    assert net_from_manifest(manifest, tensors)(X[0]) == "dog"
    cases = [
        (lambda d: d.update(labels=["a", {"tuple": []}, "c"]), "labels[1]"),
        (lambda d: d.update(labels=["a", ["b"], "c"]), "labels[1]"),
        (lambda d: d.update(labels=["a", "a", "c"]), "distinct"),
        (lambda d: d.update(labels="abc"), "a list of class labels"),
        (lambda d: d.update(type="Pickle"), '"Class" or "Boolean"'),
        (lambda d: d.update(labels=["a", "b", "c", "d"]), "(4,)"),
        (lambda d: d.update(code="print(1)"), 'unknown key "code"'),
        (lambda d: d.update(type="Boolean"), "null for a Boolean decoder"),
    ]
    for change, words in cases:
        raises(ng.NetLoadError, _manifest_with(change), words)


def test_nets_without_decoders_write_no_decoder_key():
    manifest, _ = net_to_manifest(_classifier())
    assert "decoders" not in manifest["net"]
    assert all("decoders" not in layer for _, layer in manifest["net"]["layers"])


def test_information_shows_the_decoder():
    net = _classifier(DEC)
    assert ng.Information(net, "OutputPortDecoders") == {"Output": DEC}
    text = str(ng.Information(net))
    assert "Outputs: Output (3,) NetDecoder((\"Class\", ['cat', 'dog', 'bird']))" in text
    assert ng.Information(_classifier(), "OutputPortDecoders") == {}


def test_onnx_export_leaves_the_decoder_out(tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    net = ng.NetInitialize(_classifier(DEC))
    path = tmp_path / "m.onnx"
    ng.Export(path, net)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    (out,) = session.run(None, {name: X.astype(np.float32)})
    np.testing.assert_allclose(out, _softmax(X), rtol=1e-5)


# ------------------------------------------------------------------ wrong values: NetErrors only

WRONG = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 5),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.lists(st.one_of(st.text(max_size=3), st.integers(-2, 2), st.none()), max_size=4),
    st.tuples(
        st.sampled_from(["Class", "Boolean", "TopProbabilities", "Probability"]), st.integers(-2, 4)
    ),
)


@settings(max_examples=80, deadline=None, derandomize=True)
@given(spec=WRONG, labels=WRONG, prop=WRONG)
def test_wrong_values_raise_net_errors_only(spec, labels, prop):
    with contextlib.suppress(ng.NetError):
        ng.NetDecoder(spec, labels)
    with contextlib.suppress(ng.NetError):
        ng.NetDecoder(spec)
    with contextlib.suppress(ng.NetError):
        _classifier(DEC)(X[0], prop)
    with contextlib.suppress(ng.NetError):
        DEC.encode(labels, "Output", "training data")
    with contextlib.suppress(ng.NetError):
        ng.NetDecoder("Boolean").encode(labels, "Output", "training data")


def test_the_command_line_eval_writes_the_numbers(tmp_path):
    from netgraph import cli

    path = tmp_path / "clf.safetensors"
    ng.Export(path, _classifier(DEC))
    np.save(tmp_path / "x.npy", X)
    out = tmp_path / "y.npy"
    assert cli.main(["eval", str(path), str(tmp_path / "x.npy"), "--output", str(out)]) == 0
    np.testing.assert_allclose(np.load(out), _softmax(X), rtol=1e-5)


def test_class_indices_where_labels_are_due_get_the_label_they_stand_for():
    net = ng.NetChain(
        [ng.LinearLayer(3), ng.SoftmaxLayer()],
        Input=2,
        Output=ng.NetDecoder(("Class", ["lo", "mid", "hi"])),
    )
    x = np.zeros((4, 2), np.float32)
    with pytest.raises(ng.NetDataError, match="for class index 2, give 'hi'"):
        ng.NetTrain(net, (x, [2, 0, 1, 1]), MaxTrainingRounds=1, BatchSize=4)
    with pytest.raises(ng.NetDataError, match='Did you mean "mid"'):
        ng.NetTrain(net, (x, ["mdi", "lo", "hi", "lo"]), MaxTrainingRounds=1, BatchSize=4)
