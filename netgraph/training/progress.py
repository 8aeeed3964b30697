"""TrainingProgressReporting: a tqdm bar on a terminal, a line per round otherwise, or nothing.

Forms: Automatic (bar when stderr is a terminal, else "Print"), "ProgressBar", "Print", None,
or a function called after each round with a dict of the round's numbers.
"""

from __future__ import annotations

import sys
from typing import Any

from netgraph.errors import NetOptionError, did_you_mean


class Reporter:
    """The silent reporter; the others override what they show."""

    def start(self, rounds: int | None, batches: int) -> None: ...

    def batch(self, info: dict) -> None: ...

    def round(self, info: dict) -> None: ...

    def close(self) -> None: ...


def _fmt_round(info: dict) -> str:
    text = f"round {info['round']}"
    if info.get("rounds"):
        text += f"/{info['rounds']}"
    text += f"  loss {info['loss']:.5g}" + _fmt_measures(info.get("measurements"), "")
    if info.get("validation_loss") is not None:
        text += f"  validation loss {info['validation_loss']:.5g}"
        text += _fmt_measures(info.get("validation_measurements"), "validation ")
    return text + f"  ({info['seconds']:.1f} s)"


def _fmt_measures(values: dict | None, prefix: str) -> str:
    """The round's single-number measurements besides the loss ("ErrorRate 0.031")."""
    return "".join(
        f"  {prefix}{k} {v:.4g}"
        for k, v in (values or {}).items()
        if k != "Loss" and isinstance(v, float)
    )


class PrintReporter(Reporter):
    def __init__(self, stream=None):
        self.stream = stream or sys.stderr

    def round(self, info: dict) -> None:
        print(_fmt_round(info), file=self.stream, flush=True)


class BarReporter(Reporter):
    """A tqdm bar over batches, showing the running loss and the last validation loss."""

    def __init__(self):
        self.bar = None
        self.validation = None

    def start(self, rounds: int | None, batches: int) -> None:
        from tqdm.auto import tqdm

        total = rounds * batches if rounds else None
        self.bar = tqdm(total=total, unit="batch", desc="NetTrain", dynamic_ncols=True, leave=True)

    def batch(self, info: dict) -> None:
        post = {"round": info["round"], "loss": f"{info['loss']:.4g}"}
        if self.validation is not None:
            post["val"] = f"{self.validation:.4g}"
        self.bar.set_postfix(post, refresh=False)
        self.bar.update(1)

    def round(self, info: dict) -> None:
        self.validation = info.get("validation_loss")
        if info.get("rounds") and self.bar.total != info["rounds"] * info["batches"]:
            self.bar.total = info["rounds"] * info["batches"]
            self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class FunctionReporter(Reporter):
    def __init__(self, f):
        self.f = f

    def round(self, info: dict) -> None:
        self.f(dict(info))


def reporter(option: Any) -> Reporter:
    from netgraph.values import Automatic

    if option is None:
        return Reporter()
    if option is Automatic:
        return BarReporter() if sys.stderr.isatty() else PrintReporter()
    if isinstance(option, str) and option == "ProgressBar":
        return BarReporter()
    if isinstance(option, str) and option == "Print":
        return PrintReporter()
    if callable(option):
        return FunctionReporter(option)
    raise NetOptionError(
        'TrainingProgressReporting should be Automatic, "ProgressBar", "Print", None or a '
        f"function, got {option!r}."
    )


class ProgressFunction:
    """TrainingProgressFunction: `f`, or `(f, {"Interval": interval})`.

    Interval: "Batch" (the default: after every batch), "Round" (after every round, with the
    round's loss and measurements), n (every n batches), ("Batches", n) or ("Rounds", n).
    f gets a dict with Wolfram's keys ("Round", "Batch", "AbsoluteBatch", "BatchesPerRound",
    "BatchSize", "BatchLoss", "RoundLoss", "ValidationLoss", "RoundMeasurements",
    "ValidationMeasurements", "ExamplesProcessed", "Event", "TimeElapsed", "LearningRate",
    "ProgressFraction", "Net") and the older "round",
    "batch", "loss", "rounds"; returning "StopTraining" ends training after that batch or round
    (ReasonTrainingStopped "ProgressFunction"; a partial round counts as a round).

    >>> import numpy as np, netgraph as ng
    >>> x = np.random.default_rng(0).normal(size=(32, 2))
    >>> def stop_at_round_2(info):
    ...     return "StopTraining" if info["Round"] == 2 else None
    >>> results = ng.NetTrain(ng.LinearLayer(1, Input=2), (x, x[:, :1]), "All", BatchSize=8,
    ...                       TrainingProgressFunction=(stop_at_round_2, {"Interval": "Round"}),
    ...                       TrainingProgressReporting=None)
    >>> results["TotalRounds"], results["ReasonTrainingStopped"]
    (2, 'ProgressFunction')
    """

    def __init__(self, f, unit: str = "Batches", every: int = 1):
        self.f, self.unit, self.every = f, unit, every

    def due(self, unit: str, count: int) -> bool:
        return unit == self.unit and count % self.every == 0


def progress_function(option: Any) -> ProgressFunction | None:
    if option is None:
        return None
    if callable(option):
        return ProgressFunction(option)
    bad = NetOptionError(
        'TrainingProgressFunction should be a function f or (f, {"Interval": interval}) with '
        'interval "Batch", "Round", a number of batches, ("Batches", n) or ("Rounds", n), '
        f"got {option!r:.80}."
    )
    if not (
        isinstance(option, (tuple, list))
        and len(option) == 2
        and callable(option[0])
        and isinstance(option[1], dict)
        and set(option[1]) == {"Interval"}
    ):
        raise bad
    interval = option[1]["Interval"]
    if isinstance(interval, str) and interval in ("Batch", "Round"):
        return ProgressFunction(option[0], "Batches" if interval == "Batch" else "Rounds")
    if isinstance(interval, (tuple, list)) and len(interval) == 2:
        unit, every = interval
    else:
        unit, every = "Batches", interval
    if (
        unit not in ("Batches", "Rounds")
        or isinstance(every, bool)
        or not isinstance(every, int)
        or every < 1
    ):
        raise bad
    return ProgressFunction(option[0], unit, every)


class UnknownProgressKey(NetOptionError, KeyError):
    """A key the TrainingProgressFunction association does not have (a KeyError too)."""

    __str__ = NetOptionError.__str__


class ProgressInfo(dict):
    """What a TrainingProgressFunction receives. "Net" (the current net) is built only when
    the function reads it (or lists the values); it is among the keys all the same."""

    def __init__(self, values: dict, net):
        super().__init__(values)
        self._net = net

    def __missing__(self, key):
        if key == "Net":
            self["Net"] = value = self._net()
            return value
        keys = list(self)
        raise UnknownProgressKey(
            f"TrainingProgressFunction: the association has no key {key!r} (keys: "
            f"{', '.join(map(str, keys))})." + did_you_mean(str(key), keys)
        )

    def __contains__(self, key) -> bool:
        return key == "Net" or super().__contains__(key)

    def __iter__(self):
        yield from super().__iter__()
        if not super().__contains__("Net"):
            yield "Net"

    def __len__(self) -> int:
        return super().__len__() + (not super().__contains__("Net"))

    def keys(self):
        return list(self)

    def values(self):
        return [self[k] for k in self]

    def items(self):
        return [(k, self[k]) for k in self]

    def get(self, key, default=None):
        return self[key] if key in self else default
