"""Training data: the accepted forms, their validation, and batching.

Forms: a tuple `(inputs, targets)`, a dict `{port: array}` (targets named after the output
port they belong to, Wolfram style), or a list of `(input, target)` pairs. Everything is checked
before training starts; the caller's arrays are only read, never written.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from netgraph.errors import NetDataError, NetOptionError
from netgraph.evaluation import as_numeric, cast_data, first_nonfinite
from netgraph.values import NumericArray


def normalize(
    data: Any,
    input_ports: list[str],
    target_ports: list[str],
    what: str,
    encoders: dict | None = None,
) -> dict:
    """Data in any accepted form -> {port: ndarray of examples (axis 0)}.

    `encoders` ({target port: function(values, what) -> array}) turn the targets of ports with
    a NetDecoder (class labels, booleans) into numbers before they are checked."""
    return _normalize(data, input_ports, target_ports, what, encoders or {})


def _normalize(data, input_ports, target_ports, what, encoders) -> dict:
    if isinstance(data, dict):
        return _from_dict(data, input_ports + target_ports, what, encoders)
    if isinstance(data, tuple) and len(data) == 2:
        if len(input_ports) != 1 or len(target_ports) != 1:
            raise NetDataError(
                f"{what}: (inputs, targets) needs a net with one input and one target port; this "
                f"net has inputs {input_ports} and targets {target_ports}: give a dict "
                "{port: data} instead."
            )
        out = {input_ports[0]: _examples(data[0], input_ports[0], what)}
        out[target_ports[0]] = _examples(data[1], target_ports[0], what, encoders)
        return out
    if isinstance(data, list) and data and all(isinstance(p, tuple) and len(p) == 2 for p in data):
        if len(input_ports) != 1 or len(target_ports) != 1:
            raise NetDataError(
                f"{what}: a list of (input, target) pairs needs a net with one input and one "
                "target port; give a dict {port: data} instead."
            )
        inputs = [p[0] for p in data]
        targets = [p[1] for p in data]
        return {
            input_ports[0]: _examples(inputs, input_ports[0], what),
            target_ports[0]: _examples(targets, target_ports[0], what, encoders),
        }
    if isinstance(data, (list, tuple)) and len(data) == 0:
        raise NetDataError(f"{what} is empty: it has no examples.")
    raise NetDataError(
        f"{what}: expected a tuple (inputs, targets), a dict {{port: data}} or a list of "
        f"(input, target) pairs, got {type(data).__name__}."
    )


def _from_dict(data: dict, ports: list[str], what: str, encoders: dict) -> dict:
    from netgraph.errors import did_you_mean

    out = {}
    for key, value in data.items():
        if key not in ports:
            raise NetDataError(
                f"{what}: the net has no port {key!r} (ports: {', '.join(ports)})."
                + did_you_mean(key, ports)
            )
        out[key] = _examples(value, key, what, encoders)
    missing = [p for p in ports if p not in out]
    if missing:
        raise NetDataError(f"{what}: no data for port(s) {', '.join(map(repr, missing))}.")
    return out


def _examples(value: Any, port: str, what: str, encoders: dict | None = None) -> np.ndarray:
    """One port's examples as an array; non-numeric, ragged or non-finite data is refused."""
    if encoders and port in encoders:
        value = encoders[port](value, what)
    if isinstance(value, NumericArray):
        value = np.asarray(value)
    if isinstance(value, (list, tuple)):
        if len(value) == 0:
            raise NetDataError(f"{what} is empty: port {port!r} has no examples.")
        for i, v in enumerate(value):
            if v is None or isinstance(v, (str, bytes, dict)):
                raise NetDataError(
                    f"{what}: example {i} of port {port!r} is {type(v).__name__} {v!r:.40}; "
                    "expected numbers."
                )
    try:
        arr, _ = as_numeric(value, f"{what}, port {port!r}")
    except NetDataError:
        if isinstance(value, (list, tuple)):
            _name_odd_example(value, port, what)
        raise
    if arr.ndim == 0 or len(arr) == 0:
        raise NetDataError(f"{what} is empty: port {port!r} has no examples.")
    where = first_nonfinite(arr)
    if where is not None:
        raise NetDataError(
            f"{what}: example {where[0]} of port {port!r} contains NaN or infinite values "
            f"(at index {where}). Remove or repair it before training."
        )
    if arr.dtype.kind == "b":
        arr = arr.astype(np.float32)
    return arr


def _name_odd_example(examples: list | tuple, port: str, what: str) -> None:
    """Raise a NetDataError naming the first example that is not numbers shaped like example 0
    (when the list as a whole could not be read as one numeric array)."""
    first = None
    for i, example in enumerate(examples):
        try:
            a = np.asarray(example)
        except ValueError:
            a = None
        if a is None or a.dtype.kind not in "fiubc":
            kinds = sorted({type(v).__name__ for v in np.ravel(np.asarray(example, object))})
            raise NetDataError(
                f"{what}: example {i} of port {port!r} is not an array of numbers (it holds "
                f"{'/'.join(kinds)})."
            )
        if first is None:
            first = a.shape
        elif a.shape != first:
            raise NetDataError(
                f"{what}: example {i} of port {port!r} has shape {a.shape}, but example 0 has "
                f"shape {first} (ragged data); give examples of one shape."
            )


def cast_examples(graph: Any, data: dict, dtype, what: str) -> dict:
    """Each port's examples, contiguous, in `dtype` (int64 for an Integer port of `graph`);
    float64 data beyond float32 is a NetDataError naming the port and the example."""
    kinds = {p.name: p.dtype for p in graph.input_ports}
    return {
        p: np.ascontiguousarray(
            cast_data(a, np.int64 if kinds[p] == "Integer" else dtype, f"{what}, port {p!r}", True)
        )
        for p, a in data.items()
    }


def count_examples(data: dict, what: str) -> int:
    counts = {p: len(a) for p, a in data.items()}
    if len(set(counts.values())) > 1:
        detail = ", ".join(f"{p}: {n}" for p, n in counts.items())
        raise NetDataError(f"{what}: the ports have different numbers of examples ({detail}).")
    return next(iter(counts.values()))


def batch_size(requested: Any, n: int) -> int:
    if isinstance(requested, bool) or not isinstance(requested, (int, np.integer)) or requested < 1:
        raise NetOptionError(
            f"The value of BatchSize -> {requested!r} should be a positive machine-sized integer."
        )
    if requested > n:
        warnings.warn(
            f"BatchSize {requested} is larger than the {n} training examples; using {n}.",
            stacklevel=5,  # batch_size <- Trainer <- NetTrain <- its wrapper <- the caller
        )
        return n
    return int(requested)


def batch_bounds(n: int, size: int) -> list[tuple[int, int]]:
    """Batch slices of a round; a final batch of one example joins the previous batch (unless
    batches of one were asked for)."""
    bounds = [(i, min(i + size, n)) for i in range(0, n, size)]
    if size > 1 and len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        lo = bounds[-2][0]
        bounds[-2:] = [(lo, n)]
    return bounds


def split_validation(data: dict, fraction: float, rng: np.random.Generator) -> tuple[dict, dict]:
    """`ValidationSet=Scaled(f)`: hold out a random fraction f of the training examples."""
    n = count_examples(data, "training data")
    if not 0 < fraction < 1:
        raise NetOptionError(f"ValidationSet Scaled({fraction}) needs 0 < fraction < 1.")
    k = max(1, int(round(n * fraction)))
    if k >= n:
        raise NetDataError(f"ValidationSet Scaled({fraction}) leaves no training examples of {n}.")
    order = rng.permutation(n)
    held, kept = np.sort(order[:k]), np.sort(order[k:])
    return {p: a[kept] for p, a in data.items()}, {p: a[held] for p, a in data.items()}
