"""NetTrain data: the accepted forms, validation before training, the caller's data and net left
alone, and the automatically attached loss (checked through the first batch's loss, computed
here by hand)."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from training_check import QUIET, arrays, assert_same_arrays

import netgraph as ng

RNG = np.random.default_rng(20240601)
X = RNG.normal(size=(12, 3))
Y = RNG.normal(size=(12, 2))
ONE_ROUND = {**QUIET, "MaxTrainingRounds": 1, "BatchSize": 4, "RandomSeeding": 5}


def linear_chain() -> ng.NetChain:
    return ng.NetChain([ng.LinearLayer(2)], Input=3)


def softmax_chain() -> ng.NetChain:
    return ng.NetChain([ng.LinearLayer(3), ng.SoftmaxLayer()], Input=3)


# ----------------------------------------------------------------------------- data forms


def test_tuple_dict_and_pairs_train_the_same_net():
    options = {**QUIET, "MaxTrainingRounds": 3, "BatchSize": 5, "RandomSeeding": 11}
    from_tuple = ng.NetTrain(linear_chain(), (X, Y), **options)
    from_dict = ng.NetTrain(linear_chain(), {"Input": X, "Output": Y}, **options)
    from_pairs = ng.NetTrain(linear_chain(), [(x, y) for x, y in zip(X, Y)], **options)
    from_lists = ng.NetTrain(linear_chain(), (X.tolist(), Y.tolist()), **options)
    assert_same_arrays(from_tuple, from_dict)
    assert_same_arrays(from_tuple, from_pairs)
    assert_same_arrays(from_tuple, from_lists)
    assert from_tuple == from_dict
    # and training did something
    assert not np.array_equal(
        arrays(from_tuple)[(0, "Weights")],
        arrays(ng.NetInitialize(linear_chain(), RandomSeeding=11))[(0, "Weights")],
    )


def test_numeric_array_and_integer_inputs():
    na = ng.NumericArray(X, "Real64")
    a = ng.NetTrain(linear_chain(), (na, Y), **ONE_ROUND)
    b = ng.NetTrain(linear_chain(), (X, Y), **ONE_ROUND)
    assert_same_arrays(a, b)
    ints = RNG.integers(-3, 4, size=(12, 3))
    c = ng.NetTrain(linear_chain(), (ints, Y), **ONE_ROUND)
    d = ng.NetTrain(linear_chain(), (ints.astype(float), Y), **ONE_ROUND)
    assert_same_arrays(c, d)


# ------------------------------------------------------------------------ data validation


def _nan_at(a, index, value=np.nan):
    a = a.copy()
    a[index] = value
    return a


BAD_DATA = [
    ("empty tuple", lambda: ([], []), ["empty"]),
    ("empty arrays", lambda: (X[:0], Y[:0]), ["empty", "'Input'"]),
    ("empty list", lambda: [], ["empty"]),
    ("empty dict", lambda: {}, ["no data", "'Input'", "'Output'"]),
    ("nan input", lambda: (_nan_at(X, (7, 1)), Y), ["example 7", "'Input'", "NaN"]),
    ("inf target", lambda: (X, _nan_at(Y, (9, 0), -np.inf)), ["example 9", "'Output'"]),
    ("string", lambda: (["a"] * 12, Y), ["example 0", "'Input'", "str"]),
    ("None", lambda: ([X[0], None] + list(X[2:]), Y), ["example 1", "'Input'", "None"]),
    ("None inside", lambda: ([[1.0, None, 2.0]] * 12, Y), ["'Input'"]),
    ("object array", lambda: (np.array([object()] * 12), Y), ["'Input'", "object"]),
    ("ragged", lambda: ([[1.0, 2.0, 3.0]] * 5 + [[1.0, 2.0]] * 7, Y), ["ragged", "'Input'"]),
    ("complex input", lambda: (X + 1j, Y), ["complex", "'Input'"]),
    ("complex target", lambda: (X, Y.astype(complex)), ["complex", "'Output'"]),
    ("wrong type", lambda: "data", ["str"]),
    ("unknown port", lambda: {"Inptu": X, "Output": Y}, ["'Inptu'", "Input", "Output"]),
    ("target port", lambda: {"Input": X, "Target": Y}, ["'Target'", "Input", "Output"]),
    ("target shape", lambda: (X, Y[:, :1]), ["'Output'", "(1,)", "(2,)", "MeanSquared"]),
    ("input shape", lambda: (X[:, :2], Y), ["Input"]),
]


@pytest.mark.parametrize("name, make, fragments", BAD_DATA, ids=[c[0] for c in BAD_DATA])
def test_bad_training_data_raises_before_training(name, make, fragments, tmp_path):
    calls = []
    with pytest.raises(ng.NetDataError) as info:
        ng.NetTrain(
            linear_chain(),
            make(),
            TrainingProgressFunction=calls.append,
            TrainingProgressCheckpointing=("Directory", tmp_path / "ck"),
            **ONE_ROUND,
        )
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))
    assert calls == [] and not (tmp_path / "ck").exists()


def test_count_mismatch_names_both_counts():
    x = RNG.normal(size=(100, 3))
    y = RNG.normal(size=(99, 2))
    with pytest.raises(ng.NetDataError, match=r"Input: 100.*Output: 99"):
        ng.NetTrain(linear_chain(), (x, y), **ONE_ROUND)
    with pytest.raises(ng.NetDataError, match=r"100.*99"):
        ng.NetTrain(linear_chain(), {"Input": x, "Output": y}, **ONE_ROUND)


def test_ragged_list_names_the_first_odd_example():
    rows = [[1.0, 2.0, 3.0]] * 5 + [[1.0, 2.0]] + [[1.0, 2.0, 3.0]] * 6
    with pytest.raises(ng.NetDataError, match=r"example 5 .*'Input'"):
        ng.NetTrain(linear_chain(), (rows, Y), **ONE_ROUND)


BAD_VALIDATION = [
    ("empty", lambda: (X[:0], Y[:0]), ["validation", "empty"]),
    ("empty list", lambda: [], ["validation", "empty"]),
    ("count", lambda: (X[:4], Y[:3]), ["validation", "4", "3"]),
    ("nan", lambda: (_nan_at(X[:4], (2, 0)), Y[:4]), ["validation", "example 2", "'Input'"]),
    ("shape", lambda: (X[:4], Y[:4, :1]), ["validation", "'Output'"]),
    ("input shape", lambda: (X[:4, :2], Y[:4]), ["validation", "'Input'", "(2,)", "(3,)"]),
]


@pytest.mark.parametrize(
    "name, make, fragments", BAD_VALIDATION, ids=[c[0] for c in BAD_VALIDATION]
)
def test_bad_validation_data(name, make, fragments):
    calls = []
    with pytest.raises(ng.NetDataError) as info:
        ng.NetTrain(
            linear_chain(),
            (X, Y),
            ValidationSet=make(),
            TrainingProgressFunction=calls.append,
            **ONE_ROUND,
        )
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))
    assert calls == []


CLASSES = RNG.integers(0, 3, size=12)


@pytest.mark.parametrize(
    "targets, fragments",
    [
        (np.where(CLASSES == 0, 3, CLASSES), ["class index", "3", "0..2"]),
        (np.where(CLASSES == 0, -1, CLASSES), ["class index", "-1"]),
        (CLASSES + 0.5, ["not a class index", ".5"]),
        (np.full(12, 0.5), ["example 0", "not a class index", "0.5"]),
    ],
    ids=["too large", "negative", "fractions", "halves"],
)
@pytest.mark.parametrize("loss", [ng.Automatic, ng.CrossEntropyLossLayer("Index")])
def test_class_targets_are_checked(targets, fragments, loss):
    with pytest.raises(ng.NetDataError) as info:
        ng.NetTrain(softmax_chain(), (X, targets), LossFunction=loss, **ONE_ROUND)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert "'Output'" in message and "CrossEntropyLossLayer" in message
    assert "np." not in message  # plain numbers, not numpy reprs
    first_bad = int(np.flatnonzero((targets != CLASSES) | (targets == 0.5))[0])
    assert f"example {first_bad} " in message


def _with(a, index, value):
    a = a.copy()
    a[index] = value
    return a


@pytest.mark.parametrize(
    "layers, targets, fragments",
    [
        (
            [ng.LinearLayer(1), ng.ElementwiseLayer("LogisticSigmoid")],
            _with(np.full((12, 1), 0.25), (4, 0), 2.0),
            ["example 4", "2.0", "'Binary'", "[0, 1]"],
        ),
        (
            [ng.LinearLayer(3), ng.SoftmaxLayer()],
            _with(np.full((12, 3), 1 / 3), (6, 1), -0.1),
            ["example 6", "-0.1", "'Probabilities'", "[0, 1]"],
        ),
    ],
    ids=["binary", "probabilities"],
)
def test_probability_targets_must_be_probabilities(layers, targets, fragments):
    with pytest.raises(ng.NetDataError) as info:
        ng.NetTrain(ng.NetChain(layers, Input=3), (X, targets), **ONE_ROUND)
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))


# ----------------------------------------------------------- the caller's data and net stay


def test_callers_arrays_and_net_are_untouched():
    x = X.copy()
    y = Y.copy()
    x.setflags(write=False)
    y.setflags(write=False)
    net = ng.NetInitialize(linear_chain(), RandomSeeding=3)
    twin = ng.NetInitialize(linear_chain(), RandomSeeding=3)
    before = arrays(net)
    for precision in ("Real32", "Real64"):
        trained = ng.NetTrain(
            net, (x, y), WorkingPrecision=precision, ValidationSet=(x[:3], y[:3]), **ONE_ROUND
        )
        assert not np.array_equal(arrays(trained)[(0, "Weights")], before[(0, "Weights")])
    np.testing.assert_array_equal(x, X)
    np.testing.assert_array_equal(y, Y)
    assert net == twin
    assert_same_arrays(net, twin)
    for key, value in arrays(net).items():
        np.testing.assert_array_equal(value, before[key])


def test_uninitialized_callers_net_stays_uninitialized():
    net = linear_chain()
    ng.NetTrain(net, (X, Y), **ONE_ROUND)
    assert ng.NetExtract(net, (0, "Weights")) is ng.Automatic
    assert net == linear_chain()


# ------------------------------------------------------------------------ loss attachment
# With BatchSize = n there is one batch, so the first batch loss is the mean loss of the
# initialized net over all examples: the loss that was attached shows in its value.


def _first_loss(net, data, **options) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = ng.NetTrain(
            net,
            data,
            "All",
            MaxTrainingRounds=1,
            BatchSize=len(X),
            WorkingPrecision="Real64",
            **QUIET,
            **options,
        )
    return results["BatchLossList"][0]


def _initialized(layers, seed=1) -> tuple[ng.NetChain, np.ndarray, np.ndarray]:
    net = ng.NetInitialize(ng.NetChain(layers, Input=3), RandomSeeding=seed)
    a = arrays(net)
    return net, a[(0, "Weights")].astype(float), a[(0, "Biases")].astype(float)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_automatic_loss_after_softmax_with_class_indices_is_index_cross_entropy():
    net, w, b = _initialized([ng.LinearLayer(3), ng.SoftmaxLayer()])
    p = _softmax(X @ w.T + b)
    expected = np.mean(-np.log(p[np.arange(len(X)), CLASSES]))
    np.testing.assert_allclose(_first_loss(net, (X, CLASSES)), expected, rtol=1e-12)
    # integral floats are class indices too
    np.testing.assert_allclose(_first_loss(net, (X, CLASSES * 1.0)), expected, rtol=1e-12)


def test_automatic_loss_after_softmax_with_probability_vectors():
    net, w, b = _initialized([ng.LinearLayer(3), ng.SoftmaxLayer()])
    t = _softmax(RNG.normal(size=(12, 3)))
    p = _softmax(X @ w.T + b)
    expected = np.mean(-(t * np.log(p)).sum(axis=1))
    np.testing.assert_allclose(_first_loss(net, (X, t)), expected, rtol=1e-12)


def test_automatic_loss_after_logistic_sigmoid_is_binary_cross_entropy():
    net, w, b = _initialized([ng.LinearLayer(2), ng.ElementwiseLayer("LogisticSigmoid")])
    t = (RNG.random(size=(12, 2)) > 0.5).astype(float)
    p = 1 / (1 + np.exp(-(X @ w.T + b)))
    expected = np.mean(-(t * np.log(p) + (1 - t) * np.log(1 - p)))
    np.testing.assert_allclose(_first_loss(net, (X, t)), expected, rtol=1e-12)


@pytest.mark.parametrize("last", [None, "Tanh"])
def test_automatic_loss_otherwise_is_mean_squared(last):
    layers = [ng.LinearLayer(2)] + ([last] if last else [])
    net, w, b = _initialized(layers)
    z = X @ w.T + b
    out = np.tanh(z) if last else z
    expected = np.mean((out - Y) ** 2)
    np.testing.assert_allclose(_first_loss(net, (X, Y)), expected, rtol=1e-12)


def test_explicit_loss_layer_replaces_the_automatic_one():
    net, w, b = _initialized([ng.LinearLayer(3), ng.SoftmaxLayer()])
    p = _softmax(X @ w.T + b)
    onehot = np.eye(3)[CLASSES]
    expected = np.mean(((p - onehot) ** 2).mean(axis=1))
    got = _first_loss(net, (X, onehot), LossFunction=ng.MeanSquaredLossLayer())
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_net_that_ends_in_a_loss_layer_trains_as_it_is():
    net, w, b = _initialized([ng.LinearLayer(2), ng.MeanSquaredLossLayer()])
    assert [p.name for p in net.input_ports] == ["Input", "Target"]
    expected = np.mean(((X @ w.T + b - Y) ** 2).mean(axis=1))
    got = _first_loss(net, {"Input": X, "Target": Y})
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_loss_function_naming_an_output_port():
    graph = ng.NetGraph(
        {"lin": ng.LinearLayer(2), "mse": ng.MeanSquaredLossLayer()},
        [("lin", ng.NetPort("Prediction")), ("lin", ng.NetPort("mse", "Input"))],
        Input=3,
    )
    net = ng.NetInitialize(graph, RandomSeeding=2)
    a = arrays(net)
    w, b = a[("lin", "Weights")].astype(float), a[("lin", "Biases")].astype(float)
    expected = np.mean(((X @ w.T + b - Y) ** 2).mean(axis=1))
    got = _first_loss(net, {"Input": X, "Target": Y}, LossFunction="Loss")
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    with pytest.raises(ng.NetOptionError, match="Loss"):
        ng.NetTrain(net, {"Input": X, "Target": Y}, LossFunction="Los", **ONE_ROUND)


def test_bad_loss_function():
    with pytest.raises(ng.NetOptionError, match="loss layer"):
        ng.NetTrain(linear_chain(), (X, Y), LossFunction=ng.LinearLayer(2), **ONE_ROUND)
    with pytest.raises(ng.NetOptionError, match="LossFunction"):
        ng.NetTrain(linear_chain(), (X, Y), LossFunction=3, **ONE_ROUND)


def test_error_messages_are_single_line_and_name_the_data():
    with pytest.raises(ng.NetDataError) as info:
        ng.NetTrain(linear_chain(), (_nan_at(X, (3, 2)), Y), **ONE_ROUND)
    assert re.search(r"training data: example 3 of port 'Input'", str(info.value))


def test_an_output_port_called_loss_takes_its_targets():
    def graph(port):
        return ng.NetGraph(
            {"a": ng.LinearLayer(2)}, [(ng.NetPort("Input"), "a", ng.NetPort(port))], Input=3
        )

    options = {**QUIET, "MaxTrainingRounds": 2, "BatchSize": 4, "RandomSeeding": 1}
    named_loss = ng.NetTrain(graph("Loss"), {"Input": X, "Loss": Y}, "All", **options)
    named_output = ng.NetTrain(graph("Output"), {"Input": X, "Output": Y}, "All", **options)
    assert named_loss["BatchLossList"] == named_output["BatchLossList"]
