"""The command line never renames a file, refuses a bad `--out` before training, and on Ctrl-C
names NetTrain's checkpoint exactly once, without a traceback (exit status 130)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import pytest

import netgraph as ng
from netgraph import cli

TIMEOUT = 180  # seconds: a busy machine must not fail the suite


def one_line_error(capsys) -> str:
    captured = capsys.readouterr()
    assert captured.err.startswith("netgraph: error: ") and captured.err.count("\n") == 1
    assert "Traceback" not in captured.err
    return captured.err


@pytest.fixture
def one_output(tmp_path) -> tuple[Path, Path]:
    """A saved BN net with one output (fresh arrays, Epsilon 0.5) and an input file."""
    net = ng.NetInitialize(ng.BatchNormalizationLayer(Epsilon=0.5, Input=2))
    ng.Export(tmp_path / "net.safetensors", net)
    np.save(tmp_path / "x.npy", np.array([1.0, 3.0]))
    return tmp_path / "net.safetensors", tmp_path / "x.npy"


def test_output_is_written_exactly_as_named(one_output, tmp_path, capsys):
    net, x = one_output
    target = tmp_path / "Y.NPY"  # numpy itself would write Y.NPY.npy
    assert cli.main(["eval", str(net), str(x), "--output", str(target)]) == 0
    assert f"to {target}" in capsys.readouterr().out
    assert sorted(os.listdir(tmp_path)) == ["Y.NPY", "net.safetensors", "x.npy"]
    # Test mode, fresh arrays (mean 0, variance 1, scaling 1, bias 0): x / sqrt(1 + 0.5)
    np.testing.assert_allclose(np.load(target), [1 / np.sqrt(1.5), 3 / np.sqrt(1.5)], rtol=1e-6)


@pytest.mark.parametrize("name", ["y", "y.npz", "y.npy.txt"])
def test_output_without_the_npy_suffix_is_a_usage_error(one_output, tmp_path, capsys, name):
    net, x = one_output
    assert cli.main(["eval", str(net), str(x), "--output", str(tmp_path / name)]) == 2
    err = one_line_error(capsys)
    assert f"--output {tmp_path / name}: the name must end in .npy" in err
    assert sorted(os.listdir(tmp_path)) == ["net.safetensors", "x.npy"]  # nothing written


def test_several_outputs_need_the_npz_suffix(tmp_path, capsys):
    graph = ng.NetGraph(
        {"a": ng.BatchNormalizationLayer(), "b": ng.BatchNormalizationLayer()},
        [(ng.NetPort("In"), "a", ng.NetPort("Out1")), (ng.NetPort("In"), "b", ng.NetPort("Out2"))],
        In=2,
    )
    ng.Export(tmp_path / "two.safetensors", ng.NetInitialize(graph))
    np.save(tmp_path / "x.npy", np.ones(2))
    args = ["eval", str(tmp_path / "two.safetensors"), str(tmp_path / "x.npy"), "--output"]
    assert cli.main([*args, str(tmp_path / "out.npy")]) == 2
    assert "must end in .npz (the net has several outputs" in one_line_error(capsys)
    assert not (tmp_path / "out.npy").exists() and not (tmp_path / "out.npy.npz").exists()
    assert cli.main([*args, str(tmp_path / "out.npz")]) == 0
    assert sorted(np.load(tmp_path / "out.npz").files) == ["Out1", "Out2"]


@pytest.mark.parametrize("sub", ["", "deeper"])
def test_demo_out_that_is_a_file_fails_before_training(tmp_path, capsys, sub):
    existing = tmp_path / "results"
    existing.write_text("keep me")
    out = existing / sub if sub else existing
    start = time.perf_counter()
    assert cli.main(["demo", "--out", str(out), "--rounds", "1000"]) == 2
    assert time.perf_counter() - start < 5  # 1000 rounds would take minutes
    err = one_line_error(capsys)
    assert f"--out {out}: " in err and ("is a file" in err)
    assert existing.read_text() == "keep me"


def test_help_documents_the_naming_rules(capsys):
    with pytest.raises(SystemExit):
        cli.main(["eval", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "exactly this file" in text and "nothing is renamed" in text
    with pytest.raises(SystemExit):
        cli.main(["demo", "--help"])
    assert "an existing file there is an error" in " ".join(capsys.readouterr().out.split())


def test_ctrl_c_during_the_demo_names_the_checkpoint_once(tmp_path):
    env = {
        **os.environ,
        "MPLBACKEND": "Agg",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "TMPDIR": str(tmp_path),  # where the emergency checkpoint goes
    }
    args = ["-m", "netgraph", "demo", "--rounds", "100000", "--out", str(tmp_path / "out")]
    child = subprocess.Popen(
        [sys.executable, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        # Python handles SIGINT only if it was not ignored at start (a background job's is).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    seen = []
    try:
        for line in child.stderr:  # "round 1/100000 ..." once training is under way
            seen.append(line)
            if line.startswith("round 1/"):
                break
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=TIMEOUT)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    err = "".join(seen) + err
    assert child.returncode == 130, err[-3000:]
    assert "Traceback" not in out + err
    paths = re.findall(r"checkpoint of the last completed batch to (\S+\.safetensors)", out + err)
    assert len(paths) == 1, out + err
    assert err.count(paths[0]) == 1 and paths[0] not in out
    assert Path(paths[0]).parent == tmp_path
    net = ng.Import(paths[0])  # the net of the last completed batch
    assert isinstance(net, ng.NetChain) and net.is_initialized()
    assert not (tmp_path / "out").exists()  # the demo writes its files after training only
    # the printed checkpoint continues the demo (one more round, then the files)
    assert (
        cli.main(["demo", "--resume", paths[0], "--rounds", "2", "--out", str(tmp_path / "out")])
        == 0
    )
    assert (tmp_path / "out" / "digits-net.safetensors").exists()


def test_a_library_caller_learns_the_checkpoint_path_once(tmp_path):
    def stop(info):
        if info["batch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as info:
        ng.NetTrain(
            ng.NetChain([ng.LinearLayer(1)], Input=2),
            (np.ones((8, 2)), np.ones((8, 1))),
            BatchSize=2,
            MaxTrainingRounds=3,
            TrainingProgressReporting=None,
            TrainingProgressCheckpointing=("Directory", tmp_path),
            TrainingProgressFunction=stop,
        )
    path = info.value.checkpoint_path
    assert path == str(tmp_path / "checkpoint-round0000-batch00002.safetensors")
    assert os.path.isfile(path)
    assert "".join(traceback.format_exception(info.value)).count(path) == 1  # what Python prints
    assert str(info.value) == f"NetTrain wrote a checkpoint of the last completed batch to {path}"


def test_an_exception_whose_message_ignores_its_args_gets_the_path_as_a_note(tmp_path):
    class Fixed(Exception):
        def __str__(self) -> str:
            return "fixed message"

    def stop(info):
        raise Fixed()

    with pytest.raises(Fixed) as info:
        ng.NetTrain(
            ng.NetChain([ng.LinearLayer(1)], Input=2),
            (np.ones((4, 2)), np.ones((4, 1))),
            BatchSize=2,
            TrainingProgressReporting=None,
            TrainingProgressCheckpointing=("Directory", tmp_path),
            TrainingProgressFunction=stop,
        )
    path = info.value.checkpoint_path
    assert os.path.isfile(path)
    assert "".join(traceback.format_exception(info.value)).count(path) == 1
    assert path in info.value.__notes__[0]
