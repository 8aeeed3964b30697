"""Data checks of evaluation and NetTrain that name what is wrong: the first value that is not
a number (with its index), a value the working precision cannot hold, and a batch whose examples
lack the channel axis."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import shapes as S
from .errors import NetArrayError, NetDataError, NetShapeError
from .layer import Layer
from .values import NetSharedArray, NumericArray


def refuse_non_number(value: Any, where: str) -> None:
    """Raise a NetDataError naming the first value that is not a number (a string, None, an
    object), its type and its index (the first entry is the example's position in a list or
    batch of examples); return when every value is a number."""
    found = _first_non_number(value, ())
    if found is not None:
        index, bad = found
        bad = bad.item() if isinstance(bad, np.generic) else bad
        raise NetDataError(
            f"{where}: expected numeric data, got {type(bad).__name__} {bad!r:.40} at index "
            f"{index} (in a list or batch of examples: example {index[0]}). Give numbers only."
            if index
            else f"{where}: expected numeric data, got {type(bad).__name__} {bad!r:.40}."
        )


def _first_non_number(value: Any, index: tuple):
    if isinstance(value, np.ndarray) and value.dtype.kind in "fiubc":
        return None
    if isinstance(value, NumericArray) or isinstance(value, (int, float, complex, np.number)):
        return None
    if isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray) and value.ndim):
        for i, v in enumerate(value):
            found = _first_non_number(v, (*index, i))
            if found is not None:
                return found
        return None
    if isinstance(value, np.ndarray):  # 0-d of objects or strings
        return _first_non_number(value.item(), index)
    return index, value


def cast_data(arr: np.ndarray, dtype, where: str, examples: bool = False) -> np.ndarray:
    """`arr` (finite) as `dtype`, without a copy when it already is. A finite value that `dtype`
    cannot hold (1e300 in float32, a class index beyond int64) is a NetDataError naming `where`,
    the value and its index (and example, for a batch of `examples`), instead of numpy's
    overflow warning and an infinity."""
    from .evaluation import all_finite, first_nonfinite

    target = np.dtype(dtype)
    if arr.dtype == target:
        return arr
    if target.kind in "iu" and arr.dtype.kind == "f" and arr.size:
        too_big = np.abs(arr) >= float(np.iinfo(target).max)
        if too_big.any():
            raise _out_of_range(arr, tuple(np.argwhere(too_big)[0]), target, where, examples)
    if target.kind in "iu" and arr.dtype.kind in "iu" and arr.size:  # uint64 would wrap
        info = np.iinfo(target)
        outside = (arr < info.min) | (arr > info.max)
        if outside.any():
            raise _out_of_range(arr, tuple(np.argwhere(outside)[0]), target, where, examples)
    with np.errstate(over="ignore", invalid="ignore"):
        out = arr.astype(target, copy=False)
    narrower = target.kind == "f" and arr.dtype.kind == "f" and target.itemsize < arr.dtype.itemsize
    if narrower and not all_finite(out):  # only a narrowing cast can overflow finite data
        raise _out_of_range(arr, first_nonfinite(out), target, where, examples)
    return out


def check_array_range(values: dict, dtype) -> None:
    """A net's Real64 arrays (given as NumericArray "Real64") must fit the working precision:
    one beyond float32 in a "Real32" evaluation or training is a NetArrayError naming the
    array, the value and its index, instead of numpy's overflow warning and an infinity."""
    if np.dtype(dtype) != np.float32:
        return
    big = float(np.finfo(np.float32).max)
    for aid, v in values.items():
        if v is None or v.dtype != np.float64:
            continue
        over = np.abs(v) > big
        if over.any():
            index = tuple(int(i) for i in np.argwhere(over)[0])
            name = repr(aid.name) if isinstance(aid, NetSharedArray) else "/".join(map(str, aid))
            raise NetArrayError(
                f'array "{name}" holds {v[index]:g} at index {index}, beyond the range of '
                f'float32 (largest magnitude {big:.4g}), the working precision "Real32". Use '
                'WorkingPrecision -> "Real64", or scale the array.'
            )


def _out_of_range(arr, index: tuple, target: np.dtype, where: str, examples: bool) -> NetDataError:
    index = tuple(int(i) for i in index)
    if examples:
        where = f"{where}: example {index[0]}"
    info = np.finfo(target) if target.kind == "f" else np.iinfo(target)
    hint = ' Scale the data, or use WorkingPrecision -> "Real64".' if target.kind == "f" else ""
    return NetDataError(
        f"{where}: the value {_number_text(arr[index])} at index {index} is outside the range of "
        f"{target.name} (largest magnitude {float(info.max):.4g}).{hint}"
    )


def _number_text(value: Any) -> str:
    return str(int(value)) if isinstance(value, np.integer) else f"{value:g}"


def check_missing_axis(net: Layer, inputs: dict, flags: dict) -> None:
    """A batch whose examples lack the channel axis has the port's rank, so it passes as one
    example that does not fit ((5, 8, 8) for Input (3, 8, 8)): say so, as for one example,
    when dropping one axis of the port's shape gives exactly the examples' shape."""
    for port, arr in inputs.items():
        shape = net.port_shape(port)
        r = S.rank(shape)
        if flags[port] or r is None or r < 2 or arr.ndim != r or _fits(shape, arr.shape):
            continue
        for k in (0, r - 1):  # the channel axis is first, or last (Interleaving)
            if _fits(shape[:k] + shape[k + 1 :], arr.shape[1:]):
                c = shape[k]
                fix = "x[:, None]" if k == 0 else "x[..., None]"
                add = f"add an axis of size 1: {fix}" if c == 1 else f"the port takes {c} channels"
                raise NetShapeError(
                    f'{type(net).__name__}: port "{port}" expects an example of shape '
                    f"{S.fmt(shape)} (or a batch of shape (n, {S.fmt(shape)[1:]}), got shape "
                    f"{arr.shape}. Hint: if this is a batch of {arr.shape[0]} examples of shape "
                    f"{arr.shape[1:]}, the channel dimension seems to be missing ({add})."
                )


def channel_hint(shape, example: tuple) -> str:
    """The hint for examples one axis short of a port's shape, where that axis is the first
    (channels) or the last (Interleaving): (8, 8) for (1, 8, 8)."""
    r = S.rank(shape)
    if r is None or r < 2 or len(example) != r - 1:
        return ""
    for k in (0, r - 1):
        if _fits(shape[:k] + shape[k + 1 :], example):
            c = shape[k]
            fix = "add an axis of size 1" if c == 1 else f"the port takes {c} channels"
            return f" Hint: the channel dimension seems to be missing ({fix})."
    return ""


def _fits(shape: tuple, dims: tuple) -> bool:
    return len(shape) == len(dims) and all(d is None or d == e for d, e in zip(shape, dims))
