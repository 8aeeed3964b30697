"""Net surgery on chains: NetTake, NetDrop, NetAppend, NetPrepend, NetJoin, NetInsert, NetDelete.

Positions are 0-based like Python (negatives count from the end) and a layer may also be named
by its key. Every function returns a new net and never changes its arguments. Trained arrays and
shared arrays (NetSharedArray) are kept, shapes are inferred afresh, and a container's own
LearningRateMultipliers keep applying to exactly the arrays they applied to.

Ports: the port shapes given to a chain stay with the layers whose ports they describe (after
NetAppend a chain built with `Output=4` still passes 4 values on; NetPrepend before a chain built
with `Input=4` must produce 4), and a part taken out of a chain (NetTake, NetDrop, NetDelete of
layers at an end) keeps the shapes its ports had inside the original chain.

NetFlatten, NetRename and NetTake on a NetGraph live in `netgraph._graph_surgery`.
"""

from __future__ import annotations

from typing import Any

from ._surgery_common import (
    assemble,
    check_container,
    is_int,
    kept_entries,
    new_entries,
    position,
    with_context_shapes,
    with_ports,
)
from .containers import NetChain, NetGraph
from .errors import NetGraphError, refuses_deep_nesting


def _chain_range(chain: NetChain, spec: Any, fn: str) -> tuple[int, int]:
    """The half-open positions [start, stop) a NetTake spec selects."""
    n = len(chain._given)
    if is_int(spec):
        if not -n <= spec <= n:
            raise NetGraphError(
                f"{fn}: cannot take {abs(int(spec))} layers of a NetChain of {n} layers."
            )
        return (0, int(spec)) if spec >= 0 else (n + int(spec), n)
    if isinstance(spec, str):
        return 0, position(chain, spec, fn) + 1
    if isinstance(spec, slice):
        if spec.step not in (None, 1):
            raise NetGraphError(f"{fn}: a slice of layers takes no step, got {spec!r}.")
        for b in (spec.start, spec.stop):
            if b is not None and not is_int(b):
                raise NetGraphError(f"{fn}: slice bounds are positions (ints), got {spec!r}.")
        start, stop, _ = spec.indices(n)
        return start, max(start, stop)
    if isinstance(spec, (tuple, list)) and len(spec) == 2:
        first, last = (position(chain, s, fn) for s in spec)
        if first > last:
            raise NetGraphError(
                f"{fn}: layer {spec[0]!r} (position {first}) comes after layer {spec[1]!r} "
                f"(position {last}); give (first, last) in chain order."
            )
        return first, last + 1
    raise NetGraphError(
        f"{fn}: expected a number of layers (int), a layer name, a slice of positions or a "
        f"(first, last) pair of layers, got {spec!r}."
    )


def _take(chain: NetChain, start: int, stop: int, fn: str) -> NetChain:
    new = assemble(kept_entries(chain, start, stop), fn)
    old_keys = list(chain._given)[start:stop]
    return with_context_shapes(new, chain, {k: (o,) for k, o in zip(new._given, old_keys)})


@refuses_deep_nesting("NetTake")
def NetTake(net: NetGraph, spec: Any, **ports: Any) -> NetGraph:  # noqa: N802 (Wolfram's name)
    """The part of a net up to a layer, or between two layers.

    On a NetChain: `n` (the first n layers; `-n` the last n), a layer name (the layers up to
    and including it), a `slice` of positions (`chain[1:3]` is `NetTake(chain, slice(1, 3))`),
    or `(first, last)`, two layers by position or name, both included (Wolfram's
    `NetTake[net, {start, end}]`). On a NetGraph: `end` or `(start, end)` where each is a layer,
    `NetPort(layer, port)`, a graph port `NetPort("name")`, `ng.All` or a list of them; the
    result is the subgraph of the layers that lie downstream of `start` and upstream of `end`.
    Port options (`Output=ng.NetDecoder(...)`, `Input=3`) set the result's ports, replacing
    what they had (Wolfram's `NetTake[net, spec, "port" -> spec]`).

    >>> import numpy as np, netgraph as ng
    >>> chain = ng.NetChain({"a": ng.LinearLayer(4), "b": "Ramp", "c": ng.LinearLayer(2)},
    ...                     Input=3)
    >>> names = lambda net: list(ng.NetExtract(net, ng.All))  # the layer keys
    >>> [names(ng.NetTake(chain, s)) for s in (2, -1, "b", ("b", "c"), slice(0, 1))]
    [['a', 'b'], ['c'], ['a', 'b'], ['b', 'c'], ['a']]
    >>> ng.Information(ng.NetTake(chain, ("b", "c")), "InputPorts")  # as inside the chain
    {'Input': (4,)}
    >>> graph = ng.NetGraph({"a": ng.LinearLayer(4), "b": "Ramp", "c": "Tanh"},
    ...                     [("a", "b"), ("a", "c", ng.NetPort("Side"))], Input=3)
    >>> names(ng.NetTake(graph, "c")), names(ng.NetTake(graph, ng.NetPort("Output")))
    (['a', 'c'], ['a', 'b'])
    >>> scores = ng.NetTake(chain, 1, Output=ng.NetDecoder(("Class", ["x", "y", "z", "w"])))
    >>> ng.Information(scores, "OutputPortDecoders")
    {'Output': NetDecoder(("Class", ['x', 'y', 'z', 'w']))}
    """
    fn = "NetTake"
    check_container(net, fn)
    if not isinstance(net, NetChain):
        from ._graph_surgery import take_graph

        taken = take_graph(net, spec, fn)
    else:
        taken = _take(net, *_chain_range(net, spec, fn), fn)
    return with_ports(taken, ports, fn) if ports else taken


@refuses_deep_nesting("NetDrop")
def NetDrop(net: NetChain, spec: Any) -> NetChain:  # noqa: N802
    """The chain without the layers `NetTake(net, spec)` would take: `n` drops the first n
    layers, `-n` the last n, a name drops the layers up to and including it, a slice or a
    `(first, last)` pair drops that range.

    >>> import netgraph as ng
    >>> chain = ng.NetChain([ng.LinearLayer(4), "Ramp", ng.LinearLayer(2)], Input=3)
    >>> [len(ng.NetDrop(chain, s)) for s in (1, -2, slice(1, 2))]
    [2, 1, 2]
    """
    fn = "NetDrop"
    check_container(net, fn, chain=True)
    start, stop = _chain_range(net, spec, fn)
    n = len(net._given)
    if start == stop:
        return net
    if start == 0 or stop == n:  # what is left is one end of the chain
        return _take(net, stop if start == 0 else 0, n if start == 0 else start, fn)
    entries = kept_entries(net, 0, start) + kept_entries(net, stop, None)
    return assemble(entries, fn)


@refuses_deep_nesting("NetAppend")
def NetAppend(net: NetChain, layers: Any) -> NetChain:  # noqa: N802
    """The chain with layers added at its end: a layer (or a shorthand such as "Ramp"), a list
    of them, or a dict `{name: layer}`.

    >>> import numpy as np, netgraph as ng
    >>> chain = ng.NetAppend(ng.NetChain([ng.LinearLayer(4)], Input=3), [ng.LinearLayer(2)])
    >>> ng.Information(chain, "OutputPorts")
    {'Output': (2,)}
    """
    fn = "NetAppend"
    check_container(net, fn, chain=True)
    new = [(name, layer, None) for name, layer in new_entries(layers, fn)]
    return assemble(kept_entries(net) + new, fn)


@refuses_deep_nesting("NetPrepend")
def NetPrepend(net: NetChain, layers: Any) -> NetChain:  # noqa: N802
    """The chain with layers added at its start (forms as in NetAppend).

    >>> import netgraph as ng
    >>> chain = ng.NetPrepend(ng.NetChain({"out": ng.LinearLayer(2)}), {"in": ng.LinearLayer(4)})
    >>> list(ng.NetExtract(chain, ng.All))
    ['in', 'out']
    """
    fn = "NetPrepend"
    check_container(net, fn, chain=True)
    new = [(name, layer, None) for name, layer in new_entries(layers, fn)]
    return assemble(new + kept_entries(net), fn)


@refuses_deep_nesting("NetJoin")
def NetJoin(*nets: NetChain) -> NetChain:  # noqa: N802
    """One chain of the layers of several chains (or layers), in order. Named layers keep their
    names (repeated names are an error); the join's shapes are inferred afresh, so chains that do
    not fit raise a NetShapeError naming both layers.

    >>> import netgraph as ng
    >>> a = ng.NetChain([ng.LinearLayer(4), "Ramp"], Input=3)
    >>> ng.Information(ng.NetJoin(a, ng.NetChain([ng.LinearLayer(2)])), "LayersCount")
    3
    """
    fn = "NetJoin"
    if not nets:
        raise NetGraphError(f"{fn}: give at least one chain.")
    entries: list = []
    for part, net in enumerate(nets):
        if isinstance(net, NetChain):
            entries += kept_entries(net, part=part)
        elif isinstance(net, NetGraph):
            raise NetGraphError(
                f"{fn}: argument {part} is a NetGraph; only chains and layers can be joined."
            )
        else:
            entries += [(name, layer, None) for name, layer in new_entries(net, fn)]
    return assemble(entries, fn)


@refuses_deep_nesting("NetInsert")
def NetInsert(net: NetChain, layer: Any, pos: Any) -> NetChain:  # noqa: N802
    """The chain with a layer (or `{name: layer}`) inserted before position `pos` (an int as
    in Python's `list.insert`, so `len(net)` appends; or the name of the layer to insert before).

    >>> import netgraph as ng
    >>> chain = ng.NetChain({"a": ng.LinearLayer(4), "b": ng.LinearLayer(2)}, Input=3)
    >>> list(ng.NetExtract(ng.NetInsert(chain, {"act": "Ramp"}, "b"), ng.All))
    ['a', 'act', 'b']
    """
    fn = "NetInsert"
    check_container(net, fn, chain=True)
    n = len(net._given)
    if isinstance(layer, dict) and len(layer) != 1:
        raise NetGraphError(f"{fn}: give one layer, or one {{name: layer}}, got {len(layer)}.")
    if isinstance(layer, (list, tuple)):
        raise NetGraphError(f"{fn}: give one layer to insert (use NetJoin for several).")
    if is_int(pos) and not -n <= pos <= n:
        raise NetGraphError(
            f"{fn}: position {pos} is out of range for a NetChain of {n} layers "
            f"(valid: {-n} to {n})."
        )
    at = (pos if pos >= 0 else n + pos) if is_int(pos) else position(net, pos, fn)
    new = [(name, lay, None) for name, lay in new_entries(layer, fn)]
    return assemble(kept_entries(net, 0, at) + new + kept_entries(net, at), fn)


@refuses_deep_nesting("NetDelete")
def NetDelete(net: NetGraph, spec: Any) -> NetGraph:  # noqa: N802
    """The net without a layer (by position or name) or a list of layers. A chain closes the
    gap; in a NetGraph the connections of a deleted layer go too: each input it fed becomes a new
    graph input (named after that port, numbered if the name is taken, with the shape it had),
    and the graph outputs it gave disappear.

    >>> import netgraph as ng
    >>> chain = ng.NetChain({"a": ng.LinearLayer(4), "b": "Ramp", "c": ng.LinearLayer(2)})
    >>> [list(ng.NetExtract(ng.NetDelete(chain, s), ng.All)) for s in ("b", [0, -1])]
    [['a', 'c'], ['b']]
    """
    fn = "NetDelete"
    check_container(net, fn)
    specs = spec if isinstance(spec, list) else [spec]
    gone = sorted({position(net, s, fn) for s in specs})
    if not isinstance(net, NetChain):
        from ._graph_surgery import delete_from_graph

        return delete_from_graph(net, [list(net._given)[i] for i in gone], fn)
    n = len(net._given)
    kept = [i for i in range(n) if i not in gone]
    if kept and kept == list(range(kept[0], kept[-1] + 1)):
        return _take(net, kept[0], kept[-1] + 1, fn)
    entries = [e for i in kept for e in kept_entries(net, i, i + 1)]
    return assemble(entries, fn)
