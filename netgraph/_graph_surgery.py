"""Net surgery on graphs: NetFlatten, NetRename, and NetTake/NetDelete on a NetGraph.

A graph is rebuilt from its parts (layers as given, connections, outputs) with `_build`, so
shapes are inferred afresh; trained and shared arrays travel with the layers, and the graph's
own LearningRateMultipliers are carried over per array (see `_surgery_common.carry_lrm`).
"""

from __future__ import annotations

from typing import Any

from ._decoder_ports import port_decoders
from ._surgery_common import (
    assemble,
    carry_lrm,
    check_container,
    is_int,
    is_list_built,
    pinned_child,
    position,
    with_context_shapes,
)
from .containers import NetChain, NetGraph
from .errors import NetError, NetGraphError, did_you_mean, refuses_deep_nesting
from .values import All, Automatic, NetPort


def _build(kind: type, fn: str, given, conns, outputs, shapes, lrm, decoders=None) -> NetGraph:
    try:
        return kind._build(given, conns, outputs, shapes, lrm, None, decoders=decoders)
    except NetError as exc:
        raise type(exc)(f"{fn}: {exc}") from None


def equivalent_graph(
    net: NetGraph, shapes: dict, lrm: Any, decoders: dict | None = None
) -> NetGraph:
    """`NetGraph(chain)`: the chain's layers as the vertices of a graph wired as the chain is
    (nested containers stay nested; NetFlatten splices them); the net's port decoders are kept
    unless `decoders` replaces them."""
    given = {k: net._given_child(k) for k in net._given}
    return NetGraph._build(
        given,
        dict(net._conns),
        dict(net._outputs),
        {**net._port_given, **shapes},
        net._lrm if lrm is Automatic else lrm,
        dict(net._shared),
        decoders={**net._decoders, **(decoders or {})},
    )


# ------------------------------------------------------------------------- NetTake on graphs


def _end_sources(g: NetGraph, spec: Any, fn: str) -> list:
    """(key, output port) pairs a NetTake end spec names, with the graph port names to use."""
    if isinstance(spec, list):
        return [s for item in spec for s in _end_sources(g, item, fn)]
    if spec is All:
        return [(src, name) for name, src in g._outputs.items() if src[0] is not None]
    if isinstance(spec, NetPort) and spec.layer is None:
        if spec.port not in g._outputs:
            raise NetGraphError(
                f"{fn}: the NetGraph has no output port {spec.port!r}."
                + did_you_mean(spec.port, g._outputs)
            )
        src = g._outputs[spec.port]
        if src[0] is None:
            raise NetGraphError(f"{fn}: output port {spec.port!r} is fed by no layer.")
        return [(src, spec.port)]
    if isinstance(spec, NetPort):
        key = list(g._given)[position(g, spec.layer, fn)]
        names = [p.name for p in g._given[key].output_ports]
        if spec.port not in names:
            raise NetGraphError(
                f"{fn}: layer {key!r} has no output port {spec.port!r}."
                + did_you_mean(spec.port, names)
            )
        return [((key, spec.port), spec.port)]
    key = list(g._given)[position(g, spec, fn)]
    return [((key, p.name), p.name) for p in g._given[key].output_ports]


def _start_keys(g: NetGraph, spec: Any, fn: str) -> set | None:
    """The layers a NetTake start spec names (None: no restriction)."""
    if spec is All:
        return None
    if isinstance(spec, list):
        parts = [_start_keys(g, item, fn) for item in spec]
        return None if any(p is None for p in parts) else set().union(*parts)
    if isinstance(spec, NetPort) and spec.layer is None:
        if spec.port not in g._inputs:
            raise NetGraphError(
                f"{fn}: the NetGraph has no input port {spec.port!r}."
                + did_you_mean(spec.port, g._inputs)
            )
        return {k for (k, _), src in g._conns.items() if src == (None, spec.port)}
    if isinstance(spec, NetPort):
        spec = spec.layer
    return {list(g._given)[position(g, spec, fn)]}


def _closure(g: NetGraph, keys: set, upstream: bool) -> set:
    links = [(src[0], k) for (k, _), src in g._conns.items() if src[0] is not None]
    seen, todo = set(keys), list(keys)
    while todo:
        key = todo.pop()
        for a, b in links:
            nxt = a if upstream and b == key else b if not upstream and a == key else None
            if nxt is not None and nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _numbered(names: list) -> list:
    """Port names made unique Wolfram style: repeated ones become name1, name2, ..."""
    return [
        f"{n}{names[:i].count(n) + 1}" if names.count(n) > 1 else n for i, n in enumerate(names)
    ]


def _rewired(g: NetGraph, keep: set) -> tuple[dict, set]:
    """The connections into the kept layers, and the names of the new graph inputs: an edge
    from a layer that is not kept becomes one, named after the port it feeds (numbered when
    that name is taken)."""
    conns, inputs = {}, {}
    taken = {src[1] for (k, _), src in g._conns.items() if k in keep and src[0] is None}
    for (key, port), src in g._conns.items():
        if key not in keep:
            continue
        if src[0] is not None and src[0] not in keep:  # a cut edge
            if src not in inputs:
                name, i = port, 1
                while name in taken:
                    name, i = f"{port}{i}", i + 1
                inputs[src] = name
                taken.add(name)
            src = (None, inputs[src])
        conns[(key, port)] = src
    return conns, set(inputs.values())


def take_graph(g: NetGraph, spec: Any, fn: str) -> NetGraph:
    """The subgraph of `g` between a start and an end spec (see NetTake)."""
    start, end = spec if isinstance(spec, tuple) and len(spec) == 2 else (All, spec)
    ends = _end_sources(g, end, fn)
    keep = _closure(g, {src[0] for src, _ in ends}, upstream=True)
    starts = _start_keys(g, start, fn)
    if starts is not None:
        keep &= _closure(g, starts, upstream=False)
        missing = [src[0] for src, _ in ends if src[0] not in keep]
        if missing:
            raise NetGraphError(
                f"{fn}: layer {missing[0]!r} does not depend on the start {start!r}; nothing "
                "connects them."
            )
    conns, _ = _rewired(g, keep)
    outputs = dict(zip(_numbered([name for _, name in ends]), (src for src, _ in ends)))
    given = {k: g._given_child(k) for k in g._given if k in keep}
    lrm = carry_lrm([(g, {(k,): k for k in given})])
    new = _build(NetGraph, fn, given, conns, outputs, {}, lrm, _taken_decoders(g, outputs))
    return with_context_shapes(new, g, {k: (k,) for k in given})


def _taken_decoders(g: NetGraph, outputs: dict) -> dict:
    """The graph's own decoders for the new outputs (name -> source) that give what one of its
    outputs gave: the same-named output first, else the first with that source."""
    found = {}
    for name, src in outputs.items():
        same = [name] if g._outputs.get(name) == src else []
        same += [o for o, s in g._outputs.items() if s == src and o in g._decoders]
        if same and same[0] in g._decoders:
            found[name] = g._decoders[same[0]]
    return found


def delete_from_graph(g: NetGraph, gone: list, fn: str) -> NetGraph:
    given = {k: g._given_child(k) for k in g._given if k not in gone}
    if not given:
        raise NetGraphError(f"{fn}: the result would have no layers; a net needs at least one.")
    conns, cut = _rewired(g, set(given))
    outputs = {name: src for name, src in g._outputs.items() if src[0] not in gone}
    used = {src[1] for src in conns.values() if src[0] is None} - cut | set(outputs)
    shapes = {p: s for p, s in g._port_given.items() if p in used}
    lrm = carry_lrm([(g, {(k,): k for k in given})])
    decoders = {n: d for n, d in g._decoders.items() if n in outputs}
    new = _build(type(g), fn, given, conns, outputs, shapes, lrm, decoders)
    # every kept layer is fed as before or by a cut (a new graph input): all shapes stay valid
    return with_context_shapes(new, g, {k: (k,) for k in given})


# ------------------------------------------------------------------------------ NetFlatten


@refuses_deep_nesting("NetFlatten")
def NetFlatten(net: NetGraph, depth: int | None = None) -> NetGraph:  # noqa: N802
    """The net with nested NetChains and NetGraphs spliced into it, `depth` levels deep (all by
    default). A chain of chains stays a NetChain; anything with a nested graph becomes a
    NetGraph. Inner layers are named "outer/inner" (a positional chain of positional chains
    stays positional: layers renumbered 0, 1, ...). The flat net computes the same function with
    the same arrays.

    >>> import netgraph as ng
    >>> inner = ng.NetChain({"lin": ng.LinearLayer(4), "act": "Ramp"})
    >>> flat = ng.NetFlatten(ng.NetChain({"block": inner, "out": ng.LinearLayer(2)}, Input=3))
    >>> list(ng.NetExtract(flat, ng.All))
    ['block/lin', 'block/act', 'out']
    """
    fn = "NetFlatten"
    check_container(net, fn)
    if depth is None:
        depth = 1 << 30
    if not is_int(depth) or depth < 0:
        raise NetGraphError(f"{fn}: depth should be a non-negative int or None, got {depth!r}.")
    part = _splice(net, depth)
    if not part["spliced"]:
        return net
    positional = part["positional"] and isinstance(net, NetChain) and part["chains"]
    names = {}
    for i, path in enumerate(part["layers"]):
        names[path] = i if positional else "/".join(map(str, path))
    clash = [n for n in names.values() if list(names.values()).count(n) > 1]
    if clash:
        raise NetGraphError(
            f"{fn}: two layers would be named {clash[0]!r}; rename one first (NetRename)."
        )
    sources = sorted(part["spliced"], key=len, reverse=True) + [()]
    lrm = carry_lrm([(_inner(net, p), _rel_keymap(names, p)) for p in sources])
    shapes = {p: s for p, s in net._shapes.items() if s is not None and p in net._port_names()}
    given = {names[path]: layer for path, layer in part["layers"].items()}
    outputs = {n: _named(src, names) for n, src in part["outputs"].items()}
    decoders = _flat_decoders(net, given, outputs)
    if isinstance(net, NetChain) and part["chains"]:
        return assemble(
            [(None if positional else k, v, None) for k, v in given.items()], fn, shapes
        )._rebuild(lrm=lrm, decoders=decoders)
    conns = {(names[k], p): _named(src, names) for (k, p), src in part["conns"].items()}
    return _build(NetGraph, fn, given, conns, outputs, shapes, lrm, decoders)


def _flat_decoders(net: NetGraph, given: dict, outputs: dict) -> dict:
    """The decoders of `net`'s outputs (its own or a spliced container's) that the leaf layers
    feeding the flat net's outputs do not carry themselves."""
    found = {}
    for name, dec in port_decoders(net).items():
        src = outputs.get(name)
        leaf = port_decoders(given[src[0]]).get(src[1]) if src and src[0] is not None else None
        if leaf != dec:
            found[name] = dec
    return found


def _named(src: tuple, names: dict) -> tuple:
    return src if src[0] is None else (names[src[0]], src[1])


def _inner(net: NetGraph, path: tuple) -> NetGraph:
    for key in path:
        net = net._given_child(key)
    return net


def _rel_keymap(names: dict, prefix: tuple) -> dict:
    n = len(prefix)
    return {path[n:]: new for path, new in names.items() if path[:n] == prefix}


def _splice(g: NetGraph, depth: int) -> dict:
    """The leaves of `g` down to `depth` levels: {"layers": {path: layer}, "conns": {(path,
    port): source}, "outputs": {name: source}} where a source is (path, port) or (None, graph
    input of g); plus the paths of the spliced containers and whether all were (positional)
    chains."""
    layers, subs, spliced = {}, {}, []
    chains, positional = True, is_list_built(g)
    for key in g._given:
        child = pinned_child(g, key)
        if depth > 0 and isinstance(child, NetGraph):
            sub = subs[key] = _splice(child, depth - 1)
            spliced += [(key,)] + [(key,) + p for p in sub["spliced"]]
            chains &= isinstance(child, NetChain) and sub["chains"]
            positional &= sub["positional"]
            layers.update({(key,) + p: v for p, v in sub["layers"].items()})
        else:
            layers[(key,)] = child

    def outer(src: tuple) -> tuple:  # a source in g's terms -> a source among the leaves
        if src[0] is None:
            return src
        if src[0] not in subs:
            return ((src[0],), src[1])
        return inner(src[0], subs[src[0]]["outputs"][src[1]])

    def inner(key: Any, src: tuple) -> tuple:  # a source inside child `key` -> among leaves
        if src[0] is None:
            return outer(g._conns[(key, src[1])])
        return ((key,) + src[0], src[1])

    conns = {}
    for (key, port), src in g._conns.items():
        if key not in subs:
            conns[((key,), port)] = outer(src)
    for key, sub in subs.items():
        for (path, port), src in sub["conns"].items():
            conns[((key,) + path, port)] = inner(key, src)
    outputs = {name: outer(src) for name, src in g._outputs.items()}
    return {
        "layers": layers,
        "conns": conns,
        "outputs": outputs,
        "spliced": spliced,
        "chains": chains,
        "positional": positional,
    }


# ------------------------------------------------------------------------------- NetRename


@refuses_deep_nesting("NetRename")
def NetRename(net: NetGraph, rules: Any, new: Any = None) -> NetGraph:  # noqa: N802
    """The net with layers (or, in a NetGraph, ports) renamed: `NetRename(net, old, new)`,
    `NetRename(net, {old: new, ...})` or `NetRename(net, f)` with f mapping each layer key to
    its new name. A layer is named by its key or position; ports as `ng.NetPort("old")`. Only
    the outermost level is renamed (as in Wolfram).

    >>> import netgraph as ng
    >>> chain = ng.NetChain([ng.LinearLayer(4), "Ramp"], Input=3)
    >>> list(ng.NetExtract(ng.NetRename(chain, {0: "lin", 1: "act"}), ng.All))
    ['lin', 'act']
    """
    fn = "NetRename"
    check_container(net, fn)
    if new is not None:
        try:
            rules = {rules: new}
        except TypeError:
            raise NetGraphError(
                f"{fn}: the layer or port to rename must be a name, position or NetPort, "
                f"got {rules!r:.60}."
            ) from None
    keys = list(net._given)
    if callable(rules) and not isinstance(rules, dict):
        try:
            rules = {k: rules(k) for k in keys}
        except Exception as exc:  # the user's naming function: report what it did
            raise NetGraphError(
                f"{fn}: the renaming function {getattr(rules, '__name__', rules)!r} failed "
                f"({type(exc).__name__}: {exc}); it should map each layer key to a new name."
            ) from None
    if not isinstance(rules, dict):
        raise NetGraphError(
            f"{fn}: expected NetRename(net, old, new), a dict {{old: new}} or a function, got "
            f"{rules!r:.60}."
        )
    layer_map, port_map = {}, {}
    for old, to in rules.items():
        if isinstance(old, NetPort):
            _port_rename(net, old, to, port_map, fn)
            continue
        if not isinstance(to, str) or not to:
            raise NetGraphError(f"{fn}: a new layer name must be a non-empty str, got {to!r}.")
        layer_map[keys[position(net, old, fn)]] = to
    ports = [port_map.get(p, p) for p in net._port_names()]
    clash = [p for p in ports if ports.count(p) > 1]
    if clash:
        raise NetGraphError(f"{fn}: two ports would be named {clash[0]!r}; names must be unique.")
    named = bool(layer_map) or not is_list_built(net)
    names = [layer_map.get(k, str(k) if named else k) for k in keys]
    twice = [n for n in names if names.count(n) > 1]
    if twice:
        raise NetGraphError(f"{fn}: two layers would be named {twice[0]!r}; names must be unique.")
    return _renamed(net, dict(zip(keys, names)), port_map, fn)


def _port_rename(net: NetGraph, old: NetPort, to: Any, port_map: dict, fn: str) -> None:
    to = to.port if isinstance(to, NetPort) and to.layer is None else to
    if old.layer is not None or not isinstance(to, str):
        raise NetGraphError(
            f'{fn}: rename a port as NetPort("old") -> NetPort("new"), got {old!r} -> {to!r}.'
        )
    if isinstance(net, NetChain):
        raise NetGraphError(
            f"{fn}: a NetChain's ports are named by its layers; rename ports of the "
            "equivalent graph, NetRename(ng.NetGraph(chain), ...)."
        )
    ports = net._port_names()
    if old.port not in ports:
        raise NetGraphError(
            f"{fn}: the net has no port {old.port!r}." + did_you_mean(old.port, ports)
        )
    port_map[old.port] = to


def _renamed(net: NetGraph, names: dict, port_map: dict, fn: str) -> NetGraph:
    shapes = {port_map.get(p, p): s for p, s in net._port_given.items()}
    if isinstance(net, NetChain):
        entries = [(names[k], net._given_child(k), (net, k, 0)) for k in net._given]
        if all(is_int(n) for n in names.values()):
            entries = [(None, lay, o) for _, lay, o in entries]
        return assemble(entries, fn, shapes)

    def src_of(src: tuple) -> tuple:
        return (None, port_map.get(src[1], src[1])) if src[0] is None else (names[src[0]], src[1])

    given = {names[k]: net._given_child(k) for k in net._given}
    conns = {(names[k], p): src_of(src) for (k, p), src in net._conns.items()}
    outputs = {port_map.get(n, n): src_of(src) for n, src in net._outputs.items()}
    lrm = carry_lrm([(net, {(k,): names[k] for k in net._given})])
    decoders = {port_map.get(n, n): d for n, d in net._decoders.items()}
    return _build(type(net), fn, given, conns, outputs, shapes, lrm, decoders)
