"""The executor releases memory as it goes: the tape keeps no layer outputs (only their shapes),
and backward consumes the tape, dropping each step's cache once its gradients are out."""

import numpy as np

import netgraph as ng
from netgraph.executor import compile_plan, run_backward, run_forward
from netgraph.layer import Context


def _chain_and_values():
    chain = ng.NetInitialize(
        ng.NetChain(
            [ng.BatchNormalizationLayer(), ng.ElementwiseLayer("Ramp"), ng.LinearLayer(2)],
            Input=(3, 4),
        )
    )
    values = {a: v.astype(np.float32) for a, v in chain._array_values().items()}
    return chain, values


def test_tape_holds_no_outputs_and_backward_consumes_it():
    chain, values = _chain_and_values()
    plan = compile_plan(chain)
    x = np.random.default_rng(0).standard_normal((5, 3, 4)).astype(np.float32)
    ctx = Context(mode="Train", need_grad=True)
    outs, tape, _ = run_forward(plan, values, {"Input": x}, ctx, keep=True)
    for _, _, _, shapes in tape:
        assert not any(isinstance(v, np.ndarray) for v in shapes.values())
    d_in, d_arrays = run_backward(plan, tape, {"Output": np.ones_like(outs["Output"])})
    assert all(entry is None for entry in tape)
    assert d_in["Input"].shape == x.shape and len(d_arrays) == 4
