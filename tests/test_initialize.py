"""NetInitialize: determinism, ng.All, None, unknown dimensions, Methods and their statistics.

`_Dense` is a test-only layer with a randomly initialized "Weights" array, written against
the contract of netgraph/layer.py (so these tests also show that the contract is usable).
"""

import math

import numpy as np
import pytest
from layer_check import check_layer
from pydantic import Field

import netgraph as ng
from netgraph.layer import ArraySpec, Layer, LayerOptions


class _Dense(Layer):
    """y = Weights . flatten(x) + Biases; Weights has shape (n, *input dims)."""

    class Options(LayerOptions):
        size: int = Field(gt=0)

    positional = ("size",)
    array_specs = (
        ArraySpec("Weights", "learned", "weights"),
        ArraySpec("Biases", "learned", "zeros"),
    )

    def infer(self, store) -> None:
        n = self._options.size
        store.unify("Output", (n,))
        store.unify("Biases", (n,))
        store.set_dim("Weights", 0, n)
        r = store.rank("Input")
        if r is None and store.rank("Weights") is not None:
            r = store.rank("Weights") - 1
            store.set_rank("Input", r)
        if r is not None:
            store.set_rank("Weights", r + 1)
            for axis in range(r):
                store.link_dim("Input", axis, "Weights", axis + 1)

    def forward(self, arrays, inputs, ctx):
        x = inputs["Input"]
        w = arrays["Weights"].reshape(len(arrays["Weights"]), -1)
        flat = x.reshape(len(x), -1)
        return {"Output": flat @ w.T + arrays["Biases"]}, (flat, x.shape), None

    def backward(self, arrays, cache, d_outputs, ctx):
        # y = x W^T + b: d_x = dy W, d_W = dy^T x, d_b = sum over the batch of dy
        flat, shape = cache
        w = arrays["Weights"]
        dy = d_outputs["Output"]
        d_x = (dy @ w.reshape(len(w), -1)).reshape(shape)
        return {"Input": d_x}, {"Weights": (dy.T @ flat).reshape(w.shape), "Biases": dy.sum(0)}


def weights(net):
    return ng.NetExtract(net, "Weights")


# --------------------------------------------------------------------------- determinism


def test_the_test_layer_passes_check_layer():
    layer = _Dense(4, Input=(3, 2))
    net = check_layer(
        layer,
        (3, 2),
        output_shape=(4,),
        array_shapes={"Weights": (4, 3, 2), "Biases": (4,)},
        export=False,  # a test-only class is not in the registry Import resolves names with
    )
    np.testing.assert_array_equal(ng.NetExtract(net, "Biases"), np.zeros(4))


def test_same_seed_same_arrays_and_default_seed_is_fixed():
    layer = _Dense(8, Input=5)
    a, b = ng.NetInitialize(layer, RandomSeeding=7), ng.NetInitialize(layer, RandomSeeding=7)
    np.testing.assert_array_equal(weights(a), weights(b))
    np.testing.assert_array_equal(
        weights(ng.NetInitialize(layer)), weights(ng.NetInitialize(layer, RandomSeeding=1234))
    )
    s1 = ng.NetInitialize(layer, random_seeding="run-a")
    np.testing.assert_array_equal(
        weights(s1), weights(ng.NetInitialize(layer, RandomSeeding="run-a"))
    )


@pytest.mark.parametrize("other", [8, 1235, "run-b"])
def test_different_seed_different_arrays(other):
    layer = _Dense(8, Input=5)
    assert not np.array_equal(
        weights(ng.NetInitialize(layer, RandomSeeding=7)),
        weights(ng.NetInitialize(layer, RandomSeeding=other)),
    )


def test_each_array_draws_independently_of_the_others():
    layer = _Dense(6, Input=4)
    with_biases = _Dense(6, Input=4, Biases=np.arange(6.0))
    np.testing.assert_array_equal(
        weights(ng.NetInitialize(layer, RandomSeeding=3)),
        weights(ng.NetInitialize(with_biases, RandomSeeding=3)),
    )


def test_initialize_does_not_mutate_its_argument():
    layer = _Dense(3, Input=2)
    ng.NetInitialize(layer)
    assert ng.NetExtract(layer, "Weights") is ng.Automatic
    assert not ng.Information(layer, "Initialized")


# ------------------------------------------------------------------------ All, None, partial


def test_all_reinitializes_every_array():
    layer = _Dense(8, Input=5)
    first = ng.NetInitialize(layer, RandomSeeding=1)
    kept = ng.NetInitialize(first, RandomSeeding=2)  # nothing unset: nothing changes
    np.testing.assert_array_equal(weights(kept), weights(first))
    redone = ng.NetInitialize(first, ng.All, RandomSeeding=2)
    np.testing.assert_array_equal(
        weights(redone), weights(ng.NetInitialize(layer, RandomSeeding=2))
    )
    assert not np.array_equal(weights(redone), weights(first))


def test_all_resets_batch_normalization_statistics():
    bn = ng.BatchNormalizationLayer(Input=2, MovingMean=[5.0, 5.0], Scaling=[3.0, 3.0])
    bn = ng.NetInitialize(ng.NetInitialize(bn), ng.All)
    np.testing.assert_array_equal(ng.NetExtract(bn, "MovingMean"), [0, 0])
    np.testing.assert_array_equal(ng.NetExtract(bn, "Scaling"), [1, 1])


def test_only_unset_arrays_are_initialized():
    given = np.full((3, 2), 0.5)
    net = ng.NetInitialize(_Dense(3, Input=2, Weights=given))
    np.testing.assert_array_equal(weights(net), given)
    np.testing.assert_array_equal(ng.NetExtract(net, "Biases"), np.zeros(3))


def test_none_removes_every_array():
    net = ng.NetInitialize(ng.NetInitialize(_Dense(3, Input=2)), None)
    assert ng.NetExtract(net, "Weights") is ng.Automatic
    assert ng.NetExtract(net, "Biases") is ng.Automatic


# --------------------------------------------------------------------------- unknown dims


def test_unknown_dimensions_list_only_the_unknown_arrays():
    with pytest.raises(ng.NetShapeError, match="Weights") as info:
        ng.NetInitialize(_Dense(4))
    message = str(info.value)
    assert "(4, ...)" in message or "?" in message
    assert "Biases" not in message  # its shape (4,) is known


def test_unknown_channel_count_lists_every_batch_normalization_array():
    with pytest.raises(ng.NetShapeError) as info:
        ng.NetInitialize(ng.BatchNormalizationLayer())
    for name in ("Scaling", "Biases", "MovingMean", "MovingVariance"):
        assert name in str(info.value)
    with pytest.raises(ng.NetShapeError):
        ng.NetInitialize(ng.BatchNormalizationLayer(Input=(None, 4)))


# --------------------------------------------------------------------------- Methods


FAN_OUT, INPUT = 256, (4, 16)  # fan_in = 4*16 = 64, 16384 weights
FAN_IN = 64


@pytest.mark.parametrize(
    "method, std",
    [("Kaiming", math.sqrt(2 / FAN_IN)), ("Xavier", math.sqrt(2 / (FAN_IN + FAN_OUT)))],
)
@pytest.mark.parametrize("distribution", ["Normal", "Uniform"])
def test_method_standard_deviation(method, std, distribution):
    spec = method if distribution == "Normal" else (method, {"Distribution": distribution})
    w = weights(ng.NetInitialize(_Dense(FAN_OUT, Input=INPUT), Method=spec, RandomSeeding=5))
    assert w.shape == (FAN_OUT, *INPUT) and w.dtype == np.float32
    # sampling error of a std from N = 16384 values is about std/sqrt(2N) = 0.55%
    assert abs(w.std() - std) < 0.03 * std
    assert abs(w.mean()) < 4 * std / math.sqrt(w.size)
    if distribution == "Uniform":
        assert np.abs(w).max() <= std * math.sqrt(3) + 1e-7


def test_method_kaiming_is_the_default():
    layer = _Dense(FAN_OUT, Input=INPUT)
    np.testing.assert_array_equal(
        weights(ng.NetInitialize(layer)), weights(ng.NetInitialize(layer, Method="Kaiming"))
    )


@pytest.mark.parametrize("n, input_dims", [(256, (4, 16)), (16, (64,))])
def test_method_orthogonal(n, input_dims):
    w = weights(ng.NetInitialize(_Dense(n, Input=input_dims), Method="Orthogonal"))
    matrix = w.reshape(n, -1).astype(np.float64)
    gram = matrix.T @ matrix if n >= matrix.shape[1] else matrix @ matrix.T
    np.testing.assert_allclose(gram, np.eye(len(gram)), atol=1e-5)


def test_method_random():
    w = weights(ng.NetInitialize(_Dense(64, Input=32), Method="Random"))
    assert w.shape == (64, 32) and np.isfinite(w).all() and w.std() > 0
    assert abs(w.mean()) < 4 * w.std() / math.sqrt(w.size)


@pytest.mark.parametrize("method", ["Kaiming", "Xavier", "Orthogonal", "Random"])
def test_biases_and_batch_normalization_ignore_the_method(method):
    net = ng.NetInitialize(_Dense(3, Input=2), Method=method)
    np.testing.assert_array_equal(ng.NetExtract(net, "Biases"), np.zeros(3))
    bn = ng.NetInitialize(ng.BatchNormalizationLayer(Input=2), Method=method)
    np.testing.assert_array_equal(ng.NetExtract(bn, "Scaling"), [1, 1])
    np.testing.assert_array_equal(ng.NetExtract(bn, "MovingVariance"), [1, 1])


# --------------------------------------------------------------------------- bad calls


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"Method": "Kaiminq"}, 'Did you mean "Kaiming"'),
        ({"Method": ("Kaiming", {"Distribution": "Cauchy"})}, "Distribution"),
        ({"RandomSeeding": 1.5}, "RandomSeeding"),
        ({"RandomSeed": 3}, 'Did you mean "RandomSeeding"'),
    ],
)
def test_bad_options(kwargs, match):
    with pytest.raises(ng.NetOptionError, match=match):
        ng.NetInitialize(_Dense(3, Input=2), **kwargs)


def test_bad_second_argument():
    with pytest.raises(ng.NetOptionError, match="All"):
        ng.NetInitialize(_Dense(3, Input=2), "All")


def test_an_absurdly_large_array_is_refused_before_any_allocation():
    layer = ng.LinearLayer(10**6, Input=10**6)  # 4e12 bytes of Weights
    with pytest.raises(ng.NetArrayError, match=r'"Weights".*GiB'):
        ng.NetInitialize(layer)
