"""Layers with several inputs: CatenateLayer, TotalLayer, ThreadingLayer.

Each is variadic: an instance has the input ports "Input1" ... "InputN", N set by the
"InputPorts" option (2 by default). A NetGraph edge from a list of sources,
``(["a", "b", "c"], "cat")``, makes N = 3 and feeds Input1, Input2, Input3 in order.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from typing import Any

import numpy as np
from pydantic import Field, field_validator, model_validator

from netgraph import shapes as S
from netgraph.errors import NetShapeError
from netgraph.layer import Context, Layer, LayerOptions, Port

from .elementwise import apply_callable, function_option, no_derivative_error


class _InputPorts:
    """Descriptor: an instance's ports Input1..InputN; on the class, the default N = 2."""

    def __get__(self, obj: Any, cls: type) -> tuple[Port, ...]:
        options = None if obj is None else getattr(obj, "_options", None)
        n = 2 if options is None else options.input_ports
        return tuple(Port(f"Input{i + 1}") for i in range(n))


class _PortNames:
    """Descriptor: `_port_names()` of the instance when there is one, else of the class."""

    def __get__(self, obj: Any, cls: type) -> Callable[[], list[str]]:
        owner = cls if obj is None else obj
        return lambda: [p.name for p in owner.input_ports + owner.output_ports]


class _VariadicOptions(LayerOptions):
    input_ports: int = Field(2, ge=1)


class _Variadic(Layer):
    """Shared machinery of the variadic layers (not registered: the name starts with _)."""

    variadic_inputs = True
    input_ports = _InputPorts()
    _port_names = _PortNames()

    def _split_arguments(self, args: tuple, kwargs: dict):
        # Shapes for ports beyond the default two (Input3=...) need N, an option not yet parsed.
        n = kwargs.get("InputPorts", kwargs.get("input_ports"))
        count = n if isinstance(n, int) and not isinstance(n, bool) else 2
        later = {}
        for key in list(kwargs):
            number = key[len("Input") :] if key[:5] in ("Input", "input") else ""
            if number.isdigit() and 2 < int(number) <= count:
                later[f"Input{int(number)}"] = kwargs.pop(key)
        options, arrays, shapes, lrm = super()._split_arguments(args, kwargs)
        for port, value in later.items():
            try:
                shapes[port] = S.parse(value, f'{type(self).__name__} port "{port}"')
            except ValueError as exc:
                raise NetShapeError(str(exc) + ".") from None
        return options, arrays, shapes, lrm

    def _with_input_count(self, n: int) -> Layer:
        options = {k: getattr(self._options, k) for k in type(self).Options.model_fields}
        return self._replace(options=type(self)._validate_options({**options, "input_ports": n}))

    def _inputs(self, inputs: dict) -> list[np.ndarray]:
        return [inputs[p.name] for p in self.input_ports]

    def _grads(self, grads: list) -> dict:
        return {p.name: g for p, g in zip(self.input_ports, grads)}


# ------------------------------------------------------------------------ Catenate


class CatenateLayer(_Variadic):
    """Join the inputs along the first axis of an example (``Level=k``: axis k, 1-based;
    -1 the last). Every other dim must agree; the joined dim of Output is the sum.

    >>> import numpy as np, netgraph as ng
    >>> cat = ng.CatenateLayer()
    >>> cat({"Input1": np.array([1.0, 2.0]), "Input2": np.array([3.0])})
    array([1., 2., 3.], dtype=float32)
    >>> ng.Information(ng.CatenateLayer(InputPorts=3, Input1=(2, 5), Output=(6, 5)), "InputPorts")
    {'Input1': (2, 5), 'Input2': (None, 5), 'Input3': (None, 5)}
    """

    class Options(_VariadicOptions):
        level: int = 1

        @field_validator("level", mode="before")
        @classmethod
        def _check(cls, value: Any) -> int:
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not value:
                raise ValueError("should be a nonzero int (1 = the first axis, -1 = the last)")
            return int(value)

    positional = ("level",)

    def infer(self, store: S.ShapeStore) -> None:
        ins = [p.name for p in self.input_ports]
        ports = [*ins, "Output"]
        level = self._options.level
        for p in ports:
            store.need_min_rank(p, abs(level), " (CatenateLayer joins along that axis)")
        rank = next((store.rank(p) for p in ports if store.rank(p) is not None), None)
        if rank is None:
            return
        axis = (level - 1 if level > 0 else level) % rank
        for p in ports:
            store.set_rank(p, rank)
        for i in range(rank):
            if i != axis:
                for p in ports[1:]:
                    store.link_dim(ports[0], i, p, i)
        sizes = [store.dim(p, axis) for p in ins]
        total = store.dim("Output", axis)
        if None not in sizes:
            store.set_dim("Output", axis, sum(sizes), "the sum of the inputs' sizes")
        elif total is not None and sizes.count(None) == 1:
            rest = total - sum(s for s in sizes if s is not None)
            if rest < 1:
                raise store.shape_error(
                    f'{store.owner}: port "Output" {S.fmt(store["Output"])} is too small for '
                    f"the inputs {', '.join(S.fmt(store[p]) for p in ins)}."
                )
            store.set_dim(ins[sizes.index(None)], axis, rest, "Output minus the other inputs")

    def _axis(self, x: np.ndarray) -> int:
        level = self._options.level
        return 1 + (level - 1 if level > 0 else level) % (x.ndim - 1)

    def forward(self, arrays: dict, inputs: dict, ctx: Context):
        xs = self._inputs(inputs)
        axis = self._axis(xs[0])
        sizes = [x.shape[axis] for x in xs]
        return {"Output": np.concatenate(xs, axis=axis)}, (axis, sizes), None

    def backward(self, arrays: dict, cache, d_outputs: dict, ctx: Context):
        # Catenation only moves values: each input gets its own slice of dy back.
        axis, sizes = cache
        pieces = np.split(d_outputs["Output"], np.cumsum(sizes)[:-1], axis=axis)
        return self._grads(pieces), {}


# ------------------------------------------------------------------------ Total


def _same_shapes(store: S.ShapeStore, ports: list) -> None:
    for p in ports[1:]:
        store.same(ports[0], p)
    for p in ports[1:]:  # a second pass carries what the last ports added back to the first
        store.same(ports[0], p)


class TotalLayer(_Variadic):
    """The elementwise sum of all its inputs (all of one shape).

    >>> import numpy as np, netgraph as ng
    >>> total = ng.TotalLayer(InputPorts=3)
    >>> total({"Input1": [1.0, 2.0], "Input2": [10.0, 20.0], "Input3": [0.5, 0.5]})
    array([11.5, 22.5], dtype=float32)
    """

    Options = _VariadicOptions

    def infer(self, store: S.ShapeStore) -> None:
        _same_shapes(store, [*(p.name for p in self.input_ports), "Output"])

    def forward(self, arrays: dict, inputs: dict, ctx: Context):
        xs = self._inputs(inputs)
        y = xs[0].copy()
        for x in xs[1:]:
            y += x
        return {"Output": y}, None, None

    def backward(self, arrays: dict, cache, d_outputs: dict, ctx: Context):
        # y = sum_i x_i: every input gets dy.
        dy = d_outputs["Output"]
        return self._grads([dy] * len(self.input_ports)), {}


# ------------------------------------------------------------------------ Threading


def _times_grads(xs: list, y: np.ndarray, dy: np.ndarray) -> list:
    # d(x_1...x_n)/dx_i = product of the others (not y/x_i, which fails where x_i = 0).
    return [dy * functools.reduce(np.multiply, xs[:i] + xs[i + 1 :], 1.0) for i in range(len(xs))]


def _pick_grads(arg_extreme: Callable) -> Callable:
    def grads(xs: list, y: np.ndarray, dy: np.ndarray) -> list:
        # The winner takes dy; ties go to the first input holding the extreme value.
        winner = arg_extreme(np.stack(xs), axis=0)
        return [np.where(winner == i, dy, 0.0).astype(dy.dtype) for i in range(len(xs))]

    return grads


def _power_grads(xs: list, y: np.ndarray, dy: np.ndarray) -> list:
    # y = a^b: dy/da = b a^(b-1); dy/db = y log a, taken as 0 where a <= 0 (log undefined).
    a, b = xs
    log_a = np.log(np.where(a > 0, a, 1.0))
    return [dy * b * np.power(a, b - 1.0), dy * y * log_a]


# name: (f(x_1, ..., x_n), gradients(xs, y, dy) -> [d_x_i]). Binary names take 2 inputs.
THREAD_FUNCTIONS: dict[str, tuple[Callable, Callable]] = {
    "Plus": (lambda *xs: functools.reduce(np.add, xs), lambda xs, y, dy: [dy] * len(xs)),
    "Times": (lambda *xs: functools.reduce(np.multiply, xs), _times_grads),
    "Max": (lambda *xs: functools.reduce(np.maximum, xs), _pick_grads(np.argmax)),
    "Min": (lambda *xs: functools.reduce(np.minimum, xs), _pick_grads(np.argmin)),
    "Subtract": (np.subtract, lambda xs, y, dy: [dy, -dy]),
    "Divide": (np.divide, lambda xs, y, dy: [dy / xs[1], -dy * y / xs[1]]),
    "Power": (np.power, _power_grads),
}
BINARY = ("Subtract", "Divide", "Power")

_KNOWN_CALLABLES = {
    np.add: "Plus",
    operator.add: "Plus",
    np.multiply: "Times",
    operator.mul: "Times",
    np.maximum: "Max",
    max: "Max",
    np.minimum: "Min",
    min: "Min",
    np.subtract: "Subtract",
    operator.sub: "Subtract",
    np.divide: "Divide",
    operator.truediv: "Divide",
    np.power: "Power",
    operator.pow: "Power",
    pow: "Power",
}


class ThreadingLayer(_Variadic):
    """Apply a function elementwise across its inputs (all of one shape, no broadcasting):
    ``ThreadingLayer("Times")`` multiplies Input1, Input2, ... element by element.

    Named functions with gradients: Plus, Times, Max, Min (any number of inputs), Subtract,
    Divide, Power (exactly 2: Input1 - Input2, Input1/Input2, Input1^Input2). Max/Min send the
    gradient to the first input holding the extreme value; Power's gradient with respect to
    the exponent is taken as 0 where the base is <= 0. numpy/operator functions with a named
    equivalent (``np.add``, ``operator.mul``, ``max``) become that name. Any other Python
    callable ``f(x1, ..., xn)`` is evaluated elementwise but cannot be trained or
    differentiated (NetError).

    >>> import numpy as np, netgraph as ng
    >>> ng.ThreadingLayer("Times")({"Input1": [1.0, 2.0, 3.0], "Input2": [4.0, 5.0, 6.0]})
    array([ 4., 10., 18.], dtype=float32)
    >>> ng.ThreadingLayer(lambda a, b: a * b + 1)({"Input1": [2.0], "Input2": [3.0]})
    array([7.], dtype=float32)
    """

    class Options(_VariadicOptions):
        function: Any

        @field_validator("function", mode="before")
        @classmethod
        def _check(cls, value: Any) -> Any:
            return function_option(
                value, "ThreadingLayer", THREAD_FUNCTIONS, {}, _KNOWN_CALLABLES, "Plus"
            )

        @model_validator(mode="after")
        def _arity(self) -> Any:
            if self.function in BINARY and self.input_ports != 2:
                raise ValueError(
                    f'"{self.function}" takes exactly 2 inputs, not {self.input_ports}'
                )
            return self

    positional = ("function",)

    @staticmethod
    def functions() -> list[str]:
        """The named functions (with gradients)."""
        return list(THREAD_FUNCTIONS)

    def infer(self, store: S.ShapeStore) -> None:
        _same_shapes(store, [*(p.name for p in self.input_ports), "Output"])

    def _pair(self) -> tuple[Callable, Callable] | None:
        f = self._options.function
        return THREAD_FUNCTIONS[f] if isinstance(f, str) else None

    def forward(self, arrays: dict, inputs: dict, ctx: Context):
        xs = self._inputs(inputs)
        pair = self._pair()
        if pair is None:
            f = self._options.function
            if ctx.need_grad or ctx.training:
                raise no_derivative_error("ThreadingLayer", f, list(THREAD_FUNCTIONS))
            return {"Output": apply_callable(f, xs, "ThreadingLayer")}, None, None
        y = pair[0](*xs)
        return {"Output": y}, (xs, y), None

    def backward(self, arrays: dict, cache, d_outputs: dict, ctx: Context):
        # y = f(x_1, ..., x_n) elementwise: d_x_i = dy * df/dx_i, from the table.
        pair = self._pair()
        if pair is None:
            raise no_derivative_error("ThreadingLayer", self._options.function, [])
        xs, y = cache
        return self._grads(pair[1](xs, y, d_outputs["Output"])), {}
