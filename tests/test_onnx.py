"""ONNX export: the Test-mode graph run in onnxruntime matches netgraph on batches of any size."""

from __future__ import annotations

import numpy as np
import pytest

import netgraph as ng
from netgraph.layer import LAYER_TYPES

REASON = 'ONNX export tests need the optional extra: pip install "netgraph[onnx]"'
onnx = pytest.importorskip("onnx", reason=REASON)
ort = pytest.importorskip("onnxruntime", reason=REASON)

BATCHES = (1, 3, 8)


def _has(*names: str) -> bool:
    return all(n in LAYER_TYPES for n in names)


def _randomized(net: ng.Layer, seed: int = 0) -> ng.Layer:
    """Initialized, with random values in every array (moving variances positive)."""
    net = ng.NetInitialize(net, RandomSeeding=seed)
    rng = np.random.default_rng(seed)
    rules = {}
    for path, a in ng.Information(net, "Arrays").items():
        value = rng.normal(size=a.shape)
        key = path.name if isinstance(path, ng.NetSharedArray) else path[-1]
        rules[path] = np.abs(value) + 0.1 if key == "MovingVariance" else value
    return ng.NetReplacePart(net, rules) if rules else net


def _session(net: ng.Layer, tmp_path):
    path = tmp_path / "model.onnx"
    assert ng.Export(path, net) == path
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _assert_matches(net: ng.Layer, tmp_path, low: float = -2.0, high: float = 2.0) -> None:
    session = _session(net, tmp_path)
    names = [o.name for o in session.get_outputs()]
    assert names == list(net.output_shapes)
    rng = np.random.default_rng(1)
    for n in BATCHES:
        feed = {
            p: rng.uniform(low, high, (n, *s)).astype(np.float32)
            for p, s in net.input_shapes.items()
        }
        got = session.run(None, feed)
        want = net(feed)
        want = want if isinstance(want, dict) else {names[0]: want}
        for name, y in zip(names, got):
            assert y.shape == (n, *net.output_shapes[name])
            np.testing.assert_allclose(y, want[name], rtol=1e-5, atol=1e-6, err_msg=name)


# ------------------------------------------------------------------------ BatchNormalization


@pytest.mark.parametrize(
    "interleaving, shape",
    [
        (False, (3,)),
        (False, (3, 5)),
        (False, (3, 4, 5)),
        (True, (4, 3)),
        (True, (4, 5, 3)),
        (True, (3,)),
    ],
)
def test_batch_normalization_matches(interleaving, shape, tmp_path):
    bn = ng.BatchNormalizationLayer(Interleaving=interleaving, Epsilon=0.01, Input=shape)
    _assert_matches(_randomized(bn), tmp_path)


def test_batch_normalization_node_has_the_moving_statistics_and_epsilon(tmp_path):
    net = _randomized(ng.NetChain({"bn": ng.BatchNormalizationLayer(Epsilon=0.001)}, Input=(3, 2)))
    ng.Export(tmp_path / "m.onnx", net)
    model = onnx.load(tmp_path / "m.onnx")
    (node,) = [n for n in model.graph.node if n.op_type == "BatchNormalization"]
    assert list(node.input)[1:] == ["bn/Scaling", "bn/Biases", "bn/MovingMean", "bn/MovingVariance"]
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    assert attrs["training_mode"] == 0
    assert attrs["epsilon"] == pytest.approx(0.001)
    initial = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    np.testing.assert_array_equal(
        initial["bn/MovingMean"], ng.NetExtract(net, ("bn", "MovingMean"))
    )
    dim = model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dim] == ["N", 3, 2]


def test_nested_containers_and_shared_arrays(tmp_path):
    bn = ng.NetInsertSharedArrays(ng.BatchNormalizationLayer(Input=3), "s/")
    net = _randomized(ng.NetChain({"a": bn, "inner": ng.NetChain([bn, [bn]])}, Input=3))
    _assert_matches(net, tmp_path)
    model = onnx.load(tmp_path / "model.onnx")
    names = [i.name for i in model.graph.initializer]
    assert names.count("shared/s/Scaling") == 1 and len(names) == 2 + 3 * 2


def test_float64_arrays_export_as_float32(tmp_path):
    bn = _randomized(ng.BatchNormalizationLayer(Input=(2, 3)))
    arrays = ng.Information(bn, "Arrays")
    bn64 = ng.NetReplacePart(bn, {p: ng.NumericArray(a, "Real64") for p, a in arrays.items()})
    _assert_matches(bn64, tmp_path)


# ------------------------------------------------------------------------ the other layers


@pytest.mark.skipif(
    not _has("ConvolutionLayer", "PoolingLayer"), reason="ConvolutionLayer/PoolingLayer not yet"
)
@pytest.mark.parametrize("interleaving", [False, True])
@pytest.mark.parametrize("function", ["Max", "Mean"])
def test_conv_bn_ramp_pool_flatten_linear_softmax_chain(interleaving, function, tmp_path):
    shape = (8, 8, 2) if interleaving else (2, 8, 8)
    chain = ng.NetChain(
        [
            ng.ConvolutionLayer(4, 3, PaddingSize=1, Interleaving=interleaving),
            ng.BatchNormalizationLayer(Interleaving=interleaving),
            "Ramp",
            ng.PoolingLayer(
                2, Stride=2, PaddingSize=1, Function=function, Interleaving=interleaving
            ),
            ng.FlattenLayer(),
            ng.LinearLayer(5),
            ng.SoftmaxLayer(),
        ],
        Input=shape,
    )
    _assert_matches(_randomized(chain), tmp_path)


@pytest.mark.skipif(not _has("ConvolutionLayer"), reason="ConvolutionLayer not yet")
def test_convolution_geometry_options(tmp_path):
    conv = ng.ConvolutionLayer(
        4,
        (3, 2),
        Stride=(2, 1),
        PaddingSize=((2, 0), (1, 1)),
        Dilation=(1, 2),
        ChannelGroups=2,
        Input=(4, 9, 7),
    )
    _assert_matches(_randomized(conv), tmp_path)


@pytest.mark.skipif(not _has("ConvolutionLayer"), reason="ConvolutionLayer not yet")
def test_one_dimensional_convolution_and_pooling(tmp_path):
    chain = ng.NetChain(
        [ng.ConvolutionLayer(3, 2, Stride=2), ng.PoolingLayer(3, Function="Mean", PaddingSize=1)],
        Input=(2, 11),
    )
    _assert_matches(_randomized(chain), tmp_path)


def _window_layers() -> list:
    if not _has("ConvolutionLayer", "PoolingLayer"):
        return []
    return [
        lambda: ng.ConvolutionLayer(3, 3, Stride=2, PaddingSize="Same", Input=(2, 7, 8)),
        lambda: ng.ConvolutionLayer(2, (2, 3, 2), Interleaving=True, Input=(4, 5, 4, 3)),
        lambda: ng.PoolingLayer(3, 2, PaddingSize="Same", Function="Total", Input=(2, 7, 7)),
        lambda: ng.PoolingLayer((2, 3), (1, 2), PaddingSize=((1, 0), (0, 2)), Input=(2, 5, 6)),
        lambda: ng.PoolingLayer(2, Function="Mean", Interleaving=True, Input=(5, 5, 5, 2)),
    ]


@pytest.mark.parametrize("make", _window_layers())
def test_window_layers_padding_forms_and_functions(make, tmp_path):
    _assert_matches(_randomized(make()), tmp_path)


@pytest.mark.skipif(not _has("LinearLayer", "CatenateLayer"), reason="layers not yet")
def test_graph_with_catenate(tmp_path):
    graph = ng.NetGraph(
        {
            "a": ng.LinearLayer(4),
            "b": ng.LinearLayer((2, 3)),
            "flat": ng.FlattenLayer(),
            "cat": ng.CatenateLayer(),
            "out": ng.LinearLayer(3),
            "soft": ng.SoftmaxLayer(),
        },
        [
            (ng.NetPort("Input"), "a"),
            (ng.NetPort("Input"), "b", "flat"),
            (["a", "flat"], "cat", "out", "soft"),
            ("cat", ng.NetPort("Features")),
        ],
        Input=(2, 3),
    )
    _assert_matches(_randomized(graph), tmp_path)


def _elementwise_names() -> list[str]:
    if not _has("ElementwiseLayer"):
        return []
    return ng.ElementwiseLayer.functions()


@pytest.mark.parametrize("name", _elementwise_names())
def test_every_named_elementwise_function(name, tmp_path):
    layer = ng.ElementwiseLayer(name, Input=(2, 5))
    positive = name in ("Log", "Sqrt")
    _assert_matches(layer, tmp_path, 0.1 if positive else -4.0, 4.0)


@pytest.mark.skipif(
    not _has("SoftmaxLayer", "FlattenLayer", "ReshapeLayer", "DropoutLayer", "TotalLayer"),
    reason="layers not yet",
)
def test_structural_layers(tmp_path):
    graph = ng.NetGraph(
        {
            "soft": ng.SoftmaxLayer(1),
            "flat": ng.FlattenLayer(1),
            "drop": ng.DropoutLayer(0.7),
            "shape": ng.ReshapeLayer((4, 5)),
            "total": ng.TotalLayer(),
        },
        [
            (ng.NetPort("Input"), "soft", "flat", "drop", "shape"),
            (["shape", ng.NetPort("Other")], "total"),
        ],
        Input=(4, 5, 1),
    )
    _assert_matches(graph, tmp_path)


@pytest.mark.skipif(not _has("ThreadingLayer"), reason="ThreadingLayer not yet")
@pytest.mark.parametrize("function", ["Plus", "Times", "Max", "Min", "Subtract", "Divide"])
def test_threading_functions(function, tmp_path):
    n = 2 if function in ("Subtract", "Divide") else 3
    layer = ng.ThreadingLayer(function, InputPorts=n, Input1=(2, 3))
    _assert_matches(layer, tmp_path, 0.5, 2.0)


# ------------------------------------------------------------------------ what cannot export


def test_an_uninitialized_net_cannot_be_exported(tmp_path):
    with pytest.raises(ng.NetNotInitializedError, match="NetInitialize"):
        ng.Export(tmp_path / "m.onnx", ng.NetChain([ng.BatchNormalizationLayer()], Input=3))
    assert not (tmp_path / "m.onnx").exists()


def test_unknown_shapes_cannot_be_exported(tmp_path):
    bn = ng.BatchNormalizationLayer(
        Scaling=[1, 1], Biases=[0, 0], MovingMean=[0, 0], MovingVariance=[1, 1]
    )
    with pytest.raises(ng.NetSaveError, match="not fully known"):
        ng.Export(tmp_path / "m.onnx", bn)


@pytest.mark.skipif(not _has("ElementwiseLayer"), reason="ElementwiseLayer not yet")
def test_a_callable_or_a_layer_without_mapping_names_the_layer(tmp_path):
    (tmp_path / "m.onnx").write_bytes(b"old")
    net = ng.NetChain(
        {"bn": ng.BatchNormalizationLayer(), "f": ng.ElementwiseLayer(np.cbrt)}, Input=3
    )
    with pytest.raises(ng.NetSaveError, match='ElementwiseLayer "f" applies a Python callable'):
        ng.Export(tmp_path / "m.onnx", ng.NetInitialize(net))
    if _has("MeanSquaredLossLayer"):
        loss = ng.NetGraph(
            {"bn": ng.BatchNormalizationLayer(), "loss": ng.MeanSquaredLossLayer()},
            [("bn", "loss")],
            Input=3,
        )
        with pytest.raises(ng.NetSaveError, match='MeanSquaredLossLayer "loss" has no ONNX'):
            ng.Export(tmp_path / "m.onnx", ng.NetInitialize(loss))
    assert (tmp_path / "m.onnx").read_bytes() == b"old"
