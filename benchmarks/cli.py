"""The command line: pick the threads, load PyTorch if installed, run, print, write JSON."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from . import harness, report

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


def blas_threads() -> tuple[int, str]:
    """Threads numpy's BLAS uses (threadpoolctl; else the usual environment variables, else
    os.cpu_count()); and how we know."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        for name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
            if os.environ.get(name, "").isdigit():
                return int(os.environ[name]), f"{name} (threadpoolctl not installed)"
        return os.cpu_count() or 1, "os.cpu_count() (threadpoolctl not installed)"
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    mine = [p for p in pools if "numpy" in p.get("filepath", "")] or pools
    if not mine:
        return os.cpu_count() or 1, "os.cpu_count() (no BLAS pool found by threadpoolctl)"
    pool = mine[0]
    return int(pool["num_threads"]), f"threadpoolctl: {pool['internal_api']} {pool['version']}"


def load_torch(threads: int, disabled: bool):
    if disabled or importlib.util.find_spec("torch") is None:
        return None
    import torch

    torch.set_num_threads(threads)
    return torch


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--quick", action="store_true", help="few repeats: a smoke run, not numbers")
    p.add_argument("--only", help="comma-separated substrings of workload names to run")
    p.add_argument("--no-torch", action="store_true", help="run as if PyTorch were absent")
    p.add_argument("--output", type=Path, default=RESULTS, help=f"JSON path ({RESULTS})")
    p.add_argument("--repeat", type=int, help="interleaved samples per contender (default 30)")
    p.add_argument(
        "--torch-threads",
        type=int,
        help="diagnostics only: override PyTorch's threads (default: numpy's BLAS threads)",
    )
    return p.parse_args(argv)


def meta(setup: harness.Setup, thread_source: str) -> dict:
    torch = setup.torch
    return {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "torch": torch.__version__ if torch is not None else None,
        "threads": setup.threads,
        "threads_from": thread_source,
        "torch_threads": torch.get_num_threads() if torch is not None else None,
        "machine": platform.machine(),
        "processor": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "load_average_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "openblas_env": {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS")},
        "dtype": "float32",
        "seed": setup.seed,
        "repeat": setup.repeat,
        "warmup": setup.warmup,
    }


def busy_warning(load: tuple | None, cores: int) -> str:
    """A warning when other processes keep the cores busy: multi-threaded PyTorch then waits
    at its OpenMP barriers for descheduled threads, and its times swing by 10x or more."""
    if load is None or load[0] < 0.5 * cores:
        return ""
    return (
        f"WARNING: load average {load[0]:.2f} on {cores} cores before starting: other "
        "processes are running, times (PyTorch's multi-threaded ones above all) are unreliable."
    )


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    from . import subprocesses, training, workloads  # noqa: F401  (they register workloads)

    threads, thread_source = blas_threads()
    torch = load_torch(args.torch_threads or threads, args.no_torch)
    repeat = args.repeat or (5 if args.quick else 30)
    setup = harness.Setup(
        torch=torch,
        threads=threads,
        repeat=repeat,
        warmup=1 if args.quick else 3,
        max_seconds=0.5 if args.quick else 4.0,
    )
    info = meta(setup, thread_source)
    print(
        f"netgraph benchmarks: float32, {threads} thread(s) ({thread_source}), "
        f"torch {info['torch'] or 'not installed: ratios vs torch are n/a'}, "
        f"load average {info['load_average_at_start']}"
    )
    busy = busy_warning(info["load_average_at_start"], os.cpu_count() or 1)
    if busy:
        print(busy)
    results = []
    for w in harness.select(args.only):
        print(f"  {w.name} ...", flush=True)
        results.append(harness.run_workload(w, setup))
    print()
    print(report.table(results))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(harness.as_json(results, info), indent=2) + "\n")
    if busy:
        print("\n" + busy)
    print(f"\nwrote {args.output}")
    return 1 if any(r.status == "error" for r in results) else 0
