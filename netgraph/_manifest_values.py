"""Encoding a net's values for its manifest: tensor keys (escaped layer paths), the layer named
in messages, option values as tagged JSON, and port shapes."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._limits import nesting_depth
from ._manifest_check import MAX_DEPTH
from .errors import NetSaveError
from .values import All, Automatic

SENTINELS = {"Automatic": Automatic, "All": All, "Ellipsis": Ellipsis}


def segment(key: Any) -> str:
    """One path segment of a tensor key, escaped so that distinct paths give distinct keys."""
    s = str(key).replace("%", "%25").replace("/", "%2F")
    return "%5F" + s[1:] if s.startswith("_") else s


def tensor_key(path: tuple, name: str) -> str:
    """The tensor name of array `name` of the layer at `path`: ``"conv/Weights"``."""
    return "/".join(segment(k) for k in (*path, name))


def where_of(path: tuple, layer: Any) -> str:
    kind = layer.__name__ if isinstance(layer, type) else type(layer).__name__
    if not path:
        return f"{kind} (the top-level net)"
    return f'{kind} "{"/".join(map(str, path))}"'


def encode_value(value: Any, where: str) -> Any:
    """A JSON-safe form of an option value; NetSaveError for anything with no file form."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            raise NetSaveError(f"{where}: the value {value!r} is not finite and cannot be saved.")
        return float(value)
    for name, sentinel in SENTINELS.items():
        if value is sentinel:
            return {"sentinel": name}
    if isinstance(value, tuple):
        return {"tuple": [encode_value(v, where) for v in value]}
    if isinstance(value, list):
        return [encode_value(v, where) for v in value]
    if isinstance(value, dict):
        return {
            "dict": [[encode_value(k, where), encode_value(v, where)] for k, v in value.items()]
        }
    if callable(value):
        raise NetSaveError(
            f"{where} is a Python callable ({value!r:.80}), which cannot be saved: a netgraph "
            "file never carries code, because loading it would then run that code. Use a named "
            'function (such as "Ramp" or "Tanh"), or save the other layers and rebuild this one '
            "after Import."
        )
    raise NetSaveError(
        f"{where}: a {type(value).__name__} value ({value!r:.60}) has no file form; options must "
        "be numbers, strings, booleans, None, Automatic, or tuples, lists and dicts of them."
    )


def encode_shape(shape: Any) -> Any:
    if shape is None:
        return None
    return ["..." if d is Ellipsis else d for d in shape]


def _encode_option(value: Any, where: str) -> Any:
    """`encode_value` after checking the nesting depth against what Import reads."""
    depth, cap = nesting_depth(value, 1000), 1000
    if depth > MAX_DEPTH:
        raise NetSaveError(
            f"{where}: the value is nested {'at least ' * (depth == cap)}{depth} levels deep; "
            f"Import reads at most {MAX_DEPTH} levels, so it cannot be saved (nothing was written)."
        )
    return encode_value(value, where)
