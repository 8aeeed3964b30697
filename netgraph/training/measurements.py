"""TrainingProgressMeasurements: what NetTrain measures each round, and the accumulators that
NetMeasurements shares.

A measurement spec is one of, or a list of:

* `"Loss"`: the mean loss (always measured, and always the first key);
* a classification measurement, for an output port that NetTrain gives a CrossEntropyLossLayer:
  `"Accuracy"`, `"ErrorRate"`, `"ConfusionMatrix"` (counts, row = true class, column =
  predicted class), `"Precision"`, `"Recall"`, `"F1Score"` (dicts class index -> value; a class
  that is never predicted, or never present, gets 0.0);
* a regression measurement, for a port with a MeanSquaredLossLayer: `"MeanSquare"` (mean squared
  error over all elements), `"MeanDeviation"` (mean absolute error);
* `NetPort("port")`, `NetPort(layer, "port")` or `NetPort(("block", "layer"), "port")`: the
  mean of an output of the net (e.g. a loss port of a NetGraph that computes its own loss) or of
  a layer's output at any depth, resolved as `net(x, NetPort(...))` resolves it (key
  "block/layer/port");
* `{"Measurement": spec, "Key": name, "Port": output port}`: a measurement under another key,
  or on one output of a net with several; `{"Measurement": f}` with a function
  `f(output, target)` called on each batch with the batch's output array and target array
  (dicts {port: array} when the net has several outputs or targets; label targets of a decoded
  port as class indices, booleans as 1/0), returning a number; the value is the
  example-weighted mean over the batches. Its key is "Key", else f's name.

Values accumulate over all the examples of a round (or of a data set) in float64 arrays, so a
round's value covers every batch, not the last one only, and can be stored in a checkpoint.

>>> import numpy as np, netgraph as ng
>>> net = ng.LinearLayer(1, Weights=[[2.0]], Biases=[0.0], Input=1)
>>> x, y = np.array([[1.0], [2.0], [3.0]]), np.array([[2.0], [3.0], [9.0]])  # errors 0, 1, -3
>>> worst = {"Measurement": lambda out, t: float(np.abs(out - t).max()), "Key": "worst"}
>>> ng.NetMeasurements(net, (x, y), ["MeanDeviation", worst], BatchSize=3)
[1.3333333333333333, 3.0]
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import SimpleNamespace
from typing import Any

import numpy as np

from netgraph._decoder_ports import port_decoders
from netgraph.errors import NetError, NetOptionError, did_you_mean
from netgraph.executor import Plan
from netgraph.values import All, Automatic, NetPort

from . import attach

CLASSIFICATION = ("Accuracy", "ErrorRate", "ConfusionMatrix", "Precision", "Recall", "F1Score")
REGRESSION = ("MeanSquare", "MeanDeviation")
BUILTIN = ("Loss",) + CLASSIFICATION + REGRESSION
PER_CLASS = ("ConfusionMatrix", "Precision", "Recall", "F1Score")  # not one number
INCREASING = ("Accuracy",)  # larger is better (TrainingStoppingCriterion)


@dataclass(frozen=True)
class Measurement:
    key: str
    kind: str  # "loss" | "class" | "regression" | "port" | "custom"
    name: str = ""  # the built-in name
    port: Any = None  # the net output port measured, or the NetPort
    fn: Any = None  # custom
    form: str = ""  # CrossEntropy target form of a classification port
    classes: int = 0
    labels: tuple = ()  # the port's Class decoder labels: per-class values keyed by them

    @property
    def scalar(self) -> bool:
        return self.name not in PER_CLASS

    @property
    def increasing(self) -> bool:
        return self.name in INCREASING


class Meter:
    """The measurements of one training net: which slots to keep, how to accumulate a batch and
    how to turn the sums into values."""

    def __init__(self, tnet: attach.TrainingNet, plan: Plan, spec: Any):
        self.tnet = tnet
        self.ports = _port_losses(tnet)  # net output port -> (loss layer or None, net port)
        self.out_ports = list(self.ports)
        self.measures = [Measurement("Loss", "loss")] + self._parse(spec)
        keys = [m.key for m in self.measures]
        dup = next((k for k in keys if keys.count(k) > 1), None)
        if dup is not None:
            raise NetOptionError(
                f"TrainingProgressMeasurements: the key {dup!r} is used twice; give one of them "
                'another name with {"Measurement": ..., "Key": name}.'
            )
        self.slots = self._slots(plan)
        self.plan = _with_outputs(plan, self.slots) if self.slots else plan

    def keys(self) -> list[str]:
        return [m.key for m in self.measures]

    # ------------------------------------------------------------------ spec

    def _parse(self, spec: Any) -> list:
        if spec is Automatic or spec is None:
            losses = [loss for loss, _ in self.ports.values() if loss is not None]
            ce = [p for p, (loss, _) in self.ports.items() if _form(loss)]  # any target form
            if len(losses) == 1 and len(ce) == 1:
                try:
                    return [self._builtin("ErrorRate", ce[0], "ErrorRate")]
                except NetOptionError:  # not asked for: no class count, no default measurement
                    return []
            return []
        items = spec if isinstance(spec, list) else [spec]
        return [m for item in items for m in self._one(item)]

    def _one(self, item: Any) -> list:
        if isinstance(item, str):
            return [] if item == "Loss" else [self._builtin(item, None, item)]
        if isinstance(item, NetPort):
            return [Measurement(_port_key(item), "port", port=item)]
        if isinstance(item, dict):
            m = self._from_dict(item)
            return [] if m.kind == "loss" and m.key == "Loss" else [m]
        if callable(item):
            return [self._from_dict({"Measurement": item})]
        raise NetOptionError(
            "TrainingProgressMeasurements: a measurement is a name such as "
            f'"Accuracy", a NetPort, or a dict {{"Measurement": ...}}, got {item!r:.80}.'
        )

    def _from_dict(self, item: dict) -> Measurement:
        allowed = ("Measurement", "Key", "Port")
        for k in item:
            if k not in allowed:
                raise NetOptionError(
                    f"TrainingProgressMeasurements: a measurement dict has no key {k!r} "
                    f"(keys: {', '.join(allowed)})." + did_you_mean(str(k), allowed)
                )
        if "Measurement" not in item:
            raise NetOptionError(
                'TrainingProgressMeasurements: a measurement dict needs "Measurement", got '
                f"{item!r:.80}."
            )
        what, key, port = item["Measurement"], item.get("Key"), item.get("Port")
        if key is not None and not isinstance(key, str):
            raise NetOptionError(f'TrainingProgressMeasurements: "Key" should be a string: {key!r}')
        if port is not None and port not in self.ports:
            raise NetOptionError(
                f"TrainingProgressMeasurements: the net has no output port {port!r} (outputs: "
                f"{', '.join(self.ports)})." + did_you_mean(str(port), list(self.ports))
            )
        if isinstance(what, str):
            if what == "Loss":
                return Measurement(key or "Loss", "loss")
            return self._builtin(what, port, key or what)
        if isinstance(what, NetPort):
            return Measurement(key or _port_key(what), "port", port=what)
        if callable(what):
            name = key or getattr(what, "__name__", None)
            if not name or name == "<lambda>":
                raise NetOptionError(
                    'TrainingProgressMeasurements: a custom measurement needs a "Key" (a lambda '
                    "has no name)."
                )
            return Measurement(name, "custom", port=port, fn=what)
        raise NetOptionError(
            'TrainingProgressMeasurements: "Measurement" should be a name, a NetPort or a '
            f"function, got {what!r:.80}."
        )

    def _builtin(self, name: str, port: Any, key: str) -> Measurement:
        if name not in BUILTIN:
            raise NetOptionError(
                f"TrainingProgressMeasurements: unknown measurement {name!r} (built-in: "
                f"{', '.join(BUILTIN)})." + did_you_mean(name, BUILTIN)
            )
        regression = name in REGRESSION
        fits = [
            p
            for p, (loss, _) in self.ports.items()
            if (type(loss).__name__ == "MeanSquaredLossLayer") == regression
            and (regression or type(loss).__name__ == "CrossEntropyLossLayer")
        ]
        what = "a MeanSquaredLossLayer" if regression else "a CrossEntropyLossLayer"
        if port is not None and port not in fits or port is None and len(fits) != 1:
            where = f"the output port {port!r}" if port is not None else "exactly one output port"
            raise NetOptionError(
                f"TrainingProgressMeasurements: {name!r} needs {where} trained with {what} "
                f"(ports with one: {fits or 'none'}); name the port with "
                '{"Measurement": ..., "Port": port}, or measure a NetPort.'
            )
        port = port if port is not None else fits[0]
        if regression:
            return Measurement(key, "regression", name, port)
        loss = self.ports[port][0]
        form = _form(loss)
        shape = self.tnet.graph._layers[attach.NET].port_shape(port) or (None,)
        classes = 2 if form == "Binary" else shape[-1]
        if not isinstance(classes, int):
            raise NetOptionError(
                f"TrainingProgressMeasurements: {name!r}: the number of classes of port "
                f"{port!r} is not known."
            )
        decoder = port_decoders(self.tnet.graph._layers[attach.NET]).get(port)
        kind = getattr(decoder, "kind", None)
        labels = tuple(decoder.labels) if kind == "Class" else (False, True) if kind else ()
        return Measurement(key, "class", name, port, form=form, classes=classes, labels=labels)

    # ------------------------------------------------------------------ slots

    def _slots(self, plan: Plan) -> dict:
        """Extra plan outputs: ("out", port) for the net's outputs, ("port", NetPort)."""
        want = {}
        needs_all = any(m.kind == "custom" for m in self.measures)
        for m in self.measures:
            if m.kind in ("class", "regression"):
                want[("out", m.port)] = _output_slot(self.tnet, plan, self.ports[m.port][1])
            elif m.kind == "port":
                want[("port", m.port)] = _netport_slot(self.tnet, plan, m.port)
        if needs_all:
            for p, (_, src) in self.ports.items():
                want[("out", p)] = _output_slot(self.tnet, plan, src)
        return want

    # ------------------------------------------------------------------ accumulation

    def new_acc(self) -> dict:
        acc = {}
        for m in self.measures:
            size = {"class": (m.classes, m.classes), "regression": 3}.get(m.kind, 2)
            acc[m.key] = np.zeros(size, np.float64)
        return acc

    def update(self, acc: dict, outs: dict, batch: dict) -> None:
        """Add one batch: `outs` from run_forward over self.plan, `batch` the data fed to it."""
        n = len(next(iter(batch.values())))
        for m in self.measures:
            a = acc[m.key]
            if m.kind == "loss":
                a += (sum(float(outs[p].sum(dtype=np.float64)) for p in self.tnet.loss_ports), n)
            elif m.kind == "class":
                a += _confusion(outs[("out", m.port)], batch[m.port], m.form, m.classes)
            elif m.kind == "regression":
                diff = outs[("out", m.port)].astype(np.float64) - batch[m.port]
                a += (np.square(diff).sum(), np.abs(diff).sum(), diff.size)
            elif m.kind == "port":
                value = np.asarray(outs[("port", m.port)], np.float64)
                a += (value.sum(), value.size)
            else:
                a += (n * self._custom(m, outs, batch), n)

    def _custom(self, m: Measurement, outs: dict, batch: dict) -> float:
        ports = [m.port] if m.port is not None else self.out_ports
        outputs = {p: outs[("out", p)] for p in ports}
        targets = {p: batch[p] for p in (ports if m.port else self.tnet.target_ports) if p in batch}
        for d in (outputs, targets):  # read-only views: f cannot change the data or the net
            for p, a in d.items():
                d[p] = a.view()
                d[p].flags.writeable = False
        try:
            value = m.fn(
                *(next(iter(d.values())) if len(d) == 1 else d for d in (outputs, targets))
            )
        except Exception as exc:  # the user's function (or not one of two arguments)
            raise NetOptionError(
                f"TrainingProgressMeasurements: the custom measurement {m.key!r} failed "
                f"({type(exc).__name__}: {exc}); it should be f(output, target) -> number."
            ) from None
        try:
            if isinstance(value, (complex, np.complexfloating)) or (
                isinstance(value, np.ndarray) and value.dtype.kind == "c"
            ):
                raise TypeError  # float() would drop the imaginary part with a warning
            return float(value)
        except (TypeError, ValueError, OverflowError):  # OverflowError: an int beyond float64
            raise NetOptionError(
                f"TrainingProgressMeasurements: the custom measurement {m.key!r} should return "
                f"a number, got {value!r:.80}."
            ) from None

    def values(self, acc: dict) -> dict:
        """The accumulated sums as values: floats, per-class dicts, a count matrix."""
        return {m.key: _value(m, acc[m.key]) for m in self.measures}


def _value(m: Measurement, a: np.ndarray) -> Any:
    if m.kind == "class":
        return _class_value(m.name, a, m.labels)
    if m.kind == "regression":
        return float(a[0 if m.name == "MeanSquare" else 1] / max(a[2], 1.0))
    return float(a[0] / a[1]) if a[1] else float("nan")


def _class_value(name: str, counts: np.ndarray, labels: tuple = ()) -> Any:
    total = counts.sum()
    correct = np.trace(counts)
    if name == "Accuracy":
        return float(correct / total) if total else float("nan")
    if name == "ErrorRate":
        return float(1.0 - correct / total) if total else float("nan")
    if name == "ConfusionMatrix":
        return counts.astype(np.int64)
    diag = np.diag(counts)
    precision = _ratio(diag, counts.sum(axis=0))
    recall = _ratio(diag, counts.sum(axis=1))
    value = {
        "Precision": precision,
        "Recall": recall,
        "F1Score": _ratio(2 * precision * recall, precision + recall),
    }[name]
    return {key: float(v) for key, v in zip(labels or range(len(value)), value)}


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, 0.0 where den is 0 (a class never predicted / never present)."""
    return np.divide(num, den, out=np.zeros(len(num)), where=den != 0)


def _confusion(output: np.ndarray, target: np.ndarray, form: str, classes: int) -> np.ndarray:
    if form == "Binary":
        predicted, true = output > 0.5, target > 0.5
    else:
        predicted = output.argmax(axis=-1)
        true = target.argmax(axis=-1) if form == "Probabilities" else target
    flat = true.astype(np.int64).ravel() * classes + predicted.astype(np.int64).ravel()
    return np.bincount(flat, minlength=classes * classes).reshape(classes, classes)


def _form(loss: Any) -> str:
    return getattr(getattr(loss, "_options", None), "target_form", "") or ""


def _port_key(port: NetPort) -> str:
    """The key of a NetPort measurement: "Output", "lin/Output", "block/lin/Output"."""
    return "/".join(map(str, (*port.path, port.port)))


def _port_losses(tnet: attach.TrainingNet) -> dict:
    """Each output port of the user's net -> (the loss layer NetTrain attached, or None)."""
    graph = tnet.graph
    net = graph._layers[attach.NET]
    out = {p.name: (None, p.name) for p in net.output_ports}
    for (key, inner), (src, name) in graph._conns.items():
        if src == attach.NET and inner == "Input" and attach.is_loss(graph._layers[key]):
            out[name] = (graph._layers[key], name)
    return out


def _output_slot(tnet: attach.TrainingNet, plan: Plan, port: str) -> int:
    """The slot holding output `port` of the user's net inside the training graph's plan."""
    graph = tnet.graph
    for name, src in graph._outputs.items():
        if src == (attach.NET, port):
            return plan.outputs[name]
    for (key, inner), src in graph._conns.items():
        if src == (attach.NET, port):
            step = next(s for s in plan.steps if s.path[:1] == (key,))
            return step.inputs[inner]
    raise NetOptionError(f"TrainingProgressMeasurements: no output port {port!r}.")


def _netport_slot(tnet: attach.TrainingNet, plan: Plan, port: NetPort) -> int:
    """The slot of a NetPort of the user's net (an output port, a layer's output at any depth,
    a layer with one output) in the training graph's plan, resolved as `net(x, NetPort(...))`
    resolves it."""
    from netgraph.port_requests import port_slot

    net = tnet.graph._layers[attach.NET]
    if port.layer is All:
        raise NetOptionError(
            "TrainingProgressMeasurements: NetPort(All) is every layer's outputs; a measurement "
            'reads one port: name it, e.g. NetPort("layer", "Output").'
        )
    inside = {
        (path[1:], name): slot
        for (path, name), slot in plan.port_slots.items()
        if len(path) > 1 and path[0] == attach.NET
    }
    outputs = {p.name: _output_slot(tnet, plan, p.name) for p in net.output_ports}
    try:
        return port_slot(net, port, SimpleNamespace(port_slots=inside, outputs=outputs))
    except NetError as exc:
        raise NetOptionError(f"TrainingProgressMeasurements: {exc}") from None


def _with_outputs(plan: Plan, extra: dict) -> Plan:
    """A copy of `plan` that also returns the slots `extra` ({key: slot}); the original plan
    (cached on the net) is not changed."""
    steps = [replace(s) for s in plan.steps]
    outputs = {**plan.outputs, **extra}
    copy = Plan(steps, dict(plan.inputs), outputs, plan.n_slots)
    copy.array_kinds, copy.array_owners = plan.array_kinds, plan.array_owners
    return copy.finish()


def measure(meter: Meter, values: dict, data: dict, ctx: Any, chunk: int) -> dict:
    """Accumulate `data` ({port: examples}) in chunks of `chunk` examples; returns the sums."""
    from netgraph.executor import run_forward

    acc = meter.new_acc()
    n = len(next(iter(data.values())))
    for lo in range(0, n, chunk):
        part = {p: a[lo : lo + chunk] for p, a in data.items()}
        outs, _, _ = run_forward(meter.plan, values, part, ctx)
        meter.update(acc, outs, part)
    return acc


def criterion_increases(key: Any, meter: Meter | None) -> bool:
    """Check a TrainingStoppingCriterion "Criterion"; True when larger values are better."""
    measures = {m.key: m for m in meter.measures} if meter is not None else {}
    keys = list(measures) or ["Loss"]
    if not isinstance(key, str) or key not in keys:
        raise NetOptionError(
            f'TrainingStoppingCriterion: {key!r} is not measured; the criterion is "Loss" or '
            f"a TrainingProgressMeasurements key ({', '.join(keys)})."
            + did_you_mean(str(key), keys)
        )
    m = measures.get(key)
    if m is not None and not m.scalar:
        raise NetOptionError(
            f"TrainingStoppingCriterion: {key!r} is not one number per round (it is per class); "
            'use "Loss", "ErrorRate", "Accuracy" or another single-number measurement.'
        )
    return bool(m is not None and m.increasing)
