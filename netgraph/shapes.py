"""Port shapes with unknown parts, and their unification.

A shape is one of:

- `None`: nothing known (not even the rank);
- a tuple of dims, each an int or `None` (unknown size): the rank is known;
- a tuple holding one `Ellipsis`: known leading and trailing dims around an unknown number of
  dims, e.g. `(3, ...)` is "rank >= 1 with 3 first".

`unify(a, b)` merges two descriptions of one port; it raises `ShapeConflict` when they cannot
describe the same shape. Unification is monotone, so inference over a graph reaches a fixed point.

>>> unify((3, None), (None, 8))
(3, 8)
>>> unify((3, ...), (3, 8, 8))
(3, 8, 8)
>>> fmt((3, None, ...))
'(3, ?, ...)'
"""

from __future__ import annotations

import math
import operator
from typing import Any

from .values import Automatic

Shape = Any  # None | tuple[int | None | Ellipsis, ...]


class ShapeConflict(Exception):
    """Internal: two shapes cannot be unified. Callers turn it into a NetShapeError."""


def split(shape: Shape) -> tuple[tuple, bool, tuple]:
    """(prefix, has_ellipsis, suffix) of a shape; `None` is `((), True, ())`."""
    if shape is None:
        return (), True, ()
    if Ellipsis in shape:
        i = shape.index(Ellipsis)
        return tuple(shape[:i]), True, tuple(shape[i + 1 :])
    return tuple(shape), False, ()


def join(prefix: tuple, has_ellipsis: bool, suffix: tuple) -> Shape:
    if not has_ellipsis:
        return tuple(prefix)
    if not prefix and not suffix:
        return None
    return (*prefix, Ellipsis, *suffix)


def _dim(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None or a == b:
        return a
    raise ShapeConflict(f"{a} vs {b}")


def _dims(a: tuple, b: tuple) -> tuple:
    return tuple(_dim(x, y) for x, y in zip(a, b))


def unify(a: Shape, b: Shape) -> Shape:
    """The most specific shape that both `a` and `b` describe; `ShapeConflict` if none."""
    if a is None:
        return b
    if b is None or a == b:
        return a
    pa, ea, sa = split(a)
    pb, eb, sb = split(b)
    if not ea and not eb:
        if len(pa) != len(pb):
            raise ShapeConflict(f"rank {len(pa)} vs rank {len(pb)}")
        return _dims(pa, pb)
    if ea and eb:
        n = min(len(pa), len(pb))
        prefix = _dims(pa[:n], pb[:n]) + (pa[n:] if len(pa) > n else pb[n:])
        m = min(len(sa), len(sb))
        tail_a, tail_b = sa[len(sa) - m :], sb[len(sb) - m :]
        suffix = (sa[: len(sa) - m] if len(sa) > m else sb[: len(sb) - m]) + _dims(tail_a, tail_b)
        # The merged prefix and suffix assume they do not overlap. When a lower rank would
        # satisfy both ("(3, ...)" and "(..., 3)" at rank 1) that is not so, and no single
        # description is exact: keep the richer one and let the rank decide later.
        low = max(len(pa) + len(sa), len(pb) + len(sb))
        if any(_fits_at(a, b, r) for r in range(low, len(prefix) + len(suffix))):
            return max(a, b, key=_richness)
        return join(prefix, True, suffix)
    if eb:  # make `a` the one with the ellipsis and `b` the fixed-rank one
        pa, sa, pb = pb, sb, pa
    if len(pb) < len(pa) + len(sa):
        raise ShapeConflict(f"rank {len(pb)} vs rank >= {len(pa) + len(sa)}")
    head = _dims(pa, pb[: len(pa)])
    tail = _dims(sa, pb[len(pb) - len(sa) :]) if sa else ()
    middle = pb[len(pa) : len(pb) - len(sa)]
    return (*head, *middle, *tail)


def _at_rank(shape: Shape, r: int) -> tuple:
    prefix, _, suffix = split(shape)
    return prefix + (None,) * (r - len(prefix) - len(suffix)) + suffix


def _fits_at(a: Shape, b: Shape, r: int) -> bool:
    """Do the open shapes `a` and `b` agree on some shape of rank r?"""
    try:
        _dims(_at_rank(a, r), _at_rank(b, r))
        return True
    except ShapeConflict:
        return False


def _richness(shape: Shape) -> tuple:
    """An order on open shapes (more dims, more of them known, leading ones first) that makes
    the choice in `unify` independent of the order of its arguments."""
    prefix, _, suffix = split(shape)
    dims = prefix + suffix
    known = sum(d is not None for d in dims)
    return (len(dims), known, len(prefix), repr(shape))


def rank(shape: Shape) -> int | None:
    """The rank if known."""
    if shape is None or Ellipsis in shape:
        return None
    return len(shape)


def min_rank(shape: Shape) -> int:
    prefix, _, suffix = split(shape)
    return len(prefix) + len(suffix)


def is_known(shape: Shape) -> bool:
    """True when the rank and every dim are known."""
    return shape is not None and Ellipsis not in shape and None not in shape


def size(shape: Shape) -> int | None:
    """Number of elements, if known."""
    return math.prod(shape) if is_known(shape) else None


def fmt(shape: Shape) -> str:
    """A readable form: `?` for an unknown dim, `...` for unknown further dims."""
    if shape is None:
        return "?"
    parts = ["..." if d is Ellipsis else ("?" if d is None else str(d)) for d in shape]
    if len(parts) == 1 and parts[0] != "...":
        return f"({parts[0]},)"
    return "(" + ", ".join(parts) + ")"


def parse(spec: Any, what: str) -> Shape:
    """A user's shape spec (`3`, `(3, 8, 8)`, `"Real"`, `None`, `Automatic`) as a Shape.

    Raises ValueError with a message naming `what`; callers wrap it in their error type.
    """
    if spec is None or spec is Automatic:
        return None
    if isinstance(spec, str):
        if spec in ("Real", "Integer", "Scalar"):
            return ()
        raise ValueError(f'{what}: unknown shape "{spec}"; give an int, a tuple of ints or "Real"')
    if isinstance(spec, (bool, dict, set, frozenset, bytes)):
        raise ValueError(f"{what}: expected a shape, got {spec!r}")
    if isinstance(spec, int) or (hasattr(spec, "__index__") and not hasattr(spec, "__len__")):
        spec = (int(spec),)
    try:
        dims = tuple(spec)
    except TypeError:
        raise ValueError(f"{what}: expected an int or a tuple of ints, got {spec!r}") from None
    out = []
    for d in dims:
        if d is None or d is Automatic:
            out.append(None)
        elif d is Ellipsis:
            if Ellipsis in out:
                raise ValueError(f"{what}: at most one ... allowed, got {spec!r}")
            out.append(Ellipsis)
        else:
            try:
                dim = None if isinstance(d, bool) else operator.index(d)
            except TypeError:
                dim = None
            if dim is None or dim < 1:
                raise ValueError(f"{what}: dimensions must be positive ints, got {spec!r}")
            out.append(dim)
    return join(*split(tuple(out)))


class ShapeStore:
    """The shapes of one layer's ports and arrays while its `infer` rule runs.

    Every write unifies; a conflict raises a NetShapeError (or `array_error` when an array is
    involved) that names both sides and both shapes. `changed` tells the fixed-point loop
    whether anything was learnt.
    """

    def __init__(self, shapes: dict, owner: str, arrays=(), array_error=None):
        from .errors import NetShapeError

        self.shapes = dict(shapes)
        self.owner = owner
        self.arrays = frozenset(arrays)
        self.shape_error = NetShapeError
        self.array_error = array_error or NetShapeError
        self.changed = False

    def _what(self, name: str) -> str:
        return f'array "{name}"' if name in self.arrays else f'port "{name}"'

    def __getitem__(self, name: str) -> Shape:
        return self.shapes.get(name)

    def unify(self, name: str, shape: Shape, because: str = "") -> Shape:
        old = self.shapes.get(name)
        try:
            new = unify(old, shape)
        except ShapeConflict as exc:
            cls = self.array_error if name in self.arrays else self.shape_error
            why = f" ({because})" if because else ""
            raise cls(
                f"{self.owner}: {self._what(name)} has shape {fmt(old)}, but {fmt(shape)} is "
                f"required{why}: {exc}."
            ) from None
        if new != old:
            self.shapes[name] = new
            self.changed = True
        return new

    def same(self, a: str, b: str) -> None:
        """Ports/arrays `a` and `b` have one shape (as Input and Output of an elementwise layer)."""
        try:
            new = unify(self.shapes.get(a), self.shapes.get(b))
        except ShapeConflict as exc:
            raise self._conflict(a, b, str(exc)) from None
        for n in (a, b):
            if self.shapes.get(n) != new:
                self.shapes[n] = new
                self.changed = True

    def _conflict(self, a: str, b: str, detail: str):
        cls = self.array_error if (a in self.arrays or b in self.arrays) else self.shape_error
        return cls(
            f"{self.owner}: {self._what(a)} {fmt(self.shapes.get(a))} and {self._what(b)} "
            f"{fmt(self.shapes.get(b))} are incompatible ({detail})."
        )

    def rank(self, name: str) -> int | None:
        return rank(self.shapes.get(name))

    def dim(self, name: str, axis: int) -> int | None:
        """The size of `axis` (negative counts from the end) if it can be known."""
        prefix, ell, suffix = split(self.shapes.get(name))
        if not ell:
            return prefix[axis] if -len(prefix) <= axis < len(prefix) else None
        if axis >= 0:
            return prefix[axis] if axis < len(prefix) else None
        return suffix[axis] if -axis <= len(suffix) else None

    def set_rank(self, name: str, r: int, because: str = "") -> None:
        self.unify(name, (None,) * r, because)

    def set_dim(self, name: str, axis: int, value: int | None, because: str = "") -> None:
        if value is None:
            return
        r = self.rank(name)
        if r is not None:
            dims = [None] * r
            if not -r <= axis < r:
                raise self.shape_error(
                    f"{self.owner}: {self._what(name)} of rank {r} has no axis {axis}."
                )
            dims[axis] = value
            self.unify(name, tuple(dims), because)
        elif axis >= 0:
            self.unify(name, (None,) * axis + (value, Ellipsis), because)
        else:
            self.unify(name, (Ellipsis, value) + (None,) * (-axis - 1), because)

    def link_dim(self, a: str, axis_a: int, b: str, axis_b: int) -> None:
        """Dimension `axis_a` of `a` equals dimension `axis_b` of `b`, both ways."""
        da, db = self.dim(a, axis_a), self.dim(b, axis_b)
        if da is not None and db is not None and da != db:
            raise self._conflict(a, b, f"dimension {da} vs {db}")
        self.set_dim(a, axis_a, db)
        self.set_dim(b, axis_b, da)

    def need_min_rank(self, name: str, r: int, what: str = "") -> None:
        shape = self.shapes.get(name)
        if shape is None:
            return
        known = rank(shape)
        if known is not None and known < r:
            raise self.shape_error(
                f"{self.owner}: {self._what(name)} must be an array of rank >= {r}"
                f"{what}, got rank {known} {fmt(shape)}."
            )
        if known is None and min_rank(shape) < r:
            prefix, _, suffix = split(shape)
            self.unify(name, (*prefix, *([None] * (r - min_rank(shape))), Ellipsis, *suffix))
