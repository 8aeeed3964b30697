"""Small value types: NumericArray, the sentinels, NetPort, NetPortGradient, NetSharedArray."""

import copy

import numpy as np
import pytest

import netgraph as ng

# -------------------------------------------------------------------------- NumericArray


@pytest.mark.parametrize(
    "type_, dtype",
    [
        ("Real32", np.float32),
        ("Real64", np.float64),
        ("Real16", np.float16),
        ("Integer32", np.int32),
        ("UnsignedInteger8", np.uint8),
    ],
)
def test_numeric_array_type_and_dtype(type_, dtype):
    na = ng.NumericArray([[1, 2, 3], [4, 5, 6]], type_)
    assert na.type == type_
    assert na.shape == (2, 3)
    assert na.normal().dtype == dtype
    np.testing.assert_array_equal(np.asarray(na), [[1, 2, 3], [4, 5, 6]])


def test_numeric_array_type_inferred_from_data():
    assert ng.NumericArray(np.zeros(2, np.float32)).type == "Real32"
    assert ng.NumericArray([1.5, 2.0]).type == "Real64"
    assert ng.NumericArray([1, 2]).type == "Integer64"
    assert ng.NumericArray(np.array([True, False])).type == "Integer64"


def test_numeric_array_rounds_to_its_type():
    na = ng.NumericArray([0.1], "Real32")
    assert np.asarray(na)[0] == np.float32(0.1)
    assert float(np.asarray(na)[0]) != 0.1


def test_numeric_array_is_immutable_and_copies_its_input():
    data = np.array([1.0, 2.0, 3.0])
    na = ng.NumericArray(data, "Real64")
    data[0] = 99.0
    assert np.asarray(na)[0] == 1.0
    with pytest.raises(ValueError):
        np.asarray(na)[0] = 5.0
    normal = na.normal()
    normal[0] = 42.0
    assert normal.flags.writeable and np.asarray(na)[0] == 1.0


def test_numeric_array_asarray_with_dtype():
    na = ng.NumericArray([1, 2], "Integer32")
    arr = np.asarray(na, dtype=np.float64)
    assert arr.dtype == np.float64
    np.testing.assert_array_equal(arr, [1.0, 2.0])


def test_numeric_array_equality():
    a = ng.NumericArray([1, 2], "Real32")
    assert a == ng.NumericArray([1.0, 2.0], "Real32")
    assert a != ng.NumericArray([1, 2], "Real64")
    assert a != ng.NumericArray([1, 3], "Real32")
    assert ng.NumericArray(a).type == "Real32"
    with pytest.raises(TypeError):
        hash(a)


@pytest.mark.parametrize(
    "data, type_",
    [(["a", "b"], None), ([1, 2], "Real8"), (["x"], "Real32"), (np.array([1j]), None)],
)
def test_numeric_array_bad_data_or_type(data, type_):
    with pytest.raises(ng.NetDataError):
        ng.NumericArray(data, type_)


def test_numeric_array_len_and_repr():
    na = ng.NumericArray(np.zeros((4, 2)), "Real32")
    assert len(na) == 4
    assert "Real32" in repr(na) and "(4, 2)" in repr(na)


# ---------------------------------------------------------------------------- sentinels


def test_sentinels_are_singletons_that_survive_copies():
    for s in (ng.Automatic, ng.All):
        assert copy.copy(s) is s
        assert copy.deepcopy({"k": s})["k"] is s
    assert repr(ng.Automatic) == "Automatic" and repr(ng.All) == "All"
    assert ng.Automatic is not ng.All


# -------------------------------------------------------------------------------- ports


def test_net_port_equality_and_hash():
    assert ng.NetPort("Input") == ng.NetPort("Input")
    assert hash(ng.NetPort("bn", "Output")) == hash(ng.NetPort("bn", "Output"))
    assert ng.NetPort("bn", "Output") == ng.NetPort(("bn", "Output"))
    assert ng.NetPort(["bn", "Output"]) == ng.NetPort("bn", "Output")
    assert ng.NetPort("Output") != ng.NetPort("bn", "Output")
    assert ng.NetPort("Input") != "Input"
    assert len({ng.NetPort("Input"), ng.NetPort("Input"), ng.NetPort(0, "Input")}) == 2
    assert ng.NetPort(2, "Output").layer == 2 and ng.NetPort("x").layer is None


# ("a", "b", "c") is a nested path (layer "b" inside "a", port "c"): see test_netport_outputs
@pytest.mark.parametrize("spec", [(), (1,), ("a", 1.5, "c"), ("a", 3), (("a", None), "c")])
def test_net_port_bad_forms(spec):
    with pytest.raises(ng.NetError):
        ng.NetPort(*spec)


def test_net_port_gradient_equality_and_hash():
    assert ng.NetPortGradient("Input") == ng.NetPortGradient("Input")
    assert ng.NetPortGradient(["bn", "Scaling"]) == ng.NetPortGradient(("bn", "Scaling"))
    assert ng.NetPortGradient("Input") != ng.NetPortGradient("Output")
    assert ng.NetPortGradient(ng.All) == ng.NetPortGradient(ng.All)
    d = {ng.NetPortGradient("Output"): 1}
    assert d[ng.NetPortGradient("Output")] == 1


def test_net_shared_array_equality_and_validation():
    assert ng.NetSharedArray("w") == ng.NetSharedArray("w")
    assert ng.NetSharedArray("w") != ng.NetSharedArray("v")
    assert len({ng.NetSharedArray("w"), ng.NetSharedArray("w")}) == 1
    for bad in ("", 3, None):
        with pytest.raises(ng.NetError):
            ng.NetSharedArray(bad)


def test_scaled():
    assert ng.Scaled(0.1) == ng.Scaled(0.1) and ng.Scaled(0.1).value == 0.1
    with pytest.raises(ng.NetError):
        ng.Scaled(float("nan"))


def test_errors_are_value_errors():
    for cls in (
        ng.NetOptionError,
        ng.NetShapeError,
        ng.NetGraphError,
        ng.NetArrayError,
        ng.NetDataError,
        ng.NetNotInitializedError,
        ng.NetTrainError,
        ng.NetLoadError,
        ng.NetSaveError,
    ):
        assert issubclass(cls, ng.NetError)
    assert issubclass(ng.NetError, ValueError)
