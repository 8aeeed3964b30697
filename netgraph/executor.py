"""The executor: a net compiled once into a flat plan of leaf-layer steps over value slots.

A plan is structure only: which leaf runs in which order, which slots feed it and which array
ids it reads. Array values are passed in at run time as a dict `array id -> ndarray`, so the same
plan serves evaluation (the net's own arrays) and training (the trainer's working copies).
An array id is the array's path tuple, e.g. `("bn", "Scaling")`, or a NetSharedArray.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .errors import NetError
from .layer import Context, Layer
from .values import NetSharedArray


@dataclass(slots=True)
class Step:
    layer: Layer
    path: tuple
    inputs: dict  # port -> slot
    outputs: dict  # port -> slot
    arrays: dict  # array name -> array id
    free: tuple = ()  # slots no later step reads: dropped after this step
    reads_net_inputs_only: bool = False  # every input is one of the net's own input ports


@dataclass
class Plan:
    steps: list = field(default_factory=list)
    inputs: dict = field(default_factory=dict)  # net input port -> slot
    outputs: dict = field(default_factory=dict)  # net output port -> slot
    n_slots: int = 0
    array_kinds: dict = field(default_factory=dict)  # array id -> "learned" | "state"
    array_owners: dict = field(default_factory=dict)  # array id -> [(leaf path, array name)]
    port_slots: dict = field(default_factory=dict)  # (layer path, output port) -> slot

    def new_slot(self) -> int:
        self.n_slots += 1
        return self.n_slots - 1

    def add_step(self, layer: Layer, path: tuple, in_slots: dict) -> dict:
        """Append a leaf layer; `in_slots` maps its input ports to slots. Returns output slots."""
        out_slots = {p.name: self.new_slot() for p in layer.output_ports}
        arrays = {}
        for spec in layer.array_specs:
            value = layer._arrays.get(spec.name)
            aid = value if isinstance(value, NetSharedArray) else path + (spec.name,)
            arrays[spec.name] = aid
            self.array_kinds[aid] = spec.kind
            self.array_owners.setdefault(aid, []).append((path, spec.name))
        self.steps.append(Step(layer, path, dict(in_slots), out_slots, arrays))
        return out_slots

    def finish(self) -> Plan:
        """Work out when each slot can be dropped (after its last reader)."""
        last_use: dict[int, int] = {}
        for i, step in enumerate(self.steps):
            for s in step.inputs.values():
                last_use[s] = i
        keep = set(self.outputs.values())
        frees: dict[int, list] = {}
        for slot, i in last_use.items():
            if slot not in keep:
                frees.setdefault(i, []).append(slot)
        net_inputs = set(self.inputs.values())
        for i, step in enumerate(self.steps):
            step.free = tuple(frees.get(i, ()))
            step.reads_net_inputs_only = all(s in net_inputs for s in step.inputs.values())
        return self


def compile_plan(net: Layer) -> Plan:
    """The plan of a net, cached on the (immutable) net value."""
    plan = net._cache.get("plan")
    if plan is None:
        plan = Plan()
        in_slots = {}
        for p in net.input_ports:
            in_slots[p.name] = plan.new_slot()
        plan.inputs = dict(in_slots)
        plan.outputs = net._emit(plan, (), in_slots)
        plan = plan.finish()
        net._cache["plan"] = plan
    return plan


def run_forward(
    plan: Plan, values: dict, inputs: dict, ctx: Context, keep: bool = False, taps=None
):
    """Run every step. Returns (outputs, tape, state updates).

    `tape` (when `keep`) holds what backward needs; state updates are (step, {name: value}).
    `ctx.extra["modes"]` may force a mode per leaf path (frozen BatchNormalization in NetTrain).
    `taps` ({key: slot}, intermediate values asked for with NetPort) keeps those slots alive;
    their values are returned in the outputs dict under their keys.
    """
    slots: list[Any] = [None] * plan.n_slots
    for port, s in plan.inputs.items():
        slots[s] = inputs[port]
    tape = [] if keep else None
    states = []
    modes = ctx.extra.get("modes")
    rngs = ctx.extra.get("rngs")  # leaf path -> generator (evaluation), else ctx.rng for all
    kept = set(taps.values()) if taps else ()
    for step in plan.steps:
        arrays = {name: values[aid] for name, aid in step.arrays.items()}
        ins = {p: slots[s] for p, s in step.inputs.items()}
        c = ctx
        if modes and step.path in modes:
            c = Context(modes[step.path], ctx.dtype, ctx.rng, ctx.training, ctx.need_grad, {})
        if rngs is not None and getattr(step.layer, "draws_random", False):
            c = replace(c, rng=rngs[step.path])  # its own stream: chunks draw as one batch
        try:
            outs, cache, state = step.layer.forward(arrays, ins, c)
        except NetError as exc:
            raise _located(exc, step) from None
        for p, s in step.outputs.items():
            slots[s] = outs[p]
        if keep:  # output shapes only: the outputs themselves may be dropped (step.free)
            shapes = {p: (outs[p].shape, outs[p].dtype) for p in step.outputs}
            tape.append((arrays, cache, c, shapes))
        if state:
            states.append((step, state))
        for s in step.free:
            if not taps or s not in kept:
                slots[s] = None
    outputs = {p: slots[s] for p, s in plan.outputs.items()}
    if taps:
        outputs.update({key: slots[s] for key, s in taps.items()})
    return outputs, tape, states


def _located(exc: NetError, step: Step) -> NetError:
    """The same error, its message prefixed with the layer's path inside the net."""
    if not step.path:
        return exc
    where = "/".join(str(k) for k in step.path)
    return type(exc)(f'in layer "{where}": {exc}')


def run_backward(plan: Plan, tape: list, d_outputs: dict, input_grads: bool = True):
    """Back-propagate output gradients. Returns (input-port gradients, array-id gradients).

    With `input_grads` False (training: the inputs are data) the layers reading only the net's
    inputs are told so through `ctx.input_grads` and may skip that work; the net's input-port
    gradients are then not computed.

    Gradients add up where a slot fans out to several readers and where a shared array is
    used by several steps. The tape is consumed: each step's entry (its cache) and its output
    gradients are released once its backward has run, so memory falls as backward proceeds.
    """
    grads: list[Any] = [None] * plan.n_slots
    for port, s in plan.outputs.items():
        g = d_outputs.get(port)
        if g is not None:
            grads[s] = g if grads[s] is None else grads[s] + g
    d_arrays: dict = {}
    for i in reversed(range(len(plan.steps))):
        step, (arrays, cache, ctx, out_shapes) = plan.steps[i], tape[i]
        tape[i] = None
        d_outs = {p: grads[s] for p, s in step.outputs.items()}
        if all(g is None for g in d_outs.values()):
            continue  # nothing downstream depends on this step
        for p, g in d_outs.items():
            if g is None:
                d_outs[p] = np.zeros(*out_shapes[p])
        for s in step.outputs.values():
            grads[s] = None
        if not input_grads and step.reads_net_inputs_only:
            ctx = replace(ctx, input_grads=False)
        d_ins, d_arrs = step.layer.backward(arrays, cache, d_outs, ctx)
        del cache
        for p, s in step.inputs.items():
            g = d_ins.get(p)
            if g is None:
                continue
            grads[s] = g if grads[s] is None else grads[s] + g
        for name, g in d_arrs.items():
            aid = step.arrays[name]
            d_arrays[aid] = g if aid not in d_arrays else d_arrays[aid] + g
    return {p: grads[s] for p, s in plan.inputs.items()}, d_arrays
