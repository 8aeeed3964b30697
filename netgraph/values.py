"""Small value types of the public API: sentinels, NumericArray, ports, gradients, shared arrays."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .errors import NetDataError, NetError, refuses_deep_nesting


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


def _typed_array(data: Any, type: str) -> np.ndarray:  # noqa: A002
    """`data` as the numpy dtype of `type`, refusing what the type cannot hold exactly: a
    number out of its range, and a fraction (or NaN/infinity) for an integer type."""
    target = np.dtype(_NUMERIC_TYPES[type])
    try:
        src = np.asarray(data)
    except ValueError as exc:
        raise NetDataError(f"NumericArray: cannot make an array of type {type}: {exc}") from None
    if src.dtype.kind not in "biufO":
        raise NetDataError(
            f"NumericArray: expected numbers for type {type}, got dtype {src.dtype}."
        )
    for i, v in enumerate(src.ravel() if src.dtype == object else ()):
        if not isinstance(v, (int, float, np.integer, np.floating)):
            raise NetDataError(
                f"NumericArray: the value {v!r} at index {_index(src, i)} is not a number."
            )
    if src.dtype == object and target.kind == "f":
        try:
            src = src.astype(np.float64)
        except OverflowError:  # a Python int beyond float64: name it
            flat = src.ravel()
            i = next(i for i, v in enumerate(flat) if _too_big_for_float(v))
            raise NetDataError(
                f"NumericArray: the value {_int_text(int(flat[i]))} at index {_index(src, i)} is "
                f"out of range for {type}."
            ) from None
    if target.kind in "iu":
        _check_integers(src, type, target)
    with np.errstate(over="ignore", invalid="ignore"):
        arr = src.astype(target)
    if target.kind == "f" and src.dtype.kind in "biuf":  # 70000 is inf in float16
        grown = np.isinf(arr) & np.isfinite(src)
        if grown.any():
            _refuse(src, grown, type, f"out of range for {type}")
    return arr


def _int_text(value: int) -> str:
    """An int for a message: in full up to 40 digits, else its sign and digit count (str()
    refuses ints of over 4300 digits)."""
    if abs(value) < 10**40:
        return str(value)
    digits = int(abs(value).bit_length() * math.log10(2)) + 1
    return f"{'-' if value < 0 else ''}(an integer of about {digits} digits)"


def _too_big_for_float(value: Any) -> bool:
    try:
        float(value)
    except OverflowError:
        return True
    return False


def _check_integers(src: np.ndarray, type: str, target: np.dtype) -> None:  # noqa: A002
    info = np.iinfo(target)
    if src.dtype == object:  # Python ints too large for int64, or non-numbers
        for i, v in enumerate(src.ravel()):
            if isinstance(v, (float, np.floating)) and np.isfinite(v) and v == int(v):
                v = int(v)
            if not isinstance(v, (int, np.integer)):
                raise NetDataError(
                    f"NumericArray: the value {v!r} at index {_index(src, i)} is not an integer; "
                    f"{type} takes integers."
                )
            if not info.min <= int(v) <= info.max:
                raise NetDataError(
                    f"NumericArray: the value {_int_text(int(v))} at index {_index(src, i)} is "
                    f"out of range for {type} ({info.min} to {info.max})."
                )
        return
    if src.dtype.kind == "f":
        fraction = ~np.isfinite(src) | (src != np.round(src))
        if fraction.any():
            _refuse(src, fraction, type, f"not an integer; {type} takes integers")
    if src.dtype.kind == "f":  # float(2**63 - 1) is 2**63: compare with exact powers of two
        outside = (src < float(info.min)) | (src >= float(int(info.max) + 1))
    else:
        outside = (src < info.min) | (src > info.max)
    if outside.any():
        _refuse(src, outside, type, f"out of range for {type} ({info.min} to {info.max})")


def _index(src: np.ndarray, flat: int) -> tuple:
    return tuple(int(i) for i in np.unravel_index(flat, src.shape))


def _refuse(src: np.ndarray, bad: np.ndarray, type: str, why: str):  # noqa: A002
    index = tuple(int(i) for i in np.argwhere(bad)[0]) if src.ndim else ()
    raise NetDataError(f"NumericArray: the value {src[index].item()!r} at index {index} is {why}.")


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
            arr = _typed_array(data, type)
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
    """A port: `NetPort("Input")` of the graph, `NetPort(layer, "Port")` of an inner layer,
    `NetPort(("block", "bn"), "Output")` (or `NetPort("block", "bn", "Output")`) of a layer
    inside a nested container, and `NetPort(All)`: every layer's outputs (in evaluation).

    `layer` is None (a port of the net itself), a key, a tuple of keys (a nested layer) or All.
    Ports compare by value and can be dict keys: `net(x, [NetPort(...), ...])` returns a dict
    keyed by them.

    >>> NetPort("Input")
    NetPort('Input')
    >>> NetPort("bn", "Output")
    NetPort('bn', 'Output')
    >>> NetPort(("block", "bn"), "Output") == NetPort("block", "bn", "Output")
    True
    >>> NetPort(("bn",), "Output") == NetPort("bn", "Output"), NetPort(All)
    (True, NetPort(All))
    """

    __slots__ = ("layer", "port")

    @refuses_deep_nesting("NetPort")
    def __init__(self, *spec: Any):
        if len(spec) == 1 and isinstance(spec[0], (tuple, list)):
            spec = tuple(spec[0])
        if len(spec) == 2 and isinstance(spec[0], (tuple, list)):
            spec = (*spec[0], spec[1])  # NetPort(("block", "bn"), "Output")
        if len(spec) == 1 and spec[0] is All:
            self.layer, self.port = All, None
        elif len(spec) == 1 and isinstance(spec[0], str):
            self.layer, self.port = None, spec[0]
        elif len(spec) >= 2 and isinstance(spec[-1], str) and all(map(_is_key, spec[:-1])):
            keys = tuple(k if isinstance(k, str) else int(k) for k in spec[:-1])
            self.layer = keys[0] if len(keys) == 1 else keys
            self.port = spec[-1]
        else:
            raise NetError(
                'NetPort: expected NetPort("Port"), NetPort(layer, "Port"), '
                f'NetPort((layer, inner layer, ...), "Port") or NetPort(All), got {spec!r:.80}.'
            )

    @property
    def path(self) -> tuple:
        """The layer keys from the outermost container in: () for a port of the net itself."""
        if self.layer is None or self.layer is All:
            return ()
        return self.layer if isinstance(self.layer, tuple) else (self.layer,)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NetPort) and (self.layer, self.port) == (other.layer, other.port)

    def __hash__(self) -> int:
        return hash(("NetPort", self.layer, self.port))

    def __reduce__(self):
        return (NetPort, (self.port,) if self.layer is None else (self.layer, self.port))

    def __repr__(self) -> str:
        if self.layer is All:
            return "NetPort(All)"
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
