"""A net as a JSON-safe manifest plus named arrays, and back: the description behind Export.

`net_to_manifest(net)` returns ``(manifest, tensors)``: a dict of JSON values describing every
layer (type name, options in Wolfram spelling, given port shapes, learning-rate multipliers,
which arrays are set or shared) and every container (layer keys, connections, output ports), and
the arrays by tensor key: ``"<layer path>/<ArrayName>"`` (path segments with ``%``, ``/`` and a
leading ``_`` escaped as ``%25``, ``%2F``, ``%5F``) or ``"__shared__/<name>"``.
`net_from_manifest(manifest, tensors)` validates the manifest strictly, resolves layer types
only through the closed registry `LAYER_TYPES`, rebuilds the net with the normal constructors
and checks every array against it; it returns a complete net or raises `NetLoadError`.

Option values are encoded generically: JSON null/bool/int/float/str/list stand for themselves,
and every JSON object is a one-key tag: ``{"tuple": [...]}``, ``{"dict": [[key, value], ...]}``
or ``{"sentinel": "Automatic" | "All" | "Ellipsis"}``, so tuples come back as tuples (the option
models are strict). A Python callable has no encoding: it cannot be saved.

>>> import netgraph as ng
>>> net = ng.NetInitialize(ng.BatchNormalizationLayer(Input=2, Epsilon=0.01))
>>> manifest, tensors = net_to_manifest(net)
>>> manifest["net"]["options"]
{'Epsilon': 0.01, 'Momentum': 0.9, 'Interleaving': False}
>>> sorted(tensors)
['Biases', 'MovingMean', 'MovingVariance', 'Scaling']
>>> net_from_manifest(manifest, tensors) == net
True
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic.alias_generators import to_pascal

from ._manifest_build import _build, _check_array_shapes, _check_ports, _check_tensors
from ._manifest_check import MAX_DEPTH, SHARED_PREFIX, check_manifest
from ._manifest_values import (
    SENTINELS,
    _encode_option,
    encode_shape,
    encode_value,
    segment,
    tensor_key,
    where_of,
)
from .containers import NetGraph
from .errors import NetSaveError
from .layer import Layer
from .values import NetSharedArray

__all__ = [  # also the names other modules import from here; _manifest_values holds some
    "FORMAT",
    "FORMAT_VERSION",
    "SENTINELS",
    "_encode_option",
    "encode_shape",
    "encode_value",
    "net_from_manifest",
    "net_to_manifest",
    "segment",
    "tensor_key",
    "where_of",
]

FORMAT = "netgraph"
FORMAT_VERSION = 1


def _version() -> str:
    from . import __version__

    return __version__


# ------------------------------------------------------------------------ net -> manifest


def net_to_manifest(net: Layer) -> tuple[dict, dict[str, np.ndarray]]:
    """``(manifest, tensors)`` describing `net` completely; NetSaveError if it cannot be saved.

    The manifest holds JSON values only; `tensors` maps tensor keys to the net's arrays (not
    copied: they are read-only).
    """
    if not isinstance(net, Layer):
        raise NetSaveError(f"expected a layer or net to save, got {type(net).__name__}.")
    _check_container_depth(net)
    tensors: dict[str, np.ndarray] = {}
    description = _describe(net, (), tensors)
    shared = {}
    for name, value in net._shared.items():
        if value is not None:
            tensors[SHARED_PREFIX + name] = value
        shared[name] = None if value is None else SHARED_PREFIX + name
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "netgraph_version": _version(),
        "net": description,
        "shared": shared,
        "ports": {
            "inputs": {p: encode_shape(s) for p, s in net.input_shapes.items()},
            "outputs": {p: encode_shape(s) for p, s in net.output_shapes.items()},
        },
        "tensors": {
            key: {"dtype": a.dtype.name, "shape": list(a.shape)} for key, a in tensors.items()
        },
    }
    return manifest, tensors


def _check_container_depth(net: Layer) -> None:
    """NetSaveError when containers nest deeper than Import reads (checked before any recursion
    into the net)."""
    deepest, stack = (0, (), net), [((), net)]
    while stack:
        path, layer = stack.pop()
        if len(path) > deepest[0]:
            deepest = (len(path), path, layer)
        if isinstance(layer, NetGraph):
            stack.extend(((*path, k), v) for k, v in layer._given.items())
    depth, path, layer = deepest
    if depth > MAX_DEPTH:
        raise NetSaveError(
            f"{where_of(path[:3] + ('...',) * (len(path) > 3), layer)} is nested {depth} "
            f"containers deep; Import reads at most {MAX_DEPTH} levels, so the net cannot be "
            "saved (nothing was written)."
        )


def _describe(layer: Layer, path: tuple, tensors: dict) -> dict:
    if isinstance(layer, NetGraph):
        return _describe_graph(layer, path, tensors)
    where = where_of(path, layer)
    options = {}
    for name, f in type(layer).Options.model_fields.items():
        alias = f.alias or to_pascal(name)
        options[alias] = _encode_option(getattr(layer._options, name), f'{where} option "{alias}"')
    arrays: dict[str, Any] = {}
    for spec in layer.array_specs:
        value = layer._arrays.get(spec.name)
        if isinstance(value, NetSharedArray):
            arrays[spec.name] = {"shared": value.name}
        elif value is None:
            arrays[spec.name] = None
        else:
            key = tensor_key(path, spec.name)
            tensors[key] = value
            arrays[spec.name] = key
    return {
        "type": type(layer).__name__,
        "options": options,
        "ports": {p: encode_shape(s) for p, s in layer._port_given.items()},
        "inputs": {p.name: encode_shape(layer.port_shape(p.name)) for p in layer.input_ports},
        "outputs": {p.name: encode_shape(layer.port_shape(p.name)) for p in layer.output_ports},
        "arrays": arrays,
        "learning_rate_multipliers": _encode_option(
            layer._lrm, f'{where} option "LearningRateMultipliers"'
        ),
        **_describe_decoders(layer),
    }


def _describe_decoders(layer: Layer) -> dict:
    """{"decoders": {port: {"type": ..., "labels": [...]}}} when the layer has any (files of
    nets without decoders stay as they were)."""
    if not layer._decoders:
        return {}
    return {"decoders": {p: d.to_json() for p, d in layer._decoders.items()}}


def _describe_graph(net: NetGraph, path: tuple, tensors: dict) -> dict:
    where = where_of(path, net)
    return {
        "type": type(net).__name__,
        "layers": [[k, _describe(v, (*path, k), tensors)] for k, v in net._given.items()],
        "connections": [[[k, p], [src, sp]] for (k, p), (src, sp) in net._conns.items()],
        "outputs": [[name, [src, sp]] for name, (src, sp) in net._outputs.items()],
        "ports": {p: encode_shape(s) for p, s in net._port_given.items()},
        "learning_rate_multipliers": _encode_option(
            net._lrm, f'{where} option "LearningRateMultipliers"'
        ),
        **_describe_decoders(net),
    }


# ------------------------------------------------------------------------ manifest -> net


def net_from_manifest(manifest: Any, tensors: dict[str, np.ndarray]) -> Layer:
    """The net a manifest describes, with its arrays from `tensors`; NetLoadError otherwise.

    Checks, in order: the manifest is an object with "format" "netgraph" and a supported
    "format_version"; its whole structure (types everywhere, layer types from the registry);
    the arrays present, with the dtypes and shapes the manifest lists (missing, unexpected and
    mismatched ones reported together); the net rebuilt through the constructors (so every
    option and array value is validated); each array's shape against the rebuilt net; the net's
    port shapes against the recorded ones. Nothing is returned unless everything passed.
    """
    check = check_manifest(manifest, FORMAT, FORMAT_VERSION, SENTINELS)
    _check_tensors(check, tensors)
    skeleton = _build(check.net, None, check, set())
    _check_array_shapes(skeleton, check, tensors)
    net = _build(check.net, tensors, check, set())
    _check_ports(net, check)
    return net
