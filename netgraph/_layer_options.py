"""A layer's options and declarations, and how its constructor's arguments are split.

`LayerOptions` is the frozen, strict pydantic model every layer's options derive from; `Port`
and `ArraySpec` declare ports and arrays; `Context` says how one evaluation runs. The
`LayerArguments` mixin gives `Layer` the split of a constructor's arguments into options, port
shapes, array values, LearningRateMultipliers and decoders, with errors that name the option.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_pascal, to_snake

from . import shapes as S
from ._decoder_ports import split_port_options
from .decoders import NetDecoder
from .errors import NetArrayError, NetOptionError, NetShapeError, did_you_mean
from .values import Automatic, NetSharedArray, NumericArray


class LayerOptions(BaseModel):
    """Base of every layer's options: frozen, strict, finite, unknown names rejected."""

    model_config = ConfigDict(
        alias_generator=to_pascal,
        populate_by_name=True,
        frozen=True,
        extra="forbid",
        allow_inf_nan=False,
        strict=True,
    )


@dataclass(frozen=True)
class Port:
    """A declared port. `dtype` "Integer" marks class-index ports. Layers taking several inputs
    declare numbered ports Input1..InputN (see `variadic_inputs`), never a list-valued port."""

    name: str
    dtype: str = "Real"


@dataclass(frozen=True)
class ArraySpec:
    """A declared array: "learned" arrays get gradients; "state" arrays (moving statistics) not.

    `init` names the NetInitialize rule: "weights" (random, by Method), "zeros" or "ones".
    State arrays are never shared and their learning-rate multiplier is pinned at 0.
    """

    name: str
    kind: str = "learned"
    init: str = "weights"

    @property
    def shareable(self) -> bool:
        return self.kind == "learned"


@dataclass
class Context:
    """How one evaluation runs: mode, randomness, precision, whether inside NetTrain."""

    mode: str = "Test"
    dtype: Any = np.float32
    rng: np.random.Generator | None = None
    training: bool = False
    need_grad: bool = False
    extra: dict = field(default_factory=dict)
    input_grads: bool = True  # False in backward when no input of the layer needs a gradient


def _option_error(layer_name: str, exc: ValidationError, valid: list[str]) -> NetOptionError:
    lines = []
    for err in exc.errors():
        loc = err["loc"][0] if err["loc"] else "?"
        name = to_pascal(str(loc)) if "_" in str(loc) or str(loc).islower() else loc
        if err["type"] == "extra_forbidden":
            lines.append(f'unknown option "{loc}".{did_you_mean(loc, valid)}')
        elif err["type"] == "missing":
            lines.append(f'option "{name}" is required')
        else:
            msg = err["msg"].replace("Input should be", "should be").replace("Value error, ", "")
            lines.append(f'option "{name}" {msg}, got {err.get("input")!r}')
    text = "; ".join(lines)
    return NetOptionError(f"{layer_name}: {text}" + ("" if text.endswith(("?", ".")) else "."))


def as_array_value(value: Any, owner: str, name: str, shareable: bool = True) -> Any:
    """A user's array value as stored: None (unset), NetSharedArray, or a read-only ndarray.

    Lists and most arrays become float32; a NumericArray keeps Real64 if it says so.
    """
    if value is None or value is Automatic:
        return None
    if isinstance(value, NetSharedArray):
        if not shareable:
            raise NetArrayError(
                f'{owner}: array "{name}" cannot be a NetSharedArray: moving statistics are '
                'never shared (share "Scaling" and "Biases" instead).'
            )
        return value
    dtype = np.float32
    if isinstance(value, NumericArray):
        dtype = np.float64 if value.type == "Real64" else np.float32
        value = np.asarray(value)
    try:
        given = np.asarray(value)  # its own dtype first: None or "a" must not become NaN
        if given.dtype.kind not in "biuf":
            raise TypeError
        with np.errstate(over="ignore", invalid="ignore"):
            arr = np.array(given, dtype=dtype, copy=True)
    except (TypeError, ValueError):
        raise NetArrayError(
            f'{owner}: array "{name}" must be numeric, got {type(value).__name__} {value!r:.60}.'
        ) from None
    if arr.size == 0:
        raise NetArrayError(
            f'{owner}: array "{name}" is empty (shape {arr.shape}); every dimension of an array '
            "must be at least 1."
        )
    if not np.all(np.isfinite(arr)):
        raise NetArrayError(
            f'{owner}: array "{name}" contains NaN or infinite values (or values too large for '
            f"{np.dtype(dtype).name})."
        )
    arr.setflags(write=False)
    return arr


def freeze(arr: np.ndarray) -> np.ndarray:
    """A read-only array (no copy when it is already private to the net)."""
    arr.setflags(write=False)
    return arr


class LayerArguments:
    """Mixin of `Layer`: the constructor's arguments split into their kinds, options checked."""

    __slots__ = ()

    def _take_decoders(self, kwargs: dict) -> tuple[dict, dict]:
        """NetDecoders given as port options: (kwargs with each replaced by the shape it
        fixes, {output port: decoder})."""
        if not any(isinstance(v, NetDecoder) for v in kwargs.values()):
            return kwargs, {}
        names = {n: n for n in self._port_names()} | {to_snake(n): n for n in self._port_names()}
        given = {names.get(k, k): v for k, v in kwargs.items() if isinstance(v, NetDecoder)}
        outputs = [p.name for p in type(self).output_ports]
        _, decoders = split_port_options(given, type(self).__name__, outputs)
        rest = {k: v for k, v in kwargs.items() if not isinstance(v, NetDecoder)}
        rest.update({port: dec.port_shape for port, dec in decoders.items()})
        return rest, decoders

    @classmethod
    def _port_names(cls) -> list[str]:
        return [p.name for p in cls.input_ports + cls.output_ports]

    def _split_arguments(self, args: tuple, kwargs: dict):
        cls = type(self)
        if len(args) > len(cls.positional):
            raise NetOptionError(
                f"{cls.__name__}: takes at most {len(cls.positional)} positional arguments "
                f"({', '.join(to_pascal(p) for p in cls.positional) or 'none'}), got {len(args)}."
            )
        options = {to_pascal(name): value for name, value in zip(cls.positional, args)}
        ports = {n: n for n in self._port_names()} | {to_snake(n): n for n in self._port_names()}
        array_names = {s.name: s for s in cls.array_specs} | {
            to_snake(s.name): s for s in cls.array_specs
        }
        arrays = {s.name: None for s in cls.array_specs}
        shapes: dict[str, Any] = {}
        lrm = Automatic
        for key, value in kwargs.items():
            if key in ports:
                try:
                    shapes[ports[key]] = S.parse(value, f'{cls.__name__} port "{ports[key]}"')
                except ValueError as exc:
                    raise NetShapeError(str(exc) + ".") from None
            elif key in array_names:
                spec = array_names[key]
                arrays[spec.name] = as_array_value(value, cls.__name__, spec.name, spec.shareable)
            elif key in ("LearningRateMultipliers", "learning_rate_multipliers"):
                lrm = _check_lrm(value, cls.__name__)
                if isinstance(lrm, (dict, list)):  # rules for this layer's arrays
                    from .training.multipliers import leaf_rules

                    lrm = leaf_rules(cls, lrm)
            else:
                options[key] = value
        return options, arrays, shapes, lrm

    @classmethod
    def _validate_options(cls, options: dict) -> LayerOptions:
        try:
            return cls.Options(**options)
        except ValidationError as exc:
            raise _option_error(cls.__name__, exc, cls.option_names()) from None

    @classmethod
    def option_names(cls) -> list[str]:
        """Every keyword a constructor accepts, in Wolfram spelling."""
        opts = [f.alias or to_pascal(n) for n, f in cls.Options.model_fields.items()]
        return (
            opts
            + cls._port_names()
            + [s.name for s in cls.array_specs]
            + ["LearningRateMultipliers"]
        )


def _check_lrm(value: Any, owner: str) -> Any:
    """A layer's LearningRateMultipliers option: Automatic, None, or a finite number."""
    if value is Automatic or value is None:
        return value
    if isinstance(value, (bool, np.complexfloating)) or not isinstance(
        value, (int, float, np.number)
    ):
        if isinstance(value, dict) or (
            isinstance(value, list) and all(isinstance(r, tuple) and len(r) == 2 for r in value)
        ):
            return value  # rules; containers check their keys once their layers are known
        raise NetOptionError(
            f'{owner}: option "LearningRateMultipliers" should be a number, None, Automatic, '
            f"a dict {{key: multiplier}} or a list of (key, multiplier) pairs, got {value!r}."
        )
    if not _finite(value):  # math, not numpy: a Python int beyond float64 is not finite
        raise NetOptionError(
            f'{owner}: option "LearningRateMultipliers" must be finite, got {value!r}.'
        )
    return float(value)


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False
