"""Parsing a NetGraph's edges and deciding its ports: vertices, sources, connections, automatic
graph ports, the variadic layers' port counts, and the layers' order (acyclic, deterministic).
"""

from __future__ import annotations

import heapq
import itertools
from typing import TYPE_CHECKING, Any

import numpy as np

from . import shapes as S
from .errors import NetGraphError, NetShapeError, did_you_mean
from .layer import Layer, _check_lrm
from .values import Automatic, NetPort

if TYPE_CHECKING:
    pass


def _graph_kwargs(kwargs: dict, owner: str) -> tuple[dict, Any]:
    shapes, lrm = {}, Automatic
    for key, value in kwargs.items():
        if key in ("LearningRateMultipliers", "learning_rate_multipliers"):
            lrm = _check_lrm(value, owner)
            continue
        name = {"input": "Input", "output": "Output"}.get(key, key)
        try:
            shapes[name] = S.parse(value, f'{owner} port "{name}"')
        except ValueError as exc:
            raise NetShapeError(str(exc) + ".") from None
    return shapes, lrm


def _vertex_key(layers: dict, v: Any, edge: tuple) -> Any:
    keys = list(layers)
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        if v in layers:
            return v
        if -len(keys) <= v < len(keys):
            return keys[v]
    elif isinstance(v, str) and v in layers:
        return v
    raise NetGraphError(
        f"The vertex {v!r}, specified in the edge {edge!r}, does not exist." + did_you_mean(v, keys)
    )


def _sources(layers: dict, u: Any, edge: tuple) -> list:
    """The sources a vertex provides: [(key, output port)] or [(None, graph input port)]."""
    if isinstance(u, list):
        return [s for item in u for s in _sources(layers, item, edge)]
    if isinstance(u, NetPort):
        if u.layer is None:
            return [(None, u.port)]
        key = _vertex_key(layers, u.layer, edge)
        names = [p.name for p in layers[key].output_ports]
        if u.port not in names:
            raise NetGraphError(
                f"{type(layers[key]).__name__} {key!r} has no output port {u.port!r} "
                f"(edge {edge!r})." + did_you_mean(u.port, names)
            )
        return [(key, u.port)]
    key = _vertex_key(layers, u, edge)
    outs = [p.name for p in layers[key].output_ports]
    if len(outs) != 1:
        raise NetGraphError(
            f"layer {key!r} has several outputs {outs}; use NetPort({key!r}, port) in {edge!r}."
        )
    return [(key, outs[0])]


def _connect(layers: dict, sources: list, v: Any, edge: tuple, conns: dict, outputs: dict):
    """Wire sources into vertex v (a layer, an inner port, or a graph output port)."""
    if isinstance(v, list):
        raise NetGraphError(f"a list of vertices can only be a source, in edge {edge!r}.")
    if isinstance(v, NetPort) and v.layer is None:
        if len(sources) != 1:
            raise NetGraphError(f"graph output port {v.port!r} takes one source ({edge!r}).")
        if v.port in outputs:
            raise NetGraphError(
                f"Multiple vertices have been connected to NetPort({v.port!r}): "
                f"{_source_str(outputs[v.port])} and {_source_str(sources[0])} (edge {edge!r})."
            )
        outputs[v.port] = sources[0]
        return
    if isinstance(v, NetPort):
        key, ports = _vertex_key(layers, v.layer, edge), [v.port]
        names = [p.name for p in layers[key].input_ports]
        numbered = layers[key].variadic_inputs and _input_number(v.port) is not None
        if v.port not in names and not numbered:
            hint = " (its ports are Input1, Input2, ...)" if layers[key].variadic_inputs else ""
            raise NetGraphError(
                f"{type(layers[key]).__name__} {key!r} has no input port {v.port!r}{hint} "
                f"(edge {edge!r})." + did_you_mean(v.port, names)
            )
    else:
        key = _vertex_key(layers, v, edge)
        layer = layers[key]
        if layer.variadic_inputs:  # the first free numbers, after any port fed by name
            taken = {p for (k, p) in conns if k == key}
            free = (f"Input{i}" for i in itertools.count(1) if f"Input{i}" not in taken)
            ports = [next(free) for _ in sources]
        else:
            free = [p.name for p in layer.input_ports if (key, p.name) not in conns]
            if not free and len(layer.input_ports) == 1:
                ports = [layer.input_ports[0].name]  # doubly fed: reported below
            elif len(sources) > len(free):
                raise NetGraphError(
                    f"{type(layer).__name__} {key!r} takes {len(free)} more input(s), "
                    f"got {len(sources)} in edge {edge!r}."
                )
            else:
                ports = free[: len(sources)]
    if len(ports) != len(sources):
        raise NetGraphError(f"edge {edge!r}: {len(sources)} sources for one port.")
    for port, src in zip(ports, sources):
        if (key, port) in conns:
            raise NetGraphError(
                f"Multiple vertices have been connected to port {port!r} of layer {key!r}: "
                f"{_source_str(conns[(key, port)])} and {_source_str(src)} (edge {edge!r}). "
                "Join them with a CatenateLayer or TotalLayer."
            )
        conns[(key, port)] = src


def _check_connected_ports(owner: str, layers: dict, conns: dict, outputs: dict) -> None:
    """Every connection names ports its layers have (a layer replaced by NetReplacePart may
    have other ports than the one it replaces)."""
    for (key, port), src in conns.items():
        names = [p.name for p in layers[key].input_ports]
        if port not in names:
            raise NetGraphError(
                f"{owner}: {type(layers[key]).__name__} {key!r} has no input port {port!r}, "
                f"which {_source_str(src)} is connected to." + did_you_mean(port, names)
            )
    ends = [(f"port {port!r} of layer {key!r}", src) for (key, port), src in conns.items()]
    ends += [(f"NetPort({name!r})", src) for name, src in outputs.items()]
    for target, (key, port) in ends:
        if key is None:
            continue
        names = [p.name for p in layers[key].output_ports]
        if port not in names:
            raise NetGraphError(
                f"{owner}: {type(layers[key]).__name__} {key!r} has no output port {port!r}, "
                f"which is connected to {target}." + did_you_mean(port, names)
            )


def _without_automatic_ports(conns: dict, outputs: dict, key: Any, layer: Layer) -> tuple:
    """The connections of a graph whose layer `key` becomes `layer`, less those that were only
    made automatically for ports the new layer lacks: an input fed by the graph input of its
    own name, an output exposed under its own name (numbered or not). They are made afresh for
    the new layer's ports; any other connection to a missing port is reported by the build."""
    ins = {p.name for p in layer.input_ports}
    outs = {p.name for p in layer.output_ports}
    conns = {
        (k, p): src
        for (k, p), src in conns.items()
        if not (k == key and p not in ins and src == (None, p))
    }
    outputs = {
        name: src
        for name, src in outputs.items()
        if not (src[0] == key and src[1] not in outs and _named_after(name, src[1]))
    }
    return conns, outputs


def _named_after(name: str, port: str) -> bool:
    """Is `name` the automatic graph-port name of `port` ("Output", "Output2")?"""
    return name.startswith(port) and (name == port or name[len(port) :].isdigit())


def _source_str(src: tuple) -> str:
    return f"NetPort({src[1]!r})" if src[0] is None else repr(src[0])


def _input_number(port: str) -> int | None:
    """k for a variadic layer's port "Inputk" (k >= 1), else None."""
    digits = port[len("Input") :] if port.startswith("Input") else ""
    return int(digits) if digits.isdigit() and not digits.startswith("0") else None


def _variadic(layer: Layer, key: Any, conns: dict) -> Layer:
    """A variadic layer with as many ports as its highest fed port number (ports below it
    that nothing feeds become graph inputs); a count given explicitly (InputPorts=) is a
    minimum."""
    if not layer.variadic_inputs:
        return layer
    n = max((_input_number(p) or 0 for (k, p) in conns if k == key), default=0)
    if "input_ports" in layer._options.model_fields_set:
        n = max(n, len(layer.input_ports))
    return layer._with_input_count(n) if n and n != len(layer.input_ports) else layer


def _auto_ports(layers: dict, conns: dict, outputs: dict) -> dict:
    """Unconnected inputs become graph inputs (same name, one port); dangling outputs outputs."""
    inputs: dict = {}
    for (key, port), (src, name) in conns.items():
        if src is None:
            inputs.setdefault(name, _port_dtype(layers[key], port))
    for key, layer in layers.items():
        for p in layer.input_ports:
            if (key, p.name) not in conns:
                conns[(key, p.name)] = (None, p.name)
                inputs.setdefault(p.name, p.dtype)
    used = set(conns.values()) | set(outputs.values())
    dangling = [
        (k, p.name)
        for k, layer in layers.items()
        for p in layer.output_ports
        if (k, p.name) not in used
    ]
    names = [p for _, p in dangling]
    for key, port in dangling:
        name = port
        if names.count(port) > 1 or port in outputs:
            i = 1
            while f"{port}{i}" in outputs:
                i += 1
            name = f"{port}{i}"
        outputs[name] = (key, port)
    return inputs


def _port_dtype(layer: Layer, port: str) -> str:
    return next((p.dtype for p in layer.input_ports if p.name == port), "Real")


def _topological_order(layers: dict, conns: dict, owner: str) -> list:
    """Layer keys so that every layer comes after its sources; among the layers that are
    ready, the one given first goes first (Kahn's algorithm), so the order is deterministic."""
    position = {k: i for i, k in enumerate(layers)}
    sources: dict = {k: set() for k in layers}
    for (key, _), (src, _) in conns.items():
        if src is not None:
            sources[key].add(src)
    readers: dict = {k: [] for k in layers}
    for key, srcs in sources.items():
        for src in srcs:
            readers[src].append(key)
    waiting = {k: len(srcs) for k, srcs in sources.items()}
    ready = [position[k] for k, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    keys, order = list(layers), []
    while ready:
        key = keys[heapq.heappop(ready)]
        order.append(key)
        for reader in readers[key]:
            waiting[reader] -= 1
            if waiting[reader] == 0:
                heapq.heappush(ready, position[reader])
    if len(order) < len(layers):
        raise NetGraphError(
            f"{owner}: the connectivity of layers must be acyclic; found the cycle "
            f"{_cycle(sources, [k for k in layers if k not in order])}."
        )
    return order


def _cycle(sources: dict, stuck: list) -> str:
    """One cycle among the layers a topological order could not place, as 'a' -> 'b' -> 'a'."""
    import networkx as nx  # only on this error path: networkx is slow to import

    g = nx.DiGraph((src, key) for key in stuck for src in sources[key] if src in stuck)
    nodes = [a for a, _ in nx.find_cycle(g)]
    first = min(range(len(nodes)), key=lambda i: stuck.index(nodes[i]))  # from the first given
    nodes = nodes[first:] + nodes[:first]
    return " -> ".join(map(repr, nodes + nodes[:1]))
