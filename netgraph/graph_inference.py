"""Shape inference over a NetGraph: every layer's rule and every edge, swept to a fixed point."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from . import shapes as S
from ._array_blame import arrays_refuse, blame_net_array
from .errors import NetError, NetShapeError
from .layer import Layer, _slots
from .sharing import _knows_less, _shared_hints, _shared_names, _shared_shapes, _shared_uses

if TYPE_CHECKING:
    from .containers import NetGraph


def _infer_graph(net: NetGraph, graph_shapes: dict, array_error, hints: dict) -> tuple:
    """Shapes of every port to a fixed point (`_sweep`). A conflict that one given array of
    one layer causes, wherever it surfaces, is that array's error (`blame_net_array`)."""
    try:
        return _sweep(net, net._given, graph_shapes, array_error, hints)
    except NetError as exc:

        def infer(given: dict, shared: dict) -> tuple:  # the layers and shared array shapes
            trial = object.__new__(type(net))
            for slot in _slots(type(net)):
                if hasattr(net, slot):
                    object.__setattr__(trial, slot, getattr(net, slot))
            object.__setattr__(trial, "_shared", shared)
            unset = {n for n, v in net._shared.items() if v is not None and shared[n] is None}
            given = {k: _without_values(layer, unset) for k, layer in given.items()}
            layers = _sweep(trial, given, graph_shapes, array_error, hints)[0]
            return layers, _shared_shapes(trial, layers, hints, strict=False)

        raise blame_net_array(net._given, net._shared, infer, exc, array_error) from None


def _without_values(layer: Layer, names: set) -> Layer:
    """A given layer re-inferred without the values of the shared arrays `names` (it holds
    the shapes it was built with, values and all)."""
    if not names & _shared_names(layer):
        return layer
    inner = getattr(layer, "_given", None)
    if inner is None:
        return layer._replace()
    return layer._rebuild(given={k: _without_values(v, names) for k, v in inner.items()})


def _sweep(net: NetGraph, given: dict, graph_shapes: dict, array_error, hints: dict) -> tuple:
    """Shapes of every port to a fixed point: every edge, then each layer's rule after the
    edges that touch it, in sweeps alternately along the topological order (shapes flow down a
    whole chain in one sweep) and against it (up a whole chain), until nothing changes.
    The uses of a shared array are one array: what one use knows of its shape, all know."""
    shapes: dict = {(None, p): graph_shapes.get(p) for p in net._inputs}
    for p in net._outputs:
        shapes[(None, "out", p)] = graph_shapes.get(p)
    layers = dict(given)
    for key, layer in layers.items():
        for p in layer.input_ports + layer.output_ports:
            shapes[(key, p.name)] = layer.port_shape(p.name)
    owner = type(net).__name__
    pairs = _edge_pairs(net)
    touching: dict = {key: [] for key in net._order}
    for src, dst in pairs:
        for end in {src[0], dst[0]} - {None}:
            touching[end].append((src, dst))
    for sweep in range(max(50, 4 * len(layers))):  # a safety bound: unification is monotone
        changed = _unify_edges(pairs, shapes, owner, given, array_error)
        known = _shared_shapes(net, layers, hints, strict=False) if net._shared else {}
        for key in net._order if sweep % 2 == 0 else reversed(net._order):
            changed |= _unify_edges(touching[key], shapes, owner, given, array_error)
            layer = layers[key]
            ports = {p.name: shapes[(key, p.name)] for p in layer.input_ports + layer.output_ports}
            if any(layer.port_shape(p) != s for p, s in ports.items()) or (
                known and _knows_less(layer, known)
            ):
                given_shapes = {p: s for p, s in ports.items() if s is not None}
                array_hints = _shared_hints(given[key], known)
                try:
                    layer = layers[key] = given[key]._with_port_shapes(
                        {**given_shapes, **array_hints}, array_error
                    )
                except NetError as exc:
                    given_ports = {p: s for p, s in given_shapes.items() if p in ports}
                    refused = arrays_refuse(given[key], given_ports)  # names the array
                    exc = type(exc)(str(refused)) if refused is not None else exc
                    raise _in_context(exc, key, given[key], touching[key], shapes, known) from None
                changed = True
            for p in ports:
                if shapes[(key, p)] != layer.port_shape(p):
                    shapes[(key, p)] = layer.port_shape(p)
                    changed = True
        if not changed:
            break
    port_shapes = {p: shapes[(None, p)] for p in net._inputs}
    port_shapes.update({p: shapes[(None, "out", p)] for p in net._outputs})
    return layers, port_shapes


def _in_context(
    exc: NetError, key: Any, layer: Layer, pairs: list, shapes: dict, known: dict
) -> NetError:
    """A layer's error in a graph: prefixed with its key, and followed by what the graph told
    it: the other end of each edge that brought a shape it did not know on its own, and the
    shapes its shared arrays got from their values or other uses."""
    told = []
    # an error from inside a container already says what its own layers were told: this
    # level's context is about the container, named so the two do not read alike
    its = f"the {type(layer).__name__}'s" if str(exc).startswith("in layer ") else "its"
    for src, dst in pairs:
        mine, other = (src, dst) if src[0] == key else (dst, src)
        shape = shapes.get(mine)
        if shape is not None and shape != layer.port_shape(mine[1]):
            verb = "feeds" if mine is src else "is fed by"
            told.append(f'{its} "{mine[1]}" {S.fmt(shape)} {verb} {_end(other)}')
    for name in sorted({n for *_, n in _shared_uses(layer) if known.get(n)}):
        told.append(
            f"shared array {name!r} has shape {S.fmt(known[name])} from its value or another use"
        )
    message = f"in layer {key!r}: {exc}"
    if told:
        message = message.rstrip(".") + "; " + "; ".join(told) + "."
    return type(exc)(message)


def _edge_pairs(net: NetGraph) -> list:
    """Every edge as (source port key, destination port key) in the shapes table."""
    pairs = [((None, src[1]) if src[0] is None else src, dst) for dst, src in net._conns.items()]
    pairs += [
        ((None, src[1]) if src[0] is None else src, (None, "out", name))
        for name, src in net._outputs.items()
    ]
    return pairs


def _unify_edges(
    pairs: list, shapes: dict, owner: str, given: dict, array_error=NetShapeError
) -> bool:
    changed = False
    for src, dst in pairs:
        a, b = shapes.get(src), shapes.get(dst)
        try:
            new = S.unify(a, b)
        except S.ShapeConflict as exc:
            _refused_by_arrays(src, dst, a, b, owner, given, array_error)
            raise NetShapeError(
                f"{owner}: incompatible shapes for the output of {_end(src)} {S.fmt(a)} and the "
                f"input to {_end(dst)} {S.fmt(b)} ({exc})." + _flatten_hint(a, b)
            ) from None
        for k in (src, dst):
            if shapes.get(k) != new:
                shapes[k] = new
                changed = True
    return changed


def _refused_by_arrays(
    src: tuple, dst: tuple, a: Any, b: Any, owner: str, given: dict, array_error=NetShapeError
) -> None:
    """When a layer at one end of a conflicting edge cannot take the other end's shape because
    of its given arrays (a Scaling of length 3 fed 4 channels, Weights replaced with another
    channel count), raise that layer's error naming the array and both shapes."""
    for mine, other, shape, verb in ((dst, src, a, "is fed by"), (src, dst, b, "feeds")):
        if mine[0] is None or len(mine) != 2:
            continue
        because = arrays_refuse(given[mine[0]], {mine[1]: shape})
        if because is not None:
            raise array_error(
                f"{owner}: in layer {mine[0]!r}: {str(because).rstrip('.')}; its "
                f'"{mine[1]}" {S.fmt(shape)} {verb} {_end(other)}.'
            )


def _flatten_hint(a: Any, b: Any) -> str:
    """Output `a` of rank > 1 meeting a vector input `b` (a convolution feeding a LinearLayer
    given Input=n): a FlattenLayer helps only when it gives b's length."""
    if S.rank(b) != 1 or S.min_rank(a) <= 1:
        return ""
    if not S.is_known(a) or b[0] is None or math.prod(a) == b[0]:
        return " Hint: put a FlattenLayer between them."
    return (
        f" (A FlattenLayer between them would give ({math.prod(a)},), which differs from "
        f"{S.fmt(b)} too: the sizes disagree.)"
    )


def _end(k: tuple) -> str:
    if k[0] is None:
        return f'NetPort("{k[-1]}")'
    return f'layer {k[0]!r} port "{k[1]}"'
