"""NetTrain: rounds x batches of forward ("Train" mode), backward, optimizer step, state update.

BatchNormalization in training: each batch is normalized by its own statistics, and once per
step the moving arrays move towards that batch's mean and biased variance (Momentum weighs the
old value). A BN layer whose learned arrays all have multiplier 0 runs in "Test" mode and keeps
its moving arrays. The objective is the mean over the batch of each example's loss.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from netgraph._data_checks import check_array_range
from netgraph.errors import NetError, NetTrainError, refuses_deep_nesting
from netgraph.evaluation import all_finite, precision_dtype
from netgraph.executor import compile_plan, run_backward, run_forward
from netgraph.initialize import NetInitialize, _seed_words
from netgraph.layer import Context, Layer
from netgraph.values import All, Automatic, Scaled

from . import attach, multipliers
from . import data as D
from .fitting import _check_fits, _in_graph, _specialize, _user_located, _user_path
from .measurements import Meter, measure
from .optimizers import FlatArrays, Optimizer, parse_method
from .options import AUTOMATIC_SECONDS as AUTOMATIC_SECONDS  # re-exported: session imports it
from .options import DEFAULT_SEED, parse_options, stopping_rule
from .options import OPTIONS as OPTIONS  # re-exported: NetTrain's options lived here
from .results import check_properties

__all__ = ["NetTrain", "NetTrainError", "Trainer"]


class Trainer:
    """One training run. Holds private working copies of every array; the caller's net and
    data are only read."""

    def __init__(self, net: Layer, data: Any, opts: dict):
        self.opts = opts
        self.dtype = precision_dtype(opts["WorkingPrecision"])
        split_rng = self._seed_generators(opts["RandomSeeding"])
        input_ports, target_ports, losses = attach.target_plan(net, opts["LossFunction"])
        train, valid = self._read_data(net, data, (input_ports, target_ports, losses), split_rng)
        net = _specialize(net, train, input_ports)
        self.net = NetInitialize(net, RandomSeeding=self.seed)
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

    def _seed_generators(self, seed: Any) -> np.random.Generator:
        """Set the run's seed and its shuffling and layer generators; return the generator
        that splits off a Scaled validation set."""
        seed = DEFAULT_SEED if seed is Automatic else seed if isinstance(seed, str) else int(seed)
        self.seed = seed
        # any integer (negative ones too) or string, as NetInitialize takes them
        seeds = np.random.SeedSequence(_seed_words(seed)).spawn(3)
        self.shuffle_rng = np.random.default_rng(seeds[0])
        self.layer_rng = np.random.default_rng(seeds[1])
        return np.random.default_rng(seeds[2])

    def _read_data(self, net: Layer, data: Any, ports: tuple, split_rng) -> tuple:
        """(training data, validation data or None) by port; sets the number of examples."""
        input_ports, target_ports, losses = ports
        encoders = attach.target_encoders(net, losses)  # labels of ports with a NetDecoder
        train = D.normalize(data, input_ports, target_ports, "training data", encoders)
        self.n = D.count_examples(train, "training data")
        validation = self.opts["ValidationSet"]
        if isinstance(validation, Scaled):
            train, valid = D.split_validation(train, validation.value, split_rng)
            self.n = D.count_examples(train, "training data")
        elif validation is not None:
            valid = D.normalize(validation, input_ports, target_ports, "validation data", encoders)
            D.count_examples(valid, "validation data")
        else:
            valid = None
        return train, valid

    def _cast(self, data: dict, what: str) -> dict:
        return D.cast_examples(self.tnet.graph, data, self.dtype, what)

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
        self.modes = self._frozen_batchnorm_modes()
        if not trainable:
            _warn_untrainable(self.plan)

    def _frozen_batchnorm_modes(self) -> dict:
        """Leaf path -> "Test" for each BN layer whose learned arrays all have multiplier 0."""
        modes = {}
        for step in self.plan.steps:
            learned = [a for n, a in step.arrays.items() if self.plan.array_kinds[a] == "learned"]
            if (
                type(step.layer).__name__ == "BatchNormalizationLayer"
                and learned
                and all(self.multipliers.get(a, 1.0) == 0 for a in learned)
            ):
                modes[step.path] = "Test"  # frozen for fine-tuning: moving stats kept
        return modes

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
        new_states = self._checked_states(states)
        self.flat.data[...] = new
        for aid, value in new_states:
            self.values[aid][...] = value
        return loss

    def _checked_states(self, states: list) -> list:
        """The state updates (moving statistics) as (array id, value in the working precision),
        each checked finite."""
        new_states = []
        for step, state in states:
            for name, value in state.items():
                value = np.asarray(value, self.dtype)
                if not all_finite(value):
                    raise _Diverged(f"{name} of {_user_path(step.path)} became non-finite")
                new_states.append((step.arrays[name], value))
        return new_states

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


def _warn_untrainable(plan) -> None:
    import warnings

    learned = any(kind == "learned" for kind in plan.array_kinds.values())
    warnings.warn(
        (
            "All trainable parameters have been frozen"
            if learned
            else "The net has no trainable arrays"
        )
        + ": the trained net will equal the given net.",
        stacklevel=6,  # the caller of NetTrain (through its refuses_deep_nesting wrapper)
    )


class _Diverged(Exception):
    pass


@refuses_deep_nesting("NetTrain")
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
