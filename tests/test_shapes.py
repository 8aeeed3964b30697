"""Port shapes: parsing, unification (with `None` dims and `...`), conflicts, ShapeStore."""

import numpy as np
import pytest

import netgraph as ng
from netgraph import shapes as S


@pytest.mark.parametrize(
    "a, b, expected",
    [
        (None, (3, 4), (3, 4)),
        ((3, None), (None, 8), (3, 8)),
        ((), (), ()),
        ((3, ...), (3, 8, 8), (3, 8, 8)),
        ((3, ...), (None,), (3,)),
        ((3, ...), (3,), (3,)),
        ((..., 5), (2, 7, 5), (2, 7, 5)),
        ((2, ..., 5), (2, 5), (2, 5)),
        ((2, ..., 5), (2, None, None, 5), (2, None, None, 5)),
        ((None, ...), (3, ...), (3, ...)),
        ((3, ...), (3, 4, ...), (3, 4, ...)),
        ((..., 5), (..., 4, None), (..., 4, 5)),
        ((3, ...), (..., 5), (3, ..., 5)),  # no rank-1 shape is both: rank >= 2
    ],
)
def test_unify(a, b, expected):
    assert S.unify(a, b) == expected
    assert S.unify(b, a) == expected


@pytest.mark.parametrize(
    "a, b",
    [
        ((3,), (4,)),
        ((3, 4), (3,)),
        ((3, None), (None, 4, 5)),
        ((), (1,)),
        ((3, ...), (4, 8)),
        ((3, ...), ()),
        ((..., 5), (5, 4)),
        ((2, ..., 5), (2,)),
        ((3, ...), (4, ...)),
    ],
)
def test_unify_conflicts(a, b):
    with pytest.raises(S.ShapeConflict):
        S.unify(a, b)
    with pytest.raises(S.ShapeConflict):
        S.unify(b, a)


def test_unify_of_prefix_and_suffix_keeps_both_constraints():
    both = S.unify((3, ...), (..., 5))
    assert S.unify(both, (3, 7, 5)) == (3, 7, 5)
    for wrong in [(3,), (3, 7, 4), (4, 5)]:
        with pytest.raises(S.ShapeConflict):
            S.unify(both, wrong)


def test_unify_is_monotone_for_a_chain_of_facts():
    facts = [None, (None, ...), (None, None, ...), (3, None, ...), (3, None, 8), (3, 8, 8)]
    shape = None
    for fact in facts:
        shape = S.unify(shape, fact)
    assert shape == (3, 8, 8)


@pytest.mark.parametrize(
    "spec, expected",
    [
        (3, (3,)),
        ((3, 8, 8), (3, 8, 8)),
        ([2, 5], (2, 5)),
        ("Real", ()),
        ((), ()),
        (None, None),
        (ng.Automatic, None),
        ((3, None), (3, None)),
        ((3, ...), (3, ...)),
        ((..., 4), (..., 4)),
        ((...,), None),
    ],
)
def test_parse(spec, expected):
    assert S.parse(spec, "x") == expected


@pytest.mark.parametrize("spec", [0, -2, (3, 0), 2.5, True, "foo", (3, ..., ...), (3, "a")])
def test_parse_rejects(spec):
    with pytest.raises(ValueError, match="where"):
        S.parse(spec, "where")


@pytest.mark.parametrize(
    "shape, text",
    [(None, "?"), ((3,), "(3,)"), ((3, None), "(3, ?)"), ((3, ...), "(3, ...)"), ((), "()")],
)
def test_fmt(shape, text):
    assert S.fmt(shape) == text


def test_rank_size_known():
    assert S.rank((3, None)) == 2 and S.rank((3, ...)) is None and S.rank(None) is None
    assert S.min_rank((3, ..., 5)) == 2 and S.min_rank(None) == 0
    assert S.size((3, 4)) == 12 and S.size((3, None)) is None and S.size(()) == 1
    assert S.is_known((3, 4)) and not S.is_known((3, None)) and not S.is_known((3, ...))


# -------------------------------------------------------------------------- ShapeStore


def test_store_unify_records_change_and_names_conflicts():
    store = S.ShapeStore({"Input": (3, None), "W": None}, "MyLayer", arrays=["W"])
    store.unify("Input", (None, 4))
    assert store["Input"] == (3, 4) and store.changed
    with pytest.raises(ng.NetShapeError, match=r'MyLayer: port "Input" has shape \(3, 4\)'):
        store.unify("Input", (3, 5))


def test_store_array_conflicts_use_the_array_error():
    store = S.ShapeStore({"W": (2,)}, "MyLayer", arrays=["W"], array_error=ng.NetArrayError)
    with pytest.raises(ng.NetArrayError, match='array "W"'):
        store.unify("W", (3,))


def test_store_same_link_dim_and_set_dim():
    store = S.ShapeStore({"Input": (3, ...), "Output": None, "Scale": None}, "L")
    store.same("Input", "Output")
    assert store["Output"] == (3, ...)
    store.set_rank("Scale", 1)
    store.link_dim("Input", 0, "Scale", 0)
    assert store["Scale"] == (3,)
    store.set_dim("Output", -1, 7)
    assert store["Output"] == (3, ..., 7)
    assert store.dim("Output", 0) == 3 and store.dim("Output", -1) == 7
    assert store.dim("Output", 1) is None


def test_store_link_dim_conflict_names_both_sides():
    store = S.ShapeStore({"Input": (4, 2), "Scale": (3,)}, "L", arrays=["Scale"])
    with pytest.raises(ng.NetShapeError, match=r'port "Input".*array "Scale".*4 vs 3'):
        store.link_dim("Input", 0, "Scale", 0)


def test_store_need_min_rank():
    store = S.ShapeStore({"Input": (), "Other": None, "Third": (...,)}, "L")
    with pytest.raises(ng.NetShapeError, match="rank >= 1"):
        store.need_min_rank("Input", 1)
    store.need_min_rank("Other", 2)
    assert store["Other"] is None  # nothing known: nothing to refine yet
    store.shapes["Third"] = (..., 5)
    store.need_min_rank("Third", 2)
    assert S.min_rank(store["Third"]) == 2


# ------------------------------------------------------------------- shapes on a layer


def test_layer_port_shape_conflict_names_both_ports():
    with pytest.raises(ng.NetShapeError, match='"Input".*"Output"'):
        ng.BatchNormalizationLayer(Input=(3, 4), Output=(3, 5))


@pytest.mark.parametrize("spec", [(3, 0), "foo", 1.5, (3, -1)])
def test_layer_bad_shape_spec_is_a_shape_error(spec):
    with pytest.raises(ng.NetShapeError, match='"Input"'):
        ng.BatchNormalizationLayer(Input=spec)


@pytest.mark.parametrize(
    "spec, expected",
    [((3, ...), (3, ...)), ((3, None), (3, None)), (3, (3,)), ((None, 4, 4), (None, 4, 4))],
)
def test_layer_partial_input_shapes(spec, expected):
    bn = ng.BatchNormalizationLayer(Input=spec)
    assert ng.Information(bn, "InputPorts") == {"Input": expected}
    assert ng.Information(bn, "OutputPorts") == {"Output": expected}


def test_shape_learnt_from_data_is_not_stored_on_the_value():
    bn = ng.NetInitialize(ng.BatchNormalizationLayer(Scaling=[1.0, 1.0]))
    assert bn(np.ones((4, 2, 3))).shape == (4, 2, 3)  # a batch of (2, 3) examples
    assert bn(np.ones((5, 2))).shape == (5, 2)  # the earlier call fixed nothing
    assert ng.Information(bn, "InputPorts") == {"Input": (2, ...)}
