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
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

import netgraph as ng
from netgraph.layers import _window as W


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


def input_gradient_of_ones(w, h, wd):
    """d/dx sum(conv(x, w)) for an unpadded stride-1 conv of an (h, wd) input: x[c, i, j] gets
    w[f, c, u, v] for every (f, u, v) whose window covers it (0 <= i - u <= h - kh, same for j)."""
    n, c, kh, kw = w.shape
    dx = np.zeros((c, h, wd))
    for ch, i, j, f, u, v in np.ndindex(c, h, wd, n, kh, kw):
        if 0 <= i - u <= h - kh and 0 <= j - v <= wd - kw:
            dx[ch, i, j] += w[f, ch, u, v]
    return dx


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
    expected = input_gradient_of_ones(ng.NetExtract(a, "Weights").astype(np.float64), 6, 6)
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
    trained = []

    def train():
        result = ng.NetTrain(net, (x, t), TrainingProgressReporting=None, **options)
        trained.append(ng.NetExtract(result, (0, "Weights")))

    thread = threading.Thread(target=train)  # on fresh scratch buffers (they are per-thread)
    thread.start()
    thread.join()
    # a batch of 2 (1, 8, 8) images padded by 1 fills as much scratch as one (1, 18, 8) image
    conv_net(1, 3, 1, (1, 18, 8))(np.full((1, 18, 8), 7.0))
    train()
    np.testing.assert_array_equal(trained[1], trained[0])


def test_pooling_of_several_channels_after_another_layout():
    x = np.random.default_rng(4).standard_normal((3, 5, 7)).astype(np.float32)
    a = ng.PoolingLayer(3, PaddingSize=1, Input=(3, 5, 7))
    b = ng.PoolingLayer(3, PaddingSize=1, Input=(1, 19, 7))  # padded: 3 x 7 x 9 = 1 x 21 x 9
    a(x)
    b(np.full((1, 19, 7), 9.0))
    np.testing.assert_array_equal(a(x), ref_pool2d_max(x[None], 3, 1)[0])


# --------------------------------------------------------------------------- property

PROPERTY = settings(
    max_examples=50,
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
    d = draw(st.integers(1, 3))
    spatial = tuple(draw(st.integers(1, 7 if d < 3 else 4)) for _ in range(d))
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
@given(st.lists(window_calls(), min_size=1, max_size=3), st.data())
def test_interleaved_layouts_give_the_results_of_fresh_buffers(families, data):
    calls = [call for family in families for call in family]
    order = data.draw(st.permutations(range(len(calls))))  # the families interleave
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


# --------------------------------------------------------------------------- every layer


def _batch(*shape):
    return lambda rng: rng.standard_normal((3, *shape)).astype(np.float32)


def _ports(**shapes):
    return lambda rng: {port: _batch(*shape)(rng) for port, shape in shapes.items()}


TWO_PORTS = _ports(Input1=(4,), Input2=(4,))
LAYERS = {  # name: (layer, data, differentiable)
    "linear": (ng.LinearLayer(3, Input=4), _batch(4), True),
    "ramp": (ng.ElementwiseLayer("Ramp", Input=4), _batch(4), True),
    "identity-callable": (ng.ElementwiseLayer(lambda v: v, Input=4), _batch(4), False),
    "batchnorm": (ng.BatchNormalizationLayer(Input=(2, 3)), _batch(2, 3), True),
    "softmax": (ng.SoftmaxLayer(Input=4), _batch(4), True),
    "dropout": (ng.DropoutLayer(0.5, Input=4), _batch(4), True),
    "flatten": (ng.FlattenLayer(Input=(2, 3)), _batch(2, 3), True),
    "reshape": (ng.ReshapeLayer((3, 2), Input=(2, 3)), _batch(2, 3), True),
    "conv": (ng.ConvolutionLayer(2, 2, PaddingSize=1, Input=(1, 3, 3)), _batch(1, 3, 3), True),
    "pool": (ng.PoolingLayer(2, Function="Mean", Input=(1, 3, 3)), _batch(1, 3, 3), True),
    "total": (ng.TotalLayer(InputPorts=2, Input1=4), TWO_PORTS, True),
    "catenate": (ng.CatenateLayer(InputPorts=2, Input1=4, Input2=4), TWO_PORTS, True),
    "threading": (ng.ThreadingLayer("Max", InputPorts=2, Input1=4), TWO_PORTS, True),
    "threading-plus": (ng.ThreadingLayer("Plus", InputPorts=2, Input1=4), TWO_PORTS, True),
    "plus-of-one": (ng.ThreadingLayer("Plus", InputPorts=1, Input1=4), _ports(Input1=(4,)), True),
    "mean-squared": (ng.MeanSquaredLossLayer(Input=4), _ports(Input=(4,), Target=(4,)), True),
}


def _everything(net, data, differentiable):
    """What a user can get back from one batch: outputs in both modes and all gradients."""
    results = {"Test": net(data), "Train": net(data, NetEvaluationMode="Train", RandomSeeding=1)}
    if differentiable:
        grads = net(data, ng.NetPortGradient(ng.All))
        results.update({("gradient", key): value for key, value in grads.items()})
    return {key: value if isinstance(value, dict) else {"": value} for key, value in
            results.items()}  # fmt: skip


def _flat(results):
    return {(key, port): v for key, value in results.items() for port, v in value.items()}


@pytest.mark.parametrize("name", LAYERS)
def test_nothing_handed_back_aliases_the_data_or_a_later_call(name):
    layer, make_data, differentiable = LAYERS[name]
    net = ng.NetInitialize(layer, RandomSeeding=0)
    rng = np.random.default_rng(5)
    data = make_data(rng)
    given = {k: v.copy() for k, v in data.items()} if isinstance(data, dict) else data.copy()
    arrays = {k: v.copy() for k, v in ng.Information(net, "Arrays").items()}
    first = _flat(_everything(net, data, differentiable))
    kept = {key: value.copy() for key, value in first.items()}
    _everything(net, make_data(rng), differentiable)  # other data, same layout
    inputs = list(data.values()) if isinstance(data, dict) else [data]
    for key, value in first.items():
        assert not any(np.shares_memory(value, x) for x in inputs), key
        np.testing.assert_array_equal(value, kept[key], err_msg=str(key))
        value[...] = 0  # the caller owns it: writing to it changes nothing else
    np.testing.assert_equal(data, given)  # the caller's data is untouched
    for key, value in _flat(_everything(net, data, differentiable)).items():
        np.testing.assert_array_equal(value, kept[key], err_msg=str(key))
    for key, value in ng.Information(net, "Arrays").items():
        np.testing.assert_array_equal(value, arrays[key], err_msg=str(key))


def test_two_output_ports_fed_by_one_layer_port_are_two_arrays():
    graph = ng.NetGraph(
        {"a": ng.ElementwiseLayer("Tanh")},
        [(ng.NetPort("Input"), "a"), ("a", ng.NetPort("Out1")), ("a", ng.NetPort("Out2"))],
        Input=3,
    )
    x = np.array([[0.5, -1.0, 2.0], [0.0, 1.0, -2.0]], np.float32)
    result = graph(x)
    result["Out1"][...] = 9.0
    np.testing.assert_allclose(result["Out2"], np.tanh(x.astype(np.float64)), rtol=1e-6)


def test_gradients_of_a_total_layers_inputs_are_two_arrays():
    total = ng.TotalLayer(InputPorts=2, Input1=2)
    batch = {"Input1": [[1.0, 2.0], [5.0, 6.0]], "Input2": [[3.0, 4.0], [7.0, 8.0]]}
    grads = total(batch, ng.NetPortGradient(ng.All))
    grads["Input1"] += 1.0  # d(sum)/d(each input) is 1
    np.testing.assert_array_equal(grads["Input2"], np.ones((2, 2)))


def test_results_hold_when_every_scratch_buffer_is_dropped_at_once(monkeypatch):
    # With a 1-byte budget each new scratch buffer drops all others, even those a call still
    # uses (its columns between forward and backward): results must not change.
    calls = [
        (conv_net(3, 3, 1, (2, 6, 5)), np.ones((2, 2, 6, 5)) * np.arange(5), ng.All),
        (conv_net(2, 2, 0, (1, 7, 7)), np.linspace(-1, 1, 98).reshape(2, 1, 7, 7), "Input"),
        (ng.PoolingLayer(3, 2, PaddingSize=1, Input=(2, 5, 6)), np.ones((2, 5, 6)), "Input"),
    ]
    expected = [on_fresh_buffers((net, x, (ng.NetPortGradient(g),), "Real32"))
                for net, x, g in calls]  # fmt: skip
    monkeypatch.setattr(W, "_SCRATCH_BYTES", 1)
    for (net, x, g), want in zip(calls, expected):
        for _ in range(2):
            got = on_fresh_buffers((net, x, (ng.NetPortGradient(g),), "Real32"))
            for key, value in got.items():
                np.testing.assert_array_equal(value, want[key], err_msg=str(key))


def test_arrays_cast_for_another_precision_are_read_only():
    # Every later evaluation in Real64 reads the cached float64 copies: no layer may write them.
    net = conv_net(2, 3, 1, (1, 5, 5))
    x = np.random.default_rng(6).standard_normal((2, 1, 5, 5))
    first = net(x, WorkingPrecision="Real64")
    cached = net._cache[("values", "float64")]
    assert cached and not any(value.flags.writeable for value in cached.values())
    np.testing.assert_array_equal(net(x, WorkingPrecision="Real64"), first)
