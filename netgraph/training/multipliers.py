"""LearningRateMultipliers: which multiplier each array of a net trains with.

Forms (NetTrain option): a number for the whole net; or rules `{key: multiplier}` (or a list of
`(key, multiplier)` pairs) whose keys are layer keys or positions, tuple paths (to a nested layer
or to one array), array names (every array of that name) or `ng.All`; the first matching rule
wins; 0 or None freezes. Arrays no rule matches use the layers' own LearningRateMultipliers
option (innermost container setting wins), else 1. State arrays (moving statistics) are never
trained by the optimizer.

>>> import netgraph as ng
>>> chain = ng.NetChain({"a": ng.BatchNormalizationLayer(), "b": ng.BatchNormalizationLayer()},
...                     Input=3)
>>> m = resolve(chain, {"a": 0})
>>> m[("a", "Scaling")], m[("b", "Scaling")], m[("a", "MovingMean")]
(0.0, 1.0, 0.0)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from netgraph.errors import NetOptionError, did_you_mean
from netgraph.layer import Layer
from netgraph.values import All, Automatic, NetSharedArray


def _number(value: Any, where: str) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise NetOptionError(f"LearningRateMultipliers: {where} should be a number, got {value!r}.")
    if not math.isfinite(value):
        raise NetOptionError(f"LearningRateMultipliers: {where} should be finite, got {value!r}.")
    return float(value)


def _rules(option: Any) -> list:
    if option is Automatic:
        return []
    if (
        option is None
        or isinstance(option, (int, float, np.number))
        and not isinstance(option, bool)
    ):
        return [(All, _number(option, "the value"))]
    items = list(option.items()) if isinstance(option, dict) else option
    if not isinstance(items, (list, tuple)) or not all(
        isinstance(item, tuple) and len(item) == 2 for item in items
    ):
        raise NetOptionError(
            "LearningRateMultipliers should be a number, a dict {key: multiplier} or a list of "
            f"(key, multiplier) pairs, got {option!r}."
        )
    # (the value checks raise their own, more precise NetOptionError)
    return [(k, _number(v, f"the multiplier of {k!r}")) for k, v in items]


def _canonical_prefix(net: Layer, key: Any) -> tuple | None:
    """A rule key as a canonical layer path prefix, or None if it names no layer."""
    path = key if isinstance(key, tuple) else (key,)
    out, layer = [], net
    for part in path:
        k = layer._child_key(part) if not isinstance(part, bool) else None
        if k is None:
            return None
        out.append(k)
        layer = layer._child(k)
    return tuple(out)


def _matches(net: Layer, key: Any, owners: list) -> bool:
    if key is All:
        return True
    if isinstance(key, NetSharedArray):
        return False
    for path, name in owners:
        if isinstance(key, str) and net._child_key(key) is None and key == name:
            return True  # an array name: every array of that name
        if isinstance(key, tuple) and key and key[-1] == name:
            prefix = _canonical_prefix(net, key[:-1]) if key[:-1] else ()
            if prefix is not None and path == prefix:
                return True  # one array by path
        prefix = _canonical_prefix(net, key)
        if prefix is not None and path[: len(prefix)] == prefix:
            return True  # every array of a layer or nested container
    return False


def _layer_setting(net: Layer, path: tuple) -> Any:
    """The LearningRateMultipliers option of the innermost layer/container that sets one."""
    found, layer = net._lrm, net
    for key in path:
        layer = layer._layers[key]
        if layer._lrm is not Automatic and not isinstance(layer._lrm, dict):
            found = layer._lrm
    return found


def _check_rule_keys(net: Layer, rules: list, owners: dict) -> None:
    """Every rule names something in the net: a misspelt key would silently train a layer the
    user meant to freeze."""
    names = {name for where in owners.values() for _, name in where}
    for key, _ in rules:
        if key is All or (isinstance(key, NetSharedArray) and key in owners):
            continue
        if not isinstance(key, NetSharedArray) and any(
            _matches(net, key, where) for where in owners.values()
        ):
            continue
        if not isinstance(key, NetSharedArray) and _canonical_prefix(net, key) is not None:
            continue  # a layer without arrays: nothing to freeze, but not a mistake
        valid = [str(k) for k in net._child_keys()] + sorted(names)
        raise NetOptionError(
            f"LearningRateMultipliers: {key!r} names no layer or array of the net."
            + did_you_mean(key, valid)
        )


def resolve(net: Layer, option: Any = Automatic) -> dict:
    """{array id: multiplier} for every array of `net` (state arrays 0)."""
    rules = _rules(option)
    owners: dict = {}
    kinds: dict = {}
    for path, leaf in net._leaves():
        for spec in leaf.array_specs:
            value = leaf._arrays.get(spec.name)
            aid = value if isinstance(value, NetSharedArray) else path + (spec.name,)
            owners.setdefault(aid, []).append((path, spec.name))
            kinds[aid] = spec.kind
    _check_rule_keys(net, rules, owners)
    out = {}
    for aid, where in owners.items():
        if kinds[aid] == "state":
            out[aid] = 0.0
            continue
        for key, mult in rules:
            if (isinstance(key, NetSharedArray) and key == aid) or _matches(net, key, where):
                out[aid] = mult
                break
        else:
            setting = _layer_setting(net, where[0][0]) if hasattr(net, "_layers") else net._lrm
            out[aid] = 1.0 if setting is Automatic else _number(setting, "the layer option")
    return out
