"""NetExtract, NetReplacePart and Options: reading and replacing parts of a net by path.

A path is a tuple of keys: layer keys (names, or positions with negatives from the end) through
nested containers, then an array, option or port name. A bare name is a path of length one.
"""

from __future__ import annotations

from typing import Any

from pydantic.alias_generators import to_pascal

from . import shapes as S
from ._decoder_ports import port_decoders, split_port_options
from .decoders import NetDecoder
from .errors import (
    NetArrayError,
    NetError,
    NetGraphError,
    NetOptionError,
    NetShapeError,
    did_you_mean,
    refuses_deep_nesting,
)
from .evaluation import EVALUATION_OPTIONS
from .layer import Layer, _check_lrm, as_array_value
from .sharing import blame_shared
from .values import All, Automatic, NetSharedArray


def _as_path(spec: Any) -> tuple:
    if isinstance(spec, list):
        spec = tuple(spec)
    return spec if isinstance(spec, tuple) else (spec,)


def _leaf_part_kind(layer: Layer, name: Any) -> tuple[str, str] | None:
    """('array'|'option'|'port'|'lrm', canonical name) for a part of one layer, or None."""
    if not isinstance(name, str):
        return None
    arrays = {s.name for s in layer.array_specs}
    for cand in (name, to_pascal(name)):
        if cand in arrays:
            return "array", cand
    if name in ("LearningRateMultipliers", "learning_rate_multipliers"):
        return "lrm", "LearningRateMultipliers"
    fields = type(layer).Options.model_fields
    for field_name, f in fields.items():
        if name in (field_name, f.alias, to_pascal(field_name)):
            return "option", field_name
    ports = [p.name for p in layer.input_ports + layer.output_ports]
    for cand in (name, to_pascal(name)):
        if cand in ports:
            return "port", cand
    return None


def _valid_parts(layer: Layer) -> list[str]:
    names = [s.name for s in layer.array_specs]
    names += [f.alias or to_pascal(n) for n, f in type(layer).Options.model_fields.items()]
    names += [p.name for p in layer.input_ports + layer.output_ports]
    return names + ["LearningRateMultipliers"] + [str(k) for k in layer._child_keys()]


def _unknown_part(layer: Layer, name: Any, full: tuple) -> NetError:
    # A leaf's parts are its constructor keywords: a wrong one is an unknown option, as in the
    # constructor; in a container it is most likely a layer name.
    owner = type(layer).__name__
    hint = did_you_mean(name, _valid_parts(layer))
    if layer._child_keys():
        return NetGraphError(f"{owner} has no layer or part {name!r} (in path {full!r}).{hint}")
    return NetOptionError(
        f"{owner}: unknown option, array or port {name!r} (in path {full!r}).{hint}"
    )


# ---------------------------------------------------------------------------- NetExtract


@refuses_deep_nesting("NetExtract")
def NetExtract(net: Layer, spec: Any) -> Any:  # noqa: N802 (Wolfram's name)
    """A part of a net: an array (a copy), an option value, a port shape or an inner layer.

    >>> import netgraph as ng
    >>> bn = ng.NetInitialize(ng.BatchNormalizationLayer(Input=2, Epsilon=0.01))
    >>> ng.NetExtract(bn, "Epsilon"), ng.NetExtract(bn, "Input")
    (0.01, (2,))
    >>> ng.NetExtract(bn, "MovingVariance")
    array([1., 1.], dtype=float32)

    A list of specs, at least one of them a tuple or list, extracts each (Wolfram's
    `NetExtract[net, {{spec1}, {spec2}}]`); a list of plain keys is still one path. `ng.All`
    inside a path stands for every layer at that level and gives a dict, layer key -> the rest
    of the path, for the layers that have it (a layer without that part is left out):

    >>> chain = ng.NetInitialize(ng.NetChain([ng.LinearLayer(2), "Ramp", ng.LinearLayer(1)],
    ...                                      Input=3))
    >>> {k: v.shape for k, v in ng.NetExtract(chain, (ng.All, "Biases")).items()}
    {0: (2,), 2: (1,)}
    >>> ng.NetExtract(chain, [(0, "Biases"), (-1, "Input")])
    [array([0., 0.], dtype=float32), (2,)]

    A port with a NetDecoder gives the decoder, and a decoder its parameters (Wolfram's
    `NetExtract[coder, "param"]`):

    >>> clf = ng.NetChain([ng.LinearLayer(2), ng.SoftmaxLayer()], Input=3,
    ...                   Output=ng.NetDecoder(("Class", ["no", "yes"])))
    >>> ng.NetExtract(clf, ("Output", "Labels")), ng.NetExtract(clf["Output"], ng.All)
    (['no', 'yes'], {'Labels': ['no', 'yes']})
    """
    if isinstance(net, NetDecoder):
        return _decoder_part(net, spec)
    _check_net(net, "NetExtract")
    if isinstance(spec, list) and any(isinstance(s, (list, tuple)) for s in spec):
        return [NetExtract(net, s) for s in spec]
    if isinstance(spec, NetSharedArray):
        if spec.name not in net._shared:
            raise NetArrayError(
                f"{type(net).__name__} has no shared array {spec.name!r}."
                + did_you_mean(spec.name, net._shared)
            )
        value = net._shared[spec.name]
        return Automatic if value is None else value.copy()
    if spec is All:
        return _extract_all(net)
    path = _as_path(spec)
    if not path:
        return net
    return _extract(net, path, path)


def _extract_all(net: Layer) -> dict:
    keys = list(net._child_keys())
    if keys:
        return {k: net._child(k) for k in keys}
    out = dict(net.options)
    for s in net.array_specs:
        out[s.name] = NetExtract(net, s.name)
    return out


def _extract(net: Layer, path: tuple, full: tuple) -> Any:
    head, rest = path[0], path[1:]
    if head is All:
        return _extract_each(net, rest, full)
    key = net._child_key(head)
    if key is not None:
        child = net._child(key)
        return child if not rest else _extract(child, rest, full)
    kind = _leaf_part_kind(net, head)
    decoder = port_decoders(net).get(head) if kind and kind[0] == "port" else None
    if decoder is not None and len(rest) == 1:  # ("Output", "Labels")
        return _decoder_part(decoder, rest[0])
    if kind is None or rest:
        raise _unknown_part(net, head if kind is None else rest[0], full)
    what, name = kind
    if what == "array":
        value = net._arrays.get(name)
        if isinstance(value, NetSharedArray):
            value = net._shared.get(value.name)
        return Automatic if value is None else value.copy()
    if what == "option":
        return getattr(net._options, name)
    if what == "port":  # the decoder when the port has one, as Wolfram's NetExtract
        return port_decoders(net).get(name) or net.port_shape(name)
    return net._lrm


def _decoder_part(decoder: NetDecoder, spec: Any) -> Any:
    """Wolfram's NetExtract[coder, "param"]: a "Class" decoder's "Labels", or All of them."""
    params = {"Labels": list(decoder.labels)} if decoder.kind == "Class" else {}
    if spec is All:
        return params
    if isinstance(spec, str) and spec in params:
        return params[spec]
    hint = did_you_mean(spec, params) if params else " It has no parameters."
    raise NetOptionError(f"NetExtract: {decoder!r} has no parameter {spec!r:.40}.{hint}")


def _extract_each(net: Layer, rest: tuple, full: tuple) -> dict:
    """`ng.All` in a path: {layer key: the rest of the path} for each layer that has it."""
    keys = list(net._child_keys())
    if not keys:
        raise NetGraphError(
            f"{type(net).__name__} has no layers for ng.All to stand for (in path {full!r})."
        )
    out, first_error = {}, None
    for key in keys:
        try:
            out[key] = _extract(net._child(key), rest, full) if rest else net._child(key)
        except NetError as exc:
            first_error = first_error or exc
    if not out:
        raise type(first_error)(
            f"no layer of the {type(net).__name__} has {rest[0]!r} (in path {full!r}); "
            f"for example: {first_error}"
        )
    return out


# ------------------------------------------------------------------------ NetReplacePart


_NO_VALUE = object()  # NetReplacePart(net, path, None) unsets an array: None is a value


@refuses_deep_nesting("NetReplacePart")
def NetReplacePart(net: Layer, rules: Any, value: Any = _NO_VALUE) -> Layer:  # noqa: N802
    """A new net with arrays, options, port shapes or layers replaced.

    `rules` is a dict {path: value} (or a list of (path, value) pairs); everything is
    re-inferred and validated, and the argument is never changed.

    >>> import netgraph as ng
    >>> bn = ng.BatchNormalizationLayer(Input=2)
    >>> ng.NetExtract(ng.NetReplacePart(bn, {"Biases": [1, 2]}), "Biases")
    array([1., 2.], dtype=float32)
    """
    _check_net(net, "NetReplacePart")
    if value is not _NO_VALUE:
        items = [(rules, value)]
    elif isinstance(rules, dict):
        items = list(rules.items())
    elif isinstance(rules, (list, tuple)) and all(
        isinstance(r, (list, tuple)) and len(r) == 2 for r in rules
    ):
        items = list(rules)
    else:
        raise NetError(
            "NetReplacePart: expected a dict {path: value}, a list of (path, value) pairs, or "
            f"NetReplacePart(net, path, value), got {rules!r:.80}."
        )
    for path, new in items:
        path = _as_path(path)
        if not path:
            raise NetGraphError(
                "NetReplacePart: an empty path names the whole net; give the path of a part, "
                'e.g. "Biases" or ("bn", "Scaling").'
            )
        net = _replace(net, path, new, path)
    return net


def _blame_replaced(net: Layer, key: Any, rest: tuple, value: Any, exc: NetError) -> NetError:
    """`exc` from rebuilding `net` with the array at (key, *rest) replaced by `value`: for an
    array this net shares (a NetSharedArray), restated as the shared array's error with the
    shape its uses expect; else `exc` (a replaced array of a layer is already named, with its
    expected shape, by the container's inference: `_array_blame.blame_net_array`)."""
    leaf = net._given_child(key)
    for head in rest[:-1]:
        inner = leaf._child_key(head)
        if inner is None:
            return exc
        leaf = leaf._given_child(inner)
    kind = _leaf_part_kind(leaf, rest[-1])
    if kind is None or kind[0] != "array" or isinstance(value, NetSharedArray):
        return exc
    current = leaf._arrays.get(kind[1])
    if isinstance(current, NetSharedArray):  # held by this net: blamed as a shared array
        if current.name not in getattr(net, "_shared", {}):
            return exc
        try:
            given = as_array_value(value, type(leaf).__name__, kind[1])
        except NetError:
            return exc
        return blame_shared(net, current.name, given, exc)
    return exc  # any other given array is blamed by the container's inference


def _check_net(net: Any, function: str) -> None:
    if not isinstance(net, Layer):
        raise NetError(f"{function}: expected a layer or net, got {type(net).__name__}.")


def _replace(net: Layer, path: tuple, value: Any, full: tuple) -> Layer:
    if isinstance(path[0], NetSharedArray):
        return net._with_shared(path[0].name, value)
    head, rest = path[0], path[1:]
    key = net._child_key(head)
    if key is not None:
        if not rest:
            return net._with_child(key, value)
        try:
            inner = _replace(net._given_child(key), rest, value, full)
        except NetError as exc:  # name where in the net the replacement failed
            if isinstance(exc, NetArrayError):
                try:  # in context the layer knows its input: its error gives the full shapes
                    _replace(net._child(key), rest, value, full)
                except NetArrayError as in_context:
                    exc = in_context
            raise type(exc)(f"in layer {key!r}: {exc}") from None
        try:
            return net._with_child(key, inner)
        except NetError as exc:  # the shapes met elsewhere: name the replaced array
            raise _blame_replaced(net, key, rest, value, exc) from None
    kind = _leaf_part_kind(net, head)
    decoder = port_decoders(net).get(head) if kind and kind[0] == "port" else None
    if decoder is not None and len(rest) == 1:  # ("Output", "Labels")
        return _decoder_part(decoder, rest[0])
    if kind is None or rest:
        raise _unknown_part(net, head if kind is None else rest[0], full)
    what, name = kind
    owner = type(net).__name__
    if what == "array":
        spec = next(s for s in net.array_specs if s.name == name)
        current = net._arrays.get(name)
        if isinstance(current, NetSharedArray) and not isinstance(value, NetSharedArray):
            return net._with_shared(current.name, value)
        return net._replace(arrays={name: as_array_value(value, owner, name, spec.shareable)})
    if what == "option":
        options = {n: getattr(net._options, n) for n in type(net).Options.model_fields}
        options[name] = value
        return net._replace(options=type(net)._validate_options(options))
    if what == "port":  # a shape or a NetDecoder; either replaces the port's decoder
        decoders = {p: d for p, d in net._decoders.items() if p != name}
        if isinstance(value, NetDecoder):
            outputs = [p.name for p in net.output_ports]
            split_port_options({name: value}, owner, outputs)  # an input port is refused
            decoders[name] = value
            return net._replace(shapes={name: value.port_shape}, decoders=decoders)
        try:
            shape = S.parse(value, f'{owner} port "{name}"')
        except ValueError as exc:
            raise NetShapeError(str(exc) + ".") from None
        return net._replace(shapes={name: shape}, decoders=decoders)
    lrm = _check_lrm(value, owner)
    if isinstance(lrm, (dict, list)) and not net._child_keys():
        from .training.multipliers import leaf_rules

        lrm = leaf_rules(type(net), lrm)
    return net._replace(lrm=lrm)


# ---------------------------------------------------------------------------- paths


def resolve_array_path(net: Layer, spec: Any, plan) -> Any:
    """A user's array path (name, tuple, NetSharedArray) -> the plan's array id."""
    if isinstance(spec, NetSharedArray):
        if spec in plan.array_kinds:
            return spec
        raise NetArrayError(f"the net has no shared array {spec.name!r}.")
    path = _as_path(spec)
    canonical = canonical_array_path(net, path, path)
    leaf = net
    for key in canonical[:-1]:
        leaf = leaf._child(key)
    value = leaf._arrays.get(canonical[-1])
    return value if isinstance(value, NetSharedArray) else canonical


def canonical_array_path(net: Layer, path: tuple, full: tuple) -> tuple:
    """Layer keys made canonical (positions -> keys), ending in an array name."""
    if not path:
        raise NetGraphError(f"{full!r} names a layer, not an array.")
    head, rest = path[0], path[1:]
    key = net._child_key(head)
    if key is not None:
        return (key,) + canonical_array_path(net._child(key), rest, full)
    kind = _leaf_part_kind(net, head)
    if kind is None or kind[0] != "array" or rest:
        valid = [s.name for s in net.array_specs] + [str(k) for k in net._child_keys()]
        raise NetArrayError(
            f"{type(net).__name__} has no array {head!r} (in path {full!r})."
            + did_you_mean(head, valid)
        )
    return (kind[1],)


# ---------------------------------------------------------------------------- Options


def Options(obj: Any) -> dict:  # noqa: N802
    """Construction options and defaults of a layer class, or evaluation options of a net.

    >>> import netgraph as ng
    >>> ng.Options(ng.BatchNormalizationLayer)["Momentum"]
    0.9
    >>> ng.Options(ng.BatchNormalizationLayer())["NetEvaluationMode"]
    'Test'
    """
    if isinstance(obj, type) and issubclass(obj, Layer):
        out = {}
        for name, f in obj.Options.model_fields.items():
            if name in obj.positional and (
                f.is_required() or f.default is None or f.default is Automatic
            ):
                continue  # a positional argument without a default value (LinearLayer's n)
            default = f.default
            out[f.alias or to_pascal(name)] = Automatic if default is None else default
        for p in obj.input_ports + obj.output_ports:
            out[p.name] = Automatic
        for s in obj.array_specs:
            out[s.name] = Automatic
        out["LearningRateMultipliers"] = Automatic
        return dict(sorted(out.items()))
    if isinstance(obj, Layer):
        return dict(EVALUATION_OPTIONS)
    raise NetOptionError(f"Options: expected a layer class or a net, got {obj!r}.")
