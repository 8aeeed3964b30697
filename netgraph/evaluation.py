"""Applying a net to data: `net(x)`, `net(batch)`, `net([x1, x2])`, `net({"Input": x})`,
gradients with `NetPortGradient`, and the evaluation options.

Steps: normalise the options and the data, decide per port whether the data is one example or a
batch, fix unknown port shapes from the data (JIT inference, cached per shape), check that every
array is set, cast to the working precision, run the plan in chunks of `BatchSize` (one chunk in
"Train" mode when a layer's output depends on the whole batch, as BatchNormalization's does),
refuse any non-finite result, and hand back arrays in the form they came in.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from . import shapes as S
from ._data_checks import cast_data, check_array_range, check_missing_axis, refuse_non_number
from ._decoder_ports import parse_decoder_request
from ._evaluation_inputs import (
    _working_values,
    all_finite,
    as_numeric,
    batch_flags,
    batch_inputs,
    cast_values,
    check_initialized,
    first_nonfinite,
    refuse_empty,
    split_data,
)
from ._evaluation_options import (
    EVALUATION_OPTIONS,
    PRECISIONS,
    _LayerRngs,
    check_device,
    evaluation_rng,
    parse_evaluation_options,
    precision_dtype,
)
from ._evaluation_results import (
    _check_finite,
    _check_finite_gradients,
    _check_finite_states,
    _forced_gradient,
    _gradient_result,
    _output_result,
    _port_result,
    parse_gradient_request,
    resolve_array_id,
)
from .executor import compile_plan, run_backward, run_forward
from .layer import Context, Layer
from .port_requests import parse_port_request
from .values import Automatic

__all__ = [  # names other modules import from here; they live in the _evaluation_* modules
    "EVALUATION_OPTIONS",
    "JIT_CACHE_SIZE",
    "PRECISIONS",
    "all_finite",
    "as_numeric",
    "batch_flags",
    "cast_data",
    "cast_values",
    "check_array_range",
    "check_device",
    "check_initialized",
    "check_missing_axis",
    "evaluate",
    "first_nonfinite",
    "parse_evaluation_options",
    "parse_gradient_request",
    "precision_dtype",
    "refuse_non_number",
    "resolve_array_id",
    "specialize",
    "split_data",
]

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


def evaluate(net: Layer, data: Any, props: tuple = (), options: dict | None = None):
    opts = parse_evaluation_options(options or {})
    decoding, props = parse_decoder_request(net, props)
    dtype = precision_dtype(opts["WorkingPrecision"])
    inputs, forced, numeric_in = split_data(net, data)
    refuse_empty(net, inputs)
    flags, n = batch_flags(net, inputs)
    check_missing_axis(net, inputs, flags)
    net = specialize(net, inputs, flags)
    values = _working_values(net, dtype)
    plan = compile_plan(net)
    taps = parse_port_request(net, props, plan)  # NetPort(...): inner values
    request = None if taps else parse_gradient_request(net, props, plan)
    batched = batch_inputs(net, inputs, flags, dtype)
    single = n is None
    n = 1 if single else n
    for port, g in forced.items():
        forced[port] = _forced_gradient(net, port, g, single, n, dtype)
    ctx = _context(opts, dtype, need_grad=request is not None)
    chunks = _chunks(plan, ctx, opts["BatchSize"], n)
    runs = _run_chunks(net, plan, values, batched, ctx, chunks, request, forced, taps)
    outs, in_grads, arr_grads = runs
    if taps:
        return _port_result(taps, outs, single, numeric_in)
    if request is None:
        return _output_result(outs, single, numeric_in, decoding)
    return _gradient_result(request, in_grads, arr_grads, values, single, numeric_in)


def _context(opts: dict, dtype, need_grad: bool) -> Context:
    seed = opts["RandomSeeding"]
    return Context(
        mode=opts["NetEvaluationMode"],
        dtype=dtype,
        rng=evaluation_rng(seed),
        need_grad=need_grad,
        extra={"rngs": _LayerRngs(seed)} if opts["NetEvaluationMode"] == "Train" else {},
    )


def _chunks(plan, ctx: Context, batch_size: Any, n: int) -> list[tuple[int, int]]:
    """The (start, stop) of each BatchSize chunk of the n examples."""
    bs = n if batch_size is Automatic else int(batch_size)
    if ctx.mode == "Train" and any(getattr(s.layer, "batch_dependent", False) for s in plan.steps):
        bs = n  # batch statistics (BatchNormalization) are those of the whole input
    return [(i, min(i + bs, n)) for i in range(0, n, bs)] or [(0, 0)]


def _run_chunks(net, plan, values, batched, ctx, chunks, request, forced, taps):
    """Forward (and backward, for a gradient request) over each chunk: (outputs per chunk,
    input gradients per chunk, array gradients summed over the chunks)."""
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
    return outs, in_grads, arr_grads
