"""The results of an evaluation: the gradients asked for (`NetPortGradient`), forced output
gradients, the checks that outputs, batch statistics and gradients are finite (naming the first
layer with a non-finite output), and the arrays handed back in the form the data came in."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import shapes as S
from ._data_checks import cast_data
from ._decoder_ports import decode_outputs
from ._evaluation_inputs import _aid_str, all_finite, first_nonfinite
from .errors import (
    NetArrayError,
    NetDataError,
    NetError,
    NetOptionError,
    NetShapeError,
    did_you_mean,
)
from .layer import Layer
from .values import All, NetPortGradient, NumericArray


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


def _port_result(taps: tuple, outs: list, single: bool, numeric: bool):
    """The values NetPort asked for: one value, or a dict keyed by NetPort."""
    form, slots = taps
    result = {k: _finish(_join([o[k] for o in outs], single), numeric) for k in slots}
    return next(iter(result.values())) if form == "one" else result


def _output_result(outs: list, single: bool, numeric: bool, decoding):
    """The output ports' values (decoded when asked): one value, or a dict keyed by port."""
    result = _distinct({p: _join([o[p] for o in outs], single) for p in outs[0]})
    result = {p: _finish(r, numeric) for p, r in result.items()}
    if decoding:
        result = decode_outputs(decoding, result, single)
    return next(iter(result.values())) if len(result) == 1 else result


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
