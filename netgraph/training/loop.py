"""NetTrain: rounds x batches of forward ("Train" mode), backward, optimizer step, state update.

BatchNormalization in training: each batch is normalized by its own statistics, and once per
step the moving arrays move towards that batch's mean and biased variance (Momentum weighs the
old value). A BN layer whose learned arrays all have multiplier 0 runs in "Test" mode and keeps
its moving arrays. The objective is the mean over the batch of each example's loss.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
from pydantic.alias_generators import to_snake

from netgraph._data_checks import channel_hint, check_array_range
from netgraph.errors import NetDataError, NetError, NetOptionError, NetTrainError, did_you_mean
from netgraph.evaluation import all_finite, cast_data, check_device, precision_dtype
from netgraph.executor import compile_plan, run_backward, run_forward
from netgraph.initialize import NetInitialize, _seed_words
from netgraph.layer import Context, Layer
from netgraph.values import All, Automatic, NetSharedArray, Scaled

from . import attach, multipliers
from . import data as D
from .measurements import Meter, criterion_increases, measure
from .optimizers import FlatArrays, Optimizer, parse_method
from .progress import progress_function, reporter
from .results import check_properties

OPTIONS = {
    "BatchSize": 64,
    "MaxTrainingRounds": Automatic,
    "Method": Automatic,
    "LearningRate": Automatic,
    "LearningRateMultipliers": Automatic,
    "LossFunction": Automatic,
    "ValidationSet": None,
    "RandomSeeding": Automatic,
    "TrainingProgressReporting": Automatic,
    "TrainingProgressFunction": None,
    "TrainingProgressMeasurements": Automatic,
    "TrainingStoppingCriterion": None,
    "TimeGoal": Automatic,
    "TrainingProgressCheckpointing": None,
    "ResumeFrom": None,
    "TargetDevice": "CPU",
    "WorkingPrecision": "Real32",
}
DEFAULT_SEED = 1234  # RandomSeeding Automatic: deterministic, like NetInitialize
AUTOMATIC_SECONDS = 20.0  # MaxTrainingRounds Automatic: about this long, 10..10000 rounds


def parse_options(options: dict) -> dict:
    snake = {to_snake(k): k for k in OPTIONS}
    opts = dict(OPTIONS)
    for key, value in options.items():
        name = snake.get(key, key)
        if name not in OPTIONS:
            raise NetOptionError(f"NetTrain: unknown option {key!r}." + did_you_mean(key, OPTIONS))
        opts[name] = value
    check_device(opts["TargetDevice"])
    precision_dtype(opts["WorkingPrecision"])
    for name in ("MaxTrainingRounds",):
        v = opts[name]
        if v is not Automatic and (
            isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1
        ):
            raise NetOptionError(
                f"The value of {name} -> {v!r} should be a positive machine-sized integer."
            )
    goal = opts["TimeGoal"]
    if goal is not Automatic and (
        isinstance(goal, bool)
        or not isinstance(goal, (int, float))
        or not goal > 0
        or not math.isfinite(goal)
    ):
        raise NetOptionError(f"TimeGoal should be a positive number of seconds, got {goal!r}.")
    seed = opts["RandomSeeding"]
    if seed is not Automatic and (
        isinstance(seed, bool) or not isinstance(seed, (int, np.integer, str))
    ):
        raise NetOptionError(
            f"RandomSeeding should be an integer, a string or Automatic, got {seed!r}."
        )
    progress_function(opts["TrainingProgressFunction"])  # raises NetOptionError when malformed
    if opts["TrainingProgressCheckpointing"] is not None:
        from .checkpoints import _location

        _location(opts["TrainingProgressCheckpointing"])  # raises NetOptionError when malformed
    resume = opts["ResumeFrom"]
    if resume is not None and not isinstance(resume, (str, os.PathLike)):
        raise NetOptionError(f"ResumeFrom should be a checkpoint file path, got {resume!r}.")
    reporter(opts["TrainingProgressReporting"])  # raises NetOptionError when malformed
    return opts


def _is_amount(v: Any) -> bool:
    return (
        not isinstance(v, bool)
        and isinstance(v, (int, float, np.number))
        and math.isfinite(v)
        and v >= 0
    )


def stopping_rule(option: Any, meter: Meter | None = None) -> dict | None:
    """TrainingStoppingCriterion as {"Criterion", "Patience", "InitialPatience", "Improvement"};
    the criterion is "Loss" or a key of the run's TrainingProgressMeasurements."""
    if option is None:
        return None
    if option is Automatic:
        option = {}
    if isinstance(option, str):
        option = {"Criterion": option}
    if not isinstance(option, dict):
        raise NetOptionError(
            'TrainingStoppingCriterion should be None, "Loss", a measurement key or a dict with '
            f'"Criterion", "Patience", "InitialPatience", "Improvement", got {option!r}.'
        )
    rule = {
        "Criterion": "Loss",
        "Patience": 0,
        "InitialPatience": 0,
        "Improvement": ("AbsoluteChange", 0.0),
    }
    for k, v in option.items():
        if k not in rule:
            raise NetOptionError(
                f"TrainingStoppingCriterion has no key {k!r}." + did_you_mean(k, rule)
            )
        rule[k] = v
    rule["Increasing"] = criterion_increases(rule["Criterion"], meter)
    for key in ("Patience", "InitialPatience"):
        v = rule[key]
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise NetOptionError(
                f'TrainingStoppingCriterion "{key}" should be a whole number of rounds >= 0, '
                f"got {v!r}."
            )
    imp = rule["Improvement"]
    if _is_amount(imp):
        imp = ("AbsoluteChange", imp)
    if not (
        isinstance(imp, tuple)
        and len(imp) == 2
        and isinstance(imp[0], str)
        and imp[0] in ("AbsoluteChange", "RelativeChange")
        and _is_amount(imp[1])
    ):
        raise NetOptionError(
            'TrainingStoppingCriterion "Improvement" should be ("AbsoluteChange", v) or '
            f'("RelativeChange", v) with a finite v >= 0, got {imp!r}.'
        )
    rule["Improvement"] = (imp[0], float(imp[1]))
    return rule


class Trainer:
    """One training run. Holds private working copies of every array; the caller's net and
    data are only read."""

    def __init__(self, net: Layer, data: Any, opts: dict):
        self.opts = opts
        self.dtype = precision_dtype(opts["WorkingPrecision"])
        seed = opts["RandomSeeding"]
        seed = DEFAULT_SEED if seed is Automatic else seed if isinstance(seed, str) else int(seed)
        self.seed = seed
        # any integer (negative ones too) or string, as NetInitialize takes them
        seeds = np.random.SeedSequence(_seed_words(seed)).spawn(3)
        self.shuffle_rng = np.random.default_rng(seeds[0])
        self.layer_rng = np.random.default_rng(seeds[1])
        split_rng = np.random.default_rng(seeds[2])

        input_ports, target_ports, losses = attach.target_plan(net, opts["LossFunction"])
        encoders = attach.target_encoders(net, losses)  # labels of ports with a NetDecoder
        train = D.normalize(data, input_ports, target_ports, "training data", encoders)
        self.n = D.count_examples(train, "training data")
        validation = opts["ValidationSet"]
        if isinstance(validation, Scaled):
            train, valid = D.split_validation(train, validation.value, split_rng)
            self.n = D.count_examples(train, "training data")
        elif validation is not None:
            valid = D.normalize(validation, input_ports, target_ports, "validation data", encoders)
            D.count_examples(valid, "validation data")
        else:
            valid = None
        net = _specialize(net, train, input_ports)
        self.net = NetInitialize(net, RandomSeeding=seed)
        check_array_range(self.net._array_values(), self.dtype)
        self.tnet = attach.build(self.net, losses, train, input_ports)
        attach.check_targets(self.tnet, train, "training data")
        if valid is not None:
            _check_fits(self.net, valid, input_ports, "validation data")
            attach.check_targets(self.tnet, valid, "validation data")
        self.train = self._cast(train, "training data")
        self.valid = self._cast(valid, "validation data") if valid is not None else None
        self.batch_size = D.batch_size(opts["BatchSize"], self.n)
        self.bounds = D.batch_bounds(self.n, self.batch_size)
        self._setup_arrays()
        self.method, method_opts = parse_method(opts["Method"], opts["LearningRate"])
        self.optimizer = Optimizer(self.method, method_opts, self.flat, self._flat_multipliers())
        self.meter = Meter(self.tnet, self.plan, opts["TrainingProgressMeasurements"])
        self.plan = self.meter.plan  # also returns the outputs the measurements read
        self.stopping = stopping_rule(opts["TrainingStoppingCriterion"], self.meter)

    # ------------------------------------------------------------------ setup

    def _cast(self, data: dict, what: str) -> dict:
        dtypes = {p.name: p.dtype for p in self.tnet.graph.input_ports}
        return {
            p: np.ascontiguousarray(
                cast_data(
                    a,
                    np.int64 if dtypes[p] == "Integer" else self.dtype,
                    f"{what}, port {p!r}",
                    True,
                )
            )
            for p, a in data.items()
        }

    def _setup_arrays(self) -> None:
        graph = self.tnet.graph
        self.plan = compile_plan(graph)
        mults = multipliers.resolve(self.net, self.opts["LearningRateMultipliers"])
        self.net_multipliers = mults  # keyed by the user's array paths (results)
        self.multipliers = {_in_graph(aid): m for aid, m in mults.items()}
        values = graph._array_values()
        self.values = {}
        trainable = {}
        for aid, value in values.items():
            if self.plan.array_kinds.get(aid) == "learned" and self.multipliers.get(aid, 1.0):
                trainable[aid] = value
            else:
                self.values[aid] = np.array(value, dtype=self.dtype)  # private copy
        self.flat = FlatArrays(trainable, self.dtype)
        self.values.update(self.flat.views)
        self.storage = {
            aid: (np.float64 if self.dtype == np.float64 else np.float32) for aid in values
        }
        self.modes = {}
        for step in self.plan.steps:
            learned = [a for n, a in step.arrays.items() if self.plan.array_kinds[a] == "learned"]
            if (
                type(step.layer).__name__ == "BatchNormalizationLayer"
                and learned
                and all(self.multipliers.get(a, 1.0) == 0 for a in learned)
            ):
                self.modes[step.path] = "Test"  # frozen for fine-tuning: moving stats kept
        if not trainable:
            import warnings

            learned = any(kind == "learned" for kind in self.plan.array_kinds.values())
            warnings.warn(
                (
                    "All trainable parameters have been frozen"
                    if learned
                    else "The net has no trainable arrays"
                )
                + ": the trained net will equal the given net.",
                stacklevel=4,
            )

    def _flat_multipliers(self) -> np.ndarray:
        return self.flat.per_element(
            {a: self.multipliers.get(a, 1.0) for a in self.flat.views}, self.dtype
        )

    # ------------------------------------------------------------------ steps

    def step(self, index: np.ndarray, t: int, total: int, acc: dict | None = None) -> float:
        """One optimizer step on the examples `index`; returns the batch loss. With `acc`, the
        batch's measurements are added to it."""
        batch = {p: a[index] for p, a in self.train.items()}
        ctx = Context("Train", self.dtype, self.layer_rng, True, True, {"modes": self.modes})
        try:
            outs, tape, states = run_forward(self.plan, self.values, batch, ctx, keep=True)
        except NetError as exc:
            raise _user_located(exc) from None
        size = len(index)
        loss = sum(float(outs[p].sum(dtype=np.float64)) / size for p in self.tnet.loss_ports)
        if not math.isfinite(loss):
            raise _Diverged(f"the loss became {loss}")
        if acc is not None:
            self.meter.update(acc, outs, batch)
        grad = np.full(size, 1.0 / size, self.dtype)
        _, d_arrays = run_backward(
            self.plan, tape, {p: grad for p in self.tnet.loss_ports}, input_grads=False
        )
        self.flat.gather(d_arrays)
        update = self.optimizer.compute_step(t, total)
        # The new arrays, checked as they will be stored before any is: a finite step can
        # still overflow an array (or a float64 statistic its float32 storage).
        new = np.subtract(self.flat.data, update, out=self.optimizer.scratch)
        if not all_finite(new):
            raise _Diverged("an array became non-finite")
        new_states = []
        for step, state in states:
            for name, value in state.items():
                value = np.asarray(value, self.dtype)
                if not all_finite(value):
                    raise _Diverged(f"{name} of {_user_path(step.path)} became non-finite")
                new_states.append((step.arrays[name], value))
        self.flat.data[...] = new
        for aid, value in new_states:
            self.values[aid][...] = value
        return loss

    def evaluate(self, data: dict) -> dict:
        """The measurements' sums over `data` in "Test" mode (the loss under "Loss")."""
        ctx = Context("Test", self.dtype, self.layer_rng, False, False, {})
        return measure(self.meter, self.values, data, ctx, max(self.batch_size, 256))

    def evaluate_loss(self, data: dict) -> float:
        total, n = self.evaluate(data)["Loss"]
        return total / n

    def trained_net(self) -> Layer:
        values = {}
        for aid in self.net._array_values():
            arr = np.array(self.values[_in_graph(aid)], dtype=self.storage[_in_graph(aid)])
            arr.setflags(write=False)
            values[aid] = arr
        return self.net._with_array_values(values)

    def snapshot_values(self) -> dict:
        return {aid: v.copy() for aid, v in self.values.items()}

    def restore_values(self, saved: dict) -> None:
        for aid, v in saved.items():
            self.values[aid][...] = v


def _user_path(path: tuple) -> str:
    """A leaf's path in the user's net (the training graph puts it under "net")."""
    inner = path[1:] if path[:1] == (attach.NET,) else path
    return "/".join(map(str, inner)) or "the net"


class _Diverged(Exception):
    pass


def _user_located(exc: NetError) -> NetError:
    """A layer error with its path in the user's net, not in the training graph ("net/...")."""
    text = str(exc)
    prefix = f'in layer "{attach.NET}'
    if text.startswith(prefix + '": '):
        text = text[len(prefix) + 3 :]
    elif text.startswith(prefix + "/"):
        text = 'in layer "' + text[len(prefix) + 1 :]
    return type(exc)(text)


def _in_graph(aid: Any) -> Any:
    return aid if isinstance(aid, NetSharedArray) else (attach.NET,) + tuple(aid)


def _check_fits(net: Layer, data: dict, input_ports: list, what: str) -> None:
    """Each input port's examples have a shape the net's port allows."""
    from netgraph.shapes import ShapeConflict, fmt, rank, unify

    for p in input_ports:
        example, known = data[p].shape[1:], net.port_shape(p)
        try:
            unify(known, example)
        except ShapeConflict:
            because = ""
            try:  # when the net's arrays or options fixed the port's shape, name them
                net._override_ports({p: example})
            except NetError as exc:  # (not for examples of another rank: the data's fault)
                given = net._port_given.get(p)  # a shape the user gave is the reason itself
                if rank(known) in (None, len(example)) and not _conflicts(given, example):
                    because = f" ({str(_user_located(exc)).rstrip('.')})"
            raise NetDataError(
                f"{what}: the examples of port {p!r} have shape {fmt(example)}, but the "
                f"net's port {p!r} takes {fmt(known)}{because}." + channel_hint(known, example)
            ) from None


def _conflicts(shape: Any, example: tuple) -> bool:
    from netgraph.shapes import ShapeConflict, unify

    try:
        unify(shape, example)
    except ShapeConflict:
        return True
    return False


def _specialize(net: Layer, train: dict, input_ports: list, what: str = "training data") -> Layer:
    """Fix unknown input shapes from the data (the examples' shapes).

    The data must fit what the net already knows: `_with_port_shapes` would replace a given
    `Input=3` by the data's shape, silently training another net."""
    _check_fits(net, train, input_ports, what)
    shapes = {}
    for p in input_ports:
        example = train[p].shape[1:]
        if net.port_shape(p) != example:
            shapes[p] = example
    if not shapes:
        return net
    try:
        return net._with_port_shapes(shapes)
    except NetError as exc:
        raise NetDataError(f"{what} does not fit the net: {exc}") from None


def NetTrain(net: Layer, data: Any, prop: Any = None, **options: Any) -> Any:  # noqa: N802
    """Train a net; return the trained net, or with `"All"` a NetTrainResults.

    Options (Wolfram names; snake_case works too): BatchSize (64), MaxTrainingRounds,
    Method ("ADAM", "SGD", "RMSProp" or (name, {sub-options})), LearningRate,
    LearningRateMultipliers, LossFunction, ValidationSet (data or ng.Scaled(f)), RandomSeeding,
    TrainingProgressReporting, TrainingProgressFunction (f or (f, {"Interval": ...})),
    TrainingProgressMeasurements (see netgraph.training.measurements), TrainingStoppingCriterion
    ("Loss" or a measurement key, or a dict with "Criterion", "Patience", ...), TimeGoal,
    TrainingProgressCheckpointing, ResumeFrom, TargetDevice ("CPU"), WorkingPrecision.

    >>> import numpy as np, netgraph as ng
    >>> x = np.random.default_rng(0).normal(3.0, 2.0, (64, 2))
    >>> bn = ng.BatchNormalizationLayer(Input=2, Momentum=0.5)
    >>> trained = ng.NetTrain(bn, (x, x), MaxTrainingRounds=3, TrainingProgressReporting=None)
    >>> # one step per round, Momentum 0.5: MovingMean = (1 - 0.5**3) * mean after 3 steps
    >>> np.allclose(ng.NetExtract(trained, "MovingMean"), (1 - 0.5**3) * x.mean(axis=0))
    True
    """
    from .session import run

    opts = parse_options(options)
    if not isinstance(net, Layer):
        raise NetError(f"NetTrain: expected a net, got {type(net).__name__}.")
    check_properties(prop)  # a misspelt property fails before training, not after
    results = run(Trainer(net, data, opts), opts)
    if prop is None or prop == "TrainedNet":
        return results["TrainedNet"]
    if prop is All or prop == "All":  # check_properties made sure prop is a name or a list
        return results
    if isinstance(prop, (list, tuple)):
        return [results[p] for p in prop]
    return results[prop]


__all__ = ["NetTrain", "NetTrainError", "Trainer"]
