"""Applying a net to data: `net(x)`, `net(batch)`, `net([x1, x2])`, `net({"Input": x})`,
gradients with `NetPortGradient`, and the evaluation options.

Steps: normalise the options and the data, decide per port whether the data is one example or a
batch, fix unknown port shapes from the data (JIT inference, cached per shape), check that every
array is set, cast to the working precision, run the plan in chunks of `BatchSize` (one chunk in
"Train" mode when a layer's output depends on the whole batch, as BatchNormalization's does),
refuse any non-finite result, and hand back arrays in the form they came in.
"""

from __future__ import annotations

import os
import threading
import zlib
from typing import Any

import numpy as np

from . import shapes as S
from ._data_checks import cast_data, check_array_range, check_missing_axis, refuse_non_number
from .decoders import decode_outputs, parse_decoder_request
from .errors import (
    NetArrayError,
    NetDataError,
    NetError,
    NetNotInitializedError,
    NetOptionError,
    NetShapeError,
    did_you_mean,
)
from .executor import compile_plan, run_backward, run_forward
from .initialize import _seed_words
from .layer import Context, Layer
from .port_requests import parse_port_request
from .values import All, Automatic, NetPortGradient, NetSharedArray, NumericArray

EVALUATION_OPTIONS = {
    "BatchSize": Automatic,
    "NetEvaluationMode": "Test",
    "TargetDevice": "CPU",
    "WorkingPrecision": "Real32",
    "RandomSeeding": Automatic,
}
_SNAKE = {
    "batch_size": "BatchSize",
    "net_evaluation_mode": "NetEvaluationMode",
    "target_device": "TargetDevice",
    "working_precision": "WorkingPrecision",
    "random_seeding": "RandomSeeding",
}
PRECISIONS = {"Real32": np.float32, "Real64": np.float64}

# RandomSeeding -> Automatic: one process-wide generator seeded from OS entropy (a fresh
# default_rng() per call costs ~25 us); a forked child re-seeds so it never repeats its parent.
_AUTOMATIC_RNG = np.random.default_rng()


def _reseed_automatic_rng() -> None:
    global _AUTOMATIC_RNG
    _AUTOMATIC_RNG = np.random.default_rng()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reseed_automatic_rng)


class _LayerRngs(dict):
    """Leaf path -> the generator of a layer that draws random numbers (Dropout), made on first
    use from the seed and the path: each layer has its own stream, so evaluating in BatchSize
    chunks draws the numbers one batch would. Automatic: the words come from the process-wide
    generator, once per evaluation."""

    def __init__(self, seed: Any):
        super().__init__()
        auto = seed is Automatic
        self.words = [int(w) for w in _AUTOMATIC_RNG.integers(0, 2**32, 4)] if auto else None
        self.seed = seed

    def __missing__(self, path: tuple) -> np.random.Generator:
        words = self.words if self.seed is Automatic else _seed_words(self.seed)
        tag = zlib.crc32(repr(tuple(path)).encode())
        rng = self[path] = np.random.default_rng([*words, tag])
        return rng


def parse_evaluation_options(options: dict) -> dict:
    opts = dict(EVALUATION_OPTIONS)
    for key, value in options.items():
        name = _SNAKE.get(key, key)
        if name not in opts:
            raise NetOptionError(
                f'unknown evaluation option "{key}".{did_you_mean(key, EVALUATION_OPTIONS)}'
            )
        opts[name] = value
    mode = opts["NetEvaluationMode"]
    if not isinstance(mode, str) or mode not in ("Test", "Train"):
        raise NetOptionError(
            f'NetEvaluationMode should be set to either "Test" or "Train", got {mode!r}.'
        )
    check_device(opts["TargetDevice"])
    precision_dtype(opts["WorkingPrecision"])
    bs = opts["BatchSize"]
    if bs is not Automatic and (
        isinstance(bs, bool) or not isinstance(bs, (int, np.integer)) or bs < 1
    ):
        raise NetOptionError(f"BatchSize should be a positive integer or Automatic, got {bs!r}.")
    seed = opts["RandomSeeding"]
    if seed is not Automatic and (
        isinstance(seed, bool) or not isinstance(seed, (int, np.integer, str))
    ):  # as NetInitialize and NetTrain take it
        raise NetOptionError(
            f"RandomSeeding should be an integer, a string or Automatic, got {seed!r}."
        )
    return opts


def check_device(device: Any) -> None:
    if not (isinstance(device, str) and device == "CPU"):
        raise NetOptionError(
            f'TargetDevice {device!r} is not available: netgraph runs on "CPU" only.'
        )


def precision_dtype(precision: Any):
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise NetOptionError(f'WorkingPrecision should be "Real32" or "Real64", got {precision!r}.')
    return PRECISIONS[precision]


# ------------------------------------------------------------------------------ data


def as_numeric(value: Any, where: str) -> tuple[np.ndarray, bool]:
    """Data as an ndarray (no copy when possible; never written to). Also: was it a NumericArray."""
    if isinstance(value, NumericArray):
        return np.asarray(value), True
    if isinstance(value, np.ndarray):
        arr = value
    else:
        if (
            isinstance(value, (list, tuple))
            and value
            and all(isinstance(v, NumericArray) for v in value)
        ):
            value = [np.asarray(v) for v in value]
        try:
            arr = np.asarray(value)
        except ValueError:
            refuse_non_number(value, where)
            raise NetDataError(
                f"{where}: the data is ragged (examples of different shapes); "
                "give examples of one shape."
            ) from None
    if arr.dtype.kind in "fiub":
        return arr, False
    if arr.dtype.kind == "c":
        raise NetDataError(f"{where}: complex data is not supported, got dtype {arr.dtype}.")
    refuse_non_number(value, where)  # the value as given: np.asarray makes [1, "x"] strings
    raise NetDataError(
        f"{where}: expected numeric data, got {_describe(arr)}. "
        "Give numbers (lists of the same length or numpy arrays)."
    )


def _describe(arr: np.ndarray) -> str:
    if arr.dtype == object:
        kinds = sorted({type(v).__name__ for v in arr.ravel()[:50]})
        return "objects of type " + "/".join(kinds)
    return f"dtype {arr.dtype}"


_BLAS_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_DOT_MIN_SIZE = 16384  # below this, the plain elementwise test is cheaper


def all_finite(arr: np.ndarray) -> bool:
    """No NaN or infinity in `arr`. Fast path for large arrays: the dot product of the values
    with themselves is NaN or infinite when any value is, in one read-only BLAS pass with no
    temporary; only when it is not finite is every value looked at."""
    if arr.dtype.kind != "f":
        return True
    if arr.size >= _DOT_MIN_SIZE and arr.flags.c_contiguous and arr.dtype in _BLAS_FLOATS:
        flat = arr.reshape(-1)
        with np.errstate(over="ignore", invalid="ignore"):
            if np.isfinite(np.dot(flat, flat)):
                return True
    return bool(np.isfinite(arr).all())


def first_nonfinite(arr: np.ndarray) -> tuple | None:
    if all_finite(arr):
        return None
    bad = ~np.isfinite(arr)
    if not bad.any():
        return None
    return tuple(int(i) for i in np.argwhere(bad)[0])


def split_data(net: Layer, data: Any) -> tuple[dict, dict, bool]:
    """(inputs by port, forced output gradients by port, whether NumericArrays came in)."""
    in_names = [p.name for p in net.input_ports]
    out_names = [p.name for p in net.output_ports]
    forced: dict = {}
    numeric_in = False
    if isinstance(data, dict):
        inputs = {}
        for key, value in data.items():
            if isinstance(key, NetPortGradient):
                if key.spec not in out_names:
                    raise NetDataError(
                        f"a forced gradient must name an output port, got {key!r}."
                        + did_you_mean(key.spec, out_names)
                    )
                forced[key.spec], _ = as_numeric(value, f'gradient of port "{key.spec}"')
            elif key in in_names:
                inputs[key], na = as_numeric(value, f'port "{key}"')
                numeric_in |= na
            else:
                raise NetDataError(
                    f'{type(net).__name__} has no input port "{key}".' + did_you_mean(key, in_names)
                )
        missing = [n for n in in_names if n not in inputs]
        if missing:
            raise NetDataError(
                f"{type(net).__name__}: no data for input port(s) "
                + ", ".join(f'"{m}"' for m in missing)
                + "."
            )
    else:
        if len(in_names) != 1:
            raise NetDataError(
                f"{type(net).__name__} has {len(in_names)} input ports "
                f"({', '.join(in_names)}); give a dict {{port: data}}."
            )
        arr, numeric_in = as_numeric(data, f'port "{in_names[0]}"')
        inputs = {in_names[0]: arr}
    return inputs, forced, numeric_in


def batch_flags(net: Layer, inputs: dict) -> tuple[dict, int | None]:
    """Per port: is the data a batch? And the batch size (None for a single example)."""
    flags, sizes = {}, set()
    for port, arr in inputs.items():
        shape = net.port_shape(port)
        r = S.rank(shape)
        if r is not None:
            if arr.ndim == r:
                flags[port] = False
            elif arr.ndim == r + 1:
                flags[port] = True
            else:
                raise NetShapeError(
                    f'{type(net).__name__}: port "{port}" expects an array of rank {r} '
                    f"{S.fmt(shape)} (or rank {r + 1} for a batch), got rank {arr.ndim} "
                    f"with shape {arr.shape}." + _rank_hint(net, port, r, arr)
                )
        else:
            flags[port] = arr.ndim > max(S.min_rank(shape), 1)
    # A port of unknown rank follows the ports of known rank; among guesses a batch wins
    # (a standalone CrossEntropyLossLayer["Index"]: Input (N, c) beside Target (N,)).
    guessed = [p for p in inputs if S.rank(net.port_shape(p)) is None]
    known = {flags[p] for p in inputs if p not in guessed}
    if guessed and len(set(flags.values())) > 1 and len(known) <= 1:
        batch = known.pop() if known else True
        for p in guessed:
            flags[p] = batch and inputs[p].ndim > 0
    sizes = {arr.shape[0] for p, arr in inputs.items() if flags[p]}
    if len(set(flags.values())) > 1:
        raise NetDataError(
            f"{type(net).__name__}: some ports got one example and others a batch: "
            + ", ".join(f"{p}: {'batch' if b else 'example'}" for p, b in flags.items())
            + "."
        )
    if len(sizes) > 1:
        raise NetDataError(
            f"{type(net).__name__}: the input ports got batches of different sizes {sorted(sizes)}."
        )
    return flags, (sizes.pop() if sizes else None)


def _rank_hint(net: Layer, port: str, r: int, arr: np.ndarray) -> str:
    if arr.ndim == r - 1:
        return " Hint: the channel dimension seems to be missing (add an axis of size 1)."
    return ""


JIT_CACHE_SIZE = 8  # specialised nets a net keeps, for the data shapes it saw most recently
_JIT_LOCK = threading.Lock()


def specialize(net: Layer, inputs: dict, flags: dict) -> Layer:
    """The net with unknown input shapes fixed from the data (cached per data shape, the
    JIT_CACHE_SIZE most recently used shapes kept)."""
    shapes = {}
    for port, arr in inputs.items():
        example = arr.shape[1:] if flags[port] else arr.shape
        if net.port_shape(port) != example:
            shapes[port] = example
    if not shapes and all(S.is_known(s) for s in net.output_shapes.values()):
        return net
    key = tuple(sorted(shapes.items()))
    with _JIT_LOCK:
        jit = net._cache.setdefault("jit", {})  # data shapes -> specialised net, oldest first
        out = jit.pop(key, None)
    if out is None:
        out = net._with_port_shapes(shapes)
        # the specialisations hold the net's own arrays: they share its casts of them
        out._cache["casts"] = net._cache.setdefault("casts", {})
    with _JIT_LOCK:
        jit[key] = out
        while len(jit) > JIT_CACHE_SIZE:
            del jit[next(iter(jit))]
    return out


def check_initialized(net: Layer, action: str = "evaluate") -> dict:
    values = net._array_values()
    missing = [aid for aid, v in values.items() if v is None]
    if missing:
        shown = ", ".join(_aid_str(a) for a in missing[:8]) + (" ..." if len(missing) > 8 else "")
        raise NetNotInitializedError(
            f"Cannot {action} {type(net).__name__}: arrays not set: {shown}. "
            "Call NetInitialize(net) (or NetTrain) first."
        )
    return values


_DTYPE_NAMES = {np.float32: "float32", np.float64: "float64"}  # np.dtype(t).name costs ~5 us


def _working_values(net: Layer, dtype) -> dict:
    """cast_values(net, check_initialized(net), dtype), straight from the net's cache when it
    is there: a net value is immutable, so once cast it was initialized and stays so."""
    cast = net._cache.get(("values", _DTYPE_NAMES.get(dtype) or np.dtype(dtype).name))
    return cast if cast is not None else cast_values(net, check_initialized(net), dtype)


def _aid_str(aid: Any) -> str:
    return repr(aid) if isinstance(aid, NetSharedArray) else repr(tuple(aid))


def cast_values(net: Layer, values: dict, dtype) -> dict:
    """The arrays in the working precision (cached per precision on the net value, read-only
    like the net's own arrays: every later evaluation reads them)."""
    name = _DTYPE_NAMES.get(dtype) or np.dtype(dtype).name
    cast = net._cache.get(("values", name))
    if cast is None:
        # one cast per array and precision, shared by the net and its specialisations; the
        # pool keeps each source array alive, so its id cannot be reused by another array
        pool = net._cache.setdefault("casts", {})
        check_array_range(values, dtype)
        cast = {}
        for aid, v in values.items():
            if v.dtype != dtype:
                hit = pool.get((id(v), name))
                if hit is None:
                    hit = pool[id(v), name] = (v, _read_only(v.astype(dtype)))
                v = hit[1]
            cast[aid] = v
        net._cache[("values", name)] = cast
    return cast


def _read_only(arr: np.ndarray) -> np.ndarray:
    arr.setflags(write=False)
    return arr


# ---------------------------------------------------------------------------- gradients


def parse_gradient_request(net: Layer, props: tuple, plan) -> tuple | None:
    """The gradients asked for: (list of (key, kind, target)), or None for plain outputs."""
    if not props:
        return None
    if len(props) > 1:
        raise NetOptionError(
            'give one property, e.g. NetPortGradient("Input") or NetPortGradient(All).'
        )
    prop = props[0]
    if not isinstance(prop, NetPortGradient):
        raise NetOptionError(
            f"unknown evaluation property {prop!r}; use NetPortGradient(...) to ask for gradients."
        )
    in_names = [p.name for p in net.input_ports]
    if prop.spec is All:
        wanted = [(p, "input", p) for p in in_names if _real_port(net, p)]
        wanted += [
            (aid, "array", aid) for aid, kind in plan.array_kinds.items() if kind == "learned"
        ]
        return ("all", wanted)
    spec = prop.spec
    if isinstance(spec, str) and spec in in_names:
        return ("one", [(spec, "input", spec)])
    try:
        aid = resolve_array_id(net, spec, plan)
    except NetArrayError:
        if not isinstance(spec, str):
            raise
        arrays = [a[-1] for a in plan.array_kinds if isinstance(a, tuple) and len(a) == 1]
        raise NetArrayError(
            f"NetPortGradient({spec!r}): {type(net).__name__} has no input port or array "
            f"{spec!r}." + did_you_mean(spec, in_names + arrays)
        ) from None
    if plan.array_kinds[aid] != "learned":
        raise NetArrayError(
            f"{_aid_str(aid)} is a state array (moving statistics): it has no gradient."
        )
    return ("one", [(aid, "array", aid)])


def _real_port(net: Layer, port: str) -> bool:
    return all(p.dtype == "Real" for p in net.input_ports if p.name == port)


def resolve_array_id(net: Layer, spec: Any, plan) -> Any:
    """An array path as given by a user -> the plan's array id."""
    from .parts import resolve_array_path

    return resolve_array_path(net, spec, plan)


# ---------------------------------------------------------------------------- evaluate


def evaluate(net: Layer, data: Any, props: tuple = (), options: dict | None = None):
    opts = parse_evaluation_options(options or {})
    decoding, props = parse_decoder_request(net, props)
    dtype = precision_dtype(opts["WorkingPrecision"])
    inputs, forced, numeric_in = split_data(net, data)
    empty = [p for p, a in inputs.items() if a.size == 0]
    if empty:
        raise NetDataError(
            f'{type(net).__name__}: the data for port "{empty[0]}" is empty '
            f"(shape {inputs[empty[0]].shape}): there is nothing to evaluate."
        )
    flags, n = batch_flags(net, inputs)
    check_missing_axis(net, inputs, flags)
    net = specialize(net, inputs, flags)
    values = _working_values(net, dtype)
    plan = compile_plan(net)
    taps = parse_port_request(net, props, plan)  # NetPort(...): inner values
    request = None if taps else parse_gradient_request(net, props, plan)
    batched = {}
    for port, arr in inputs.items():
        where = first_nonfinite(arr)
        if where is not None:
            raise NetDataError(
                f'port "{port}": the data contains NaN or infinite values (first at index {where}).'
            )
        port_dtype = _port_dtype(net, port, dtype)
        if port_dtype is np.int64 and arr.dtype.kind == "f" and np.any(arr != np.round(arr)):
            raise NetDataError(
                f'{type(net).__name__}: port "{port}" takes integers (class indices), got '
                f"{arr[arr != np.round(arr)].flat[0]}."
            )
        arr = cast_data(arr, port_dtype, f'{type(net).__name__}: port "{port}"')
        batched[port] = arr if flags[port] else arr[None]
    single = n is None
    n = 1 if single else n
    for port, g in forced.items():
        forced[port] = _forced_gradient(net, port, g, single, n, dtype)
    seed = opts["RandomSeeding"]
    ctx = Context(
        mode=opts["NetEvaluationMode"],
        dtype=dtype,
        rng=_AUTOMATIC_RNG if seed is Automatic else np.random.default_rng(_seed_words(seed)),
        need_grad=request is not None,
        extra={"rngs": _LayerRngs(seed)} if opts["NetEvaluationMode"] == "Train" else {},
    )
    bs = n if opts["BatchSize"] is Automatic else int(opts["BatchSize"])
    if ctx.mode == "Train" and any(getattr(s.layer, "batch_dependent", False) for s in plan.steps):
        bs = n  # batch statistics (BatchNormalization) are those of the whole input
    chunks = [(i, min(i + bs, n)) for i in range(0, n, bs)] or [(0, 0)]
    outs, in_grads, arr_grads = [], [], {}
    # Overflow shows up as inf/NaN, which the checks below turn into a NetError (numpy's
    # warnings would otherwise escape as RuntimeWarning, or as errors under -W error).
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        for lo, hi in chunks:
            part = {p: a[lo:hi] for p, a in batched.items()}
            out, tape, states = run_forward(
                plan, values, part, ctx, keep=request is not None, taps=taps and taps[1]
            )
            _check_finite(net, plan, values, part, ctx, out)
            _check_finite_states(states)
            outs.append(out)
            if request is not None:
                d_out = {
                    p: (forced[p][lo:hi] if p in forced else np.ones_like(o))
                    for p, o in out.items()
                }
                wants_inputs = any(what == "input" for _, what, _ in request[1])
                d_in, d_arr = run_backward(plan, tape, d_out, input_grads=wants_inputs)
                _check_finite_gradients(d_in, d_arr)
                in_grads.append(d_in)
                for aid, g in d_arr.items():
                    arr_grads[aid] = g if aid not in arr_grads else arr_grads[aid] + g
    if taps:
        return _port_result(taps, outs, single, numeric_in)
    if request is None:
        result = _distinct({p: _join([o[p] for o in outs], single) for p in outs[0]})
        result = {p: _finish(r, numeric_in) for p, r in result.items()}
        if decoding:
            result = decode_outputs(decoding, result, single)
        return next(iter(result.values())) if len(result) == 1 else result
    return _gradient_result(request, in_grads, arr_grads, values, single, numeric_in)


def _port_result(taps: tuple, outs: list, single: bool, numeric: bool):
    """The values NetPort asked for: one value, or a dict keyed by NetPort."""
    form, slots = taps
    result = {k: _finish(_join([o[k] for o in outs], single), numeric) for k in slots}
    return next(iter(result.values())) if form == "one" else result


def _forced_gradient(net: Layer, port: str, g: np.ndarray, single: bool, n: int, dtype):
    """A forced output gradient, checked against the output port's shape, as a batch."""
    where = f'{type(net).__name__}: gradient of output port "{port}"'
    shape = net.port_shape(port)
    expected = tuple(shape) if S.is_known(shape) else None
    batch = g[None] if single else g
    if expected is not None and batch.shape != (n, *expected):
        want = expected if single else (n, *expected)
        raise NetShapeError(f"{where} should have shape {want}, got {g.shape}.")
    if first_nonfinite(batch) is not None:
        raise NetDataError(f"{where} contains NaN or infinite values.")
    return cast_data(batch, dtype, where)  # float64 beyond float32 is refused, not inf


def _check_finite_states(states: list) -> None:
    """Statistics a layer computed (BatchNormalization's batch mean and variance) are finite."""
    for step, state in states:
        for name, value in state.items():
            if not all_finite(value):
                raise NetError(
                    "A floating-point overflow, underflow, or division by zero occurred while "
                    f'evaluating the net: the batch statistics for "{name}" of '
                    f"{type(step.layer).__name__} {_step_name(step)}are not finite "
                    "(the data is too large for the working precision?)."
                )


def _check_finite_gradients(d_in: dict, d_arr: dict) -> None:
    bad = [
        repr(key)
        for key, g in [*d_in.items(), *d_arr.items()]
        if g is not None and not all_finite(g)
    ]
    if bad:
        raise NetError(
            "A floating-point overflow, underflow, or division by zero occurred while computing "
            f"gradients: the gradients of {', '.join(bad)} contain NaN or infinite values."
        )


def _step_name(step) -> str:
    return f'"{"/".join(str(k) for k in step.path)}" ' if step.path else ""


def _port_dtype(net: Layer, port: str, dtype):
    for p in net.input_ports:
        if p.name == port and p.dtype == "Integer":
            return np.int64
    return dtype


def _join(parts: list, single: bool) -> np.ndarray:
    arr = parts[0] if len(parts) == 1 else np.concatenate(parts)
    return arr[0] if single else arr


def _distinct(arrays: dict) -> dict:
    """The arrays with any one handed out under two keys copied for the second: two output
    ports fed by one layer port, or a TotalLayer's inputs (one shared gradient), must not
    change together when the caller writes to one."""
    seen: set = set()
    out = {}
    for key, arr in arrays.items():
        out[key] = arr.copy() if id(arr) in seen else arr
        seen.add(id(arr))
    return out


def _finish(arr: np.ndarray, numeric: bool):
    arr = np.array(arr, copy=True) if not arr.flags.owndata or not arr.flags.writeable else arr
    if numeric:
        return NumericArray(arr, "Real64" if arr.dtype == np.float64 else "Real32")
    return arr


def _gradient_result(request, in_grads, arr_grads, values, single, numeric):
    kind, wanted = request
    grads = {}
    for key, what, target in wanted:
        if what == "input":
            parts = [g[target] for g in in_grads]
            if any(p is None for p in parts):
                g = None
            else:
                g = _join(parts, single)
        else:
            g = arr_grads.get(target)
            if g is None:
                g = np.zeros_like(values[target])
        if g is None:
            raise NetError(f'no gradient flows to port "{key}".')
        grads[key] = g
    result = {key: _finish(g, numeric) for key, g in _distinct(grads).items()}
    return result if kind == "all" else next(iter(result.values()))


def _check_finite(net, plan, values, inputs, ctx, outputs) -> None:
    bad = [p for p, o in outputs.items() if not all_finite(o)]
    if not bad:
        return
    culprit = _first_nonfinite_step(plan, values, inputs, ctx)
    where = ""
    if culprit is not None:
        step, port = culprit
        name = "/".join(str(k) for k in step.path) or type(step.layer).__name__
        where = f" The first non-finite value came from {type(step.layer).__name__} "
        where += f'"{name}" port "{port}".' if step.path else f'port "{port}".'
        hint = getattr(step.layer, "nonfinite_hint", None)
        if hint:
            where += " " + hint(values, step)
    raise NetError(
        "A floating-point overflow, underflow, or division by zero occurred while evaluating "
        f"the net: output port(s) {', '.join(bad)} contain NaN or infinite values.{where}"
    )


def _first_nonfinite_step(plan, values, inputs, ctx):
    """Re-run the plan one step at a time to name the first step with a non-finite output."""
    slots: list[Any] = [None] * plan.n_slots
    for port, s in plan.inputs.items():
        slots[s] = inputs[port]
    for step in plan.steps:
        arrays = {name: values[aid] for name, aid in step.arrays.items()}
        ins = {p: slots[s] for p, s in step.inputs.items()}
        outs, _, _ = step.layer.forward(arrays, ins, ctx)
        for p, s in step.outputs.items():
            slots[s] = outs[p]
            if outs[p].dtype.kind == "f" and not np.isfinite(outs[p]).all():
                return step, p
    return None
