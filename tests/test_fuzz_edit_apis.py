"""Fuzzing the net-editing, decoder and measurement APIs: every user mistake is a NetError.

The same rule as tests/test_fuzz_errors.py, for the public calls of the editing work: net
surgery (NetTake, NetDrop, NetAppend, NetPrepend, NetJoin, NetInsert, NetDelete, NetFlatten,
NetRename), `net[...]`, NetExtract lists and `All` paths, LearningRateMultipliers rules,
decoders and their properties, `net(x, NetPort(...))`, measurement specs and progress functions.
Each draw is either accepted (any result) or refused with a `NetError`; any other exception, or
a RuntimeWarning (numpy's warnings), fails. netgraph's own UserWarnings (such as "all
parameters frozen") are intended messages and allowed.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import netgraph as ng

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)
QUIET = {"TrainingProgressReporting": None}


@contextlib.contextmanager
def only_net_errors():
    """The body may return or raise a NetError; anything else (a RuntimeWarning too) fails."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", RuntimeWarning)
        try:
            yield
        except ng.NetError:
            pass


# ------------------------------------------------------------------------------ nets

CHAIN = ng.NetInitialize(
    ng.NetChain(
        {"a": ng.LinearLayer(3), "b": ng.ElementwiseLayer("Tanh"), "c": ng.LinearLayer(2)},
        Input=2,
    )
)
GRAPH = ng.NetInitialize(
    ng.NetGraph(
        {"l": ng.LinearLayer(2), "t": ng.ElementwiseLayer("Ramp"), "s": ng.TotalLayer()},
        [(ng.NetPort("Input"), "l"), ("l", "t"), (["l", "t"], "s")],
        Input=2,
    )
)
NESTED = ng.NetInitialize(
    ng.NetChain(
        {"block": ng.NetChain({"lin": ng.LinearLayer(2), "r": "Ramp"}), "out": ng.LinearLayer(1)},
        Input=2,
    )
)
CLASSIFIER = ng.NetInitialize(
    ng.NetChain(
        [ng.LinearLayer(3), ng.SoftmaxLayer()],
        Input=2,
        Output=ng.NetDecoder(("Class", ["x", "y", "z"])),
    )
)
BOOLEAN = ng.NetInitialize(
    ng.NetChain(
        [ng.LinearLayer(1), ng.ElementwiseLayer("LogisticSigmoid")],
        Input=2,
        Output=ng.NetDecoder("Boolean"),
    )
)
NETS = st.sampled_from([CHAIN, GRAPH, NESTED, CLASSIFIER])

# ------------------------------------------------------------------------------ junk

NAMES = st.sampled_from(
    ["a", "b", "c", "l", "t", "s", "block", "lin", "out", "Input", "Output", "Weights", "", "zz"]
)
ATOMS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-6, 6),
    st.sampled_from([10**30, -(10**30), np.int64(1), np.int8(-1), np.bool_(True)]),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    NAMES,
    st.text(max_size=3),
    st.builds(
        slice,
        st.one_of(st.none(), st.integers(-5, 5), NAMES, st.floats(-2, 2)),
        st.one_of(st.none(), st.integers(-5, 5), NAMES),
        st.one_of(st.none(), st.integers(-3, 3), st.just(0)),
    ),
    st.sampled_from(
        [
            ng.All,
            ng.Automatic,
            Ellipsis,
            1j,
            b"a",
            ng.NetPort("Input"),
            ng.NetPort("Output"),
            ng.NetPort("a", "Output"),
            ng.NetPort("l"),
            ng.NetPort(ng.All),
            ng.NetPort(("block", "lin"), "Output"),
            ng.NetPortGradient("Input"),
            ng.NetSharedArray("w"),
            ng.LinearLayer(2),
            ng.ElementwiseLayer("Tanh"),
            ng.SoftmaxLayer(),
            CHAIN,
            GRAPH,
            abs,
            object(),
            np.array([1, 2]),
            np.array(0.5),
            {1, 2},
        ]
    ),
)
HASHABLE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-4, 4),
    NAMES,
    st.floats(-2, 2),
    st.sampled_from(
        [ng.All, ng.NetPort("a"), ng.NetPort("Input"), (0, "Weights"), ("block", "lin")]
    ),
)
JUNK = st.recursive(
    ATOMS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(HASHABLE, inner, max_size=2),
    ),
    max_leaves=5,
)
X = np.array([[0.5, -1.0], [2.0, 0.0]])
XY = (
    np.array([[0.5, -1.0], [2.0, 0.0], [1.0, 1.0]]),
    np.array([[0.1, 0.2], [0.0, 1.0], [1.0, 0.0]]),
)
TRAIN = dict(MaxTrainingRounds=1, BatchSize=3, **QUIET)
SLICES = st.builds(
    slice, st.integers(-3, 3), st.one_of(st.none(), st.integers(-3, 3)), st.integers(-2, 2)
)
PAIRS = st.lists(st.tuples(st.one_of(JUNK, SLICES), st.one_of(JUNK, st.floats(-1, 2))), max_size=3)
RULES = st.one_of(
    JUNK, PAIRS, st.dictionaries(HASHABLE, st.one_of(JUNK, st.floats(-1, 2)), max_size=3)
)


# ------------------------------------------------------------------------------ surgery

SURGERY = {
    "NetTake": lambda d: ng.NetTake(d.draw(NETS), d.draw(JUNK)),
    "NetDrop": lambda d: ng.NetDrop(d.draw(NETS), d.draw(JUNK)),
    "NetAppend": lambda d: ng.NetAppend(d.draw(NETS), d.draw(JUNK)),
    "NetPrepend": lambda d: ng.NetPrepend(d.draw(NETS), d.draw(JUNK)),
    "NetJoin": lambda d: ng.NetJoin(*d.draw(st.lists(st.one_of(NETS, JUNK), max_size=3))),
    "NetInsert": lambda d: ng.NetInsert(d.draw(NETS), d.draw(JUNK), d.draw(JUNK)),
    "NetDelete": lambda d: ng.NetDelete(d.draw(NETS), d.draw(JUNK)),
    "NetFlatten": lambda d: ng.NetFlatten(d.draw(st.one_of(NETS, JUNK)), d.draw(JUNK)),
    "NetRename": lambda d: ng.NetRename(
        d.draw(NETS), *d.draw(st.lists(JUNK, min_size=1, max_size=2))
    ),
    "getitem": lambda d: d.draw(NETS)[d.draw(JUNK)],
    "NetExtract": lambda d: ng.NetExtract(d.draw(NETS), d.draw(JUNK)),
}


@pytest.mark.parametrize("name", sorted(SURGERY))
@FUZZ
@given(data=st.data())
def test_net_surgery_raises_only_net_errors(name, data):
    with only_net_errors():
        SURGERY[name](data)


# ------------------------------------------------------------------------------ regressions


def test_net_rename_of_an_unhashable_old_name_is_a_net_error():
    with pytest.raises(ng.NetGraphError, match=r"NetRename: the layer or port to rename .*\[1\]"):
        ng.NetRename(CHAIN, [1], "x")


def test_a_multiplier_range_with_step_zero_is_a_net_error():
    with pytest.raises(ng.NetOptionError, match=r"range slice\(0, 2, 0\) has step 0"):
        ng.NetTrain(CHAIN, XY, LearningRateMultipliers=[(slice(0, 2, 0), 0)], **TRAIN)
    with pytest.raises(ng.NetOptionError, match="step 0"):
        ng.NetChain(
            [ng.LinearLayer(2)], Input=2, LearningRateMultipliers=[(slice(None, None, 0), 0)]
        )
