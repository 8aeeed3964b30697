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
import hashlib
import json
import math
import os
import re
import secrets
import stat
import struct
from collections.abc import Mapping

import numpy as np

from ._limits import json_items_problem
from .errors import NetLoadError, NetSaveError

CHECKSUM_KEY = "netgraph.checksum"
MAX_HEADER_BYTES = 100_000_000  # the limit the safetensors reference reader uses
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
    """The ``"sha256:<hex>"`` checksum defined in the module docstring.

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
    if header_len > MAX_HEADER_BYTES:
        problem = f"{header_len} bytes long; the limit is {MAX_HEADER_BYTES}"
    if problem:
        raise NetSaveError(
            f"could not save {path!r}: the header (names, shapes and metadata) is {problem}, so "
            "the file could not be read back; nothing was written"
        )


# --- reading ---------------------------------------------------------------------------------


def _fail(source: str, message: str) -> NetLoadError:
    return NetLoadError(f"{message} (file {source!r})")


_SPECIAL_FILES = {
    "d": "a directory",
    "c": "a character device",
    "b": "a block device",
    "p": "a pipe (FIFO)",
    "s": "a socket",
}


def _read_all(path: str) -> bytes:
    """The file's bytes, refusing early what cannot be a safetensors file.

    Non-regular files (devices such as /dev/zero, pipes, directories) are refused before
    anything is read (opened non-blocking: opening a pipe would otherwise wait for a writer); an
    implausible header length in the first 8 bytes is refused before the rest is read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise _fail(path, f"cannot read file: {exc.strerror or exc}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = _SPECIAL_FILES.get(stat.filemode(info.st_mode)[0], "a special file")
            raise _fail(path, f"cannot read file: it is {kind}, not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise _fail(path, f"file too large: the limit is {MAX_FILE_BYTES} bytes")
    except BaseException:
        os.close(fd)
        raise
    size = info.st_size
    try:
        with os.fdopen(fd, "rb", buffering=0) as f:
            prefix = f.read(8) or b""
            _header_length(prefix, size, path)
            data = bytearray(size)  # the file as fstat saw it, read in place
            data[:8], got = prefix, len(prefix)
            with memoryview(data) as view:
                while got < size and (n := f.readinto(view[got:])):
                    got += n
            del data[got:]  # the file shrank meanwhile: the layout checks will say so
            return data
    except OSError as exc:
        raise _fail(path, f"cannot read file: {exc.strerror or exc}") from exc


def _header_length(data: bytes, size: int, source: str) -> int:
    """The header length N from the first 8 bytes of a `size`-byte file, checked against both
    the file size and MAX_HEADER_BYTES; the error says when the file looks like a pickle/zip."""
    try:
        if size < 8 or len(data) < 8:
            raise _fail(
                source, f"file too small: {size} bytes; the 8-byte header length is missing"
            )
        header_len = int.from_bytes(data[:8], "little")
        if header_len > MAX_HEADER_BYTES:
            raise _fail(
                source,
                f"header length too large: {header_len} bytes; the limit is {MAX_HEADER_BYTES}",
            )
        if 8 + header_len > size:
            raise _fail(
                source,
                f"header length past end of file: {header_len} bytes claimed, {size - 8} present",
            )
    except NetLoadError:
        _raise_if_foreign(data, source)
        raise
    return header_len


def _reject_duplicates(pairs: list[tuple[str, object]]) -> dict:
    out = {}
    for key, value in pairs:
        if key in out:
            raise NetLoadError(f'header duplicate key: "{key}" appears twice')
        out[key] = value
    return out


def _foreign_kind(data: bytes) -> str | None:
    """'pickle' or 'zip' (torch .pt files are zips) when the first bytes carry that signature."""
    if data[:1] == b"\x80":
        return "pickle"
    return "zip" if data[:4] in (b"PK\x03\x04", b"PK\x05\x06") else None


def _raise_if_foreign(data: bytes, source: str) -> None:
    """Called once the header is found invalid (a valid header length can start with 0x80)."""
    kind = _foreign_kind(data)
    if kind is not None:
        raise _fail(
            source,
            f"looks like a {kind} file, not a netgraph safetensors file; "
            "it was not loaded and nothing was unpickled",
        ) from None


def _parse_header(data: bytes, source: str) -> tuple[int, dict]:
    """Header length N and the JSON header object, after the length, size, UTF-8 and JSON
    checks."""
    header_len = _header_length(data, len(data), source)
    problem = json_items_problem(data, 8, 8 + header_len)
    if problem:
        raise _fail(source, f"header {problem}")
    try:
        text = str(memoryview(data)[8 : 8 + header_len], "utf-8")
        header = json.loads(text, object_pairs_hook=_reject_duplicates)
    except UnicodeDecodeError as exc:
        raise _fail(source, f"header not UTF-8: {exc.reason} at byte {8 + exc.start}") from None
    except NetLoadError as exc:
        raise _fail(source, str(exc)) from None
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise _fail(source, f"header not JSON: {str(exc)[:200]}") from None
    if not isinstance(header, dict):
        raise _fail(source, f"header not a JSON object: got {type(header).__name__}")
    return header_len, header


def _utf8(*strings: object) -> bool:
    """True when all are str and encodable as UTF-8 (JSON admits lone surrogates, UTF-8 not)."""
    if not all(isinstance(s, str) for s in strings):
        return False
    try:
        "".join(strings).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_int_list(value: object, length: range) -> bool:
    return (
        isinstance(value, list)
        and len(value) in length
        and all(type(v) is int and v >= 0 for v in value)  # type(): json true is not a dim
    )


def _check_entry(name: str, entry: object, source: str) -> tuple[str, tuple[int, ...], int, int]:
    """(dtype code, shape, begin, end) of one tensor entry, each field checked."""
    where = f'tensor "{name}"'
    if not _utf8(name):
        raise _fail(source, f"tensor name: {name!r} is not valid Unicode")
    if not isinstance(entry, dict) or set(entry) != _ENTRY_KEYS:
        got = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
        raise _fail(source, f"{where} entry: expected keys {sorted(_ENTRY_KEYS)}, got {got}")
    code, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(code, str) or code not in _DTYPES:
        raise _fail(source, f"{where} dtype: {code!r} is not allowed; use one of {list(_DTYPES)}")
    if not _is_int_list(shape, range(MAX_NDIM + 1)):
        got = str(shape)[:100]
        raise _fail(source, f"{where} shape: expected at most {MAX_NDIM} dims >= 0, got {got}")
    if math.prod(max(d, 1) for d in shape) > MAX_ELEMENTS:
        raise _fail(source, f"{where} shape: {shape} has too many elements")
    if not _is_int_list(offsets, range(2, 3)) or offsets[0] > offsets[1]:
        got = str(offsets)[:100]
        raise _fail(source, f"{where} data_offsets: expected [begin, end], begin <= end, got {got}")
    needed = math.prod(shape) * _DTYPES[code].itemsize
    if offsets[1] - offsets[0] != needed:
        raise _fail(
            source,
            f"{where} byte size: data_offsets span {offsets[1] - offsets[0]} bytes, "
            f"shape {shape} of {code} needs {needed}",
        )
    return code, tuple(shape), offsets[0], offsets[1]


def _check_layout(spans: list[tuple[int, int, str]], data_len: int, source: str) -> None:
    """Offsets sorted, contiguous from 0, non-overlapping, ending exactly at the data end."""
    pos, previous = 0, "the data start"
    for begin, end, name in sorted(spans):
        if end > data_len:
            problem = f'past end of file: "{name}" ends at {end}, the data has {data_len} bytes'
        elif begin < pos:
            problem = f'overlap: "{name}" starts at {begin}, before {previous} ends at {pos}'
        elif begin > pos:
            problem = f'leave a gap: bytes {pos}..{begin} before "{name}" are unused'
        else:
            pos, previous = end, f'"{name}"'
            continue
        raise _fail(source, f"data offsets {problem}")
    if pos != data_len:
        raise _fail(source, f"data offsets leave trailing bytes: {pos}..{data_len} are unused")


def _verify_checksum(tensors: dict, metadata: dict, source: str, required: bool) -> None:
    recorded = metadata.get(CHECKSUM_KEY)
    if recorded is None:
        if required:
            raise _fail(source, f'checksum missing: no "{CHECKSUM_KEY}" in the metadata')
        return
    if not re.fullmatch(r"sha256:[0-9a-f]{64}", recorded):
        raise _fail(source, f'checksum format: expected "sha256:<64 hex digits>", got {recorded!r}')
    actual = checksum(tensors, metadata)
    if actual != recorded:
        raise _fail(
            source, f"checksum mismatch: the file records {recorded}, contents hash to {actual}"
        )


def _decode(
    data: bytes | bytearray, source: str, require_checksum: bool = False
) -> tuple[dict, dict]:
    """`read_tensors` on bytes already in memory; `source` names them in messages."""
    try:
        header_len, header = _parse_header(data, source)
    except NetLoadError:
        _raise_if_foreign(data, source)
        raise
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(_utf8(k, v) for k, v in metadata.items()):
        raise _fail(source, "header metadata: '__metadata__' must be an object of str -> str")
    entries = {name: _check_entry(name, entry, source) for name, entry in header.items()}
    _check_layout(
        [(b, e, name) for name, (_, _, b, e) in entries.items()], len(data) - 8 - header_len, source
    )
    tensors = {}
    view = memoryview(data)[8 + header_len :]
    for name in sorted(entries):
        code, shape, begin, end = entries[name]
        raw = np.frombuffer(view[begin:end], dtype=np.uint8)
        if code == "BOOL" and raw.max(initial=0) > 1:
            raise _fail(source, f'tensor "{name}" values: BOOL bytes must be 0 or 1')
        tensors[name] = raw.view(_DTYPES[code]).reshape(shape).copy()
    _verify_checksum(tensors, metadata, source, require_checksum)
    return tensors, metadata


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
