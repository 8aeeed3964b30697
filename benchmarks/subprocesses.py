"""Workloads measured in fresh subprocesses: import time and peak memory of a training step.

Import time: `python -c` timing `import netgraph` (or `import torch`) with perf_counter inside a
fresh interpreter, so interpreter start-up is excluded and nothing is cached in-process.

Peak memory (the same method for both frameworks, each in its own fresh process): build the net,
run one warm-up step (which also allocates ADAM's moments and thread pools), reset the kernel's
resident-set high-water mark (`echo 5 > /proc/self/clear_refs`), note the resident set, run one
step, and report high-water mark - resident set before the step. glibc's mmap threshold is
pinned at 128 KiB in those processes (MALLOC_MMAP_THRESHOLD_) so that every large buffer is
mapped on allocation and unmapped on release by both frameworks: the resident set then follows
live memory, not whatever malloc kept cached from the warm-up.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from .harness import Measurement, NotAvailable, Setup, vs_torch, workload

IMPORT_SNIPPET = (
    "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
)
REPO = Path(__file__).resolve().parent.parent


def _run(code_or_module: list, extra_env: dict | None = None) -> str:
    env = {**os.environ, **(extra_env or {})}
    done = subprocess.run(
        [sys.executable, *code_or_module],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"subprocess {code_or_module} failed:\n{done.stderr[-2000:]}")
    return done.stdout.strip().splitlines()[-1]


def import_time(module: str, repeat: int) -> Measurement:
    """With bytecode caching on, as for a user (an empty PYTHONDONTWRITEBYTECODE is "off"):
    installed packages ship their .pyc files, and the warm-up run writes netgraph's."""
    env = {"PYTHONDONTWRITEBYTECODE": ""}
    code = ["-c", IMPORT_SNIPPET.format(module=module)]
    _run(code, env)
    times = [float(_run(code, env)) for _ in range(repeat)]
    return Measurement(min(times), statistics.median(times), len(times))


@workload(
    "import netgraph vs import torch",
    "Start-up",
    [vs_torch(0.25, strict=True)],
    note="each import timed inside a fresh interpreter, best of several",
)
def import_times(setup: Setup) -> dict:
    repeat = max(3, min(7, setup.repeat))
    out = {"netgraph": import_time("netgraph", repeat)}
    if setup.torch is not None:
        out["torch"] = import_time("torch", repeat)
    return out


def peak_step_memory(framework: str, batch: int, threads: int) -> Measurement:
    line = _run(
        ["-m", "benchmarks.memory_probe", framework, str(batch), str(threads)],
        {"MALLOC_MMAP_THRESHOLD_": str(128 * 1024)},
    )
    peak = json.loads(line)["peak_step_bytes"]
    return Measurement(peak, peak, 1, unit="B")


@workload(
    "peak memory of a batch-64 training step",
    "Training",
    [vs_torch(1.5)],
    note="resident-set high-water mark of one step after a warm-up step, fresh process each",
)
def train_step_memory(setup: Setup) -> dict:
    from .training import netgraph_net

    netgraph_net()  # NotAvailable until every layer and NetTrain have landed
    if not os.path.exists("/proc/self/clear_refs"):
        raise NotAvailable("resetting the peak resident set needs Linux /proc/self/clear_refs")
    out = {"netgraph": peak_step_memory("netgraph", 64, setup.threads)}
    if setup.torch is not None:
        out["torch"] = peak_step_memory("torch", 64, setup.threads)
    return out
