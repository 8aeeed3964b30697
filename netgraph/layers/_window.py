"""N-dimensional convolution and pooling kernels in plain numpy (batched, channels first).

``x`` is ``(N, C, *S)`` with 1, 2 or 3 spatial dims ``S``; ``pads`` holds one ``(begin, end)``
pair per spatial dim, ``stride`` and ``dilation`` one int per spatial dim. Everything runs in the
input's dtype: float32 stays float32.

Convolution is im2col plus one BLAS product (per group, as one stacked ``np.matmul``): the padded
input is viewed as overlapping windows (no copy), copied once into a column buffer laid out
``(C, *k, N, *grid)``, and multiplied by the weights reshaped to ``(groups, n/groups, C/groups*K)``.
The grid is the output shape, or, when every stride is 1, the whole padded shape ("full grid",
taken while it at most doubles the work): then the column of padded position q for kernel offset
o is the input at the flat position q + offset(o), so every window copy moves long contiguous
rows, and col2im becomes one strided sum over the offsets instead of an add per offset. The
extra grid positions hold garbage, dropped from ``y`` and met by zeros in ``dy``.

Large temporaries (padded input, columns, transposed products) live in a small per-thread cache of
scratch buffers, keyed by everything that decides which of their elements a call writes (the
padded input by the input's whole shape), so the elements a call never writes keep their fill
whatever ran before; every array handed back to the caller is fresh. A forward cache holds
``x`` and ``w`` themselves, not the columns: the backward reuses the columns while they are still
in their scratch buffer (one layer's forward then backward) and rebuilds them from ``x``
otherwise, which is cheaper than a fresh 9x-sized array per forward. So ``x`` and ``w`` must not
be modified in place between a forward and its backward.
"""

from __future__ import annotations

import functools
import itertools
import math
import threading
from collections import OrderedDict
from typing import NamedTuple

import numpy as np

Pads = tuple[tuple[int, int], ...]

_SCRATCH_BYTES = 256 * 2**20  # above this the least recently used scratch buffers are dropped
_STAMPS = itertools.count(1)  # names one im2col content of a column buffer


class _PerThread(threading.local):
    def __init__(self):
        self.buffers = OrderedDict()  # scratch key -> buffer, least recently used first
        self.stamps = {}  # id(column buffer) -> stamp of the columns it holds now


_local = _PerThread()


def conv_output_size(
    in_size: int, k: int, stride: int = 1, pad_begin: int = 0, pad_end: int = 0, dilation: int = 1
) -> int:
    """Output length of a window op along one dim: ``floor((in+pb+pe-(d*(k-1)+1))/stride + 1)``.

    >>> conv_output_size(32, 3, 1, 1, 1), conv_output_size(7, 3, stride=2)
    (32, 3)
    >>> conv_output_size(10, 3, dilation=2)   # the dilated kernel spans 5
    6
    """
    return (in_size + pad_begin + pad_end - (dilation * (k - 1) + 1)) // stride + 1


class _Geometry(NamedTuple):
    padded: tuple[int, ...]  # spatial shape after padding
    out: tuple[int, ...]  # output spatial shape
    grid: tuple[int, ...]  # positions the columns run over: `out`, or `padded` (full grid)
    slack: int  # elements past the padded input that full-grid windows read (zeros)
    steps: tuple[int, ...]  # element strides of the padded spatial dims


@functools.lru_cache(maxsize=256)
def _geometry(op, spatial, k, stride, pads, dilation, full_grid) -> _Geometry:
    args = zip(spatial, k, stride, (b for b, _ in pads), (e for _, e in pads), dilation)
    out = tuple(conv_output_size(*a) for a in args)
    if min(out) < 1:
        raise ValueError(
            f"{op}: spatial input {spatial} padded by {pads} is smaller than the "
            f"kernel {k} with dilation {dilation}; the output would be {out}"
        )
    padded = tuple(s + b + e for s, (b, e) in zip(spatial, pads))
    steps = tuple(math.prod(padded[i + 1 :]) for i in range(len(padded)))
    if full_grid and set(stride) == {1} and math.prod(padded) <= 2 * math.prod(out):
        reach = sum((kk - 1) * d * m for kk, d, m in zip(k, dilation, steps))
        return _Geometry(padded, out, padded, reach, steps)
    return _Geometry(padded, out, out, 0, steps)


def _scratch(tag, shape, dtype, fill=0.0) -> np.ndarray:
    """A buffer filled with `fill` once, then reused by later calls with the same key (per thread).

    Callers rely on regions they never write keeping `fill` (pad borders, garbage columns), so
    `tag` must name everything that decides which regions a call writes.
    """
    cache, key = _local.buffers, (tag, shape, dtype, fill)
    buf = cache.get(key)
    if buf is not None:
        cache.move_to_end(key)
        return buf
    buf = cache[key] = np.full(shape, fill, dtype)
    _local.stamps.pop(id(buf), None)  # a stamp left by a dead buffer at the same address
    total = sum(b.nbytes for b in cache.values())
    while total > _SCRATCH_BYTES and len(cache) > 1:
        dropped = cache.popitem(last=False)[1]
        _local.stamps.pop(id(dropped), None)  # else stamps of dropped buffers pile up
        total -= dropped.nbytes
    return buf


def _interior(x_shape, pads) -> tuple:
    return (..., *(slice(b, b + s) for (b, _), s in zip(pads, x_shape[2:])))


def _padded(x: np.ndarray, g: _Geometry, pads: Pads, fill: float = 0.0) -> np.ndarray:
    """`x` padded with `fill`, flattened, followed by `g.slack` zeros (a scratch buffer or `x`)."""
    if not g.slack and not any(b or e for b, e in pads) and x.flags.c_contiguous:
        return x.reshape(-1)
    size = x.shape[0] * x.shape[1] * math.prod(g.padded)
    # Keyed by x's whole shape: a buffer of the same size laid out otherwise would have its
    # interior where this one's border is, and leave its values there.
    flat = _scratch(("pad", x.shape, pads, g.slack), (size + g.slack,), x.dtype, fill)
    flat[:size].reshape(*x.shape[:2], *g.padded)[_interior(x.shape, pads)] = x
    return flat


def _windows(flat: np.ndarray, nc: tuple[int, int], g: _Geometry, k, stride, dilation):
    """The `(N, C, *k, *g.grid)` view of the padded batch stored in `flat` (no copy).

    Element ``[n, c, *o, *p]`` is ``padded[n, c, *(p*stride + o*dilation)]``; writable when
    `flat` is. numpy checks that every element lies inside `flat`.
    """
    item = flat.itemsize
    plane = g.steps[0] * g.padded[0] * item
    strides = (nc[1] * plane, plane, *(d * m * item for d, m in zip(dilation, g.steps)),
               *(s * m * item for s, m in zip(stride, g.steps)))  # fmt: skip
    return np.ndarray((*nc, *k, *g.grid), flat.dtype, flat, 0, strides)


@functools.lru_cache(maxsize=64)
def _offset_index(k: tuple[int, ...]) -> tuple[tuple, ...]:
    """Index of each kernel offset into a `(N, C, *k, ...)` window view, in row-major order."""
    return tuple((slice(None), slice(None), *o) for o in itertools.product(*map(range, k)))


def _normalise(stride, pads, dilation):
    return tuple(stride), tuple(map(tuple, pads)), tuple(dilation)


def _check_float(op: str, x: np.ndarray) -> None:
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{op}: input must be float32 or float64, got {x.dtype}")
    if not 3 <= x.ndim <= 5:
        raise ValueError(f"{op}: input must be (N, C, *S) with 1-3 spatial dims, got {x.shape}")


class ConvCache(NamedTuple):
    """What `conv_backward` needs: the input and weights themselves, and the geometry."""

    x: np.ndarray
    w: np.ndarray  # in x's dtype
    has_bias: bool
    stride: tuple[int, ...]
    pads: Pads
    dilation: tuple[int, ...]
    groups: int
    geometry: _Geometry
    cols_stamp: int  # the columns' stamp: the backward reuses them if still in the buffer


def _im2col(c: ConvCache, stamp: int = 0) -> tuple[np.ndarray, int]:
    """Columns `(groups, C/groups*K, N*G)`: rows ordered (c, *k), columns (n, *g.grid).

    Returns the columns and a stamp naming them; given that stamp, a later call skips the copy
    when no other call has written the (scratch) column buffer since.
    """
    x, g, k, d = c.x, c.geometry, c.w.shape[2:], len(c.stride)
    cols = _scratch("cols", (x.shape[1], *k, x.shape[0], *g.grid), x.dtype)
    if not stamp or _local.stamps.get(id(cols)) != stamp:
        win = _windows(_padded(x, g, c.pads), x.shape[:2], g, k, c.stride, c.dilation)
        np.copyto(cols, win.transpose(1, *range(2, 2 + d), 0, *range(2 + d, 2 + 2 * d)))
        stamp = _local.stamps[id(cols)] = next(_STAMPS)
    return cols.reshape(c.groups, -1, x.shape[0] * math.prod(g.grid)), stamp


def conv_forward(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    stride: tuple[int, ...],
    pads: Pads,
    dilation: tuple[int, ...],
    groups: int = 1,
) -> tuple[np.ndarray, ConvCache]:
    """Cross-correlation (no kernel flip) of `x` `(N, C, *S)` with `w` `(n, C/groups, *k)`.

    Returns ``y`` of shape ``(N, n, *out)`` (see `conv_output_size`) and a cache for
    `conv_backward`. Input channel group i feeds output channel group i; `b` is ``(n,)`` or None.

    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> y, cache = conv_forward(x, np.ones((1, 1, 2, 2)), None, (2, 2), ((0, 0), (0, 0)), (1, 1))
    >>> y
    array([[[[10., 18.],
             [42., 50.]]]])
    """
    _check_float("conv_forward", x)
    n, c_group, *k = w.shape
    if w.ndim != x.ndim or c_group * groups != x.shape[1] or n % groups:
        raise ValueError(
            f"conv_forward: weights {w.shape} with {groups} group(s) do not fit input "
            f"{x.shape}: expected (n, C/groups, *k) with n divisible by groups"
        )
    stride, pads, dilation = _normalise(stride, pads, dilation)
    g = _geometry("conv_forward", x.shape[2:], tuple(k), stride, pads, dilation, True)
    valid = (..., *(slice(0, o) for o in g.out))  # the real outputs within the grid
    c = ConvCache(
        x, w.astype(x.dtype, copy=False), b is not None, stride, pads, dilation, groups, g, 0
    )
    cols, stamp = _im2col(c)
    y_t = _scratch("y_t", (groups, n // groups, cols.shape[-1]), x.dtype)
    np.matmul(c.w.reshape(groups, n // groups, -1), cols, out=y_t)
    y_t = y_t.reshape(n, x.shape[0], *g.grid)[valid].swapaxes(0, 1)
    y = np.empty((x.shape[0], n, *g.out), x.dtype)
    if b is None:
        np.copyto(y, y_t)
    else:
        np.add(y_t, np.asarray(b, x.dtype).reshape(n, *[1] * len(k)), out=y)
    return y, c._replace(cols_stamp=stamp)


# Backward of y[n,f,p] = sum_{c,o} W[f,c,o] * cols[(c,o),(n,p)] (+ b[f]), one group at a time:
#   db[f]          = sum_{n,p} dy[n,f,p]
#   dW[f,(c,o)]    = sum_{(n,p)} dy[f,(n,p)] * cols[(c,o),(n,p)]     -> cols @ dy^T, then transposed
#   dcols[(c,o),:] = sum_f W[f,(c,o)] * dy[f,:]                      -> W^T @ dy
#   dx             = col2im(dcols): every window element adds back into the pixel it was read from.
# Garbage grid positions meet zeros in dy, so they add nothing to dW, db or dx.
def conv_backward(
    cache: ConvCache, dy: np.ndarray, need_dx: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """Gradients ``(dx, dw, db)`` of `conv_forward` given ``dy = dL/dy``; `db` is None without bias.

    With ``need_dx=False`` (the input is training data) dx is None and its product and
    col2im, about half the backward's work, are skipped.

    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> y, cache = conv_forward(x, np.ones((1, 1, 2, 2)), None, (2, 2), ((0, 0), (0, 0)), (1, 1))
    >>> dx, dw, db = conv_backward(cache, np.ones_like(y))   # each pixel is in one window
    >>> dx[0, 0]
    array([[1., 1., 1., 1.],
           [1., 1., 1., 1.],
           [1., 1., 1., 1.],
           [1., 1., 1., 1.]])
    >>> dw[0, 0], db
    (array([[20., 24.],
           [36., 40.]]), None)
    """
    x, w, g, groups = cache.x, cache.w, cache.geometry, cache.groups
    n = w.shape[0]
    if dy.shape != (x.shape[0], n, *g.out):
        raise ValueError(
            f"conv_backward: dy has shape {dy.shape}, expected {(x.shape[0], n, *g.out)}"
        )
    dy_t = _scratch(("dy_t", g.out), (n, x.shape[0], *g.grid), x.dtype)  # garbage stays 0
    np.copyto(dy_t[(..., *(slice(0, o) for o in g.out))], dy.swapaxes(0, 1))
    dy_t = dy_t.reshape(groups, n // groups, -1)
    db = dy_t.reshape(n, -1).sum(axis=1) if cache.has_bias else None
    cols, _ = _im2col(cache, cache.cols_stamp)
    dw = np.matmul(cols, dy_t.transpose(0, 2, 1)).transpose(0, 2, 1).reshape(w.shape)
    d_cols = cols  # the columns are spent: their buffer takes d_cols, and their stamp goes
    _local.stamps.pop(id(cols.base), None)
    if not need_dx:
        return None, dw, db
    if g.grid != g.padded and set(cache.stride) == {1}:  # col2im would add per kernel offset
        dx = _dx_by_transposed_conv(cache, dy)
        if dx is not None:
            return dx, dw, db
    w_t = w.reshape(groups, n // groups, -1).transpose(0, 2, 1)
    if n == groups:  # one output channel per group: an outer product, 4x faster than matmul's
        np.multiply(w_t, dy_t, out=d_cols)
    else:
        np.matmul(w_t, dy_t, out=d_cols)
    return _col2im(cache, d_cols), dw, db


def _dx_by_transposed_conv(c: ConvCache, dy: np.ndarray) -> np.ndarray | None:
    """dx of a stride-1 convolution as a forward convolution (one im2col and one product).

    dx[n,c,s] = sum_{f,o} W[f,c,o] dy[n,f,s + pad - d*o]: the correlation of dy, padded by
    d*(k-1) - pad on each side, with W flipped along its kernel axes and its channel axes
    swapped within each group. Much faster than col2im's per-offset adds on small images,
    where the full-grid columns are refused. None when a pad exceeds d*(k-1) (a crop).
    """
    k, groups = c.w.shape[2:], c.groups
    n, c_group = c.w.shape[:2]
    pads = tuple(
        (d * (kk - 1) - b, d * (kk - 1) - e) for kk, d, (b, e) in zip(k, c.dilation, c.pads)
    )
    if any(p < 0 for pair in pads for p in pair):
        return None
    w_t = c.w.reshape(groups, n // groups, c_group, *k).swapaxes(1, 2)
    w_t = w_t.reshape(groups * c_group, n // groups, *k)[(..., *[slice(None, None, -1)] * len(k))]
    dx, _ = conv_forward(
        dy, np.ascontiguousarray(w_t), None, (1,) * len(k), pads, c.dilation, groups
    )
    return dx


def _col2im(c: ConvCache, d_cols: np.ndarray) -> np.ndarray:
    """Scatter-add the columns `(C, *k, N, *grid)` back onto a fresh dx `(N, C, *S)`."""
    x, g, k, d = c.x, c.geometry, c.w.shape[2:], len(c.stride)
    (n_ex, chans), item = x.shape[:2], x.itemsize
    if g.grid == g.padded:
        # dx_pad[n,c,q] = sum_o d_cols[c,o,n,q - offset(o)]: a strided view that steps back by
        # offset(o) per offset reads it, and its out-of-range reads land on zeroed garbage
        # columns of the neighbouring block (those past the last real output of a plane).
        plane = math.prod(g.padded)
        k_steps = [math.prod(k[i + 1 :]) * n_ex * plane for i in range(d)]
        back = [m - dd * s for m, dd, s in zip(k_steps, c.dilation, g.steps)]
        strides = [item * v for v in (math.prod(k) * n_ex * plane, *back, plane, 1)]
        d_win = np.ndarray((chans, *k, n_ex, plane), x.dtype, d_cols, 0, strides)
        d_pad = _scratch("d_pad", (chans, n_ex, plane), x.dtype)
        np.add.reduce(d_win, axis=tuple(range(1, d + 1)), out=d_pad)
        d_pad = d_pad.reshape(chans, n_ex, *g.padded).swapaxes(0, 1)
        return d_pad[_interior(x.shape, c.pads)].copy()  # a copy even when already contiguous
    # Strided windows: one vectorised add per kernel offset into a padded dx.
    size = n_ex * chans * math.prod(g.padded)
    padded = any(b or e for b, e in c.pads)
    flat = _scratch("d_pad", (size,), x.dtype) if padded else np.zeros(size, x.dtype)
    if padded:
        flat.fill(0)
    d_win = _windows(flat, x.shape[:2], g, k, c.stride, c.dilation)
    d_cols = d_cols.reshape(chans, *k, n_ex, *g.grid)  # -> (N, C, *k, *grid) view:
    d_cols = d_cols.transpose(d + 1, 0, *range(1, d + 1), *range(d + 2, 2 * d + 2))
    for idx in _offset_index(k):
        np.add(d_win[idx], d_cols[idx], out=d_win[idx])
    d_pad = flat.reshape(*x.shape[:2], *g.padded)
    return d_pad[_interior(x.shape, c.pads)].copy() if padded else d_pad


class PoolCache(NamedTuple):
    """What `pool_backward` needs; `arg` is the winning window offset per output (Max only)."""

    x_shape: tuple[int, ...]
    dtype: np.dtype
    k: tuple[int, ...]
    stride: tuple[int, ...]
    pads: Pads
    function: str
    geometry: _Geometry
    arg: np.ndarray | None


def pool_forward(
    x: np.ndarray, k: tuple[int, ...], stride: tuple[int, ...], pads: Pads, function: str = "Max"
) -> tuple[np.ndarray, PoolCache]:
    """Max or Mean over windows of `x` `(N, C, *S)`; returns ``y`` `(N, C, *out)` and a cache.

    Max pads with -inf, so padding never wins. On ties the gradient goes to exactly one element,
    the first of its window in row-major order (what ``argmax`` gives). Mean divides by the full
    window size: padding counts as zeros.

    >>> x = np.array([[[1.0, 3.0, 2.0, 2.0]]])
    >>> pool_forward(x, (2,), (2,), ((0, 0),), "Max")[0]
    array([[[3., 2.]]])
    >>> pool_forward(x, (2,), (2,), ((1, 1),), "Mean")[0]
    array([[[0.5, 2.5, 1. ]]])
    """
    _check_float("pool_forward", x)
    if function not in ("Max", "Mean"):
        raise ValueError(f'pool_forward: function must be "Max" or "Mean", got {function!r}')
    stride, pads, ones = _normalise(stride, pads, (1,) * len(k))
    k = tuple(k)
    g = _geometry("pool_forward", x.shape[2:], k, stride, pads, ones, False)
    win = _windows(_padded(x, g, pads, -np.inf if function == "Max" else 0.0),
                   x.shape[:2], g, k, stride, ones)  # fmt: skip
    offsets = _offset_index(k)
    y = win[offsets[0]].copy()
    arg = None
    if function == "Max":
        # A strictly greater value takes over, so the first maximum in window order wins. As
        # offsets only grow, "arg = i where v > y" is max(arg, i * (v > y)): numpy's masked
        # (where=) loops are several times slower than these plain ones.
        arg = np.zeros(y.shape, np.uint8 if len(offsets) < 256 else np.intp)
        for i, idx in enumerate(offsets[1:], 1):
            np.maximum(arg, np.multiply(np.greater(win[idx], y), i, dtype=arg.dtype), out=arg)
            np.maximum(y, win[idx], out=y)
    else:
        for idx in offsets[1:]:
            np.add(y, win[idx], out=y)
        y *= 1.0 / len(offsets)
    return y, PoolCache(x.shape, x.dtype, k, stride, pads, function, g, arg)


# Backward: Max routes dy[n,c,p] to the one window element arg[n,c,p] picked; Mean spreads dy/K
# over its whole window. Overlapping windows (a stride below the kernel) accumulate.
def pool_backward(cache: PoolCache, dy: np.ndarray) -> np.ndarray:
    """Gradient ``dx`` of `pool_forward` given ``dy = dL/dy``.

    >>> x = np.array([[[1.0, 3.0, 2.0, 2.0]]])
    >>> y, cache = pool_forward(x, (2,), (2,), ((0, 0),), "Max")
    >>> pool_backward(cache, np.ones_like(y))                 # the tie 2, 2 goes to the first
    array([[[0., 1., 1., 0.]]])
    """
    shape, g, arg = cache.x_shape, cache.geometry, cache.arg
    if dy.shape != (*shape[:2], *g.out):
        raise ValueError(f"pool_backward: dy has shape {dy.shape}, expected {(*shape[:2], *g.out)}")
    size = shape[0] * shape[1] * math.prod(g.padded)
    padded = any(b or e for b, e in cache.pads)
    if padded:
        flat = _scratch("d_pad", (size,), cache.dtype)
        flat.fill(0)
    else:
        flat = np.zeros(size, cache.dtype)  # returned as it is
    d_win = _windows(flat, shape[:2], g, cache.k, cache.stride, (1,) * len(cache.k))
    if arg is None:
        dy = dy * (1.0 / math.prod(cache.k))
    overlap = any(s < k for s, k in zip(cache.stride, cache.k))
    for i, idx in enumerate(_offset_index(cache.k)):
        dst = d_win[idx]  # without overlap each element of dst is written once: no add needed
        if arg is None:
            np.add(dst, dy, out=dst) if overlap else np.copyto(dst, dy)
        elif overlap:
            np.add(dst, dy * (arg == i), out=dst)
        else:
            np.multiply(dy, arg == i, out=dst)
    d_pad = flat.reshape(*shape[:2], *g.padded)
    return d_pad[_interior(shape, cache.pads)].copy() if padded else d_pad
