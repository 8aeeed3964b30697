"""Low-level, safe file layer: named numpy arrays plus string metadata in the safetensors layout.

Layout: an 8-byte little-endian header length N, N bytes of UTF-8 JSON header, then the data
section. `write_tensors` serialises with the `safetensors` package and replaces the target
atomically; `read_tensors` validates every byte of the header itself before building arrays, so a
damaged or hostile file raises `NetLoadError` naming the check that failed. Nothing read from a
file is ever unpickled, imported or executed.

Checksum (metadata key ``"netgraph.checksum"``, value ``"sha256:<64 hex digits>"``): SHA-256 of

    u64(n_tensors)
    for each tensor, by name in Unicode code-point order:
        field(name UTF-8) field(dtype code, e.g. b"F32") u64(ndim) u64(dim)... field(data)
    u64(n_metadata)      # every metadata entry except "netgraph.checksum" itself
    for each entry, by key in code-point order: field(key UTF-8) field(value UTF-8)

where ``u64`` is 8 bytes little-endian, ``field(b) = u64(len(b)) + b`` and ``data`` is the
C-order little-endian element bytes. It covers names, dtypes, shapes, values and the metadata (the
net description lives there), and does not depend on how a writer orders the data section. It
detects corruption; it is not authentication.

>>> import os, tempfile
>>> with tempfile.TemporaryDirectory() as tmp:
...     path = os.path.join(tmp, "net.safetensors")
...     write_tensors(path, {"w": np.arange(6.0).reshape(2, 3)}, {"format": "netgraph"})
...     tensors, metadata = read_tensors(path, require_checksum=True)
>>> tensors["w"].shape, metadata["format"], metadata[CHECKSUM_KEY][:7]
((2, 3), 'netgraph', 'sha256:')
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Mapping

import numpy as np

from . import _safefile_format as layout
from ._limits import json_items_problem
from ._safefile_format import (
    _CODES,
    _DTYPES,
    CHECKSUM_KEY,
    MAX_ELEMENTS,
    MAX_FILE_BYTES,
    MAX_HEADER_BYTES,
    MAX_NDIM,
    checksum,
)
from ._safefile_read import _decode, _read_all
from .errors import NetLoadError, NetSaveError

__all__ = [  # also the names other modules import from here; _safefile_format holds some
    "CHECKSUM_KEY",
    "MAX_ELEMENTS",
    "MAX_FILE_BYTES",
    "MAX_HEADER_BYTES",
    "MAX_NDIM",
    "_DTYPES",
    "_atomic_write",
    "_decode",
    "checksum",
    "file_path",
    "read_tensors",
    "write_tensors",
]


# --- writing ---------------------------------------------------------------------------------


def _prepare(tensors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Little-endian, C-contiguous copies where needed; NetSaveError naming a bad tensor."""
    out = {}
    for name, a in tensors.items():
        if not isinstance(name, str) or name == "__metadata__":
            raise NetSaveError(f"tensor name {name!r}: expected a str other than '__metadata__'")
        if not isinstance(a, np.ndarray):
            raise NetSaveError(f'tensor "{name}": expected a numpy array, got {type(a).__name__}')
        code = _CODES.get((a.dtype.kind, a.dtype.itemsize))
        if code is None:
            allowed = ", ".join(str(dt.newbyteorder("=")) for dt in _DTYPES.values())
            raise NetSaveError(f'tensor "{name}": dtype {a.dtype} is not allowed; use {allowed}')
        out[name] = np.asarray(a, dtype=_DTYPES[code], order="C")
    return out


def file_path(path: object, error: type) -> str:
    """`path` as a str file name, or `error` (NetSaveError/NetLoadError) saying why it is none."""
    try:
        name = os.fsdecode(os.fspath(path))
    except TypeError:
        raise error(
            f"expected a file path (a str or os.PathLike), got {type(path).__name__} {path!r:.60}"
        ) from None
    if not name or "\0" in name:
        raise error(f"{name!r} is not a valid file path")
    return name


def _atomic_write(path: str, blob: bytes) -> None:
    """Write `blob` to a fresh temp file beside `path`, fsync it, then os.replace onto `path`."""
    directory, base = os.path.split(os.path.abspath(path))
    tmp = os.path.join(directory, f".{base}.{secrets.token_hex(6)}.tmp")
    fd = None
    try:
        # O_EXCL: never follow or reuse an existing name; mode 0o666 lets the umask apply.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        with os.fdopen(fd, "wb") as f:
            fd = None  # the file object owns it now
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if fd is not None:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.remove(tmp)
        if isinstance(exc, OSError):
            reason = exc.strerror or str(exc)
            raise NetSaveError(
                f"could not save {path!r}: {reason}; any previous file at that path is intact"
            ) from exc
        raise
    # Make the rename itself durable; best effort (the data is in place; not possible on Windows).
    with contextlib.suppress(OSError):
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def write_tensors(
    path: str | os.PathLike, tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str]
) -> None:
    """Atomically write `tensors` and `metadata` (str -> str) to `path` in safetensors layout.

    Adds ``metadata["netgraph.checksum"]`` (replacing any old value). Allowed dtypes: float16/32/
    64, int32/64, uint8, bool. Raises `NetSaveError` for a bad tensor or metadata value or when
    the file cannot be written; a previous file at `path` is then left intact.
    """
    from safetensors.numpy import save  # imported here: only writing needs the package

    path = file_path(path, NetSaveError)
    if not isinstance(metadata, Mapping):
        raise NetSaveError(
            f"metadata: expected a dict of str -> str, got {type(metadata).__name__}"
        )
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise NetSaveError(
                f"metadata {key!r}: keys and values must be str, "
                f"got {type(key).__name__} -> {type(value).__name__}"
            )
    arrays = _prepare(tensors)
    meta = {k: v for k, v in metadata.items() if k != CHECKSUM_KEY}
    try:
        meta[CHECKSUM_KEY] = checksum(arrays, meta)
        blob = save(arrays, metadata=meta)
    except Exception as exc:  # e.g. lone surrogates in a name; safetensors' own errors
        raise NetSaveError(f"could not save {path!r}: {type(exc).__name__}: {exc}") from exc
    _check_readable(blob, path)
    _atomic_write(path, blob)


def _check_readable(blob: bytes, path: str) -> None:
    """NetSaveError when `read_tensors` would refuse the header of `blob` for its size."""
    header_len = int.from_bytes(blob[:8], "little")
    problem = json_items_problem(blob, 8, 8 + header_len)
    if header_len > layout.MAX_HEADER_BYTES:
        problem = f"{header_len} bytes long; the limit is {layout.MAX_HEADER_BYTES}"
    if problem:
        raise NetSaveError(
            f"could not save {path!r}: the header (names, shapes and metadata) is {problem}, so "
            "the file could not be read back; nothing was written"
        )


def read_tensors(
    path: str | os.PathLike, *, require_checksum: bool = False
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read a safetensors-layout file; safe on untrusted input.

    Returns ``(tensors, metadata)``: fresh writable arrays by name (sorted) and the metadata,
    checksum entry included. A missing file raises `FileNotFoundError`; anything else wrong raises
    `NetLoadError` naming the failed check. The checksum is verified whenever it is present; with
    ``require_checksum=True`` (netgraph's own files) a missing checksum is an error too.
    """
    path = file_path(path, NetLoadError)
    return _decode(_read_all(path), path, require_checksum)
