"""Layers that normalise, reshape or drop values: Softmax, Flatten, Reshape, Dropout."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pydantic import Field, field_validator

from netgraph import shapes as S
from netgraph.layer import Context, Layer, LayerOptions
from netgraph.values import Automatic

_LEVEL_HELP = "should be a nonzero int (1 = the first axis of an example, -1 = the last)"


def _level(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value == 0:
        raise ValueError(_LEVEL_HELP)
    return int(value)


def _example_axis(level: int) -> int:
    """Wolfram's level (1-based, negative from the end) as a 0-based axis of an example."""
    return level - 1 if level > 0 else level


class SoftmaxLayer(Layer):
    """Exp-normalise along the last axis of each example (``Level=k``: axis k, 1-based).

    Computed as ``exp(x - max(x))/sum(exp(x - max(x)))``: subtracting the maximum makes the
    largest exponent 0, so nothing overflows (``[1000, 0]`` gives ``[1, 0]``).

    >>> import numpy as np, netgraph as ng
    >>> ng.SoftmaxLayer()(np.array([1000.0, 0.0]))
    array([1., 0.], dtype=float32)
    >>> ng.SoftmaxLayer()(np.log(np.array([[1.0, 3.0], [2.0, 2.0]])))
    array([[0.25, 0.75],
           [0.5 , 0.5 ]], dtype=float32)
    """

    class Options(LayerOptions):
        level: int = -1

        @field_validator("level", mode="before")
        @classmethod
        def _check(cls, value: Any) -> int:
            return _level(value)

    positional = ("level",)

    def infer(self, store: S.ShapeStore) -> None:
        store.need_min_rank("Input", abs(self._options.level), " (SoftmaxLayer normalises an axis)")
        store.same("Input", "Output")

    def _axis(self, x: np.ndarray) -> int:
        return 1 + _example_axis(self._options.level) % (x.ndim - 1)

    def forward(self, arrays: dict, inputs: dict, ctx: Context):
        x = inputs["Input"]
        axis = self._axis(x)
        y = x - x.max(axis=axis, keepdims=True)
        np.exp(y, out=y)
        y /= y.sum(axis=axis, keepdims=True)
        return {"Output": y}, (y, axis), None

    def backward(self, arrays: dict, cache, d_outputs: dict, ctx: Context):
        # y_i = e^{x_i}/sum_j e^{x_j}: dy_i/dx_k = y_i (delta_ik - y_k), so
        # d_x = y * (dy - sum(dy * y)) along the normalised axis.
        y, axis = cache
        dy = d_outputs["Output"]
        return {"Input": y * (dy - (dy * y).sum(axis=axis, keepdims=True))}, {}


# ------------------------------------------------------------------------ reshaping


def _link_product(store: S.ShapeStore, axes: list, out_axis: int, what: str) -> None:
    """Output dim `out_axis` is the product of the Input dims `axes`, inferred both ways."""
    dims = [store.dim("Input", i) for i in axes]
    total = store.dim("Output", out_axis)
    if None not in dims:
        store.set_dim("Output", out_axis, math.prod(dims), what)
    elif total is not None and dims.count(None) == 1:
        known = math.prod(d for d in dims if d is not None)
        if total % known:
            raise store.shape_error(
                f'{store.owner}: port "Output" {S.fmt(store["Output"])} cannot come from port '
                f'"Input" {S.fmt(store["Input"])} ({what}).'
            )
        store.set_dim("Input", axes[dims.index(None)], total // known, what)


class FlattenLayer(Layer):
    """Flatten each example to a vector; ``FlattenLayer(n)`` merges only the first n+1 axes
    and ``FlattenLayer(-n)`` the last n+1 (Wolfram's levels). Row-major order, as
    ``numpy.reshape``.

    >>> import numpy as np, netgraph as ng
    >>> ng.FlattenLayer(Input=(2, 3))(np.arange(6.0).reshape(2, 3))
    array([0., 1., 2., 3., 4., 5.], dtype=float32)
    >>> ng.Information(ng.FlattenLayer(1, Input=(2, 3, 4)), "OutputPorts")
    {'Output': (6, 4)}
    """

    class Options(LayerOptions):
        level: Any = Automatic

        @field_validator("level", mode="before")
        @classmethod
        def _check(cls, value: Any) -> Any:
            if value is None or value is Automatic or value == math.inf:
                return Automatic
            return _level(value)

    positional = ("level",)

    def infer(self, store: S.ShapeStore) -> None:
        level = self._options.level
        merged = None if level is Automatic else abs(level) + 1  # axes merged into one
        store.need_min_rank("Input", merged or 1, " (FlattenLayer merges axes)")
        if merged is None:
            store.set_rank("Output", 1)
        elif store.rank("Input") is None and store.rank("Output") is not None:
            store.set_rank("Input", store.rank("Output") + merged - 1)
        rank = store.rank("Input")
        if rank is None:
            return
        merged = merged or rank
        start = rank - merged if level is not Automatic and level < 0 else 0
        store.set_rank("Output", rank - merged + 1)
        for i in range(rank):
            if i < start:
                store.link_dim("Input", i, "Output", i)
            elif i >= start + merged:
                store.link_dim("Input", i, "Output", i - merged + 1)
        _link_product(store, list(range(start, start + merged)), start, "flattened")

    def forward(self, arrays: dict, inputs: dict, ctx: Context):
        x = inputs["Input"]
        out = self.port_shape("Output")
        return {"Output": x.reshape(x.shape[0], *out)}, x.shape, None

    def backward(self, arrays: dict, cache, d_outputs: dict, ctx: Context):
        # A reshape moves no value: the gradient is reshaped back.
        return {"Input": d_outputs["Output"].reshape(cache)}, {}


def _dimensions(value: Any) -> tuple:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, (tuple, list)):
        raise ValueError("should be a tuple of positive ints (one of them may be -1)")
    dims = []
    for d in value:
        if d is None or d is Automatic:
            d = -1
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or (d < 1 and d != -1):
            raise ValueError("should be a tuple of positive ints (one of them may be -1)")
        dims.append(int(d))
    if dims.count(-1) > 1:
        raise ValueError("may leave only one dimension to infer (-1, None or Automatic)")
    return tuple(dims)


class ReshapeLayer(Layer):
    """Reshape each example to ``dims`` (row-major, as ``numpy.reshape``). One entry may be
    -1 (or None/Automatic, stored as -1): it is inferred from the input's size.

    >>> import numpy as np, netgraph as ng
    >>> ng.ReshapeLayer((2, -1))(np.arange(6.0)).shape
    (2, 3)
    >>> ng.Information(ng.ReshapeLayer((3, 2), Input=(None, 2)), "InputPorts")
    {'Input': (3, 2)}
    """

    class Options(LayerOptions):
        dimensions: tuple

        @field_validator("dimensions", mode="before")
        @classmethod
        def _check(cls, value: Any) -> tuple:
            return _dimensions(value)

    positional = ("dimensions",)

    def infer(self, store: S.ShapeStore) -> None:
        dims = self._options.dimensions
        store.unify("Output", tuple(None if d == -1 else d for d in dims), "the dimensions")
        _solve_size(store, "Input", "Output")
        _solve_size(store, "Output", "Input")

    def forward(self, arrays: dict, inputs: dict, ctx: Context):
        x = inputs["Input"]
        return {"Output": x.reshape(x.shape[0], *self._options.dimensions)}, x.shape, None

    def backward(self, arrays: dict, cache, d_outputs: dict, ctx: Context):
        # A reshape moves no value: the gradient is reshaped back.
        return {"Input": d_outputs["Output"].reshape(cache)}, {}


def _solve_size(store: S.ShapeStore, known: str, other: str) -> None:
    """Fill the single unknown dim of `other` (rank known) from the size of `known`."""
    shape, target = store[known], store[other]
    if not S.is_known(shape) or S.rank(target) is None:
        return
    size = math.prod(shape)
    missing = [i for i, d in enumerate(target) if d is None]
    rest = math.prod(d for d in target if d is not None)
    if (not missing and rest != size) or (missing and size % rest):
        raise store.shape_error(
            f'{store.owner}: port "{known}" {S.fmt(shape)} has {size} elements, which port '
            f'"{other}" {S.fmt(target)} cannot hold.'
        )
    if len(missing) == 1:
        store.set_dim(other, missing[0], size // rest)


# ------------------------------------------------------------------------ dropout


class DropoutLayer(Layer):
    """Identity in "Test" mode; in "Train" mode each element is zeroed with probability p and
    the survivors scaled by ``1/(1 - p)``, so the expected output equals the input.

    The mask is drawn in float64 from the evaluation's generator, so ``RandomSeeding=s``
    gives the same mask in Real32 and Real64; the backward uses the same mask.

    >>> import numpy as np, netgraph as ng
    >>> drop = ng.DropoutLayer(0.5)
    >>> drop(np.ones(4))
    array([1., 1., 1., 1.], dtype=float32)
    >>> np.unique(drop(np.ones(1000), NetEvaluationMode="Train", RandomSeeding=1))
    array([0., 2.], dtype=float32)
    """

    class Options(LayerOptions):
        dropout_probability: float = Field(0.5, ge=0, lt=1)

    positional = ("dropout_probability",)
    draws_random = True  # an evaluation gives each such layer its own generator

    def forward(self, arrays: dict, inputs: dict, ctx: Context):
        x = inputs["Input"]
        p = self._options.dropout_probability
        if ctx.mode != "Train" or p == 0:
            return {"Output": x}, None, None
        rng = ctx.rng if ctx.rng is not None else np.random.default_rng()
        scale = np.where(rng.random(x.shape) >= p, 1.0 / (1.0 - p), 0.0).astype(x.dtype)
        return {"Output": x * scale}, scale, None

    def backward(self, arrays: dict, cache, d_outputs: dict, ctx: Context):
        # y = x * scale with scale in {0, 1/(1-p)} fixed by the forward: d_x = dy * scale.
        dy = d_outputs["Output"]
        return {"Input": dy if cache is None else dy * cache}, {}
