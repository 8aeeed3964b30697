"""`net(x, NetPort(...))`: the values of inner ports, read in the same forward pass.

A request names output ports of layers anywhere in the net (`NetPort("conv1", "Output")`,
`NetPort(("block", "bn"), "Output")`), an output port of the net itself (`NetPort("Output")`),
a layer whose only output is meant (`NetPort("conv1")`), or every layer's outputs
(`NetPort(All)`). Input ports are refused: their value is the output that feeds them.
The executor keeps the requested slots alive instead of dropping them after their last reader.

>>> import numpy as np, netgraph as ng
>>> net = ng.NetChain({"lin": ng.LinearLayer(2, Weights=[[1, 0], [0, -1]], Biases=[0, 0]),
...                    "relu": ng.ElementwiseLayer("Ramp")}, Input=2)
>>> net(np.array([3.0, 4.0]), ng.NetPort("lin", "Output"))
array([ 3., -4.], dtype=float32)
>>> list(net(np.array([3.0, 4.0]), ng.NetPort(ng.All)))
[NetPort('lin', 'Output'), NetPort('relu', 'Output')]
"""

from __future__ import annotations

from typing import Any

from .errors import NetGraphError, did_you_mean
from .values import All, NetPort


def parse_port_request(net: Any, props: tuple, plan) -> tuple | None:
    """(form, {key: slot}) for NetPort properties, or None when the properties are not ports.

    form: "one" (return the value), "list" or "all" (return a dict keyed by NetPort).
    """
    if len(props) != 1:
        if any(_is_port_request(p) for p in props):
            raise NetGraphError(
                "give the ports as one list: net(x, [NetPort(...), NetPort(...)]), not as "
                "separate arguments."
            )
        return None
    prop = props[0]
    if not _is_port_request(prop):
        return None
    if isinstance(prop, NetPort):
        if prop.layer is All:
            return "all", _all_ports(net, plan)
        return "one", {prop: port_slot(net, prop, plan)}
    taps: dict = {}
    for p in prop:
        if not isinstance(p, NetPort):
            raise NetGraphError(
                f"a list of ports must hold NetPorts only, got {p!r:.60} among them."
            )
        if p.layer is All:
            taps.update(_all_ports(net, plan))
        else:
            taps[p] = port_slot(net, p, plan)
    return "list", taps


def _is_port_request(prop: Any) -> bool:
    if isinstance(prop, NetPort):
        return True
    return isinstance(prop, list) and bool(prop) and any(isinstance(p, NetPort) for p in prop)


def _all_ports(net: Any, plan) -> dict:
    """Every leaf layer's output ports, in plan order, keyed by NetPort(path, port)."""
    taps = {}
    for path, leaf in net._leaves():
        for p in leaf.output_ports:
            if not path:  # the net is a single layer: its outputs are the net's outputs
                taps[NetPort(p.name)] = plan.outputs[p.name]
            else:
                taps[NetPort(path, p.name)] = plan.port_slots[(path, p.name)]
    return taps


def port_slot(net: Any, port: NetPort, plan) -> int:
    """The plan slot holding the value of `port`; NetGraphError naming what is wrong. `plan`
    needs `port_slots` ((layer path, port) -> slot) and `outputs` (net port -> slot)."""
    if port.layer is None:
        return _own_port(net, port, plan)
    layer, path, parent = net, (), None
    for head in port.path:
        key = layer._child_key(head)  # raises for a position out of range
        if key is None:
            where = f"{type(layer).__name__} {'/'.join(map(str, path))!r}" if path else "the net"
            hint = name_hint(layer, head) or did_you_mean(head, list(layer._child_keys()))
            raise NetGraphError(f"{port!r}: {where} has no layer {head!r}.{hint}")
        parent, layer, path = layer, layer._layers[key], path + (key,)
    outputs = [p.name for p in layer.output_ports]
    if port.port in outputs:
        return plan.port_slots[(path, port.port)]
    inputs = [p.name for p in layer.input_ports]
    name = f"{type(layer).__name__} {'/'.join(map(str, path))!r}"
    if port.port in inputs:
        src = parent._conns.get((path[-1], port.port))
        raise NetGraphError(
            f"{port!r} is an input port of {name}: only output ports can be read. "
            f"Its value is {_source_text(src, path[:-1])}."
        )
    raise NetGraphError(
        f"{port!r}: {name} has no port {port.port!r}." + did_you_mean(port.port, outputs + inputs)
    )


def _own_port(net: Any, port: NetPort, plan) -> int:
    """NetPort("Output") of the net, or NetPort("layer") for a layer's only output."""
    if port.port in plan.outputs:
        return plan.outputs[port.port]
    inputs = [p.name for p in net.input_ports]
    if port.port in inputs:
        raise NetGraphError(
            f"{port!r} is an input port of the net: only output ports (and layers' outputs) "
            "can be read; the input is the data you gave."
        )
    key = net._child_key(port.port)
    if key is not None:
        layer = net._layers[key]
        outs = [p.name for p in layer.output_ports]
        if len(outs) == 1:
            return plan.port_slots[((key,), outs[0])]
        raise NetGraphError(
            f"{port!r}: layer {key!r} has several outputs {outs}; name one, e.g. "
            f"NetPort({key!r}, {outs[0]!r})."
        )
    names = list(plan.outputs) + [str(k) for k in net._child_keys()]
    raise NetGraphError(
        f"{port!r}: the net has no output port or layer {port.port!r}."
        + did_you_mean(port.port, names)
    )


def name_hint(net: Any, name: Any) -> str:
    """A hint for a layer name that is not a key of `net` but means one: "block/lin" (the name
    NetFlatten gives) for the nested layer ("block", "lin"), or "1" for position 1."""
    if not isinstance(name, str):
        return ""
    path, layer = [], net
    for part in name.split("/"):
        key = layer._child_key(part)
        if key is None and part.lstrip("-").isdigit():
            try:
                key = layer._child_key(int(part))
            except NetGraphError:
                return ""
        if key is None:
            return ""
        path.append(key)
        layer = layer._layers[key]
    if len(path) == 1:  # a digit string: a hint only where the keys are the positions
        digits = name.lstrip("-").isdigit()
        return (
            f" Positions are ints: {path[0]!r}, not {name!r}."
            if digits and path[0] == int(name)
            else ""
        )
    return (
        f" A nested layer is named by its path, {tuple(path)!r}; {name!r} is the name "
        "NetFlatten gives it in the flattened net."
    )


def _source_text(src: Any, prefix: tuple) -> str:
    if src is None:
        return "not known"
    key, port = src
    if key is None:
        if not prefix:
            return f"the net's input NetPort({port!r}), the data you gave"
        return f"the input {port!r} of the container {'/'.join(map(str, prefix))!r}"
    return f"the output of {NetPort((*prefix, key), port)!r}: ask for that instead"
