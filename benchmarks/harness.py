"""The benchmark harness: a table of workloads, interleaved timing, ratios, a printed table, JSON.

A workload is a small function registered with `@workload(...)`. It receives the run's
`Setup` and returns its contenders by role: "netgraph", "torch" and "floor" (the hardware
floor: a read+write pass or a GEMM of the same size). A contender is a zero-argument callable
to time, an already measured `Measurement` (import time, memory), or None (not applicable).
A workload whose netgraph layer or function does not exist yet raises `NotAvailable`.
"""

from __future__ import annotations

import gc
import statistics
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

ROLES = ("netgraph", "torch", "floor")


class NotAvailable(Exception):
    """A workload needs a netgraph feature that has not landed yet (its message names it)."""


@dataclass
class Measurement:
    """Best and median of `samples` measurements; `number` calls were averaged per sample."""

    best: float
    median: float
    samples: int
    number: int = 1
    unit: str = "s"


@dataclass(frozen=True)
class Target:
    """netgraph / `against` must be <= `limit` (or < `limit` when `strict`)."""

    against: str  # "torch" or "floor"
    limit: float
    strict: bool = False

    def met(self, ratio: float) -> bool:
        return ratio < self.limit if self.strict else ratio <= self.limit

    def __str__(self) -> str:
        return f"{'<' if self.strict else '<='} {self.limit:g}"


@dataclass
class Setup:
    """What every workload may use: torch (or None), thread count, repeats, a seed."""

    torch: Any
    threads: int
    repeat: int
    warmup: int
    max_seconds: float  # time budget per contender (at least 5 samples are always taken)
    seed: int = 0


@dataclass
class Workload:
    name: str
    group: str
    fn: Callable[[Setup], dict]
    targets: tuple = ()
    floor_name: str = ""
    note: str = ""


WORKLOADS: list[Workload] = []


def workload(name: str, group: str, targets=(), floor_name: str = "", note: str = ""):
    """Register a workload function under `name` (shown in the table)."""

    def register(fn: Callable[[Setup], dict]) -> Callable[[Setup], dict]:
        WORKLOADS.append(Workload(name, group, fn, tuple(targets), floor_name, note))
        return fn

    return register


def vs_torch(limit: float, strict: bool = False) -> Target:
    return Target("torch", limit, strict)


def vs_floor(limit: float) -> Target:
    return Target("floor", limit)


# ------------------------------------------------------------------------------- timing


def _calibrate(fn: Callable[[], Any], min_sample: float) -> int:
    """Calls per sample so that one sample lasts at least `min_sample` (timer resolution)."""
    t0 = time.perf_counter()
    fn()
    once = time.perf_counter() - t0
    return max(1, min(10_000, int(min_sample / max(once, 1e-9))))


def time_interleaved(
    contenders: dict, setup: Setup, min_sample: float = 2e-3
) -> dict[str, Measurement]:
    """Time callables round-robin (one sample each per round), so that load from other processes
    drifting over time hits every contender alike. Garbage collection is off while timing."""
    calls = {role: fn for role, fn in contenders.items() if callable(fn)}
    for fn in calls.values():
        for _ in range(setup.warmup):
            fn()
    number = {role: _calibrate(fn, min_sample) for role, fn in calls.items()}
    samples: dict[str, list[float]] = {role: [] for role in calls}
    spent = dict.fromkeys(calls, 0.0)
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for r in range(setup.repeat):
            for role, fn in calls.items():
                if r >= 5 and spent[role] > setup.max_seconds:
                    continue
                n = number[role]
                t0 = time.perf_counter()
                for _ in range(n):
                    fn()
                elapsed = time.perf_counter() - t0
                spent[role] += elapsed
                samples[role].append(elapsed / n)
    finally:
        if gc_was_enabled:
            gc.enable()
    return {
        role: Measurement(min(s), statistics.median(s), len(s), number[role])
        for role, s in samples.items()
    }


# ---------------------------------------------------------------------------------- run


@dataclass
class Result:
    name: str
    group: str
    status: str  # "ok", "not available yet", "error"
    reason: str = ""
    floor_name: str = ""
    note: str = ""
    measurements: dict = field(default_factory=dict)  # role -> Measurement (or None)
    ratios: dict = field(default_factory=dict)  # "torch"/"floor" -> {"best", "median"}
    targets: list = field(default_factory=list)  # [{"against", "target", "ratio", "met"}]


def run_workload(w: Workload, setup: Setup) -> Result:
    result = Result(w.name, w.group, "ok", floor_name=w.floor_name, note=w.note)
    try:
        contenders = w.fn(setup)
        timed = time_interleaved(contenders, setup)
    except NotAvailable as exc:
        result.status, result.reason = "not available yet", str(exc)
        return result
    except Exception as exc:  # a broken workload is reported, the others still run
        result.status = "error"
        result.reason = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
        return result
    for role in ROLES:
        given = contenders.get(role)
        measured = given if isinstance(given, Measurement) else None
        result.measurements[role] = timed.get(role, measured)
    ours = result.measurements["netgraph"]
    for other in ("torch", "floor"):
        theirs = result.measurements[other]
        if ours is not None and theirs is not None and theirs.best > 0:
            result.ratios[other] = {
                "best": ours.best / theirs.best,
                "median": ours.median / theirs.median,
            }
    for t in w.targets:
        ratio = result.ratios.get(t.against, {}).get("best")
        met = None if ratio is None else t.met(ratio)
        result.targets.append({"against": t.against, "target": str(t), "ratio": ratio, "met": met})
    return result


GROUPS = ("BatchNorm", "Convolution", "Training", "Start-up")  # the table's order


def select(pattern: str | None) -> list[Workload]:
    """Workloads whose names contain one of the comma-separated words (all when empty)."""
    words = [p.strip().lower() for p in (pattern or "").split(",") if p.strip()]
    chosen = [w for w in WORKLOADS if not words or any(p in w.name.lower() for p in words)]
    return sorted(chosen, key=lambda w: GROUPS.index(w.group) if w.group in GROUPS else 99)


def as_json(results: list[Result], meta: dict) -> dict:
    return {"meta": meta, "workloads": [asdict(r) for r in results]}
