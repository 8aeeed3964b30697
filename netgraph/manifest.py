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

import math
from typing import Any

import numpy as np
from pydantic.alias_generators import to_pascal

from . import shapes as S
from ._limits import nesting_depth
from ._manifest_check import MAX_DEPTH, SHARED_PREFIX, Check, GraphSpec, LeafSpec, check_manifest
from .containers import NetChain, NetGraph
from .errors import NetError, NetLoadError, NetSaveError
from .layer import Layer
from .parts import NetReplacePart
from .values import All, Automatic, NetPort, NetSharedArray, NumericArray

FORMAT = "netgraph"
FORMAT_VERSION = 1
SENTINELS = {"Automatic": Automatic, "All": All, "Ellipsis": Ellipsis}


def _version() -> str:
    from . import __version__

    return __version__


# ------------------------------------------------------------------------ encoding values


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


def _encode_option(value: Any, where: str) -> Any:
    """`encode_value` after checking the nesting depth against what Import reads."""
    depth, cap = nesting_depth(value, 1000), 1000
    if depth > MAX_DEPTH:
        raise NetSaveError(
            f"{where}: the value is nested {'at least ' * (depth == cap)}{depth} levels deep; "
            f"Import reads at most {MAX_DEPTH} levels, so it cannot be saved (nothing was written)."
        )
    return encode_value(value, where)


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


def _check_tensors(check: Check, tensors: dict) -> None:
    """load_state_dict(strict=True)-style report: missing, unexpected, dtype and size mismatch."""
    expected = check.tensors
    missing = [k for k in expected if k not in tensors]
    unexpected = [k for k in tensors if k not in expected]
    problems = []
    for key, (dtype, shape) in expected.items():
        a = tensors.get(key)
        if a is None:
            continue
        if a.dtype != dtype:
            problems.append(
                f'dtype mismatch for "{key}": the file has {a.dtype}, the manifest says {dtype}'
            )
        elif a.shape != shape:
            problems.append(
                f'size mismatch for "{key}": the file has shape {a.shape}, the '
                f"manifest says {shape}"
            )
    _report(missing, unexpected, problems)


def _report(missing: list, unexpected: list, problems: list) -> None:
    parts = []
    if missing:
        parts.append("missing arrays " + ", ".join(f'"{k}"' for k in missing))
    if unexpected:
        parts.append("unexpected arrays " + ", ".join(f'"{k}"' for k in unexpected))
    parts += problems
    if parts:
        raise NetLoadError("error(s) in loading the arrays: " + "; ".join(parts) + ".")


def _check_array_shapes(skeleton: Layer, check: Check, tensors: dict) -> None:
    """Every stored array fits the shape the net (built without arrays) infers for it."""
    problems, seen = [], set()
    for path, leaf in skeleton._leaves():
        for spec in leaf.array_specs:
            value = leaf._arrays.get(spec.name)
            if isinstance(value, NetSharedArray):
                key = check.shared.get(value.name)
            else:
                key = tensor_key(path, spec.name)
            if key is None or key not in tensors or key in seen:
                continue
            needed = leaf.array_shape(spec.name)
            try:
                S.unify(needed, tensors[key].shape)
            except S.ShapeConflict:
                seen.add(key)
                problems.append(
                    f'size mismatch for "{key}": the file has shape {tensors[key].shape}, the '
                    f"net needs {S.fmt(needed)}"
                )
    _report([], [], problems)


def _check_ports(net: Layer, check: Check) -> None:
    for kind, actual in (("inputs", net.input_shapes), ("outputs", net.output_shapes)):
        recorded = check.ports[kind]
        if list(recorded) != list(actual):
            raise NetLoadError(
                f"the rebuilt net has {kind[:-1]} ports {list(actual)}, the manifest records "
                f"{list(recorded)}."
            )
        for port, shape in recorded.items():
            try:
                S.unify(shape, actual[port])
            except S.ShapeConflict:
                raise NetLoadError(
                    f'port "{port}" of the rebuilt net has shape {S.fmt(actual[port])}, the '
                    f"manifest records {S.fmt(shape)}."
                ) from None


# ------------------------------------------------------------------------ building


def _build(spec: LeafSpec | GraphSpec, tensors: dict | None, check: Check, attached: set) -> Layer:
    """The layer a checked spec describes; arrays from `tensors` (None: a skeleton, no arrays).

    A shared array's value is given to the first leaf that uses it (`attached` records which);
    the containers then hold it, as when a user builds the net.
    """
    if isinstance(spec, GraphSpec):
        layers = {k: _build(s, tensors, check, attached) for k, s in spec.layers.items()}
        return _guard(spec, lambda: _make_graph(spec, layers))
    return _guard(spec, lambda: _make_leaf(spec, tensors, check, attached))


def _guard(spec: LeafSpec | GraphSpec, make) -> Layer:
    """Run a constructor; any failure becomes a NetLoadError naming the layer."""
    try:
        return make()
    except NetLoadError:
        raise
    except NetError as exc:
        message = str(exc).removeprefix(f"{spec.cls.__name__}: ")  # the path names it already
        raise NetLoadError(f"{where_of(spec.path, spec.cls)}: {message}") from exc
    except Exception as exc:  # a constructor given values it cannot take: still a bad file
        raise NetLoadError(
            f"{where_of(spec.path, spec.cls)} could not be rebuilt from the file: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def _array_argument(a: np.ndarray) -> Any:
    """A stored array as a constructor argument that keeps its dtype (float64 stays float64)."""
    return NumericArray(a, "Real64") if a.dtype == np.float64 else a


def _constructor_arguments(spec: LeafSpec) -> tuple[list, dict]:
    """Positional options (as users pass them) and keyword options in Wolfram spelling."""
    cls = spec.cls
    alias_of = {n: f.alias or to_pascal(n) for n, f in cls.Options.model_fields.items()}
    options = dict(spec.options)
    args = []
    for name in cls.positional:
        if alias_of.get(name) not in options:
            break
        args.append(options.pop(alias_of[name]))
    return args, options


def _make_leaf(spec: LeafSpec, tensors: dict | None, check: Check, attached: set) -> Layer:
    cls = spec.cls
    args, kwargs = _constructor_arguments(spec)
    shared_values = {}
    for name, ref in spec.arrays.items():
        if ref is None:
            continue
        kind, target = ref
        if kind == "shared":
            kwargs[name] = NetSharedArray(target)
            key = check.shared.get(target)
            if tensors is not None and key is not None and target not in attached:
                shared_values[target] = tensors[key]
        elif tensors is not None:
            kwargs[name] = _array_argument(tensors[target])
    # Given port shapes go to the constructor; a variadic layer's further ports (Input3 ...)
    # exist only once its options are set, so those are given afterwards.
    declared = {p.name for p in cls.input_ports + cls.output_ports}
    kwargs.update({p: s for p, s in spec.ports.items() if p in declared})
    kwargs.update(spec.decoders)
    layer = cls(*args, **kwargs, LearningRateMultipliers=spec.lrm)
    rest = {p: s for p, s in spec.ports.items() if p not in declared}
    if rest:
        layer = layer._with_port_shapes(rest)
    for name, value in shared_values.items():
        layer = NetReplacePart(layer, {NetSharedArray(name): _array_argument(value)})
    attached.update(shared_values)
    _check_leaf_parts(layer, spec)
    return layer


def _check_leaf_parts(layer: Layer, spec: LeafSpec) -> None:
    got = ([p.name for p in layer.input_ports], [p.name for p in layer.output_ports])
    if got != (list(spec.inputs), list(spec.outputs)):
        raise NetLoadError(
            f"{where_of(spec.path, layer)}: the rebuilt layer has ports {got[0]} -> {got[1]}, "
            f"the manifest describes {list(spec.inputs)} -> {list(spec.outputs)}."
        )
    for port, shape in {**spec.inputs, **spec.outputs}.items():
        try:
            S.unify(shape, layer.port_shape(port))
        except S.ShapeConflict:
            raise NetLoadError(
                f'{where_of(spec.path, layer)}: port "{port}" of the rebuilt layer has shape '
                f"{S.fmt(layer.port_shape(port))}, the manifest records {S.fmt(shape)}."
            ) from None
    names = [s.name for s in layer.array_specs]
    if sorted(names) != sorted(spec.arrays):
        raise NetLoadError(
            f"{where_of(spec.path, layer)}: the layer has arrays {names}, the manifest describes "
            f"{list(spec.arrays)}."
        )


def _vertex(src: tuple) -> NetPort:
    return NetPort(src[1]) if src[0] is None else NetPort(src[0], src[1])


def _make_graph(spec: GraphSpec, layers: dict) -> Layer:
    keys = list(layers)
    given: Any = list(layers.values()) if keys == list(range(len(keys))) else layers
    kwargs = {**spec.ports, **spec.decoders, "LearningRateMultipliers": spec.lrm}
    if issubclass(spec.cls, NetChain):
        net = spec.cls(given, **kwargs)
    else:
        edges = [(_vertex(src), _vertex(dst)) for dst, src in spec.conns.items()]
        edges += [(_vertex(src), NetPort(name)) for name, src in spec.outputs.items()]
        net = spec.cls(given, edges, **kwargs)
    if net._conns != spec.conns or list(net._outputs.items()) != list(spec.outputs.items()):
        raise NetLoadError(
            f"{where_of(spec.path, net)}: the rebuilt connections or output ports differ from "
            "the ones the manifest describes."
        )
    return net
