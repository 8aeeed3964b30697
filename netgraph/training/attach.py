"""The training net: the user's net with loss layers attached (LossFunction).

Automatic: each output port gets a loss chosen by the layer that produces it — a SoftmaxLayer
gets CrossEntropyLossLayer("Index") for class targets (one number per output vector, which must
be an integral class index) and "Probabilities" for probability-vector targets, an
ElementwiseLayer("LogisticSigmoid") gets CrossEntropyLossLayer("Binary"), anything else
MeanSquaredLossLayer. An output port with a NetDecoder takes labels as targets: a "Class"
decoder's labels become class indices for CrossEntropyLossLayer("Index"), a "Boolean" decoder's
True/False become 1/0 for CrossEntropyLossLayer("Binary"). A net whose outputs already come
from loss layers trains as it is.
The targets take the name of the output port they belong to: `{"Input": X, "Output": Y}`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from netgraph._decoder_ports import port_decoders
from netgraph.containers import NetGraph
from netgraph.errors import NetDataError, NetOptionError
from netgraph.layer import LAYER_TYPES, Layer
from netgraph.values import Automatic, NetPort

LOSS_TYPES = ("MeanSquaredLossLayer", "CrossEntropyLossLayer")
NET = "net"  # the user's net inside the training graph


def is_loss(layer: Layer) -> bool:
    return type(layer).__name__ in LOSS_TYPES


def producer(net: Layer, port: str) -> Layer:
    """The leaf layer whose output is `port` of `net` (walking into containers)."""
    while isinstance(net, NetGraph):
        key, inner = net._outputs[port]
        if key is None:
            return net
        net, port = net._layers[key], inner
    return net


@dataclass
class TrainingNet:
    graph: NetGraph  # the user's net under key "net", plus loss layers
    input_ports: list  # data ports that feed the user's net
    target_ports: list  # data ports that feed loss targets
    loss_ports: list  # graph outputs whose mean over the batch is the objective


def target_plan(net: Layer, loss: Any) -> tuple[list, list, dict]:
    """(input ports, target ports, {output port: loss layer or None}) before data is seen.

    None means "choose automatically once the targets are known"; a net that already computes
    its loss maps its loss ports to "self".
    """
    outs = [p.name for p in net.output_ports]
    ins = [p.name for p in net.input_ports]
    own = [p for p in outs if is_loss(producer(net, p))]
    if isinstance(loss, str):
        if loss not in outs:
            raise NetOptionError(
                f"LossFunction {loss!r} is not an output port of the net (outputs: {outs})."
            )
        own = [loss]
        loss = Automatic
    if own and loss is Automatic:
        targets = [p for p in ins if _feeds_target(net, p)]
        return [p for p in ins if p not in targets], targets, {p: "self" for p in own}
    if isinstance(loss, Layer):
        if not is_loss(loss):
            raise NetOptionError(f"LossFunction should be a loss layer, got {type(loss).__name__}.")
        if len(outs) != 1:
            raise NetOptionError(
                f"the net has several outputs {outs}; give LossFunction={{port: loss layer}}."
            )
        losses = {outs[0]: loss}
    elif isinstance(loss, dict):
        for port, layer in loss.items():
            if port not in outs or not (isinstance(layer, Layer) and is_loss(layer)):
                raise NetOptionError(
                    f"LossFunction: {port!r} -> {layer!r} must map an output port {outs} to a "
                    "loss layer."
                )
        losses = dict(loss)
    elif loss is Automatic:
        losses = {p: None for p in outs}
    else:
        raise NetOptionError(
            f"LossFunction should be Automatic, a loss layer, an output port name or a dict, "
            f"got {loss!r}."
        )
    return ins, list(losses), losses


def _feeds_target(net: Layer, port: str) -> bool:
    """Does graph input `port` feed a loss layer's Target (so it takes target data)?"""
    if is_loss(net):
        return port == "Target"
    if not isinstance(net, NetGraph):
        return False
    for (key, inner), (src, name) in net._conns.items():
        if src is None and name == port and _feeds_target(net._layers[key], inner):
            return True
    return False


def target_encoders(net: Layer, losses: dict) -> dict:
    """{target port: function(values, what) -> array} for the output ports with a NetDecoder:
    class labels become class indices (one-hot vectors for a loss given that is not
    CrossEntropyLossLayer("Index")), booleans 1.0/0.0 (shaped like the port)."""
    decoders = port_decoders(net)
    out = {}
    for port, loss in losses.items():
        dec = decoders.get(port)
        if dec is None or loss == "self":
            continue
        shape = net.port_shape(port) if dec.kind == "Boolean" else ()
        shape = tuple(shape) if shape is not None and None not in shape else ()
        # a loss that wants one vector per example (CrossEntropyLossLayer("Probabilities"),
        # MeanSquaredLossLayer) gets the labels one-hot
        form = getattr(getattr(loss, "_options", None), "target_form", None)
        one_hot = dec.kind == "Class" and loss is not None and form != "Index"

        def encode(values, what, dec=dec, port=port, shape=shape, one_hot=one_hot):
            index = dec.encode(values, port, what)
            if one_hot:
                return np.eye(len(dec.labels), dtype=np.float32)[index.astype(np.int64)]
            return index.reshape((-1, *shape))

        out[port] = encode
    return out


def automatic_loss(net: Layer, port: str, targets: np.ndarray) -> Layer:
    decoder = port_decoders(net).get(port)
    if decoder is not None:  # targets were labels (class indices now) or booleans
        form = "Index" if decoder.kind == "Class" else "Binary"
        return LAYER_TYPES["CrossEntropyLossLayer"](form)
    kind = type(producer(net, port)).__name__
    layer = producer(net, port)
    if kind == "SoftmaxLayer":
        # The targets' rank decides: one number per probability vector is a class index
        # (checked to be integral later, so 0.5 is reported as "not a class index" rather
        # than as a shape mismatch); a vector like the output is a probability vector.
        out_rank = len(net.port_shape(port) or ())
        if targets.ndim - 1 == out_rank - 1:
            return LAYER_TYPES["CrossEntropyLossLayer"]("Index")
        return LAYER_TYPES["CrossEntropyLossLayer"]("Probabilities")
    if kind == "ElementwiseLayer" and getattr(layer, "function_name", None) in (
        "LogisticSigmoid",
        "Sigmoid",
    ):
        return LAYER_TYPES["CrossEntropyLossLayer"]("Binary")
    return LAYER_TYPES["MeanSquaredLossLayer"]()


def build(net: Layer, losses: dict, targets: dict, input_ports: list) -> TrainingNet:
    """The training graph for `net` with `losses` ({port: layer|None|"self"})."""
    if all(v == "self" for v in losses.values()):
        graph = NetGraph({NET: net}, [])
        return TrainingNet(
            graph, input_ports, [p for p in graph._inputs if p not in input_ports], list(losses)
        )
    layers: dict = {NET: net}
    edges = []
    names = {}
    for port, loss in losses.items():
        if loss is None:
            loss = automatic_loss(net, port, targets[port])
        key = "loss" if len(losses) == 1 else f"loss_{port}"
        layers[key] = loss
        names[port] = key
        edges.append((NetPort(NET, port), NetPort(key, "Input")))
        edges.append((NetPort(port), NetPort(key, "Target")))
    outputs = []
    # the graph's own ports: the net's inputs and the targets, named after its outputs
    taken = {p.name for p in net.input_ports} | {p.name for p in net.output_ports}
    for port, key in names.items():
        out = "Loss" if len(names) == 1 else f"Loss_{port}"
        while out in taken:  # a net whose output is called "Loss"
            out = "Training" + out
        taken.add(out)
        edges.append((NetPort(key, "Loss"), NetPort(out)))
        outputs.append(out)
    graph = NetGraph(layers, edges)
    return TrainingNet(graph, input_ports, list(losses), outputs)


def check_targets(tnet: TrainingNet, data: dict, what: str) -> None:
    """Targets fit their loss: shape, and class indices integral and in range."""
    graph = tnet.graph
    for port in tnet.target_ports:
        arr = data[port]
        shape = graph.port_shape(port)
        example = arr.shape[1:]
        dtype = dict((p.name, p.dtype) for p in graph.input_ports)[port]
        consumer = _consumer(graph, port)
        if (
            shape is not None
            and Ellipsis not in shape
            and (
                len(shape) != len(example)
                or any(d is not None and d != e for d, e in zip(shape, example))
            )
        ):
            raise NetDataError(
                f"{what}: targets of port {port!r} have example shape {example}, but "
                f"{consumer} expects {_fmt(shape)}."
            )
        if dtype == "Integer":
            bad = (
                np.flatnonzero(np.mod(arr.reshape(len(arr), -1), 1).any(axis=1))
                if (arr.dtype.kind == "f")
                else []
            )
            if len(bad):
                raise NetDataError(
                    f"{what}: example {int(bad[0])} of port {port!r} is not a class index: "
                    f"{consumer} takes integer classes 0, 1, ..., got {arr[bad[0]].tolist()!r}."
                )
            classes = _classes(graph, port)
            flat = arr.reshape(len(arr), -1)
            out = np.flatnonzero(((flat < 0) | (flat >= (classes or np.inf))).any(axis=1))
            if len(out):
                raise NetDataError(
                    f"{what}: example {int(out[0])} of port {port!r} has class index "
                    f"{arr[out[0]].tolist()!r} outside 0..{classes - 1}, the classes "
                    f"{consumer} knows."
                )
        _check_probabilities(graph, port, arr, what, consumer)


def _check_probabilities(graph: NetGraph, port: str, arr: np.ndarray, what: str, consumer: str):
    """CrossEntropy "Binary" and "Probabilities" targets are probabilities, in [0, 1] (outside
    it the loss is meaningless and can be negative)."""
    layer = _consumer_layer(graph, port)
    form = getattr(getattr(layer, "_options", None), "target_form", None)
    if type(layer).__name__ != "CrossEntropyLossLayer" or form not in ("Binary", "Probabilities"):
        return
    flat = arr.reshape(len(arr), -1)
    bad = np.flatnonzero(((flat < 0) | (flat > 1)).any(axis=1))
    if len(bad):
        value = flat[bad[0]][(flat[bad[0]] < 0) | (flat[bad[0]] > 1)][0]
        raise NetDataError(
            f"{what}: example {int(bad[0])} of port {port!r} has the target value "
            f"{float(value)!r}, but {consumer} ({form!r}) takes probabilities in [0, 1]."
        )


def _consumer_layer(graph: Layer, port: str) -> Layer | None:
    """The leaf layer that graph input `port` feeds (the first one found, walking into
    containers)."""
    while isinstance(graph, NetGraph):
        for (key, inner), (src, name) in graph._conns.items():
            if src is None and name == port:
                graph, port = graph._layers[key], inner
                break
        else:
            return None
    return graph


def _fmt(shape) -> str:
    from netgraph.shapes import fmt

    return fmt(shape)


def _consumer(graph: NetGraph, port: str) -> str:
    for (key, inner), (src, name) in graph._conns.items():
        if src is None and name == port:
            return f"{type(graph._layers[key]).__name__} {key!r} port {inner!r}"
    return "the net"


def _classes(graph: NetGraph, port: str) -> int | None:
    """The number of classes of the loss layer that class targets at graph input `port` reach
    (the last dimension of that layer's "Input", walking into containers)."""
    layer = _consumer_layer(graph, port)
    shape = layer.port_shape("Input") if layer is not None else None
    if shape and Ellipsis not in shape and shape[-1] is not None:
        return shape[-1]
    return None
