"""Fuzzing the public functions with wrong values: every user mistake is a NetError.

API.md: "every user error raises ng.NetError ... Never a bare numpy or pydantic traceback".
Each test draws calls of one public function with random, mostly wrong arguments (types,
ranges, names, paths, shapes, dtypes) and accepts exactly two outcomes: a result, or a
`NetError` subclass (`FileNotFoundError` only for a missing file). Sizes stay small so that
nothing legitimately runs out of memory or time.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

import netgraph as ng
from netgraph.layer import LAYER_TYPES

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)
QUIET = {"TrainingProgressReporting": None}


@contextlib.contextmanager
def only_net_errors(allow_missing_file: bool = False):
    """The body may return or raise a NetError; anything else fails the test with its type."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            yield
        except ng.NetError:
            pass
        except FileNotFoundError:
            if not allow_missing_file:
                raise
        except KeyboardInterrupt:  # pragma: no cover - never acceptable
            pytest.fail("KeyboardInterrupt escaped")


# ------------------------------------------------------------------------------ values

SMALL_INTS = st.integers(-3, 9)
NAMES = st.sampled_from(
    [
        "Same",
        "Max",
        "Mean",
        "Total",
        "Ramp",
        "Tanh",
        "Index",
        "Binary",
        "Probabilities",
        "Real",
        "Real64",
        "Integer",
        "Foo",
        "1e-3",
        "",
        "Input",
        "Output",
        "Biases",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    SMALL_INTS,
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.floats(-3, 3),
    NAMES,
    st.text(max_size=4),
    st.sampled_from([ng.Automatic, ng.All, Ellipsis, 1j, b"x", np.int64(2), np.float32(0.5)]),
    st.sampled_from([np.nan, -np.inf, 10**40, -(10**40)]),
)
ARRAYS = arrays(
    st.sampled_from([np.float64, np.float32, np.float16, np.int32, np.uint8, np.bool_]),
    array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4),
)
HASHABLE = st.one_of(
    SCALARS,
    st.sampled_from([ng.NetSharedArray("s"), ng.NetPort("Input"), ng.NetPortGradient("x"), abs]),
)
GARBAGE = st.recursive(
    st.one_of(
        SCALARS,
        ARRAYS,
        st.sampled_from(
            [
                ng.NetSharedArray("s"),
                ng.NetPort("Input"),
                ng.NetPortGradient("Input"),
                object(),
                {1, 2},
                np.array("abc"),
                np.array([{}, None], dtype=object),
                abs,
                ng.Scaled(0.5),
                ng.LinearLayer(2),
            ]
        ),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(HASHABLE, inner, max_size=2),
    ),
    max_leaves=6,
)


def misspelt(names: list[str]) -> st.SearchStrategy:
    """A valid name, its snake_case form, or a near miss."""
    name = st.sampled_from(names)
    return st.one_of(
        name,
        name.map(lambda n: n[:-1] + n[-1].swapcase()),
        name.map(lambda n: n[:-2] + n[-1] + n[-2] if len(n) > 2 else n + "x"),
        st.text(max_size=5),
    )


# ------------------------------------------------------------------------------ layers

LEAF_TYPES = sorted(n for n in LAYER_TYPES if n not in ("NetGraph", "NetChain"))


def _option_names(cls) -> list[str]:
    names = [f.alias or n for n, f in cls.Options.model_fields.items()]
    names += ["Input", "Output", "Input1", "Input2", "Input3", "Target", "Loss"]
    names += [s.name for s in cls.array_specs] + ["LearningRateMultipliers", "input_ports"]
    return names


PLAUSIBLE = st.one_of(
    st.integers(1, 4),
    st.lists(st.integers(0, 4), min_size=1, max_size=3).map(tuple),
    st.booleans(),
    st.floats(0, 1),
    st.sampled_from(["Same", "Max", "Mean", "Ramp", "Tanh", "Index", "Binary", "Probabilities"]),
)
SHAPES = st.lists(st.integers(1, 6), min_size=0, max_size=4).map(tuple)
PORT_NAMES = {"Input", "Output", "Input1", "Input2", "Input3", "Target"}


@st.composite
def layer_call(draw):
    """A constructor call: mostly plausible values and names, some garbage and near misses."""
    cls = LAYER_TYPES[draw(st.sampled_from(LEAF_TYPES))]
    value = st.one_of(PLAUSIBLE, PLAUSIBLE, GARBAGE)
    k = len(cls.positional)
    args = [draw(value) for _ in range(draw(st.sampled_from([*range(k + 1)] * 3 + [k + 1])))]
    names = _option_names(cls)
    name = st.sampled_from(names)
    keys = draw(st.lists(st.one_of(name, name, name, misspelt(names)), max_size=3, unique=True))
    kwargs = {}
    for k in keys:
        if k.isidentifier():
            kwargs[k] = draw(st.one_of(SHAPES, GARBAGE) if k in PORT_NAMES else value)
    return cls, args, kwargs


def _example_shape(shape):
    return tuple(3 if d is None else d for d in shape if d is not Ellipsis)


TEXT_PROPERTIES = [
    p for p in ng.Information(ng.LinearLayer(2), "Properties") if p != "SummaryGraphic"
]


def _inspect(net: ng.Layer, tmp: str) -> None:
    """Everything that must work on any net that could be built: reports, files, sharing."""
    repr(net), str(ng.Information(net)), ng.Options(net)
    for prop in TEXT_PROPERTIES:
        ng.Information(net, prop)
    path = os.path.join(tmp, "net.safetensors")
    with only_net_errors():  # a callable cannot be saved: NetSaveError
        ng.Export(path, net)
        assert ng.Import(path) == net
    ng.NetInsertSharedArrays(net, "s/")


@FUZZ
@given(layer_call(), st.sampled_from(["Test", "Train"]))
def test_layer_constructors_raise_only_net_errors(call, mode):
    cls, args, kwargs = call
    with only_net_errors(), tempfile.TemporaryDirectory() as tmp:
        layer = cls(*args, **kwargs)
        _inspect(layer, tmp)
        net = ng.NetInitialize(layer)
        _inspect(net, tmp)
        data = {}
        for port in net.input_ports:
            shape = net.port_shape(port.name)
            shape = (3,) if shape is None else _example_shape(shape)
            if 0 < np.prod(shape, dtype=np.int64) <= 4096:
                data[port.name] = np.random.default_rng(0).integers(0, 2, shape).astype(float)
        if len(data) == len(net.input_ports):
            net(data, ng.NetPortGradient(ng.All), NetEvaluationMode=mode)


# ------------------------------------------------------------------------------ graphs

GRAPH_LAYERS = {
    "a": ng.LinearLayer(3),
    "b": ng.ElementwiseLayer("Ramp"),
    "cat": ng.CatenateLayer(),
    "tot": ng.TotalLayer(),
    "bn": ng.BatchNormalizationLayer(),
    "loss": ng.MeanSquaredLossLayer(),
}
KEYS = list(GRAPH_LAYERS)
VERTEX = st.recursive(
    st.one_of(
        st.sampled_from(KEYS),
        misspelt(KEYS),
        st.integers(-8, 8),
        st.builds(ng.NetPort, misspelt(["Input", "Output", "Input2", "Target"])),
        st.builds(ng.NetPort, st.sampled_from(KEYS), misspelt(["Input", "Output", "Target"])),
        GARBAGE,
    ),
    lambda inner: st.lists(inner, min_size=1, max_size=3),
    max_leaves=4,
)
EDGES = st.lists(
    st.one_of(st.lists(VERTEX, min_size=2, max_size=4).map(tuple), GARBAGE), max_size=5
)


@FUZZ
@given(
    st.lists(st.sampled_from(KEYS), min_size=1, max_size=5, unique=True),
    EDGES,
    st.dictionaries(misspelt(["Input", "Output", "Target"]), GARBAGE, max_size=2),
)
def test_graph_construction_raises_only_net_errors(keys, edges, ports):
    layers = {k: GRAPH_LAYERS[k] for k in keys}
    ports = {k: v for k, v in ports.items() if k.isidentifier()}
    with only_net_errors():
        graph = ng.NetGraph(layers, edges, **ports)
        str(ng.Information(graph)), ng.Information(graph, "LayersGraph")
    with only_net_errors():
        ng.NetChain(layers, **ports)
    with only_net_errors():
        ng.NetChain([GRAPH_LAYERS[k] for k in keys] + [ports.get("Input", "Ramp")])


# ------------------------------------------------------------------------- parts and paths


def _nested_net() -> ng.Layer:
    inner = ng.NetChain({"lin": ng.LinearLayer(4), "bn": ng.BatchNormalizationLayer()})
    return ng.NetInitialize(
        ng.NetChain(
            {
                "conv": ng.ConvolutionLayer(2, 3),
                "flat": ng.FlattenLayer(),
                "inner": inner,
                "act": "Tanh",
                "lin": ng.LinearLayer(4, Weights=ng.NetSharedArray("w")),
            },
            Input=(1, 5, 5),
        )
    )


NESTED = _nested_net()
PART_NAMES = [
    "conv",
    "flat",
    "inner",
    "act",
    "lin",
    "bn",
    "Weights",
    "Biases",
    "Scaling",
    "MovingMean",
    "MovingVariance",
    "Epsilon",
    "Momentum",
    "Input",
    "Output",
    "KernelSize",
    "Stride",
    "PaddingSize",
    "LearningRateMultipliers",
    "Function",
    "OutputDimensions",
    "Interleaving",
]
PATH_KEY = st.one_of(misspelt(PART_NAMES), st.integers(-7, 7), HASHABLE)
PATHS = st.one_of(PATH_KEY, st.lists(PATH_KEY, min_size=0, max_size=4).map(tuple))


@FUZZ
@given(PATHS, GARBAGE)
def test_net_extract_and_replace_part_raise_only_net_errors(path, value):
    with only_net_errors():
        ng.NetExtract(NESTED, path)
    with only_net_errors():
        new = ng.NetReplacePart(NESTED, {path: value})
        new(np.ones((1, 5, 5)))
    with only_net_errors():
        ng.NetReplacePart(NESTED, path, value)
    with only_net_errors():
        ng.Information(NESTED, value)
    with only_net_errors():
        ng.NetInitialize(NESTED, value)
    with only_net_errors():
        ng.NetInitialize(NESTED, ng.All, RandomSeeding=value, Method=path)
    with only_net_errors():
        ng.NetInsertSharedArrays(NESTED, value)
    with only_net_errors():
        ng.Options(value)
    assert NESTED == _nested_net()


# ----------------------------------------------------------------------------- evaluation


def _eval_nets() -> dict:
    bn = ng.BatchNormalizationLayer(Input=3)
    graph = ng.NetGraph(
        {"a": ng.LinearLayer(2), "b": ng.LinearLayer(2), "cat": ng.CatenateLayer()},
        [(ng.NetPort("X"), "a"), (ng.NetPort("Y"), "b"), (["a", "b"], "cat")],
        X=3,
        Y=(2, 2),
    )
    nets = {
        "bn": bn,
        "conv": ng.NetChain(
            [ng.ConvolutionLayer(2, 2), ng.PoolingLayer(2), "Ramp"], Input=(1, 4, 4)
        ),
        "graph": graph,
        "loss": ng.CrossEntropyLossLayer("Index", Input=3),
        "free": ng.NetChain([ng.ElementwiseLayer("Tanh"), ng.SoftmaxLayer()]),
    }
    return {k: ng.NetInitialize(v) for k, v in nets.items()}


EVAL_NETS = _eval_nets()
DTYPES = st.sampled_from(
    [
        np.float64,
        np.float32,
        np.float16,
        np.int64,
        np.int8,
        np.uint8,
        np.bool_,
        np.complex64,
        np.object_,
        np.str_,
    ]
)


@st.composite
def data_arrays(draw):
    shape = draw(array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=4))
    dtype = draw(DTYPES)
    if dtype in (np.object_, np.str_):
        return np.full(shape, draw(st.sampled_from(["a", None, 1.5])), dtype=dtype)
    values = draw(arrays(np.float64, shape, elements=st.floats(-1e4, 1e4) | st.just(np.nan)))
    with np.errstate(all="ignore"):
        arr = values.astype(dtype)
    if draw(st.booleans()):
        arr.setflags(write=False)
    return arr


DATA = st.one_of(
    data_arrays(),
    st.lists(data_arrays(), min_size=0, max_size=3),
    st.dictionaries(
        st.one_of(
            misspelt(["Input", "X", "Y", "Target", "Output"]),
            st.builds(ng.NetPortGradient, misspelt(["Output", "Loss", "Input"])),
            HASHABLE,
        ),
        st.one_of(data_arrays(), GARBAGE),
        max_size=3,
    ),
    GARBAGE,
)


def _gradient_or_raw(spec):
    """NetPortGradient(spec), or spec itself when even NetPortGradient refuses it."""
    try:
        return ng.NetPortGradient(spec)
    except ng.NetError:
        return spec


PROPS = st.lists(
    st.one_of(
        st.one_of(misspelt(PART_NAMES + ["X", "Y"]), GARBAGE).map(_gradient_or_raw),
        st.builds(ng.NetPortGradient, st.tuples(st.integers(-3, 3), misspelt(PART_NAMES))),
        st.just(ng.NetPortGradient(ng.All)),
        GARBAGE,
    ),
    max_size=2,
)
EVAL_OPTIONS = st.dictionaries(
    misspelt(
        ["BatchSize", "NetEvaluationMode", "TargetDevice", "WorkingPrecision", "RandomSeeding"]
    ),
    st.one_of(st.sampled_from(["Train", "Test", "Real64", "CPU", "GPU"]), SMALL_INTS, GARBAGE),
    max_size=2,
)


@st.composite
def fitting_data(draw, net: ng.Layer):
    """Data of the right shapes for `net` (one example or a batch), mostly of a float dtype."""
    n = draw(st.sampled_from([None, 1, 2, 5]))
    dtype = draw(st.sampled_from([np.float64, np.float32, np.float16, np.int8, np.bool_]))
    data = {}
    for port in net.input_ports:
        shape = net.port_shape(port.name)
        shape = (3, 4) if shape is None else _example_shape(shape)
        shape = shape if n is None else (n, *shape)
        values = draw(arrays(np.float64, shape, elements=st.floats(-3, 3)))
        data[port.name] = np.abs(values) if port.dtype == "Integer" else values
        data[port.name] = data[port.name].astype(dtype)
    if len(data) == 1 and draw(st.booleans()):
        return next(iter(data.values()))
    return data


@st.composite
def evaluation_call(draw):
    name = draw(st.sampled_from(sorted(EVAL_NETS)))
    data = draw(st.one_of(fitting_data(EVAL_NETS[name]), fitting_data(EVAL_NETS[name]), DATA))
    props = draw(st.one_of(st.just([]), st.just([ng.NetPortGradient(ng.All)]), PROPS))
    options = draw(st.one_of(st.just({}), EVAL_OPTIONS))
    return name, data, props, {k: v for k, v in options.items() if k.isidentifier()}


@FUZZ
@given(evaluation_call())
def test_evaluation_raises_only_net_errors(call):
    name, data, props, options = call
    with only_net_errors():
        EVAL_NETS[name](data, *props, **options)


@FUZZ
@given(GARBAGE, GARBAGE, st.booleans())
def test_value_constructors_raise_only_net_errors(first, second, two):
    """Wrong values (not a wrong number of arguments, which Python itself reports)."""
    for make in (ng.NetPortGradient, ng.NetSharedArray, ng.Scaled, ng.NumericArray, ng.NetPort):
        with only_net_errors():
            made = (
                make(first, second)
                if two and make in (ng.NumericArray, ng.NetPort)
                else make(first)
            )
            repr(made)
            hash(made) if not isinstance(made, ng.NumericArray) else np.asarray(made)


# ------------------------------------------------------------------------------ training


@st.composite
def good_training_data(draw):
    """Data that fits TRAIN_NETS: n examples of 3 features, targets of 2 (or class indices)."""
    n = draw(st.integers(1, 7))
    x = draw(arrays(np.float64, (n, 3), elements=st.floats(-9, 9)))
    if draw(st.booleans()):
        y = draw(arrays(np.float64, (n, 2), elements=st.floats(-9, 9)))
    else:
        y = draw(arrays(np.int64, (n,), elements=st.integers(-1, 3)))
    form = draw(st.sampled_from(["tuple", "dict", "pairs"]))
    if form == "dict":
        return {"Input": x, "Output": y}
    if form == "pairs":
        return list(zip(x, y))
    return (x, y)


TRAIN_OPTIONS = {
    "BatchSize": st.one_of(st.integers(-2, 12), GARBAGE),
    "MaxTrainingRounds": st.one_of(st.integers(-1, 3), GARBAGE),
    "Method": st.one_of(
        misspelt(["ADAM", "SGD", "RMSProp"]),
        st.tuples(
            st.sampled_from(["ADAM", "SGD", "RMSProp"]),
            st.dictionaries(
                misspelt(
                    [
                        "Beta1",
                        "Momentum",
                        "L2Regularization",
                        "GradientClipping",
                        "LearningRateSchedule",
                        "Epsilon",
                        "Beta",
                    ]
                ),
                GARBAGE,
                max_size=2,
            ),
        ),
        GARBAGE,
    ),
    "LearningRate": st.one_of(st.floats(-1, 1e6), GARBAGE),
    "LearningRateMultipliers": GARBAGE,
    "LossFunction": st.one_of(
        st.sampled_from([ng.MeanSquaredLossLayer(), ng.CrossEntropyLossLayer("Index"), "Loss"]),
        GARBAGE,
    ),
    "ValidationSet": st.one_of(
        good_training_data(), st.builds(ng.Scaled, st.floats(-1, 2)), GARBAGE
    ),
    "RandomSeeding": GARBAGE,
    "TrainingProgressReporting": st.one_of(st.just(None), GARBAGE),
    "TrainingStoppingCriterion": GARBAGE,
    "TimeGoal": st.one_of(st.floats(-1, 0.05), GARBAGE),
    "TrainingProgressCheckpointing": st.one_of(
        st.tuples(st.sampled_from(["Directory", "File", "Dir"]), st.just("<tmp>/ck")), GARBAGE
    ),
    "ResumeFrom": st.one_of(st.just("<tmp>/missing"), st.just("<tmp>"), GARBAGE),
    "TargetDevice": GARBAGE,
    "WorkingPrecision": st.one_of(st.just("Real64"), GARBAGE),
    "Epsilion": GARBAGE,
}


def _in_tmp(value, tmp):
    if isinstance(value, str):
        return value.replace("<tmp>", tmp)
    if isinstance(value, tuple):
        return tuple(_in_tmp(v, tmp) for v in value)
    return value


TRAIN_NETS = {
    "linear": ng.LinearLayer(2, Input=3),
    "bn": ng.NetChain([ng.LinearLayer(3), ng.BatchNormalizationLayer(), ng.LinearLayer(2)]),
    "softmax": ng.NetChain([ng.LinearLayer(3), ng.BatchNormalizationLayer(), ng.SoftmaxLayer()]),
}


TRAIN_DATA = st.one_of(
    good_training_data(),
    good_training_data(),
    st.tuples(data_arrays(), data_arrays()),
    st.dictionaries(
        st.one_of(misspelt(["Input", "Output", "Target"]), HASHABLE),
        st.one_of(data_arrays(), GARBAGE),
        max_size=3,
    ),
    st.lists(st.tuples(data_arrays(), data_arrays()), max_size=3),
    GARBAGE,
)


@settings(FUZZ, max_examples=40)
@given(
    st.sampled_from(sorted(TRAIN_NETS)),
    TRAIN_DATA,
    st.lists(st.sampled_from(sorted(TRAIN_OPTIONS)), max_size=3, unique=True).flatmap(
        lambda keys: st.fixed_dictionaries({k: TRAIN_OPTIONS[k] for k in keys})
    ),
)
def test_net_train_raises_only_net_errors(name, data, options):
    with tempfile.TemporaryDirectory() as tmp:
        options = {k: _in_tmp(v, tmp) for k, v in options.items()}
        options = {**QUIET, "MaxTrainingRounds": 1, "TimeGoal": 0.05, **options}
        with only_net_errors(allow_missing_file="ResumeFrom" in options):
            ng.NetTrain(TRAIN_NETS[name], data, **options)


# ------------------------------------------------------------------------------ files


@settings(FUZZ, max_examples=30)
@given(
    st.one_of(st.text(max_size=6), st.sampled_from(["", ".", "a/b/c", "x.onnx", "..", "/"])),
    st.sampled_from([NESTED, EVAL_NETS["bn"], "not a net", None, ng.LinearLayer(2)]),
    st.binary(max_size=64),
)
def test_export_and_import_raise_only_net_errors(name, net, junk):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, name)
        with only_net_errors():
            ng.Export(path, net)
        with only_net_errors(allow_missing_file=True):
            ng.Import(path)
        junk_path = os.path.join(tmp, "junk.safetensors")
        with open(junk_path, "wb") as f:
            f.write(junk)
        with only_net_errors():
            ng.Import(junk_path)


# Found by this fuzzing in training/: each of these escaped as a raw TypeError/ValueError
# instead of a NetOptionError.
TRAINING_ESCAPES = [
    ("results property", lambda r: r[{}]),
    ("NetTrain property", {"prop": np.ones(2)}),
    ("TrainingProgressReporting", {"TrainingProgressReporting": np.ones(2)}),
    ("TrainingStoppingCriterion", {"TrainingStoppingCriterion": np.ones(2)}),
    ("Improvement", {"TrainingStoppingCriterion": {"Improvement": ("AbsoluteChange", "x")}}),
    ("Method", {"Method": np.ones(2)}),
    ("LearningRateSchedule", {"Method": ("SGD", {"LearningRateSchedule": lambda t: 1.0})}),
]


@pytest.mark.parametrize("case", TRAINING_ESCAPES, ids=[c[0] for c in TRAINING_ESCAPES])
def test_training_option_values_that_escape_as_raw_errors(case):
    _, bad = case
    x = np.ones((4, 3))
    options = {**QUIET, "MaxTrainingRounds": 2, "BatchSize": 4}
    with pytest.raises(ng.NetError):
        if callable(bad):
            bad(ng.NetTrain(TRAIN_NETS["linear"], (x, x[:, :2]), "All", **options))
        else:
            given = {k: v for k, v in bad.items() if k != "prop"}
            ng.NetTrain(
                TRAIN_NETS["linear"], (x, x[:, :2]), bad.get("prop"), **{**options, **given}
            )


def test_a_misspelt_learning_rate_multiplier_key_is_reported():
    net = ng.NetChain({"lin": ng.LinearLayer(3), "bn": ng.BatchNormalizationLayer()}, Input=2)
    x = np.ones((4, 2))
    with pytest.raises(ng.NetOptionError, match='Did you mean "bn"'):
        ng.NetTrain(
            net,
            (x, np.ones((4, 3))),
            LearningRateMultipliers={"bm": 0},
            MaxTrainingRounds=1,
            BatchSize=4,
            **QUIET,
        )
