"""Layer workloads: BatchNormalizationLayer and ConvolutionLayer, netgraph vs PyTorch vs floors.

Every contender sees the same float32 data from a seeded generator. Before timing, each
workload checks once that netgraph and PyTorch compute the same thing (loose tolerances), so a
fast wrong answer cannot pass.
"""

from __future__ import annotations

import numpy as np

import netgraph as ng

from .harness import NotAvailable, Setup, vs_floor, vs_torch, workload

READ_WRITE = "floor = np.copyto of the input into a preallocated buffer (one read+write pass)"
BN_EPSILON = 0.001


def need(name: str):
    """A public netgraph name, or NotAvailable while it has not landed."""
    value = getattr(ng, name, None)
    if value is None:
        raise NotAvailable(f"ng.{name} does not exist yet")
    return value


def copy_floor(x: np.ndarray):
    buffer = np.empty_like(x)
    return lambda: np.copyto(buffer, x)


# ----------------------------------------------------------------------- BatchNormalization


def _bn_arrays(channels: int, rng: np.random.Generator) -> dict:
    """Non-trivial arrays (so Test mode is not the identity)."""
    return {
        "Scaling": rng.uniform(0.5, 1.5, channels).astype(np.float32),
        "Biases": rng.uniform(-0.5, 0.5, channels).astype(np.float32),
        "MovingMean": rng.uniform(-0.5, 0.5, channels).astype(np.float32),
        "MovingVariance": rng.uniform(0.5, 2.0, channels).astype(np.float32),
    }


def _bn_nets(setup: Setup, shape: tuple):
    rng = np.random.default_rng(setup.seed)
    x = rng.standard_normal(shape).astype(np.float32)
    arrays = _bn_arrays(shape[1], rng)
    bn = ng.BatchNormalizationLayer(Input=shape[1:], Epsilon=BN_EPSILON, **arrays)
    torch_bn = None
    if setup.torch is not None:
        torch = setup.torch
        cls = torch.nn.BatchNorm2d if len(shape) == 4 else torch.nn.BatchNorm1d
        torch_bn = cls(shape[1], eps=BN_EPSILON)
        with torch.no_grad():
            torch_bn.weight.copy_(torch.from_numpy(arrays["Scaling"]))
            torch_bn.bias.copy_(torch.from_numpy(arrays["Biases"]))
            torch_bn.running_mean.copy_(torch.from_numpy(arrays["MovingMean"]))
            torch_bn.running_var.copy_(torch.from_numpy(arrays["MovingVariance"]))
    return x, bn, torch_bn


def bn_test(setup: Setup, shape: tuple) -> dict:
    """Test mode forward: `bn(x)` vs `BatchNorm(x)` in eval mode under no_grad."""
    x, bn, torch_bn = _bn_nets(setup, shape)
    contenders = {"netgraph": lambda: bn(x), "floor": copy_floor(x)}
    if torch_bn is not None:
        torch = setup.torch
        torch_bn.eval()
        xt = torch.from_numpy(x)

        def torch_forward():
            with torch.no_grad():
                return torch_bn(xt)

        np.testing.assert_allclose(bn(x), torch_forward().numpy(), rtol=1e-4, atol=1e-5)
        contenders["torch"] = torch_forward
    return contenders


def bn_train(setup: Setup, shape: tuple) -> dict:
    """Train mode forward + backward of sum(Output) (the default upstream gradient of ones):
    input, Scaling and Biases gradients on both sides."""
    x, bn, torch_bn = _bn_nets(setup, shape)

    def ours():
        return bn(x, ng.NetPortGradient(ng.All), NetEvaluationMode="Train")

    contenders = {"netgraph": ours, "floor": copy_floor(x)}
    if torch_bn is not None:
        torch_bn.train()
        xt = setup.torch.from_numpy(x.copy()).requires_grad_(True)

        def theirs():
            xt.grad = None
            torch_bn.zero_grad(set_to_none=True)
            torch_bn(xt).sum().backward()
            return xt.grad, torch_bn.weight.grad, torch_bn.bias.grad

        got, want = ours(), theirs()
        np.testing.assert_allclose(got["Input"], want[0].numpy(), atol=1e-4)
        np.testing.assert_allclose(got[("Scaling",)], want[1].numpy(), rtol=1e-3, atol=1e-2)
        np.testing.assert_allclose(got[("Biases",)], want[2].numpy(), rtol=1e-4)
        contenders["torch"] = theirs
    return contenders


IMAGE, VECTORS = (64, 16, 32, 32), (256, 512)


@workload(f"BN Train fwd+bwd {IMAGE}", "BatchNorm", [vs_torch(2.0)], READ_WRITE)
def bn_train_image(setup: Setup) -> dict:
    return bn_train(setup, IMAGE)


@workload(f"BN Train fwd+bwd {VECTORS}", "BatchNorm", [vs_torch(2.0)], READ_WRITE)
def bn_train_vectors(setup: Setup) -> dict:
    return bn_train(setup, VECTORS)


@workload(f"BN Test fwd {IMAGE}", "BatchNorm", [vs_torch(2.0), vs_floor(2.5)], READ_WRITE)
def bn_test_image(setup: Setup) -> dict:
    return bn_test(setup, IMAGE)


@workload(f"BN Test fwd {VECTORS}", "BatchNorm", [vs_torch(2.0), vs_floor(2.5)], READ_WRITE)
def bn_test_vectors(setup: Setup) -> dict:
    return bn_test(setup, VECTORS)


@workload(
    "BN Test fwd (4,3): per-call overhead",
    "BatchNorm",
    note="no target: the fixed cost of one bn(x) call through the public API",
)
def bn_test_tiny(setup: Setup) -> dict:
    contenders = bn_test(setup, (4, 3))
    del contenders["floor"]
    return contenders


# ---------------------------------------------------------------------------- Convolution

CONV_IN, CONV_OUT, CONV_K = (64, 16, 32, 32), 32, 3


def gemm_floor(flops: float):
    """One float32 square GEMM with (about) the same FLOP count: 2 n^3 = flops."""
    n = round((flops / 2) ** (1 / 3))
    rng = np.random.default_rng(1)
    a, b = (rng.standard_normal((n, n)).astype(np.float32) for _ in range(2))
    out = np.empty((n, n), np.float32)
    return lambda: np.matmul(a, b, out=out)


@workload(
    f"Conv 3x3 pad 1 fwd+bwd {CONV_IN}->{CONV_OUT}",
    "Convolution",
    [vs_torch(3.0), vs_floor(4.0)],
    "floor = one float32 square GEMM with the FLOPs of forward + both backward products",
)
def conv_fwd_bwd(setup: Setup) -> dict:
    ConvolutionLayer = need("ConvolutionLayer")
    n, c_in, h, w = CONV_IN
    rng = np.random.default_rng(setup.seed)
    x = rng.standard_normal(CONV_IN).astype(np.float32)
    conv = ng.NetInitialize(
        ConvolutionLayer(CONV_OUT, CONV_K, PaddingSize=1, Input=CONV_IN[1:]), RandomSeeding=0
    )

    def ours():
        return conv(x, ng.NetPortGradient(ng.All))

    flops = 3 * 2 * n * CONV_OUT * h * w * c_in * CONV_K**2
    contenders = {"netgraph": ours, "floor": gemm_floor(flops)}
    if setup.torch is not None:
        torch = setup.torch
        tconv = torch.nn.Conv2d(c_in, CONV_OUT, CONV_K, padding=1)
        weights = ng.NetExtract(conv, "Weights")
        biases = ng.NetExtract(conv, "Biases")
        with torch.no_grad():
            tconv.weight.copy_(torch.from_numpy(np.asarray(weights, np.float32)))
            tconv.bias.copy_(torch.from_numpy(np.asarray(biases, np.float32)))
        xt = torch.from_numpy(x.copy()).requires_grad_(True)

        def theirs():
            xt.grad = None
            tconv.zero_grad(set_to_none=True)
            tconv(xt).sum().backward()
            return xt.grad

        np.testing.assert_allclose(ours()["Input"], theirs().numpy(), rtol=1e-3, atol=1e-3)
        contenders["torch"] = theirs
    return contenders
