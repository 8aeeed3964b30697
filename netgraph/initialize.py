"""NetInitialize: deterministic initialization of every array a net still lacks.

Each array draws from its own generator, seeded by (RandomSeeding, the array's path), so the
result does not depend on traversal order and the same seed always gives the same net.
"""

from __future__ import annotations

import hashlib
import math
import os
import zlib
from typing import Any

import numpy as np

from . import shapes as S
from .errors import NetArrayError, NetOptionError, NetShapeError, did_you_mean
from .layer import Layer
from .values import All, Automatic, NetSharedArray

METHODS = ("Kaiming", "Xavier", "Orthogonal", "Random")


def _seed_words(seed: Any) -> list[int]:
    """The entropy words of a RandomSeeding value. Every integer is its own seed: 0 to 2**64 - 1
    keep their historical two words; any other integer (negative, or 2**64 and above) adds all
    its 32-bit words of magnitude and a final sign word (1 positive, 2 negative), so no two
    integers share a stream (numpy ignores trailing zero words, hence the non-zero sign word).
    A string gives the eight 32-bit words of its SHA-256 and a final word 3, so strings differ
    from each other (a 32-bit CRC made "plumless" and "buckeroo" one seed) and from integers."""
    if isinstance(seed, str):
        digest = hashlib.sha256(seed.encode()).digest()
        return [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 32, 4)] + [3]
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise NetOptionError(f"RandomSeeding should be an integer or a string, got {seed!r}.")
    seed = int(seed)
    magnitude = abs(seed)
    words = [magnitude & 0xFFFFFFFF, (magnitude >> 32) & 0xFFFFFFFF]
    if 0 <= seed < 2**64:
        return words
    magnitude >>= 64
    while magnitude:
        words.append(magnitude & 0xFFFFFFFF)
        magnitude >>= 32
    return words + [1 if seed > 0 else 2]


def array_rng(seed: Any, aid: Any) -> np.random.Generator:
    """The generator of one array: a function of the seed and the array's id only."""
    tag = f"shared:{aid.name}" if isinstance(aid, NetSharedArray) else repr(tuple(aid))
    return np.random.default_rng(_seed_words(seed) + [zlib.crc32(tag.encode())])


# Sub-options per Method and their defaults. Kaiming/Xavier: the standard deviation is
# ScaleFactor * sqrt(gain / fan) with fan = fan_in ("In"), fan_out ("Out") or their mean
# ("Mean"), gain 2 for Kaiming and 1 for Xavier (so Xavier "Mean" is sqrt(2/(fan_in+fan_out)));
# "Uniform" draws from U(-s*sqrt(3), s*sqrt(3)), which has the same standard deviation s.
# Random: "Weights" and "Biases" are the standard deviations of normal distributions
# (Wolfram: a number means NormalDistribution[0, number]); Biases 0 (the default) keeps zeros.
SUB_OPTIONS = {
    "Kaiming": {"Distribution": "Normal", "FactorType": "In", "ScaleFactor": 1.0},
    "Xavier": {"Distribution": "Normal", "FactorType": "Mean", "ScaleFactor": 1.0},
    "Orthogonal": {},
    "Random": {"Weights": 1.0, "Biases": 0.0},
}
_CHOICES = {"Distribution": ("Normal", "Uniform"), "FactorType": ("In", "Out", "Mean")}


def _parse_method(method: Any) -> dict:
    """Method, or (Method, {sub-option: value}), as a dict of every sub-option's value."""
    sub: Any = {}
    if isinstance(method, (tuple, list)) and len(method) == 2 and isinstance(method[1], dict):
        method, sub = method
    if not isinstance(method, str) or method not in METHODS:
        raise NetOptionError(
            f"NetInitialize: unknown Method {method!r}." + did_you_mean(method, METHODS)
        )
    rule = {"Method": method, **SUB_OPTIONS[method]}
    for key, value in sub.items():
        if key not in SUB_OPTIONS[method]:
            known = list(SUB_OPTIONS[method])
            raise NetOptionError(
                f'NetInitialize: Method "{method}" has no sub-option {key!r}.'
                + (did_you_mean(key, known) if known else " It takes no sub-options.")
            )
        if key in _CHOICES and (not isinstance(value, str) or value not in _CHOICES[key]):
            choices = " or ".join(f'"{c}"' for c in _CHOICES[key])
            raise NetOptionError(f'NetInitialize: "{key}" should be {choices}, got {value!r}.')
        if key not in _CHOICES and not _is_number(value, key == "ScaleFactor"):
            bound = "> 0" if key == "ScaleFactor" else ">= 0"
            raise NetOptionError(
                f'NetInitialize: "{key}" of Method "{method}" should be a finite number {bound} '
                f"(a standard deviation), got {value!r}."
            )
        rule[key] = value
    return rule


def _is_number(value: Any, positive: bool) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return False
    return math.isfinite(value) and (value > 0 if positive else value >= 0)


def init_array(init: str, shape: tuple, rule: dict, rng, name: str = "") -> np.ndarray:
    """One array by its spec's rule. Weights: fan_in = product of the dims after the first."""
    method = rule["Method"]
    if init == "zeros" and name == "Biases" and rule.get("Biases"):
        return (rng.standard_normal(shape) * rule["Biases"]).astype(np.float32)
    if init == "zeros" or (init == "weights" and len(shape) < 2):
        return np.zeros(shape, np.float32)
    if init == "ones":
        return np.ones(shape, np.float32)
    fan_out, fan_in = shape[0], math.prod(shape[1:])
    if method == "Orthogonal":
        a = rng.standard_normal((fan_out, fan_in))
        u, _, vt = np.linalg.svd(a, full_matrices=False)
        return (u if u.shape == a.shape else vt).reshape(shape).astype(np.float32)
    if method == "Random":
        return (rng.standard_normal(shape) * rule["Weights"]).astype(np.float32)
    fan = {"In": fan_in, "Out": fan_out, "Mean": (fan_in + fan_out) / 2}[rule["FactorType"]]
    std = rule["ScaleFactor"] * math.sqrt((2.0 if method == "Kaiming" else 1.0) / fan)
    if rule["Distribution"] == "Uniform":  # same variance: U(-s*sqrt 3, s*sqrt 3)
        return rng.uniform(-std * math.sqrt(3), std * math.sqrt(3), shape).astype(np.float32)
    return (rng.standard_normal(shape) * std).astype(np.float32)


def _memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not a POSIX system: no limit known
        return None


def _check_size(shape: tuple, where: str) -> None:
    """Refuse an array larger than a quarter of the machine's memory (a mistyped shape, most
    likely), with a clear error instead of a MemoryError from deep inside numpy."""
    size = math.prod(shape) * 4
    memory = _memory_bytes()
    if memory is not None and size > memory // 4:
        raise NetArrayError(
            f"Cannot initialize {where} of shape {tuple(shape)}: it needs {size / 2**30:.1f} GiB, "
            f"more than a quarter of this machine's {memory / 2**30:.1f} GiB of memory. "
            "Check the shapes given (Input=, layer sizes)."
        )


def NetInitialize(  # noqa: N802 (Wolfram's name)
    net: Layer,
    which: Any = Automatic,
    *,
    RandomSeeding: Any = 1234,  # noqa: N803
    Method: Any = "Kaiming",
    **kwargs: Any,  # noqa: N803
) -> Layer:
    """A new net with every unset array initialized (`ng.All`: every array re-initialized).

    BatchNormalizationLayer: Scaling 1, Biases 0, MovingMean 0, MovingVariance 1. Weights:
    Kaiming-normal (std sqrt(2/fan_in)) by default; "Xavier", "Orthogonal", "Random" too.
    `None` removes every array. Sub-options go in a dict, `Method=("Xavier", {...})`:
    Kaiming and Xavier take "Distribution" ("Normal" or "Uniform"), "FactorType" ("In",
    "Out" or "Mean": the fan in the std sqrt(2/fan) resp. sqrt(1/fan); Kaiming "In" and Xavier
    "Mean" by default) and "ScaleFactor" (multiplies the std, default 1); "Random" takes
    "Weights" (the std of normal weights, default 1) and "Biases" (the std of normal biases,
    default 0: zeros). Unknown sub-options are refused. `RandomSeeding` is any integer (every
    integer gives its own stream, 0 and 2**64 included) or a string.

    >>> import netgraph as ng
    >>> bn = ng.NetInitialize(ng.BatchNormalizationLayer(Input=(2, 4, 4)))
    >>> ng.NetExtract(bn, "Scaling"), ng.NetExtract(bn, "MovingMean")
    (array([1., 1.], dtype=float32), array([0., 0.], dtype=float32))
    >>> lin = ng.NetInitialize(ng.LinearLayer(200, Input=100),
    ...                        Method=("Random", {"Weights": 0.5, "Biases": 2}))
    >>> w, b = ng.NetExtract(lin, "Weights"), ng.NetExtract(lin, "Biases")
    >>> round(float(w.std()), 1), bool(b.any())
    (0.5, True)
    """
    for key, value in kwargs.items():
        if key == "random_seeding":
            RandomSeeding = value
        elif key == "method":
            Method = value
        else:
            raise NetOptionError(
                f'NetInitialize: unknown option "{key}".'
                + did_you_mean(key, ["RandomSeeding", "Method"])
            )
    rule = _parse_method(Method)
    _seed_words(RandomSeeding)
    if not any(which is w for w in (Automatic, All, None)):
        raise NetOptionError(
            f"NetInitialize: the second argument should be ng.All, ng.Automatic or None, "
            f"got {which!r}."
        )
    values = net._array_values()
    if which is None:
        return net._with_array_values({aid: None for aid in values})
    specs = _array_specs(net)
    new, unknown = {}, []
    for aid, value in values.items():
        if value is not None and which is not All:
            continue
        init, shape, where, name = specs[aid]
        if not S.is_known(shape):
            unknown.append(f"{where} {S.fmt(shape)}")
            continue
        _check_size(shape, where)
        rng = array_rng(RandomSeeding, aid)
        with np.errstate(over="ignore", invalid="ignore"):  # refused below, not warned
            new[aid] = init_array(init, tuple(shape), rule, rng, name)
        if not np.isfinite(new[aid]).all():
            subs = {k: v for k, v in rule.items() if k != "Method"}
            raise NetOptionError(
                f'NetInitialize: Method "{rule["Method"]}" with {subs} draws values beyond the '
                f"float32 range (largest magnitude {float(np.finfo(np.float32).max):.4g}) for "
                f"{where}. Give a smaller standard deviation."
            )
    if unknown:
        raise NetShapeError(
            f"Cannot initialize {type(net).__name__}: the dimensions of these arrays are not "
            f"known yet: {'; '.join(unknown)}. Give the input shape (Input=...) or connect the "
            "layer so that its shapes can be inferred."
        )
    for arr in new.values():
        arr.setflags(write=False)
    return net._with_array_values(new) if new else net


def _array_specs(net: Layer) -> dict:
    """array id -> (init rule, expected shape, description) for every array of the net."""
    out = {}
    for path, leaf in net._leaves():
        for spec in leaf.array_specs:
            value = leaf._arrays.get(spec.name)
            aid = value if isinstance(value, NetSharedArray) else path + (spec.name,)
            shape = leaf.array_shape(spec.name)
            where = f'{type(leaf).__name__} {"/".join(map(str, path)) or ""} array "{spec.name}"'
            if aid not in out or not S.is_known(out[aid][1]):
                out[aid] = (spec.init, shape, where.replace("  ", " "), spec.name)
    return out
