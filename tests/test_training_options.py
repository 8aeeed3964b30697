"""NetTrain options, the results object, progress reporting, stopping and divergence."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from training_check import QUIET, arrays, assert_same_arrays, assert_same_run, linear

import netgraph as ng

RNG = np.random.default_rng(31)
X = RNG.normal(size=(12, 3))
Y = X @ RNG.normal(size=(3, 2)) + 0.1 * RNG.normal(size=(12, 2))
BASE = {**QUIET, "BatchSize": 4, "RandomSeeding": 9}


def net() -> ng.NetChain:
    return ng.NetChain([ng.LinearLayer(5), "Tanh", ng.LinearLayer(2)], Input=3)


def train(prop="All", data=(X, Y), model=None, **options):
    return ng.NetTrain(net() if model is None else model, data, prop, **{**BASE, **options})


# ------------------------------------------------------------------ BatchSize, rounds


def test_batch_size_defaults_to_64():
    x = RNG.normal(size=(100, 3))
    y = RNG.normal(size=(100, 2))
    results = ng.NetTrain(net(), (x, y), "All", MaxTrainingRounds=1, **QUIET)
    assert results["BatchSize"] == 64
    assert results["BatchesPerRound"] == 2  # 64 + 36
    assert len(results["BatchLossList"]) == 2


def test_batch_size_larger_than_the_data_uses_all_of_it_with_a_warning():
    x, y = X[:5], Y[:5]
    with pytest.warns(UserWarning, match=r"BatchSize 64 .* 5 training examples"):
        results = ng.NetTrain(net(), (x, y), "All", MaxTrainingRounds=2, **QUIET)
    assert results["BatchSize"] == 5
    assert results["BatchesPerRound"] == 1
    with pytest.warns(UserWarning, match="BatchSize 9"):
        ng.NetTrain(net(), (x, y), MaxTrainingRounds=1, BatchSize=9, **QUIET)


@pytest.mark.parametrize("rounds", [1, 3])
def test_max_training_rounds(rounds):
    results = train(MaxTrainingRounds=rounds)
    assert len(results["RoundLossList"]) == rounds == results["TotalRounds"]
    assert len(results["BatchLossList"]) == 3 * rounds == results["TotalBatches"]
    assert results["ReasonTrainingStopped"] == "MaxTrainingRoundsReached"
    assert results["ExamplesProcessed"] == 12 * rounds


def test_round_loss_is_the_mean_of_its_batch_losses():
    results = train(MaxTrainingRounds=2, BatchSize=5)  # batches 5, 7 (a final 2 stays)
    assert results["BatchesPerRound"] == 3
    batch = results["BatchLossList"]
    sizes = [5, 5, 2]
    for r in range(2):
        part = batch[3 * r : 3 * r + 3]
        expected = sum(loss * n for loss, n in zip(part, sizes)) / 12
        assert results["RoundLossList"][r] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    "name, value",
    [
        ("BatchSize", 0),
        ("BatchSize", -1),
        ("BatchSize", 2.5),
        ("BatchSize", "64"),
        ("BatchSize", True),
        ("MaxTrainingRounds", 0),
        ("MaxTrainingRounds", -1),
        ("MaxTrainingRounds", 2.5),
        ("MaxTrainingRounds", "64"),
        ("TimeGoal", -1),
        ("TimeGoal", float("nan")),
        ("RandomSeeding", None),
        ("RandomSeeding", 1.5),
        ("WorkingPrecision", "Real16"),
        ("TrainingProgressReporting", "Bar"),
        ("TrainingProgressFunction", 3),
        ("TrainingProgressCheckpointing", "somewhere"),
        ("TrainingStoppingCriterion", {"Patiense": 2}),
        ("ValidationSet", ng.Scaled(1.5)),
        ("ResumeFrom", 12),
    ],
)
def test_bad_option_values_raise_before_training(name, value):
    calls = []
    options = {"MaxTrainingRounds": 1, "TrainingProgressFunction": calls.append, name: value}
    with pytest.raises(ng.NetOptionError) as info:
        train(**options)
    assert calls == []
    if name in ("BatchSize", "MaxTrainingRounds"):
        assert "positive machine-sized integer" in str(info.value)
        assert repr(value) in str(info.value)


def test_unknown_option_suggests_the_right_name():
    with pytest.raises(ng.NetOptionError, match=r"'MaxTrainingRound'.*Did you mean \"MaxTrain"):
        train(MaxTrainingRound=1)
    with pytest.raises(ng.NetOptionError, match="Lossfunction"):
        train(Lossfunction=ng.MeanSquaredLossLayer())


def test_target_device():
    with pytest.raises(ng.NetOptionError, match="GPU"):
        train(MaxTrainingRounds=1, TargetDevice="GPU")
    assert train(MaxTrainingRounds=1, TargetDevice="CPU")["TotalRounds"] == 1


def test_snake_case_option_names():
    camel = train(MaxTrainingRounds=2, LearningRate=0.01, Method="SGD")
    snake = ng.NetTrain(
        net(),
        (X, Y),
        "All",
        max_training_rounds=2,
        learning_rate=0.01,
        method="SGD",
        batch_size=4,
        random_seeding=9,
        training_progress_reporting=None,
    )
    assert_same_run(camel, snake)


@pytest.mark.parametrize("precision, dtype", [("Real64", np.float64), ("Real32", np.float32)])
def test_working_precision(precision, dtype):
    trained = train("TrainedNet", MaxTrainingRounds=1, WorkingPrecision=precision)
    for value in arrays(trained).values():
        assert value.dtype == dtype


# ------------------------------------------------------------------------ ValidationSet


def test_validation_set_as_data_and_best_round():
    """Validation targets follow another rule than the training targets, so the validation
    loss turns up again while training continues; the returned net is the one of the best
    validation round, which equals a run stopped after that round (deterministic)."""
    xv = RNG.normal(size=(6, 3))
    yv = -(xv @ RNG.normal(size=(3, 2)))
    options = {"MaxTrainingRounds": 12, "LearningRate": 0.05}
    results = train(ValidationSet=(xv, yv), **options)
    losses = results["ValidationLossList"]
    assert len(losses) == 12 == len(results["RoundLossList"])
    best = results["BestValidationRound"]
    assert losses[best - 1] == min(losses)
    assert 1 <= best < 12  # the test needs a best round before the last
    stopped = train("TrainedNet", MaxTrainingRounds=best, LearningRate=0.05)
    assert_same_arrays(results["TrainedNet"], stopped)
    # the validation loss is the mean loss of that net over the validation examples
    predicted = results["TrainedNet"](xv).astype(float)
    np.testing.assert_allclose(losses[best - 1], np.mean((predicted - yv) ** 2), rtol=1e-5)
    assert results["ValidationExamples"] == 6 and results["TrainingExamples"] == 12


def test_validation_set_as_a_fraction():
    x = RNG.normal(size=(20, 3))
    y = RNG.normal(size=(20, 2))
    results = train(data=(x, y), ValidationSet=ng.Scaled(0.2), MaxTrainingRounds=3)
    assert results["ValidationExamples"] == 4 and results["TrainingExamples"] == 16
    assert len(results["ValidationLossList"]) == 3
    assert results["BatchesPerRound"] == 4  # 16 training examples in batches of 4
    assert all(math.isfinite(v) for v in results["ValidationLossList"])


def test_no_validation_set():
    results = train(MaxTrainingRounds=2)
    assert results["ValidationLossList"] == [] and results["BestValidationRound"] is None


# ------------------------------------------------------------------------- RandomSeeding


def test_random_seeding_is_reproducible():
    model = ng.NetChain([ng.LinearLayer(6), ng.DropoutLayer(0.3), ng.LinearLayer(2)], Input=3)
    a = train(model=model, MaxTrainingRounds=3, RandomSeeding=5)
    b = train(model=model, MaxTrainingRounds=3, RandomSeeding=5)
    c = train(model=model, MaxTrainingRounds=3, RandomSeeding=6)
    assert_same_run(a, b)
    assert a["BatchLossList"] != c["BatchLossList"]
    assert not np.array_equal(
        arrays(a["TrainedNet"])[(0, "Weights")], arrays(c["TrainedNet"])[(0, "Weights")]
    )


@pytest.mark.parametrize("seed", [-3, 2**70, "experiment"])
def test_any_integer_or_string_seeds(seed):
    assert_same_run(
        train(MaxTrainingRounds=1, RandomSeeding=seed),
        train(MaxTrainingRounds=1, RandomSeeding=seed),
    )


def test_random_seeding_automatic_is_deterministic():
    a = train(MaxTrainingRounds=2, RandomSeeding=ng.Automatic)
    b = train(MaxTrainingRounds=2, RandomSeeding=ng.Automatic)
    assert_same_run(a, b)


def test_seed_changes_the_shuffle_of_an_initialized_net():
    model = ng.NetInitialize(net(), RandomSeeding=1)
    a = train(model=model, MaxTrainingRounds=1, RandomSeeding=1)
    b = train(model=model, MaxTrainingRounds=1, RandomSeeding=2)
    assert a["BatchLossList"][0] != b["BatchLossList"][0]  # other first batch, same arrays


# -------------------------------------------------------------------------- reporting


def test_reporting_none_is_silent(capsys):
    train(MaxTrainingRounds=2)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_reporting_print_prints_a_line_per_round(capsys):
    train(MaxTrainingRounds=3, TrainingProgressReporting="Print")
    captured = capsys.readouterr()
    lines = [line for line in (captured.out + captured.err).splitlines() if line.strip()]
    assert len(lines) == 3
    assert lines[0].startswith("round 1/3") and "loss" in lines[0]


def test_reporting_automatic_prints_when_not_on_a_terminal(capsys):
    train(MaxTrainingRounds=2, TrainingProgressReporting=ng.Automatic)
    captured = capsys.readouterr()
    assert captured.err.count("round ") == 2


def test_reporting_progress_bar(capsys):
    train(MaxTrainingRounds=2, TrainingProgressReporting="ProgressBar")
    captured = capsys.readouterr()
    assert "NetTrain" in captured.err and "6/6" in captured.err


def test_reporting_function_is_called_per_round():
    seen = []
    results = train(MaxTrainingRounds=3, TrainingProgressReporting=seen.append)
    assert [info["round"] for info in seen] == [1, 2, 3]
    assert [info["loss"] for info in seen] == results["RoundLossList"]


def test_progress_function_is_called_after_each_batch():
    seen = []
    results = train(MaxTrainingRounds=2, TrainingProgressFunction=seen.append)
    assert [(i["round"], i["batch"]) for i in seen] == [(r, b) for r in (1, 2) for b in (1, 2, 3)]
    assert [i["loss"] for i in seen] == results["BatchLossList"]


# ----------------------------------------------------------------------------- stopping


def test_stopping_criterion_with_patience():
    # no round improves the loss by 100, so training stops Patience + 1 rounds after round 1
    results = train(
        MaxTrainingRounds=50,
        TrainingStoppingCriterion={"Patience": 2, "Improvement": ("AbsoluteChange", 100.0)},
    )
    assert results["ReasonTrainingStopped"] == "StoppingCriterionReached"
    assert len(results["RoundLossList"]) == 4


def test_stopping_criterion_loss_stops_at_the_first_worse_round():
    results = train(MaxTrainingRounds=60, LearningRate=0.3, TrainingStoppingCriterion="Loss")
    losses = results["RoundLossList"]
    assert results["ReasonTrainingStopped"] == "StoppingCriterionReached"
    assert losses[-1] >= min(losses[:-1])  # the last round did not improve
    assert all(b < a for a, b in zip(losses[:-2], losses[1:-1]))  # every earlier one did


def test_stopping_criterion_uses_the_validation_loss():
    xv = RNG.normal(size=(6, 3))
    yv = -(xv @ RNG.normal(size=(3, 2)))
    results = train(
        MaxTrainingRounds=40,
        LearningRate=0.05,
        ValidationSet=(xv, yv),
        TrainingStoppingCriterion={"Patience": 1},
    )
    v = results["ValidationLossList"]
    assert results["ReasonTrainingStopped"] == "StoppingCriterionReached"
    assert min(v[-2:]) >= min(v[:-2])  # the last two rounds did not improve on the best


def test_time_goal():
    results = train(TimeGoal=0.2, MaxTrainingRounds=10**6)
    assert results["ReasonTrainingStopped"] == "TimeGoalReached"
    assert 0.2 <= results["TotalTrainingTime"] < 2.0
    assert len(results["RoundLossList"]) >= 1


# ---------------------------------------------------------------------------- results


def test_results_properties():
    results = train(MaxTrainingRounds=3, ValidationSet=(X[:4], Y[:4]))
    assert isinstance(results["TrainedNet"], ng.NetChain)
    for name in ("RoundLossList", "ValidationLossList"):
        assert len(results[name]) == 3 and all(isinstance(v, float) for v in results[name])
    assert len(results["BatchLossList"]) == 9
    seconds = results["TotalTrainingTime"]
    assert isinstance(seconds, float) and seconds > 0
    assert results["ReasonTrainingStopped"] == "MaxTrainingRoundsReached"
    assert results["BatchSize"] == 4
    assert results["MeanBatchesPerSecond"] == pytest.approx(9 / seconds, rel=1e-9)
    assert results["MeanInputsPerSecond"] == pytest.approx(36 / seconds, rel=1e-9)
    assert results["MeanExamplesPerSecond"] == results["MeanInputsPerSecond"]
    assert results["RoundLoss"] == results["RoundLossList"][-1]
    import matplotlib.figure
    import matplotlib.pyplot as plt

    for name in ("LossEvolutionPlot", "LossPlot"):
        figure = results[name]
        assert isinstance(figure, matplotlib.figure.Figure)
        plt.close(figure)
    for name in results["Properties"]:
        if name not in ("LossEvolutionPlot", "LossPlot"):
            results[name]  # every listed property answers
    with pytest.raises(ng.NetOptionError, match='Did you mean "RoundLossList"'):
        results["RoundLossLst"]
    assert "NetTrainResults(" in repr(results)


def test_property_arguments():
    losses = train("RoundLossList", MaxTrainingRounds=2)
    assert isinstance(losses, list) and len(losses) == 2
    both = train(["RoundLossList", "BatchSize"], MaxTrainingRounds=2)
    assert both == [losses, 4]
    assert isinstance(train(ng.All, MaxTrainingRounds=1), ng.NetTrainResults)
    assert isinstance(train(None, MaxTrainingRounds=1), ng.NetChain)


def test_unknown_property_fails_before_training():
    calls = []
    with pytest.raises(ng.NetOptionError, match='Did you mean "BatchLossList"'):
        train("BatchLosList", MaxTrainingRounds=1, TrainingProgressFunction=calls.append)
    assert calls == []


# -------------------------------------------------------------------------- divergence


def test_divergence_returns_the_last_finite_net():
    """SGD with a huge learning rate on a LinearLayer, one full batch per round: the loss grows
    by orders of magnitude each step until it overflows float32."""
    w = RNG.normal(size=(2, 3)).astype(np.float32)
    model = linear(w, np.zeros(2, np.float32))
    options = {"Method": "SGD", "LearningRate": 50.0, "BatchSize": 12}
    results = train(model=model, MaxTrainingRounds=500, **options)
    assert results["ReasonTrainingStopped"] == "Diverged"
    steps = len(results["BatchLossList"])
    assert 2 <= steps < 100
    assert all(math.isfinite(v) for v in results["BatchLossList"])
    for value in arrays(results["TrainedNet"]).values():
        assert np.isfinite(value).all()
    # the returned net is the one after the last finite step
    before = train(model=model, MaxTrainingRounds=steps, **options)
    assert before["ReasonTrainingStopped"] == "MaxTrainingRoundsReached"
    assert_same_arrays(results["TrainedNet"], before["TrainedNet"])
    assert np.abs(arrays(before["TrainedNet"])[("Weights",)]).max() > 1e10
    np.testing.assert_array_equal(arrays(model)[("Weights",)], w)  # the given net is intact


def test_divergence_in_batchnorm_statistics_stops_training():
    model = ng.NetChain([ng.LinearLayer(2), ng.BatchNormalizationLayer()], Input=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        results = train(
            model=model, MaxTrainingRounds=200, Method="SGD", LearningRate=1e18, BatchSize=12
        )
    assert results["ReasonTrainingStopped"] == "Diverged"
    for value in arrays(results["TrainedNet"]).values():
        assert np.isfinite(value).all()


def test_a_finite_step_that_overflows_an_array_is_divergence():
    """Weight 2e38, gradient -2 (finite loss 1e38), LearningRate 1e38: the step is finite but
    the new weight overflows float32; the step must not be applied."""
    model = linear(np.array([[2e38]], np.float32), np.zeros(1, np.float32))
    results = train(
        model=model,
        data=(np.array([[1e-19]]), np.array([[3e19]])),
        MaxTrainingRounds=3,
        BatchSize=1,
        Method="SGD",
        LearningRate=1e38,
        LearningRateMultipliers={"Biases": 0},
    )
    assert results["ReasonTrainingStopped"] == "Diverged"
    np.testing.assert_array_equal(arrays(results["TrainedNet"])[("Weights",)], np.float32([[2e38]]))


@pytest.mark.parametrize(
    "sub_options, words",
    [
        ({"GradientClipping": -1}, "GradientClipping"),
        ({"GradientClipping": 0}, "GradientClipping"),
        ({"L2Regularization": -0.1}, "L2Regularization"),
        ({"LearningRateSchedule": lambda t, n: float("nan")}, "not a finite number"),
    ],
)
def test_bad_sub_option_values_are_refused_before_training(sub_options, words):
    net = ng.LinearLayer(2, Input=3)
    x = np.ones((4, 3))
    with pytest.raises(ng.NetOptionError, match=words):
        ng.NetTrain(
            net,
            (x, np.ones((4, 2))),
            Method=("SGD", sub_options),
            MaxTrainingRounds=1,
            BatchSize=4,
            TrainingProgressReporting=None,
        )


@pytest.mark.parametrize("patience", ["a", -1, 1.5])
def test_bad_patience_is_refused(patience):
    net = ng.LinearLayer(2, Input=3)
    x = np.ones((4, 3))
    with pytest.raises(ng.NetOptionError, match="Patience"):
        ng.NetTrain(
            net,
            (x, np.ones((4, 2))),
            MaxTrainingRounds=1,
            TrainingProgressReporting=None,
            BatchSize=4,
            TrainingStoppingCriterion={"Patience": patience},
        )
