"""ElementwiseLayer: a named scalar function (or a Python callable) applied to every element.

`FUNCTIONS` is the one table of named functions: name -> (f(x), f'(x, y)) where the derivative
may use the input x and the output y = f(x). Adding a function is adding one row. `ALIASES` maps
Wolfram's other spellings to the table names.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from pydantic import field_validator

from netgraph.errors import NetError
from netgraph.layer import Context, Layer, LayerOptions

# erfc(z) = t*exp(-z^2 + sum_k c_k T_k(2t - 1)) with t = 2/(2 + z), z >= 0 (the variable of
# Numerical Recipes' erfccheb). c_k: our degree-27 Chebyshev interpolant of log(erfc(z)e^{z^2}/t),
# evaluated with math.erfc (and the asymptotic series beyond z = 20). Relative error < 1e-14 for
# z < 6 and < 2e-13 up to the float64 underflow (the rounding of z^2 in the exponent); float32
# uses the first 14 terms (relative error ~1e-9).
_ERFC_CHEB = (
    -0.6513268598908548,
    0.6419697923564904,
    0.01947647320418578,
    -0.009561514786808703,
    -0.0009465953444820445,
    0.00036683949785264777,
    4.2523324807459364e-05,
    -2.027857811342277e-05,
    -1.6242900038757454e-06,
    1.3036558357390086e-06,
    1.562644055422676e-08,
    -8.523809405921615e-08,
    6.529052631876198e-09,
    5.059344570274809e-09,
    -9.913643239656267e-10,
    -2.273656104659746e-10,
    9.646836504221109e-11,
    2.3942752542487662e-12,
    -6.887268533262159e-12,
    8.967112766608158e-13,
    3.105531704810411e-13,
    -1.1033237815435574e-13,
    -1.3084771361653632e-15,
    8.120488408686859e-15,
    -1.9508204575556324e-15,
    2.854859206178974e-16,
    -3.806478941571965e-16,
    1.1419436824715897e-15,
)


def erfc(x: np.ndarray) -> np.ndarray:
    """The complementary error function, vectorised, in the dtype of x (no scipy needed).

    Runs in blocks of 32768 elements, so that the 28 passes of the series stay in cache.

    >>> import math, numpy as np
    >>> bool(abs(erfc(np.array([3.0]))[0] / math.erfc(3.0) - 1) < 1e-14)
    True
    """
    flat = x.reshape(-1)
    out = np.empty_like(flat)
    for i in range(0, flat.size, _BLOCK):
        out[i : i + _BLOCK] = _erfc_block(flat[i : i + _BLOCK])
    return out.reshape(x.shape)


_BLOCK = 32768


def _erfc_block(x: np.ndarray) -> np.ndarray:
    z = np.abs(x)
    coefs = _ERFC_CHEB if x.dtype == np.float64 else _ERFC_CHEB[:14]
    t = 2.0 / (2.0 + z)
    y2 = 4.0 * t - 2.0  # twice the Chebyshev variable
    # Clenshaw's recurrence b_k = y2*b_{k+1} - b_{k+2} + c_k, on three rotating buffers.
    d, dd, buf = np.zeros_like(t), np.zeros_like(t), np.empty_like(t)
    for c in coefs[:0:-1]:
        np.multiply(y2, d, out=buf)
        buf -= dd
        buf += c
        dd, d, buf = d, buf, dd
    with np.errstate(over="ignore"):  # z*z = inf is fine: exp(-inf) = 0
        series = 0.5 * y2 * d - dd + coefs[0] - z * z
    out = t * np.exp(series)
    return np.where(x < 0, 2.0 - out, out)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -x))  # 1/(1 + e^-x) without overflow for x << 0


def _one_if(mask: np.ndarray, like: np.ndarray) -> np.ndarray:
    return mask.astype(like.dtype)


_SQRT1_2 = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SELU_SCALE = 1.0507009873554805  # lambda and alpha of Klambauer et al. (2017)
_SELU_ALPHA = 1.6732632423543772


def _gelu_cdf(x: np.ndarray) -> np.ndarray:
    return 0.5 * erfc(-_SQRT1_2 * x)  # Phi(x) = (1 + erf(x/sqrt 2))/2, accurate for x << 0


def _elu_negative(x: np.ndarray) -> np.ndarray:
    return np.expm1(np.minimum(x, 0.0))  # e^x - 1 where x < 0 (never overflows)


def _swish_derivative(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    s = _sigmoid(x)
    return s + y * (1.0 - s)  # d(x s)/dx = s + x s (1 - s), and x s = y


def _mish_derivative(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    t = np.tanh(np.logaddexp(0.0, x))
    return t + x * (1.0 - t * t) * _sigmoid(x)  # softplus' = sigmoid


# name: (f(x), f'(x, y) with y = f(x)). Where f has a kink, f' takes the value 0 there
# (the subgradient PyTorch and MXNet use).
FUNCTIONS: dict[str, tuple[Callable, Callable]] = {
    "Ramp": (lambda x: np.maximum(x, 0.0), lambda x, y: _one_if(y > 0, y)),  # y > 0 iff x > 0
    "Tanh": (np.tanh, lambda x, y: 1.0 - y * y),
    "LogisticSigmoid": (_sigmoid, lambda x, y: y * (1.0 - y)),
    "Sin": (np.sin, lambda x, y: np.cos(x)),
    "Cos": (np.cos, lambda x, y: -np.sin(x)),
    "Exp": (np.exp, lambda x, y: y),
    "Log": (np.log, lambda x, y: 1.0 / x),
    "Sqrt": (np.sqrt, lambda x, y: 0.5 / y),
    "Abs": (np.abs, lambda x, y: np.sign(x)),
    "Square": (np.square, lambda x, y: 2.0 * x),
    "SoftPlus": (lambda x: np.logaddexp(0.0, x), lambda x, y: _sigmoid(x)),
    "ELU": (
        lambda x: np.where(x > 0, x, _elu_negative(x)),
        lambda x, y: np.where(x > 0, 1.0, y + 1.0).astype(x.dtype),  # e^x = (e^x - 1) + 1
    ),
    "SELU": (
        lambda x: _SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * _elu_negative(x)),
        lambda x, y: np.where(x > 0, _SELU_SCALE, y + _SELU_SCALE * _SELU_ALPHA).astype(x.dtype),
    ),
    "GELU": (  # x*Phi(x); d/dx = Phi(x) + x*phi(x), phi the standard normal density
        lambda x: x * _gelu_cdf(x),
        lambda x, y: _gelu_cdf(x) + x * (_INV_SQRT_2PI * np.exp(-0.5 * x * x)),
    ),
    "Swish": (lambda x: x * _sigmoid(x), _swish_derivative),
    "HardTanh": (lambda x: np.clip(x, -1.0, 1.0), lambda x, y: _one_if(np.abs(x) < 1, x)),
    "HardSigmoid": (  # Wolfram's: Clip[(x + 1)/2, {0, 1}]
        lambda x: np.clip(0.5 * x + 0.5, 0.0, 1.0),
        lambda x, y: 0.5 * _one_if(np.abs(x) < 1, x),
    ),
    "HardSwish": (  # x*Clip[x + 3, {0, 6}]/6; d/dx = (2x + 3)/6 on (-3, 3)
        lambda x: x * np.clip(x + 3.0, 0.0, 6.0) / 6.0,
        lambda x, y: np.where(x >= 3, 1.0, np.where(x > -3, (2.0 * x + 3.0) / 6.0, 0.0)).astype(
            x.dtype
        ),
    ),
    "Mish": (lambda x: x * np.tanh(np.logaddexp(0.0, x)), _mish_derivative),
    "SoftSign": (lambda x: x / (1.0 + np.abs(x)), lambda x, y: 1.0 / np.square(1.0 + np.abs(x))),
    "Erf": (  # absolute error ~1e-16 (relative error grows for |x| < 1e-3)
        lambda x: 1.0 - erfc(x),
        lambda x, y: (2.0 / math.sqrt(math.pi)) * np.exp(-x * x),
    ),
}

# Functions whose derivative reads only y: their backward cache keeps the output alone, so a
# Conv -> BN -> Ramp net does not keep every BN output alive until backward.
OUTPUT_ONLY = frozenset({"Ramp", "Tanh", "LogisticSigmoid", "Exp", "Sqrt"})

ALIASES = {
    "RectifiedLinearUnit": "Ramp",
    "ReLU": "Ramp",
    "Sigmoid": "LogisticSigmoid",
    "ExponentialLinearUnit": "ELU",
    "ScaledExponentialLinearUnit": "SELU",
    "GaussianErrorLinearUnit": "GELU",
}

# Python/numpy functions that have a named (differentiable) equivalent.
_KNOWN_CALLABLES = {
    np.tanh: "Tanh",
    math.tanh: "Tanh",
    np.sin: "Sin",
    math.sin: "Sin",
    np.cos: "Cos",
    math.cos: "Cos",
    np.exp: "Exp",
    math.exp: "Exp",
    np.log: "Log",
    math.log: "Log",
    np.sqrt: "Sqrt",
    math.sqrt: "Sqrt",
    np.abs: "Abs",
    abs: "Abs",
    np.square: "Square",
    math.erf: "Erf",
}


def resolve_name(name: str, owner: str, table: dict, aliases: dict) -> str:
    """The table name of `name` (exact, alias, or a case-insensitive match); else an error."""
    if name in table or name in aliases:
        return name
    folded = {k.lower(): k for k in [*table, *aliases]}
    if name.lower() in folded:
        return folded[name.lower()]
    close = difflib.get_close_matches(name, list(folded.values()), n=1, cutoff=0.6)
    hint = f'did you mean "{close[0]}"?' if close else f"{owner}.functions() lists them"
    raise ValueError(f"should be a known function name ({hint})")


def apply_callable(f: Callable, args: list, owner: str) -> np.ndarray:
    """A user's function applied elementwise: on whole arrays when it accepts them (numpy
    style, same shape back), else element by element (`math.sin`, `lambda x: max(x, 0)`)."""
    like = args[0]
    try:
        out = np.asarray(f(*args))
        if out.shape == like.shape and out.dtype.kind in "fiub":
            return out.astype(like.dtype, copy=False)
    except (TypeError, ValueError, ArithmeticError):
        pass
    try:
        out = np.frompyfunc(f, len(args), 1)(*args)
        return np.asarray(out, dtype=like.dtype)
    except Exception as exc:  # a user's function: any failure is reported as a NetError
        raise NetError(
            f"{owner}: the function {getattr(f, '__name__', f)!r} failed on the input "
            f"({type(exc).__name__}: {exc}); it should map numbers to numbers."
        ) from None


def no_derivative_error(owner: str, f: Callable, names: list) -> NetError:
    return NetError(
        f"{owner}: the derivative of the Python function {getattr(f, '__name__', f)!r} is "
        "unknown, so the layer can be evaluated but not trained or differentiated "
        f"(NetTrain, NetPortGradient). Use a named function instead, one of: {', '.join(names)}."
    )


def function_option(
    value: Any, layer: str, table: dict, aliases: dict, known: dict, example: str
) -> Any:
    """A `function` option: a name from `table` (aliases resolved) or a Python callable; the
    numpy/math functions in `known` have a named equivalent and become it, so they train."""
    if isinstance(value, str):
        return resolve_name(value, layer, table, aliases)
    if callable(value):
        try:
            return known.get(value, value)
        except TypeError:  # an unhashable callable
            return value
    raise ValueError(f'should be a function name such as "{example}" or a Python callable')


class ElementwiseLayer(Layer):
    """Apply a scalar function to every element: ``ElementwiseLayer("Ramp")``.

    Named functions (``ElementwiseLayer.functions()``): Ramp, Tanh, LogisticSigmoid, Sin, Cos,
    Exp, Log, Sqrt, Abs, Square, SoftPlus, ELU, SELU, GELU (exact: ``0.5 x (1 + erf(x/sqrt 2))``,
    with our own vectorised erfc, relative error < 2e-13), Swish, HardTanh, HardSigmoid
    (``Clip[(x+1)/2, {0, 1}]`` as Wolfram defines it), HardSwish, Mish, SoftSign, Erf, and
    Wolfram's aliases (ReLU, RectifiedLinearUnit, Sigmoid, ExponentialLinearUnit,
    ScaledExponentialLinearUnit, GaussianErrorLinearUnit). A name matching in another case
    ("relu") is stored in the table's spelling. At a kink the derivative is 0.

    A Python callable is accepted for evaluation only: it is applied to the whole array when it
    takes and returns arrays of one shape, else element by element; it must be elementwise.
    Training or NetPortGradient through it raises NetError (its derivative is unknown). numpy
    and math functions with a named equivalent (``np.tanh``, ``math.exp``, ...) become that name.

    >>> import numpy as np, netgraph as ng
    >>> ng.ElementwiseLayer("Ramp")(np.array([-1.0, 0.5, 2.0]))
    array([0. , 0.5, 2. ], dtype=float32)
    >>> relu = ng.ElementwiseLayer("ReLU", Input=3)
    >>> relu(np.array([-1.0, 0.5, 2.0]), ng.NetPortGradient("Input"))
    array([0., 1., 1.], dtype=float32)
    >>> ng.ElementwiseLayer(lambda x: x**3 + 1)(np.array([1.0, 2.0]))
    array([2., 9.], dtype=float32)
    """

    class Options(LayerOptions):
        function: Any

        @field_validator("function", mode="before")
        @classmethod
        def _check(cls, value: Any) -> Any:
            return function_option(
                value, "ElementwiseLayer", FUNCTIONS, ALIASES, _KNOWN_CALLABLES, "Ramp"
            )

    positional = ("function",)

    @staticmethod
    def functions() -> list[str]:
        """Every accepted function name (table names, then Wolfram's aliases)."""
        return [*FUNCTIONS, *ALIASES]

    @property
    def function_name(self) -> str | None:
        """The table name of the function (aliases resolved), or None for a Python callable."""
        f = self._options.function
        return ALIASES.get(f, f) if isinstance(f, str) else None

    def _pair(self) -> tuple[Callable, Callable] | None:
        name = self.function_name
        return None if name is None else FUNCTIONS[name]

    # ------------------------------------------------------------------- compute

    def forward(self, arrays: dict, inputs: dict, ctx: Context):
        x = inputs["Input"]
        pair = self._pair()
        if pair is None:
            if ctx.need_grad or ctx.training:
                raise no_derivative_error("ElementwiseLayer", self._options.function, [*FUNCTIONS])
            return (
                {"Output": apply_callable(self._options.function, [x], "ElementwiseLayer")},
                None,
                None,
            )
        y = pair[0](x)
        return {"Output": y}, (None if self.function_name in OUTPUT_ONLY else x, y), None

    def backward(self, arrays: dict, cache, d_outputs: dict, ctx: Context):
        # y = f(x) elementwise, so d_x = dy * f'(x); the table gives f' from x and y.
        pair = self._pair()
        if pair is None:
            raise no_derivative_error("ElementwiseLayer", self._options.function, [*FUNCTIONS])
        x, y = cache
        return {"Input": d_outputs["Output"] * pair[1](x, y)}, {}
