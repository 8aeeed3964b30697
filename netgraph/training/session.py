"""The outer training loop: rounds, validation, stopping, progress, checkpoints, interrupts."""

from __future__ import annotations

import math
import time

import numpy as np

from netgraph.values import Automatic

from . import checkpoints
from .interrupts import InterruptGuard
from .loop import AUTOMATIC_SECONDS, Trainer, _Diverged
from .progress import ProgressInfo, progress_function, reporter
from .results import NetTrainResults


class Session:
    """Counters and history of one run; everything a checkpoint needs besides the arrays."""

    def __init__(self, trainer: Trainer, opts: dict):
        self.trainer, self.opts = trainer, opts
        self.round = 0  # rounds completed
        self.batch = 0  # batches completed in the current round
        self.t = 0  # optimizer steps taken
        self.permutation = None  # the current round's order of examples
        self.history = {"BatchLossList": [], "RoundLossList": [], "ValidationLossList": []}
        self.round_losses: list = []  # (loss, size) of the current round's batches
        self.acc = trainer.meter.new_acc()  # the current round's measurement sums
        # per completed round, the sums of the training batches and of the validation set
        self.measure_history: dict = {"Round": [], "Validation": []}
        self.progress = progress_function(opts["TrainingProgressFunction"])
        self.best = {"loss": math.inf, "round": None, "values": None}
        self.stale = 0  # rounds without improvement (TrainingStoppingCriterion)
        self.elapsed = 0.0  # seconds of training before this process (resume)
        self.examples = 0  # examples processed
        self.files: list = []
        rounds = opts["MaxTrainingRounds"]
        self.limit = None if rounds is Automatic else int(rounds)
        self.automatic = rounds is Automatic and opts["TimeGoal"] is Automatic
        self.guard = InterruptGuard()  # Ctrl-C lands between batches (interrupts.py)


def run(trainer: Trainer, opts: dict) -> NetTrainResults:
    session = Session(trainer, opts)
    if opts["ResumeFrom"] is not None:
        checkpoints.restore(session, opts["ResumeFrom"])
    report = reporter(opts["TrainingProgressReporting"])
    per_round = len(trainer.bounds)
    report.start(session.limit or (10 if session.automatic else None), per_round)
    start = time.perf_counter() - session.elapsed
    reason = None
    # Overflow shows up as inf/NaN, which the trainer checks and reports as divergence.
    errstate = np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore")
    try:
        errstate.__enter__()
        with session.guard.installed():
            while reason is None:
                if session.limit is not None and session.round >= session.limit:
                    reason = "MaxTrainingRoundsReached"
                    break
                reason = _round(session, report, start)
                if reason == "Diverged":
                    break
                if session.batch == per_round or reason in ("TimeGoalReached", "ProgressFunction"):
                    # partial rounds count
                    reason = _end_round(session, report, start) or reason
    except KeyboardInterrupt as exc:
        _reraise_with_checkpoint(session, exc, start)
    finally:
        errstate.__exit__(None, None, None)
        report.close()
    session.elapsed = time.perf_counter() - start
    return _results(session, reason)


def _round(session: Session, report, start: float) -> str | None:
    trainer = session.trainer
    if session.batch == 0:
        session.permutation = trainer.shuffle_rng.permutation(trainer.n)
        session.round_losses = []
        session.acc = trainer.meter.new_acc()
    goal = session.opts["TimeGoal"]
    total = (session.limit or 10) * len(trainer.bounds)
    for b in range(session.batch, len(trainer.bounds)):
        lo, hi = trainer.bounds[b]
        index = session.permutation[lo:hi]
        with session.guard.atomic():  # a step and its counters, or neither
            try:
                loss = trainer.step(index, session.t + 1, max(total, session.t + 1), session.acc)
            except _Diverged as why:
                session.diverged = str(why)
                return "Diverged"
            session.t += 1
            session.batch = b + 1
            session.examples += hi - lo
            session.history["BatchLossList"].append(loss)
            session.round_losses.append((loss, hi - lo))
        info = {"round": session.round + 1, "batch": b + 1, "loss": loss, "rounds": session.limit}
        report.batch(info)
        if _call_progress(session, "Batches", session.t, info, start):
            return "ProgressFunction"
        if goal is not Automatic and time.perf_counter() - start >= goal:
            return "TimeGoalReached"
    return None


def _end_round(session: Session, report, start: float) -> str | None:
    """Close a round. Until the round is committed (round + 1, batch 0) an interrupt leaves
    the counters at the round's last batch, so a resumed run closes the same round again
    instead of repeating it."""
    trainer = session.trainer
    losses = session.round_losses
    round_loss = sum(l * n for l, n in losses) / sum(n for _, n in losses)
    validation_loss = sums = None
    if trainer.valid is not None:
        sums = trainer.evaluate(trainer.valid)
        validation_loss = sums["Loss"][0] / sums["Loss"][1]
    with session.guard.atomic():  # the round's close and its counters, or neither
        session.history["RoundLossList"].append(round_loss)
        session.measure_history["Round"].append(session.acc)
        if sums is not None:
            session.measure_history["Validation"].append(sums)
        session.round += 1
        session.batch = 0
        if validation_loss is not None:
            session.history["ValidationLossList"].append(validation_loss)
            if validation_loss < session.best["loss"]:
                session.best = {
                    "loss": validation_loss,
                    "round": session.round,
                    "values": trainer.snapshot_values(),
                }
        elapsed = time.perf_counter() - start
        if session.automatic and session.round == 1:
            session.limit = int(
                np.clip(math.ceil(AUTOMATIC_SECONDS / max(elapsed, 1e-9)), 10, 10000)
            )
        report.round(
            {
                "round": session.round,
                "rounds": session.limit,
                "loss": round_loss,
                "validation_loss": validation_loss,
                "seconds": elapsed,
                "batches": len(trainer.bounds),
                "measurements": latest(session, "Round"),
                "validation_measurements": latest(session, "Validation"),
            }
        )
        reason = _stopping(session, _monitored(session))
    info = {
        "round": session.round,
        "batch": len(losses),
        "loss": round_loss,
        "rounds": session.limit,
    }
    if _call_progress(session, "Rounds", session.round, info, start):
        reason = reason or "ProgressFunction"
    if session.opts["TrainingProgressCheckpointing"] is not None:
        session.elapsed = elapsed
        path = checkpoints.save_round(session)
        if path not in session.files:  # ("File", path) replaces one file
            session.files.append(path)
    return reason


def latest(session: Session, which: str) -> dict | None:
    """The last completed round's measurements ("Round" or "Validation"), or None."""
    entries = session.measure_history[which]
    if not entries:
        return None
    values = session.trainer.meter.values(entries[-1])
    if which == "Round":
        values["Loss"] = session.history["RoundLossList"][-1]
    return values


def _monitored(session: Session) -> float:
    """The value TrainingStoppingCriterion watches: on the validation set when there is one."""
    rule = session.trainer.stopping
    if rule is None:
        return math.nan
    which = "Validation" if session.trainer.valid is not None else "Round"
    value = latest(session, which)[rule["Criterion"]]
    return -value if rule["Increasing"] else value


def _call_progress(session: Session, unit: str, count: int, info: dict, start: float) -> bool:
    """Call TrainingProgressFunction when due; True when it returned "StopTraining"."""
    progress = session.progress
    if progress is None or not progress.due(unit, count):
        return False
    history = session.history
    last = history["BatchLossList"][-1] if history["BatchLossList"] else None
    info = {
        **info,
        "Round": info["round"],
        "Batch": info["batch"],
        "AbsoluteBatch": session.t,
        "BatchesPerRound": len(session.trainer.bounds),
        "BatchSize": session.trainer.batch_size,
        "BatchLoss": last,
        "RoundLoss": history["RoundLossList"][-1] if history["RoundLossList"] else None,
        "ValidationLoss": (
            history["ValidationLossList"][-1] if history["ValidationLossList"] else None
        ),
        "RoundMeasurements": latest(session, "Round"),
        "ValidationMeasurements": latest(session, "Validation"),
        "ExamplesProcessed": session.examples,
        "Event": "RoundComplete" if unit == "Rounds" else "BatchComplete",
        **_timing(session, start),
    }
    try:
        answer = progress.f(ProgressInfo(info, session.trainer.trained_net))
    except Exception as exc:  # the user's callback: keep the work, then re-raise
        _reraise_with_checkpoint(session, exc, start)
    return isinstance(answer, str) and answer == "StopTraining"


def _timing(session: Session, start: float) -> dict:
    """TrainingProgressFunction's "TimeElapsed" (seconds), "LearningRate" (this step's) and
    "ProgressFraction" (of MaxTrainingRounds; None without a round limit)."""
    per_round = len(session.trainer.bounds)
    total = max((session.limit or 10) * per_round, session.t)  # as the steps see it
    fraction = min(1.0, session.t / total) if session.limit else None
    return {
        "TimeElapsed": time.perf_counter() - start,
        "LearningRate": session.trainer.optimizer.learning_rate(max(session.t, 1), total),
        "ProgressFraction": fraction,
    }


def _stopping(session: Session, monitored: float) -> str | None:
    rule = session.trainer.stopping
    if rule is None:
        return None
    last = getattr(session, "_monitor_best", math.inf)
    kind, amount = rule["Improvement"]
    needed = amount if kind == "AbsoluteChange" else amount * abs(last)
    if monitored < last - needed or last == math.inf:
        session._monitor_best = min(monitored, last)
        session.stale = 0
        return None
    session.stale += 1
    if session.round <= rule["InitialPatience"]:
        return None
    if session.stale > rule["Patience"]:
        return "StoppingCriterionReached"
    return None


def _reraise_with_checkpoint(session: Session, exc: BaseException, start: float):
    """Write an emergency checkpoint and re-raise `exc` saying where, once: in its message
    (``str(exc)``; a note only when its message ignores its args), and as
    ``exc.checkpoint_path`` (None when the checkpoint could not be written)."""
    session.elapsed = time.perf_counter() - start
    path = None
    try:
        path = checkpoints.save_emergency(session)
        note = f"NetTrain wrote a checkpoint of the last completed batch to {path}"
    except Exception as failure:  # the user's exception matters more than ours
        note = f"NetTrain could not write a checkpoint: {failure}"
    exc.checkpoint_path = path
    if exc.args and isinstance(exc.args[0], str):
        exc.args = (f"{exc.args[0]} ({note})",) + exc.args[1:]
    else:
        exc.args = (note,) + exc.args
    try:
        shown = note in str(exc)
    except Exception:  # a user exception whose __str__ fails
        shown = False
    if not shown:
        exc.add_note(note)
    raise exc


def _results(session: Session, reason: str | None) -> NetTrainResults:
    trainer = session.trainer
    history = session.history
    if trainer.valid is not None and session.best["values"] is not None:
        trainer.restore_values(session.best["values"])
    net = trainer.trained_net()
    seconds = max(session.elapsed, 1e-9)
    batches = len(history["BatchLossList"])
    examples = session.examples
    optimizer = trainer.optimizer
    total = max((session.limit or 10) * len(trainer.bounds), session.t)  # as the steps saw it
    return NetTrainResults(
        {
            "TrainedNet": net,
            "RoundLossList": list(history["RoundLossList"]),
            "BatchLossList": list(history["BatchLossList"]),
            "ValidationLossList": list(history["ValidationLossList"]),
            "RoundLoss": history["RoundLossList"][-1] if history["RoundLossList"] else None,
            "ValidationLoss": (
                history["ValidationLossList"][-1] if history["ValidationLossList"] else None
            ),
            "BestValidationRound": session.best["round"],
            "TotalTrainingTime": seconds,
            "ReasonTrainingStopped": reason or "MaxTrainingRoundsReached",
            "BatchSize": trainer.batch_size,
            "BatchesPerRound": len(trainer.bounds),
            "TotalRounds": session.round,
            "TotalBatches": batches,
            "ExamplesProcessed": examples,
            "MeanBatchesPerSecond": batches / seconds,
            "MeanInputsPerSecond": examples / seconds,
            "TrainingExamples": trainer.n,
            "ValidationExamples": (
                len(next(iter(trainer.valid.values()))) if trainer.valid is not None else 0
            ),
            "OptimizationMethod": trainer.method,
            "InitialLearningRate": optimizer.learning_rate(1, max(total, 1)),
            "FinalLearningRate": optimizer.learning_rate(max(session.t, 1), max(total, 1)),
            "ArraysLearningRateMultipliers": dict(trainer.net_multipliers),
            "CheckpointingFiles": list(session.files),
            "DivergenceReason": getattr(session, "diverged", None),
            **_measurement_results(session),
        },
        {m.key: m.labels for m in trainer.meter.measures if m.labels},
    )


def _measurement_results(session: Session) -> dict:
    """RoundMeasurements(Lists) and ValidationMeasurements(Lists): dicts key -> value / list."""
    meter = session.trainer.meter
    rounds = [meter.values(acc) for acc in session.measure_history["Round"]]
    losses = session.history["RoundLossList"][len(session.history["RoundLossList"]) - len(rounds) :]
    for values, loss in zip(rounds, losses):
        values["Loss"] = loss  # exactly the RoundLossList entry
    valid = [meter.values(acc) for acc in session.measure_history["Validation"]]
    keys = meter.keys()
    return {
        "RoundMeasurements": rounds[-1] if rounds else None,
        "ValidationMeasurements": valid[-1] if valid else None,
        "RoundMeasurementsLists": {k: [v[k] for v in rounds] for k in keys},
        "ValidationMeasurementsLists": (
            {k: [v[k] for v in valid] for k in keys} if session.trainer.valid is not None else {}
        ),
    }
