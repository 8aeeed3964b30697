"""Strict validation of a manifest (JSON values from an untrusted file) into checked specs.

Every location is checked for its JSON type and every message names it, as a path from the
manifest root (``net.layers["bn"].options.Epsilon``). Layer types resolve only through the closed
registry `LAYER_TYPES`; nothing is imported or called by name. The result, a `Check`, holds
plain Python values that `netgraph.manifest` hands to the layer constructors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .containers import NetGraph
from .errors import NetLoadError, did_you_mean
from .layer import LAYER_TYPES

MAX_DEPTH = 64  # nested containers or nested option values
MAX_RANK = 32
ARRAY_DTYPES = {"float32": np.dtype("float32"), "float64": np.dtype("float64")}
SHARED_PREFIX = "__shared__/"


@dataclass
class LeafSpec:
    cls: type
    path: tuple
    options: dict
    ports: dict  # the port shapes the layer was given (constraints for its constructor)
    inputs: dict  # every input port with its inferred shape
    outputs: dict
    arrays: dict  # array name -> None | ("tensor", key) | ("shared", name)
    lrm: Any
    decoders: dict = field(default_factory=dict)  # output port -> NetDecoder


@dataclass
class GraphSpec:
    cls: type
    path: tuple
    layers: dict
    conns: dict  # (key, input port) -> (key or None, port)
    outputs: dict  # output port -> (key or None, port)
    ports: dict
    lrm: Any
    decoders: dict = field(default_factory=dict)  # output port -> NetDecoder


@dataclass
class Check:
    net: LeafSpec | GraphSpec | None = None
    shared: dict = field(default_factory=dict)  # name -> tensor key or None
    ports: dict = field(default_factory=dict)  # "inputs"/"outputs" -> {port: shape}
    tensors: dict = field(default_factory=dict)  # key -> (dtype, shape)
    refs: dict = field(default_factory=dict)  # tensor key -> where it is referenced
    shared_refs: dict = field(default_factory=dict)  # shared name -> where first used


# ------------------------------------------------------------------------ JSON types


def _kind(value: Any) -> str:
    names = {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        type(None): "null",
    }
    return f"{names.get(type(value), type(value).__name__)} ({str(value)[:60]})"


def bad(where: str, expected: str, got: Any) -> NetLoadError:
    return NetLoadError(f"manifest {where}: expected {expected}, got {_kind(got)}.")


def obj(data: Any, where: str, required: tuple, optional: tuple = ()) -> dict:
    if not isinstance(data, dict):
        raise bad(where, "an object", data)
    for key in required:
        if key not in data:
            raise NetLoadError(f'manifest {where}: missing key "{key}".')
    for key in data:
        if key not in required and key not in optional:
            raise NetLoadError(
                f'manifest {where}: unknown key "{key}".'
                + did_you_mean(key, [*required, *optional])
            )
    return data


def string(data: Any, where: str) -> str:
    if not isinstance(data, str):
        raise bad(where, "a string", data)
    return data


def is_int(data: Any) -> bool:
    return type(data) is int  # JSON true/false are not ints here


def layer_key(data: Any, where: str) -> int | str:
    if isinstance(data, str) or (is_int(data) and data >= 0):
        return data
    raise bad(where, "a layer key (a string name or an int position)", data)


def shape(data: Any, where: str) -> Any:
    """null, or a list of positive ints, nulls (unknown) and at most one "..."."""
    if data is None:
        return None
    if not isinstance(data, list) or len(data) > MAX_RANK:
        raise bad(where, f"a shape (null or a list of at most {MAX_RANK} dims)", data)
    dims = []
    for i, d in enumerate(data):
        if d == "..." and Ellipsis not in dims:
            dims.append(Ellipsis)
        elif d is None or (is_int(d) and d >= 1):
            dims.append(d)
        else:
            raise bad(f"{where}[{i}]", 'a positive int, null or one "..."', d)
    return tuple(dims)


def shapes(data: Any, where: str) -> dict:
    if not isinstance(data, dict):
        raise bad(where, "an object of port shapes", data)
    return {string(p, where): shape(s, f"{where}.{p}") for p, s in data.items()}


def decode_value(data: Any, where: str, sentinels: dict, depth: int = 0) -> Any:
    """The Python value of an encoded option value (see `netgraph.manifest`)."""
    if depth > MAX_DEPTH:
        raise NetLoadError(f"manifest {where}: nested more than {MAX_DEPTH} levels deep.")
    if data is None or isinstance(data, (bool, str, int)):
        return data
    if isinstance(data, float):
        if not math.isfinite(data):
            raise bad(where, "a finite number", data)
        return data
    if isinstance(data, list):
        return [decode_value(v, f"{where}[{i}]", sentinels, depth + 1) for i, v in enumerate(data)]
    if not isinstance(data, dict) or len(data) != 1:
        raise bad(where, 'a value or a one-key tag {"tuple"|"dict"|"sentinel": ...}', data)
    ((tag, body),) = data.items()
    inner = f"{where}.{tag}"
    if tag == "tuple" and isinstance(body, list):
        return tuple(
            decode_value(v, f"{inner}[{i}]", sentinels, depth + 1) for i, v in enumerate(body)
        )
    if tag == "dict" and isinstance(body, list):
        out = {}
        for i, pair in enumerate(body):
            if not isinstance(pair, list) or len(pair) != 2:
                raise bad(f"{inner}[{i}]", "a [key, value] pair", pair)
            key = decode_value(pair[0], f"{inner}[{i}][0]", sentinels, depth + 1)
            if isinstance(key, (list, dict)):
                raise bad(f"{inner}[{i}][0]", "a hashable key", pair[0])
            out[key] = decode_value(pair[1], f"{inner}[{i}][1]", sentinels, depth + 1)
        return out
    if tag == "sentinel" and isinstance(body, str) and body in sentinels:
        return sentinels[body]
    raise bad(
        where,
        'a one-key tag {"tuple": [...]}, {"dict": [[k, v], ...]} or '
        f'{{"sentinel": {" | ".join(sentinels)}}}',
        data,
    )


# ------------------------------------------------------------------------ the manifest


def check_format(manifest: Any, fmt: str, version: int) -> None:
    """The manifest is an object of format `fmt` and a format_version this code reads."""
    if not isinstance(manifest, dict):
        raise bad("(root)", "an object", manifest)
    if manifest.get("format") != fmt:
        raise NetLoadError(
            f'not a netgraph net: the manifest "format" is {_kind(manifest.get("format"))}, '
            f'expected "{fmt}".'
        )
    v = manifest.get("format_version")
    if not is_int(v) or v < 1:
        raise bad("format_version", "a positive integer", v)
    if v > version:
        written = manifest.get("netgraph_version")
        by = f" (written by netgraph {written[:40]})" if isinstance(written, str) else ""
        raise NetLoadError(
            f"format_version {v} is newer than supported {version}{by}: upgrade netgraph to "
            "load this file."
        )


def check_manifest(manifest: Any, fmt: str, version: int, sentinels: dict) -> Check:
    """Check the format and version first, then everything else; a `Check` or NetLoadError."""
    from .manifest import tensor_key  # the one definition of tensor keys

    check_format(manifest, fmt, version)
    top = ("format", "format_version", "netgraph_version", "net", "shared", "ports", "tensors")
    obj(manifest, "(root)", top, optional=("other_tensors",))  # checked by netgraph.files
    string(manifest["netgraph_version"], "netgraph_version")
    check = Check()
    check.net = _node(manifest["net"], "net", (), check, sentinels, tensor_key, 0)
    _check_shared(manifest["shared"], check)
    ports = obj(manifest["ports"], "ports", ("inputs", "outputs"))
    check.ports = {k: shapes(ports[k], f"ports.{k}") for k in ("inputs", "outputs")}
    check.tensors = tensor_table(manifest["tensors"], "tensors", ARRAY_DTYPES)
    _check_references(check)
    return check


def tensor_table(data: Any, where: str, dtypes: dict) -> dict:
    """{key: {"dtype": name, "shape": [dims]}} -> {key: (numpy dtype, shape tuple)}."""
    if not isinstance(data, dict):
        raise bad(where, "an object of tensor descriptions", data)
    out = {}
    for key, entry in data.items():
        w = f'{where}["{key}"]'
        entry = obj(entry, w, ("dtype", "shape"))
        if not isinstance(entry["dtype"], str) or entry["dtype"] not in dtypes:
            raise bad(f"{w}.dtype", " or ".join(f'"{d}"' for d in dtypes), entry["dtype"])
        dims = entry["shape"]
        if (
            not isinstance(dims, list)
            or len(dims) > MAX_RANK
            or not all(is_int(d) and d >= 0 for d in dims)
        ):
            raise bad(f"{w}.shape", "a list of ints >= 0", dims)
        out[key] = (dtypes[entry["dtype"]], tuple(dims))
    return out


def _check_shared(data: Any, check: Check) -> None:
    if not isinstance(data, dict):
        raise bad("shared", "an object of shared-array names", data)
    for name, ref in data.items():
        if ref is not None and ref != SHARED_PREFIX + name:
            raise bad(f'shared["{name}"]', f'null or "{SHARED_PREFIX}{name}"', ref)
        check.shared[name] = ref
        if ref is not None:
            check.refs[ref] = f'shared["{name}"]'
    used, listed = set(check.shared_refs), set(check.shared)
    if used != listed:
        extra = sorted(listed - used) or sorted(used - listed)
        what = "lists unused" if listed - used else "lacks"
        raise NetLoadError(f"manifest shared: {what} shared arrays {extra}.")


def _check_references(check: Check) -> None:
    for key, where in check.refs.items():
        if key not in check.tensors:
            raise NetLoadError(
                f'manifest {where}: refers to tensor "{key}", which "tensors" does not list.'
            )
    for key in check.tensors:
        if key not in check.refs:
            raise NetLoadError(f'manifest tensors: "{key}" is listed but no array refers to it.')


def _node(data, where, path, check, sentinels, tensor_key, depth):
    if depth > MAX_DEPTH:
        raise NetLoadError(f"manifest {where}: containers nested more than {MAX_DEPTH} deep.")
    if not isinstance(data, dict):
        raise bad(where, "an object describing a layer", data)
    name = string(data.get("type"), f"{where}.type")
    cls = LAYER_TYPES.get(name)
    if cls is None:
        raise NetLoadError(
            f'manifest {where}.type: unknown layer type "{name}".' + did_you_mean(name, LAYER_TYPES)
        )
    if issubclass(cls, NetGraph):
        return _graph(data, where, path, cls, check, sentinels, tensor_key, depth)
    node = obj(
        data,
        where,
        ("type", "options", "ports", "inputs", "outputs", "arrays", "learning_rate_multipliers"),
        optional=("decoders",),
    )
    if not isinstance(node["options"], dict):
        raise bad(f"{where}.options", "an object of options", node["options"])
    options = {
        k: decode_value(v, f"{where}.options.{k}", sentinels) for k, v in node["options"].items()
    }
    arrays = {}
    if not isinstance(node["arrays"], dict):
        raise bad(f"{where}.arrays", "an object of array references", node["arrays"])
    for array, ref in node["arrays"].items():
        w = f"{where}.arrays.{array}"
        key = tensor_key(path, array)
        if ref is None:
            arrays[array] = None
        elif ref == key:
            arrays[array] = ("tensor", key)
            check.refs[key] = w
        elif isinstance(ref, dict) and set(ref) == {"shared"} and isinstance(ref["shared"], str):
            arrays[array] = ("shared", ref["shared"])
            check.shared_refs.setdefault(ref["shared"], w)
        else:
            raise bad(w, f'null, "{key}" or {{"shared": name}}', ref)
    lrm = decode_value(
        node["learning_rate_multipliers"], f"{where}.learning_rate_multipliers", sentinels
    )
    return LeafSpec(
        cls,
        path,
        options,
        shapes(node["ports"], f"{where}.ports"),
        shapes(node["inputs"], f"{where}.inputs"),
        shapes(node["outputs"], f"{where}.outputs"),
        arrays,
        lrm,
        decoders(node.get("decoders"), f"{where}.decoders"),
    )


def _source(data: Any, where: str, keys: dict) -> tuple:
    """[layer key or null, port] with the key naming a layer of this container."""
    if not isinstance(data, list) or len(data) != 2:
        raise bad(where, "a [layer key or null, port] pair", data)
    key, port = data
    if key is not None:
        key = layer_key(key, f"{where}[0]")
        if key not in keys:
            raise NetLoadError(f"manifest {where}[0]: no layer {key!r} in this container.")
    return key, string(port, f"{where}[1]")


def _graph(data, where, path, cls, check, sentinels, tensor_key, depth):
    node = obj(
        data,
        where,
        ("type", "layers", "connections", "outputs", "ports", "learning_rate_multipliers"),
        optional=("decoders",),
    )
    items = node["layers"]
    if not isinstance(items, list) or not items:
        raise bad(f"{where}.layers", "a non-empty list of [key, layer] pairs", items)
    layers: dict = {}
    for i, pair in enumerate(items):
        if not isinstance(pair, list) or len(pair) != 2:
            raise bad(f"{where}.layers[{i}]", "a [key, layer] pair", pair)
        key = layer_key(pair[0], f"{where}.layers[{i}][0]")
        if key in layers or (is_int(key) and key != i):
            raise bad(f"{where}.layers[{i}][0]", f"a new name or the position {i}", key)
        sub = f"{where}.layers[{key!r}]".replace("'", '"')
        layers[key] = _node(pair[1], sub, (*path, key), check, sentinels, tensor_key, depth + 1)
    if len({type(k) for k in layers}) > 1:
        raise bad(f"{where}.layers", "keys that are all names or all positions", list(layers))
    conns = {}
    if not isinstance(node["connections"], list):
        raise bad(
            f"{where}.connections",
            "a list of [[key, port], [key or null, port]]",
            node["connections"],
        )
    for i, pair in enumerate(node["connections"]):
        w = f"{where}.connections[{i}]"
        if not isinstance(pair, list) or len(pair) != 2 or pair[0] is None:
            raise bad(w, "a [[key, input port], [key or null, port]] pair", pair)
        dst = _source(pair[0], f"{w}[0]", layers)
        if dst[0] is None or dst in conns:
            raise bad(f"{w}[0]", "a layer input port connected once", pair[0])
        conns[dst] = _source(pair[1], f"{w}[1]", layers)
    outputs = {}
    if not isinstance(node["outputs"], list):
        raise bad(f"{where}.outputs", "a list of [port, [key or null, port]]", node["outputs"])
    for i, pair in enumerate(node["outputs"]):
        w = f"{where}.outputs[{i}]"
        if not isinstance(pair, list) or len(pair) != 2:
            raise bad(w, "a [port, [key or null, port]] pair", pair)
        name = string(pair[0], f"{w}[0]")
        if name in outputs:
            raise bad(f"{w}[0]", "a new output port name", name)
        outputs[name] = _source(pair[1], f"{w}[1]", layers)
    lrm = decode_value(
        node["learning_rate_multipliers"], f"{where}.learning_rate_multipliers", sentinels
    )
    return GraphSpec(
        cls,
        path,
        layers,
        conns,
        outputs,
        shapes(node["ports"], f"{where}.ports"),
        lrm,
        decoders(node.get("decoders"), f"{where}.decoders"),
    )


def decoders(data: Any, where: str) -> dict:
    """{port: {"type": "Class", "labels": [str | int | float | bool, ...]} | {"type":
    "Boolean", "labels": null}} -> {port: NetDecoder}; labels are plain JSON values only."""
    from .decoders import DECODER_TYPES, NetDecoder
    from .errors import NetError

    if data is None:
        return {}
    if not isinstance(data, dict):
        raise bad(where, "an object of output-port decoders", data)
    out = {}
    for port, spec in data.items():
        w = f"{where}.{port}"
        spec = obj(spec, w, ("type", "labels"))
        kind = spec["type"]
        if not isinstance(kind, str) or kind not in DECODER_TYPES:
            raise bad(f"{w}.type", " or ".join(f'"{t}"' for t in DECODER_TYPES), kind)
        labels = spec["labels"]
        if kind == "Boolean":
            if labels is not None:
                raise bad(f"{w}.labels", "null for a Boolean decoder", labels)
            out[port] = NetDecoder("Boolean")
            continue
        if not isinstance(labels, list):
            raise bad(f"{w}.labels", "a list of class labels", labels)
        for i, label in enumerate(labels):
            ok = isinstance(label, (str, bool, int)) or (
                isinstance(label, float) and math.isfinite(label)
            )
            if not ok:
                raise bad(f"{w}.labels[{i}]", "a string, number or boolean", label)
        try:
            out[port] = NetDecoder(("Class", labels))
        except NetError as exc:
            raise NetLoadError(f"manifest {w}: {exc}") from None
    return out
