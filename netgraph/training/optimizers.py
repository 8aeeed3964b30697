"""Optimizers over one flat buffer of every trainable array.

The trainable arrays are views into one contiguous buffer, and their gradients are gathered into
another, so an ADAM step is about ten vectorised numpy calls however many arrays the net has.
An optimizer computes the update into a scratch buffer first: the trainer applies it only when it
is finite, so a diverging step never reaches the arrays.

| Method | rule (g: gradient, lr: LearningRate x multiplier) | defaults |
|---|---|---|
| "ADAM" | m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;    | b1 0.9, b2 0.999, eps 1e-5, |
|        | w -= lr mhat/(sqrt(vhat) + eps)                 | lr 0.001                    |
| "SGD" | w -= lr g; with Momentum mu: u = mu u + g; w -= lr u | lr 0.01, no momentum |
| "RMSProp" | s = b s + (1-b) g^2; w -= lr g/(sqrt(s) + eps) | b 0.95, eps 1e-8, lr 0.001 |

Sub-options for every method: "L2Regularization" (g += lambda w), "GradientClipping" (each
element of g clipped to [-c, c]), "LearningRateSchedule" (a function (batch, total batches) ->
factor on the learning rate); all off by default.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from netgraph.errors import NetOptionError, did_you_mean
from netgraph.values import Automatic

DEFAULTS = {
    "ADAM": {"Beta1": 0.9, "Beta2": 0.999, "Epsilon": 1e-5, "LearningRate": 0.001},
    "SGD": {"Momentum": 0.0, "LearningRate": 0.01},
    "RMSProp": {"Beta": 0.95, "Epsilon": 1e-8, "LearningRate": 0.001},
}
COMMON = {"L2Regularization": 0.0, "GradientClipping": None, "LearningRateSchedule": None}


class FlatArrays:
    """Named arrays stored as views into one contiguous buffer (plus a gradient buffer)."""

    def __init__(self, arrays: dict, dtype):
        self.shapes = {aid: a.shape for aid, a in arrays.items()}
        total = sum(a.size for a in arrays.values())
        self.data = np.empty(total, dtype)
        self.grad = np.zeros(total, dtype)
        self.views, self.grad_views, self.slices = {}, {}, {}
        offset = 0
        for aid, a in arrays.items():
            s = slice(offset, offset + a.size)
            offset += a.size
            self.slices[aid] = s
            self.views[aid] = self.data[s].reshape(a.shape)
            self.views[aid][...] = a
            self.grad_views[aid] = self.grad[s].reshape(a.shape)

    def gather(self, d_arrays: dict) -> None:
        """Copy per-array gradients into the flat gradient buffer (0 where none flowed)."""
        for aid, view in self.grad_views.items():
            g = d_arrays.get(aid)
            if g is None:
                view.fill(0)
            else:
                view[...] = g

    def per_element(self, values: dict, dtype) -> np.ndarray:
        out = np.empty(self.data.shape, dtype)
        with np.errstate(over="ignore"):  # a multiplier beyond float32 is inf: training diverges
            for aid, s in self.slices.items():
                out[s] = values[aid]
        return out


def parse_method(method: Any, learning_rate: Any) -> tuple[str, dict]:
    """("ADAM", {"Beta1": ..., ..., "LearningRate": ...}) from the NetTrain options."""
    sub: dict = {}
    if method is Automatic:
        method = "ADAM"
    if isinstance(method, (tuple, list)) and len(method) == 2 and isinstance(method[1], dict):
        method, sub = method
    if not isinstance(method, str) or method not in DEFAULTS:
        raise NetOptionError(f"unknown Method {method!r}." + did_you_mean(method, DEFAULTS))
    options = {**DEFAULTS[method], **COMMON}
    for key, value in sub.items():
        if key not in options:
            raise NetOptionError(
                f"{method} has no sub-option {key!r}." + did_you_mean(key, options)
            )
        options[key] = value
    if learning_rate is not Automatic:
        options["LearningRate"] = learning_rate
    for key, value in options.items():
        if key == "LearningRateSchedule":
            if value is not None:
                _check_schedule(value)
            continue
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            raise NetOptionError(f"{key} should be a number, got {value!r}.")
        if not math.isfinite(value):
            raise NetOptionError(f"{key} should be a finite number, got {value!r}.")
    for key in ("L2Regularization", "GradientClipping"):
        if (
            options[key] is not None
            and options[key] < 0
            or key == "GradientClipping"
            and (options[key] == 0)
        ):
            raise NetOptionError(f"{key} should be > 0 (or 0/None for none), got {options[key]!r}.")
    if options["LearningRate"] <= 0:
        raise NetOptionError(f"LearningRate should be > 0, got {options['LearningRate']!r}.")
    return method, options


def _check_schedule(schedule: Any) -> None:
    """A LearningRateSchedule is called as f(batch, total batches) and gives a finite factor."""
    if not callable(schedule):
        raise NetOptionError(
            "LearningRateSchedule should be a function (batch, total batches) -> factor, "
            f"got {schedule!r}."
        )
    try:
        factor = float(schedule(1, 1))
    except Exception as exc:  # the user's function: report what it did
        raise NetOptionError(
            "LearningRateSchedule should be a function (batch, total batches) -> factor; "
            f"calling it with (1, 1) raised {type(exc).__name__}: {exc}"
        ) from None
    if not math.isfinite(factor):
        raise NetOptionError(f"LearningRateSchedule(1, 1) gave {factor}, not a finite number.")


class Optimizer:
    """One optimizer over a FlatArrays; `update(t)` leaves the step in `self.step_buffer`."""

    def __init__(self, method: str, options: dict, flat: FlatArrays, multipliers: np.ndarray):
        self.method, self.options, self.flat = method, options, flat
        n, dtype = flat.data.shape, flat.data.dtype
        self.multipliers = None if np.all(multipliers == 1) else multipliers.astype(dtype)
        self.step_buffer = np.empty(n, dtype)
        self.scratch = np.empty(n, dtype)
        self.slots = {}
        if method == "ADAM":
            self.slots = {"m": np.zeros(n, dtype), "v": np.zeros(n, dtype)}
        elif method == "SGD" and options["Momentum"]:
            self.slots = {"u": np.zeros(n, dtype)}
        elif method == "RMSProp":
            self.slots = {"s": np.zeros(n, dtype)}

    def learning_rate(self, t: int, total: int) -> float:
        lr = float(self.options["LearningRate"])
        schedule = self.options["LearningRateSchedule"]
        return lr * float(schedule(t, total)) if schedule is not None else lr

    def compute_step(self, t: int, total: int) -> np.ndarray:
        """The update for step t (1-based) from the gathered gradients; w -= step applies it."""
        g, w, o = self.flat.grad, self.flat.data, self.options
        if o["L2Regularization"]:
            g += np.multiply(w, o["L2Regularization"], out=self.scratch)
        if o["GradientClipping"] is not None:
            np.clip(g, -o["GradientClipping"], o["GradientClipping"], out=g)
        lr = self.learning_rate(t, total)
        step, tmp = self.step_buffer, self.scratch
        if self.method == "ADAM":
            b1, b2, eps = o["Beta1"], o["Beta2"], o["Epsilon"]
            m, v = self.slots["m"], self.slots["v"]
            m *= b1
            m += np.multiply(g, 1 - b1, out=tmp)
            v *= b2
            np.multiply(g, g, out=tmp)
            tmp *= 1 - b2
            v += tmp
            # mhat/(sqrt(vhat) + eps) with mhat = m/(1-b1^t), vhat = v/(1-b2^t)
            np.sqrt(v, out=tmp)
            tmp *= 1 / math.sqrt(1 - b2**t)
            tmp += eps
            np.divide(m, tmp, out=step)
            step *= lr / (1 - b1**t)
        elif self.method == "SGD":
            if "u" in self.slots:
                u = self.slots["u"]
                u *= o["Momentum"]
                u += g
                np.multiply(u, lr, out=step)
            else:
                np.multiply(g, lr, out=step)
        else:  # RMSProp
            s = self.slots["s"]
            s *= o["Beta"]
            np.multiply(g, g, out=tmp)
            tmp *= 1 - o["Beta"]
            s += tmp
            np.sqrt(s, out=tmp)
            tmp += o["Epsilon"]
            np.divide(g, tmp, out=step)
            step *= lr
        if self.multipliers is not None:
            step *= self.multipliers
        return step
