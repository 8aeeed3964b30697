"""The ONNX converters, one per layer type name, registered in `CONVERTERS`.

A converter is ``f(graph, step, inputs, where) -> {output port: tensor name}``: `graph` is the
`netgraph.onnx_export.OnnxGraph` being built (``graph.op``, ``graph.const``, ``graph.array``),
`step` the plan step (its leaf layer with every port shape inferred, its array ids), `inputs` the
tensor names feeding each input port and `where` the layer's path for messages. Shapes here are
shapes of one example; ONNX tensors carry the batch axis first. Channels-last layers
(``Interleaving=True``) get Transposes around the channels-first ONNX op.

>>> sorted(CONVERTERS)[:4]
['BatchNormalizationLayer', 'CatenateLayer', 'ConvolutionLayer', 'DropoutLayer']
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .errors import NetSaveError

OnnxGraph = Any  # netgraph.onnx_export.OnnxGraph (not imported: that module imports this one)

CONVERTERS: dict[str, Callable] = {}


def converter(*type_names: str):
    """Register a converter ``f(graph, step, inputs, where) -> {output port: tensor name}``."""

    def register(f: Callable) -> Callable:
        for name in type_names:
            CONVERTERS[name] = f
        return f

    return register


def _example_shape(step, port: str = "Input") -> tuple:
    return tuple(step.layer.port_shape(port))


def _channels_first(g: OnnxGraph, x: str, rank: int, hint: str) -> str:
    """(N, *S, C) -> (N, C, *S) for an example of rank `rank` (channels last)."""
    return g.op("Transpose", [x], hint, perm=[0, rank, *range(1, rank)])


def _channels_last(g: OnnxGraph, x: str, rank: int, hint: str) -> str:
    return g.op("Transpose", [x], hint, perm=[0, *range(2, rank + 1), 1])


def _interleaved(g: OnnxGraph, step, x: str, rank: int, body: Callable[[str], str]) -> str:
    """`body` on channels-first data: Transposes around it when the layer is channels-last."""
    name = "/".join(map(str, step.path)) or type(step.layer).__name__
    if not step.layer.options.get("Interleaving") or rank < 2:
        return body(x)
    y = body(_channels_first(g, x, rank, f"{name}/to_channels_first"))
    return _channels_last(g, y, rank, f"{name}/to_channels_last")


def _reshape(g: OnnxGraph, x: str, shape: tuple, hint: str) -> str:
    """Each example reshaped to `shape`; 0 keeps the batch dim whatever N is."""
    target = g.const([0, *shape], f"{hint}/shape", np.int64)
    return g.op("Reshape", [x, target], hint)


def _name(step, suffix: str = "Output") -> str:
    return "/".join([*map(str, step.path), suffix])


def _window_attributes(step) -> tuple[int, dict]:
    """(spatial dims, ONNX kernel_shape/strides/pads) from the layer's own geometry rule, which
    resolves every PaddingSize form ("Same" included) to (begin, end) pairs per dimension."""
    layer = step.layer
    shape = _example_shape(step)
    d = len(shape) - 1
    spatial = shape[:-1] if layer.options.get("Interleaving") else shape[1:]
    k, stride, dilation, pads = layer.geometry(d, spatial)
    attrs = {
        "kernel_shape": list(k),
        "strides": list(stride),
        "pads": [b for b, _ in pads] + [e for _, e in pads],
    }
    return d, {**attrs, "dilations": list(dilation)}


# ------------------------------------------------------------------------ converters


@converter("BatchNormalizationLayer")
def _batch_normalization(g: OnnxGraph, step, ins: dict, where: str) -> dict:
    layer = step.layer
    rank = len(_example_shape(step))
    arrays = [g.array(step, n) for n in ("Scaling", "Biases", "MovingMean", "MovingVariance")]

    def body(x: str) -> str:  # ONNX inputs: X, scale, B, mean, var; epsilon always written
        return g.op(
            "BatchNormalization",
            [x, *arrays],
            _name(step),
            epsilon=float(layer.options["Epsilon"]),
            momentum=float(layer.options["Momentum"]),
            training_mode=0,
        )

    return {"Output": _interleaved(g, step, ins["Input"], rank, body)}


@converter("LinearLayer")
def _linear(g: OnnxGraph, step, ins: dict, where: str) -> dict:
    x = ins["Input"]
    if len(_example_shape(step)) != 1:
        x = g.op("Flatten", [x], _name(step, "flat"), axis=1)
    biases = g.values[step.arrays["Biases"]]
    if biases.ndim == 1:
        b = g.array(step, "Biases")
    else:  # an output of shape n = (n1, n2, ...): Gemm's bias is the flat vector
        b = g.const(biases.reshape(-1), _name(step, "Biases_flat"))
    y = g.op("Gemm", [x, g.array(step, "Weights"), b], _name(step, "Gemm"), transB=1)
    out = _example_shape(step, "Output")
    return {"Output": y if len(out) == 1 else _reshape(g, y, out, _name(step))}


_UNARY = {
    "Ramp": "Relu",
    "Tanh": "Tanh",
    "LogisticSigmoid": "Sigmoid",
    "Sin": "Sin",
    "Cos": "Cos",
    "Exp": "Exp",
    "Log": "Log",
    "Sqrt": "Sqrt",
    "Abs": "Abs",
    "SoftPlus": "Softplus",
    "SoftSign": "Softsign",
    "Erf": "Erf",
    "HardSwish": "HardSwish",
}


def _elementwise_formula(g: OnnxGraph, fname: str, x: str, hint: str) -> str | None:
    from netgraph.layers import elementwise as E

    if fname == "Square":
        return g.op("Mul", [x, x], hint)
    if fname == "Swish":  # x * sigmoid(x)
        return g.op("Mul", [x, g.op("Sigmoid", [x], f"{hint}/sigmoid")], hint)
    if fname == "Mish":  # x * tanh(softplus(x))
        t = g.op("Tanh", [g.op("Softplus", [x], f"{hint}/softplus")], f"{hint}/tanh")
        return g.op("Mul", [x, t], hint)
    if fname == "GELU":  # exact: 0.5 x (1 + erf(x / sqrt 2))
        e = g.op(
            "Erf",
            [g.op("Mul", [x, g.const(1 / math.sqrt(2), f"{hint}/c")], f"{hint}/scaled")],
            f"{hint}/erf",
        )
        half = g.op("Mul", [x, g.const(0.5, f"{hint}/half")], f"{hint}/half_x")
        return g.op("Add", [half, g.op("Mul", [half, e], f"{hint}/half_x_erf")], hint)
    if fname == "ELU":
        return g.op("Elu", [x], hint, alpha=1.0)
    if fname == "SELU":
        return g.op("Selu", [x], hint, alpha=E._SELU_ALPHA, gamma=E._SELU_SCALE)
    if fname == "HardTanh":
        return g.op("Clip", [x, g.const(-1.0, f"{hint}/min"), g.const(1.0, f"{hint}/max")], hint)
    if fname == "HardSigmoid":  # Wolfram's Clip[(x + 1)/2, {0, 1}]: alpha 0.5, beta 0.5
        return g.op("HardSigmoid", [x], hint, alpha=0.5, beta=0.5)
    if fname in _UNARY:
        return g.op(_UNARY[fname], [x], hint)
    return None


@converter("ElementwiseLayer")
def _elementwise(g: OnnxGraph, step, ins: dict, where: str) -> dict:
    from netgraph.layers import elementwise as E

    f = step.layer._options.function
    if not isinstance(f, str):
        raise NetSaveError(
            f"ONNX export: {where} applies a Python callable ({f!r:.60}), which has no ONNX "
            'form; use a named function such as "Ramp".'
        )
    y = _elementwise_formula(g, E.ALIASES.get(f, f), ins["Input"], _name(step))
    if y is None:
        raise NetSaveError(f'ONNX export: {where} function "{f}" has no ONNX conversion.')
    return {"Output": y}


@converter("SoftmaxLayer")
def _softmax(g: OnnxGraph, step, ins: dict, where: str) -> dict:
    rank = len(_example_shape(step))
    level = step.layer.options["Level"]
    axis = 1 + ((level - 1) if level > 0 else level) % rank
    return {"Output": g.op("Softmax", [ins["Input"]], _name(step), axis=axis)}


@converter("FlattenLayer", "ReshapeLayer")
def _reshape_layer(g: OnnxGraph, step, ins: dict, where: str) -> dict:
    return {"Output": _reshape(g, ins["Input"], _example_shape(step, "Output"), _name(step))}


@converter("DropoutLayer")
def _dropout(g: OnnxGraph, step, ins: dict, where: str) -> dict:
    return {"Output": g.op("Identity", [ins["Input"]], _name(step))}


def _input_list(ins: dict) -> list[str]:
    """The inputs of a list-taking layer: one list port, or ports Input1..InputN in order."""
    if len(ins) == 1 and isinstance(next(iter(ins.values())), list):
        return next(iter(ins.values()))
    return [ins[p] for p in ins]


@converter("CatenateLayer")
def _catenate(g: OnnxGraph, step, ins: dict, where: str) -> dict:
    level = step.layer.options.get("Level", 1)
    rank = len(_example_shape(step, "Output"))
    axis = 1 + ((level - 1) if level > 0 else level) % rank
    return {"Output": g.op("Concat", _input_list(ins), _name(step), axis=axis)}


@converter("TotalLayer")
def _total(g: OnnxGraph, step, ins: dict, where: str) -> dict:
    return {"Output": g.op("Sum", _input_list(ins), _name(step))}


_THREADED = {
    "Plus": "Sum",
    "Times": "Mul",
    "Max": "Max",
    "Min": "Min",
    "Subtract": "Sub",
    "Divide": "Div",
    "Power": "Pow",
}


@converter("ThreadingLayer")
def _threading(g: OnnxGraph, step, ins: dict, where: str) -> dict:
    f = step.layer._options.function
    if not isinstance(f, str) or f not in _THREADED:
        raise NetSaveError(
            f"ONNX export: {where} function {f!r:.60} has no ONNX conversion; named functions "
            "that convert: " + ", ".join(_THREADED) + "."
        )
    xs = _input_list(ins)
    if _THREADED[f] == "Mul":  # Mul takes two inputs: a chain
        y = xs[0]
        for i, x in enumerate(xs[1:]):
            y = g.op("Mul", [y, x], _name(step) if i == len(xs) - 2 else _name(step, f"mul{i}"))
        return {"Output": y if len(xs) > 1 else g.op("Identity", [y], _name(step))}
    return {"Output": g.op(_THREADED[f], xs, _name(step))}


@converter("ConvolutionLayer")
def _convolution(g: OnnxGraph, step, ins: dict, where: str) -> dict:
    d, attrs = _window_attributes(step)
    group = int(step.layer.options["ChannelGroups"])
    arrays = [g.array(step, "Weights"), g.array(step, "Biases")]

    def body(x: str) -> str:
        return g.op("Conv", [x, *arrays], _name(step), group=group, **attrs)

    return {"Output": _interleaved(g, step, ins["Input"], d + 1, body)}


@converter("PoolingLayer")
def _pooling(g: OnnxGraph, step, ins: dict, where: str) -> dict:
    d, attrs = _window_attributes(step)
    del attrs["dilations"]  # pooling windows are dense
    function = step.layer.options["Function"]

    def body(x: str) -> str:
        if function == "Max":  # ONNX MaxPool ignores padded positions: our -inf padding
            return g.op("MaxPool", [x], _name(step), **attrs)
        # our Mean divides by the full window (padding counts as zeros): count_include_pad=1
        y = g.op("AveragePool", [x], _name(step, "mean"), count_include_pad=1, **attrs)
        if function == "Mean":
            return y
        window = g.const(float(math.prod(attrs["kernel_shape"])), _name(step, "window"))
        return g.op("Mul", [y, window], _name(step))  # Total = Mean * window size

    return {"Output": _interleaved(g, step, ins["Input"], d + 1, body)}
