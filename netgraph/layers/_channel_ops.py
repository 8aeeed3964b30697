"""Per-channel kernels for normalization layers, on a batch viewed as (A, C, B).

Channels sit in the middle; A and B are everything reduced over (see `view3`). Reductions
return float64 totals per channel without full-size temporaries: float32 partial sums over
runs of at most RUN values (einsum, vectorised, cache-friendly), combined in float64. The float32
rounding over a run of RUN values is ~RUN*eps relative at worst and ~sqrt(RUN)*eps typically,
well inside float32 output precision; callers centre the data first (two-pass statistics) so
nothing cancels.

>>> import numpy as np
>>> x3 = np.arange(12, dtype=np.float32).reshape(2, 3, 2)
>>> channel_sums(x3), channel_dots(x3, x3)
(array([14., 22., 30.]), array([ 86., 158., 262.]))
"""

from __future__ import annotations

import numpy as np

F64 = np.float64
RUN = 4096  # longest float32 partial sum
LONG_RUN = 16  # runs at least this long are summed along B; shorter ones across rows too
PATTERN_BYTES = 256 * 1024  # largest (C, B) pattern of per-channel values materialised


def view3(x: np.ndarray, interleaving: bool) -> np.ndarray:
    """A batch as (A, C, B): channels in the middle, everything reduced over in A and B.

    Channels first (N, C, *S) -> (N, C, prod S); channels last (N, *S, C) -> (N*prod S, C, 1).
    A vector batch (N, C) is (N, C, 1) either way.
    """
    if interleaving:
        return x.reshape(-1, x.shape[-1], 1)
    return x.reshape(x.shape[0], x.shape[1], -1)


def per_channel(values: np.ndarray, like3: np.ndarray) -> np.ndarray:
    """Per-channel values (C,) in `like3`'s dtype, ready to broadcast against (A, C, B).

    A small (C, B) pattern is materialised: numpy's loops over two contiguous operands run
    about 1.5x faster than over a contiguous one and a stride-0 one.
    """
    column = values.astype(like3.dtype)[:, None]
    _, c, b = like3.shape
    if 1 < b and c * b * like3.itemsize <= PATTERN_BYTES:
        return np.repeat(column, b, axis=1)
    return column


def channel_sums(a3: np.ndarray) -> np.ndarray:
    """Per-channel sum of an (A, C, B) array, as float64 (C,)."""
    return _reduce("acb->ac", "acb->c", a3)


def channel_dots(a3: np.ndarray, b3: np.ndarray) -> np.ndarray:
    """Per-channel sum of a3 * b3, as float64 (C,), without forming the product."""
    return _reduce("acb,acb->ac", "acb,acb->c", a3, b3)


def _reduce(per_row: str, per_block: str, *operands: np.ndarray) -> np.ndarray:
    a, c, b = operands[0].shape
    if a * b <= LONG_RUN:  # a few values per channel: plain float64, fewest numpy calls
        product = operands[0] if len(operands) == 1 else operands[0] * operands[1]
        return product.sum(axis=(0, 2), dtype=F64)
    total = np.zeros(c, F64)
    if b >= LONG_RUN:  # float32 sums along each (a, c) run of B, chunked to RUN
        for lo in range(0, b, RUN):
            part = np.einsum(per_row, *(o[:, :, lo : lo + RUN] for o in operands))
            total += part.sum(axis=0, dtype=F64)
    else:  # short runs: float32 sums over blocks of rows holding about RUN values each
        rows = max(1, RUN // b)
        for lo in range(0, a, rows):
            total += np.einsum(per_block, *(o[lo : lo + rows] for o in operands))
    return total


AFFINE_BLOCK_BYTES = 256 * 1024  # rows per block of affine_into: its second pass hits cache


def affine_into(out3: np.ndarray, x3: np.ndarray, scale: np.ndarray, shift: np.ndarray) -> None:
    """out = x*scale + shift per channel, written into `out3` (scale and shift float64 (C,)).

    Two passes, the second in place (numpy has no fused multiply-add), over blocks of rows of
    about AFFINE_BLOCK_BYTES so that the second pass reads what the first left in cache.
    """
    scale, shift = per_channel(scale, x3), per_channel(shift, x3)
    rows = max(1, AFFINE_BLOCK_BYTES // max(x3[0].nbytes, 1)) if len(x3) else 1
    for lo in range(0, len(x3), rows):
        block = out3[lo : lo + rows]
        np.multiply(x3[lo : lo + rows], scale, out=block)
        block += shift


def empty_like3(x: np.ndarray, interleaving: bool) -> tuple[np.ndarray, np.ndarray]:
    """A fresh C-contiguous array shaped like `x` and its (A, C, B) view: layers return the
    former, which owns its data (evaluation then hands it out without copying)."""
    out = np.empty(x.shape, x.dtype)
    return out, view3(out, interleaving)
