"""Small value types of the public API: sentinels, NumericArray, ports, gradients, shared arrays."""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import NetDataError, NetError


class _Sentinel:
    """A named singleton: `Automatic` ("not set, infer or choose later") and `All`."""

    __slots__ = ("_name",)

    def __init__(self, name: str):
        self._name = name

    def __repr__(self) -> str:
        return self._name

    def __reduce__(self):  # copies keep identity
        return self._name

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self


Automatic = _Sentinel("Automatic")
All = _Sentinel("All")

_NUMERIC_TYPES = {
    "Real16": np.float16,
    "Real32": np.float32,
    "Real64": np.float64,
    "Integer8": np.int8,
    "Integer16": np.int16,
    "Integer32": np.int32,
    "Integer64": np.int64,
    "UnsignedInteger8": np.uint8,
    "UnsignedInteger16": np.uint16,
    "UnsignedInteger32": np.uint32,
    "UnsignedInteger64": np.uint64,
}
_TYPE_OF_DTYPE = {np.dtype(v): k for k, v in _NUMERIC_TYPES.items()}


class NumericArray:
    """A typed array, as Wolfram's NumericArray.

    >>> na = NumericArray([[1, 2], [3, 4]], "Real32")
    >>> na.type, na.shape
    ('Real32', (2, 2))
    >>> na.normal().dtype
    dtype('float32')
    """

    __slots__ = ("_data",)

    def __init__(self, data: Any, type: str | None = None):  # noqa: A002 (Wolfram's name)
        if isinstance(data, NumericArray):
            data = data._data
        if type is None:
            try:
                arr = np.asarray(data)
            except ValueError:
                raise NetDataError(
                    "NumericArray: the data is ragged (rows of different lengths)."
                ) from None
            if arr.dtype.kind == "f" and arr.dtype not in _TYPE_OF_DTYPE:
                arr = arr.astype(np.float64)
            if arr.dtype not in _TYPE_OF_DTYPE:
                if arr.dtype.kind in "biu":
                    arr = arr.astype(np.int64)
                else:
                    raise NetDataError(
                        f"NumericArray: expected numeric data, got dtype {arr.dtype}."
                    )
        else:
            if not isinstance(type, str) or type not in _NUMERIC_TYPES:
                raise NetDataError(
                    f'NumericArray: unknown type "{type}". Valid types: '
                    + ", ".join(_NUMERIC_TYPES)
                )
            try:
                arr = np.asarray(data, dtype=_NUMERIC_TYPES[type])
            except (TypeError, ValueError) as exc:
                raise NetDataError(f"NumericArray: cannot make a {type} array: {exc}") from None
        arr = np.array(arr, copy=True)
        arr.setflags(write=False)
        self._data = arr

    @property
    def type(self) -> str:
        return _TYPE_OF_DTYPE[self._data.dtype]

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    def normal(self) -> np.ndarray:
        """A writable ndarray copy of the data."""
        return self._data.copy()

    def __array__(self, dtype=None, copy=None):
        if dtype is None:
            return self._data.copy() if copy else self._data
        return self._data.astype(dtype)

    def __len__(self) -> int:
        return len(self._data)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NumericArray):
            return NotImplemented
        return self.type == other.type and np.array_equal(self._data, other._data)

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self):  # rebuilt by the constructor, so the data is read-only again
        return (NumericArray, (self._data, self.type))

    def __repr__(self) -> str:
        return f"NumericArray[{self.type}, {self.shape}]"


class NetPort:
    """A port: `NetPort("Input")` of the graph, or `NetPort(layer, "Port")` of an inner layer.

    >>> NetPort("Input")
    NetPort('Input')
    >>> NetPort("bn", "Output")
    NetPort('bn', 'Output')
    """

    __slots__ = ("layer", "port")

    def __init__(self, *spec: Any):
        if len(spec) == 1 and isinstance(spec[0], (tuple, list)):
            spec = tuple(spec[0])
        if len(spec) == 1 and isinstance(spec[0], str):
            self.layer, self.port = None, spec[0]
        elif len(spec) == 2 and isinstance(spec[1], str) and _is_key(spec[0]):
            self.layer, self.port = spec[0], spec[1]
        else:
            raise NetError(
                f'NetPort: expected NetPort("Port") or NetPort(layer, "Port"), got {spec!r}.'
            )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NetPort) and (self.layer, self.port) == (other.layer, other.port)

    def __hash__(self) -> int:
        return hash(("NetPort", self.layer, self.port))

    def __reduce__(self):
        return (NetPort, (self.port,) if self.layer is None else (self.layer, self.port))

    def __repr__(self) -> str:
        if self.layer is None:
            return f"NetPort({self.port!r})"
        return f"NetPort({self.layer!r}, {self.port!r})"


def _is_key(value: Any) -> bool:
    """A layer or part name (str) or position (int)."""
    return isinstance(value, str) or (
        isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    )


class NetPortGradient:
    """A request for a gradient: of an input port, of an array (path), or `All`.

    >>> NetPortGradient("Input"), NetPortGradient(("bn", "Scaling"))
    (NetPortGradient('Input'), NetPortGradient(('bn', 'Scaling')))
    """

    __slots__ = ("spec",)

    def __init__(self, spec: Any):
        if isinstance(spec, list):
            spec = tuple(spec)
        ok = spec is All or isinstance(spec, NetSharedArray) or _is_key(spec)
        if not ok and not (isinstance(spec, tuple) and spec and all(map(_is_key, spec))):
            raise NetError(
                'NetPortGradient: expected a port name ("Input"), an array path such as '
                f'("bn", "Scaling"), a NetSharedArray or All, got {spec!r:.60}.'
            )
        self.spec = spec

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NetPortGradient) and self.spec == other.spec

    def __hash__(self) -> int:
        return hash(("NetPortGradient", self.spec))

    def __reduce__(self):
        return (NetPortGradient, (self.spec,))

    def __repr__(self) -> str:
        return f"NetPortGradient({self.spec!r})"


class NetSharedArray:
    """An array placeholder: every use of the same name in a net is one array.

    >>> NetSharedArray("w") == NetSharedArray("w")
    True
    """

    __slots__ = ("name",)

    def __init__(self, name: str):
        if not isinstance(name, str) or not name:
            raise NetError(f"NetSharedArray: expected a non-empty name string, got {name!r}.")
        self.name = name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NetSharedArray) and self.name == other.name

    def __hash__(self) -> int:
        return hash(("NetSharedArray", self.name))

    def __reduce__(self):
        return (NetSharedArray, (self.name,))

    def __repr__(self) -> str:
        return f"NetSharedArray({self.name!r})"


class Scaled:
    """`Scaled(f)`: a fraction f of something, as in `ValidationSet=ng.Scaled(0.1)`."""

    __slots__ = ("value",)

    def __init__(self, value: float):
        try:
            v = float(value) if not isinstance(value, (str, bytes, bool)) else np.nan
        except (TypeError, ValueError):
            v = np.nan
        if not np.isfinite(v):
            raise NetError(f"Scaled: expected a finite number, got {value!r}.")
        self.value = v

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Scaled) and self.value == other.value

    def __hash__(self) -> int:
        return hash(("Scaled", self.value))

    def __reduce__(self):
        return (Scaled, (self.value,))

    def __repr__(self) -> str:
        return f"Scaled({self.value!r})"
