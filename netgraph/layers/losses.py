"""Loss layers: ports Input and Target, and Loss, one number per example (port shape ())."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from netgraph import shapes as S
from netgraph.errors import NetDataError
from netgraph.layer import Context, Layer, LayerOptions, Port

_LOSS = (Port("Loss"),)


def _per_example_mean(a: np.ndarray) -> np.ndarray:
    """The mean over everything but the batch axis: shape (N,)."""
    return a.reshape(a.shape[0], -1).mean(axis=1)


def _spread(d_loss: np.ndarray, like: np.ndarray, count: int) -> np.ndarray:
    """d_loss (N,) as a factor dL/count broadcastable over an array shaped like `like`."""
    return (d_loss / count).reshape(-1, *([1] * (like.ndim - 1)))


class MeanSquaredLossLayer(Layer):
    """Mean squared error: one example's loss is ``mean((Input - Target)**2)`` over its elements.

    >>> import numpy as np, netgraph as ng
    >>> mse = ng.MeanSquaredLossLayer()
    >>> mse({"Input": np.array([1.0, 2.0]), "Target": np.array([0.0, 4.0])})  # (1 + 4)/2
    array(2.5, dtype=float32)
    >>> mse({"Input": np.array([[1.0], [3.0]]), "Target": np.array([[1.0], [1.0]])})
    array([0., 4.], dtype=float32)
    """

    input_ports = (Port("Input"), Port("Target"))
    output_ports = _LOSS

    def infer(self, store: S.ShapeStore) -> None:
        store.same("Input", "Target")
        store.unify("Loss", ())

    def forward(self, arrays: dict, inputs: dict, ctx: Context):
        diff = inputs["Input"] - inputs["Target"]
        return {"Loss": _per_example_mean(np.square(diff))}, diff, None

    def backward(self, arrays: dict, cache, d_outputs: dict, ctx: Context):
        # L = sum(d^2)/M with d = x - t over the M elements of an example:
        # d_x = 2 d dL/M and d_t = -d_x.
        diff = cache
        count = diff[0].size
        d_x = diff * (2.0 * _spread(d_outputs["Loss"], diff, count))
        return {"Input": d_x, "Target": -d_x}, {}


class _TargetPorts:
    """Descriptor: Input and Target ports; Target holds integers for the "Index" form."""

    def __get__(self, obj: Any, cls: type) -> tuple[Port, ...]:
        options = None if obj is None else getattr(obj, "_options", None)
        index = options is not None and options.target_form == "Index"
        return (Port("Input"), Port("Target", "Integer" if index else "Real"))


class CrossEntropyLossLayer(Layer):
    """Cross-entropy of probabilities (Input) against targets, one number per example.

    - ``"Index"`` (default): Input holds probabilities over its last axis (as after a
      SoftmaxLayer), Target the 0-based class index of each position (Target's shape is
      Input's without the last axis; integers in [0, classes)). Loss: the mean over positions
      of ``-log p[target]``.
    - ``"Probabilities"``: Target is a probability vector like Input; loss: the mean over
      positions of ``-sum(t * log p)`` along the last axis.
    - ``"Binary"``: Input and Target in [0, 1], any shape; loss: the mean over elements of
      ``-(t log p + (1 - t) log(1 - p))``.

    Logs never see 0: "Index"/"Probabilities" take ``max(p, tiny)`` (tiny: the smallest
    normal float of the working precision; a probability 0 at the target costs about 87 in
    Real32) and "Binary" clips p to ``[eps, 1 - eps]`` (eps: the precision's machine epsilon).
    Where the clip acts the gradient with respect to p is 0, as for the clipped function.
    Target gets a gradient in the "Probabilities" and "Binary" forms.

    >>> import numpy as np, netgraph as ng
    >>> ce = ng.CrossEntropyLossLayer("Index")
    >>> p = np.array([[0.25, 0.75], [0.5, 0.5]])
    >>> bool(np.allclose(ce({"Input": p, "Target": [1, 0]}), -np.log([0.75, 0.5])))
    True
    >>> float(ng.CrossEntropyLossLayer("Binary")({"Input": 0.5, "Target": 1.0}))  # log 2
    0.6931471824645996
    """

    class Options(LayerOptions):
        target_form: Literal["Index", "Probabilities", "Binary"] = "Index"

    positional = ("target_form",)
    input_ports = _TargetPorts()
    output_ports = _LOSS

    def infer(self, store: S.ShapeStore) -> None:
        store.unify("Loss", ())
        form = self._options.target_form
        if form != "Binary":
            store.need_min_rank("Input", 1, " (the last axis holds the class probabilities)")
        if form != "Index":
            store.same("Input", "Target")
            return
        # Target = Input without its last axis, both ways.
        prefix, ellipsis, suffix = S.split(store["Input"])
        if store["Input"] is not None and not ellipsis:
            store.unify("Target", prefix[:-1])
        elif suffix:  # (a, ..., b, c): the target is (a, ..., b)
            store.unify("Target", S.join(prefix, True, suffix[:-1]))
        prefix, ellipsis, suffix = S.split(store["Target"])
        if store["Target"] is not None:
            store.unify(
                "Input", S.join(prefix, True, (*suffix, None)) if ellipsis else (*prefix, None)
            )

    # ------------------------------------------------------------------- compute

    def forward(self, arrays: dict, inputs: dict, ctx: Context):
        p, t = inputs["Input"], inputs["Target"]
        form = self._options.target_form
        if form == "Index":
            t = self._class_indices(t, p.shape[-1])
            picked = np.take_along_axis(p, t[..., None], axis=-1)[..., 0]
            safe = np.maximum(picked, np.finfo(p.dtype).tiny)
            return {"Loss": _per_example_mean(-np.log(safe))}, (p.shape, t, picked, safe), None
        if form == "Probabilities":
            safe = np.maximum(p, np.finfo(p.dtype).tiny)
            log_p = np.log(safe)
            loss = _per_example_mean(-(t * log_p).sum(axis=-1))
            return {"Loss": loss}, (p, t, safe, log_p), None
        eps = np.finfo(p.dtype).eps
        safe = np.clip(p, eps, 1.0 - eps)
        log_p, log_q = np.log(safe), np.log1p(-safe)
        loss = _per_example_mean(-(t * log_p + (1.0 - t) * log_q))
        return {"Loss": loss}, (p, t, safe, log_p, log_q), None

    def _class_indices(self, t: np.ndarray, classes: int) -> np.ndarray:
        if t.dtype.kind == "f":
            if np.any(t != np.round(t)):
                bad = t[t != np.round(t)].flat[0]
                raise NetDataError(
                    f'CrossEntropyLossLayer["Index"]: port "Target" takes integer class '
                    f"indices 0..{classes - 1}, got {bad}."
                )
        t = t.astype(np.int64, copy=False)
        bad = (t < 0) | (t >= classes)
        if bad.any():
            raise NetDataError(
                f'CrossEntropyLossLayer["Index"]: port "Target" takes 0-based class indices '
                f"0..{classes - 1} (Input has {classes} classes), got {t[bad].flat[0]}."
            )
        return t

    def backward(self, arrays: dict, cache, d_outputs: dict, ctx: Context):
        # With M positions (or elements, for Binary) per example and a = max(p, tiny):
        #   Index:          L = -sum log a[target]/M     -> d_p = -1/a at the target, /M
        #   Probabilities:  L = -sum t log a/M           -> d_p = -t/a/M,  d_t = -log a/M
        #   Binary:         L = -sum(t log a + (1-t) log(1-a))/M with a = clip(p, eps, 1-eps)
        #                   -> d_p = ((1-t)/(1-a) - t/a)/M,  d_t = (log(1-a) - log a)/M
        # and d_p = 0 wherever the clip is active.
        d_loss = d_outputs["Loss"]
        form = self._options.target_form
        if form == "Index":
            shape, t, picked, safe = cache
            count = max(1, t[0].size)
            d_picked = np.where(picked == safe, -1.0 / safe, 0.0).astype(safe.dtype)
            d_picked *= _spread(d_loss, d_picked, count)
            d_p = np.zeros(shape, dtype=safe.dtype)
            np.put_along_axis(d_p, t[..., None], d_picked[..., None], axis=-1)
            return {"Input": d_p, "Target": None}, {}
        if form == "Probabilities":
            p, t, safe, log_p = cache
            scale = _spread(d_loss, p, max(1, p[0].size // p.shape[-1]))
            d_p = np.where(p == safe, -t / safe, 0.0) * scale
            return {"Input": d_p.astype(p.dtype), "Target": -log_p * scale}, {}
        p, t, safe, log_p, log_q = cache
        scale = _spread(d_loss, p, max(1, p[0].size))
        d_p = np.where(p == safe, (1.0 - t) / (1.0 - safe) - t / safe, 0.0) * scale
        return {"Input": d_p.astype(p.dtype), "Target": (log_q - log_p) * scale}, {}
