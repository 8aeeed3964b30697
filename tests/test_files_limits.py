"""Export refuses what Import would refuse, and Import refuses hostile files cheaply: special
files before reading, an implausible header length before reading the rest, and JSON made of
millions of tiny items before building Python objects (peak memory measured)."""

from __future__ import annotations

import json
import os
import struct
import time
import tracemalloc

import numpy as np
import pytest

import netgraph as ng
from netgraph import _safefile as sf
from netgraph import _safefile_format, files
from netgraph._limits import json_items, json_items_problem

LIMIT = 64  # docs: containers and option values nest at most 64 levels in a net file
JSON_LIMIT = 8 * 64  # the manifest and checkpoint metadata as JSON


def wrapped(levels: int) -> ng.Layer:
    """A LinearLayer inside `levels` nested one-layer NetChains."""
    net = ng.LinearLayer(2, Input=2)
    for _ in range(levels):
        net = ng.NetChain([net])
    return net


def nested_dict(levels: int) -> dict:
    """{"k": {"k": ... {"k": 1}}}, nested `levels` deep."""
    value: object = 1
    for _ in range(levels):
        value = {"k": value}
    return value


def peak_bytes(f) -> tuple[int, BaseException | None]:
    """Peak traced allocation while `f()` runs, and the exception it raised."""
    tracemalloc.start()
    try:
        f()
        raised = None
    except BaseException as exc:  # noqa: BLE001 (returned for the test to check)
        raised = exc
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak, raised


# ----------------------------------------------------------------- Export refuses first


def test_containers_nested_at_the_limit_round_trip(tmp_path):
    net = ng.NetInitialize(wrapped(LIMIT))
    path = tmp_path / "deep.safetensors"
    ng.Export(path, net)
    assert ng.Import(path) == net


def test_containers_nested_past_the_limit_are_refused_before_writing(tmp_path):
    path = tmp_path / "deep.safetensors"
    path.write_bytes(b"previous")
    with pytest.raises(ng.NetSaveError) as info:
        ng.Export(path, wrapped(LIMIT + 1))
    message = str(info.value)
    assert f"{LIMIT + 1} containers deep" in message and f"at most {LIMIT}" in message
    assert 'LinearLayer "0/0/0/..."' in message  # names the deepest layer
    assert path.read_bytes() == b"previous"
    assert os.listdir(tmp_path) == ["deep.safetensors"]  # no temporary file left


def test_option_values_nested_past_the_limit_are_never_written(tmp_path):
    """No constructor takes a deeply nested option value any more (LearningRateMultipliers
    rules are checked when the layer is built); the writer's own guard still refuses one."""
    from netgraph.manifest import _encode_option

    with pytest.raises(ng.NetOptionError, match="LearningRateMultipliers"):
        ng.LinearLayer(2, Input=2, LearningRateMultipliers=nested_dict(LIMIT + 1))
    assert _encode_option(nested_dict(LIMIT), "option") is not None
    with pytest.raises(ng.NetSaveError) as info:
        _encode_option(nested_dict(LIMIT + 1), 'LinearLayer option "LearningRateMultipliers"')
    message = str(info.value)
    assert "LearningRateMultipliers" in message
    assert f"nested {LIMIT + 1} levels deep" in message and f"at most {LIMIT}" in message


def test_a_value_that_contains_itself_is_refused_not_looped_over():
    rules: dict = {}
    rules["k"] = rules
    with pytest.raises(ng.NetOptionError, match="LearningRateMultipliers"):
        ng.LinearLayer(2, Input=2, LearningRateMultipliers=rules)
    from netgraph.manifest import _encode_option

    with pytest.raises(ng.NetSaveError, match="option.*at least 1000 levels"):
        _encode_option(rules, "option")


def test_checkpoint_metadata_nested_past_the_json_limit_is_refused(tmp_path):
    net = ng.BatchNormalizationLayer(Input=2)
    path = tmp_path / "ck.safetensors"
    files.save_checkpoint(path, net, extra_metadata=nested_dict(JSON_LIMIT))
    assert files.load_checkpoint(path)[2] == nested_dict(JSON_LIMIT)
    with pytest.raises(ng.NetSaveError, match=f"more than {JSON_LIMIT} levels"):
        files.save_checkpoint(tmp_path / "deep.safetensors", net, None, nested_dict(JSON_LIMIT + 1))
    assert not (tmp_path / "deep.safetensors").exists()


def test_a_header_the_reader_would_refuse_is_not_written(tmp_path):
    many = "{}," * 600_000  # 1.2 million items in 1.8 MB: more than the reader's budget
    path = tmp_path / "t.safetensors"
    with pytest.raises(ng.NetSaveError, match="too complex: up to 1200003 JSON items"):
        sf.write_tensors(path, {}, {"m": many})
    with pytest.raises(ng.NetSaveError, match="too complex"):
        files.save_checkpoint(path, ng.BatchNormalizationLayer(Input=2), None, [{}] * 600_000)
    assert not path.exists()


def test_the_header_length_limit_holds_for_writing_and_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(_safefile_format, "MAX_HEADER_BYTES", 1000)  # where both read it
    path = tmp_path / "t.safetensors"
    sf.write_tensors(path, {"w": np.ones(2)}, {"m": "x" * 500})
    assert sf.read_tensors(path)[1]["m"] == "x" * 500
    with pytest.raises(ng.NetSaveError, match="the limit is 1000"):
        sf.write_tensors(path, {"w": np.ones(2)}, {"m": "x" * 1000})
    assert sf.read_tensors(path)[1]["m"] == "x" * 500  # the previous file is intact


# ----------------------------------------------------------- Import refuses cheaply


@pytest.mark.parametrize("special", ["/dev/zero", "/dev/null"])
def test_a_character_device_is_refused_at_once(special):
    start = time.perf_counter()
    peak, raised = peak_bytes(lambda: ng.Import(special))
    assert isinstance(raised, ng.NetLoadError)
    assert "character device, not a regular file" in str(raised) and repr(special) in str(raised)
    assert time.perf_counter() - start < 1.0 and peak < 1_000_000


def test_a_pipe_and_a_directory_are_refused_without_waiting(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)  # opening it for reading would block until a writer came
    with pytest.raises(ng.NetLoadError, match=r"pipe \(FIFO\), not a regular file") as info:
        ng.Import(fifo)
    assert str(fifo) in str(info.value)
    with pytest.raises(ng.NetLoadError, match="directory, not a regular file"):
        ng.Import(tmp_path)


def test_an_implausible_header_length_is_refused_before_the_rest_is_read(tmp_path):
    size = 64 * 1024**2  # a sparse 64 MiB file: reading it would cost 64 MiB
    too_long = tmp_path / "too-long.safetensors"
    past_end = tmp_path / "past-end.safetensors"
    for path, claimed in ((too_long, 200_000_000), (past_end, size)):
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", claimed))
            f.truncate(size)
    peak, raised = peak_bytes(lambda: ng.Import(too_long))
    assert "header length too large: 200000000 bytes" in str(raised) and peak < 1_000_000
    peak, raised = peak_bytes(lambda: ng.Import(past_end))
    assert f"{size} bytes claimed, {size - 8} present" in str(raised) and peak < 1_000_000


def test_a_header_of_a_million_empty_objects_is_refused_before_parsing(tmp_path):
    header = b'{"a":[' + b",".join([b"{}"] * 1_000_000) + b"]}"
    path = tmp_path / "bomb.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header)
    size = os.path.getsize(path)
    peak, raised = peak_bytes(lambda: ng.Import(path))
    assert isinstance(raised, ng.NetLoadError), raised
    assert str(raised).startswith("header too complex: up to 2000001 JSON items")
    # parsed, the million dicts alone would take 64 bytes each (sys.getsizeof({})) = 21x size
    assert peak < 1.5 * size


def test_a_manifest_of_tiny_items_is_refused_before_parsing():
    text = "[" + ",".join(["[]"] * 600_000) + "]"
    peak, raised = peak_bytes(lambda: files._loads(text, "manifest"))
    assert isinstance(raised, ng.NetLoadError)
    assert str(raised).startswith("manifest: too complex: up to 1200000 JSON items")
    assert peak < 100_000


def test_json_items_bounds_the_objects_json_builds():
    rng = np.random.default_rng(0)

    def value(depth: int):
        kind = rng.integers(5 if depth < 4 else 3)
        if kind == 0:
            return int(rng.integers(100))
        if kind == 1:
            return "s{,[" * int(rng.integers(3))  # brackets in strings only raise the bound
        if kind == 2:
            return None
        if kind == 3:
            return [value(depth + 1) for _ in range(rng.integers(4))]
        return {f"k{i}": value(depth + 1) for i in range(rng.integers(4))}

    def built(v) -> int:  # every value and key json.loads creates
        if isinstance(v, list):
            return 1 + sum(built(x) for x in v)
        if isinstance(v, dict):
            return 1 + sum(1 + built(x) for x in v.values())
        return 1

    for _ in range(200):
        v = value(0)
        for text in (json.dumps(v), json.dumps(v, indent=1)):
            assert built(v) <= 2 * json_items(text) + 1
    assert json_items(b'{"a": [1, 2]}') == 3  # {, [ and one comma
    assert json_items_problem("[1,2,3]", limit=3) is None
    assert json_items_problem("[1,2,3,4]", limit=3).startswith("too complex: up to 4 JSON items")


def test_resuming_from_a_checkpoint_with_absurdly_nested_state_is_a_load_error(tmp_path):
    from netgraph.training.checkpoints import META_KEY

    path = tmp_path / "ck.safetensors"
    sf.write_tensors(path, {}, {META_KEY: "[" * 100_000 + "]" * 100_000})
    with pytest.raises(ng.NetLoadError, match="not a NetTrain checkpoint"):
        ng.NetTrain(
            ng.NetChain([ng.LinearLayer(1)], Input=2),
            (np.ones((4, 2)), np.ones((4, 1))),
            BatchSize=4,
            TrainingProgressReporting=None,
            ResumeFrom=str(path),
        )
