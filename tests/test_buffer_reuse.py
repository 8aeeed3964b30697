"""Scratch buffers reused across calls never leak one call's data into another's result.

The window kernels (netgraph/layers/_window.py) keep per-thread scratch buffers. A buffer reused
by a call with another layout (N, C, spatial shape) of the same total size once kept the other
call's values in its padding border (issue 12 item 1). Each repro below failed before the fix.
Expected values come from short numpy references here (np.pad + sliding windows), never from
the kernels under test; the property test compares each call, made amid random other calls,
bit for bit with the same call made on fresh buffers (in a new thread: the buffers are
per-thread).
"""

from __future__ import annotations

import threading

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

import netgraph as ng


def ref_conv2d(x, w, b, pad):
    """Cross-correlation of x (N, C, H, W) with w (n, C, kh, kw), zero padding `pad`, stride 1."""
    xp = np.pad(np.asarray(x, np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    windows = sliding_window_view(xp, w.shape[2:], axis=(2, 3))  # (N, C, oh, ow, kh, kw)
    return np.einsum("ncijuv,fcuv->nfij", windows, np.asarray(w, np.float64)) + b[:, None, None]


def ref_pool2d_max(x, k, pad):
    """Max over k x k windows, stride 1, padding `pad` with -inf."""
    xp = np.pad(np.asarray(x, np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)),
                constant_values=-np.inf)  # fmt: skip
    return sliding_window_view(xp, (k, k), axis=(2, 3)).max(axis=(-2, -1))


def conv_net(n, k, pad, shape, seed=1):
    conv = ng.ConvolutionLayer(n, k, PaddingSize=pad, Input=shape)
    return ng.NetInitialize(conv, RandomSeeding=seed)


def arrays(net):
    return ng.NetExtract(net, "Weights"), ng.NetExtract(net, "Biases")


# --------------------------------------------------------------------------- repros


def test_pooling_border_is_not_another_layouts_data():
    a = ng.NetInitialize(ng.PoolingLayer(3, PaddingSize=1, Input=(1, 4, 6)))
    b = ng.NetInitialize(ng.PoolingLayer(3, PaddingSize=1, Input=(1, 6, 4)))
    b(-np.ones((1, 6, 4)))
    a(np.full((1, 4, 6), 5.0))
    # every window holds only -1s and -inf padding, so every maximum is -1
    np.testing.assert_array_equal(b(-np.ones((1, 6, 4))), np.full((1, 6, 4), -1.0))


def test_convolution_forward_border_is_zero():
    # (1, 2, 8, 8) and (1, 1, 18, 8), padded by 1, fill scratch buffers of the same size with
    # the same row length; the second's rows cover the first's borders.
    a = conv_net(2, 3, 1, (2, 8, 8))
    b = conv_net(1, 3, 1, (1, 18, 8))
    x = np.random.default_rng(0).standard_normal((2, 8, 8)).astype(np.float32)
    first = a(x)
    b(np.full((1, 18, 8), 100.0))
    again = a(x)
    np.testing.assert_array_equal(again, first)
    np.testing.assert_allclose(again, ref_conv2d(x[None], *arrays(a), 1)[0], rtol=1e-5, atol=1e-5)


def input_gradient_of_ones(w):
    """d/dx sum(conv(x, w)) for an unpadded stride-1 conv: each x[c, i, j] counts once for
    every (f, u, v) whose window covers it, i.e. 0 <= i - u < oh and 0 <= j - v < ow."""
    n, c, kh, kw = w.shape
    return lambda h, wd: np.array(
        [[[sum(w[f, ch, u, v] for f in range(n) for u in range(kh) for v in range(kw)
               if 0 <= i - u <= h - kh and 0 <= j - v <= wd - kw)
           for j in range(wd)] for i in range(h)] for ch in range(c)]
    )  # fmt: skip


def test_input_gradient_of_an_unpadded_stride_1_convolution():
    # dx is computed as a convolution of dy (2 channels of 4 x 4) padded by k-1 = 2, so an
    # unpadded conv uses padded scratch, the size of b's (1, 12, 4) input padded by 2.
    a = conv_net(2, 3, 0, (1, 6, 6))
    b = conv_net(1, 3, 2, (1, 12, 4))
    x = np.random.default_rng(1).standard_normal((1, 6, 6))
    grad = ng.NetPortGradient("Input")
    first = a(x, grad)
    b(np.full((1, 12, 4), 3.0))
    again = a(x, grad)
    np.testing.assert_array_equal(again, first)
    expected = input_gradient_of_ones(ng.NetExtract(a, "Weights").astype(np.float64))(6, 6)
    np.testing.assert_allclose(again, expected, rtol=1e-5, atol=1e-5)


def test_one_net_on_two_image_sizes():
    net = ng.NetInitialize(
        ng.NetChain([ng.ConvolutionLayer(1, 3, PaddingSize=1)], Input=(1, None, None)),
        RandomSeeding=2,
    )
    w, b = ng.NetExtract(net, (0, "Weights")), ng.NetExtract(net, (0, "Biases"))
    small = np.random.default_rng(2).standard_normal((2, 1, 8, 8)).astype(np.float32)
    first = net(small)
    net(np.full((1, 1, 18, 8), -50.0))  # another image size: same scratch buffer size
    again = net(small)
    np.testing.assert_array_equal(again, first)
    np.testing.assert_allclose(again, ref_conv2d(small, w, b, 1), rtol=1e-5, atol=1e-5)


def test_training_is_deterministic_after_an_unrelated_evaluation():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, 1, 8, 8)).astype(np.float32)
    t = rng.standard_normal((8, 2, 8, 8)).astype(np.float32)
    net = ng.NetChain([ng.ConvolutionLayer(2, 3, PaddingSize=1)], Input=(1, 8, 8))
    options = {"BatchSize": 2, "MaxTrainingRounds": 2, "RandomSeeding": 5}
    train = lambda: ng.NetTrain(net, (x, t), TrainingProgressReporting=None, **options)  # noqa: E731
    first = ng.NetExtract(train(), (0, "Weights"))
    # a batch of 2 (1, 8, 8) images padded by 1 fills as much scratch as one (1, 18, 8) image
    conv_net(1, 3, 1, (1, 18, 8))(np.full((1, 18, 8), 7.0))
    second = ng.NetExtract(train(), (0, "Weights"))
    np.testing.assert_array_equal(second, first)


def test_pooling_in_a_net_after_evaluating_another_layout():
    x = np.random.default_rng(4).standard_normal((3, 5, 7)).astype(np.float32)
    a = ng.PoolingLayer(3, PaddingSize=1, Input=(3, 5, 7))
    b = ng.PoolingLayer(3, PaddingSize=1, Input=(1, 19, 7))  # padded: 3 x 7 x 9 = 1 x 21 x 9
    a(x)
    b(np.full((1, 19, 7), 9.0))
    np.testing.assert_array_equal(a(x), ref_pool2d_max(x[None], 3, 1)[0])


# --------------------------------------------------------------------------- property

PROPERTY = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@st.composite
def window_calls(draw):
    """A Conv or Pooling layer, its batch shape, the data and what is asked for.

    Layouts come in families: (N, C) swapped or spatial dims reversed give the same element
    count laid out otherwise, which is what used to collide in the scratch buffers.
    """
    d = draw(st.integers(1, 2))
    spatial = tuple(draw(st.integers(1, 7)) for _ in range(d))
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    pooling = draw(st.booleans())
    k = draw(st.integers(1, min(3, *spatial)))
    stride = draw(st.integers(1, 2))
    span, groups = k, 1  # span of the (dilated) kernel
    if pooling:
        pad = draw(st.integers(0, k - 1))
        function = draw(st.sampled_from(["Max", "Mean", "Total"]))
        layer = ng.PoolingLayer(k, stride, PaddingSize=pad, Function=function)
    else:
        pad = draw(st.integers(0, 2))
        dilation = draw(st.integers(1, 2)) if min(spatial) + 2 * pad >= 2 * k - 1 else 1
        span = dilation * (k - 1) + 1
        groups = draw(st.sampled_from([g for g in (1, 2, 3) if c % g == 0]))
        outputs = groups * draw(st.integers(1, 2))
        layer = ng.ConvolutionLayer(outputs, k, Stride=stride, PaddingSize=pad,
                                    Dilation=dilation, ChannelGroups=groups)  # fmt: skip
    variants = [(n, c, spatial), (n, c, spatial[::-1])]
    if n % groups == 0:  # the batch size can be the channel count
        variants.append((c, n, spatial))
    if spatial[0] % 2 == 0 and spatial[0] // 2 + 2 * pad >= span:  # half height, twice N
        variants.append((2 * n, c, (spatial[0] // 2, *spatial[1:])))
    calls = []
    for batch, chans, size in draw(st.lists(st.sampled_from(variants), min_size=2, max_size=5)):
        net = ng.NetInitialize(
            ng.NetChain([layer], Input=(chans, *size)), RandomSeeding=draw(st.integers(0, 9))
        )
        x = np.random.default_rng(draw(st.integers(0, 2**16))).standard_normal(
            (batch, chans, *size)
        )
        ask = draw(st.sampled_from([(), (ng.NetPortGradient("Input"),),
                                    (ng.NetPortGradient(ng.All),)]))  # fmt: skip
        precision = draw(st.sampled_from(["Real32", "Real64"]))
        calls.append((net, x, ask, precision))
    return calls


def evaluate(call):
    net, x, ask, precision = call
    result = net(x, *ask, WorkingPrecision=precision)
    return result if isinstance(result, dict) else {"Output": result}


def on_fresh_buffers(call):
    """The same call in a new thread: the window kernels' scratch buffers are per-thread."""
    out = []
    thread = threading.Thread(target=lambda: out.append(evaluate(call)))
    thread.start()
    thread.join()
    return out[0]


@PROPERTY
@given(st.lists(window_calls(), min_size=1, max_size=3))
def test_interleaved_layouts_give_the_results_of_fresh_buffers(families):
    calls = [call for family in families for call in family]
    order = np.random.default_rng(len(calls)).permutation(len(calls))  # families interleave
    results, snapshots = {}, {}
    for i in order:
        results[i] = evaluate(calls[i])
        snapshots[i] = {key: value.copy() for key, value in results[i].items()}
    for i in order:
        expected = on_fresh_buffers(calls[i])
        assert results[i].keys() == expected.keys()
        for key, value in results[i].items():
            np.testing.assert_array_equal(value, expected[key], err_msg=f"call {i}, {key}")
            # nothing handed back shares memory with a buffer that later calls overwrote
            np.testing.assert_array_equal(value, snapshots[i][key], err_msg=f"call {i}, {key}")
