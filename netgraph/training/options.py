"""NetTrain's options: their defaults and checks, and the TrainingStoppingCriterion rule.

Every option is checked before training starts, so a malformed one fails at once with its name.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
from pydantic.alias_generators import to_snake

from netgraph.errors import NetOptionError, did_you_mean
from netgraph.evaluation import check_device, precision_dtype
from netgraph.values import Automatic

from .measurements import Meter, criterion_increases
from .progress import progress_function, reporter

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
    """NetTrain's options (Wolfram or snake_case names) merged with the defaults, each checked.

    >>> parse_options({"batch_size": 8})["BatchSize"]
    8
    """
    snake = {to_snake(k): k for k in OPTIONS}
    opts = dict(OPTIONS)
    for key, value in options.items():
        name = snake.get(key, key)
        if name not in OPTIONS:
            raise NetOptionError(f"NetTrain: unknown option {key!r}." + did_you_mean(key, OPTIONS))
        opts[name] = value
    check_device(opts["TargetDevice"])
    precision_dtype(opts["WorkingPrecision"])
    _check_rounds(opts["MaxTrainingRounds"])
    _check_time_goal(opts["TimeGoal"])
    _check_seed(opts["RandomSeeding"])
    progress_function(opts["TrainingProgressFunction"])  # raises NetOptionError when malformed
    if opts["TrainingProgressCheckpointing"] is not None:
        from .checkpoints import _location

        _location(opts["TrainingProgressCheckpointing"])  # raises NetOptionError when malformed
    resume = opts["ResumeFrom"]
    if resume is not None and not isinstance(resume, (str, os.PathLike)):
        raise NetOptionError(f"ResumeFrom should be a checkpoint file path, got {resume!r}.")
    reporter(opts["TrainingProgressReporting"])  # raises NetOptionError when malformed
    return opts


def _check_rounds(v: Any) -> None:
    if v is not Automatic and (
        isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1
    ):
        raise NetOptionError(
            f"The value of MaxTrainingRounds -> {v!r} should be a positive machine-sized integer."
        )


def _check_time_goal(goal: Any) -> None:
    if goal is not Automatic and (
        isinstance(goal, bool)
        or not isinstance(goal, (int, float))
        or not goal > 0
        or not math.isfinite(goal)
    ):
        raise NetOptionError(f"TimeGoal should be a positive number of seconds, got {goal!r}.")


def _check_seed(seed: Any) -> None:
    if seed is not Automatic and (
        isinstance(seed, bool) or not isinstance(seed, (int, np.integer, str))
    ):
        raise NetOptionError(
            f"RandomSeeding should be an integer, a string or Automatic, got {seed!r}."
        )


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
    rule = _rule_entries(option)
    rule["Increasing"] = criterion_increases(rule["Criterion"], meter)
    for key in ("Patience", "InitialPatience"):
        v = rule[key]
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise NetOptionError(
                f'TrainingStoppingCriterion "{key}" should be a whole number of rounds >= 0, '
                f"got {v!r}."
            )
    rule["Improvement"] = _improvement(rule["Improvement"])
    return rule


def _rule_entries(option: Any) -> dict:
    """The option's entries over the defaults (Automatic: all defaults; a string: the criterion)."""
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
    return rule


def _improvement(imp: Any) -> tuple[str, float]:
    """The "Improvement" entry as (kind, amount); a bare amount is an absolute change."""
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
    return (imp[0], float(imp[1]))
