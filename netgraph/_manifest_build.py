"""Manifest -> net: the checked manifest rebuilt through the normal constructors, and every
array and port checked against the rebuilt net (a complete net or a NetLoadError)."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic.alias_generators import to_pascal

from . import shapes as S
from ._manifest_check import Check, GraphSpec, LeafSpec
from ._manifest_values import tensor_key, where_of
from .containers import NetChain
from .errors import NetError, NetLoadError
from .layer import Layer
from .parts import NetReplacePart
from .values import NetPort, NetSharedArray, NumericArray


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
    shared_values = _array_arguments(spec, tensors, check, attached, kwargs)
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


def _array_arguments(
    spec: LeafSpec, tensors: dict | None, check: Check, attached: set, kwargs: dict
) -> dict:
    """Put the leaf's arrays (and NetSharedArray placeholders) into `kwargs`; return the values
    of the shared arrays this leaf is the first to use, by name."""
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
    return shared_values


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
