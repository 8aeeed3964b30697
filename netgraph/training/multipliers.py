"""LearningRateMultipliers: which multiplier each array of a net trains with.

Forms (the NetTrain option, and the option of any layer, NetChain or NetGraph; they mean the
same): a number for the whole net; or rules `{key: multiplier}` (or a list of `(key, multiplier)`
pairs) whose keys are layer keys or positions, `slice`s of positions (`slice(0, 2)`: layers 0
and 1, Python's half-open range), tuple paths (to a nested layer or to one array), array names
(every array of that name) or `ng.All` (everything: Wolfram's `_ -> r` catch-all). The first
matching rule wins; 0 or None freezes.

Precedence: the NetTrain option's rules come first; an array they do not match takes the
setting of the innermost layer or container that has one for it (a number, or a rule of its
rules that matches), else 1. State arrays (moving statistics) are never trained by the
optimizer.

>>> import netgraph as ng
>>> chain = ng.NetChain({"a": ng.BatchNormalizationLayer(), "b": ng.BatchNormalizationLayer()},
...                     Input=3)
>>> m = resolve(chain, {"a": 0})
>>> m[("a", "Scaling")], m[("b", "Scaling")], m[("a", "MovingMean")]
(0.0, 1.0, 0.0)
>>> m = resolve(chain, [(slice(0, 1), 0.5), (ng.All, 0)])
>>> m[("a", "Biases")], m[("b", "Biases")]
(0.5, 0.0)
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
    if isinstance(value, (bool, np.complexfloating)) or not isinstance(
        value, (int, float, np.number)
    ):
        raise NetOptionError(f"LearningRateMultipliers: {where} should be a number, got {value!r}.")
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an int too large for a float
        finite = False
    if not finite:
        raise NetOptionError(f"LearningRateMultipliers: {where} should be finite, got {value!r}.")
    return float(value)


def is_number(option: Any) -> bool:
    """A whole-net multiplier (a number or None), as opposed to Automatic or rules."""
    return option is None or (
        isinstance(option, (int, float, np.number))
        and not isinstance(option, (bool, np.complexfloating))
    )


def _rules(option: Any, net: Layer | None = None) -> list:
    """The option as a list of (key, multiplier); slices expanded to layer keys of `net`."""
    if option is Automatic:
        return []
    if is_number(option):
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
    out = []
    for k, v in items:
        mult = _number(v, f"the multiplier of {k!r}")
        keys = _slice_keys(net, k) if isinstance(k, slice) and net is not None else [k]
        out.extend((key, mult) for key in keys)
    return out


def _slice_keys(net: Layer, key: slice) -> list:
    """The layer keys a slice of positions selects (Python's half-open range)."""
    keys = list(net._child_keys())
    bounds = (key.start, key.stop, key.step)
    if not all(
        b is None or (isinstance(b, (int, np.integer)) and not isinstance(b, bool)) for b in bounds
    ):
        raise NetOptionError(
            f"LearningRateMultipliers: the range {key!r} should have int bounds (layer positions)."
        )
    if key.step == 0:
        raise NetOptionError(f"LearningRateMultipliers: the range {key!r} has step 0.")
    picked = [keys[i] for i in range(len(keys))[key]]
    if not picked:
        raise NetOptionError(
            f"LearningRateMultipliers: the range {key!r} selects no layer of the "
            f"{type(net).__name__}, which has {len(keys)} layers."
        )
    return picked


def normalize_setting(net: Layer, option: Any) -> Any:
    """A container's own option in stored form: Automatic, a number, or a dict of rules (slices
    expanded, the first of repeated keys kept), every key checked against the net."""
    if option is Automatic or is_number(option):
        return option
    rules = _rules(option, net)
    _check_rule_keys(net, rules, _owners(net)[0])
    out: dict = {}
    for key, mult in rules:
        out.setdefault(key, mult)
    return out


def leaf_rules(cls: type, option: Any) -> dict:
    """A layer's own rules, checked when it is built: keys are its array names or ng.All."""
    names = [s.name for s in cls.array_specs]
    out: dict = {}
    for key, mult in _rules(option):
        if key is not All and key not in names:
            raise NetOptionError(
                f"{cls.__name__}: LearningRateMultipliers rule {key!r} names no array of the "
                "layer." + did_you_mean(key, names)
            )
        out.setdefault(key, mult)
    return out


def _canonical_prefix(net: Layer, key: Any) -> tuple | None:
    """A rule key as a canonical layer path prefix, or None if it names no layer."""
    path = key if isinstance(key, tuple) else (key,)
    out, layer = [], net
    for part in path:
        k = layer._child_key(part) if not isinstance(part, (bool, slice)) else None
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


def _first_match(net: Layer, rules: list, aid: Any, where: list) -> float | None:
    for key, mult in rules:
        if (isinstance(key, NetSharedArray) and key == aid) or _matches(net, key, where):
            return mult
    return None


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
        from netgraph.port_requests import name_hint

        valid = [str(k) for k in net._child_keys()] + sorted(names)
        raise NetOptionError(
            f"LearningRateMultipliers of the {type(net).__name__}: {key!r} names no layer or "
            "array of the net." + (name_hint(net, key) or did_you_mean(key, valid))
        )


def _owners(net: Layer) -> tuple[dict, dict]:
    """{array id: [(leaf path, array name), ...]} and {array id: kind} for every array."""
    owners: dict = {}
    kinds: dict = {}
    for path, leaf in net._leaves():
        for spec in leaf.array_specs:
            value = leaf._arrays.get(spec.name)
            aid = value if isinstance(value, NetSharedArray) else path + (spec.name,)
            owners.setdefault(aid, []).append((path, spec.name))
            kinds[aid] = spec.kind
    return owners, kinds


def _own_setting(net: Layer, aid: Any, where: list) -> float | None:
    """The multiplier the net's own layers give one array: the innermost layer or container
    on the way to it whose setting is a number or has a rule matching it (a shared array: any
    of its uses below that level); None if none does."""
    levels: dict = {}
    for path, _ in where:
        layer = net
        levels.setdefault((), net)
        for depth, key in enumerate(path, 1):
            layer = layer._layers[key]
            levels.setdefault(path[:depth], layer)
    for prefix in sorted(levels, key=len, reverse=True):
        layer, setting = levels[prefix], levels[prefix]._lrm
        if setting is Automatic:
            continue
        if is_number(setting):
            return _number(setting, "the layer option")
        rules = _rules(setting, layer)
        if not layer._child_keys():  # (a container checked its rules when it was built)
            _check_rule_keys(layer, rules, _owners(layer)[0])
        n = len(prefix)
        below = [(path[n:], name) for path, name in where if path[:n] == prefix]
        found = _first_match(layer, rules, aid, below)
        if found is not None:
            return found
    return None


def resolve(net: Layer, option: Any = Automatic) -> dict:
    """{array id: multiplier} for every array of `net` (state arrays 0)."""
    owners, kinds = _owners(net)
    rules = _rules(option, net)
    _check_rule_keys(net, rules, owners)
    out = {}
    for aid, where in owners.items():
        if kinds[aid] == "state":
            out[aid] = 0.0
            continue
        found = _first_match(net, rules, aid, where)
        if found is None:
            found = _own_setting(net, aid, where)
        out[aid] = 1.0 if found is None else found
    return out
