"""netgraph benchmarks: `python -m benchmarks` from the repository root (see README.md).

Workloads register themselves in `harness.WORKLOADS` when their module is imported; `cli.main`
imports them all, times netgraph, PyTorch (when installed) and hardware floors side by side,
prints a table and writes benchmarks/results/latest.json.
"""
