"""The results of `NetTrain(net, data, "All")`, with Wolfram's property names."""

from __future__ import annotations

import html
from typing import Any

from netgraph.errors import NetOptionError, did_you_mean

ALIASES = {
    "LossPlot": "LossEvolutionPlot",
    "MeanExamplesPerSecond": "MeanInputsPerSecond",
    "FinalRoundLoss": "RoundLoss",
    "FinalValidationLoss": "ValidationLoss",
    "TotalInputs": "ExamplesProcessed",
    "EvolutionPlots": "FinalPlots",
}
COMPUTED = ("LossEvolutionPlot", "FinalPlots", "Properties")  # made on demand


PROPERTIES = (
    "TrainedNet",
    "RoundLossList",
    "BatchLossList",
    "ValidationLossList",
    "RoundLoss",
    "ValidationLoss",
    "BestValidationRound",
    "TotalTrainingTime",
    "ReasonTrainingStopped",
    "BatchSize",
    "BatchesPerRound",
    "TotalRounds",
    "TotalBatches",
    "ExamplesProcessed",
    "MeanBatchesPerSecond",
    "MeanInputsPerSecond",
    "TrainingExamples",
    "ValidationExamples",
    "OptimizationMethod",
    "InitialLearningRate",
    "FinalLearningRate",
    "ArraysLearningRateMultipliers",
    "CheckpointingFiles",
    "DivergenceReason",
    "RoundMeasurements",
    "ValidationMeasurements",
    "RoundMeasurementsLists",
    "ValidationMeasurementsLists",
)


def check_properties(prop: Any) -> None:
    """NetTrain's third argument: None, "All", a property name or a list of them."""
    from netgraph.values import All

    if prop is None or prop is All or (isinstance(prop, str) and prop == "All"):
        return
    if not isinstance(prop, (str, list, tuple)):
        raise NetOptionError(
            'NetTrain: the third argument should be a property name, a list of names or "All", '
            f"got {type(prop).__name__}."
        )
    names = sorted(set(PROPERTIES) | set(ALIASES) | set(COMPUTED))
    for name in prop if isinstance(prop, (list, tuple)) else [prop]:
        if not isinstance(name, str) or name not in names:
            raise NetOptionError(
                f"NetTrain: unknown results property {name!r}." + did_you_mean(name, names)
            )


class NetTrainResults:
    """What a training run produced: `results["TrainedNet"]`, `results["RoundLossList"]`, ...

    Lists are plain Python lists; `"LossEvolutionPlot"` draws a matplotlib figure on demand, and
    `"FinalPlots"` a dict measurement key -> figure of its evolution over the rounds.
    Measurements (TrainingProgressMeasurements) are dicts key -> value ("RoundMeasurements", for
    the last round) or key -> list per round ("RoundMeasurementsLists"); "Loss" is always one.

    >>> import numpy as np, netgraph as ng
    >>> x = np.random.default_rng(0).normal(size=(40, 2))
    >>> y = (x[:, 0] > 0).astype(int)
    >>> net = ng.NetChain([ng.LinearLayer(2), ng.SoftmaxLayer()], Input=2)
    >>> results = ng.NetTrain(net, (x, y), "All", MaxTrainingRounds=3, BatchSize=8,
    ...                       TrainingProgressReporting=None)
    >>> sorted(results["RoundMeasurements"])  # ErrorRate: added for a classifier
    ['ErrorRate', 'Loss']
    >>> len(results["RoundMeasurementsLists"]["ErrorRate"])
    3
    """

    def __init__(self, values: dict, class_labels: dict | None = None):
        self._values = values
        self._class_labels = dict(class_labels or {})  # measurement key -> decoder labels

    def properties(self) -> list[str]:
        return sorted(set(self._values) | set(COMPUTED) | set(ALIASES))

    def __getitem__(self, prop: str) -> Any:
        if not isinstance(prop, str):
            raise NetOptionError(
                f"NetTrain results properties are names (strings), got {type(prop).__name__}."
            )
        prop = ALIASES.get(prop, prop)
        if prop == "Properties":
            return self.properties()
        if prop == "LossEvolutionPlot":
            return self.loss_plot()
        if prop == "FinalPlots":
            return self.final_plots()
        if prop not in self._values:
            raise NetOptionError(
                f"NetTrain results have no property {prop!r}."
                + did_you_mean(prop, self.properties())
            )
        return self._values[prop]

    def __contains__(self, prop: str) -> bool:
        return ALIASES.get(prop, prop) in self._values or ALIASES.get(prop, prop) in COMPUTED

    def keys(self) -> list[str]:
        return self.properties()

    def loss_plot(self):
        plt = _pyplot("the loss plot")
        fig, ax = plt.subplots(figsize=(6, 3.5))
        batches = self._values["BatchLossList"]
        per_round = max(1, self._values["BatchesPerRound"])
        if batches:
            ax.plot(
                [(i + 1) / per_round for i in range(len(batches))],
                batches,
                color="#c8d6e5",
                lw=0.8,
                label="batch loss",
            )
        rounds = list(range(1, len(self._values["RoundLossList"]) + 1))
        ax.plot(rounds, self._values["RoundLossList"], "o-", color="#1f77b4", label="round loss")
        if self._values["ValidationLossList"]:
            ax.plot(
                rounds[: len(self._values["ValidationLossList"])],
                self._values["ValidationLossList"],
                "s-",
                color="#d62728",
                label="validation loss",
            )
        ax.set_xlabel("round")
        ax.set_ylabel("loss")
        if all(v > 0 for v in batches + self._values["RoundLossList"]):
            ax.set_yscale("log")
        ax.legend()
        fig.tight_layout()
        return fig

    def final_plots(self) -> dict:
        """Measurement key -> a figure of its value per round (training and validation);
        per-class measurements get a line per class; "ConfusionMatrix" the last round's
        counts."""
        plt = _pyplot("FinalPlots")
        rounds = self._values.get("RoundMeasurementsLists") or {}
        valid = self._values.get("ValidationMeasurementsLists") or {}
        plots = {}
        for key, values in rounds.items():
            fig, ax = plt.subplots(figsize=(6, 3.5))
            if values and isinstance(values[-1], dict):
                for c in values[-1]:
                    ax.plot(_x(values), [v[c] for v in values], "o-", label=f"class {c}")
            elif values and not isinstance(values[-1], float):
                image = ax.imshow(values[-1], cmap="Blues")
                fig.colorbar(image, ax=ax)
                ticks = range(len(values[-1]))  # one tick per class, not -0.5, -0.25, ...
                names = [str(c) for c in getattr(self, "_class_labels", {}).get(key, ticks)]
                ax.set_xticks(ticks, names)
                ax.set_yticks(ticks, names)
                ax.set_xlabel("predicted class")
                ax.set_ylabel("true class")
            else:
                ax.plot(_x(values), values, "o-", color="#1f77b4", label="training")
                if valid.get(key):
                    ax.plot(_x(valid[key]), valid[key], "s-", color="#d62728", label="validation")
            if values and not hasattr(values[-1], "shape"):
                ax.xaxis.get_major_locator().set_params(integer=True)  # rounds are whole
                ax.set_xlabel("round")
                ax.set_ylabel(key)
                ax.legend()
            ax.set_title(key)
            fig.tight_layout()
            plots[key] = fig
        return plots

    def _summary(self) -> dict:
        v = self._values
        return {
            "rounds": v["TotalRounds"],
            "batches": v["TotalBatches"],
            "batch size": v["BatchSize"],
            "final loss": _number(v["RoundLoss"]),
            "validation loss": _number(v["ValidationLoss"]),
            "time": f"{v['TotalTrainingTime']:.2f} s",
            "stopped": v["ReasonTrainingStopped"],
        }

    def __repr__(self) -> str:
        return "NetTrainResults(" + ", ".join(f"{k}: {x}" for k, x in self._summary().items()) + ")"

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
            f"<td style='text-align:left'>{html.escape(str(x))}</td></tr>"
            for k, x in self._summary().items()
        )
        table = f"<table><caption>NetTrain results</caption>{rows}</table>"
        return table + self._plot_html()

    def _plot_html(self) -> str:
        """The loss evolution plot as an inline PNG (nothing when matplotlib is missing)."""
        try:
            figure = self.loss_plot()
        except NetOptionError:
            return ""
        import base64
        import io

        import matplotlib.pyplot as plt

        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=80)
        plt.close(figure)  # a notebook would otherwise show it a second time
        data = base64.b64encode(buffer.getvalue()).decode("ascii")
        return f"<img alt='loss evolution' src='data:image/png;base64,{data}'/>"


def _x(values: list) -> list:
    return list(range(1, len(values) + 1))


def _pyplot(what: str):
    try:
        import matplotlib

        matplotlib.use("Agg") if not _interactive() else None
        import matplotlib.pyplot as plt
    except ImportError:
        raise NetOptionError(f'{what} needs matplotlib: pip install "netgraph[plot]".') from None
    return plt


def _number(x: float | None) -> str:
    return "-" if x is None else f"{x:.5g}"


def _interactive() -> bool:
    import os

    return bool(os.environ.get("DISPLAY")) or "ipykernel" in __import__("sys").modules
