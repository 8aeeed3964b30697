"""Naming the array behind a shape error: a given or replaced array that the rest of its layer
contradicts is reported with the shape the rest expects ('array "Weights": expected (8, 2, 3, 3),
given (8, 3, 3, 3)'), and a layer that cannot take a shape because of its arrays says so."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import shapes as S
from .errors import NetError, NetShapeError


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
