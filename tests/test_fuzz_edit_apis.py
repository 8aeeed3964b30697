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
from hypothesis.extra.numpy import array_shapes, arrays

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
MULTI = ng.NetInitialize(  # two inputs, two outputs
    ng.NetGraph(
        {"p": ng.LinearLayer(2), "q": ng.LinearLayer(3)},
        [
            (ng.NetPort("A"), "p"),
            (ng.NetPort("B"), "q"),
            ("p", ng.NetPort("Out1")),
            ("q", ng.NetPort("Out2")),
        ],
        A=2,
        B=2,
    )
)
SHARED = ng.NetInitialize(  # a shared array, and the chain's own multipliers
    ng.NetChain(
        {
            "u": ng.LinearLayer(2, Weights=ng.NetSharedArray("w")),
            "v": ng.LinearLayer(2, Weights=ng.NetSharedArray("w")),
        },
        Input=2,
        LearningRateMultipliers={"u": 0},
    )
)
NETS = st.sampled_from([CHAIN, GRAPH, NESTED, CLASSIFIER, MULTI, SHARED])

# ------------------------------------------------------------------------------ junk


def nested(levels: int, wrap) -> object:
    value: object = 0
    for _ in range(levels):
        value = wrap(value)
    return value


# deeper than Python's recursion limit: even repr() of these raises RecursionError
DEEP = [
    nested(5000, lambda v: [v]),
    nested(5000, lambda v: (v,)),
    nested(5000, lambda v: ("a", v)),
    nested(5000, lambda v: {"a": v}),
]
LOOP: list = []
LOOP.append(LOOP)  # a list that contains itself

NAMES = st.sampled_from(
    ["a", "b", "c", "l", "t", "s", "block", "lin", "out", "Input", "Output", "Weights", "", "zz"]
)
ATOMS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-6, 6),
    st.sampled_from([10**30, -(10**30), 10**400, np.int64(1), np.int8(-1), np.bool_(True)]),
    st.sampled_from([np.complex128(1), np.uint64(2**63), np.int64(-(2**63)), np.float16(2)]),
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
            LOOP,
        ]
    ),
    st.integers(0, len(DEEP) - 1).map(lambda i: DEEP[i]),  # not in a repr'd strategy
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


# ------------------------------------------------------------------------------ multipliers


@FUZZ
@given(rules=RULES)
def test_container_multiplier_rules_raise_only_net_errors(rules):
    with only_net_errors():
        net = ng.NetChain(
            {"a": ng.LinearLayer(3), "b": "Tanh", "c": ng.LinearLayer(2)},
            Input=2,
            LearningRateMultipliers=rules,
        )
        ng.Information(net, "ArraysLearningRateMultipliers")
        ng.NetTrain(ng.NetInitialize(net), XY, **TRAIN)


@FUZZ
@given(rules=RULES, net=st.sampled_from([CHAIN, GRAPH, NESTED]))
def test_net_train_multiplier_rules_raise_only_net_errors(rules, net):
    with only_net_errors():
        ng.NetTrain(net, XY, LearningRateMultipliers=rules, **TRAIN)


# ------------------------------------------------------------------------------ decoders and ports

DECODER_SPECS = st.one_of(
    JUNK,
    st.tuples(st.sampled_from(["Class", "Boolean", "Clas"]), JUNK),
    st.tuples(
        st.just("Class"),
        st.lists(st.one_of(NAMES, st.integers(-2, 2), st.booleans(), JUNK), max_size=4),
    ),
)
PROPS = st.one_of(
    JUNK,
    st.tuples(
        st.sampled_from(["TopProbabilities", "TopDecisions", "Probability", "Decision", "Entropy"]),
        JUNK,
    ),
    st.sampled_from(
        ["Decision", "Probabilities", "TopProbabilities", "Entropy", "TopDecisions", "Probability"]
    ),
)


@FUZZ
@given(spec=DECODER_SPECS)
def test_decoder_specs_raise_only_net_errors(spec):
    with only_net_errors():
        decoder = ng.NetDecoder(spec)
        ng.NetExtract(decoder, "Labels")
        net = ng.NetInitialize(
            ng.NetChain([ng.LinearLayer(3), ng.SoftmaxLayer()], Input=2, Output=decoder)
        )
        net(X), net(X[0])
        ng.Information(net, "OutputPortDecoders")


DECODERS = st.sampled_from([ng.NetDecoder(("Class", ["a", "b"])), ng.NetDecoder("Boolean")])
PROBABILITIES = st.one_of(
    JUNK,
    arrays(np.float64, array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=3),
)


@FUZZ
@given(decoder=DECODERS, data=PROBABILITIES, prop=PROPS)
def test_a_decoder_called_on_junk_raises_only_net_errors(decoder, data, prop):
    with only_net_errors():
        decoder(data, prop)


@FUZZ
@given(
    net=st.sampled_from([CHAIN, CLASSIFIER, BOOLEAN, GRAPH]),
    x=st.sampled_from([X, X[0]]),
    prop=PROPS,
)
def test_decoder_properties_raise_only_net_errors(net, x, prop):
    with only_net_errors():
        net(x, prop)


@FUZZ
@given(
    net=NETS,
    args=st.lists(st.lists(JUNK, min_size=1, max_size=2), min_size=1, max_size=2),
    many=st.booleans(),
)
def test_net_port_requests_raise_only_net_errors(net, args, many):
    with only_net_errors():
        ports = [ng.NetPort(*a) for a in args]
        net(X, ports if many else ports[0])


# ------------------------------------------------------------------------------ measurements

CXY = {"Input": XY[0], "Output": ["x", "y", "z"]}
BXY = {"Input": XY[0], "Output": [True, False, True]}
RETURNS = st.one_of(  # what a user's function gives back
    JUNK, st.sampled_from([1.0, np.nan, np.inf, -1e40, np.ones(2), np.float32(2), "StopTraining"])
)
CUSTOM = st.dictionaries(
    st.sampled_from(["Measurement", "Key", "Foo", "measurement"]),
    st.one_of(JUNK, st.builds(lambda r: lambda out, target: r, RETURNS)),
)
WELL_FORMED = st.fixed_dictionaries(
    {
        "Measurement": st.builds(lambda r: lambda out, target: r, RETURNS),
        "Key": st.one_of(NAMES, JUNK),
    }
)
MEASUREMENTS = st.one_of(
    JUNK, CUSTOM, WELL_FORMED, st.lists(st.one_of(JUNK, CUSTOM, WELL_FORMED), max_size=2)
)


@FUZZ
@given(net=st.sampled_from([CHAIN, CLASSIFIER]), spec=MEASUREMENTS)
def test_training_progress_measurements_raise_only_net_errors(net, spec):
    with only_net_errors():
        ng.NetTrain(
            net, CXY if net is CLASSIFIER else XY, TrainingProgressMeasurements=spec, **TRAIN
        )


@FUZZ
@given(which=st.sampled_from([(CHAIN, XY), (CLASSIFIER, CXY), (BOOLEAN, BXY)]), spec=MEASUREMENTS)
def test_net_measurements_specs_raise_only_net_errors(which, spec):
    with only_net_errors():
        ng.NetMeasurements(*which, spec)


OPTION_NAMES = st.sampled_from(
    [
        "BatchSize",
        "batch_size",
        "WorkingPrecision",
        "working_precision",
        "LossFunction",
        "Batchsize",
        "Foo",
    ]
)


@FUZZ
@given(options=st.dictionaries(OPTION_NAMES, JUNK, max_size=2))
def test_net_measurements_options_raise_only_net_errors(options):
    with only_net_errors():
        ng.NetMeasurements(CHAIN, XY, "Loss", **options)


@FUZZ
@given(
    form=st.one_of(
        JUNK,
        st.tuples(st.just(lambda info: None), JUNK),
        st.tuples(
            st.just(lambda info: None),
            st.dictionaries(st.sampled_from(["Interval", "interval"]), JUNK),
        ),
        st.tuples(st.just(lambda info: info[0]), st.just({"Interval": "Round"})),
        st.tuples(
            st.builds(lambda r: lambda info: r, RETURNS),
            st.sampled_from([{"Interval": "Round"}, {"Interval": 1}]),
        ),
    )
)
def test_training_progress_function_forms_raise_only_net_errors(form):
    with only_net_errors():
        ng.NetTrain(CHAIN, XY, TrainingProgressFunction=form, **TRAIN)


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


def test_a_zero_dimensional_array_of_labels_is_a_net_error():
    with pytest.raises(ng.NetOptionError, match="expected a list of class labels, got array"):
        ng.NetDecoder(("Class", np.array(1)))


DEEP_CALLS = {
    "NetTake": lambda v: ng.NetTake(CHAIN, v),
    "NetDrop": lambda v: ng.NetDrop(CHAIN, v),
    "NetAppend": lambda v: ng.NetAppend(CHAIN, v),
    "NetPrepend": lambda v: ng.NetPrepend(CHAIN, v),
    "NetJoin": lambda v: ng.NetJoin(CHAIN, v),
    "NetInsert": lambda v: ng.NetInsert(CHAIN, v, 0),
    "NetDelete": lambda v: ng.NetDelete(GRAPH, v),
    "NetRename": lambda v: ng.NetRename(CHAIN, v, "q"),
    "NetExtract": lambda v: ng.NetExtract(CHAIN, v),
    "NetChain": lambda v: CHAIN[v],
    "NetDecoder": lambda v: ng.NetDecoder(("Class", v)),
    "NetPort": lambda v: CHAIN(X, ng.NetPort(v)),
    "NetTrain": lambda v: ng.NetTrain(CHAIN, XY, LearningRateMultipliers=v, **TRAIN),
    "NetMeasurements": lambda v: ng.NetMeasurements(CHAIN, XY, v),
}


@pytest.mark.parametrize("call", sorted(DEEP_CALLS))
@pytest.mark.parametrize("value", range(len(DEEP)))
def test_a_value_nested_beyond_the_recursion_limit_is_a_net_error_naming_the_call(call, value):
    """Even repr() of these values raises RecursionError, so any message quoting one did."""
    with pytest.raises(ng.NetError):
        DEEP_CALLS[call](DEEP[value])


@pytest.mark.parametrize("call", ["NetTake", "NetExtract", "NetTrain", "NetMeasurements"])
def test_the_deep_nesting_message_names_the_call(call):
    with pytest.raises(ng.NetError, match=f"^{call}: a value or net is nested too deeply"):
        DEEP_CALLS[call](DEEP[0])


def test_a_layer_evaluated_with_a_deeply_nested_property_names_its_class():
    with pytest.raises(ng.NetError, match="^NetChain: a value or net is nested too deeply"):
        CHAIN(X, DEEP[0])


def test_net_train_warnings_still_point_at_the_callers_line():
    """NetTrain's wrapper adds a frame: its warnings' stacklevel counts it."""
    x = np.ones((3, 2))
    with pytest.warns(UserWarning) as record:
        ng.NetTrain(CHAIN, (x, x), MaxTrainingRounds=1, LearningRateMultipliers=0, **QUIET)
    messages = {str(w.message).split(" ")[0]: w.filename for w in record}
    assert messages == {"BatchSize": __file__, "All": __file__}


def test_containers_nested_hundreds_deep_are_a_net_error_when_python_cannot_follow():
    net = ng.LinearLayer(2)
    for _ in range(400):
        net = ng.NetChain([net])
    with pytest.raises(ng.NetError, match="^NetChain: a value or net is nested too deeply"):
        ng.NetChain([net], Input=2)


LRM_PLACES = {
    "layer": lambda v: ng.LinearLayer(2, LearningRateMultipliers=v),
    "container": lambda v: ng.NetChain([ng.LinearLayer(2)], Input=2, LearningRateMultipliers=v),
    "container rule": lambda v: ng.NetChain(
        [ng.LinearLayer(2)], Input=2, LearningRateMultipliers={0: v}
    ),
    "NetTrain": lambda v: ng.NetTrain(CHAIN, XY, LearningRateMultipliers=v, **TRAIN),
    "NetTrain rule": lambda v: ng.NetTrain(CHAIN, XY, LearningRateMultipliers=[(0, v)], **TRAIN),
}


@pytest.mark.parametrize("place", sorted(LRM_PLACES))
@pytest.mark.parametrize("value", [10**400, -(10**400)])
def test_a_multiplier_beyond_float_range_is_not_finite(place, value):
    """An int float64 cannot hold: numpy's isfinite raised TypeError, float() OverflowError."""
    with pytest.raises(ng.NetOptionError, match="finite"):
        LRM_PLACES[place](value)


@pytest.mark.parametrize("place", sorted(LRM_PLACES))
def test_a_multiplier_of_1e30_as_a_python_int_is_accepted_like_the_float(place):
    assert LRM_PLACES[place](10**30) is not None


@pytest.mark.parametrize("place", sorted(LRM_PLACES))
def test_a_complex_multiplier_is_refused(place):
    """np.complex128 is an np.number: it was taken, its imaginary part dropped with a warning."""
    with pytest.raises(ng.NetOptionError, match="LearningRateMultipliers"):
        LRM_PLACES[place](np.complex128(1))


@pytest.mark.parametrize("value", [10**400, np.complex128(1), np.array([1j])])
def test_a_custom_measurement_returning_a_huge_int_or_a_complex_is_a_net_error(value):
    """float() raised OverflowError, or dropped the imaginary part with a ComplexWarning."""
    spec = {"Measurement": lambda out, target: value, "Key": "k"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ng.NetOptionError, match="'k' should return a number"):
            ng.NetMeasurements(CHAIN, XY, spec)
        with pytest.raises(ng.NetOptionError, match="'k' should return a number"):
            ng.NetTrain(CHAIN, XY, TrainingProgressMeasurements=spec, **TRAIN)


@pytest.mark.parametrize("call", [ng.NetTake, ng.NetDrop])
def test_the_most_negative_int64_position_is_refused_without_an_overflow_warning(call):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ng.NetGraphError, match="cannot take 9223372036854775808 layers"):
            call(CHAIN, np.int64(-(2**63)))


CLASS_AB = ng.NetDecoder(("Class", ["a", "b"]))


@pytest.mark.parametrize(
    "data", ["x", None, 1j, 10**400, object(), [[0.1, 0.9], [0.5]], np.zeros((0, 2))]
)
def test_a_decoder_given_no_numbers_is_a_data_error(data):
    """These were ValueError, TypeError or OverflowError from numpy's float conversion."""
    with pytest.raises(ng.NetDataError, match="expected probabilities"):
        CLASS_AB(data)


@pytest.mark.parametrize(
    "decoder, data",
    [(CLASS_AB, 0.5), (CLASS_AB, [0.1, 0.2, 0.7]), (CLASS_AB, np.zeros((2, 2, 2)))]
    + [
        (ng.NetDecoder("Boolean"), np.zeros((2, 3))),
        (ng.NetDecoder("Boolean"), np.zeros((1, 1, 1))),
    ],
)
def test_a_decoder_given_the_wrong_shape_is_a_shape_error(decoder, data):
    """A scalar was a TypeError; a Boolean decoder silently read column 0 of a (2, 3) array."""
    with pytest.raises(ng.NetShapeError, match=r"expected shape .* got \("):
        decoder(data)


def test_a_boolean_decoder_takes_a_column_batch():
    assert ng.NetDecoder("Boolean")([[0.2], [0.9]]) == [False, True]


@pytest.mark.parametrize("f", [abs, lambda out, target: 1 / 0])
def test_a_custom_measurement_that_fails_is_an_option_error_naming_it(f):
    """abs takes one argument, not (output, target): the raw TypeError escaped."""
    spec = {"Measurement": f, "Key": "k"}
    with pytest.raises(
        ng.NetOptionError, match=r"custom measurement 'k' failed \((Type|ZeroDivision)"
    ):
        ng.NetMeasurements(CHAIN, XY, spec)
    with pytest.raises(ng.NetOptionError, match="custom measurement 'k' failed"):
        ng.NetTrain(CHAIN, XY, TrainingProgressMeasurements=spec, **TRAIN)


def test_a_renaming_function_that_fails_is_a_graph_error_naming_it():
    with pytest.raises(
        ng.NetGraphError, match=r"NetRename: the renaming function 'abs' failed \(TypeError"
    ):
        ng.NetRename(CHAIN, abs)
