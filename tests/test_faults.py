"""The 30 bad-input and fault cases (reference/peers-pitfalls-and-faults.md §5), one test each.

Every test checks three things: the exact error type, the essential words of the message (the
layer, port or array named, what was expected, what was received, the hint), and that nothing
the caller gave was changed: nets (their value and the bytes of every array), arrays (passed
read-only, compared with copies) and files (their bytes). Where API.md decides differently
from the table, the test follows API.md and says so.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import pathlib
import pickle
import re
import warnings

import numpy as np
import pytest
from layer_check import unwritable_folder

import netgraph as ng
from netgraph import files
from netgraph._safefile import read_tensors, write_tensors

RNG = np.random.default_rng(7)
QUIET = {"TrainingProgressReporting": None}


# ------------------------------------------------------------------------------ helpers


def raises(error: type, call, *words: str) -> str:
    """Run `call`; it must raise exactly `error` whose message holds every one of `words`."""
    with pytest.raises(ng.NetError) as info:
        call()
    assert type(info.value) is error, f"{type(info.value).__name__}: {info.value}"
    message = str(info.value)
    for word in words:
        assert word in message, (word, message)
    return message


def _state(thing) -> object:
    if isinstance(thing, ng.Layer):
        arrays = ng.Information(thing, "Arrays")
        return (
            repr(thing),
            ng.Information(thing, "InputPorts"),
            ng.Information(thing, "OutputPorts"),
            {
                k: v if v is ng.Automatic else (v.dtype.str, v.shape, v.tobytes())
                for k, v in arrays.items()
            },
        )
    if isinstance(thing, np.ndarray):
        return (thing.dtype.str, thing.shape, thing.tobytes(), thing.flags.writeable)
    if isinstance(thing, pathlib.Path):
        if thing.is_dir():
            return sorted((p.name, _state(p)) for p in thing.iterdir())
        return thing.read_bytes() if thing.exists() else None
    if isinstance(thing, (list, tuple)):
        return [_state(t) for t in thing]
    if isinstance(thing, dict):
        return {k: _state(v) for k, v in thing.items()}
    return repr(thing)


@contextlib.contextmanager
def untouched(*things):
    """Nets, arrays, files and folders given to the block are the same afterwards."""
    before = [_state(t) for t in things]
    yield
    assert [_state(t) for t in things] == before


def read_only(*arrays: np.ndarray):
    for a in arrays:
        a.setflags(write=False)
    return arrays if len(arrays) > 1 else arrays[0]


def train(net, data, **options):
    options = {**QUIET, "MaxTrainingRounds": 1, **options}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ng.NetTrain(net, data, **options)


def conv_net() -> ng.Layer:
    return ng.NetInitialize(ng.ConvolutionLayer(4, 3, Input=(1, 8, 8)))


def bn3() -> ng.Layer:
    return ng.NetInitialize(ng.BatchNormalizationLayer(Input=3))


def small_chain() -> ng.Layer:
    return ng.NetChain(
        {
            "lin": ng.LinearLayer(4),
            "bn": ng.BatchNormalizationLayer(),
            "act": "Tanh",
            "out": ng.LinearLayer(2),
        },
        Input=3,
    )


def regression_data(n: int = 24):
    x = RNG.normal(size=(n, 3))
    return read_only(x, x[:, :2] * 2.0 + 1.0)


# ------------------------------------------------------------------- 1-3: shapes


@pytest.mark.parametrize("shape", [(), (8,), (8, 8), (2, 2, 1, 8, 8), (1, 1, 1, 1, 8, 8)])
def test_case01_wrong_input_rank_names_port_expected_and_received_rank(shape):
    net = conv_net()
    x = read_only(np.ones(shape))
    with untouched(net, x):
        message = raises(
            ng.NetShapeError,
            lambda: net(x),
            "ConvolutionLayer",
            'port "Input"',
            "rank 3",
            "(1, 8, 8)",
            f"got rank {len(shape)}",
            str(shape),
        )
    if len(shape) == 2:  # (28, 28)-style: the channel axis is missing
        assert "channel dimension" in message
    assert net == conv_net()


def test_case01_a_conv_known_only_from_its_weights_reports_the_missing_channel_axis():
    conv = ng.ConvolutionLayer(4, 3, Weights=np.ones((4, 1, 3, 3)), Biases=np.zeros(4))
    raises(ng.NetShapeError, lambda: conv(np.ones((28, 28))), "rank 3", "(28, 28)", "channel")


def test_case02_channel_count_differs_from_the_arrays_at_evaluation():
    made = ng.BatchNormalizationLayer(
        Scaling=[1, 2, 3], Biases=[0, 0, 0], MovingMean=[0, 0, 0], MovingVariance=[1, 1, 1]
    )
    for net, x in [(bn3(), np.ones((5, 4))), (made, np.ones((5, 4))), (made, np.ones((5, 4, 2)))]:
        x = read_only(x)
        with untouched(net, x):
            raises(ng.NetShapeError, lambda net=net, x=x: net(x), '"Scaling" (3,)', "4 vs 3")


def test_case02_channel_count_differs_at_net_train_start_before_any_update(tmp_path):
    """API.md groups every data problem found at NetTrain start as NetDataError (as in case
    21); the message names the port and both shapes."""
    net = bn3()
    x = read_only(np.ones((6, 4)))
    calls = []
    with untouched(net, x, tmp_path):
        raises(
            ng.NetDataError,
            lambda: train(
                net,
                (x, x),
                TrainingProgressFunction=calls.append,
                TrainingProgressCheckpointing=("Directory", tmp_path / "ck"),
            ),
            "'Input'",
            "(4,)",
            "(3,)",
        )
    assert calls == []


def test_case03_edge_shape_mismatch_fails_at_construction_naming_both_ends():
    layers = {"conv1": ng.ConvolutionLayer(16, 3, Input=(1, 28, 28)), "lin": ng.LinearLayer(10)}
    layers["lin"] = ng.LinearLayer(10, Input=100)
    words = ["'conv1'", '"Output"', "(16, 26, 26)", "'lin'", '"Input"', "(100,)", "FlattenLayer"]
    raises(ng.NetShapeError, lambda: ng.NetGraph(layers, [("conv1", "lin")]), *words)
    raises(ng.NetShapeError, lambda: ng.NetChain(layers), *words)


# -------------------------------------------------------------------- 4-6: graphs


def test_case04_a_cycle_is_listed():
    layers = {"conv": ng.LinearLayer(3), "bn": ng.BatchNormalizationLayer(), "relu": "Ramp"}
    raises(
        ng.NetGraphError,
        lambda: ng.NetGraph(layers, [("conv", "bn", "relu", "conv")]),
        "acyclic",
        "'conv' -> 'bn'",  # the cycle, from whichever layer it is found at
        "'bn' -> 'relu'",
        "'relu' -> 'conv'",
    )
    raises(
        ng.NetGraphError,
        lambda: ng.NetGraph({"a": ng.LinearLayer(3)}, [("a", "a")]),
        "'a' -> 'a'",
    )


def test_case05_unknown_layer_or_port_suggests_the_valid_name():
    layers = {"conv1": ng.LinearLayer(3), "lin": ng.LinearLayer(3)}
    raises(
        ng.NetGraphError,
        lambda: ng.NetGraph(layers, [("conv2", "lin")]),
        "'conv2'",
        'Did you mean "conv1"?',
    )
    raises(
        ng.NetGraphError,
        lambda: ng.NetGraph(layers, [(ng.NetPort("conv1", "Output2"), "lin")]),
        "'conv1'",
        "'Output2'",
        'Did you mean "Output"?',
    )
    raises(
        ng.NetGraphError,
        lambda: ng.NetGraph(layers, [("conv1", ng.NetPort("lin", "Inptu"))]),
        "'lin'",
        "'Inptu'",
        'Did you mean "Input"?',
    )
    raises(ng.NetGraphError, lambda: ng.NetExtract(ng.NetChain(layers), "conv2"), '"conv1"')


def test_case06_two_producers_on_one_port_and_unconnected_inputs():
    """Duplicate layer names cannot be written: layers come as a dict (unique keys) or a list
    (positions). Two producers on a one-input port are an error; an unconnected input becomes
    a port of the graph, as in Wolfram."""
    layers = {"a": ng.LinearLayer(3), "b": ng.LinearLayer(3), "c": ng.LinearLayer(3)}
    raises(
        ng.NetGraphError,
        lambda: ng.NetGraph(layers, [("a", "c"), ("b", "c")]),
        "'Input'",
        "'c'",
        "'a' and 'b'",
        "CatenateLayer",
    )
    raises(
        ng.NetGraphError,
        lambda: ng.NetGraph(layers, [("a", ng.NetPort("Out")), ("b", ng.NetPort("Out"))]),
        "NetPort('Out')",
        "'a' and 'b'",
    )
    raises(
        ng.NetGraphError,
        lambda: ng.NetGraph({"a": ng.LinearLayer(3), 1: ng.LinearLayer(3)}, []),
        "layer names must be strings",
    )
    graph = ng.NetGraph(layers, [("a", "c")], Input=2)
    assert ng.Information(graph, "InputPorts") == {"Input": (2,)}
    assert set(ng.Information(graph, "OutputPorts")) == {"Output1", "Output2"}


# ------------------------------------------------------------------- 7-9: options


@pytest.mark.parametrize(
    "value, words",
    [
        (0, ["greater than 0", "got 0"]),
        (-1e-3, ["greater than 0", "got -0.001"]),
        (float("nan"), ["finite", "got nan"]),
        (float("inf"), ["finite", "got inf"]),
        ("abc", ["number", "got 'abc'"]),
        ("1e-3", ["number", "got '1e-3'"]),
    ],
)
def test_case07_bad_epsilon(value, words):
    raises(
        ng.NetOptionError,
        lambda: ng.BatchNormalizationLayer(Epsilon=value),
        "BatchNormalizationLayer",
        'option "Epsilon"',
        *words,
    )
    net = bn3()
    with untouched(net):
        raises(ng.NetOptionError, lambda: ng.NetReplacePart(net, {"Epsilon": value}), *words)


def test_case08_momentum_bounds():
    for value, words in [(-0.1, ["greater than or equal to 0"]), (1.5, ["less than or equal"])]:
        raises(
            ng.NetOptionError,
            lambda value=value: ng.BatchNormalizationLayer(Momentum=value),
            'option "Momentum"',
            f"got {value}",
            *words,
        )
    for value in (0, 1, 0.0, 1.0):
        assert ng.NetExtract(ng.BatchNormalizationLayer(Momentum=value), "Momentum") == value


def test_case09_misspelt_option_suggests_the_right_name():
    for name in ("Epsilion", "epsilion"):
        raises(
            ng.NetOptionError,
            lambda name=name: ng.BatchNormalizationLayer(**{name: 0.1}),
            f'unknown option "{name}"',
            'Did you mean "Epsilon"?',
        )
    net = bn3()
    with untouched(net):
        raises(
            ng.NetOptionError,
            lambda: ng.NetReplacePart(net, {"Epsilion": 0.1}),
            "'Epsilion'",
            'Did you mean "Epsilon"?',
        )
    raises(
        ng.NetOptionError,
        lambda: ng.NetInitialize(bn3(), RandomSeding=1),
        'Did you mean "RandomSeeding"?',
    )
    raises(ng.NetOptionError, lambda: train(bn3(), (np.ones((4, 3)),) * 2, BachSize=2), "BatchSize")
    raises(ng.NetOptionError, lambda: bn3()(np.ones(3), BatchSise=2), '"BatchSize"')


# ------------------------------------------------------------------- 10-14: arrays


def _net_file(tmp_path, net, edit_tensors=None) -> pathlib.Path:
    """A net file, optionally with edited tensors (and a fresh, matching checksum)."""
    manifest, tensors = files.net_to_manifest(net)
    tensors = {k: np.array(v) for k, v in tensors.items()}
    if edit_tensors:
        edit_tensors(tensors)
    path = tmp_path / "net.safetensors"
    write_tensors(path, tensors, {files.MANIFEST_KEY: json.dumps(manifest)})
    return path


@pytest.mark.parametrize("bad", [-1.0, np.nan, np.inf, -np.inf])
def test_case10_bad_moving_variance_is_refused_on_set_replace_and_load(bad, tmp_path):
    value = [1.0, bad, 1.0]
    words = ['"MovingVariance"'] + (["> -Epsilon", "-1.0"] if bad == -1 else ["NaN or infinite"])
    raises(ng.NetArrayError, lambda: ng.BatchNormalizationLayer(MovingVariance=value), *words)
    net = bn3()
    with untouched(net):
        raises(ng.NetArrayError, lambda: ng.NetReplacePart(net, "MovingVariance", value), *words)
    path = _net_file(tmp_path, net, lambda t: t["MovingVariance"].__setitem__(1, bad))
    with untouched(path):  # a file problem: NetLoadError, caused by the array check
        with pytest.raises(ng.NetLoadError) as info:
            ng.Import(path)
    causes, cause = [], info.value
    while cause is not None:
        causes.append(type(cause))
        cause = cause.__cause__
    assert ng.NetArrayError in causes, causes
    assert '"MovingVariance"' in str(info.value) and str(path) in str(info.value)


def test_case10_a_non_finite_statistic_in_training_stops_as_diverged():
    """API.md: a non-finite statistic stops training with ReasonTrainingStopped "Diverged" and
    the last finite net (the table's NetTrainError is for an explicit 'raise' option that our
    API does not have). float32 cannot hold the variance of values near 1e25."""
    net = ng.NetInitialize(ng.BatchNormalizationLayer(Input=2))
    x = read_only(RNG.normal(size=(16, 2)) * 1e25)
    with untouched(net, x):
        results = train(net, (x, np.zeros((16, 2))), prop="All", MaxTrainingRounds=2)
    assert results["ReasonTrainingStopped"] == "Diverged"
    assert "MovingVariance" in results["DivergenceReason"]
    assert results["TrainedNet"] == net


def test_case11_explicit_arrays_of_the_wrong_shape():
    raises(
        ng.NetArrayError,
        lambda: ng.BatchNormalizationLayer(Scaling=[[1, 2]], Input=3),
        '"Scaling"',
        "(1, 2)",
        "rank 2 vs rank 1",
    )
    raises(
        ng.NetArrayError,
        lambda: ng.BatchNormalizationLayer(Scaling=[1, 2], Input=3),
        '"Scaling" (2,)',
        '"Input" (3,)',
    )
    raises(
        ng.NetArrayError,
        lambda: ng.ConvolutionLayer(4, 3, Weights=np.ones((4, 2, 3, 3)), Input=(1, 8, 8)),
        '"Weights"',
        "(4, 2, 3, 3)",
        "(?, 1, ?, ?)",
        "1 input channels",
    )
    net = conv_net()
    with untouched(net):
        raises(
            ng.NetArrayError,
            lambda: ng.NetReplacePart(net, {"Weights": np.ones((4, 1, 3))}),
            '"Weights"',
            "(4, 1, 3)",
            "rank 3 vs rank 4",
        )


def test_case12_moving_statistics_cannot_be_shared():
    for name in ("MovingMean", "MovingVariance"):
        raises(
            ng.NetArrayError,
            lambda name=name: ng.BatchNormalizationLayer(**{name: ng.NetSharedArray("m")}),
            f'"{name}"',
            "cannot be a NetSharedArray",
            'share "Scaling" and "Biases"',
        )
        net = bn3()
        with untouched(net):
            raises(
                ng.NetArrayError,
                lambda net=net, name=name: ng.NetReplacePart(net, name, ng.NetSharedArray("m")),
                "cannot be a NetSharedArray",
            )
    chain = ng.NetChain([ng.BatchNormalizationLayer(), ng.BatchNormalizationLayer()], Input=3)
    shared = ng.NetInsertSharedArrays(chain)  # skips the moving statistics silently
    assert ng.Information(shared, "SharedArraysCount") == 4
    for i in (0, 1):
        for name in ("MovingMean", "MovingVariance"):
            assert (i, name) in ng.Information(shared, "Arrays")


def test_case13_one_shared_array_with_two_shapes_names_both_layers():
    w = ng.NetSharedArray("w")
    raises(
        ng.NetArrayError,
        lambda: ng.NetChain(
            {"l1": ng.LinearLayer(3, Weights=w, Input=2), "l2": ng.LinearLayer(4, Weights=w)}
        ),
        "'w'",
        "l1",
        "l2",
        "(3, 2)",
        "(4, 3)",
    )


def test_case14_uninitialized_net_evaluation_and_onnx_export(tmp_path):
    net = small_chain()
    x = read_only(np.ones(3))
    with untouched(net, x, tmp_path):
        for call in (lambda: net(x), lambda: net(x, ng.NetPortGradient("Input"))):
            raises(
                ng.NetNotInitializedError,
                call,
                "('lin', 'Weights')",
                "('bn', 'MovingVariance')",
                "NetInitialize",
            )
        raises(
            ng.NetNotInitializedError,
            lambda: ng.Export(tmp_path / "n.onnx", net),
            "export",
            "NetInitialize",
        )
    assert ng.Information(net, "Initialized") is False
    assert "uninitialized" in str(ng.Information(net))
    assert ng.Information(net, "ArraysCount") == 8


# ------------------------------------------------------------------ 15-21: training data


def test_case15_one_value_per_batch_norm_channel_in_training():
    chain = ng.NetChain({"lin": ng.LinearLayer(3), "bn": ng.BatchNormalizationLayer()}, Input=2)
    x, y = read_only(RNG.normal(size=(5, 2)), RNG.normal(size=(5, 3)))
    with untouched(chain, x, y):
        raises(
            ng.NetTrainError,
            lambda: train(chain, (x, y), BatchSize=1),
            '"bn"',
            "BatchNormalizationLayer",
            "single value",
            "BatchSize (>= 2)",
        )
    maps = ng.BatchNormalizationLayer(Input=(2, 1, 1))  # 1x1 maps after pooling
    ones = read_only(np.ones((4, 2, 1, 1)))
    raises(ng.NetTrainError, lambda: train(maps, (ones, ones), BatchSize=1), "single value")


def test_case15_a_final_batch_of_one_joins_the_previous_and_evaluation_of_one_works():
    x = read_only(RNG.normal(size=(17, 3)))
    results = train(ng.BatchNormalizationLayer(Input=3), (x, x), prop="All", BatchSize=16)
    assert results["BatchesPerRound"] == 1 and results["BatchSize"] == 16
    net = results["TrainedNet"]
    assert net(x[0]).shape == (3,)
    biases = ng.NetExtract(net, "Biases")  # one example: x - mean(x) = 0, so exactly Biases
    np.testing.assert_array_equal(net(x[:1], NetEvaluationMode="Train"), biases[None])


@pytest.mark.parametrize("port", ["Input", "Output"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_case16_nan_or_inf_in_training_data_before_training(port, bad, tmp_path):
    x, y = regression_data()
    data = {"Input": x.copy(), "Output": y.copy()}
    data[port][5, 1] = bad
    read_only(*data.values())
    net, calls = small_chain(), []
    with untouched(net, data, tmp_path):
        raises(
            ng.NetDataError,
            lambda: train(
                net,
                data,
                TrainingProgressFunction=calls.append,
                TrainingProgressCheckpointing=("Directory", tmp_path / "ck"),
            ),
            "example 5",
            f"'{port}'",
            "NaN or infinite",
            "(5, 1)",
        )
    assert calls == []
    nan = read_only(np.array([1.0, np.nan, 3.0]))
    raises(ng.NetDataError, lambda: bn3()(nan), '"Input"', "NaN", "(1,)")


@pytest.mark.parametrize(
    "inputs, words",
    [
        (["a", "b"], ["example 0", "'Input'", "str"]),
        ([[1.0, 2.0, 3.0], None], ["example 1", "'Input'", "None"]),
        (np.array([{}, {}], dtype=object), ["'Input'", "dict"]),
        ([[1.0, 2.0, 3.0], [1.0, 2.0]], ["example 1", "'Input'", "(2,)", "ragged"]),
    ],
)
def test_case17_non_numeric_training_and_evaluation_data(inputs, words):
    net = small_chain()
    with untouched(net):
        raises(ng.NetDataError, lambda: train(net, (inputs, np.ones((2, 2)))), *words)
        raises(ng.NetDataError, lambda: bn3()(inputs), '"Input"')


def test_case18_empty_training_or_validation_data():
    net = small_chain()
    x, y = regression_data()
    with untouched(net):
        raises(ng.NetDataError, lambda: train(net, (x[:0], y[:0])), "training data is empty")
        raises(ng.NetDataError, lambda: train(net, []), "training data is empty")
        raises(
            ng.NetDataError,
            lambda: train(net, (x, y), ValidationSet=(x[:0], y[:0])),
            "validation data is empty",
        )
        raises(ng.NetDataError, lambda: bn3()(np.zeros((0, 3))), "empty")


def test_case19_batch_size_larger_than_the_data_and_bad_batch_sizes():
    x, y = regression_data(5)
    with pytest.warns(UserWarning, match="BatchSize 64 is larger than the 5"):
        results = ng.NetTrain(
            small_chain(), (x, y), "All", BatchSize=64, MaxTrainingRounds=1, **QUIET
        )
    assert results["BatchSize"] == 5
    for bad in (0, -1, 2.5, "8", True):
        raises(
            ng.NetOptionError,
            lambda bad=bad: train(small_chain(), (x, y), BatchSize=bad),
            "BatchSize",
            repr(bad),
        )


def test_case20_count_mismatch_and_unknown_ports():
    x = read_only(RNG.normal(size=(100, 3)))
    y = read_only(RNG.normal(size=(99, 2)))
    net = small_chain()
    with untouched(net, x, y):
        raises(ng.NetDataError, lambda: train(net, (x, y)), "Input: 100", "Output: 99")
        raises(
            ng.NetDataError,
            lambda: train(net, {"Inptu": x, "Output": y[:1]}),
            "'Inptu'",
            "Input, Output",
            'Did you mean "Input"?',
        )
        raises(
            ng.NetDataError,
            lambda: bn3()({"Inptu": x}),
            '"Inptu"',
            'Did you mean "Input"?',
        )


def test_case21_targets_that_do_not_fit_the_loss():
    classifier = ng.NetChain([ng.LinearLayer(3), ng.SoftmaxLayer()], Input=2)
    x = read_only(RNG.normal(size=(10, 2)))
    labels = read_only(np.arange(10) % 4)
    with untouched(classifier, x, labels):
        raises(
            ng.NetDataError,
            lambda: train(classifier, (x, labels)),
            "example 3",
            "class index 3",
            "0..2",
            "CrossEntropyLossLayer",
        )
        raises(
            ng.NetDataError,
            lambda: train(classifier, (x, np.arange(10) * 0.5)),
            "not a class index",
            "CrossEntropyLossLayer",
            "0.5",
        )
    x3, y = regression_data()
    raises(
        ng.NetDataError,
        lambda: train(small_chain(), (x3, y[:, :1])),
        "'Output'",
        "(1,)",
        "(2,)",
        "MeanSquaredLossLayer",
    )


# --------------------------------------------------------- 22-25: training going wrong


def test_case22_divergence_returns_the_last_finite_net_and_leaves_the_original():
    """API.md: divergence is a result, not an exception: ReasonTrainingStopped "Diverged" and
    the last finite net (no emergency checkpoint: API.md does not ask for one)."""
    net = ng.NetInitialize(ng.LinearLayer(3, Input=3))
    x = read_only(RNG.normal(size=(16, 3)) * 1e3)
    with untouched(net, x):
        results = train(
            net, (x, x), prop="All", LearningRate=1e30, Method="SGD", MaxTrainingRounds=5
        )
    assert results["ReasonTrainingStopped"] == "Diverged"
    for value in ng.Information(results["TrainedNet"], "Arrays").values():
        assert np.isfinite(value).all()
    assert net == ng.NetInitialize(ng.LinearLayer(3, Input=3))


def _checkpoint_in(message: str) -> pathlib.Path:
    found = re.search(r"checkpoint of the last completed batch to (\S+\.safetensors)", message)
    assert found, message
    return pathlib.Path(found.group(1))


def _stop_at(round_: int, batch: int, error: BaseException):
    def callback(info):
        if (info["round"], info["batch"]) == (round_, batch):
            raise error

    return callback


def test_case23_an_exception_in_the_callback_keeps_the_work_and_reraises():
    net = small_chain()
    x, y = regression_data()
    with untouched(net, x, y):
        with pytest.raises(RuntimeError, match="stop here") as info:
            train(
                net,
                (x, y),
                BatchSize=8,
                MaxTrainingRounds=5,
                TrainingProgressFunction=_stop_at(3, 1, RuntimeError("stop here")),
            )
    path = _checkpoint_in(str(info.value))
    try:
        saved = ng.Import(path)  # the net after the last completed batch
        assert saved(x).shape == y.shape and saved != ng.NetInitialize(net)
    finally:
        path.unlink()


def test_case23_keyboard_interrupt_writes_to_the_checkpointing_folder(tmp_path):
    x, y = regression_data()
    with pytest.raises(KeyboardInterrupt) as info:
        train(
            small_chain(),
            (x, y),
            BatchSize=8,
            MaxTrainingRounds=5,
            TrainingProgressCheckpointing=("Directory", tmp_path),
            TrainingProgressFunction=_stop_at(2, 2, KeyboardInterrupt()),
        )
    path = _checkpoint_in(str(info.value))
    assert path.parent == tmp_path and path.exists()


def test_case24_resume_equals_the_uninterrupted_run(tmp_path):
    x, y = regression_data()
    options = {"BatchSize": 8, "MaxTrainingRounds": 4, "RandomSeeding": 3}
    whole = train(small_chain(), (x, y), prop="All", **options)
    with pytest.raises(RuntimeError) as info:
        train(
            small_chain(),
            (x, y),
            TrainingProgressFunction=_stop_at(3, 2, RuntimeError("x")),
            TrainingProgressCheckpointing=("Directory", tmp_path),
            **options,
        )
    checkpoint = _checkpoint_in(str(info.value))
    with untouched(checkpoint):
        resumed = train(small_chain(), (x, y), prop="All", ResumeFrom=checkpoint, **options)
    assert resumed["BatchLossList"] == whole["BatchLossList"]
    assert resumed["TrainedNet"] == whole["TrainedNet"]


def test_case25_resume_with_another_net_or_options_is_refused_and_applies_nothing(tmp_path):
    x, y = regression_data()
    options = {"BatchSize": 8, "MaxTrainingRounds": 2, "RandomSeeding": 3}
    train(
        small_chain(), (x, y), TrainingProgressCheckpointing=("File", tmp_path / "c.st"), **options
    )
    checkpoint = tmp_path / "c.st"
    other = ng.NetChain(
        [ng.LinearLayer(5), ng.BatchNormalizationLayer(), ng.LinearLayer(2)], Input=3
    )
    with untouched(checkpoint, other, x, y):
        raises(
            ng.NetLoadError,
            lambda: train(other, (x, y), ResumeFrom=checkpoint, **options),
            "cannot resume",
            "topology",
            "another net structure",
        )
        raises(
            ng.NetLoadError,
            lambda: train(
                small_chain(), (x, y), ResumeFrom=checkpoint, **{**options, "Method": "SGD"}
            ),
            "method: checkpoint has 'ADAM', this run 'SGD'",
        )
        raises(
            ng.NetLoadError,
            lambda: train(
                small_chain(), (x, y), ResumeFrom=checkpoint, **{**options, "BatchSize": 4}
            ),
            "batch_size: checkpoint has 8, this run 4",
        )


# ----------------------------------------------------------------------- 26-30: files


def _exported(tmp_path) -> tuple[pathlib.Path, ng.Layer]:
    net = ng.NetInitialize(small_chain())
    return pathlib.Path(ng.Export(tmp_path / "net.safetensors", net)), net


def test_case26_truncated_or_flipped_files_raise_load_errors_only(tmp_path):
    path, _ = _exported(tmp_path)
    raw = path.read_bytes()
    damaged = tmp_path / "damaged.safetensors"
    rng = np.random.default_rng(0)
    cases = [raw[:cut] for cut in range(0, len(raw), 7)]
    for _ in range(60):
        flipped = bytearray(raw)
        flipped[rng.integers(len(raw))] ^= 1 << int(rng.integers(8))
        cases.append(bytes(flipped))
    for blob in cases:
        damaged.write_bytes(blob)
        with untouched(damaged):
            with pytest.raises(ng.NetError) as info:
                ng.Import(damaged)
        assert type(info.value) is ng.NetLoadError, repr(info.value)
    damaged.write_bytes(raw[:-3])
    raises(ng.NetLoadError, lambda: ng.Import(damaged), str(damaged))


def test_case27_newer_unknown_or_foreign_files(tmp_path, monkeypatch):
    path, net = _exported(tmp_path)
    tensors, metadata = read_tensors(path)
    manifest = json.loads(metadata[files.MANIFEST_KEY])

    def rewrite(edit):
        m = json.loads(json.dumps(manifest))
        edit(m)
        write_tensors(path, tensors, {files.MANIFEST_KEY: json.dumps(m)})

    rewrite(lambda m: m.update(format_version=3))
    raises(ng.NetLoadError, lambda: ng.Import(path), "format_version 3 is newer than supported 1")
    rewrite(lambda m: m["net"]["layers"][1][1].update(type="FooLayer"))
    raises(ng.NetLoadError, lambda: ng.Import(path), 'unknown layer type "FooLayer"')

    def never(*args, **kwargs):
        raise AssertionError("something was unpickled")

    monkeypatch.setattr(pickle, "loads", never)
    monkeypatch.setattr(pickle, "load", never)
    monkeypatch.setattr(pickle, "Unpickler", never)
    pt = tmp_path / "model.pt"
    pt.write_bytes(b"\x80\x04\x95" + bytes(40))  # a pickle's opening bytes
    with untouched(pt):
        raises(ng.NetLoadError, lambda: ng.Import(pt), "pickle", "nothing was unpickled")
    with pytest.raises(FileNotFoundError):
        ng.Import(tmp_path / "missing.safetensors")


def test_case28_missing_extra_or_misshapen_arrays_are_reported_together(tmp_path):
    net = ng.NetInitialize(small_chain())

    def edit(t):
        del t["bn/MovingMean"]
        t["bn/Extra"] = np.ones(2, np.float32)
        t["lin/Weights"] = np.ones((4, 2), np.float32)

    path = _net_file(tmp_path, net, edit)
    with untouched(path):
        raises(
            ng.NetLoadError,
            lambda: ng.Import(path),
            "missing",
            "bn/MovingMean",
            "unexpected",
            "bn/Extra",
            "lin/Weights",
            "(4, 2)",
        )


def test_case29_a_failed_save_keeps_the_previous_file(tmp_path, monkeypatch):
    """chmod does not stop root, so the failures are simulated where the write happens."""
    path, net = _exported(tmp_path)
    before = path.read_bytes()

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    for target, replacement, words in [
        ("replace", refuse, ["Permission denied"]),
        ("open", refuse, ["Permission denied"]),
        ("fsync", disk_full, ["No space left on device"]),
    ]:
        monkeypatch.setattr(os, target, replacement)
        try:
            raises(
                ng.NetSaveError,
                lambda: ng.Export(path, ng.BatchNormalizationLayer()),
                str(path),
                *words,
                "previous file at that path is intact",
            )
        finally:
            monkeypatch.undo()
        assert path.read_bytes() == before
        assert [p.name for p in tmp_path.iterdir()] == ["net.safetensors"]  # no temp left
    assert ng.Import(path) == net
    raises(ng.NetSaveError, lambda: ng.Export(tmp_path / "no" / "dir.st", net), "could not save")


def test_case29_an_unwritable_folder(tmp_path):
    path, net = _exported(tmp_path)
    before = path.read_bytes()
    with unwritable_folder(tmp_path):
        raises(ng.NetSaveError, lambda: ng.Export(path, ng.LinearLayer(2)), "intact")
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["net.safetensors"]  # no temp file left


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8, np.bool_, np.float16])
def test_case30_ints_bools_and_float16_are_upcast(dtype):
    net = bn3()
    x = read_only(np.array([[1, 0, 1], [0, 1, 1]], dtype=dtype))
    with untouched(net, x):
        out = net(x)
        grad = net(x, ng.NetPortGradient("Input"))
    assert out.dtype == np.float32 and grad.dtype == np.float32
    np.testing.assert_array_equal(out, net(x.astype(np.float32)))
    assert net(x, WorkingPrecision="Real64").dtype == np.float64


def test_case30_float16_statistics_do_not_overflow():
    # float16 holds at most 65504: the squares of values near 300 summed in float16 overflow.
    x = read_only((300 + RNG.normal(size=(1000, 3))).astype(np.float16))
    net = ng.NetInitialize(ng.BatchNormalizationLayer(Input=3, Epsilon=1e-5))
    out = net(x, NetEvaluationMode="Train", WorkingPrecision="Real64")
    x64 = x.astype(np.float64)
    expected = (x64 - x64.mean(0)) / np.sqrt(x64.var(0) + 1e-5)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)
    trained = train(net, (x, x), BatchSize=500)
    moving = ng.NetExtract(trained, "MovingVariance")
    assert np.isfinite(moving).all() and (moving > 0).all()


def test_case30_complex_data_is_a_data_error():
    z = read_only(np.ones((4, 3), np.complex64))
    net = bn3()
    with untouched(net, z):
        raises(ng.NetDataError, lambda: net(z), "complex", "complex64")
        raises(ng.NetDataError, lambda: train(net, (z, np.ones((4, 3)))), "complex", "'Input'")


# ------------------------------------------------------------------------- extra checks


def test_net_extract_hands_out_copies():
    net = bn3()
    scaling = ng.NetExtract(net, "Scaling")
    scaling[:] = 7.0
    np.testing.assert_array_equal(ng.NetExtract(net, "Scaling"), [1, 1, 1])


def test_same_seed_same_arrays():
    a = ng.NetInitialize(small_chain(), RandomSeeding=11)
    b = ng.NetInitialize(small_chain(), RandomSeeding=11)
    assert a == b and a != ng.NetInitialize(small_chain(), RandomSeeding=12)


def test_kernel_larger_than_the_padded_input_shows_the_output_size():
    raises(
        ng.NetShapeError,
        lambda: ng.ConvolutionLayer(2, 5, PaddingSize=1, Input=(1, 2, 2)),
        "output size",
        "would be 0",
        "input 2",
        "kernel 5",
        "padding (1, 1)",
        "larger than the padded input",
    )
