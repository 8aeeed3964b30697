"""Peak resident memory of one training step, run in a fresh process by `subprocesses.py`.

Usage: python -m benchmarks.memory_probe {netgraph|torch} BATCH THREADS
Prints one JSON line: {"peak_step_bytes": ..., "rss_before": ...}.
"""

from __future__ import annotations

import json
import sys


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} missing from /proc/self/status")


def measure(step) -> dict:
    step()  # warm-up: optimizer moments, thread pools, caches
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the high-water mark VmHWM to the current resident set
    before = _status_kib("VmRSS")
    step()
    peak = _status_kib("VmHWM")
    return {"peak_step_bytes": (peak - before) * 1024, "rss_before": before * 1024}


def netgraph_step(batch: int):
    from .training import batch_data, netgraph_net, netgraph_rounds

    net = netgraph_net()
    x, y = batch_data(batch, 0)
    return lambda: netgraph_rounds(net, x, y, 1)


def torch_step(batch: int, threads: int):
    import torch

    from .training import batch_data, torch_net
    from .training import torch_step as make_step

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x, y = batch_data(batch, 0)
    return make_step(torch, torch_net(torch), x, y)


def main(argv: list[str]) -> None:
    framework, batch, threads = argv[0], int(argv[1]), int(argv[2])
    step = netgraph_step(batch) if framework == "netgraph" else torch_step(batch, threads)
    print(json.dumps(measure(step)))


if __name__ == "__main__":
    main(sys.argv[1:])
