"""Helpers shared by the net-surgery functions: positions and names of a container's layers,
building a chain from kept and new layers, the port shapes a kept part had in its original
context, and carrying a container's own LearningRateMultipliers over to the new net.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import shapes as S
from .containers import NetChain, NetGraph, as_layer
from .errors import NetError, NetGraphError, did_you_mean
from .layer import Layer
from .values import Automatic, NetSharedArray


def check_container(net: Any, fn: str, chain: bool = False) -> None:
    kind = NetChain if chain else NetGraph
    if not isinstance(net, kind):
        got = type(net).__name__
        raise NetGraphError(f"{fn}: expected a {kind.__name__}, got {got} ({net!r:.60}).")


def is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def position(net: NetGraph, spec: Any, fn: str) -> int:
    """The 0-based position of a layer given by position (negatives from the end) or name."""
    keys = list(net._given)
    n = len(keys)
    if is_int(spec):
        if -n <= spec < n:
            return int(spec) % n
        raise NetGraphError(
            f"{fn}: position {spec} is out of range for a {type(net).__name__} of {n} layers "
            f"(valid: {-n} to {n - 1})."
        )
    if isinstance(spec, str):
        if spec in net._given:
            return keys.index(spec)
        raise NetGraphError(
            f"{fn}: the {type(net).__name__} has no layer {spec!r}." + did_you_mean(spec, keys)
        )
    raise NetGraphError(
        f"{fn}: a layer is given by its position (an int) or its name (a str), got {spec!r}."
    )


def is_list_built(net: NetGraph) -> bool:
    return list(net._given) == list(range(len(net._given)))


def new_entries(spec: Any, fn: str) -> list:
    """(name or None, layer) pairs from a layer, a shorthand, a list or a dict {name: layer}."""
    if isinstance(spec, dict):
        for name in spec:
            if not isinstance(name, str):
                raise NetGraphError(f"{fn}: new layer names must be strings, got {name!r}.")
        return [(k, as_layer(v, f"{fn}: layer {k!r}: ")) for k, v in spec.items()]
    if isinstance(spec, (list, tuple)):
        if not spec:
            raise NetGraphError(f"{fn}: the list of layers to add is empty.")
        return [(None, as_layer(v, f"{fn}: entry {i}: ")) for i, v in enumerate(spec)]
    return [(None, as_layer(spec, f"{fn}: "))]


def kept_entries(net: NetGraph, start: int = 0, stop: int | None = None, part: int = 0) -> list:
    """(name, given layer with shared values, origin) for the layers at positions start:stop;
    origin (net, key, part) lets the new net keep what the old one said about them."""
    keys = list(net._given)[start:stop]
    named = not is_list_built(net)
    return [(k if named else None, pinned_child(net, k), (net, k, part)) for k in keys]


def pinned_child(net: NetGraph, key: Any) -> Layer:
    """A child as given (shared values attached), with the port shapes given to `net` for the
    ports of `net` it provides: they describe this layer's data and go where it goes."""
    layer, pins = net._given_child(key), {}
    for (k, port), src in net._conns.items():
        if k == key and src[0] is None and src[1] in net._port_given:
            pins[port] = net._port_given[src[1]]
    for name, (k, port) in net._outputs.items():
        if k == key and name in net._port_given:
            pins[port] = net._port_given[name]
    pins = {p: s for p, s in pins.items() if s is not None}
    return layer._with_port_shapes(pins) if pins else layer


def assemble(entries: list, fn: str, ports: dict | None = None) -> NetChain:
    """A NetChain of `entries` (name or None, layer, origin or None): positional when no entry
    is named, else named (unnamed entries named by their position). Keeps the origins' own
    LearningRateMultipliers for exactly the arrays they applied to."""
    if not entries:
        raise NetGraphError(f"{fn}: the result would have no layers; a net needs at least one.")
    if all(name is None for name, _, _ in entries):
        keys: list = list(range(len(entries)))
    else:
        keys, taken = [], {name for name, _, _ in entries if name is not None}
        for i, (name, _, _) in enumerate(entries):
            if name is None:
                name = str(i)
                while name in taken:
                    name += "'"
                taken.add(name)
            elif name in keys:
                raise NetGraphError(
                    f"{fn}: two layers would be named {name!r}; layer names must be unique "
                    "(rename one with NetRename)."
                )
            keys.append(name)
    sources: dict = {}
    for key, (_, _, origin) in zip(keys, entries):
        if origin is not None:
            net, old_key, part = origin
            sources.setdefault(part, (net, {}))[1][(old_key,)] = key
    lrm = carry_lrm(list(sources.values()))
    layers = {k: layer for k, (_, layer, _) in zip(keys, entries)}
    shapes = {p: s for p, s in (ports or {}).items() if s is not None}
    shapes.update(_kept_decoder(entries[-1][2]))
    try:
        return NetChain(
            layers if not is_int(keys[0]) else list(layers.values()),
            LearningRateMultipliers=lrm,
            **shapes,
        )
    except NetError as exc:
        raise type(exc)(f"{fn}: {exc}") from None


def _kept_decoder(origin: Any) -> dict:
    """{"Output": decoder} when the new chain ends with the layer whose output a decoder of its
    origin net decodes (NetTake, NetDelete, NetRename, ... keep the Class labels)."""
    if origin is None:
        return {}
    net, key, _ = origin
    decoder = getattr(net, "_decoders", {}).get("Output")
    if decoder is None or net._outputs.get("Output", (None,))[0] != key:
        return {}
    return {"Output": decoder}


def carry_lrm(sources: list) -> Any:
    """The new net's own LearningRateMultipliers from its sources' own settings. `sources` is
    [(container, {old path: new key})] in precedence order; each setting (a number or rules)
    becomes one rule per array it matched, so it keeps applying to exactly those arrays."""
    from .training.multipliers import _first_match, _owners, _rules

    settings = [(net, keymap) for net, keymap in sources if net._lrm is not Automatic]
    if not settings:
        return Automatic
    out: dict = {}
    for net, keymap in settings:
        rules = _rules(net._lrm, net)
        owners = _owners(net)[0]
        groups: dict = {}  # new top-level key -> [(new array path, multiplier or None)]
        for aid, where in owners.items():
            kept = [(p, name) for p, name in ((new_path(keymap, p), n) for p, n in where) if p]
            if kept:  # (a path to one use also names a shared array: all its uses)
                found = _first_match(net, rules, aid, where)
                groups.setdefault(kept[0][0][0], []).append((kept[0][0] + (kept[0][1],), found))
        shared = any(isinstance(aid, NetSharedArray) for aid in owners)
        for top, items in groups.items():
            values = {m for _, m in items}
            if not shared and len(values) == 1 and None not in values:
                out.setdefault(top, values.pop())  # one rule for the layer: it survives edits
            else:
                for path, m in items:
                    if m is not None:
                        out.setdefault(path, m)
    return out or Automatic


def new_path(keymap: dict, path: tuple) -> tuple | None:
    """An old layer path in the new net: its longest prefix in `keymap` replaced by the new
    key; None when the layer was not kept."""
    for i in range(len(path), 0, -1):
        if path[:i] in keymap:
            return (keymap[path[:i]],) + tuple(path[i:])
    return None


def old_layer(net: Layer, path: tuple) -> Layer:
    for key in path:
        net = net._layers[key]
    return net


def with_context_shapes(new: NetGraph, old: NetGraph, to_old: dict) -> NetGraph:
    """`new` with each of its ports given the shape the same layer port had inside `old`
    (`to_old`: new key -> old layer path): a part taken out of a net keeps the shapes it had."""
    known: dict = {}
    ends = [((k, p), name) for (k, p), (src, name) in new._conns.items() if src is None]
    ends += [(src, name) for name, src in new._outputs.items() if src[0] is not None]
    for (key, port), name in ends:
        if key not in to_old:
            continue
        shape = old_layer(old, to_old[key]).port_shape(port)
        try:
            known[name] = S.unify(known.get(name), shape)
        except S.ShapeConflict:
            continue
    known = {p: s for p, s in known.items() if s is not None and s != new._shapes.get(p)}
    return new._rebuild(shapes=known) if known else new


def with_ports(net: NetGraph, ports: dict, fn: str) -> NetGraph:
    """`net` with port options given to the edit (Wolfram's `NetTake[net, spec, "port" ->
    spec]`): a shape or a NetDecoder per port, replacing what the port had."""
    from .containers import _graph_decoders
    from .edges import _graph_kwargs

    rest, decoders = _graph_decoders(ports)
    names = net._port_names()
    for port in rest:
        if port not in names:
            raise NetGraphError(
                f"{fn}: the result has no port {port!r} (ports: {', '.join(names)})."
                + did_you_mean(port, names)
            )
    shapes, _ = _graph_kwargs(rest, fn)
    kept = {p: d for p, d in net._decoders.items() if p not in shapes}
    try:
        return net._rebuild(shapes=shapes, decoders={**kept, **decoders})
    except NetError as exc:
        raise type(exc)(f"{fn}: {exc}") from None
