"""NetMeasurements(net, data, spec): measurements of a trained net on labelled data."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic.alias_generators import to_snake

from netgraph._data_checks import check_array_range
from netgraph.errors import NetError, NetOptionError, did_you_mean, refuses_deep_nesting
from netgraph.evaluation import check_initialized, precision_dtype
from netgraph.executor import compile_plan
from netgraph.layer import Context, Layer
from netgraph.values import Automatic

from . import attach
from . import data as D
from .measurements import Meter, measure

WHAT = "NetMeasurements data"
OPTION = "TrainingProgressMeasurements:"


@refuses_deep_nesting("NetMeasurements")
def NetMeasurements(  # noqa: N802
    net: Layer,
    data: Any,
    spec: Any,
    **options: Any,
) -> Any:
    """Measure `net` on `data` (any form NetTrain takes) in "Test" mode, `BatchSize` examples at
    a time. `spec` is one measurement (see TrainingProgressMeasurements: "Loss", "Accuracy",
    "ErrorRate", "ConfusionMatrix", "Precision", "Recall", "F1Score", "MeanSquare",
    "MeanDeviation", a NetPort, or {"Measurement": f, "Key": name}) and gives its value, or a
    list of them and gives a list. Values are Python floats, dicts class -> float (per-class
    measurements) or a numpy count matrix ("ConfusionMatrix"). "Loss" is the loss NetTrain
    would attach (LossFunction as in NetTrain). Options: BatchSize (256), WorkingPrecision
    ("Real32"), LossFunction; snake_case names work too, and an unknown option is refused.

    >>> import numpy as np, netgraph as ng
    >>> net = ng.NetInitialize(ng.NetChain([ng.LinearLayer(2), ng.SoftmaxLayer()], Input=2))
    >>> net = ng.NetReplacePart(net, {(0, "Weights"): np.eye(2), (0, "Biases"): np.zeros(2)})
    >>> x = np.array([[2.0, 0.0], [0.0, 2.0], [3.0, 1.0], [1.0, 0.0]])
    >>> y = np.array([0, 1, 1, 0])  # the net picks the larger input: 0, 1, 0, 0
    >>> ng.NetMeasurements(net, (x, y), "Accuracy")
    0.75
    >>> ng.NetMeasurements(net, (x, y), ["ErrorRate", "Recall"])
    [0.25, {0: 1.0, 1: 0.5}]
    """
    if not isinstance(net, Layer):
        raise NetError(f"NetMeasurements: expected a net, got {type(net).__name__}.")
    opts = _parse_options(options)
    BatchSize, WorkingPrecision, LossFunction = (  # noqa: N806 (Wolfram's option names)
        opts["BatchSize"], opts["WorkingPrecision"], opts["LossFunction"],
    )  # fmt: skip
    dtype = precision_dtype(WorkingPrecision)
    if isinstance(BatchSize, bool) or not isinstance(BatchSize, (int, np.integer)) or BatchSize < 1:
        raise NetOptionError(
            f"NetMeasurements: BatchSize should be a positive integer, got {BatchSize!r}."
        )
    if isinstance(spec, list) and not spec:
        raise NetOptionError("NetMeasurements: the list of measurements is empty.")
    items = spec if isinstance(spec, list) else [spec]
    from .loop import _specialize

    input_ports, target_ports, losses = attach.target_plan(net, LossFunction)
    encoders = attach.target_encoders(net, losses)  # labels of ports with a NetDecoder
    given = D.normalize(data, input_ports, target_ports, WHAT, encoders)
    D.count_examples(given, WHAT)
    net = _specialize(net, given, input_ports, WHAT)
    check_initialized(net, "measure")
    tnet = attach.build(net, losses, given, input_ports)
    attach.check_targets(tnet, given, WHAT)
    try:
        meter = Meter(tnet, compile_plan(tnet.graph), items)
        keys = []
        for item in items:  # the key each requested measurement got ("Loss" is built in)
            parsed = meter._one(item)
            keys.append(parsed[0].key if parsed else "Loss")
    except NetOptionError as exc:  # the spec is NetMeasurements' argument, not a NetTrain option
        raise _as_netmeasurements(exc) from None
    check_array_range(net._array_values(), dtype)
    values = {a: np.asarray(v, dtype) for a, v in tnet.graph._array_values().items()}
    cast = D.cast_examples(tnet.graph, given, dtype, WHAT)
    ctx = Context("Test", dtype, np.random.default_rng(0), False, False, {})
    # overflow in a net's numbers gives inf/NaN values, as in NetTrain, without numpy warnings
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        try:
            results = meter.values(measure(meter, values, cast, ctx, int(BatchSize)))
        except NetOptionError as exc:  # a custom measurement that failed while measuring
            raise _as_netmeasurements(exc) from None
    out = [results[k] for k in keys]
    return out if isinstance(spec, list) else out[0]


def _as_netmeasurements(exc: NetOptionError) -> NetOptionError:
    """A measurement error worded for NetTrain's option, restated for NetMeasurements' spec."""
    text = str(exc)
    if not text.startswith(OPTION):
        return exc
    return NetOptionError("NetMeasurements:" + text[len(OPTION) :])


OPTIONS = {"BatchSize": 256, "WorkingPrecision": "Real32", "LossFunction": Automatic}


def _parse_options(options: dict) -> dict:
    """NetMeasurements' options (Wolfram names, or snake_case); an unknown one is refused."""
    snake = {to_snake(k): k for k in OPTIONS}
    opts = dict(OPTIONS)
    for key, value in options.items():
        name = snake.get(key, key)
        if name not in OPTIONS:
            raise NetOptionError(
                f"NetMeasurements: unknown option {key!r}." + did_you_mean(key, OPTIONS)
            )
        opts[name] = value
    return opts


__all__ = ["NetMeasurements"]
