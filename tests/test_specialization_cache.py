"""The per-net cache of nets specialised to data shapes is bounded (the JIT_CACHE_SIZE most
recently used shapes) and its entries share one cast of each array per precision, so
evaluating on many input sizes keeps memory bounded."""

from __future__ import annotations

import pickle
import threading
import tracemalloc

import numpy as np
import pytest

import netgraph as ng
from netgraph.evaluation import JIT_CACHE_SIZE

RNG = np.random.default_rng
N = 256  # LinearLayer(N) on N inputs: N * (N + 1) weights, 0.5 MiB once cast to float64


def _net() -> ng.Layer:
    """Fixed-size weights on port "x" beside a port "y" of any shape: every new shape of y
    specialises the whole net, weights included."""
    net = ng.NetGraph(
        {"lin": ng.LinearLayer(N, Input=N), "act": ng.ElementwiseLayer("Tanh")},
        [(ng.NetPort("x"), "lin"), (ng.NetPort("y"), "act")],
    )
    return ng.NetInitialize(net, RandomSeeding=1)


def _data(size: int) -> dict:
    return {"x": RNG(0).normal(size=N), "y": RNG(size).normal(size=size)}


def _jit(net: ng.Layer) -> dict:
    return net._cache["jit"]


def _expected(net: ng.Layer, data: dict) -> tuple:
    """W x + b and tanh(y), in float64 from the net's arrays."""
    w = ng.NetExtract(net, ("lin", "Weights")).astype(np.float64)
    b = ng.NetExtract(net, ("lin", "Biases")).astype(np.float64)
    return w @ data["x"] + b, np.tanh(data["y"])


def _check(net: ng.Layer, size: int) -> None:
    data = _data(size)
    out = net(data, WorkingPrecision="Real64")
    linear, tanh = _expected(net, data)
    np.testing.assert_allclose(out["Output1"], linear, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out["Output2"], tanh, rtol=1e-12, atol=1e-12)


def test_the_bound_is_small():
    assert 2 <= JIT_CACHE_SIZE <= 16


def test_fifty_sizes_keep_the_cache_at_the_bound():
    net = _net()
    for size in range(1, 51):
        _check(net, size)
        assert len(_jit(net)) == min(size, JIT_CACHE_SIZE)
    kept = [dict(key)["y"] for key in _jit(net)]
    assert kept == [(s,) for s in range(51 - JIT_CACHE_SIZE, 51)]
    _check(net, 1)  # an evicted shape is specialised again, with the right result
    assert len(_jit(net)) == JIT_CACHE_SIZE


def test_the_least_recently_used_shape_is_dropped():
    net = _net()
    sizes = list(range(1, JIT_CACHE_SIZE + 1))
    for size in sizes:
        _check(net, size)
    first = _jit(net)[(("y", (1,)),)]
    _check(net, 1)  # used again: now the most recent, and the same specialised net
    assert _jit(net)[(("y", (1,)),)] is first
    _check(net, 100)  # one shape too many: size 2, the least recently used, goes
    keys = [dict(key)["y"][0] for key in _jit(net)]
    assert keys == [*sizes[2:], 1, 100]


def test_shape_entries_share_the_cast_arrays():
    net = _net()
    _check(net, 3)
    _check(net, 4)
    a, b = _jit(net)[(("y", (3,)),)], _jit(net)[(("y", (4,)),)]
    assert a is not b
    cast_a, cast_b = a._cache[("values", "float64")], b._cache[("values", "float64")]
    for aid in (("lin", "Weights"), ("lin", "Biases")):
        assert cast_a[aid] is cast_b[aid], aid
        original = ng.NetExtract(net, aid)
        assert cast_a[aid].dtype == np.float64
        assert np.array_equal(cast_a[aid], original.astype(np.float64))
    # in the net's own precision nothing is copied: the entries use the net's arrays
    net(_data(3))
    weights = _jit(net)[(("y", (3,)),)]._cache[("values", "float32")][("lin", "Weights")]
    assert weights is net._array_values()[("lin", "Weights")]


def test_memory_stays_bounded_over_many_sizes():
    net = _net()
    _check(net, 1)  # one cast of the weights (0.5 MiB) and the first plan, before measuring
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        for size in range(2, 52):
            net(_data(size), WorkingPrecision="Real64")
        grown = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
    # one float64 cast per entry would be 50 * 0.5 MiB = 25 MiB
    assert grown < 3 * 2**20, f"the cache grew by {grown / 2**20:.1f} MiB"


def test_threads_evaluating_many_sizes_get_right_results():
    net = _net()
    failures = []

    def work(offset: int) -> None:
        try:
            for size in range(1 + offset, 40, 4):
                _check(net, size)
        except Exception as exc:  # reported below; a thread's exception is otherwise lost
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures
    assert len(_jit(net)) == JIT_CACHE_SIZE


@pytest.mark.parametrize("precision", ["Real32", "Real64"])
def test_a_pickled_net_gets_a_fresh_bounded_cache(precision):
    net = _net()
    for size in range(1, 12):
        net(_data(size), WorkingPrecision=precision)
    got = pickle.loads(pickle.dumps(net))
    assert got._cache == {}
    for size in range(1, 12):
        _check(got, size)
    assert len(_jit(got)) == JIT_CACHE_SIZE
