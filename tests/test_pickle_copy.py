"""Nets and netgraph values under pickle, copy and deepcopy: a pickled net comes back equal (same
class, options, shapes, arrays bit-exact and read-only, shared arrays still shared, multipliers
kept) and evaluates bit for bit like the original; NetErrors unpickle intact; a net and its
errors cross to a `multiprocessing` worker."""

from __future__ import annotations

import copy
import multiprocessing
import pickle

import numpy as np
import pytest

import netgraph as ng
from netgraph import errors
from netgraph.layer import LAYER_TYPES
from netgraph.training import multipliers

RNG = np.random.default_rng
PROTOCOLS = range(pickle.HIGHEST_PROTOCOL + 1)


def _catenate() -> ng.Layer:
    graph = ng.NetGraph(
        {"c": ng.CatenateLayer()}, [([ng.NetPort("A"), ng.NetPort("B")], "c")], A=(2, 3), B=(1, 3)
    )
    return ng.NetExtract(graph, "c")


# one example per layer type; test_every_layer_type_has_an_example keeps the list complete
EXAMPLES = {
    "BatchNormalizationLayer": lambda: ng.BatchNormalizationLayer(Input=(3, 4), Epsilon=0.01),
    "CatenateLayer": _catenate,
    "ConvolutionLayer": lambda: ng.ConvolutionLayer(4, (3, 2), Stride=(1, 2), Input=(2, 5, 6)),
    "CrossEntropyLossLayer": lambda: ng.CrossEntropyLossLayer("Binary", Input=4),
    "DropoutLayer": lambda: ng.DropoutLayer(0.25, Input=4),
    "ElementwiseLayer": lambda: ng.ElementwiseLayer("Tanh", Input=(2, 3)),
    "FlattenLayer": lambda: ng.FlattenLayer(1, Input=(2, 3, 4)),
    "LinearLayer": lambda: ng.LinearLayer((2, 2), Input=(2, 3), LearningRateMultipliers=0.5),
    "MeanSquaredLossLayer": lambda: ng.MeanSquaredLossLayer(Input=3),
    "NetChain": lambda: ng.NetChain([ng.LinearLayer(3), "Ramp", ng.SoftmaxLayer()], Input=2),
    "NetGraph": lambda: ng.NetGraph(
        {"a": ng.BatchNormalizationLayer(), "b": ng.LinearLayer(2), "t": ng.TotalLayer()},
        [(ng.NetPort("Input"), "a", "b"), (["a", ng.NetPort("Input")], "t")],
        Input=(3,),
    ),
    "PoolingLayer": lambda: ng.PoolingLayer((2, 2), Stride=2, Function="Mean", Input=(2, 6, 6)),
    "ReshapeLayer": lambda: ng.ReshapeLayer((3, 2), Input=6),
    "SoftmaxLayer": lambda: ng.SoftmaxLayer(1, Input=(3, 4)),
    "ThreadingLayer": lambda: ng.ThreadingLayer("Subtract", Input1=(2, 2)),
    "TotalLayer": lambda: ng.TotalLayer(Input1=3),
}


def _data(net: ng.Layer, n: int = 3) -> dict:
    """A random batch for every input port (values in (0, 1): valid for every loss form)."""
    return {p: RNG(5).uniform(0.05, 0.95, (n, *s)) for p, s in net.input_shapes.items()}


def _initialized(net: ng.Layer) -> ng.Layer:
    """Initialized with values that differ everywhere, so a mixed-up array would show."""
    net = ng.NetInitialize(net, RandomSeeding=3)
    arrays = ng.Information(net, "Arrays")
    rules = {p: RNG(i).uniform(0.5, 1.5, a.shape) for i, (p, a) in enumerate(arrays.items())}
    return ng.NetReplacePart(net, rules) if rules else net


def _round_trip(value, protocol=pickle.DEFAULT_PROTOCOL):
    return pickle.loads(pickle.dumps(value, protocol=protocol))


def _assert_same_net(got: ng.Layer, net: ng.Layer) -> None:
    assert type(got) is type(net)
    assert got == net
    assert got.options == net.options
    assert (got.input_shapes, got.output_shapes) == (net.input_shapes, net.output_shapes)
    assert repr(got) == repr(net)
    want, have = net._array_values(), got._array_values()
    assert list(have) == list(want)
    for aid, a in want.items():
        b = have[aid]
        if a is None:
            assert b is None, aid
        else:
            assert (b.dtype, b.shape, b.tobytes()) == (a.dtype, a.shape, a.tobytes()), aid
            assert not b.flags.writeable, f"{aid} came back writable"
    assert multipliers.resolve(got) == multipliers.resolve(net)


def _outputs(result) -> list:
    return list(result.values()) if isinstance(result, dict) else [result]


# ---------------------------------------------------------------------------- every layer type


def test_every_layer_type_has_an_example():
    ours = {n for n, c in LAYER_TYPES.items() if c.__module__.startswith("netgraph.")}
    assert ours <= set(EXAMPLES), f"add an example for {sorted(ours - set(EXAMPLES))}"


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_pickle_round_trip_of_every_layer_type(kind):
    net = EXAMPLES[kind]()
    got = _round_trip(net)
    _assert_same_net(got, net)
    assert got.is_initialized() == net.is_initialized()  # arrayless layers are initialized
    net = _initialized(net)
    got = _round_trip(net)
    _assert_same_net(got, net)
    x = _data(net)
    for options in ({}, {"WorkingPrecision": "Real64"}, {"NetEvaluationMode": "Train"}):
        want = _outputs(net(x, RandomSeeding=7, **options))
        have = _outputs(got(x, RandomSeeding=7, **options))
        for a, b in zip(have, want, strict=True):
            assert (a.dtype, a.tobytes()) == (b.dtype, b.tobytes()), options


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_every_pickle_protocol(protocol):
    net = _initialized(EXAMPLES["NetGraph"]())
    _assert_same_net(_round_trip(net, protocol), net)


@pytest.mark.parametrize("kind", ["LinearLayer", "NetChain"])
def test_copy_and_deepcopy_give_the_net_itself(kind):
    net = _initialized(EXAMPLES[kind]())
    assert copy.copy(net) is net
    assert copy.deepcopy(net) is net
    held = copy.deepcopy({"net": net, "nets": [net, net]})
    assert held["net"] is net and held["nets"][1] is net


def test_the_cache_is_not_pickled():
    net = _initialized(EXAMPLES["NetChain"]())
    before = pickle.dumps(net)
    net(_data(net), WorkingPrecision="Real64")  # fills the plan and the cast arrays
    assert net._cache
    assert pickle.dumps(net) == before
    assert pickle.loads(before)._cache == {}


def test_unpickled_arrays_stay_read_only():
    got = _round_trip(_initialized(ng.LinearLayer(2, Input=3)))
    weights = ng.NetExtract(got, "Weights")
    with pytest.raises(ValueError):
        got._arrays["Weights"][0, 0] = 5.0
    assert np.array_equal(ng.NetExtract(got, "Weights"), weights)


# ---------------------------------------------------------------------------- containers


def _nested_shared_net() -> ng.Layer:
    """A graph holding a chain whose two BN layers share Scaling/Biases, a layer-level and a
    container-level LearningRateMultipliers, and a list-built inner chain."""
    bn = ng.NetInsertSharedArrays(ng.BatchNormalizationLayer(), "bn/")
    inner = ng.NetChain([bn, ng.LinearLayer(3, LearningRateMultipliers=0.25), bn])
    return ng.NetGraph(
        {"inner": inner, "head": ng.NetChain([ng.LinearLayer(2)], LearningRateMultipliers=0)},
        [(ng.NetPort("Input"), "inner", "head")],
        Input=3,
    )


@pytest.mark.parametrize("initialized", [False, True])
def test_nested_containers_keep_shared_arrays_and_multipliers(initialized):
    net = _nested_shared_net()
    net = _initialized(net) if initialized else net
    got = _round_trip(net)
    _assert_same_net(got, net)
    assert ng.Information(got, "SharedArraysCount") == 2
    rates = multipliers.resolve(got)
    assert rates[ng.NetSharedArray("bn/Scaling")] == 1.0
    assert rates[("inner", 1, "Weights")] == 0.25
    assert rates[("head", 0, "Weights")] == 0.0
    if initialized:
        # still one array: a new value replaces both uses, as in the original
        x = _data(net)
        new = {ng.NetSharedArray("bn/Biases"): np.array([1.0, -2.0, 3.0])}
        want = ng.NetReplacePart(net, new)(x)
        have = ng.NetReplacePart(got, new)(x)
        assert have.tobytes() == want.tobytes()


def test_pickled_nets_train_the_same():
    net = _initialized(ng.NetChain([ng.LinearLayer(3), "Tanh", ng.LinearLayer(1)], Input=2))
    x, y = RNG(1).normal(size=(16, 2)), RNG(2).normal(size=(16, 1))
    options = {"MaxTrainingRounds": 2, "BatchSize": 4, "TrainingProgressReporting": None}
    want = ng.NetTrain(net, (x, y), **options)
    have = ng.NetTrain(_round_trip(net), (x, y), **options)
    _assert_same_net(have, want)


# ---------------------------------------------------------------------------- values


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_sentinels_stay_singletons(protocol):
    for sentinel in (ng.Automatic, ng.All):
        assert _round_trip(sentinel, protocol) is sentinel
        assert copy.copy(sentinel) is sentinel and copy.deepcopy(sentinel) is sentinel
    assert _round_trip(ng.NetPortGradient(ng.All), protocol).spec is ng.All


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_small_values_round_trip(protocol):
    values = [
        ng.NetPort("Input"),
        ng.NetPort("bn", "Output"),
        ng.NetPort(0, "Output"),
        ng.NetPortGradient("Input"),
        ng.NetPortGradient(("bn", "Scaling")),
        ng.NetPortGradient(ng.NetSharedArray("w")),
        ng.NetSharedArray("w"),
        ng.Scaled(0.25),
    ]
    for value in values:
        got = _round_trip(value, protocol)
        assert type(got) is type(value) and got == value and repr(got) == repr(value)


@pytest.mark.parametrize("kind", ["Real16", "Real32", "Real64", "Integer8", "UnsignedInteger64"])
def test_numeric_array_round_trip_is_exact_and_read_only(kind):
    na = ng.NumericArray(np.round(RNG(0).uniform(0, 100, (2, 3))), kind)  # integers fit all kinds
    for got in (_round_trip(na), copy.copy(na), copy.deepcopy(na)):
        assert got.type == kind and got.shape == (2, 3)
        assert np.asarray(got).tobytes() == np.asarray(na).tobytes()
        assert not np.asarray(got).flags.writeable


# ---------------------------------------------------------------------------- errors


class _KeywordError(ng.NetShapeError):
    """An error whose constructor takes keyword-only arguments (the usual unpickling trap)."""

    def __init__(self, *, port: str, got: tuple):
        super().__init__(f'port "{port}" got shape {got}.')
        self.port = port


ERROR_TYPES = [errors.NetError, *errors.NetError.__subclasses__()]


@pytest.mark.parametrize("cls", ERROR_TYPES, ids=lambda c: c.__name__)
def test_net_errors_round_trip(cls):
    error = cls('LinearLayer: port "Input" has shape (3,), but got (4,).')
    got = _round_trip(error)
    assert type(got) is cls and got.args == error.args and str(got) == str(error)


def test_errors_with_keyword_only_arguments_and_notes_round_trip():
    error = _KeywordError(port="Input", got=(4,))
    error.add_note("while evaluating the net")
    got = _round_trip(error)
    assert type(got) is _KeywordError
    assert str(got) == 'port "Input" got shape (4,).'
    assert got.port == "Input" and got.__notes__ == ["while evaluating the net"]
    assert copy.copy(error).port == "Input"


# ---------------------------------------------------------------------------- a worker process


def test_a_spawned_worker_evaluates_the_net_and_raises_its_errors():
    net = _initialized(
        ng.NetChain([ng.LinearLayer(3), "Tanh", ng.BatchNormalizationLayer()], Input=2)
    )
    x = RNG(0).normal(size=(4, 2))
    bad = np.ones((4, 5))
    with pytest.raises(ng.NetShapeError) as here:
        net(bad)
    # a task the worker cannot unpickle is lost and would hang `apply`: wait with a timeout
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        got = pool.apply_async(net, (x,)).get(timeout=60)  # the net itself is the task
        assert got.tobytes() == net(x).tobytes()
        with pytest.raises(ng.NetShapeError) as there:
            pool.apply_async(net, (bad,)).get(timeout=60)
    assert type(there.value) is ng.NetShapeError
    assert str(there.value) == str(here.value)
