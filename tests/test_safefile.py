"""The safe file layer: round trips, interop, damaged and hostile files, atomic writes."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import pickle
import struct
import zipfile

import numpy as np
import pytest
import safetensors
import safetensors.numpy
from layer_check import unwritable_folder

import netgraph._safefile as sf
from netgraph.errors import NetLoadError, NetSaveError


def _sample() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    f64 = rng.standard_normal(5)
    f64[0], f64[1] = np.nan, -0.0  # bit-exactness must keep NaN payloads and signed zeros
    return {
        "conv1/Weights": rng.standard_normal((3, 4)).astype(np.float32),
        "bn1/MovingVariance": f64,
        "counts": rng.integers(-(10**12), 10**12, (2, 2)),
        "scalar": np.array(np.pi),
        "empty": np.zeros((0, 3), np.float32),
    }


def _assert_bit_exact(got: dict, expected: dict) -> None:
    assert list(got) == sorted(expected)
    for name, a in expected.items():
        b = got[name]
        assert (b.dtype, b.shape) == (a.dtype, a.shape), name
        assert b.tobytes() == a.tobytes(), name
        assert b.flags.writeable and b.flags.c_contiguous


def _raw(header: dict | bytes, data: bytes = b"") -> bytes:
    """A file in safetensors layout built by hand, for crafting damaged headers."""
    h = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data


def _read_bytes(tmp_path, blob: bytes, **kwargs):
    path = tmp_path / "damaged.safetensors"
    path.write_bytes(blob)
    return sf.read_tensors(path, **kwargs)


def _reference_checksum(tensors: dict, metadata: dict) -> str:
    """The definition in the module docstring, written out independently."""

    def u64(n):
        return n.to_bytes(8, "little")

    def field(b):
        return u64(len(b)) + b

    codes = {"float32": b"F32", "float64": b"F64", "int64": b"I64"}
    out = u64(len(tensors))
    for name in sorted(tensors):
        a = tensors[name]
        out += field(name.encode()) + field(codes[a.dtype.name]) + u64(a.ndim)
        out += b"".join(u64(d) for d in a.shape) + field(
            a.astype(a.dtype.newbyteorder("<")).tobytes()
        )
    entries = sorted((k, v) for k, v in metadata.items() if k != sf.CHECKSUM_KEY)
    out += u64(len(entries)) + b"".join(field(k.encode()) + field(v.encode()) for k, v in entries)
    return "sha256:" + hashlib.sha256(out).hexdigest()


# --- round trips and interop -----------------------------------------------------------------


def test_round_trip_is_bit_exact_and_keeps_metadata(tmp_path):
    tensors = _sample()
    metadata = {"format": "netgraph", "config": json.dumps({"layers": ["Linear"]}), "note": "é✓"}
    path = tmp_path / "net.safetensors"
    sf.write_tensors(path, tensors, metadata)
    got, got_meta = sf.read_tensors(path, require_checksum=True)
    _assert_bit_exact(got, tensors)
    assert got_meta == {**metadata, sf.CHECKSUM_KEY: _reference_checksum(tensors, metadata)}


@pytest.mark.parametrize("dtype", ["float16", "int32", "uint8", "bool"])
def test_other_allowed_dtypes_round_trip(tmp_path, dtype):
    a = (np.arange(12) % 3).reshape(3, 4).astype(dtype)
    sf.write_tensors(tmp_path / "a.st", {"a": a}, {})
    _assert_bit_exact(sf.read_tensors(tmp_path / "a.st")[0], {"a": a})


def test_non_contiguous_and_big_endian_arrays_are_copied(tmp_path):
    base = np.arange(24.0).reshape(4, 6)
    tensors = {"strided": base[:, ::2], "big": base.astype(">f4")}
    sf.write_tensors(tmp_path / "a.st", tensors, {})
    got, _ = sf.read_tensors(tmp_path / "a.st")
    np.testing.assert_array_equal(got["strided"], base[:, ::2])
    np.testing.assert_array_equal(got["big"], base.astype(np.float32))
    assert got["big"].dtype == np.dtype("<f4")


def test_stale_checksum_in_metadata_is_replaced(tmp_path):
    tensors, meta = {"w": np.ones(3)}, {sf.CHECKSUM_KEY: "sha256:" + "0" * 64}
    sf.write_tensors(tmp_path / "a.st", tensors, meta)
    _, got_meta = sf.read_tensors(tmp_path / "a.st", require_checksum=True)
    assert got_meta[sf.CHECKSUM_KEY] == _reference_checksum(tensors, {})


def test_official_reader_reads_our_file(tmp_path):
    tensors = _sample()
    path = str(tmp_path / "net.safetensors")
    sf.write_tensors(path, tensors, {"format": "netgraph"})
    _assert_bit_exact(dict(sorted(safetensors.numpy.load_file(path).items())), tensors)
    with safetensors.safe_open(path, framework="np") as f:
        assert f.metadata()["format"] == "netgraph"


def test_we_read_official_files_and_can_require_a_checksum(tmp_path):
    tensors = _sample()
    path = str(tmp_path / "official.safetensors")
    safetensors.numpy.save_file(tensors, path, metadata={"a": "b"})
    got, meta = sf.read_tensors(path)
    _assert_bit_exact(got, tensors)
    assert meta == {"a": "b"}
    with pytest.raises(NetLoadError, match="checksum missing"):
        sf.read_tensors(path, require_checksum=True)


def test_header_length_starting_with_0x80_is_not_taken_for_a_pickle(tmp_path):
    header = json.dumps({"w": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}})
    blob = _raw(header.ljust(128).encode(), b"\x07")
    assert blob[0] == 0x80
    np.testing.assert_array_equal(_read_bytes(tmp_path, blob)[0]["w"], [7])


# --- damaged and hostile files ---------------------------------------------------------------


@pytest.fixture
def valid_blob(tmp_path) -> bytes:
    path = tmp_path / "valid.safetensors"
    tensors = {k: v for k, v in _sample().items() if k != "counts"}
    sf.write_tensors(path, tensors, {"format": "netgraph", "config": '{"Epsilon": 0.001}'})
    return path.read_bytes()


def test_fuzz_truncated_and_flipped_files_raise_only_net_load_error(tmp_path, valid_blob):
    original = _read_bytes(tmp_path, valid_blob)
    for cut in range(0, len(valid_blob), 7):
        with pytest.raises(NetLoadError):
            _read_bytes(tmp_path, valid_blob[:cut], require_checksum=True)
    # Flips go through the in-memory decoder: rewriting a file ~500 times would dominate the time.
    rng = np.random.default_rng(42)
    loaded = 0
    for pos in range(len(valid_blob)):
        damaged = bytearray(valid_blob)
        damaged[pos] ^= int(rng.integers(1, 256))
        try:
            got, meta = sf._decode(bytes(damaged), f"flip@{pos}", require_checksum=True)
        except NetLoadError:
            continue
        loaded += 1  # only a harmless flip, e.g. header padding turned into other whitespace
        _assert_bit_exact(got, original[0])
        assert meta == original[1]
    assert loaded < 10


def test_checksum_mismatch_in_data_and_in_metadata(tmp_path, valid_blob):
    flipped_data = valid_blob[:-1] + bytes([valid_blob[-1] ^ 1])
    with pytest.raises(NetLoadError, match="checksum mismatch"):
        _read_bytes(tmp_path, flipped_data)
    edited_meta = valid_blob.replace(b"0.001", b"0.002")
    with pytest.raises(NetLoadError, match="checksum mismatch"):
        _read_bytes(tmp_path, edited_meta)


@pytest.fixture
def no_unpickling(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("something tried to unpickle")

    for name in ("loads", "load", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)


def test_pickle_file_is_refused_without_unpickling(tmp_path, no_unpickling):
    blob = pickle.dumps({"w": np.ones(3)})
    with pytest.raises(NetLoadError, match="looks like a pickle file.*nothing was unpickled"):
        _read_bytes(tmp_path, blob)


def test_zip_file_is_refused_without_unpickling(tmp_path, no_unpickling):
    path = tmp_path / "model.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x05K\x01.")
    with pytest.raises(NetLoadError, match="looks like a zip file.*nothing was unpickled"):
        sf.read_tensors(path)


def _entry(dtype="F32", shape=(1,), offsets=(0, 4)) -> dict:
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


_DAMAGED_HEADERS = [  # (id, file bytes, expected message prefix)
    ("short", b"\x01\x00\x00", "file too small"),
    ("huge-length", struct.pack("<Q", 10**9) + b"{}", "header length too large"),
    ("length-past-eof", struct.pack("<Q", 50) + b"{}", "header length past end of file"),
    ("not-utf8", _raw(b'{"\xff": 1}'), "header not UTF-8"),
    ("garbage", _raw(b"{not json"), "header not JSON"),
    ("deep-nesting", _raw(b'{"a": ' + b"[" * 100_000), "header not JSON"),
    ("duplicate-keys", _raw(b'{"w": {}, "w": {}}'), 'header duplicate key: "w"'),
    ("list", _raw(b"[1, 2]"), "header not a JSON object"),
    ("metadata-int", _raw({"__metadata__": {"k": 1}}), "header metadata"),
    ("lone-surrogate", _raw(b'{"\\ud800": {}}'), "tensor name"),
    ("missing-key", _raw({"w": {"dtype": "F32", "shape": [1]}}, b"xxxx"), 'tensor "w" entry'),
    ("object-dtype", _raw({"w": _entry(dtype="O")}, b"xxxx"), 'tensor "w" dtype'),
    ("negative-dim", _raw({"w": _entry(shape=[-1])}, b"xxxx"), 'tensor "w" shape'),
    ("bool-dim", _raw({"w": _entry(shape=[True])}, b"xxxx"), 'tensor "w" shape'),
    ("huge-dim", _raw({"w": _entry(shape=[0, 10**30], offsets=[0, 0])}), 'tensor "w" shape'),
    ("reversed-offsets", _raw({"w": _entry(offsets=[4, 0])}, b"xxxx"), 'tensor "w" data_offsets'),
    ("size-mismatch", _raw({"w": _entry(shape=[2])}, b"xxxx"), 'tensor "w" byte size'),
]


@pytest.mark.parametrize(
    ("blob", "check"), [pytest.param(b, c, id=i) for i, b, c in _DAMAGED_HEADERS]
)
def test_damaged_header_names_the_failed_check(tmp_path, blob, check):
    with pytest.raises(NetLoadError, match=f"^{check}"):
        _read_bytes(tmp_path, blob)


@pytest.mark.parametrize(
    ("entries", "data", "check"),
    [
        ({"a": _entry(offsets=[0, 4]), "b": _entry(offsets=[4, 8])}, b"x" * 6, "past end of file"),
        (
            {"a": _entry(shape=[2], offsets=[0, 8]), "b": _entry(offsets=[4, 8])},
            b"x" * 8,
            "overlap",
        ),
        ({"a": _entry(offsets=[0, 4]), "b": _entry(offsets=[8, 12])}, b"x" * 12, "leave a gap"),
        ({"a": _entry(offsets=[0, 4])}, b"x" * 8, "leave trailing bytes"),
    ],
)
def test_bad_data_offsets_name_the_failed_check(tmp_path, entries, data, check):
    with pytest.raises(NetLoadError, match=f"^data offsets {check}"):
        _read_bytes(tmp_path, _raw(entries, data))


def test_bad_values_and_checksum_format_are_refused(tmp_path):
    bool_two = _raw({"b": _entry(dtype="BOOL", offsets=[0, 1])}, b"\x02")
    with pytest.raises(NetLoadError, match='^tensor "b" values: BOOL'):
        _read_bytes(tmp_path, bool_two)
    md5 = _raw({"__metadata__": {sf.CHECKSUM_KEY: "md5:00"}})
    with pytest.raises(NetLoadError, match="^checksum format"):
        _read_bytes(tmp_path, md5)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError):
        sf.read_tensors(tmp_path / "nope.safetensors")
    with pytest.raises(NetLoadError, match="^cannot read file"):
        sf.read_tensors(tmp_path)


# --- saving ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        np.ones(2, np.complex64),
        np.ones(2, np.int16),
        np.array([{}], dtype=object),
        np.array(["abc"]),
        np.zeros(2, dtype=[("x", "f4")]),
        [1.0, 2.0],
    ],
)
def test_unsupported_tensor_is_refused_by_name(tmp_path, bad):
    with pytest.raises(NetSaveError, match='tensor "fc/Weights"'):
        sf.write_tensors(tmp_path / "a.st", {"fc/Weights": bad}, {})
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("tensors", "metadata", "check"),
    [
        ({}, {"epochs": 3}, "metadata 'epochs'"),
        ({"__metadata__": np.ones(1)}, {}, "tensor name '__metadata__'"),
        ({"\ud800": np.ones(1)}, {}, "could not save .*UnicodeEncodeError"),
    ],
)
def test_bad_names_and_metadata_are_refused(tmp_path, tensors, metadata, check):
    with pytest.raises(NetSaveError, match=f"^{check}"):
        sf.write_tensors(tmp_path / "a.st", tensors, metadata)


@pytest.fixture
def previous_file(tmp_path):
    path = tmp_path / "net.safetensors"
    sf.write_tensors(path, {"w": np.zeros(4)}, {"version": "old"})
    return path, path.read_bytes()


def _assert_previous_intact(previous_file) -> None:
    path, content = previous_file
    assert path.read_bytes() == content
    assert os.listdir(path.parent) == [path.name], "a temp file was left behind"


@pytest.mark.parametrize(
    ("target", "failure"),
    [
        ("open", PermissionError(errno.EACCES, "Permission denied")),  # read-only dir, as root too
        ("fsync", OSError(errno.ENOSPC, "No space left on device")),  # disk full
        ("replace", OSError(errno.EXDEV, "Invalid cross-device link")),
    ],
    ids=["open", "fsync", "replace"],
)
def test_failed_save_keeps_previous_file(previous_file, monkeypatch, target, failure):
    def fail(*args, **kwargs):
        raise failure

    monkeypatch.setattr(os, target, fail)
    with pytest.raises(NetSaveError, match=f"net.safetensors.*{failure.strerror}.*intact"):
        sf.write_tensors(previous_file[0], {"w": np.ones(4)}, {"version": "new"})
    _assert_previous_intact(previous_file)


def test_read_only_directory_keeps_previous_file(previous_file):
    with unwritable_folder(previous_file[0].parent):
        with pytest.raises(NetSaveError, match="(Permission denied|Operation not permitted)"):
            sf.write_tensors(previous_file[0], {"w": np.ones(4)}, {})
    _assert_previous_intact(previous_file)


def test_missing_directory_and_new_file_mode(tmp_path):
    with pytest.raises(NetSaveError, match="No such file"):
        sf.write_tensors(tmp_path / "missing" / "a.st", {}, {})
    umask = os.umask(0)
    os.umask(umask)
    sf.write_tensors(tmp_path / "a.st", {}, {})
    assert os.stat(tmp_path / "a.st").st_mode & 0o777 == 0o666 & ~umask
