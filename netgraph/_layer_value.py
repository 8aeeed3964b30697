"""A layer as a value: immutable attributes (options read by name), equality and hashing,
copies that are the net itself, pickles that rebuild an equal net, and the repr."""

from __future__ import annotations

from typing import Any, Self

import numpy as np
from pydantic.alias_generators import to_pascal, to_snake

from . import shapes as S
from .errors import NetError


class LayerValue:
    """Mixin of `Layer`: the value protocol (eq, hash, copy, pickle, repr, immutability)."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        fields = type(self).Options.model_fields
        if name in fields:
            return getattr(self._options, name)
        snake = to_snake(name)
        if snake in fields:
            return getattr(self._options, snake)
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise NetError(
            f"{type(self).__name__} is an immutable value; use NetReplacePart to change it."
        )

    def __delattr__(self, name: str) -> None:
        raise NetError(
            f"{type(self).__name__} is an immutable value; use NetReplacePart to change it."
        )

    def __eq__(self, other: object) -> bool:
        if type(self) is not type(other):
            return NotImplemented
        if self._options != other._options or self._lrm != other._lrm:
            return False
        if self._decoders != other._decoders:
            return False
        if self.input_shapes != other.input_shapes or self.output_shapes != other.output_shapes:
            return False
        # the values of shared arrays a lone layer holds (inside a container, the container does)
        shared = [
            {k: v for k, v in d.items() if v is not None} for d in (self._shared, other._shared)
        ]
        return _same_arrays(self._arrays, other._arrays) and _same_arrays(*shared)

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._options))

    # A net is a value: a copy is the net itself, and a pickle rebuilds an equal net (arrays
    # bit-exact, shared arrays still shared; the cache is left out and refilled on demand).

    def __copy__(self) -> Self:
        return self

    def __deepcopy__(self, memo: dict) -> Self:
        return self

    def __getstate__(self) -> dict:
        return {s: getattr(self, s) for s in _slots(type(self)) if s != "_cache"}

    def __setstate__(self, state: dict) -> None:
        slots = _slots(type(self))
        for name, value in state.items():
            if name in slots:
                object.__setattr__(self, name, value)
        object.__setattr__(self, "_cache", {})
        for value in (*self._arrays.values(), *self._shared.values()):
            if isinstance(value, np.ndarray):
                value.setflags(write=False)  # unpickled arrays come back writable

    def __repr__(self) -> str:
        parts = [f"{k}={v!r}" for k, v in self.options.items() if _shown(type(self), k, v)]
        for p in self.input_ports:
            if self._shapes.get(p.name) is not None:
                parts.append(f"{p.name}={S.fmt(self._shapes[p.name])}")
        parts += [f"{p}={d!r}" for p, d in self._decoders.items()]
        state = "" if self.is_initialized() else " <uninitialized>"
        return f"{type(self).__name__}({', '.join(parts)}){state}"

    def _repr_html_(self) -> str:
        from .information import Information

        return Information(self)._repr_html_()


def _slots(cls: type) -> tuple[str, ...]:
    """Every slot a Layer class has (Layer's and its containers')."""
    return tuple(s for c in cls.__mro__ for s in c.__dict__.get("__slots__", ()))


def _shown(cls, key: str, value: Any) -> bool:
    f = {(fi.alias or to_pascal(n)): fi for n, fi in cls.Options.model_fields.items()}.get(key)
    return f is None or value != f.default or key in (to_pascal(p) for p in cls.positional)


def _same_arrays(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    for k, x in a.items():
        y = b[k]
        if isinstance(x, np.ndarray) and isinstance(y, np.ndarray):
            if x.dtype != y.dtype or not np.array_equal(x, y):
                return False
        elif x != y:
            return False
    return True
