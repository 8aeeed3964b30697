"""ConvolutionLayer and PoolingLayer: 1-D to 3-D windows over channels-first (or last) arrays.

The compute lives in `_window` (im2col plus one BLAS product per group); these classes hold the
options, the shape rule and the channel-axis handling.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BeforeValidator, Field

from netgraph import shapes as S
from netgraph.errors import NetShapeError
from netgraph.layer import ArraySpec, Context, Layer, LayerOptions

from . import _window as W


def _tuple(v: Any) -> Any:
    """Lists become tuples (strict pydantic takes tuples only); numpy ints become ints."""
    if isinstance(v, (list, tuple)):
        return tuple(_tuple(x) for x in v)
    if isinstance(v, np.integer):
        return int(v)
    return v


PositiveInt = Annotated[int, Field(ge=1)]
Dims = Annotated[PositiveInt | tuple[PositiveInt, ...], BeforeValidator(_tuple)]
Pad = Annotated[int, Field(ge=0)]
Padding = Annotated[
    Pad | tuple[Pad, ...] | tuple[tuple[Pad, Pad], ...] | Literal["Same"],
    BeforeValidator(_tuple),
]


def _per_dim(value: Any, d: int, name: str, owner: str) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * d
    if len(value) != d:
        raise NetShapeError(f"{owner}: {name} {value!r} has {len(value)} entries for {d} dims.")
    return tuple(value)


def _pads(value: Any, d: int, owner: str) -> tuple | None:
    """PaddingSize as ((begin, end), ...) per dim; None for "Same" (needs the input size)."""
    if value == "Same":
        return None
    if isinstance(value, int):
        return ((value, value),) * d
    if len(value) != d:
        raise NetShapeError(
            f"{owner}: PaddingSize {value!r} has {len(value)} entries for {d} dims."
        )
    return tuple((p, p) if isinstance(p, int) else tuple(p) for p in value)


def _same_pads(size: int, k: int, stride: int, dilation: int) -> tuple[int, int]:
    """ "Same" padding: the output has ceil(size/stride) positions, extra padding at the end."""
    out = -(-size // stride)
    total = max((out - 1) * stride + dilation * (k - 1) + 1 - size, 0)
    return total // 2, total - total // 2


class _WindowLayer(Layer):
    """What Convolution and Pooling share: dims, geometry, channel axis, spatial shapes."""

    def _dims_hint(self, store) -> int | None:
        """The number of spatial dims, from any option tuple or any known rank."""
        o = self._options
        for value in (o.kernel_size, o.stride, getattr(o, "dilation", 1), o.padding_size):
            if isinstance(value, tuple):
                return len(value)
        for port in ("Input", "Output"):
            r = store.rank(port)
            if r is not None:
                return r - 1
        return None

    def geometry(self, d: int, spatial: tuple | None = None):
        """(kernel, stride, dilation, pads) per dim; "Same" pads need the spatial input size."""
        o, name = self._options, type(self).__name__
        k = _per_dim(o.kernel_size, d, "KernelSize", name)
        stride = _per_dim(o.stride, d, "Stride", name)
        dilation = _per_dim(getattr(o, "dilation", 1), d, "Dilation", name)
        pads = _pads(o.padding_size, d, name)
        if pads is None:
            if spatial is None or None in spatial:
                return k, stride, dilation, None
            pads = tuple(
                _same_pads(s, ki, si, di) for s, ki, si, di in zip(spatial, k, stride, dilation)
            )
        return k, stride, dilation, pads

    def _axes(self, d: int) -> tuple[int, list[int]]:
        """(channel axis, spatial axes) of one example."""
        if self._options.interleaving:
            return d, list(range(d))
        return 0, list(range(1, d + 1))

    def _infer_spatial(self, store, d: int) -> None:
        channel, spatial_axes = self._axes(d)
        spatial = tuple(store.dim("Input", a) for a in spatial_axes)
        k, stride, dilation, pads = self.geometry(d, spatial)
        if pads is None:
            return
        for i, axis in enumerate(spatial_axes):
            if spatial[i] is None:
                continue
            out = W.conv_output_size(spatial[i], k[i], stride[i], *pads[i], dilation[i])
            if out <= 0:
                raise NetShapeError(
                    f"{type(self).__name__}: the output size along spatial dimension {i + 1} "
                    f"would be {out} (input {spatial[i]}, kernel {k[i]}, stride {stride[i]}, "
                    f"padding {pads[i]}, dilation {dilation[i]}): the kernel is larger than the "
                    "padded input."
                )
            store.set_dim("Output", axis, out)

    def _to_channels_first(self, x: np.ndarray) -> np.ndarray:
        return np.moveaxis(x, -1, 1) if self._options.interleaving else x

    def _from_channels_first(self, y: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.moveaxis(y, 1, -1)) if self._options.interleaving else y

    def _batch_geometry(self, x: np.ndarray):
        d = x.ndim - 2
        spatial = x.shape[2:]
        return self.geometry(d, spatial)


class ConvolutionLayer(_WindowLayer):
    """`ConvolutionLayer(n, k)`: n output channels, kernel k (an int or a tuple: 1-D to 3-D).

    Cross-correlation (no kernel flip) of an input (c, *spatial) with Weights (n, c/g, *k) plus
    Biases (n); each output size is floor((in + pads - (Dilation*(k-1)+1))/Stride + 1).
    PaddingSize: p (every side), (p1, p2, ...) per dim, ((b1, e1), ...) begin/end per dim, or
    "Same". ChannelGroups g: input channel group i feeds output channel group i.
    Interleaving=True puts channels last.

    >>> import numpy as np, netgraph as ng
    >>> conv = ng.ConvolutionLayer(16, 3, PaddingSize=1, Input=(1, 8, 8))
    >>> ng.Information(conv, "OutputPorts"), ng.Information(conv, "ArraysDimensions")[("Weights",)]
    ({'Output': (16, 8, 8)}, (16, 1, 3, 3))
    >>> ng.NetInitialize(conv)(np.ones((1, 8, 8))).shape
    (16, 8, 8)
    """

    class Options(LayerOptions):
        output_channels: PositiveInt | None = None
        kernel_size: Dims
        stride: Dims = 1
        padding_size: Padding = 0
        dilation: Dims = 1
        channel_groups: PositiveInt = 1
        interleaving: bool = False

    positional = ("output_channels", "kernel_size")
    array_specs = (
        ArraySpec("Weights", "learned", "weights"),
        ArraySpec("Biases", "learned", "zeros"),
    )

    def infer(self, store) -> None:
        o, name = self._options, type(self).__name__
        store.set_rank("Biases", 1)
        if o.output_channels is not None:
            store.set_dim("Weights", 0, o.output_channels, "the layer's n output channels")
            store.set_dim("Biases", 0, o.output_channels, "the layer's n output channels")
        store.link_dim("Weights", 0, "Biases", 0)
        d = self._dims_hint(store)
        if d is None and store.rank("Weights") is not None:
            d = store.rank("Weights") - 2
        if d is None:  # rank unknown: the channel axes are known all the same, (n, ...)
            channel = -1 if o.interleaving else 0
            store.link_dim("Output", channel, "Weights", 0)
            per_group = store.dim("Weights", 1)
            if per_group is not None:
                store.set_dim("Input", channel, per_group * o.channel_groups, "the Weights")
            return
        if not 1 <= d <= 3:
            raise NetShapeError(
                f"{name}: convolution takes 1 to 3 spatial dimensions, got {d}"
                + (f" (input shape {S.fmt(store['Input'])})" if store["Input"] is not None else "")
                + "."
            )
        store.set_rank("Input", d + 1, "channels and spatial dimensions")
        store.set_rank("Output", d + 1)
        store.set_rank("Weights", d + 2)
        channel, _ = self._axes(d)
        store.link_dim("Output", channel, "Weights", 0)
        k, _, _, _ = self.geometry(d)
        for i, ki in enumerate(k):
            store.set_dim("Weights", 2 + i, ki, "the kernel size")
        c, per_group = store.dim("Input", channel), store.dim("Weights", 1)
        g = o.channel_groups
        if c is not None and c % g:
            raise NetShapeError(
                f"{name}: {c} input channels cannot be split into ChannelGroups={g} groups."
            )
        n = store.dim("Weights", 0)
        if n is not None and n % g:
            raise NetShapeError(
                f"{name}: {n} output channels cannot be split into ChannelGroups={g} groups."
            )
        if c is not None:
            store.set_dim("Weights", 1, c // g, f"{c} input channels in {g} groups")
        elif per_group is not None:
            store.set_dim("Input", channel, per_group * g, "the Weights")
        self._infer_spatial(store, d)

    def forward(self, arrays: dict, inputs: dict, ctx: Context):
        x = self._to_channels_first(inputs["Input"])
        k, stride, dilation, pads = self._batch_geometry(x)
        y, cache = W.conv_forward(
            x,
            arrays["Weights"],
            arrays["Biases"],
            stride,
            pads,
            dilation,
            self._options.channel_groups,
        )
        return {"Output": self._from_channels_first(y)}, cache, None

    def backward(self, arrays: dict, cache, d_outputs: dict, ctx: Context):
        # y = W * x + b (cross-correlation): dx is the transposed convolution of dy with W,
        # dW correlates dy with x's windows, db sums dy over the batch and positions.
        dy = self._to_channels_first(d_outputs["Output"])
        dx, dw, db = W.conv_backward(cache, dy, need_dx=ctx.input_grads)
        dx = None if dx is None else self._from_channels_first(dx)
        return {"Input": dx}, {"Weights": dw, "Biases": db}


class PoolingLayer(_WindowLayer):
    """`PoolingLayer(k)` or `PoolingLayer(k, stride)`: Max, Mean or Total over windows.

    Stride defaults to 1 (as in Wolfram). Max pads with -inf (padding never wins) and on ties
    sends the gradient to the first element of the window in row-major order. Mean divides by
    the full window size: padding counts as zeros. Channels pass through unchanged.

    >>> import numpy as np, netgraph as ng
    >>> pool = ng.PoolingLayer(2, 2, Input=(1, 4, 4))
    >>> pool(np.arange(16.0).reshape(1, 4, 4))
    array([[[ 5.,  7.],
            [13., 15.]]], dtype=float32)
    """

    class Options(LayerOptions):
        kernel_size: Dims
        stride: Dims = 1
        padding_size: Padding = 0
        function: Literal["Max", "Mean", "Total"] = "Max"
        interleaving: bool = False

    positional = ("kernel_size", "stride")

    def infer(self, store) -> None:
        d = self._dims_hint(store)
        if d is None:
            return
        if not 1 <= d <= 3:
            raise NetShapeError(f"PoolingLayer: pooling takes 1 to 3 spatial dimensions, got {d}.")
        store.set_rank("Input", d + 1, "channels and spatial dimensions")
        store.set_rank("Output", d + 1)
        channel, _ = self._axes(d)
        store.link_dim("Input", channel, "Output", channel)
        k, _, _, pads = self.geometry(d)
        if pads is not None and any(p >= ki for pair, ki in zip(pads, k) for p in pair):
            raise NetShapeError(
                f"PoolingLayer: the padding size {self._options.padding_size!r} must be smaller "
                f"than the kernel size {self._options.kernel_size!r}."
            )
        self._infer_spatial(store, d)

    def forward(self, arrays: dict, inputs: dict, ctx: Context):
        x = self._to_channels_first(inputs["Input"])
        k, stride, _, pads = self._batch_geometry(x)
        function = "Max" if self._options.function == "Max" else "Mean"
        y, cache = W.pool_forward(x, k, stride, pads, function)
        if self._options.function == "Total":
            y *= int(np.prod(k))
        return {"Output": self._from_channels_first(y)}, (cache, k), None

    def backward(self, arrays: dict, cache, d_outputs: dict, ctx: Context):
        # Max: dy goes to the winning element of each window; Mean: dy/|window| to each
        # element of the window (Total: dy to each); overlapping windows add up.
        pool_cache, k = cache
        dy = self._to_channels_first(d_outputs["Output"])
        if self._options.function == "Total":
            dy = dy * int(np.prod(k))
        dx = W.pool_backward(pool_cache, dy)
        return {"Input": self._from_channels_first(dx)}, {}
