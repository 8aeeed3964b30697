"""Printing the results: one row per workload, best-of with the median in parentheses."""

from __future__ import annotations

from .harness import Measurement, Result


def fmt_amount(m: Measurement | None) -> str:
    if m is None:
        return "n/a"
    return f"{_amount(m.best, m.unit)} ({_amount(m.median, m.unit)})"


def _amount(value: float, unit: str) -> str:
    if unit == "B":
        return f"{value / 2**20:.2f}MiB"
    for scale, name in ((1, "s"), (1e-3, "ms"), (1e-6, "us")):
        if value >= scale:
            return f"{value / scale:.3g}{name}"
    return f"{value * 1e9:.3g}ns"


def fmt_ratio(ratio: dict | None) -> str:
    if not ratio:
        return "n/a"
    return f"{ratio['best']:.2f} ({ratio['median']:.2f})"


def fmt_targets(r: Result) -> str:
    parts = []
    for t in r.targets:
        verdict = "n/a" if t["met"] is None else ("ok" if t["met"] else "MISS")
        parts.append(f"{t['against']} {t['target']} {verdict}")
    return ", ".join(parts)


def table(results: list[Result]) -> str:
    header = ("workload", "netgraph", "torch", "floor", "ng/torch", "ng/floor", "targets")
    rows = [header]
    notes = []
    for r in results:
        if r.status != "ok":
            rows.append((r.name, r.status, "", "", "", "", r.reason))
            continue
        m = r.measurements
        rows.append(
            (
                r.name,
                fmt_amount(m.get("netgraph")),
                fmt_amount(m.get("torch")),
                fmt_amount(m.get("floor")),
                fmt_ratio(r.ratios.get("torch")),
                fmt_ratio(r.ratios.get("floor")),
                fmt_targets(r),
            )
        )
        if r.floor_name or r.note:
            notes.append(f"  {r.name}: " + "; ".join(x for x in (r.floor_name, r.note) if x))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    legend = [
        "",
        "Times are best-of (median) over interleaved repeats; ratios are netgraph / other,",
        "best-of (median); targets are judged on the best-of ratio.",
    ]
    if notes:
        legend += ["Floors and notes:", *notes]
    return "\n".join(lines + legend)
