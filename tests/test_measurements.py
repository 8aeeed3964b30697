"""TrainingProgressMeasurements, the measurement results properties, measurement stopping
criteria, TrainingProgressFunction intervals and keys, and ng.NetMeasurements.

Every expected value is a plain numpy formula over the test's own arrays.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

import netgraph as ng
from tests.training_check import QUIET

RNG = np.random.default_rng(7)
W = RNG.normal(size=(3, 2))
B = RNG.normal(size=3) * 0.1
X = RNG.normal(size=(23, 2))
Y = RNG.integers(0, 3, 23)
XV = RNG.normal(size=(9, 2))
YV = RNG.integers(0, 3, 9)


def classifier() -> ng.Layer:
    return ng.NetChain(
        [ng.LinearLayer(3, Weights=W, Biases=B, Input=2), ng.SoftmaxLayer()], Input=2
    )


def probabilities(x: np.ndarray) -> np.ndarray:
    z = x @ W.T + B
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def counts(y: np.ndarray, predicted: np.ndarray, classes: int = 3) -> np.ndarray:
    m = np.zeros((classes, classes), int)
    np.add.at(m, (y, predicted), 1)
    return m


def frozen_train(net, data, *args, **options):
    """NetTrain with every array frozen: the net stays the one the test computes with."""
    options = {"BatchSize": 8, **QUIET, **options}
    with pytest.warns(UserWarning, match="frozen"):
        return ng.NetTrain(net, data, *args, LearningRateMultipliers=0, **options)


# --------------------------------------------------------------------- NetMeasurements


def test_per_class_values_are_keyed_by_class_decoder_labels():
    labels = ["cat", "dog", "bird"]
    net = ng.NetChain(
        [ng.LinearLayer(3, Weights=W, Biases=B), ng.SoftmaxLayer()],
        Input=2,
        Output=ng.NetDecoder(("Class", labels)),
    )
    predicted = probabilities(X).argmax(axis=1)
    m = counts(Y, predicted)
    recall = {labels[c]: (m[c, c] / m[c].sum() if m[c].sum() else 0.0) for c in range(3)}
    targets = [labels[c] for c in Y]  # label targets through the decoder
    got = ng.NetMeasurements(net, {"Input": X, "Output": targets}, ["Recall", "Accuracy"])
    assert got[0] == pytest.approx(recall)
    assert got[1] == pytest.approx(np.mean(predicted == Y))


def test_classification_measurements_match_numpy():
    predicted = probabilities(X).argmax(axis=1)
    m = counts(Y, predicted)
    precision = [m[c, c] / m[:, c].sum() if m[:, c].sum() else 0.0 for c in range(3)]
    recall = [m[c, c] / m[c, :].sum() if m[c, :].sum() else 0.0 for c in range(3)]
    f1 = [2 * p * r / (p + r) if p + r else 0.0 for p, r in zip(precision, recall)]
    got = ng.NetMeasurements(
        classifier(),
        (X, Y),
        ["Accuracy", "ErrorRate", "ConfusionMatrix", "Precision", "Recall", "F1Score", "Loss"],
    )
    accuracy, error, confusion, prec, rec, f1score, loss = got
    assert accuracy == pytest.approx(np.mean(predicted == Y))
    assert error == pytest.approx(np.mean(predicted != Y))
    np.testing.assert_array_equal(confusion, m)
    assert prec == pytest.approx(dict(enumerate(precision)))
    assert rec == pytest.approx(dict(enumerate(recall)))
    assert f1score == pytest.approx(dict(enumerate(f1)))
    assert loss == pytest.approx(np.mean(-np.log(probabilities(X)[np.arange(23), Y])), rel=1e-5)
    assert isinstance(accuracy, float) and isinstance(loss, float)


def test_one_measurement_gives_a_value_and_a_list_gives_a_list():
    assert isinstance(ng.NetMeasurements(classifier(), (X, Y), "Accuracy"), float)
    assert len(ng.NetMeasurements(classifier(), (X, Y), ["Accuracy"])) == 1


def test_batch_size_does_not_change_the_values():
    spec = ["Accuracy", "ConfusionMatrix", "Loss", "F1Score"]
    whole = ng.NetMeasurements(classifier(), (X, Y), spec, BatchSize=100)
    small = ng.NetMeasurements(classifier(), (X, Y), spec, BatchSize=4)  # 23 = 5 * 4 + 3
    assert whole[0] == small[0]
    np.testing.assert_array_equal(whole[1], small[1])
    assert whole[2] == pytest.approx(small[2], rel=1e-6)
    assert whole[3] == pytest.approx(small[3])


def test_a_class_never_predicted_has_precision_zero():
    # class 2 gets a large negative bias: never predicted
    net = ng.NetChain(
        [
            ng.LinearLayer(3, Weights=np.eye(3)[:, :2], Biases=[0.0, 0.0, -100.0], Input=2),
            ng.SoftmaxLayer(),
        ]
    )
    x = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0]])
    y = np.array([0, 2, 2])
    precision, recall = ng.NetMeasurements(net, (x, y), ["Precision", "Recall"])
    # predictions 0, 1, 0: class 0 right once of twice, class 1 never right, class 2 never hit
    assert precision == {0: 0.5, 1: 0.0, 2: 0.0}
    assert recall == {0: 1.0, 1: 0.0, 2: 0.0}


def test_the_data_forms_of_nettrain_are_accepted():
    expected = ng.NetMeasurements(classifier(), (X, Y), "Accuracy")
    pairs = list(zip(list(X), list(Y)))
    assert ng.NetMeasurements(classifier(), pairs, "Accuracy") == expected
    assert ng.NetMeasurements(classifier(), {"Input": X, "Output": Y}, "Accuracy") == expected


def test_the_callers_data_is_not_changed():
    x, y = X.copy(), Y.copy()
    ng.NetMeasurements(classifier(), (x, y), ["Accuracy", "Loss"])
    np.testing.assert_array_equal(x, X)
    np.testing.assert_array_equal(y, Y)


def test_regression_measurements_match_numpy():
    w = RNG.normal(size=(2, 3))
    net = ng.LinearLayer(2, Weights=w, Biases=[0.5, -0.5], Input=3)
    x = RNG.normal(size=(11, 3))
    y = RNG.normal(size=(11, 2))
    diff = x @ w.T + np.array([0.5, -0.5]) - y
    square, deviation, loss = ng.NetMeasurements(
        net, (x, y), ["MeanSquare", "MeanDeviation", "Loss"], BatchSize=4
    )
    assert square == pytest.approx(np.mean(diff**2), rel=1e-5)
    assert deviation == pytest.approx(np.mean(np.abs(diff)), rel=1e-5)
    assert loss == pytest.approx(np.mean(diff**2), rel=1e-5)


def test_real64_is_closer_than_real32():
    w = np.array([[0.5, -0.25, 2.0]])  # exact in float32: only the data is rounded
    net = ng.LinearLayer(1, Weights=w, Biases=[0.0], Input=3)
    x = RNG.normal(size=(50, 3)) * 1e3
    y = x @ w.T - 1e-3
    value = ng.NetMeasurements(net, (x, y), "MeanDeviation", WorkingPrecision="Real64")
    assert value == pytest.approx(1e-3, rel=1e-6)
    value = ng.NetMeasurements(net, (x, y), "MeanDeviation")
    assert abs(value - 1e-3) > 1e-6


def test_probability_targets_use_the_largest_target_as_the_class():
    targets = np.eye(3)[Y] * 0.8 + 0.2 / 3
    accuracy = ng.NetMeasurements(classifier(), (X, targets), "Accuracy")
    assert accuracy == pytest.approx(np.mean(probabilities(X).argmax(axis=1) == Y))


def test_binary_targets_threshold_at_one_half():
    net = ng.NetChain(
        [
            ng.LinearLayer(1, Weights=[[2.0]], Biases=[-1.0], Input=1),
            ng.ElementwiseLayer("LogisticSigmoid"),
        ]
    )
    x = np.array([[0.0], [1.0], [2.0], [0.4], [0.6]])
    y = np.array([[0.0], [1.0], [0.0], [1.0], [1.0]])
    predicted = (1 / (1 + np.exp(-(2 * x - 1))) > 0.5).astype(int).ravel()
    accuracy, confusion = ng.NetMeasurements(net, (x, y), ["Accuracy", "ConfusionMatrix"])
    assert accuracy == pytest.approx(np.mean(predicted == y.ravel()))
    np.testing.assert_array_equal(confusion, counts(y.ravel().astype(int), predicted, 2))


def test_netport_measures_the_mean_of_a_port():
    graph = ng.NetGraph(
        {
            "lin": ng.LinearLayer(3, Weights=W, Biases=B),
            "sm": ng.SoftmaxLayer(),
            "loss": ng.CrossEntropyLossLayer("Index"),
        },
        [("lin", "sm"), ("sm", "loss")],
        Input=2,
    )
    p = probabilities(X)
    y = Y
    ng.NetTrain(graph, {"Input": X, "Target": y}, MaxTrainingRounds=1, BatchSize=8)  # class 2 ok
    loss, lin = ng.NetMeasurements(
        graph,
        {"Input": X, "Target": y},
        [{"Measurement": ng.NetPort("Loss"), "Key": "L"}, ng.NetPort("lin", "Output")],
    )
    assert loss == pytest.approx(np.mean(-np.log(p[np.arange(23), y])), rel=1e-5)
    assert lin == pytest.approx(np.mean(X @ W.T + B), rel=1e-5)


def test_custom_measurement_gets_the_outputs_and_targets_of_each_batch():
    sizes = []

    def top_probability(output, target):
        sizes.append((output.shape, target.shape))
        return float(output.max(axis=1).mean())

    value = ng.NetMeasurements(
        classifier(), (X, Y), {"Measurement": top_probability, "Key": "top"}, BatchSize=10
    )
    assert sizes == [((10, 3), (10,)), ((10, 3), (10,)), ((3, 3), (3,))]
    # batch means weighted by their sizes: the mean over all examples
    assert value == pytest.approx(probabilities(X).max(axis=1).mean(), rel=1e-5)


def test_measurement_key_renames():
    (value,) = ng.NetMeasurements(
        classifier(), (X, Y), [{"Measurement": "ErrorRate", "Key": "err"}]
    )
    assert value == pytest.approx(np.mean(probabilities(X).argmax(axis=1) != Y))


@pytest.mark.parametrize(
    "spec, words",
    [
        ("Acuracy", ["'Acuracy'", "Accuracy"]),
        ("MeanSquare", ["'MeanSquare'", "MeanSquaredLossLayer"]),
        (ng.NetPort("Ouput"), ["Ouput", "Output"]),
        (ng.NetPort("lin", "Output"), ["'lin'"]),
        ({"Measurement": lambda o, t: 1.0}, ["Key"]),
        ({"Measurement": "Accuracy", "Kee": "a"}, ["'Kee'", "Key"]),
        ({"Measurement": "Accuracy", "Port": "Out"}, ["'Out'", "Output"]),
        ({"Key": "a"}, ['"Measurement"']),
        ([], ["empty"]),
        (3, ["3"]),
        (["Accuracy", {"Measurement": "ErrorRate", "Key": "Accuracy"}], ["'Accuracy'", "twice"]),
    ],
)
def test_bad_measurement_specs_are_option_errors(spec, words):
    with pytest.raises(ng.NetOptionError) as info:
        ng.NetMeasurements(classifier(), (X, Y), spec)
    for word in words:
        assert word in str(info.value)


def test_a_custom_measurement_must_return_a_number():
    with pytest.raises(ng.NetOptionError, match="'bad'.*number"):
        ng.NetMeasurements(classifier(), (X, Y), {"Measurement": lambda o, t: "x", "Key": "bad"})


def test_an_uninitialized_net_cannot_be_measured():
    net = ng.NetChain([ng.LinearLayer(3), ng.SoftmaxLayer()], Input=2)
    with pytest.raises(ng.NetNotInitializedError, match="measure"):
        ng.NetMeasurements(net, (X, Y), "Accuracy")


@pytest.mark.parametrize("size", [0, -1, 2.5, True])
def test_batch_size_must_be_a_positive_integer(size):
    with pytest.raises(ng.NetOptionError, match="BatchSize"):
        ng.NetMeasurements(classifier(), (X, Y), "Accuracy", BatchSize=size)


def test_bad_data_is_a_data_error():
    with pytest.raises(ng.NetDataError, match="class index"):
        ng.NetMeasurements(classifier(), (X, Y + 5), "Accuracy")


# --------------------------------------------------------------------- NetTrain


def test_error_rate_is_added_for_a_cross_entropy_classifier_only():
    results = ng.NetTrain(classifier(), (X, Y), "All", MaxTrainingRounds=1, BatchSize=8, **QUIET)
    assert list(results["RoundMeasurements"]) == ["Loss", "ErrorRate"]
    regression = ng.LinearLayer(1, Input=2)
    results = ng.NetTrain(
        regression, (X, Y[:, None] * 1.0), "All", MaxTrainingRounds=1, BatchSize=8, **QUIET
    )
    assert list(results["RoundMeasurements"]) == ["Loss"]


def test_round_measurements_cover_every_batch_of_the_round():
    results = frozen_train(
        classifier(),
        (X, Y),
        "All",
        MaxTrainingRounds=2,
        BatchSize=5,  # 23 examples: batches of 5, 5, 5, 5, 3
        ValidationSet=(XV, YV),
        TrainingProgressMeasurements=["Accuracy", "ConfusionMatrix", "Recall"],
    )
    predicted = probabilities(X).argmax(axis=1)
    rounds = results["RoundMeasurementsLists"]
    assert list(rounds) == ["Loss", "Accuracy", "ConfusionMatrix", "Recall"]
    assert rounds["Accuracy"] == pytest.approx([np.mean(predicted == Y)] * 2)
    np.testing.assert_array_equal(rounds["ConfusionMatrix"][1], counts(Y, predicted))
    assert rounds["Loss"] == results["RoundLossList"]
    last = results["RoundMeasurements"]
    assert last["Accuracy"] == rounds["Accuracy"][-1]
    valid = results["ValidationMeasurementsLists"]
    vpredicted = probabilities(XV).argmax(axis=1)
    assert valid["Accuracy"] == pytest.approx([np.mean(vpredicted == YV)] * 2)
    assert valid["Loss"] == pytest.approx(results["ValidationLossList"])
    assert results["ValidationMeasurements"]["Accuracy"] == valid["Accuracy"][-1]


def test_without_a_validation_set_the_validation_measurements_are_empty():
    results = ng.NetTrain(classifier(), (X, Y), "All", MaxTrainingRounds=1, BatchSize=8, **QUIET)
    assert results["ValidationMeasurements"] is None
    assert results["ValidationMeasurementsLists"] == {}


def test_regression_measurements_in_nettrain():
    w = RNG.normal(size=(1, 2))
    y = RNG.normal(size=(23, 1))
    net = ng.LinearLayer(1, Weights=w, Biases=[0.25], Input=2)
    results = frozen_train(
        net,
        (X, y),
        "All",
        MaxTrainingRounds=1,
        BatchSize=6,
        TrainingProgressMeasurements=["MeanSquare", "MeanDeviation"],
    )
    diff = X @ w.T + 0.25 - y
    assert results["RoundMeasurements"]["MeanSquare"] == pytest.approx(np.mean(diff**2), rel=1e-5)
    assert results["RoundMeasurements"]["MeanDeviation"] == pytest.approx(
        np.mean(np.abs(diff)), rel=1e-5
    )


def test_a_measurement_stops_training():
    # frozen: the error rate never improves after round 1, so Patience 1 stops after round 3
    results = frozen_train(
        classifier(),
        (X, Y),
        "All",
        MaxTrainingRounds=10,
        TrainingStoppingCriterion={"Criterion": "ErrorRate", "Patience": 1},
    )
    assert results["TotalRounds"] == 3
    assert results["ReasonTrainingStopped"] == "StoppingCriterionReached"


def test_a_measurement_key_alone_is_a_stopping_criterion():
    results = frozen_train(
        classifier(),
        (X, Y),
        "All",
        MaxTrainingRounds=10,
        TrainingProgressMeasurements="Accuracy",
        TrainingStoppingCriterion="Accuracy",
    )
    assert results["TotalRounds"] == 2


def test_accuracy_is_watched_for_increase_and_error_rate_for_decrease():
    from netgraph.training.loop import stopping_rule
    from netgraph.training.measurements import Meter

    trainer = ng.training.loop.Trainer(
        classifier(),
        (X, Y),
        ng.training.loop.parse_options(
            {"TrainingProgressMeasurements": ["Accuracy", "ErrorRate"], "BatchSize": 8}
        ),
    )
    assert isinstance(trainer.meter, Meter)
    assert stopping_rule("Accuracy", trainer.meter)["Increasing"] is True
    assert stopping_rule("ErrorRate", trainer.meter)["Increasing"] is False
    assert stopping_rule("Loss", trainer.meter)["Increasing"] is False


@pytest.mark.parametrize(
    "criterion, measurements, words",
    [
        ({"Criterion": "ErorRate"}, ng.Automatic, ["'ErorRate'", "ErrorRate"]),
        ("Accuracy", ng.Automatic, ["'Accuracy'", "Loss, ErrorRate"]),
        ({"Criterion": "Recall"}, ["Recall"], ["'Recall'", "per class"]),
    ],
)
def test_a_criterion_must_be_a_measured_number(criterion, measurements, words):
    with pytest.raises(ng.NetOptionError) as info:
        ng.NetTrain(
            classifier(),
            (X, Y),
            MaxTrainingRounds=1,
            BatchSize=8,
            TrainingStoppingCriterion=criterion,
            TrainingProgressMeasurements=measurements,
            **QUIET,
        )
    for word in words:
        assert word in str(info.value)


def test_final_plots_draw_every_measurement():
    import matplotlib.pyplot as plt

    results = ng.NetTrain(
        classifier(),
        (X, Y),
        "All",
        MaxTrainingRounds=2,
        BatchSize=8,
        ValidationSet=(XV, YV),
        TrainingProgressMeasurements=["ErrorRate", "F1Score", "ConfusionMatrix"],
        **QUIET,
    )
    plots = results["FinalPlots"]
    try:
        assert list(plots) == ["Loss", "ErrorRate", "F1Score", "ConfusionMatrix"]
        training, validation = plots["ErrorRate"].axes[0].get_lines()
        assert list(training.get_ydata()) == results["RoundMeasurementsLists"]["ErrorRate"]
        assert list(validation.get_ydata()) == results["ValidationMeasurementsLists"]["ErrorRate"]
        assert len(plots["F1Score"].axes[0].get_lines()) == 3  # a line per class
        image = plots["ConfusionMatrix"].axes[0].get_images()[0].get_array()
        np.testing.assert_array_equal(image, results["RoundMeasurements"]["ConfusionMatrix"])
    finally:
        for figure in plots.values():
            plt.close(figure)
    assert "FinalPlots" in results and "FinalPlots" in results["Properties"]


def test_final_plots_show_class_decoder_labels_on_the_confusion_matrix():
    import matplotlib.pyplot as plt

    labels = ["cat", "dog", "bird"]
    net = ng.NetChain(
        [ng.LinearLayer(3, Weights=W, Biases=B), ng.SoftmaxLayer()],
        Input=2,
        Output=ng.NetDecoder(("Class", labels)),
    )
    results = ng.NetTrain(
        net,
        (X, [labels[c] for c in Y]),
        "All",
        MaxTrainingRounds=1,
        BatchSize=8,
        TrainingProgressMeasurements=["ConfusionMatrix"],
        **QUIET,
    )
    figure = results["FinalPlots"]["ConfusionMatrix"]
    try:
        ax = figure.axes[0]
        assert [t.get_text() for t in ax.get_xticklabels()] == labels
        assert [t.get_text() for t in ax.get_yticklabels()] == labels
    finally:
        plt.close(figure)


def test_final_plots_without_matplotlib_name_the_extra(monkeypatch):
    results = ng.NetTrain(classifier(), (X, Y), "All", MaxTrainingRounds=1, BatchSize=8, **QUIET)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ng.NetOptionError, match=r"netgraph\[plot\]"):
        results["FinalPlots"]


def test_measurement_properties_can_be_asked_for_by_name():
    lists, last = ng.NetTrain(
        classifier(),
        (X, Y),
        ["RoundMeasurementsLists", "RoundMeasurements"],
        MaxTrainingRounds=2,
        BatchSize=8,
        **QUIET,
    )
    assert len(lists["ErrorRate"]) == 2 and last["ErrorRate"] == lists["ErrorRate"][1]
    with pytest.raises(ng.NetOptionError, match="RoundMeasurements"):
        ng.NetTrain(classifier(), (X, Y), "RoundMeasurement", **QUIET)


def test_measurements_survive_a_resume(tmp_path):
    options = dict(
        BatchSize=5,
        ValidationSet=(XV, YV),
        TrainingProgressMeasurements=["Accuracy", "Precision"],
        **QUIET,
    )
    straight = ng.NetTrain(classifier(), (X, Y), "All", MaxTrainingRounds=4, **options)
    ng.NetTrain(
        classifier(),
        (X, Y),
        MaxTrainingRounds=2,
        TrainingProgressCheckpointing=("File", str(tmp_path / "c.ckpt")),
        **options,
    )
    resumed = ng.NetTrain(
        classifier(),
        (X, Y),
        "All",
        MaxTrainingRounds=4,
        ResumeFrom=str(tmp_path / "c.ckpt"),
        **options,
    )
    for prop in ("RoundMeasurementsLists", "ValidationMeasurementsLists"):
        assert resumed[prop] == straight[prop]
    assert len(straight["RoundMeasurementsLists"]["Precision"]) == 4


# --------------------------------------------------------------------- progress function


def test_progress_function_each_round_gets_wolfram_keys():
    seen = []
    results = ng.NetTrain(
        classifier(),
        (X, Y),
        "All",
        MaxTrainingRounds=3,
        BatchSize=5,
        ValidationSet=(XV, YV),
        TrainingProgressFunction=(seen.append, {"Interval": "Round"}),
        **QUIET,
    )
    assert [info["Round"] for info in seen] == [1, 2, 3]
    assert [info["RoundLoss"] for info in seen] == results["RoundLossList"]
    assert [info["ValidationLoss"] for info in seen] == results["ValidationLossList"]
    assert [info["AbsoluteBatch"] for info in seen] == [5, 10, 15]  # 23 = 5 + 5 + 5 + 5 + 3
    assert seen[-1]["BatchLoss"] == results["BatchLossList"][-1]
    assert seen[-1]["RoundMeasurements"] == results["RoundMeasurements"]
    assert seen[-1]["Event"] == "RoundComplete"


def test_progress_function_net_is_the_current_net():
    nets = []
    ng.NetTrain(
        classifier(),
        (X, Y),
        MaxTrainingRounds=2,
        BatchSize=8,
        TrainingProgressFunction=(lambda info: nets.append(info["Net"]), {"Interval": "Round"}),
        **QUIET,
    )
    assert "Net" in ng.training.progress.ProgressInfo({}, lambda: None)
    assert all(isinstance(n, ng.Layer) for n in nets)
    w1, w2 = (ng.NetExtract(n, (0, "Weights")) for n in nets)
    assert not np.array_equal(w1, W) and not np.array_equal(w1, w2)  # it trained in between


def test_progress_function_every_batch_by_default():
    seen = []
    results = ng.NetTrain(
        classifier(),
        (X, Y),
        "All",
        MaxTrainingRounds=2,
        BatchSize=12,
        TrainingProgressFunction=seen.append,
        **QUIET,
    )
    assert [(i["Round"], i["Batch"]) for i in seen] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert [i["BatchLoss"] for i in seen] == results["BatchLossList"]
    assert [i["loss"] for i in seen] == results["BatchLossList"]  # the keys it had before
    assert seen[0]["RoundLoss"] is None and seen[2]["RoundLoss"] == results["RoundLossList"][0]


@pytest.mark.parametrize(
    "interval, expected",
    [
        (2, [2, 4, 6, 8]),
        (("Batches", 3), [3, 6]),
        (("Rounds", 2), [4, 8]),
        ("Batch", [1, 2, 3, 4, 5, 6, 7, 8]),
    ],
)
def test_progress_function_interval(interval, expected):
    seen = []
    ng.NetTrain(
        classifier(),
        (X, Y),
        MaxTrainingRounds=4,
        BatchSize=12,  # 2 batches a round: 12 + 11
        TrainingProgressFunction=(seen.append, {"Interval": interval}),
        **QUIET,
    )
    assert [i["AbsoluteBatch"] for i in seen] == expected


def test_stop_training_from_the_progress_function():
    def stop(info):
        return "StopTraining" if info["AbsoluteBatch"] == 3 else None

    results = ng.NetTrain(
        classifier(),
        (X, Y),
        "All",
        MaxTrainingRounds=10,
        BatchSize=12,
        TrainingProgressFunction=stop,
        **QUIET,
    )
    assert results["ReasonTrainingStopped"] == "ProgressFunction"
    assert results["TotalBatches"] == 3
    assert results["TotalRounds"] == 2  # the partial second round counts, as with TimeGoal
    assert len(results["RoundMeasurementsLists"]["ErrorRate"]) == 2


def test_stop_training_at_a_round():
    def stop(info):
        return "StopTraining" if info["Round"] == 2 else "go on"

    results = ng.NetTrain(
        classifier(),
        (X, Y),
        "All",
        MaxTrainingRounds=10,
        BatchSize=8,
        TrainingProgressFunction=(stop, {"Interval": "Round"}),
        **QUIET,
    )
    assert results["TotalRounds"] == 2
    assert results["ReasonTrainingStopped"] == "ProgressFunction"


@pytest.mark.parametrize(
    "option",
    [
        (print, {"Interval": 0}),
        (print, {"Interval": "Epoch"}),
        (print, {"Interval": ("Seconds", 2)}),
        (print, {"Intervall": 2}),
        (print, 2),
        ("f", {"Interval": 2}),
    ],
)
def test_bad_progress_function_options(option):
    with pytest.raises(ng.NetOptionError, match="TrainingProgressFunction"):
        ng.NetTrain(classifier(), (X, Y), TrainingProgressFunction=option, **QUIET)


def test_custom_and_netport_measurements_in_nettrain():
    results = frozen_train(
        classifier(),
        (X, Y),
        "All",
        MaxTrainingRounds=1,
        BatchSize=7,
        TrainingProgressMeasurements=[
            ng.NetPort("Output"),
            {"Measurement": lambda o, t: float(np.mean(o.argmax(axis=1) == t)), "Key": "acc"},
        ],
    )
    last = results["RoundMeasurements"]
    assert last["Output"] == pytest.approx(1 / 3, rel=1e-5)  # softmax rows sum to 1, 3 classes
    assert last["acc"] == pytest.approx(np.mean(probabilities(X).argmax(axis=1) == Y))


def test_print_reporting_shows_the_single_number_measurements(capsys):
    results = ng.NetTrain(
        classifier(),
        (X, Y),
        "All",
        MaxTrainingRounds=1,
        BatchSize=8,
        ValidationSet=(XV, YV),
        TrainingProgressMeasurements=["Accuracy", "Recall"],
        TrainingProgressReporting="Print",
    )
    line = capsys.readouterr().err.strip()
    train, valid = results["RoundMeasurements"], results["ValidationMeasurements"]
    assert f"  Accuracy {train['Accuracy']:.4g}  validation loss" in line
    assert f"  validation Accuracy {valid['Accuracy']:.4g}  (" in line
    assert "Recall" not in line  # per class: in the results, not on the line


def test_a_custom_measurement_failing_in_netmeasurements_names_netmeasurements():
    def broken(output, target):
        raise ZeroDivisionError("oops")

    with pytest.raises(ng.NetOptionError, match=r"^NetMeasurements:.*broken"):
        ng.NetMeasurements(classifier(), (X, Y), {"Measurement": broken})
