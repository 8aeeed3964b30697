"""How the training data meets the net: the examples' shapes checked against the net's input
ports and unknown port shapes fixed from them, and errors located in the user's net (the
training graph puts the net under "net")."""

from __future__ import annotations

from typing import Any

from netgraph._data_checks import channel_hint
from netgraph.errors import NetDataError, NetError
from netgraph.layer import Layer
from netgraph.values import NetSharedArray

from . import attach


def _user_path(path: tuple) -> str:
    """A leaf's path in the user's net (the training graph puts it under "net")."""
    inner = path[1:] if path[:1] == (attach.NET,) else path
    return "/".join(map(str, inner)) or "the net"


def _user_located(exc: NetError) -> NetError:
    """A layer error with its path in the user's net, not in the training graph ("net/...")."""
    text = str(exc)
    prefix = f'in layer "{attach.NET}'
    if text.startswith(prefix + '": '):
        text = text[len(prefix) + 3 :]
    elif text.startswith(prefix + "/"):
        text = 'in layer "' + text[len(prefix) + 1 :]
    return type(exc)(text)


def _in_graph(aid: Any) -> Any:
    return aid if isinstance(aid, NetSharedArray) else (attach.NET,) + tuple(aid)


def _check_fits(net: Layer, data: dict, input_ports: list, what: str) -> None:
    """Each input port's examples have a shape the net's port allows."""
    from netgraph.shapes import ShapeConflict, fmt, rank, unify

    for p in input_ports:
        example, known = data[p].shape[1:], net.port_shape(p)
        try:
            unify(known, example)
        except ShapeConflict:
            because = ""
            try:  # when the net's arrays or options fixed the port's shape, name them
                net._override_ports({p: example})
            except NetError as exc:  # (not for examples of another rank: the data's fault)
                given = net._port_given.get(p)  # a shape the user gave is the reason itself
                if rank(known) in (None, len(example)) and not _conflicts(given, example):
                    because = f" ({str(_user_located(exc)).rstrip('.')})"
            raise NetDataError(
                f"{what}: the examples of port {p!r} have shape {fmt(example)}, but the "
                f"net's port {p!r} takes {fmt(known)}{because}." + channel_hint(known, example)
            ) from None


def _conflicts(shape: Any, example: tuple) -> bool:
    from netgraph.shapes import ShapeConflict, unify

    try:
        unify(shape, example)
    except ShapeConflict:
        return True
    return False


def _specialize(net: Layer, train: dict, input_ports: list, what: str = "training data") -> Layer:
    """Fix unknown input shapes from the data (the examples' shapes).

    The data must fit what the net already knows: `_with_port_shapes` would replace a given
    `Input=3` by the data's shape, silently training another net."""
    _check_fits(net, train, input_ports, what)
    shapes = {}
    for p in input_ports:
        example = train[p].shape[1:]
        if net.port_shape(p) != example:
            shapes[p] = example
    if not shapes:
        return net
    try:
        return net._with_port_shapes(shapes)
    except NetError as exc:
        raise NetDataError(f"{what} does not fit the net: {exc}") from None
