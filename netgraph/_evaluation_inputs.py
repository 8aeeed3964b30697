"""Preparing an evaluation's data and arrays: the data as numeric arrays by port, one example or
a batch per port, finiteness checks, the data in the working precision, and the net's arrays
checked to be set and cast (once per precision) to the working precision."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import shapes as S
from ._data_checks import cast_data, check_array_range, refuse_non_number
from .errors import (
    NetDataError,
    NetNotInitializedError,
    NetShapeError,
    did_you_mean,
)
from .layer import Layer
from .values import NetPortGradient, NetSharedArray, NumericArray


def as_numeric(value: Any, where: str) -> tuple[np.ndarray, bool]:
    """Data as an ndarray (no copy when possible; never written to). Also: was it a NumericArray."""
    if isinstance(value, NumericArray):
        return np.asarray(value), True
    if isinstance(value, np.ndarray):
        arr = value
    else:
        if (
            isinstance(value, (list, tuple))
            and value
            and all(isinstance(v, NumericArray) for v in value)
        ):
            value = [np.asarray(v) for v in value]
        try:
            arr = np.asarray(value)
        except ValueError:
            refuse_non_number(value, where)
            raise NetDataError(
                f"{where}: the data is ragged (examples of different shapes); "
                "give examples of one shape."
            ) from None
    if arr.dtype.kind in "fiub":
        return arr, False
    if arr.dtype.kind == "c":
        raise NetDataError(f"{where}: complex data is not supported, got dtype {arr.dtype}.")
    refuse_non_number(value, where)  # the value as given: np.asarray makes [1, "x"] strings
    raise NetDataError(
        f"{where}: expected numeric data, got {_describe(arr)}. "
        "Give numbers (lists of the same length or numpy arrays)."
    )


def _describe(arr: np.ndarray) -> str:
    if arr.dtype == object:
        kinds = sorted({type(v).__name__ for v in arr.ravel()[:50]})
        return "objects of type " + "/".join(kinds)
    return f"dtype {arr.dtype}"


_BLAS_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_DOT_MIN_SIZE = 16384  # below this, the plain elementwise test is cheaper


def all_finite(arr: np.ndarray) -> bool:
    """No NaN or infinity in `arr`. Fast path for large arrays: the dot product of the values
    with themselves is NaN or infinite when any value is, in one read-only BLAS pass with no
    temporary; only when it is not finite is every value looked at."""
    if arr.dtype.kind != "f":
        return True
    if arr.size >= _DOT_MIN_SIZE and arr.flags.c_contiguous and arr.dtype in _BLAS_FLOATS:
        flat = arr.reshape(-1)
        with np.errstate(over="ignore", invalid="ignore"):
            if np.isfinite(np.dot(flat, flat)):
                return True
    return bool(np.isfinite(arr).all())


def first_nonfinite(arr: np.ndarray) -> tuple | None:
    if all_finite(arr):
        return None
    bad = ~np.isfinite(arr)
    if not bad.any():
        return None
    return tuple(int(i) for i in np.argwhere(bad)[0])


def split_data(net: Layer, data: Any) -> tuple[dict, dict, bool]:
    """(inputs by port, forced output gradients by port, whether NumericArrays came in)."""
    in_names = [p.name for p in net.input_ports]
    out_names = [p.name for p in net.output_ports]
    forced: dict = {}
    numeric_in = False
    if isinstance(data, dict):
        inputs = {}
        for key, value in data.items():
            if isinstance(key, NetPortGradient):
                if key.spec not in out_names:
                    raise NetDataError(
                        f"a forced gradient must name an output port, got {key!r}."
                        + did_you_mean(key.spec, out_names)
                    )
                forced[key.spec], _ = as_numeric(value, f'gradient of port "{key.spec}"')
            elif key in in_names:
                inputs[key], na = as_numeric(value, f'port "{key}"')
                numeric_in |= na
            else:
                raise NetDataError(
                    f'{type(net).__name__} has no input port "{key}".' + did_you_mean(key, in_names)
                )
        missing = [n for n in in_names if n not in inputs]
        if missing:
            raise NetDataError(
                f"{type(net).__name__}: no data for input port(s) "
                + ", ".join(f'"{m}"' for m in missing)
                + "."
            )
    else:
        if len(in_names) != 1:
            raise NetDataError(
                f"{type(net).__name__} has {len(in_names)} input ports "
                f"({', '.join(in_names)}); give a dict {{port: data}}."
            )
        arr, numeric_in = as_numeric(data, f'port "{in_names[0]}"')
        inputs = {in_names[0]: arr}
    return inputs, forced, numeric_in


def batch_flags(net: Layer, inputs: dict) -> tuple[dict, int | None]:
    """Per port: is the data a batch? And the batch size (None for a single example)."""
    flags, sizes = {}, set()
    for port, arr in inputs.items():
        shape = net.port_shape(port)
        r = S.rank(shape)
        if r is not None:
            if arr.ndim == r:
                flags[port] = False
            elif arr.ndim == r + 1:
                flags[port] = True
            else:
                raise NetShapeError(
                    f'{type(net).__name__}: port "{port}" expects an array of rank {r} '
                    f"{S.fmt(shape)} (or rank {r + 1} for a batch), got rank {arr.ndim} "
                    f"with shape {arr.shape}." + _rank_hint(net, port, r, arr)
                )
        else:
            flags[port] = arr.ndim > max(S.min_rank(shape), 1)
    # A port of unknown rank follows the ports of known rank; among guesses a batch wins
    # (a standalone CrossEntropyLossLayer["Index"]: Input (N, c) beside Target (N,)).
    guessed = [p for p in inputs if S.rank(net.port_shape(p)) is None]
    known = {flags[p] for p in inputs if p not in guessed}
    if guessed and len(set(flags.values())) > 1 and len(known) <= 1:
        batch = known.pop() if known else True
        for p in guessed:
            flags[p] = batch and inputs[p].ndim > 0
    sizes = {arr.shape[0] for p, arr in inputs.items() if flags[p]}
    if len(set(flags.values())) > 1:
        raise NetDataError(
            f"{type(net).__name__}: some ports got one example and others a batch: "
            + ", ".join(f"{p}: {'batch' if b else 'example'}" for p, b in flags.items())
            + "."
        )
    if len(sizes) > 1:
        raise NetDataError(
            f"{type(net).__name__}: the input ports got batches of different sizes {sorted(sizes)}."
        )
    return flags, (sizes.pop() if sizes else None)


def _rank_hint(net: Layer, port: str, r: int, arr: np.ndarray) -> str:
    if arr.ndim == r - 1:
        return " Hint: the channel dimension seems to be missing (add an axis of size 1)."
    return ""


def check_initialized(net: Layer, action: str = "evaluate") -> dict:
    values = net._array_values()
    missing = [aid for aid, v in values.items() if v is None]
    if missing:
        shown = ", ".join(_aid_str(a) for a in missing[:8]) + (" ..." if len(missing) > 8 else "")
        raise NetNotInitializedError(
            f"Cannot {action} {type(net).__name__}: arrays not set: {shown}. "
            "Call NetInitialize(net) (or NetTrain) first."
        )
    return values


_DTYPE_NAMES = {np.float32: "float32", np.float64: "float64"}  # np.dtype(t).name costs ~5 us


def _working_values(net: Layer, dtype) -> dict:
    """cast_values(net, check_initialized(net), dtype), straight from the net's cache when it
    is there: a net value is immutable, so once cast it was initialized and stays so."""
    cast = net._cache.get(("values", _DTYPE_NAMES.get(dtype) or np.dtype(dtype).name))
    return cast if cast is not None else cast_values(net, check_initialized(net), dtype)


def _aid_str(aid: Any) -> str:
    return repr(aid) if isinstance(aid, NetSharedArray) else repr(tuple(aid))


def cast_values(net: Layer, values: dict, dtype) -> dict:
    """The arrays in the working precision (cached per precision on the net value, read-only
    like the net's own arrays: every later evaluation reads them)."""
    name = _DTYPE_NAMES.get(dtype) or np.dtype(dtype).name
    cast = net._cache.get(("values", name))
    if cast is None:
        # one cast per array and precision, shared by the net and its specialisations; the
        # pool keeps each source array alive, so its id cannot be reused by another array
        pool = net._cache.setdefault("casts", {})
        check_array_range(values, dtype)
        cast = {}
        for aid, v in values.items():
            if v.dtype != dtype:
                hit = pool.get((id(v), name))
                if hit is None:
                    hit = pool[id(v), name] = (v, _read_only(v.astype(dtype)))
                v = hit[1]
            cast[aid] = v
        net._cache[("values", name)] = cast
    return cast


def _read_only(arr: np.ndarray) -> np.ndarray:
    arr.setflags(write=False)
    return arr


def _port_dtype(net: Layer, port: str, dtype):
    for p in net.input_ports:
        if p.name == port and p.dtype == "Integer":
            return np.int64
    return dtype


def refuse_empty(net: Layer, inputs: dict) -> None:
    empty = [p for p, a in inputs.items() if a.size == 0]
    if empty:
        raise NetDataError(
            f'{type(net).__name__}: the data for port "{empty[0]}" is empty '
            f"(shape {inputs[empty[0]].shape}): there is nothing to evaluate."
        )


def batch_inputs(net: Layer, inputs: dict, flags: dict, dtype) -> dict:
    """Each port's data, checked finite (and integral for an Integer port), in the port's
    working dtype, as a batch (one example gets a leading axis of 1)."""
    batched = {}
    for port, arr in inputs.items():
        where = first_nonfinite(arr)
        if where is not None:
            raise NetDataError(
                f'port "{port}": the data contains NaN or infinite values (first at index {where}).'
            )
        port_dtype = _port_dtype(net, port, dtype)
        if port_dtype is np.int64 and arr.dtype.kind == "f" and np.any(arr != np.round(arr)):
            raise NetDataError(
                f'{type(net).__name__}: port "{port}" takes integers (class indices), got '
                f"{arr[arr != np.round(arr)].flat[0]}."
            )
        arr = cast_data(arr, port_dtype, f'{type(net).__name__}: port "{port}"')
        batched[port] = arr if flags[port] else arr[None]
    return batched
