"""Shared arrays: held once by the outermost container, their shapes agreed by every use, and
NetInsertSharedArrays (BatchNormalization's moving statistics are never shared).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import containers
from . import shapes as S
from .errors import NetArrayError, NetError
from .layer import Layer
from .values import NetSharedArray

if TYPE_CHECKING:
    from .containers import NetGraph


def _shared_names(layer: Layer) -> set:
    names = {v.name for v in layer._arrays.values() if isinstance(v, NetSharedArray)}
    if isinstance(layer, containers.NetGraph):
        for sub in layer._layers.values():
            names |= _shared_names(sub)
    return names


def _collect_shared(layer: Layer) -> dict:
    """Shared-array values a layer carries (a lone layer, or a graph that was extracted)."""
    return dict(layer._shared)


def _hoist_shared(given: dict, shared: dict | None) -> dict:
    out = dict(shared or {})
    for key, layer in given.items():
        for name, value in _collect_shared(layer).items():
            old = out.get(name)
            if (
                old is not None
                and value is not None
                and not (old.shape == value.shape and np.array_equal(old, value))
            ):
                raise NetArrayError(
                    f"shared array {name!r} is given two different values (layer {key!r})."
                )
            out[name] = value if old is None else old
    names = set()
    for layer in given.values():
        names |= _shared_names(layer)
    return {n: out.get(n) for n in sorted(names)}


def _strip_shared(layer: Layer) -> Layer:
    return layer._copy_with(_shared={}) if layer._shared else layer


def _attach_shared(layer: Layer, shared: dict) -> Layer:
    return layer._copy_with(_shared=dict(shared))


def _same_shared(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    for k in a:
        x, y = a[k], b[k]
        if (x is None) != (y is None):
            return False
        if x is not None and (x.dtype != y.dtype or not np.array_equal(x, y)):
            return False
    return True


def _shared_shapes(net: NetGraph, layers: dict, hints: dict, strict: bool) -> dict:
    """The shape of each shared array: its value's, an enclosing container's and every use's,
    unified. Uses that disagree raise a NetArrayError naming both when `strict`; otherwise
    (while inference is still running) that array is left out."""
    seen: dict = {n: (v.shape, "its value") for n, v in net._shared.items() if v is not None}
    for name, shape in hints.items():
        seen.setdefault(name, (shape, "the enclosing net"))
    conflicts = set()
    for key, layer in layers.items():
        for path, leaf, array, name in _shared_uses(layer, (key,)):
            shape, (other, other_where) = leaf.array_shape(array), seen.get(name, (None, None))
            where = f"{type(leaf).__name__} {'/'.join(map(str, path))}"
            try:
                seen[name] = (S.unify(shape, other), where)
            except S.ShapeConflict:
                if strict:
                    raise NetArrayError(
                        f"shared array {name!r}: {where} needs shape {S.fmt(shape)} but "
                        f"{other_where} has {S.fmt(other)}."
                    ) from None
                conflicts.add(name)
    return {n: shape for n, (shape, _) in seen.items() if n not in conflicts}


def _shared_uses(layer: Layer, path: tuple = ()):
    """(leaf path, leaf, array name, shared name) for every NetSharedArray a net uses."""
    for leaf_path, leaf in layer._leaves(path):
        for array, value in leaf._arrays.items():
            if isinstance(value, NetSharedArray):
                yield leaf_path, leaf, array, value.name


def blame_shared(net: Layer, name: str, value: np.ndarray, exc: NetError) -> NetError:
    """`exc` from giving the shared array `name` of `net` the value `value`, restated with the
    shape its uses expect (found by leaving it unset) and the shape given; else `exc`."""
    try:
        cleared = net._rebuild(shared={**net._shared, name: None}, array_error=NetArrayError)
    except NetError:
        return exc
    for path, leaf, array, shared in _shared_uses(cleared):
        expected = leaf.array_shape(array)
        if shared == name and expected is not None:
            try:
                S.unify(expected, value.shape)
            except S.ShapeConflict:
                where = f"layer {'/'.join(map(str, path))!r} array {array!r}"
                return NetArrayError(
                    f"{type(net).__name__}: shared array {name!r}: expected "
                    f"{S.fmt(expected)}, given {S.fmt(value.shape)} (the shape its use by "
                    f"{where} takes): {str(exc).rstrip('.')}."
                )
    return exc


def _shared_hints(layer: Layer, known: dict) -> dict:
    """The known shapes of a given layer's shared arrays, as `_with_port_shapes` takes them:
    by array name for a leaf, by NetSharedArray for a container (which passes them on)."""
    if isinstance(layer, containers.NetGraph):
        names = _shared_names(layer)
        return {NetSharedArray(n): known[n] for n in names if known.get(n) is not None}
    return {
        array: known[value.name]
        for array, value in layer._arrays.items()
        if isinstance(value, NetSharedArray) and known.get(value.name) is not None
    }


def _knows_less(layer: Layer, known: dict) -> bool:
    """Does some use of a shared array in `layer` know less of its shape than `known`?"""
    for _, leaf, array, name in _shared_uses(layer):
        have = leaf.array_shape(array)
        try:
            if known.get(name) is not None and S.unify(have, known[name]) != have:
                return True
        except S.ShapeConflict:  # reported once inference is done
            pass
    return False


def NetInsertSharedArrays(net: Layer, prefix: str = "") -> Layer:  # noqa: N802
    """A new net whose learned arrays are all NetSharedArrays named from their positions.

    BatchNormalizationLayer's MovingMean and MovingVariance are state, never shared: they stay
    per layer, so two uses of one shared BN layer train one Scaling/Biases and keep separate
    moving statistics.

    >>> import netgraph as ng
    >>> bn = ng.NetInsertSharedArrays(ng.BatchNormalizationLayer(Input=3), "bn/")
    >>> ng.NetExtract(bn, "Scaling"), ng.NetExtract(bn, "MovingMean")
    (Automatic, Automatic)
    >>> ng.Information(ng.NetChain([bn, bn]), "SharedArraysCount")
    2
    """
    if not isinstance(prefix, str):
        raise NetError(f"NetInsertSharedArrays: the prefix must be a string, got {prefix!r}.")
    return _insert_shared(net, (), prefix, dict(net._shared))


def _insert_shared(layer: Layer, path: tuple, prefix: str, values: dict) -> Layer:
    if isinstance(layer, containers.NetGraph):
        values = {**values, **layer._shared}
        given = {k: _insert_shared(v, path + (k,), prefix, values) for k, v in layer._given.items()}
        return layer._rebuild(given=given, shared=dict(layer._shared))
    arrays, shared = {}, {}
    for spec in layer.array_specs:
        value = layer._arrays.get(spec.name)
        if isinstance(value, NetSharedArray):
            shared[value.name] = values.get(value.name, layer._shared.get(value.name))
        elif spec.shareable:
            name = prefix + "/".join(map(str, path + (spec.name,)))
            arrays[spec.name] = NetSharedArray(name)
            shared[name] = value
    return layer._replace(arrays=arrays, shared=shared)
