"""Training workloads: one NetTrain step (forward, backward, ADAM) and its peak memory.

The net: Conv(16, 3x3, pad 1) -> BN -> Ramp -> Pool 2 -> Conv(32, 3x3, pad 1) -> BN -> Ramp
-> Flatten -> Linear(10) -> Softmax, cross-entropy against class indices, on (1, 8, 8) inputs.

One step through the public API is the marginal cost of a training round: NetTrain on exactly
one batch of data runs one step per round, so (time of 1+K rounds - time of 1 round) / K is a
step without NetTrain's fixed set-up (initialisation, data checks, the trained net's copy).
PyTorch's step is zero_grad, forward, CrossEntropyLoss (on the logits: the same function as
Softmax followed by cross-entropy), backward and Adam.step.
"""

from __future__ import annotations

import numpy as np

import netgraph as ng

from .harness import Measurement, Setup, time_interleaved, vs_torch, workload
from .workloads import need

EXAMPLE = (1, 8, 8)
CLASSES = 10
EXTRA_ROUNDS = 8  # K above


def netgraph_net():
    conv, pool = need("ConvolutionLayer"), need("PoolingLayer")
    linear, softmax = need("LinearLayer"), need("SoftmaxLayer")
    flatten, elementwise = need("FlattenLayer"), need("ElementwiseLayer")
    need("NetTrain")
    return ng.NetChain(
        [
            conv(16, 3, PaddingSize=1),
            ng.BatchNormalizationLayer(),
            elementwise("Ramp"),
            pool(2, 2),
            conv(32, 3, PaddingSize=1),
            ng.BatchNormalizationLayer(),
            elementwise("Ramp"),
            flatten(),
            linear(CLASSES),
            softmax(),
        ],
        Input=EXAMPLE,
    )


def torch_net(torch):
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.BatchNorm2d(16, eps=1e-3, momentum=0.1),
        nn.ReLU(),
        nn.MaxPool2d(2, 2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.BatchNorm2d(32, eps=1e-3, momentum=0.1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, CLASSES),
    )


def batch_data(batch: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and 0-based class indices (CrossEntropyLossLayer "Index")."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, *EXAMPLE)).astype(np.float32)
    return x, rng.integers(0, CLASSES, batch)


def netgraph_rounds(net, x: np.ndarray, y: np.ndarray, rounds: int):
    """NetTrain on one batch for `rounds` rounds (one ADAM step per round)."""
    return ng.NetTrain(
        net,
        (x, y),
        BatchSize=len(x),
        MaxTrainingRounds=rounds,
        Method="ADAM",
        RandomSeeding=0,
        TrainingProgressReporting=None,
    )


def torch_step(torch, model, x: np.ndarray, y: np.ndarray):
    """A closure doing one training step of `model` on (x, y)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    model.train()

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(xt), yt)
        loss.backward()
        optimizer.step()
        return loss

    return step


def train_step(setup: Setup, batch: int) -> dict:
    net = netgraph_net()
    x, y = batch_data(batch, setup.seed)
    timed = time_interleaved(
        {
            "short": lambda: netgraph_rounds(net, x, y, 1),
            "long": lambda: netgraph_rounds(net, x, y, 1 + EXTRA_ROUNDS),
        },
        setup,
    )
    short, long = timed["short"], timed["long"]
    if long.best <= short.best:
        raise RuntimeError("timing noise exceeded the cost of the extra rounds: rerun")
    contenders = {
        "netgraph": Measurement(
            (long.best - short.best) / EXTRA_ROUNDS,
            (long.median - short.median) / EXTRA_ROUNDS,
            min(long.samples, short.samples),
        )
    }
    if setup.torch is not None:
        setup.torch.manual_seed(setup.seed)
        contenders["torch"] = torch_step(setup.torch, torch_net(setup.torch), x, y)
    return contenders


for _batch, _target in ((1, vs_torch(1.0, strict=True)), (64, vs_torch(2.0)), (512, vs_torch(3.0))):
    workload(
        f"NetTrain step, batch {_batch}",
        "Training",
        [_target],
        note="netgraph: marginal cost of one round of NetTrain on one batch",
    )(lambda setup, _b=_batch: train_step(setup, _b))
