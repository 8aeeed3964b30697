"""ConvolutionLayer and PoolingLayer: the generic contract, loop references, shape rules, errors.

The references below are per-output-element loops written here, independent of the im2col
kernels (which have their own tests in test_window_kernels.py).
"""

import itertools
import math

import numpy as np
import pytest
from layer_check import check_gradients, check_layer

import netgraph as ng


def reference_conv(x, w, b, stride, pads, dilation, groups):
    """Channels-first batch x (N, C, *S), w (n, C/g, *k): one output element at a time."""
    x = np.asarray(x, np.float64)
    d = x.ndim - 2
    padded = np.pad(x, [(0, 0), (0, 0)] + [tuple(p) for p in pads])
    n, cg = w.shape[:2]
    k = w.shape[2:]
    out_size = [
        (padded.shape[2 + i] - (dilation[i] * (k[i] - 1) + 1)) // stride[i] + 1 for i in range(d)
    ]
    y = np.zeros((x.shape[0], n, *out_size))
    for e, o in itertools.product(range(x.shape[0]), range(n)):
        g = o // (n // groups)
        for pos in itertools.product(*map(range, out_size)):
            total = b[o]
            for c, off in itertools.product(range(cg), itertools.product(*map(range, k))):
                idx = tuple(pos[i] * stride[i] + off[i] * dilation[i] for i in range(d))
                total += w[(o, c) + off] * padded[(e, g * cg + c) + idx]
            y[(e, o) + pos] = total
    return y


def reference_pool(x, k, stride, pads, function):
    x = np.asarray(x, np.float64)
    d = x.ndim - 2
    fill = -np.inf if function == "Max" else 0.0
    padded = np.pad(x, [(0, 0), (0, 0)] + [tuple(p) for p in pads], constant_values=fill)
    out_size = [(padded.shape[2 + i] - k[i]) // stride[i] + 1 for i in range(d)]
    y = np.zeros(x.shape[:2] + tuple(out_size))
    for e, c in itertools.product(*map(range, x.shape[:2])):
        for pos in itertools.product(*map(range, out_size)):
            window = padded[
                (e, c)
                + tuple(slice(pos[i] * stride[i], pos[i] * stride[i] + k[i]) for i in range(d))
            ]
            y[(e, c) + pos] = {"Max": window.max(), "Mean": window.mean(), "Total": window.sum()}[
                function
            ]
    return y


CONV_CASES = [
    # (n, k, options, input shape, stride, pads, dilation, groups)
    (3, 3, {}, (2, 5, 5), (1, 1), ((0, 0), (0, 0)), (1, 1), 1),
    (4, (3, 2), {"Stride": 2, "PaddingSize": 1}, (2, 6, 5), (2, 2), ((1, 1), (1, 1)), (1, 1), 1),
    (2, 3, {"PaddingSize": ((1, 0), (0, 2))}, (1, 4, 4), (1, 1), ((1, 0), (0, 2)), (1, 1), 1),
    (2, 2, {"Dilation": 2, "PaddingSize": (1, 0)}, (1, 5, 5), (1, 1), ((1, 1), (0, 0)), (2, 2), 1),
    (4, 3, {"ChannelGroups": 2, "PaddingSize": 1}, (4, 4, 4), (1, 1), ((1, 1), (1, 1)), (1, 1), 2),
    (3, 3, {"ChannelGroups": 3}, (3, 5, 5), (1, 1), ((0, 0), (0, 0)), (1, 1), 3),  # depthwise
    (2, 3, {"Stride": 2}, (3, 9), (2,), ((0, 0),), (1,), 1),  # 1-D
    (2, 2, {"PaddingSize": 1}, (1, 3, 3, 3), (1, 1, 1), ((1, 1),) * 3, (1, 1, 1), 1),  # 3-D
]


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: f"k{c[1]}-{c[3]}-{c[2]}")
def test_convolution_matches_a_loop_reference(case):
    n, k, options, shape, stride, pads, dilation, groups = case
    conv = ng.NetInitialize(ng.ConvolutionLayer(n, k, Input=shape, **options), RandomSeeding=3)
    rng = np.random.default_rng(0)
    b = rng.standard_normal(n)
    conv = ng.NetReplacePart(conv, {"Biases": b})
    x = rng.standard_normal((2, *shape))
    w = ng.NetExtract(conv, "Weights")
    expected = reference_conv(
        x, w.astype(np.float64), b.astype(np.float32), stride, pads, dilation, groups
    )
    got = conv(x, WorkingPrecision="Real64")
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)
    assert ng.Information(conv, "OutputPorts")["Output"] == expected.shape[1:]


def test_interleaving_puts_channels_last():
    rng = np.random.default_rng(1)
    first = ng.NetInitialize(ng.ConvolutionLayer(3, (2, 3), Stride=(1, 2), Input=(2, 5, 7)))
    last = ng.NetReplacePart(
        ng.ConvolutionLayer(3, (2, 3), Stride=(1, 2), Interleaving=True, Input=(5, 7, 2)),
        {"Weights": ng.NetExtract(first, "Weights"), "Biases": rng.standard_normal(3)},
    )
    first = ng.NetReplacePart(first, {"Biases": ng.NetExtract(last, "Biases")})
    x = rng.standard_normal((2, 2, 5, 7)).astype(np.float32)
    y_first = first(x)
    y_last = last(np.moveaxis(x, 1, -1))
    assert y_last.shape == (2, 4, 3, 3)
    np.testing.assert_allclose(np.moveaxis(y_last, -1, 1), y_first, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "layer, shape, out, arrays",
    [
        (
            ng.ConvolutionLayer(4, 3, Stride=2, PaddingSize=1, Input=(2, 6, 6)),
            (2, 6, 6),
            (4, 3, 3),
            {"Weights": (4, 2, 3, 3), "Biases": (4,)},
        ),
        (
            ng.ConvolutionLayer(4, 3, ChannelGroups=2, Input=(4, 5, 5)),
            (4, 5, 5),
            (4, 3, 3),
            {"Weights": (4, 2, 3, 3), "Biases": (4,)},
        ),
        (
            ng.ConvolutionLayer(2, 3, Interleaving=True, PaddingSize=1, Input=(6, 3)),
            (6, 3),
            (6, 2),
            {"Weights": (2, 3, 3), "Biases": (2,)},
        ),
    ],
    ids=["strided-padded", "grouped", "interleaved-1d"],
)
def test_convolution_contract(layer, shape, out, arrays, tmp_path):
    check_layer(
        layer, shape, output_shape=out, array_shapes=arrays, modes=("Test",), tmp_path=tmp_path
    )


@pytest.mark.parametrize(
    "layer, shape, out",
    [
        (ng.PoolingLayer(2, 2, Input=(3, 4, 6)), (3, 4, 6), (3, 2, 3)),
        (
            ng.PoolingLayer(3, 2, PaddingSize=1, Function="Mean", Input=(2, 5, 5)),
            (2, 5, 5),
            (2, 3, 3),
        ),
        (ng.PoolingLayer(2, Function="Total", Interleaving=True, Input=(5, 2)), (5, 2), (4, 2)),
    ],
    ids=["max", "mean-padded", "total-interleaved"],
)
def test_pooling_contract(layer, shape, out, tmp_path):
    check_layer(layer, shape, output_shape=out, array_shapes={}, modes=("Test",), tmp_path=tmp_path)


@pytest.mark.parametrize(
    "k, stride, pads, function, shape",
    [
        ((2, 2), (1, 1), ((0, 0), (0, 0)), "Max", (2, 4, 4)),
        ((3, 3), (2, 2), ((1, 1), (1, 1)), "Mean", (1, 5, 6)),
        ((3,), (2,), ((2, 0),), "Max", (2, 7)),
        ((2, 2, 2), (2, 2, 2), ((0, 0),) * 3, "Total", (1, 4, 4, 4)),
    ],
)
def test_pooling_matches_a_loop_reference(k, stride, pads, function, shape):
    pool = ng.PoolingLayer(k, stride, PaddingSize=tuple(pads), Function=function, Input=shape)
    x = np.random.default_rng(2).standard_normal((2, *shape))
    np.testing.assert_allclose(
        pool(x, WorkingPrecision="Real64"), reference_pool(x, k, stride, pads, function), rtol=1e-12
    )


def test_pooling_defaults_follow_wolfram():
    """Stride defaults to 1: kernel 2 on (2,4,4) gives (2,3,3); with stride 2, (2,2,2)."""
    assert ng.PoolingLayer(2, Input=(2, 4, 4)).output_shapes["Output"] == (2, 3, 3)
    assert ng.PoolingLayer(2, 2, Input=(2, 4, 4)).output_shapes["Output"] == (2, 2, 2)
    assert ng.Options(ng.PoolingLayer)["Function"] == "Max"


def test_max_pooling_ties_route_the_gradient_to_the_first_element():
    pool = ng.PoolingLayer(2, 2, Input=(1, 2, 4))
    g = pool(np.ones((1, 2, 4)), ng.NetPortGradient("Input"))
    expected = np.array([[[1, 0, 1, 0], [0, 0, 0, 0]]], np.float32)  # one winner per window
    np.testing.assert_array_equal(g, expected)


def test_mean_pooling_counts_padding_as_zeros():
    pool = ng.PoolingLayer(3, 1, PaddingSize=1, Function="Mean", Input=(1, 3))
    y = pool(np.array([[3.0, 6.0, 9.0]]))
    np.testing.assert_allclose(y, [[(0 + 3 + 6) / 3, (3 + 6 + 9) / 3, (6 + 9 + 0) / 3]])


def test_gradients_in_float64():
    rng = np.random.default_rng(4)
    conv = ng.NetInitialize(
        ng.ConvolutionLayer(3, 2, Stride=2, Dilation=1, PaddingSize=1, Input=(2, 5, 4))
    )
    conv = ng.NetReplacePart(conv, {"Biases": rng.standard_normal(3)})
    check_gradients(conv, rng.standard_normal((2, 2, 5, 4)))
    pool = ng.PoolingLayer(2, 1, Function="Mean", Input=(2, 3, 3))
    check_gradients(pool, rng.standard_normal((2, 2, 3, 3)))


def test_output_size_at_most_zero_is_an_error_showing_the_size():
    with pytest.raises(ng.NetShapeError, match="would be -1"):
        ng.ConvolutionLayer(2, 5, Input=(1, 3, 3))
    with pytest.raises(ng.NetShapeError, match="would be 0"):
        ng.ConvolutionLayer(2, 3, Dilation=2, Input=(1, 4, 9))


def test_same_padding_keeps_ceil_of_input_over_stride():
    for size, stride in [(7, 1), (7, 2), (8, 3)]:
        conv = ng.ConvolutionLayer(2, 3, PaddingSize="Same", Stride=stride, Input=(1, size))
        assert conv.output_shapes["Output"] == (2, math.ceil(size / stride))


def test_weights_decide_the_input_channels():
    w = np.zeros((4, 3, 3, 3))
    conv = ng.ConvolutionLayer(4, 3, Weights=w, ChannelGroups=2)
    assert ng.Information(conv, "InputPorts")["Input"] == (6, None, None)


@pytest.mark.parametrize(
    "build, words",
    [
        (lambda: ng.ConvolutionLayer(4, 3, ChannelGroups=3, Input=(4, 5, 5)), "ChannelGroups=3"),
        (lambda: ng.ConvolutionLayer(5, 3, ChannelGroups=2, Input=(4, 5, 5)), "output channels"),
        (lambda: ng.ConvolutionLayer(2, (3, 3), Input=(1, 5)), "rank"),
        (lambda: ng.ConvolutionLayer(2, 3, Input=(1, 2, 2, 2, 2)), "1 to 3 spatial"),
        (lambda: ng.ConvolutionLayer(4, 3, Weights=np.zeros((5, 1, 3, 3))), "Weights"),
        (lambda: ng.PoolingLayer(2, PaddingSize=2, Input=(1, 4, 4)), "smaller than the kernel"),
    ],
    ids=["groups-in", "groups-out", "kernel-vs-rank", "4d", "weights-vs-n", "pool-padding"],
)
def test_bad_configurations_raise_named_errors(build, words):
    with pytest.raises(ng.NetError, match=words):
        build()


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"Stride": 0}, "Stride"),
        ({"PaddingSize": -1}, "PaddingSize"),
        ({"Dilation": "2"}, "Dilation"),
        ({"ChannelGroups": 0}, "ChannelGroups"),
    ],
)
def test_bad_option_values(kwargs, name):
    with pytest.raises(ng.NetOptionError, match=name):
        ng.ConvolutionLayer(2, 3, **kwargs)


def test_wrong_rank_data_names_the_port():
    conv = ng.NetInitialize(ng.ConvolutionLayer(2, 3, Input=(1, 8, 8)))
    with pytest.raises(ng.NetShapeError, match='port "Input".*rank 3'):
        conv(np.ones((8, 8)))


def test_skipping_the_data_gradient_changes_no_array_gradient():
    """Training never needs d(loss)/d(data): the executor tells the first layers so, and the
    convolution skips its input-gradient product and col2im; array gradients are unchanged."""
    from netgraph.executor import compile_plan, run_backward, run_forward
    from netgraph.layer import Context

    net = ng.NetInitialize(
        ng.NetChain(
            [ng.ConvolutionLayer(3, 3, PaddingSize=1), "Tanh", ng.ConvolutionLayer(2, 3)],
            Input=(2, 6, 6),
        )
    )
    x = np.random.default_rng(5).standard_normal((4, 2, 6, 6)).astype(np.float32)
    plan = compile_plan(net)
    values = net._array_values()
    results = []
    for input_grads in (True, False):
        out, tape, _ = run_forward(plan, values, {"Input": x}, Context(need_grad=True), keep=True)
        results.append(
            run_backward(
                plan, tape, {"Output": np.ones_like(out["Output"])}, input_grads=input_grads
            )
        )
    (d_in_all, d_arr_all), (d_in_none, d_arr_none) = results
    assert d_in_all["Input"].shape == x.shape and d_in_none["Input"] is None
    assert d_arr_all.keys() == d_arr_none.keys()
    for aid in d_arr_all:
        np.testing.assert_array_equal(d_arr_all[aid], d_arr_none[aid])


@pytest.mark.parametrize("interleaving", [False, True])
def test_output_channels_are_known_before_the_input_rank(interleaving):
    """(n, ...) from n alone, so a following BatchNormalizationLayer knows its channel count."""
    chain = ng.NetChain(
        [
            ng.ConvolutionLayer(8, 3, Interleaving=interleaving),
            ng.BatchNormalizationLayer(Interleaving=interleaving),
        ]
    )
    dims = ng.Information(chain, "ArraysDimensions")
    assert dims[(1, "Scaling")] == (8,) and dims[(1, "MovingVariance")] == (8,)
    expected = (..., 8) if interleaving else (8, ...)
    assert ng.Information(ng.NetExtract(chain, 0), "OutputPorts")["Output"] == expected
