"""LinearLayer: ``y = Weights . x + Biases``, with the input flattened to a vector."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pydantic import field_validator

from netgraph import shapes as S
from netgraph.layer import ArraySpec, Context, Layer, LayerOptions
from netgraph.values import Automatic


def _output_dims(value: Any) -> Any:
    """`n` as given: Automatic, an int, or a tuple of ints (`()` is a scalar output)."""
    if value is None or value is Automatic:
        return Automatic
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        dims: tuple = (value,)
    elif isinstance(value, (tuple, list)):
        dims = tuple(value)
    else:
        raise ValueError("should be a positive int, a tuple of positive ints or Automatic")
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1:
            raise ValueError("should be a positive int, a tuple of positive ints or Automatic")
    return int(value) if isinstance(value, (int, np.integer)) else tuple(int(d) for d in dims)


def _link_size(store: S.ShapeStore, port: str, axis: int) -> None:
    """`Weights` dim `axis` is the number of elements of `port` (which may have any rank).

    Port -> Weights when every dim of the port is known; Weights -> port when the port's rank
    is known and a single dim is missing (a vector port of unknown length, typically).
    """
    shape, size = store[port], store.dim("Weights", axis)
    if S.is_known(shape):
        count = math.prod(shape)
        if size is not None and size != count:
            raise store.array_error(
                f'{store.owner}: port "{port}" {S.fmt(shape)} has {count} elements, but array '
                f'"Weights" {S.fmt(store["Weights"])} has {size} along axis {axis}.'
            )
        store.set_dim("Weights", axis, count)
        return
    if size is None or S.rank(shape) is None:
        return
    missing = [i for i, d in enumerate(shape) if d is None]
    known = math.prod(d for d in shape if d is not None)
    if len(missing) == 1:
        if size % known:
            raise store.array_error(
                f'{store.owner}: port "{port}" {S.fmt(shape)} cannot have {size} elements, as '
                f'array "Weights" {S.fmt(store["Weights"])} requires along axis {axis}.'
            )
        store.set_dim(port, missing[0], size // known)


class LinearLayer(Layer):
    """A fully connected layer: ``y = Weights . flatten(x) + Biases``.

    ``n`` is the output size: an int, a tuple of dims (``()`` gives a scalar output) or
    Automatic (then Output=, Biases or Weights decide it; Weights alone give a vector).
    An input of rank > 1 is flattened (row-major, as ``numpy.reshape``) before the product,
    so ``Weights`` is the matrix ``(prod(n), prod(input dims))``: the input size stays its
    second dim, which makes Kaiming's fan_in the input size. ``Biases`` has the output's
    shape ``n``. Input dims are inferred from Weights only once the input's rank is known
    (any rank flattens to the same size); standalone, data decides it.

    >>> import numpy as np, netgraph as ng
    >>> lin = ng.LinearLayer(2, Weights=[[1, 2, 3], [0, 1, 0]], Biases=[10, 20], Input=3)
    >>> lin(np.array([1.0, 1.0, 2.0]))              # [1+2+6+10, 1+20]
    array([19., 21.], dtype=float32)
    >>> ng.Information(ng.LinearLayer((2, 3), Input=(4, 5)), "ArraysDimensions")
    {('Weights',): (6, 20), ('Biases',): (2, 3)}
    """

    class Options(LayerOptions):
        output_dimensions: Any = Automatic

        @field_validator("output_dimensions", mode="before")
        @classmethod
        def _check(cls, value: Any) -> Any:
            return _output_dims(value)

    positional = ("output_dimensions",)
    array_specs = (
        ArraySpec("Weights", "learned", "weights"),
        ArraySpec("Biases", "learned", "zeros"),
    )

    def infer(self, store: S.ShapeStore) -> None:
        n = self._options.output_dimensions
        if n is not Automatic:
            store.unify("Output", (n,) if isinstance(n, int) else n, "the layer's size n")
        store.same("Output", "Biases")
        store.set_rank("Weights", 2)
        if store["Output"] is None and store.dim("Weights", 0) is not None:
            store.unify("Output", (store.dim("Weights", 0),), "a vector as long as Weights")
        _link_size(store, "Output", 0)
        _link_size(store, "Input", 1)

    # ------------------------------------------------------------------- compute

    def forward(self, arrays: dict, inputs: dict, ctx: Context):
        x = inputs["Input"]
        weights, biases = arrays["Weights"], arrays["Biases"]
        x2 = x.reshape(x.shape[0], -1)
        y2 = x2 @ weights.T
        y2 += biases.reshape(-1)
        return {"Output": y2.reshape(x.shape[0], *biases.shape)}, (x2, x.shape), None

    def backward(self, arrays: dict, cache, d_outputs: dict, ctx: Context):
        # y2 = x2 W^T + b over a batch of flattened rows x2 (N, in), so
        # d_W = dy2^T x2 (summed over the batch), d_b = sum over the batch of dy2,
        # d_x2 = dy2 W, reshaped back to the input's shape.
        x2, x_shape = cache
        weights, biases = arrays["Weights"], arrays["Biases"]
        dy2 = d_outputs["Output"].reshape(x2.shape[0], -1)
        d_arrays = {"Weights": dy2.T @ x2, "Biases": dy2.sum(axis=0).reshape(biases.shape)}
        return {"Input": (dy2 @ weights).reshape(x_shape)}, d_arrays
