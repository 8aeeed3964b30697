"""NetDecoder: turn an output port's numbers into labels ("Class") or truth values ("Boolean").

A decoder is attached to an output port as a port option (`Output=NetDecoder(...)` on a layer,
NetChain or NetGraph). It fixes the port's shape (a "Class" decoder with n labels: `(n,)`),
makes `net(x)` return labels, answers properties (`net(x, "Probabilities")`), and lets NetTrain
take labels as targets (converted to the class indices CrossEntropyLossLayer("Index") uses).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import shapes as S
from .errors import (
    NetDataError,
    NetError,
    NetOptionError,
    NetShapeError,
    did_you_mean,
    refuses_deep_nesting,
)

DECODER_TYPES = ("Class", "Boolean")
LABEL_TYPES = (str, bool, int, float)
CLASS_PROPERTIES = ("Decision", "TopDecisions", "TopProbabilities", "Probabilities")
CLASS_PROPERTIES += ("Probability", "Entropy")
BOOLEAN_PROPERTIES = ("Decision", "Probabilities", "Probability")
TOP_DEFAULT = 5  # "TopProbabilities" without a count: the 5 most likely classes (or fewer)


def _label(value: Any, where: str) -> Any:
    """A label as a plain Python str/bool/int/float (numpy scalars unwrapped)."""
    if isinstance(value, np.generic):
        value = value.item()
    if not isinstance(value, LABEL_TYPES) or (isinstance(value, float) and not np.isfinite(value)):
        raise NetError(
            f"{where}: a class label must be a string, an int, a finite float or a bool, "
            f"got {type(value).__name__} {value!r:.40}."
        )
    return value


class NetDecoder:
    """A decoder for an output port: `NetDecoder(("Class", labels))` or `NetDecoder("Boolean")`.

    `NetDecoder("Class", labels)` is the same as `NetDecoder(("Class", labels))`. A decoder is
    also a function: `decoder(probabilities, prop="Decision")`.

    >>> import numpy as np, netgraph as ng
    >>> dec = ng.NetDecoder(("Class", ["cat", "dog", "bird"]))
    >>> dec([0.2, 0.7, 0.1]), dec([[0.2, 0.7, 0.1], [0.6, 0.3, 0.1]])
    ('dog', ['dog', 'cat'])
    >>> dec([0.2, 0.7, 0.1], ("TopProbabilities", 2))
    [('dog', 0.7), ('cat', 0.2)]
    >>> ng.NetDecoder("Boolean")(0.75, "Probabilities")
    {True: 0.75, False: 0.25}

    On a net's output port (it fixes the port's shape to one entry per label):

    >>> net = ng.NetChain([ng.LinearLayer(Weights=np.eye(3), Biases=np.zeros(3)),
    ...                    ng.SoftmaxLayer()], Input=3, Output=dec)
    >>> net(np.array([0.0, 2.0, 0.0])), net(np.array([[0.0, 2, 0], [5, 0, 0]]))
    ('dog', ['dog', 'cat'])
    >>> net(np.array([0.0, 2.0, 0.0]), ("TopDecisions", 2))
    ['dog', 'cat']
    """

    __slots__ = ("kind", "labels")

    @refuses_deep_nesting("NetDecoder")
    def __init__(self, spec: Any, labels: Any = None):
        if isinstance(spec, (tuple, list)) and labels is None and len(spec) == 2:
            spec, labels = spec
        if not isinstance(spec, str) or spec not in DECODER_TYPES:
            raise NetOptionError(
                f"NetDecoder: unknown decoder type {spec!r:.40}."
                + did_you_mean(spec, DECODER_TYPES)
                + ' Give NetDecoder(("Class", [label, ...])) or NetDecoder("Boolean").'
            )
        self.kind = spec
        if spec == "Boolean":
            if labels is not None:
                raise NetOptionError(f'NetDecoder("Boolean") takes no labels, got {labels!r:.40}.')
            self.labels = (True, False)
            return
        if (
            isinstance(labels, (str, bytes, dict, set))
            or not hasattr(labels, "__len__")
            or (isinstance(labels, np.ndarray) and labels.ndim == 0)
        ):
            raise NetOptionError(
                f'NetDecoder("Class"): expected a list of class labels, got {labels!r:.60}.'
            )
        labels = tuple(_label(v, f'NetDecoder("Class") label {i}') for i, v in enumerate(labels))
        if len(labels) < 2:
            raise NetOptionError(
                f'NetDecoder("Class"): give at least 2 class labels, got {list(labels)!r}.'
            )
        seen: dict = {}
        for i, v in enumerate(labels):
            if v in seen:  # 1, 1.0 and True are one dict key: they could not be told apart
                raise NetOptionError(
                    f'NetDecoder("Class"): labels {seen[v]} ({labels[seen[v]]!r}) and {i} '
                    f"({v!r}) are equal; every label must be distinct."
                )
            seen[v] = i
        self.labels = labels

    def __reduce__(self) -> tuple:  # every pickle protocol (0 and 1 refuse bare __slots__)
        if self.kind == "Boolean":
            return (NetDecoder, ("Boolean",))
        return (NetDecoder, ((self.kind, list(self.labels)),))

    # ------------------------------------------------------------------ shape

    @property
    def port_shape(self) -> Any:
        """The port shape the decoder fixes: `(n,)` for n classes; None (any) for Boolean."""
        return (len(self.labels),) if self.kind == "Class" else None

    def check_port(self, shape: Any, where: str) -> None:
        """A Boolean decoder reads one number per example: shape () or (1,)."""
        if self.kind == "Boolean" and S.is_known(shape) and tuple(shape) not in ((), (1,)):
            raise NetShapeError(
                f"{where} has shape {S.fmt(shape)}, but {self!r} reads one probability per "
                "example: the port must have shape () or (1,)."
            )

    def describe(self) -> str:
        return repr(self)

    # ------------------------------------------------------------------ decoding

    @refuses_deep_nesting("NetDecoder")
    def __call__(self, data: Any, prop: Any = "Decision") -> Any:
        arr = self._probabilities(data)
        rank = 0 if self.kind == "Boolean" else 1
        single = arr.ndim == rank or (self.kind == "Boolean" and arr.shape == (1,))
        return self.decode(arr, prop, single)

    def _probabilities(self, data: Any) -> np.ndarray:
        """`decoder(data)`'s data as float64: one example or a non-empty batch."""
        try:
            raw = np.asarray(data)
        except (TypeError, ValueError):  # ragged, or nested beyond numpy's 64 dimensions
            raw = np.asarray(None)
        if raw.dtype.kind not in "biuf" or raw.size == 0:
            raise NetDataError(f"{self!r}: expected probabilities (numbers), got {data!r:.60}.")
        n, shape = len(self.labels), raw.shape
        if self.kind == "Class" and not (raw.ndim in (1, 2) and shape[-1] == n):
            raise NetShapeError(f"{self!r}: expected shape ({n},) or (batch, {n}), got {shape}.")
        if self.kind == "Boolean" and not (raw.ndim <= 1 or shape[1:] == (1,)):
            raise NetShapeError(
                f"{self!r}: expected shape (), (1,), (batch,) or (batch, 1), got {shape}."
            )
        return raw.astype(np.float64)

    def decode(self, arr: np.ndarray, prop: Any, single: bool) -> Any:
        """Decode a batch (or, with `single`, one example) of the port's values."""
        name, arg = self._property(prop)
        batch = np.asarray(arr, dtype=np.float64)
        batch = batch[None] if single else batch
        batch = batch.reshape(len(batch), -1)
        if self.kind == "Boolean":
            p = batch[:, 0]
            if name == "Decision":  # True when p > 0.5
                out = [bool(v) for v in p > 0.5]
                return out[0] if single else out
            batch = np.stack([p, 1.0 - p], axis=1)
        out = _CLASS_DECODING[name](self, batch, arg)
        return out[0] if single else out

    def _property(self, prop: Any) -> tuple[str, Any]:
        valid = CLASS_PROPERTIES if self.kind == "Class" else BOOLEAN_PROPERTIES
        name, arg = prop, None
        if isinstance(prop, (tuple, list)) and len(prop) == 2 and isinstance(prop[0], str):
            name, arg = prop
        if not isinstance(name, str) or name not in valid:
            close = did_you_mean(name, valid)
            raise NetOptionError(
                f"{self!r}: unknown property {prop!r:.60}."
                + (close if close.startswith(" Did you mean") else "")
                + " Properties: "
                + ", ".join(valid)
                + " (None skips the decoder)."
            )
        if name in ("TopDecisions", "TopProbabilities"):
            n = len(self.labels)
            k = min(TOP_DEFAULT, n) if arg is None and name == "TopProbabilities" else arg
            if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
                raise NetOptionError(
                    f'{self!r}: ("{name}", k) needs a positive integer k, got {arg!r:.40}.'
                )
            return name, min(int(k), n)
        if name == "Probability":
            return name, self._index_of(arg, "the property Probability")
        if arg is not None:
            raise NetOptionError(f'{self!r}: the property "{name}" takes no argument.')
        return name, None

    def _index_of(self, label: Any, where: str) -> int:
        j = self.index_of(label)
        if j is None:
            raise NetOptionError(
                f"{self!r}: {where}: unknown class {label!r:.40}."
                + did_you_mean(label, [str(v) for v in self.labels])
            )
        return j

    def index_of(self, label: Any) -> int | None:
        """The position of `label` (True is not the label 1), or None."""
        label = label.item() if isinstance(label, np.generic) else label
        for i, v in enumerate(self.labels):
            if isinstance(label, LABEL_TYPES) and v == label:
                if isinstance(v, bool) == isinstance(label, bool):
                    return i
        return None

    # ------------------------------------------------------------------ encoding (NetTrain)

    def encode(self, targets: Any, port: str, what: str) -> np.ndarray:
        """Training targets (labels, or booleans) -> class indices (float array of shape (n,))
        or, for Boolean, probabilities 1.0/0.0."""
        if isinstance(targets, np.ndarray) and targets.dtype.kind in "biufUO":
            values = targets.reshape(len(targets), -1)[:, 0].tolist() if targets.ndim else []
            if targets.ndim > 1 and targets[0].size != 1:
                raise NetDataError(
                    f"{what}: port {port!r} has {self!r}: give one label per example, got "
                    f"examples of shape {targets.shape[1:]}."
                )
        elif isinstance(targets, (list, tuple)):
            values = list(targets)
        else:
            raise NetDataError(
                f"{what}: port {port!r} has {self!r}: give a list of labels, got "
                f"{type(targets).__name__}."
            )
        if not values:
            raise NetDataError(f"{what} is empty: port {port!r} has no examples.")
        if self.kind == "Boolean":
            return self._encode_boolean(values, port, what)
        out = np.empty(len(values), dtype=np.float32)
        for i, v in enumerate(values):
            j = self.index_of(v)
            if j is None:
                raise NetDataError(
                    f"{what}: example {i} of port {port!r} has the label {v!r:.40}, which is "
                    f"not one of the classes of {self!r}."
                    + (self._index_hint(v) or did_you_mean(v, [str(c) for c in self.labels]))
                )
            out[i] = j
        return out

    def _index_hint(self, value: Any) -> str:
        """For a class index given where labels are due: the label it stands for."""
        integer = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
        if not integer or not 0 <= value < len(self.labels):
            return ""
        if any(isinstance(c, (int, float)) and not isinstance(c, bool) for c in self.labels):
            return ""
        return (
            f" A port with a Class decoder takes its labels as targets: for class index "
            f"{value}, give {self.labels[value]!r}."
        )

    def _encode_boolean(self, values: list, port: str, what: str) -> np.ndarray:
        out = np.empty(len(values), dtype=np.float32)
        for i, v in enumerate(values):
            v = v.item() if isinstance(v, np.generic) else v
            if isinstance(v, (list, tuple)) and len(v) == 1:
                v = v[0]
            if isinstance(v, bool) or (isinstance(v, (int, float)) and 0 <= v <= 1):
                out[i] = float(v)
            else:
                raise NetDataError(
                    f"{what}: example {i} of port {port!r} is {v!r:.40}, but the port has "
                    f"{self!r}: give True/False (or a probability in [0, 1])."
                )
        return out

    # ------------------------------------------------------------------ value

    def to_json(self) -> dict:
        return {"type": self.kind, "labels": list(self.labels) if self.kind == "Class" else None}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NetDecoder):
            return NotImplemented
        typed = [(type(v), v) for v in self.labels], [(type(v), v) for v in other.labels]
        return self.kind == other.kind and typed[0] == typed[1]

    def __hash__(self) -> int:
        return hash(("NetDecoder", self.kind, self.labels))

    def __repr__(self) -> str:
        if self.kind == "Boolean":
            return 'NetDecoder("Boolean")'
        shown = list(self.labels)
        if len(shown) > 8:
            head = ", ".join(map(repr, shown[:3]))
            return f'NetDecoder(("Class", [{head}, ... ({len(shown)} labels)]))'
        return f'NetDecoder(("Class", {shown!r}))'


def _decision(dec: NetDecoder, p: np.ndarray, _arg) -> list:
    return [dec.labels[i] for i in np.argmax(p, axis=1)]


def _top(p: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-p, axis=1, kind="stable")[:, :k]


def _top_decisions(dec: NetDecoder, p: np.ndarray, k: int) -> list:
    return [[dec.labels[i] for i in row] for row in _top(p, k)]


def _top_probabilities(dec: NetDecoder, p: np.ndarray, k: int) -> list:
    order = _top(p, k)
    values = np.take_along_axis(p, order, axis=1)
    return [
        [(dec.labels[i], float(v)) for i, v in zip(row, vals)] for row, vals in zip(order, values)
    ]


def _probabilities(dec: NetDecoder, p: np.ndarray, _arg) -> list:
    return [dict(zip(dec.labels, map(float, row))) for row in p]


def _probability(dec: NetDecoder, p: np.ndarray, i: int) -> list:
    return [float(v) for v in p[:, i]]


def _entropy(dec: NetDecoder, p: np.ndarray, _arg) -> list:
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return [float(v) for v in terms.sum(axis=1)]


_CLASS_DECODING = {
    "Decision": _decision,
    "TopDecisions": _top_decisions,
    "TopProbabilities": _top_probabilities,
    "Probabilities": _probabilities,
    "Probability": _probability,
    "Entropy": _entropy,
}
