"""The safetensors layout netgraph reads and writes: allowed dtypes, size limits and the
checksum (defined in the `netgraph._safefile` docstring)."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping

import numpy as np

CHECKSUM_KEY = "netgraph.checksum"
# the limit the safetensors reference reader uses; the writer and the reader both read it here
# (as `_safefile_format.MAX_HEADER_BYTES`) when they run, so they always agree
MAX_HEADER_BYTES = 100_000_000
MAX_FILE_BYTES = 4 * 1024**3  # the whole file is read into memory once
MAX_NDIM = 32
MAX_ELEMENTS = 2**40  # bounds shapes such as [0, 10**30] that numpy cannot reshape to

# safetensors dtype code <-> little-endian numpy dtype; nothing else is read or written.
_DTYPES = {
    "F16": np.dtype("<f2"),
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
    "I32": np.dtype("<i4"),
    "I64": np.dtype("<i8"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_CODES = {(dt.kind, dt.itemsize): code for code, dt in _DTYPES.items()}
_ENTRY_KEYS = {"dtype", "shape", "data_offsets"}


def _u64(n: int) -> bytes:
    return struct.pack("<Q", n)


def _field(b: bytes) -> bytes:
    return _u64(len(b)) + b


def checksum(tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str]) -> str:
    """The ``"sha256:<hex>"`` checksum defined in the `netgraph._safefile` docstring.

    `tensors` must have allowed dtypes; byte order and memory layout do not change the value.

    >>> checksum({}, {})[:15]
    'sha256:374708ff'
    """
    h = hashlib.sha256(_u64(len(tensors)))
    for name in sorted(tensors):
        a = tensors[name]
        h.update(
            _field(name.encode("utf-8")) + _field(_CODES[a.dtype.kind, a.dtype.itemsize].encode())
        )
        h.update(_u64(a.ndim) + b"".join(_u64(d) for d in a.shape) + _u64(a.nbytes))
        h.update(np.ascontiguousarray(a, a.dtype.newbyteorder("<")).reshape(-1).view(np.uint8))
    entries = sorted((k, v) for k, v in metadata.items() if k != CHECKSUM_KEY)
    h.update(_u64(len(entries)))
    for key, value in entries:
        h.update(_field(key.encode("utf-8")) + _field(value.encode("utf-8")))
    return "sha256:" + h.hexdigest()
