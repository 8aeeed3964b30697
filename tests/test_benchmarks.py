"""The benchmark harness runs end to end (without PyTorch), reports missing features as "not
available yet", and computes ratios and targets from best-of times."""

import json

from benchmarks import cli, harness


def _setup():
    return harness.Setup(torch=None, threads=1, repeat=5, warmup=1, max_seconds=0.05)


def test_quick_run_writes_json(tmp_path, capsys):
    out = tmp_path / "latest.json"
    status = cli.main(["--quick", "--no-torch", "--only", "(4,3)", "--output", str(out)])
    assert status == 0
    data = json.loads(out.read_text())
    (row,) = data["workloads"]
    assert row["status"] == "ok" and row["measurements"]["torch"] is None
    assert row["measurements"]["netgraph"]["best"] > 0
    assert data["meta"]["dtype"] == "float32" and data["meta"]["torch"] is None
    assert "per-call overhead" in capsys.readouterr().out


def test_missing_feature_is_not_available_yet():
    def needs_a_layer(setup):
        from benchmarks.workloads import need

        need("NoSuchLayer")

    w = harness.Workload("needs a layer", "BatchNorm", needs_a_layer, (harness.vs_torch(2.0),))
    result = harness.run_workload(w, _setup())
    assert result.status == "not available yet" and "NoSuchLayer" in result.reason


def test_ratios_and_targets_use_best_of():
    def fixed(setup):
        return {
            "netgraph": harness.Measurement(3.0, 4.0, 5),
            "torch": harness.Measurement(2.0, 2.0, 5),
            "floor": lambda: None,
        }

    targets = (harness.vs_torch(1.5, strict=True), harness.vs_torch(1.0))
    result = harness.run_workload(harness.Workload("fixed", "BatchNorm", fixed, targets), _setup())
    assert result.ratios["torch"] == {"best": 1.5, "median": 2.0}
    assert [t["met"] for t in result.targets] == [False, False]
    assert result.measurements["floor"].samples >= 5
