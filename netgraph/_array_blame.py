"""Naming the array behind a shape error: a given or replaced array that the rest of its layer
contradicts is reported with the shape the rest expects ('array "Weights": expected (8, 2, 3, 3),
given (8, 3, 3, 3)'), and a layer that cannot take a shape because of its arrays says so."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import numpy as np

from . import shapes as S
from .errors import NetError, NetShapeError
from .values import NetSharedArray


def blame_array(cls: type, exc: NetError, parts: tuple, suspects: list) -> NetError:
    """`exc` (a failed build from `parts`, the arguments of `_make`) restated as the one
    array among `suspects` without which the build succeeds: its name, the shape the rest
    of the layer expects and the shape given. `exc` itself when no array, or more than
    one (Scaling (3,) and Biases (2,) alone: either could be wrong), is to blame."""
    arrays, blamed = parts[1], []
    for name in suspects:
        value = arrays.get(name)
        if not isinstance(value, np.ndarray):
            continue
        try:
            rest = cls._make(parts[0], {**arrays, name: None}, *parts[2:])
        except NetError:
            continue
        expected = rest.array_shape(name)
        if expected is not None and _conflicts(expected, value.shape):
            blamed.append((name, expected, value.shape))
    if len(blamed) != 1:
        return exc
    name, expected, given = blamed[0]
    why = str(exc).removeprefix(f"{cls.__name__}: ")  # kept when it is about this array
    why = f": {why}" if f'array "{name}"' in why else "."
    return type(exc)(
        f'{cls.__name__}: array "{name}": expected {S.fmt(expected)}, given {S.fmt(given)}' + why
    )


def arrays_refuse(layer: Any, shapes: dict) -> NetError | None:
    """Why `layer` cannot take the port `shapes` when its arrays, and not its options
    or given ports, are the reason (`blame_array`'s message when one array is); None when
    it can take them or would not without its arrays either."""
    try:
        layer._override_ports(shapes)
        return None
    except NetError as exc:
        error = exc
    given = [n for n, v in layer._arrays.items() if isinstance(v, np.ndarray)]
    if not given:
        return None
    try:
        layer._replace(arrays={n: None for n in given})._override_ports(shapes)
    except NetError:
        return None
    parts = (
        layer._options,
        layer._arrays,
        {**layer._port_given, **shapes},
        layer._lrm,
        NetShapeError,
        None,
        dict(layer._shared),
        layer._decoders,
    )
    return blame_array(type(layer), error, parts, given)


def _conflicts(a: Any, b: Any) -> bool:
    try:
        S.unify(a, b)
    except S.ShapeConflict:
        return True
    return False


# ---------------------------------------------------------- a given array behind a net's conflict

_BLAMING: ContextVar[bool] = ContextVar("netgraph_blaming_net_array", default=False)


def blame_net_array(
    given: dict, shared: dict, infer: Callable, exc: NetError, error_type: type | None = None
) -> NetError:
    """`exc` (a container's inference over its layers as `given`, with its shared array values
    `shared`, failing) restated as the one given array, in any layer at any depth, or shared
    array without which inference succeeds: its layer's path, its name, the shape the rest of
    the net gives it and the shape given ('in layer 2: ConvolutionLayer: array "Weights":
    expected (2, 4, 3, 3), given (2, 5, 3, 3) ...'), wherever the conflict surfaced (a Ramp
    between two convolutions). `exc` itself when no single array is to blame.
    `infer(given, shared)` gives the inferred layers and shared array shapes, or raises.
    The restated error is an `error_type`: NetArrayError for an array given to a constructor
    or NetReplacePart (faults table case 11), NetShapeError for a conflict met by data. Runs
    only on this error path, with group testing: when unsetting a set of arrays leaves a
    conflict, unsetting any part of it does too, so a whole half clears at once (about
    2 log2(n) inferences for one culprit)."""
    if _BLAMING.get() or 'array "' in str(exc):
        return exc  # inside another blame's trial, or already about an array
    token = _BLAMING.set(True)
    try:
        suspects = list(_given_arrays(given))
        suspects += [((NetSharedArray(n),), v) for n, v in shared.items() if v is not None]
        found: list = []
        _culprits(given, shared, infer, suspects, found)
    finally:
        _BLAMING.reset(token)
    if len(found) != 1:
        return exc
    (path, value), (layers, known) = found[0]
    if isinstance(path[0], NetSharedArray):
        name, expected = f"shared array {path[0].name!r}", known.get(path[0].name)
    else:
        node = layers[path[0]]
        for key in path[1:-1]:
            node = node._layers[key]
        where = "".join(f"in layer {k!r}: " for k in path[:-1])
        name, expected = (
            f'{where}{type(node).__name__}: array "{path[-1]}"',
            node.array_shape(path[-1]),
        )
    if expected is None or not _conflicts(expected, value.shape):
        return exc
    return (error_type or type(exc))(
        f"{name}: expected {S.fmt(expected)}, given {S.fmt(value.shape)} (the shape the rest "
        "of the net gives it)."
    )


def _culprits(given: dict, shared: dict, infer: Callable, suspects: list, found: list) -> None:
    """Into `found`, up to two (suspect, what `infer` gave) whose single unsetting clears the
    conflict, halving `suspects` while unsetting a half clears it."""
    if not suspects or len(found) > 1:
        return
    paths = [path for path, _ in suspects]
    names = {p[0].name: None for p in paths if isinstance(p[0], NetSharedArray)}
    try:
        inferred = infer(
            _unset(given, [p for p in paths if not isinstance(p[0], NetSharedArray)]),
            {**shared, **names},
        )
    except (NetError, ValueError, TypeError):
        return  # the conflict stays without all of them: none of them alone is to blame
    if len(suspects) == 1:
        found.append((suspects[0], inferred))
        return
    half = len(suspects) // 2
    _culprits(given, shared, infer, suspects[:half], found)
    _culprits(given, shared, infer, suspects[half:], found)


def _given_arrays(given: dict, path: tuple = ()):
    """(path to the array, value) of every array given as a value in the layers `given`,
    nested containers included (a shared array's value is held by the container)."""
    for key, layer in given.items():
        inner = getattr(layer, "_given", None)
        if inner is not None:
            yield from _given_arrays(inner, (*path, key))
            continue
        for name, value in layer._arrays.items():
            if isinstance(value, np.ndarray):
                yield (*path, key, name), value


def _unset(given: dict, paths: list) -> dict:
    """The layers `given` with the arrays at `paths` (as `_given_arrays` gives them) unset."""
    by_key: dict = {}
    for path in paths:
        by_key.setdefault(path[0], []).append(path[1:])
    out = dict(given)
    for key, rests in by_key.items():
        layer = given[key]
        if getattr(layer, "_given", None) is not None:
            out[key] = layer._rebuild(given=_unset(layer._given, rests))
        else:
            out[key] = layer._replace(arrays={rest[0]: None for rest in rests})
    return out
