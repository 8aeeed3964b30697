"""Reading a safetensors-layout file safely: every byte of the header validated before any array
is built (sizes, UTF-8, JSON, entries, offsets, checksum), so a damaged or hostile file raises
`NetLoadError` naming the check that failed. Nothing read is unpickled, imported or executed."""

from __future__ import annotations

import json
import math
import os
import re
import stat

import numpy as np

from . import _safefile_format as layout
from ._limits import json_items_problem
from ._safefile_format import (
    _DTYPES,
    _ENTRY_KEYS,
    CHECKSUM_KEY,
    MAX_ELEMENTS,
    MAX_FILE_BYTES,
    MAX_NDIM,
    checksum,
)
from .errors import NetLoadError


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
    fd, size = _open_regular(path)
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


def _open_regular(path: str) -> tuple[int, int]:
    """(file descriptor, size) of `path`, opened non-blocking, when it is a regular file no
    larger than MAX_FILE_BYTES; the descriptor is closed when it is refused."""
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
    return fd, info.st_size


def _header_length(data: bytes, size: int, source: str) -> int:
    """The header length N from the first 8 bytes of a `size`-byte file, checked against both
    the file size and MAX_HEADER_BYTES; the error says when the file looks like a pickle/zip."""
    try:
        if size < 8 or len(data) < 8:
            raise _fail(
                source, f"file too small: {size} bytes; the 8-byte header length is missing"
            )
        header_len, limit = int.from_bytes(data[:8], "little"), layout.MAX_HEADER_BYTES
        if header_len > limit:
            raise _fail(
                source, f"header length too large: {header_len} bytes; the limit is {limit}"
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
