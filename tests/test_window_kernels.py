"""The numpy convolution and pooling kernels against loop references and numerical gradients."""

import itertools

import numpy as np
import pytest

from netgraph.layers._window import (
    conv_backward,
    conv_forward,
    conv_output_size,
    pool_backward,
    pool_forward,
)

# --- short, obviously-correct references (float64, scalar loops) -------------------------------


def _starts(padded_len, k, stride, dilation):
    """Window starts along one padded dim: every p*stride whose last tap stays inside."""
    return range(0, padded_len - dilation * (k - 1), stride)


def ref_conv(x, w, b, stride, pads, dilation, groups):
    xp = np.pad(x, ((0, 0), (0, 0), *pads))
    n_out, c_group, *k = w.shape
    out = [len(_starts(xp.shape[2 + i], k[i], stride[i], dilation[i])) for i in range(len(k))]
    y = np.zeros((x.shape[0], n_out, *out))
    for n, f, *p in itertools.product(range(x.shape[0]), range(n_out), *map(range, out)):
        first_channel = f // (n_out // groups) * c_group
        total = 0.0 if b is None else b[f]
        for c, *o in itertools.product(range(c_group), *map(range, k)):
            pos = [p[i] * stride[i] + o[i] * dilation[i] for i in range(len(k))]
            total += w[(f, c, *o)] * xp[(n, first_channel + c, *pos)]
        y[(n, f, *p)] = total
    return y


def ref_pool(x, k, stride, pads, function):
    fill = -np.inf if function == "Max" else 0.0
    xp = np.pad(x, ((0, 0), (0, 0), *pads), constant_values=fill)
    out = [len(_starts(xp.shape[2 + i], k[i], stride[i], 1)) for i in range(len(k))]
    y = np.zeros((*x.shape[:2], *out))
    for n, c, *p in itertools.product(*map(range, y.shape)):
        corner = [p[i] * stride[i] for i in range(len(k))]
        window = xp[(n, c, *(slice(corner[i], corner[i] + k[i]) for i in range(len(k))))]
        y[(n, c, *p)] = window.max() if function == "Max" else window.sum() / window.size
    return y


def numerical_gradient(loss, a, h=1e-6):
    """Central differences of loss() with respect to every element of `a` (changed in place)."""
    grad = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        old = a[i]
        a[i] = old + h
        up = loss()
        a[i] = old - h
        down = loss()
        a[i] = old
        grad[i] = (up - down) / (2 * h)
    return grad


# --- convolution --------------------------------------------------------------------------------

# (x shape, w shape, stride, pads, dilation, groups, bias). Cases with every stride 1 and a padded
# size at most twice the output size take the "full grid" path (1d, 2d, 2d-asymmetric-pads,
# 2d-groups2, 2d-depthwise, 2d-no-bias, 3d-full-grid); the others the per-offset one.
P0, P1 = ((0, 0), (0, 0)), ((1, 1), (1, 1))
# fmt: off
CONV_CASES = {
    "1d": ((2, 3, 9), (4, 3, 3), (1,), ((1, 1),), (1,), 1, True),
    "1d-stride2-dilation2": ((2, 2, 11), (3, 2, 3), (2,), ((0, 2),), (2,), 1, True),
    "2d": ((2, 3, 6, 7), (4, 3, 3, 3), (1, 1), P1, (1, 1), 1, True),
    "2d-stride2": ((2, 3, 7, 8), (4, 3, 3, 3), (2, 2), P1, (1, 1), 1, True),
    "2d-asymmetric-pads": ((1, 2, 5, 6), (3, 2, 2, 3), (1, 1), ((1, 0), (0, 2)), (1, 1), 1, True),
    "2d-dilation2": ((2, 2, 7, 9), (3, 2, 3, 2), (1, 1), P0, (2, 2), 1, True),
    "2d-groups2": ((2, 4, 5, 6), (6, 2, 3, 3), (1, 1), P1, (1, 1), 2, True),
    "2d-depthwise": ((2, 3, 5, 5), (3, 1, 3, 3), (1, 1), P1, (1, 1), 3, True),
    "2d-no-bias": ((2, 3, 5, 8), (2, 3, 3, 3), (1, 1), P1, (1, 1), 1, False),
    "3d": ((1, 2, 3, 4, 8), (3, 2, 2, 3, 3), (1, 1, 1), ((0, 1), (1, 1), (1, 0)),
           (1, 1, 1), 1, True),
    "3d-full-grid": ((1, 2, 5, 6, 8), (3, 2, 2, 2, 3), (1, 1, 1), ((0, 1), (1, 0), (1, 1)),
                     (1, 1, 1), 1, True),
    "3d-stride-dilation": ((2, 2, 5, 6, 5), (2, 2, 2, 2, 2), (2, 1, 2), ((1, 0), (0, 0), (0, 1)),
                           (1, 2, 1), 1, False),
}
GRADIENT_CASES = ["1d-stride2-dilation2", "2d", "2d-stride2", "2d-asymmetric-pads", "2d-dilation2",
                  "2d-groups2", "2d-depthwise", "2d-no-bias", "3d", "3d-full-grid"]
# fmt: on


def make_conv(name, dtype=np.float64, seed=0):
    x_shape, w_shape, stride, pads, dilation, groups, bias = CONV_CASES[name]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype) if bias else None
    return x, w, b, (stride, pads, dilation, groups)


@pytest.mark.parametrize("name", CONV_CASES)
def test_conv_forward_matches_loop_reference(name):
    x, w, b, geometry = make_conv(name)
    y, _ = conv_forward(x, w, b, *geometry)
    np.testing.assert_allclose(y, ref_conv(x, w, b, *geometry), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", GRADIENT_CASES)
def test_conv_gradients_match_finite_differences(name):
    x, w, b, geometry = make_conv(name)
    y, cache = conv_forward(x, w, b, *geometry)
    d_y = np.random.default_rng(1).standard_normal(y.shape)
    dx, dw, db = conv_backward(cache, d_y)

    def loss():
        return float(np.sum(conv_forward(x, w, b, *geometry)[0] * d_y))

    np.testing.assert_allclose(dx, numerical_gradient(loss, x), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(dw, numerical_gradient(loss, w), rtol=1e-4, atol=1e-6)
    if b is None:
        assert db is None
    else:
        np.testing.assert_allclose(db, numerical_gradient(loss, b), rtol=1e-4, atol=1e-6)


def test_output_size_by_hand():
    assert conv_output_size(32, 3, 1, 1, 1, 1) == 32  # "same" 3x3
    assert conv_output_size(7, 3, 2, 0, 0, 1) == 3  # starts 0, 2, 4
    assert conv_output_size(10, 3, 1, 0, 0, 2) == 6  # dilated kernel spans 5: starts 0..5
    assert conv_output_size(5, 2, 2, 1, 0, 1) == 3  # padded to 6: starts 0, 2, 4
    assert conv_output_size(6, 3, 2, 1, 2, 1) == 4  # padded to 9: starts 0, 2, 4, 6
    assert conv_output_size(4, 2, 1, 0, 0, 1) == 3  # Wolfram: {2,4,4}, kernel 2 -> {2,3,3}
    assert conv_output_size(4, 2, 2, 0, 0, 1) == 2  # ... with "Stride" -> 2 -> {2,2,2}
    assert conv_output_size(2, 3, 1, 0, 0, 1) == 0  # too small


def test_output_shapes_by_hand():
    x = np.zeros((2, 3, 5, 6))
    y, _ = conv_forward(x, np.zeros((4, 3, 2, 3)), None, (1, 2), ((1, 0), (0, 2)), (1, 1))
    assert y.shape == (2, 4, 5, 3)  # height 5+1-2+1 = 5; width (6+2-3)//2+1 = 3
    y, _ = pool_forward(x, (2, 2), (2, 2), ((0, 0), (0, 0)), "Max")
    assert y.shape == (2, 3, 2, 3)
    with pytest.raises(ValueError, match="smaller than the kernel"):
        conv_forward(x, np.zeros((4, 3, 7, 1)), None, (1, 1), ((0, 0), (0, 0)), (1, 1))


def test_float32_in_float32_out():
    x, w, b, geometry = make_conv("2d", np.float32)
    y, cache = conv_forward(x, w.astype(np.float64), b, *geometry)
    grads = conv_backward(cache, np.ones_like(y))
    assert [a.dtype for a in (y, *grads)] == [np.float32] * 4
    np.testing.assert_allclose(y, ref_conv(*make_conv("2d")[:3], *geometry), rtol=1e-4, atol=1e-4)
    for function in ("Max", "Mean"):
        y, cache = pool_forward(x, (2, 2), (1, 2), ((1, 0), (0, 1)), function)
        assert y.dtype == pool_backward(cache, np.ones_like(y)).dtype == np.float32


def test_interleaved_calls_give_the_isolated_results():
    """Calls of one shape share scratch buffers: nothing handed back may change, and every
    backward must see its own forward's columns and pad borders."""
    x, w, b, (stride, _, dilation, groups) = make_conv("2d")
    pads_a, pads_b = P1, ((2, 0), (0, 2))  # the same padded shape with other borders
    d_y = np.random.default_rng(2).standard_normal((2, 4, 6, 7))  # both outputs are 6x7

    def isolated(x, pads):
        y, cache = conv_forward(x, w, b, stride, pads, dilation, groups)
        return (y, *conv_backward(cache, d_y))

    expected_a, expected_b = isolated(x, pads_a), isolated(2 * x, pads_b)
    ref_b = ref_conv(2 * x, w, b, stride, pads_b, dilation, groups)
    np.testing.assert_allclose(expected_b[0], ref_b, rtol=1e-12, atol=1e-12)

    y_a, cache_a = conv_forward(x, w, b, stride, pads_a, dilation, groups)
    y_b, cache_b = conv_forward(2 * x, w, b, stride, pads_b, dilation, groups)  # A's columns go
    got_b = (y_b, *conv_backward(cache_b, d_y))
    got_b_again = (y_b, *conv_backward(cache_b, d_y))  # its columns were overwritten by d_cols
    got_a = (y_a, *conv_backward(cache_a, d_y))
    for got, expected in zip(
        (*got_a, *got_b, *got_b_again), (*expected_a, *expected_b, *expected_b)
    ):
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("x_shape", [(1, 1, 5, 5), (2, 3, 5, 5)])
def test_no_scratch_buffer_is_handed_back(x_shape):
    rng = np.random.default_rng(3)
    w, b, geometry = rng.standard_normal((2, x_shape[1], 2, 2)), np.ones(2), ((1, 1), P0, (1, 1))
    y, cache = conv_forward(rng.standard_normal(x_shape), w, b, *geometry)
    conv_outputs = (y, *conv_backward(cache, np.ones_like(y)))
    pool_y, pool_cache = pool_forward(rng.standard_normal(x_shape), (2, 2), (1, 1), P1, "Mean")
    pool_outputs = (pool_y, pool_backward(pool_cache, np.ones_like(pool_y)))
    before = [a.copy() for a in (*conv_outputs, *pool_outputs)]
    y, cache = conv_forward(rng.standard_normal(x_shape), w, b, *geometry)
    conv_backward(cache, rng.standard_normal(y.shape))
    pool_y, pool_cache = pool_forward(rng.standard_normal(x_shape), (2, 2), (1, 1), P1, "Mean")
    pool_backward(pool_cache, rng.standard_normal(pool_y.shape))
    for got, expected in zip((*conv_outputs, *pool_outputs), before):
        np.testing.assert_array_equal(got, expected)


def test_bad_arguments_are_named():
    x = np.zeros((1, 4, 5, 5))
    with pytest.raises(ValueError, match="conv_forward: weights"):
        conv_forward(x, np.zeros((2, 3, 3, 3)), None, (1, 1), ((0, 0), (0, 0)), (1, 1))
    with pytest.raises(TypeError, match="float32 or float64"):
        conv_forward(x.astype(int), np.zeros((2, 4, 3, 3)), None, (1, 1), ((0, 0),) * 2, (1, 1))
    with pytest.raises(ValueError, match='"Max" or "Mean"'):
        pool_forward(x, (2, 2), (2, 2), ((0, 0), (0, 0)), "Total")


# --- pooling ------------------------------------------------------------------------------------

POOL_CASES = {
    "1d-max-padded": ((2, 3, 11), (3,), (2,), ((1, 1),), "Max"),
    "2d-max": ((2, 2, 6, 7), (2, 2), (2, 2), ((0, 0), (0, 0)), "Max"),
    "2d-max-overlapping-padded": ((1, 2, 5, 6), (3, 3), (1, 2), ((1, 1), (1, 0)), "Max"),
    "2d-mean-padded": ((2, 2, 5, 6), (2, 3), (2, 2), ((1, 0), (1, 1)), "Mean"),
    "2d-mean-overlapping": ((1, 2, 5, 5), (3, 3), (1, 1), ((1, 1), (1, 1)), "Mean"),
    "3d-max": ((1, 2, 4, 5, 6), (2, 2, 3), (2, 1, 2), ((1, 0), (0, 0), (1, 1)), "Max"),
    "3d-mean": ((1, 2, 4, 5, 6), (2, 2, 2), (2, 2, 1), ((0, 1), (0, 0), (1, 0)), "Mean"),
}


def make_pool_input(shape, seed=0):
    """Distinct values at least 0.1 apart, so a 1e-6 step never changes a maximum."""
    rng = np.random.default_rng(seed)
    return (rng.permutation(np.prod(shape)) * 0.1 - 3.0).reshape(shape)


@pytest.mark.parametrize("name", POOL_CASES)
def test_pool_forward_matches_loop_reference(name):
    shape, k, stride, pads, function = POOL_CASES[name]
    x = make_pool_input(shape)
    y, _ = pool_forward(x, k, stride, pads, function)
    np.testing.assert_allclose(y, ref_pool(x, k, stride, pads, function), rtol=1e-12)


@pytest.mark.parametrize("name", POOL_CASES)
def test_pool_gradient_matches_finite_differences(name):
    shape, k, stride, pads, function = POOL_CASES[name]
    x = make_pool_input(shape)
    y, cache = pool_forward(x, k, stride, pads, function)
    d_y = np.random.default_rng(1).standard_normal(y.shape)

    def loss():
        return float(np.sum(pool_forward(x, k, stride, pads, function)[0] * d_y))

    dx = pool_backward(cache, d_y)
    np.testing.assert_allclose(dx, numerical_gradient(loss, x), rtol=1e-4, atol=1e-6)


def test_max_pool_ties_go_to_the_first_element_of_each_window():
    # Non-overlapping 2x2 windows of equal values: each window's top-left element gets it all.
    y, cache = pool_forward(np.ones((1, 1, 4, 4)), (2, 2), (2, 2), ((0, 0), (0, 0)), "Max")
    dx = pool_backward(cache, np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    expected = [[1, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]]
    np.testing.assert_array_equal(dx[0, 0], expected)

    # Overlapping windows (stride 1): window (i, j) starts at, and gives to, pixel (i, j).
    y, cache = pool_forward(np.ones((1, 1, 3, 3)), (2, 2), (1, 1), ((0, 0), (0, 0)), "Max")
    dx = pool_backward(cache, np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    np.testing.assert_array_equal(dx[0, 0], [[1, 2, 0], [3, 4, 0], [0, 0, 0]])

    # Padding never wins, even over negative values: windows [pad, x0], [x0, x1], [x1, x2].
    y, cache = pool_forward(np.full((1, 1, 3), -5.0), (2,), (1,), ((1, 0),), "Max")
    np.testing.assert_array_equal(y, [[[-5.0, -5.0, -5.0]]])
    dx = pool_backward(cache, np.array([[[1.0, 2.0, 3.0]]]))
    np.testing.assert_array_equal(dx, [[[1.0 + 2.0, 3.0, 0.0]]])


def test_mean_pool_counts_padding_as_zeros():
    y, cache = pool_forward(np.full((1, 1, 2, 2), 4.0), (2, 2), (1, 1), ((1, 0), (1, 0)), "Mean")
    np.testing.assert_array_equal(y[0, 0], [[1.0, 2.0], [2.0, 4.0]])  # 1, 2, 2 and 4 real pixels
    dx = pool_backward(cache, np.ones_like(y))
    np.testing.assert_array_equal(dx[0, 0], [[1.0, 0.5], [0.5, 0.25]])  # each window gives 1/4


@pytest.mark.parametrize(
    "shape, w_shape, pads, dilation, groups",
    [
        ((2, 3, 4, 4), (4, 3, 3, 3), ((1, 1), (1, 1)), (1, 1), 1),  # small image, pad 1
        ((2, 4, 2, 2), (6, 2, 3, 3), ((2, 1), (1, 2)), (1, 1), 2),  # groups, asymmetric pads
        ((1, 2, 2, 2), (2, 2, 2, 2), ((2, 2), (2, 1)), (2, 2), 1),  # dilation
        ((1, 2, 2, 2, 2), (2, 1, 3, 3, 3), ((1, 1),) * 3, (1, 1, 1), 2),  # 3-D depthwise
    ],
)
def test_stride_one_dx_on_small_images_matches_finite_differences(
    shape, w_shape, pads, dilation, groups
):
    """Padding that more than doubles a small image routes dx through the transposed
    convolution instead of col2im; it must be the same gradient."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal(shape)
    w = rng.standard_normal(w_shape)
    stride = (1,) * (len(shape) - 2)
    y, cache = conv_forward(x, w, None, stride, pads, dilation, groups)
    padded = np.prod([s + b + e for s, (b, e) in zip(shape[2:], pads)])
    assert padded > 2 * np.prod(y.shape[2:])  # the case this test is about
    dy = rng.standard_normal(y.shape)
    dx, _, _ = conv_backward(cache, dy)

    def loss():
        return float(np.sum(conv_forward(x, w, None, stride, pads, dilation, groups)[0] * dy))

    np.testing.assert_allclose(dx, numerical_gradient(loss, x), rtol=1e-6, atol=1e-8)
