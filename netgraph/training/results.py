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
}


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
    names = sorted(set(PROPERTIES) | set(ALIASES) | {"LossEvolutionPlot", "Properties"})
    for name in prop if isinstance(prop, (list, tuple)) else [prop]:
        if not isinstance(name, str) or name not in names:
            raise NetOptionError(
                f"NetTrain: unknown results property {name!r}." + did_you_mean(name, names)
            )


class NetTrainResults:
    """What a training run produced: `results["TrainedNet"]`, `results["RoundLossList"]`, ...

    Lists are plain Python lists; `"LossEvolutionPlot"` draws a matplotlib figure on demand.
    """

    def __init__(self, values: dict):
        self._values = values

    def properties(self) -> list[str]:
        return sorted(set(self._values) | {"LossEvolutionPlot", "Properties"} | set(ALIASES))

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
        if prop not in self._values:
            raise NetOptionError(
                f"NetTrain results have no property {prop!r}."
                + did_you_mean(prop, self.properties())
            )
        return self._values[prop]

    def __contains__(self, prop: str) -> bool:
        return ALIASES.get(prop, prop) in self._values or prop in (
            "LossEvolutionPlot",
            "Properties",
        )

    def keys(self) -> list[str]:
        return self.properties()

    def loss_plot(self):
        try:
            import matplotlib

            matplotlib.use("Agg") if not _interactive() else None
            import matplotlib.pyplot as plt
        except ImportError:
            raise NetOptionError(
                'the loss plot needs matplotlib: pip install "netgraph[plot]".'
            ) from None
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


def _number(x: float | None) -> str:
    return "-" if x is None else f"{x:.5g}"


def _interactive() -> bool:
    import os

    return bool(os.environ.get("DISPLAY")) or "ipykernel" in __import__("sys").modules
