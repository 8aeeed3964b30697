"""BatchNormalizationLayer, exactly as Wolfram's reference page (MXNet CPU semantics)."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from netgraph.errors import NetArrayError, NetTrainError
from netgraph.layer import ArraySpec, Context, Layer, LayerOptions

from ._channel_ops import (
    affine_into,
    channel_dots,
    channel_sums,
    empty_like3,
    per_channel,
    view3,
)

F64 = np.float64


class BatchNormalizationLayer(Layer):
    """Normalize each channel, with learned Scaling and Biases and moving statistics.

    "Test" mode (plain evaluation): per channel c,
    ``y = Scaling*(x - MovingMean)/sqrt(MovingVariance + Epsilon) + Biases``.
    "Train" mode (NetTrain, or ``NetEvaluationMode="Train"``): the batch's own mean and biased
    variance (divide by N) replace the moving arrays. Once per NetTrain step the moving arrays
    move towards the batch statistics: ``new = Momentum*old + (1 - Momentum)*batch`` (Momentum
    weighs the old value; ``Momentum=1`` freezes them). Evaluation never changes any array.
    The channel axis is the first axis of an example (``Interleaving=False``) or the last.
    In "Train" mode the statistics are always those of the whole input: a net holding this
    layer is evaluated in one batch whatever the evaluation option ``BatchSize`` says.

    >>> import numpy as np, netgraph as ng
    >>> bn = ng.NetInitialize(ng.BatchNormalizationLayer(Input=3))
    >>> bn(np.array([1.0, 2.0, 3.0])).round(6)          # x / sqrt(1 + 0.001)
    array([0.9995  , 1.999001, 2.998501], dtype=float32)
    >>> bn(np.array([[1.0, 2.0, 3.0], [3.0, 4.0, 5.0]]), NetEvaluationMode="Train").round(4)
    array([[-0.9995, -0.9995, -0.9995],
           [ 0.9995,  0.9995,  0.9995]], dtype=float32)
    >>> bn(np.array([[1.0, 2, 3], [3, 4, 5], [5, 6, 7]]), NetEvaluationMode="Train",
    ...    BatchSize=2)[2].round(4)                     # one batch of 3, not 2 + 1
    array([1.2245, 1.2245, 1.2245], dtype=float32)
    """

    # "Train" mode output depends on the other examples of the batch (see evaluation.evaluate)
    batch_dependent = True

    class Options(LayerOptions):
        epsilon: float = Field(0.001, gt=0)
        momentum: float = Field(0.9, ge=0, le=1)
        interleaving: bool = False

    array_specs = (
        ArraySpec("Scaling", "learned", "ones"),
        ArraySpec("Biases", "learned", "zeros"),
        ArraySpec("MovingMean", "state", "zeros"),
        ArraySpec("MovingVariance", "state", "ones"),
    )

    def infer(self, store) -> None:
        # Arrays before Output: data with the wrong channel count then conflicts with
        # "Scaling" (a message naming the channel count) rather than with the Output port.
        store.need_min_rank("Input", 1, " (BatchNormalizationLayer needs a channel axis)")
        channel = -1 if self._options.interleaving else 0
        for spec in self.array_specs:
            store.set_rank(spec.name, 1)
            store.link_dim("Input", channel, spec.name, 0)
            store.link_dim("Scaling", 0, spec.name, 0)
        store.same("Input", "Output")

    def check_arrays(self) -> None:
        mv = self._arrays.get("MovingVariance")
        if isinstance(mv, np.ndarray) and mv.size and (mv <= -self._options.epsilon).any():
            bad = float(mv[mv <= -self._options.epsilon][0])
            raise NetArrayError(
                f'BatchNormalizationLayer: array "MovingVariance" must be > -Epsilon '
                f"(= {-self._options.epsilon}) everywhere, got {bad}: the square root of "
                "MovingVariance + Epsilon would not be real."
            )

    # ------------------------------------------------------------------- compute

    def forward(self, arrays: dict, inputs: dict, ctx: Context):
        x = inputs["Input"]
        interleaving = self._options.interleaving
        x3 = view3(x, interleaving)
        y, y3 = empty_like3(x, interleaving)
        if ctx.mode == "Train":
            cache, state = self._forward_train(arrays, x3, y3, ctx, x.shape)
        else:
            cache, state = self._forward_test(arrays, x3, y3)
        return {"Output": y}, cache, state

    def _forward_test(self, arrays: dict, x3: np.ndarray, y3: np.ndarray):
        # y = x*scale + shift with scale = Scaling/sqrt(MovingVariance+eps) and
        # shift = Biases - MovingMean*scale, folded in float64 once per call.
        inv_std = 1.0 / np.sqrt(arrays["MovingVariance"].astype(F64) + self._options.epsilon)
        scale = arrays["Scaling"].astype(F64) * inv_std
        shift = arrays["Biases"] - arrays["MovingMean"].astype(F64) * scale
        affine_into(y3, x3, scale, shift)
        return ("Test", x3, inv_std, scale), None

    def _forward_train(
        self, arrays: dict, x3: np.ndarray, y3: np.ndarray, ctx: Context, shape: tuple
    ):
        count = x3.shape[0] * x3.shape[2]  # values per channel
        if ctx.training and count == 1:
            raise NetTrainError(
                "BatchNormalizationLayer: this training batch gives each channel a single value "
                f"(a batch of shape {shape}), so its variance "
                "is 0 and nothing can be learnt. "
                "Use a larger BatchSize (>= 2)."
            )
        # Two passes, totals in float64: mu first; then the centred d = x - mu (in the input
        # dtype, exact for close values) and var = mean(d^2) - mean(d)^2, where mean(d) only
        # corrects the rounding of mu, so there is no cancellation even for x = 1e4 + noise.
        # d is formed in the output buffer and becomes y in place; backward recomputes it.
        # mu is rounded to the input dtype first, so that mu + mean(d) is the batch mean.
        mu = (channel_sums(x3) / count).astype(x3.dtype).astype(F64)
        d = np.subtract(x3, per_channel(mu, x3), out=y3)
        d_mean = channel_sums(d) / count
        var = np.maximum(channel_dots(d, d) / count - d_mean**2, 0.0)
        inv_std = 1.0 / np.sqrt(var + self._options.epsilon)
        a = arrays["Scaling"].astype(F64) * inv_std
        affine_into(y3, d, a, arrays["Biases"] - d_mean * a)
        m = self._options.momentum
        state = {
            "MovingMean": m * arrays["MovingMean"].astype(F64) + (1 - m) * (mu + d_mean),
            "MovingVariance": m * arrays["MovingVariance"].astype(F64) + (1 - m) * var,
        }
        return ("Train", x3, mu, d_mean, inv_std, count), state

    def backward(self, arrays: dict, cache, d_outputs: dict, ctx: Context):
        dy = d_outputs["Output"]
        interleaving = self._options.interleaving
        dy3 = view3(dy, interleaving)
        d_x, d_x3 = empty_like3(dy, interleaving)
        scaling = arrays["Scaling"].astype(F64)
        d_biases = channel_sums(dy3)
        if cache[0] == "Test":
            # Moving statistics are constants: y = scale*x + shift, so
            # d_x = scale*dy, d_Scaling = sum(dy*x_hat), d_Biases = sum(dy).
            _, x3, inv_std, scale = cache
            centred = np.subtract(x3, per_channel(arrays["MovingMean"], x3), out=d_x3)
            d_scaling = channel_dots(dy3, centred) * inv_std
            np.multiply(dy3, per_channel(scale, dy3), out=d_x3)
        else:
            # y = g*x_hat + b with x_hat = (x - mu)*inv_std over the M values of a channel:
            # d_b = sum dy, d_g = sum dy*x_hat, and through mu and var
            # d_x = g*inv_std * (dy - d_b/M - x_hat*d_g/M).
            # With x_hat = (d - d_mean)*inv_std (d the centred input) that is
            # d_x = k*(dy + p*d + q): k = g*inv_std, p = -inv_std*d_g/M,
            # q = (inv_std*d_g*d_mean - d_b)/M; and d_g = inv_std*(sum dy*d - d_mean*d_b).
            _, x3, mu, d_mean, inv_std, count = cache
            d = np.subtract(x3, per_channel(mu, x3), out=d_x3)  # as in forward, bit for bit
            d_scaling = inv_std * (channel_dots(dy3, d) - d_mean * d_biases)
            p = -inv_std * d_scaling / count
            q = (inv_std * d_scaling * d_mean - d_biases) / count
            d_x3 *= per_channel(p, d)
            d_x3 += dy3
            d_x3 += per_channel(q, d)
            d_x3 *= per_channel(scaling * inv_std, d)
        dtype = dy.dtype
        d_arrays = {"Scaling": d_scaling.astype(dtype), "Biases": d_biases.astype(dtype)}
        return {"Input": d_x}, d_arrays
