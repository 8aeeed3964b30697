"""Evaluation's fast paths behave exactly like the plain ones: the finiteness test, the shared
generator behind RandomSeeding -> Automatic, and arrays cached on the net value."""

import os

import numpy as np
import pytest

import netgraph as ng
from netgraph.evaluation import all_finite


@pytest.mark.parametrize("size", [10, 100_000])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_all_finite_finds_any_nonfinite(size, bad):
    a = np.ones(size, np.float32)
    assert all_finite(a)
    a[size // 2] = bad
    assert not all_finite(a)
    assert not all_finite(a.astype(np.float64))
    assert not all_finite(a[::-1])  # not contiguous: the elementwise path


def test_all_finite_on_huge_finite_values_and_other_dtypes():
    big = np.full(100_000, 3e38, np.float32)  # the self dot product overflows
    with np.errstate(all="raise"):
        assert all_finite(big)
    assert all_finite(np.arange(10)) and all_finite(np.ones(100_000, np.float16))
    assert not all_finite(np.array([np.inf], np.float16))


def test_large_nonfinite_input_and_output_still_raise():
    bn = ng.NetInitialize(ng.BatchNormalizationLayer(Input=(4, 64, 64)))
    x = np.ones((4, 4, 64, 64), np.float32)
    x[1, 2, 3, 4] = np.nan
    with pytest.raises(ng.NetDataError, match=r"\(1, 2, 3, 4\)"):
        bn(x)
    big = ng.NetInitialize(ng.BatchNormalizationLayer(Input=(4, 64, 64), Scaling=[1e38] * 4))
    with pytest.raises(ng.NetError, match="overflow"):
        big(np.full((4, 4, 64, 64), 1e3, np.float32))


def _dropout_mask(**options):
    return ng.DropoutLayer(0.5, Input=64)(np.ones(64), NetEvaluationMode="Train", **options)


def test_automatic_seeding_differs_per_call_and_integer_seeding_repeats():
    assert not np.array_equal(_dropout_mask(), _dropout_mask())
    np.testing.assert_array_equal(_dropout_mask(RandomSeeding=7), _dropout_mask(RandomSeeding=7))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_draws_other_numbers_than_its_parent():
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.write(write, _dropout_mask().astype(np.float32).tobytes())
        os._exit(0)
    os.close(write)
    child = np.frombuffer(os.read(read, 64 * 4), np.float32)
    os.waitpid(pid, 0)
    assert not np.array_equal(child, _dropout_mask())


def test_cached_working_arrays_follow_the_net_value():
    bn = ng.NetInitialize(ng.BatchNormalizationLayer(Input=2))
    x = np.array([1.0, 2.0])
    first = bn(x)
    changed = ng.NetReplacePart(bn, {"Biases": [5.0, 5.0]})
    np.testing.assert_allclose(changed(x), first + 5.0, rtol=1e-6)
    np.testing.assert_allclose(bn(x), first)
    with pytest.raises(ng.NetNotInitializedError):
        ng.BatchNormalizationLayer(Input=2)(x)
