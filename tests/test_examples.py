"""Every script in examples/ runs, and so does the `netgraph` command: the demo in a fast mode,
`info` and `eval` on what it wrote, and the one-line errors for bad files and data."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import netgraph as ng
from netgraph import cli

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
NEEDS_EXTRAS = {"application_digits.py"}  # scikit-learn (the examples extra)
TIMEOUT = 180  # seconds per process: generous, a slow machine must not fail the suite
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def has_extras() -> bool:
    try:
        import matplotlib  # noqa: F401
        import sklearn  # noqa: F401
    except ImportError:
        return False
    return True


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    # One BLAS thread per process: the scripts run side by side.
    env = {**os.environ, "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT
    )


@pytest.fixture(scope="module")
def launched(tmp_path_factory):
    """Start the demo (fast mode) and every example at once, a few at a time; each test then
    waits for its own process."""
    cwd = tmp_path_factory.mktemp("runs")
    out = cwd / "demo-output"
    pool = ThreadPoolExecutor(max_workers=max(2, min(4, os.cpu_count() or 2)))
    futures = {}
    if has_extras():
        demo = ["-m", "netgraph", "demo", "--rounds", "1", "--out", str(out)]
        futures["demo"] = pool.submit(run, demo, cwd)
    for path in EXAMPLES:
        if path.name not in NEEDS_EXTRAS or has_extras():
            futures[path.name] = pool.submit(run, [str(path)], cwd)
    yield futures, out
    pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="module")
def example_runs(launched):
    return launched[0]


def test_the_examples_are_there():
    names = {p.name for p in EXAMPLES}
    assert "batchnorm_walkthrough.py" in names and "application_digits.py" in names
    assert len(names) >= 17
    for path in EXAMPLES:  # each says what it demonstrates
        assert path.read_text().startswith('"""'), path.name


@pytest.mark.parametrize("script", [p.name for p in EXAMPLES])
def test_example_runs(script, example_runs):
    if script in NEEDS_EXTRAS and not has_extras():
        pytest.skip('needs the examples extra: pip install "netgraph[examples]"')
    done = example_runs[script].result()
    assert done.returncode == 0, f"{script} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    assert done.stdout.strip(), f"{script} printed nothing"
    assert "Traceback" not in done.stderr


# ------------------------------------------------------------------------------ netgraph demo


@pytest.fixture(scope="module")
def demo_run(launched):
    futures, out = launched
    if "demo" not in futures:
        pytest.skip('the demo needs the examples extra: pip install "netgraph[examples]"')
    return futures["demo"].result(), out


def test_demo_writes_the_net_and_two_pictures(demo_run):
    done, out = demo_run
    assert done.returncode == 0, done.stderr[-3000:]
    for name in ("digits-net.safetensors", "loss-evolution.png", "confusion-matrix.png"):
        assert (out / name).is_file(), name
        assert str(out / name) in done.stdout  # it says where it wrote
    for name in ("loss-evolution.png", "confusion-matrix.png"):
        assert (out / name).read_bytes().startswith(PNG_SIGNATURE)
    for text in ("ConvolutionLayer", "BatchNormalizationLayer", "MovingMean", "MovingVariance"):
        assert text in done.stdout


def test_demo_reports_the_accuracy_of_the_net_it_saved(demo_run):
    from netgraph.demo import first_batchnorm, load_digits_split

    done, out = demo_run
    net = ng.Import(out / "digits-net.safetensors")
    _, _, x_test, y_test = load_digits_split(seed=0)
    correct = int((net(x_test).argmax(axis=1) == y_test).sum())
    assert f"({correct}/{len(y_test)})" in done.stdout
    assert correct / len(y_test) > 0.5  # one round already learns most digits
    moving_mean = ng.NetExtract(net, first_batchnorm(net) + ("MovingMean",))
    assert moving_mean.shape == (16,) and np.abs(moving_mean).max() > 0  # it moved from 0


def test_confusion_matrix_counts_true_against_predicted():
    from netgraph.demo import confusion_matrix

    counts = confusion_matrix(np.array([0, 1, 1, 2, 2, 2]), np.array([0, 2, 1, 2, 2, 0]), 3)
    np.testing.assert_array_equal(counts, [[1, 0, 0], [0, 1, 1], [1, 0, 2]])


def test_info_on_the_demo_net(demo_run, capsys):
    _, out = demo_run
    assert cli.main(["info", str(out / "digits-net.safetensors")]) == 0
    text = capsys.readouterr().out
    net = ng.Import(out / "digits-net.safetensors")
    assert str(ng.Information(net)) in text
    assert "Initialized: yes" in text


def test_eval_prints_or_saves_the_outputs(demo_run, tmp_path, capsys):
    from netgraph.demo import load_digits_split

    _, out = demo_run
    path = str(out / "digits-net.safetensors")
    x = load_digits_split()[2][:3]
    np.save(tmp_path / "x.npy", x)
    expected = ng.Import(path)(x)

    x_file, y_file = str(tmp_path / "x.npy"), str(tmp_path / "y.npy")
    assert cli.main(["eval", path, x_file, "--output", y_file]) == 0
    assert "(3, 10)" in capsys.readouterr().out
    saved = np.load(tmp_path / "y.npy")
    np.testing.assert_array_equal(saved, expected)
    np.testing.assert_allclose(saved.sum(axis=1), 1.0, rtol=1e-5)  # softmax rows

    np.save(tmp_path / "one.npy", x[0])  # one example, not a batch
    assert cli.main(["eval", path, str(tmp_path / "one.npy")]) == 0
    printed = capsys.readouterr().out
    values = np.array(printed.replace("[", " ").replace("]", " ").split(), dtype=float)
    np.testing.assert_allclose(values, expected[0], atol=1e-5)


def test_eval_of_a_net_with_two_inputs_and_two_outputs(tmp_path, capsys):
    graph = ng.NetGraph(
        {"a": ng.BatchNormalizationLayer(), "b": ng.BatchNormalizationLayer(Epsilon=0.5)},
        [
            (ng.NetPort("In1"), "a", ng.NetPort("Out1")),
            (ng.NetPort("In2"), "b", ng.NetPort("Out2")),
        ],
        In1=2,
        In2=3,
    )
    net_file = tmp_path / "two.safetensors"
    ng.Export(net_file, ng.NetInitialize(graph))
    x1, x2 = np.array([1.0, 2.0]), np.array([3.0, 4.0, 5.0])
    np.savez(tmp_path / "inputs.npz", In1=x1, In2=x2)
    args = ["eval", str(net_file), str(tmp_path / "inputs.npz"), "--output"]
    assert cli.main([*args, str(tmp_path / "outputs.npz")]) == 0
    assert "outputs.npz" in capsys.readouterr().out
    saved = np.load(tmp_path / "outputs.npz")
    # fresh BN arrays in Test mode: x / sqrt(1 + Epsilon)
    np.testing.assert_allclose(saved["Out1"], x1 / np.sqrt(1.001), rtol=1e-6)
    np.testing.assert_allclose(saved["Out2"], x2 / np.sqrt(1.5), rtol=1e-6)


def test_eval_refuses_data_of_the_wrong_shape(demo_run, tmp_path, capsys):
    _, out = demo_run
    np.save(tmp_path / "bad.npy", np.ones((3, 3)))
    status = cli.main(["eval", str(out / "digits-net.safetensors"), str(tmp_path / "bad.npy")])
    assert status == 1
    err = capsys.readouterr().err
    assert err.startswith("netgraph: error: ") and err.count("\n") == 1
    assert "bad.npy" in err and "rank" in err


def test_the_console_script_is_installed():
    script = Path(sys.executable).parent / ("netgraph.exe" if os.name == "nt" else "netgraph")
    if not script.exists():
        pytest.skip("no netgraph script next to this Python (not installed with pip?)")
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == f"netgraph {ng.__version__}"


# ------------------------------------------------------------------------------ error paths


def one_line_error(capsys) -> str:
    captured = capsys.readouterr()
    assert captured.err.startswith("netgraph: error: ") and captured.err.count("\n") == 1
    assert "Traceback" not in captured.err
    return captured.err


@pytest.fixture
def saved_net(tmp_path) -> Path:
    net = ng.NetInitialize(ng.NetChain([ng.BatchNormalizationLayer(), "Tanh"], Input=2))
    path = tmp_path / "net.safetensors"
    ng.Export(path, net)
    return path


def test_missing_file(tmp_path, capsys):
    missing = str(tmp_path / "nothing.safetensors")
    assert cli.main(["info", missing]) == 1
    assert "no such file" in one_line_error(capsys)
    assert cli.main(["eval", missing, missing]) == 1
    assert missing in one_line_error(capsys)


def test_missing_input_file(saved_net, tmp_path, capsys):
    assert cli.main(["eval", str(saved_net), str(tmp_path / "x.npy")]) == 1
    assert "x.npy: no such file" in one_line_error(capsys)


def test_damaged_file(saved_net, capsys):
    data = bytearray(saved_net.read_bytes())
    data[-2] ^= 0x01  # one flipped bit in the arrays: the checksum catches it
    saved_net.write_bytes(bytes(data))
    assert cli.main(["info", str(saved_net)]) == 1
    assert "not a valid netgraph file" in one_line_error(capsys)


def test_damaged_file_in_a_subprocess(saved_net):
    saved_net.write_bytes(saved_net.read_bytes()[:100])  # truncated
    done = run(["-m", "netgraph", "info", str(saved_net)], saved_net.parent)
    assert done.returncode == 1
    assert done.stderr.startswith("netgraph: error: ") and done.stderr.count("\n") == 1


def test_pickled_input_is_refused(saved_net, tmp_path, capsys):
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert cli.main(["eval", str(saved_net), str(tmp_path / "objects.npy")]) == 1
    assert "objects.npy" in one_line_error(capsys)


def test_nan_input_is_bad_data(saved_net, tmp_path, capsys):
    np.save(tmp_path / "nan.npy", np.array([1.0, np.nan]))
    assert cli.main(["eval", str(saved_net), str(tmp_path / "nan.npy")]) == 1
    assert "NaN" in one_line_error(capsys)


@pytest.mark.parametrize("module", ["sklearn", "matplotlib"])
def test_missing_extra(module, tmp_path, capsys, monkeypatch):
    for name in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
        monkeypatch.setitem(sys.modules, name, None)  # None in sys.modules: import fails
    monkeypatch.setitem(sys.modules, module, None)
    assert cli.main(["demo", "--rounds", "1", "--out", str(tmp_path / "out")]) == 1
    err = one_line_error(capsys)
    assert 'pip install "netgraph[examples]"' in err
    assert ("scikit-learn" if module == "sklearn" else "matplotlib") in err
    assert not (tmp_path / "out").exists()


def test_usage_errors_exit_with_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["demo", "--rounds", "0"])
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit) as exit_info:
        cli.main([])
    assert exit_info.value.code == 2
