"""ONNX export: the Test-mode graph of an initialized net, with a symbolic batch axis "N".

``ng.Export("model.onnx", net)`` lands here. The net's plan (nested containers already
flattened into leaf steps) is walked once; each leaf is converted by the function registered
for its type name in `CONVERTERS`, and arrays become float32 initializers (a shared array once).
Needs the optional extra: ``pip install "netgraph[onnx]"`` (onnx; onnxruntime to run the model).

Test mode means: BatchNormalization uses its moving statistics (``training_mode`` 0), Dropout is
the identity. Every port shape must be known. A layer without a converter, or an
ElementwiseLayer built from a Python callable, raises `NetSaveError` naming its path and type.
A NetDecoder is not part of the ONNX graph: an output port with a decoder exports its numbers
(the class probabilities), and the labels stay with the netgraph file.

>>> import netgraph as ng
>>> sorted(CONVERTERS)[:3]
['BatchNormalizationLayer', 'CatenateLayer', 'ConvolutionLayer']
>>> ng.Export("bn.onnx", ng.BatchNormalizationLayer(Input=3))
Traceback (most recent call last):
...
netgraph.errors.NetNotInitializedError: Cannot export BatchNormalizationLayer: arrays not set: \
('Scaling',), ('Biases',), ('MovingMean',), ('MovingVariance',). Call NetInitialize(net) (or \
NetTrain) first.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from . import shapes as S
from ._onnx_ops import CONVERTERS
from .errors import NetSaveError
from .evaluation import check_initialized
from .executor import compile_plan
from .layer import Layer

OPSET = 17
IR_VERSION = 8  # the IR version of opset 17: readable by onnxruntime >= 1.13
BATCH = "N"


def _onnx():
    try:
        import onnx
    except ImportError:
        raise NetSaveError(
            'Export to ONNX needs the onnx package: pip install "netgraph[onnx]".'
        ) from None
    return onnx


class OnnxGraph:
    """Nodes and initializers being collected, with unique tensor names."""

    def __init__(self, onnx, values: dict):
        self.onnx, self.values = onnx, values
        self.nodes: list = []
        self.initializers: dict[str, Any] = {}
        self.array_names: dict = {}
        self.used: set[str] = set()

    def fresh(self, hint: str) -> str:
        name, i = hint, 1
        while name in self.used:
            i += 1
            name = f"{hint}_{i}"
        self.used.add(name)
        return name

    def const(self, value: Any, hint: str, dtype=np.float32) -> str:
        name = self.fresh(hint)
        arr = np.ascontiguousarray(np.asarray(value, dtype=dtype))
        self.initializers[name] = self.onnx.numpy_helper.from_array(arr, name)
        return name

    def array(self, step, name: str) -> str:
        """The initializer of one of the step's arrays, in float32 (shared arrays once)."""
        aid = step.arrays[name]
        if aid not in self.array_names:
            hint = "/".join(map(str, aid)) if isinstance(aid, tuple) else f"shared/{aid.name}"
            self.array_names[aid] = self.const(self.values[aid], hint)
        return self.array_names[aid]

    def op(self, op_type: str, inputs: list, hint: str, **attrs) -> str:
        out = self.fresh(hint)
        node = self.onnx.helper.make_node(op_type, inputs, [out], name=out, **attrs)
        self.nodes.append(node)
        return out


# ------------------------------------------------------------------------ the walk


def _where(step) -> str:
    path = "/".join(map(str, step.path))
    kind = type(step.layer).__name__
    return f'{kind} "{path}"' if path else f"{kind} (the top-level net)"


def _value_info(onnx, name: str, shape: Any, where: str):
    if not S.is_known(shape):
        raise NetSaveError(
            f"ONNX export: {where} has shape {S.fmt(shape)}, which is not fully known; give the "
            "net's Input= shape (or evaluate it on data first)."
        )
    return onnx.helper.make_tensor_value_info(
        name, onnx.TensorProto.FLOAT, [BATCH, *[int(d) for d in shape]]
    )


def _convert(g: OnnxGraph, step, slots: dict) -> None:
    """Add one leaf step's nodes; its output slots get the resulting tensor names."""
    where = _where(step)
    convert = CONVERTERS.get(type(step.layer).__name__)
    if convert is None:
        raise NetSaveError(
            f"ONNX export: {where} has no ONNX conversion; the layer types that convert are "
            + ", ".join(sorted(CONVERTERS))
            + "."
        )
    ins = {p: slots[s] for p, s in step.inputs.items()}
    outs = convert(g, step, ins, where)
    for port, slot in step.outputs.items():
        slots[slot] = outs[port]


def to_onnx(net: Layer):
    """The `onnx.ModelProto` of `net` in Test mode (checked with onnx's full checker)."""
    values = check_initialized(net, "export")
    onnx = _onnx()
    plan = compile_plan(net)
    g = OnnxGraph(onnx, values)
    slots, inputs, outputs = {}, [], []
    for port, slot in plan.inputs.items():
        inputs.append(_value_info(onnx, port, net.port_shape(port), f'input port "{port}"'))
        slots[slot] = g.fresh(port)
    out_names = {
        port: g.fresh(port if port not in g.used else f"{port}_out") for port in plan.outputs
    }
    for step in plan.steps:
        _convert(g, step, slots)
    for port, slot in plan.outputs.items():
        name = out_names[port]
        g.nodes.append(onnx.helper.make_node("Identity", [slots[slot]], [name], name=name))
        outputs.append(_value_info(onnx, name, net.port_shape(port), f'output port "{port}"'))
    graph = onnx.helper.make_graph(
        g.nodes, "netgraph", inputs, outputs, initializer=list(g.initializers.values())
    )
    from . import __version__

    model = onnx.helper.make_model(
        graph,
        opset_imports=[onnx.helper.make_opsetid("", OPSET)],
        producer_name="netgraph",
        producer_version=__version__,
    )
    model.ir_version = IR_VERSION
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as exc:  # our own converters' mistake: say so rather than write a bad file
        raise NetSaveError(f"ONNX export produced an invalid model ({exc}).") from exc
    return model


def export_onnx(path: str | os.PathLike, net: Layer) -> None:
    """Write `to_onnx(net)` to `path` atomically (NetSaveError keeps any previous file)."""
    from ._safefile import _atomic_write, file_path

    model = to_onnx(net)
    _atomic_write(file_path(path, NetSaveError), model.SerializeToString())
