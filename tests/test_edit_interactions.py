"""Issue 13 features used together: decoders through graph surgery and NetFlatten, NetDelete on
a graph, nested NetPorts as measurements, label arrays, Boolean per-class keys and the
TrainingProgressFunction association.

Expected labels and numbers come from hand-chosen weights (scores worked out in comments)."""

from __future__ import annotations

import numpy as np
import pytest
from layer_check import raises

import netgraph as ng

LABELS = ["a", "b", "c"]
W = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]], dtype=np.float32)
X = np.array([0.5, 2.0], dtype=np.float32)  # scores W @ X = (0.5, 2, -2.5): "b"


def decoded_graph():
    return ng.NetGraph(
        {"lin": ng.LinearLayer(3, Weights=W, Biases=[0, 0, 0]), "sm": ng.SoftmaxLayer()},
        [("lin", "sm")],
        Input=2,
        Output=ng.NetDecoder(("Class", LABELS)),
    )


@pytest.mark.parametrize(
    "edit",
    [
        lambda g: ng.NetRename(g, "sm", "soft"),
        lambda g: ng.NetRename(g, str.upper),
        lambda g: ng.NetTake(g, "sm"),
        lambda g: ng.NetTake(g, ("lin", "sm")),
        lambda g: ng.NetTake(g, ng.NetPort("Output")),
        lambda g: ng.NetFlatten(ng.NetGraph({"inner": g}, [])),
        lambda g: ng.NetFlatten(ng.NetChain({"inner": ng.NetChain([g])})),
    ],
)
def test_graph_edits_keep_the_graphs_own_decoder(edit):
    edited = edit(decoded_graph())
    assert edited(X) == "b"
    assert ng.Information(edited, "OutputPortDecoders") == {
        "Output": ng.NetDecoder(("Class", LABELS))
    }


def test_a_renamed_output_port_keeps_its_decoder():
    renamed = ng.NetRename(decoded_graph(), {ng.NetPort("Output"): ng.NetPort("Label")})
    assert renamed(X) == "b"
    probs = renamed(X, "Probabilities")
    assert max(probs, key=probs.get) == "b"


def test_taking_an_inner_layer_leaves_the_decoder_behind():
    taken = ng.NetTake(decoded_graph(), "lin")
    np.testing.assert_allclose(taken(X), [0.5, 2.0, -2.5])


def test_flattening_a_chain_of_a_decoded_chain_keeps_its_decoder():
    inner = ng.NetChain(
        {"lin": ng.LinearLayer(3, Weights=W, Biases=[0, 0, 0]), "sm": ng.SoftmaxLayer()},
        Input=2,
        Output=ng.NetDecoder(("Class", LABELS)),
    )
    flat = ng.NetFlatten(ng.NetChain({"block": inner}))
    assert isinstance(flat, ng.NetChain)
    assert flat(X) == "b" and flat(np.stack([X, -X])) == ["b", "c"]  # -X: (-0.5, -2, 2.5)


def test_deleting_a_graph_layer_the_graph_input_fed_frees_that_inputs_shape():
    # "lin" took the graph's Input (2,); with it gone "sm" is fed by a new input named after
    # its port ("Input"), which has the shape sm's input had: 3 scores
    deleted = ng.NetDelete(decoded_graph(), "lin")
    assert ng.Information(deleted, "InputPorts") == {"Input": (3,)}
    assert deleted(np.array([0.0, 0.0, 1.0])) == "c"
    assert ng.Information(ng.NetDelete(decoded_graph(), "sm"), "OutputPortDecoders") == {}


# ------------------------------------------------------------------ NetPort measurements

WL = np.array([[1.0, -2.0], [0.5, 0.0], [0.0, 3.0]], dtype=np.float32)
BL = np.array([0.1, -0.2, 0.3], dtype=np.float32)
XS = np.array([[1.0, 2.0], [-1.0, 0.5], [2.0, -1.0], [0.0, 1.0]], dtype=np.float32)
YS = np.array([[0.0], [1.0], [0.5], [2.0]], dtype=np.float32)


def nested_regressor():
    block = ng.NetChain({"lin": ng.LinearLayer(3, Weights=WL, Biases=BL), "act": "Ramp"})
    out = ng.LinearLayer(1, Weights=[[1.0, 1.0, 1.0]], Biases=[0.0])
    return ng.NetChain({"block": block, "out": out}, Input=2)


def lin_mean():
    return float(np.mean(XS.astype(np.float64) @ WL.T + BL))  # the inner layer, by hand


@pytest.mark.parametrize(
    "port, key, value",
    [
        (ng.NetPort(("block", "lin"), "Output"), "block/lin/Output", lin_mean),
        (ng.NetPort(("block", 0), "Output"), "block/0/Output", lin_mean),
        (
            ng.NetPort("block", "Output"),
            "block/Output",
            lambda: float(np.mean(np.maximum(XS.astype(np.float64) @ WL.T + BL, 0))),
        ),
        (
            ng.NetPort("out"),  # a layer with one output
            "out",
            lambda: float(np.mean(np.maximum(XS.astype(np.float64) @ WL.T + BL, 0).sum(1))),
        ),
    ],
)
def test_netport_measurements_reach_nested_layers(port, key, value):
    assert ng.NetMeasurements(nested_regressor(), (XS, YS), port) == pytest.approx(value())
    # one batch, one round: measured in the forward pass before the only update
    got = ng.NetTrain(
        nested_regressor(),
        (XS, YS),
        "RoundMeasurements",
        TrainingProgressMeasurements=port,
        MaxTrainingRounds=1,
        BatchSize=4,
        TrainingProgressReporting=None,
    )
    assert list(got) == ["Loss", key]
    assert got[key] == pytest.approx(value(), rel=1e-6)


@pytest.mark.parametrize(
    "port, words",
    [
        (ng.NetPort(("block", "lim"), "Output"), ["'lim'", '"lin"']),
        (ng.NetPort("out", "Input"), ["input port", "NetPort('block', 'Output')"]),
        (ng.NetPort(ng.All), ["NetPort(All)", "one port"]),
    ],
)
def test_bad_netport_measurements_name_the_port(port, words):
    raises(
        ng.NetOptionError, lambda: ng.NetMeasurements(nested_regressor(), (XS, YS), port), *words
    )


# ------------------------------------------------------------------ label targets

LW = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]], dtype=np.float32)
LX = np.array([[0.5, 2.0], [2.0, 0.5], [-1.0, -2.0], [3.0, 0.0]], dtype=np.float32)
# scores LW @ x: (0.5, 2, -2.5) -> b, (2, 0.5, -2.5) -> a, (-1, -2, 3) -> c, (3, 0, -3) -> a


def label_classifier():
    return ng.NetChain(
        [ng.LinearLayer(3, Weights=LW, Biases=[0, 0, 0]), ng.SoftmaxLayer()],
        Input=2,
        Output=ng.NetDecoder(("Class", LABELS)),
    )


@pytest.mark.parametrize("as_array", [lambda v: np.array(v), lambda v: np.array(v, dtype=object)])
def test_numpy_arrays_of_labels_are_labels(as_array):
    targets = ["b", "a", "c", "b"]  # the last one is wrong: 3 of 4 right
    assert label_classifier()(LX) == ["b", "a", "c", "a"]
    got = ng.NetMeasurements(label_classifier(), (LX, as_array(targets)), "Accuracy")
    assert got == pytest.approx(0.75)
    as_list = ng.NetTrain(
        label_classifier(), (LX, targets), "RoundLossList", MaxTrainingRounds=1, BatchSize=4
    )
    as_arr = ng.NetTrain(
        label_classifier(),
        (LX, as_array(targets)),
        "RoundLossList",
        MaxTrainingRounds=1,
        BatchSize=4,
    )
    assert as_arr == as_list


def test_boolean_per_class_values_are_keyed_by_true_and_false():
    net = ng.NetChain(
        [ng.LinearLayer(1, Weights=[[1.0, -1.0]], Biases=[0.0]), "LogisticSigmoid"],
        Input=2,
        Output=ng.NetDecoder("Boolean"),
    )
    x = np.array([[2.0, 0.0], [0.0, 2.0], [1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    truth = [True, True, True, False]  # predicted (x0 > x1): True, False, True, False
    # True: 2 predicted, both right (precision 1), 3 present (recall 2/3)
    # False: 2 predicted, 1 right (precision 1/2), 1 present (recall 1)
    precision, recall = ng.NetMeasurements(net, (x, truth), ["Precision", "Recall"])
    assert precision == pytest.approx({False: 0.5, True: 1.0})
    assert recall == pytest.approx({False: 1.0, True: 2 / 3})
    assert [type(k) for k in precision] == [bool, bool]  # not 0 and 1 (which compare equal)


# ------------------------------------------------------------------ TrainingProgressFunction


def test_the_progress_association_lists_net_and_names_a_wrong_key(tmp_path):
    seen = []

    def record(info):
        seen.append((list(info), len(info), dict(info)["Net"], {**info}["Round"]))

    ng.NetTrain(
        nested_regressor(),
        (XS, YS),
        MaxTrainingRounds=1,
        BatchSize=4,
        TrainingProgressFunction=(record, {"Interval": "Round"}),
        TrainingProgressReporting=None,
    )
    ((keys, size, net, round_),) = seen
    assert "Net" in keys and size == len(keys) and round_ == 1
    assert isinstance(net, ng.NetChain)

    def misspelt(info):
        return info["Rond"]

    for caught in (ng.NetOptionError, KeyError):  # a KeyError too, for code that catches one
        with pytest.raises(caught) as info:
            ng.NetTrain(
                nested_regressor(),
                (XS, YS),
                MaxTrainingRounds=1,
                BatchSize=4,
                TrainingProgressFunction=misspelt,
                TrainingProgressReporting=None,
                TrainingProgressCheckpointing=("Directory", tmp_path),
            )
        message = str(info.value)
        assert "TrainingProgressFunction" in message and "'Rond'" in message
        assert '"Round"' in message


# ------------------------------------------------------------------ flattened names


def test_a_flattened_name_on_the_nested_net_points_to_the_path():
    net = nested_regressor()
    assert "block/lin" in list(ng.NetExtract(ng.NetFlatten(net), ng.All))
    raises(
        ng.NetGraphError,
        lambda: net(XS, ng.NetPort("block/lin", "Output")),
        "('block', 'lin')",
        "NetFlatten",
    )
    train = lambda: ng.NetTrain(  # noqa: E731
        net, (XS, YS), MaxTrainingRounds=1, BatchSize=4, LearningRateMultipliers={"block/lin": 0}
    )
    raises(ng.NetOptionError, train, "'block/lin'", "('block', 'lin')")
    positional = ng.NetChain([ng.LinearLayer(3), "Ramp"], Input=2)
    raises(
        ng.NetGraphError,
        lambda: ng.NetInitialize(positional)(XS, ng.NetPort("1", "Output")),
        "Positions are ints: 1",
    )


def two_outputs(**ports):
    return ng.NetGraph(
        {"lin": ng.LinearLayer(3, Weights=LW, Biases=[0, 0, 0]), "sm": ng.SoftmaxLayer()},
        [("lin", "sm", ng.NetPort("Class")), ("lin", ng.NetPort("Scores"))],
        Input=2,
        **ports,
    )


@pytest.mark.parametrize("ports", [{}, {"Class": ng.NetDecoder(("Class", LABELS))}])
def test_an_output_port_name_as_a_property_points_to_netport(ports):
    net = two_outputs(**ports)
    raises(ng.NetOptionError, lambda: net(LX[0], "Scores"), "output port", "NetPort('Scores')")
    np.testing.assert_allclose(net(LX[0], ng.NetPort("Scores")), [0.5, 2.0, -2.5])


def test_an_unknown_decoder_property_lists_the_properties_once():
    message = raises(ng.NetOptionError, lambda: label_classifier()(LX[0], "Colour"), "'Colour'")
    assert message.count("TopProbabilities") == 1


# ------------------------------------------------------------------ default measurements


def test_error_rate_is_measured_by_default_for_any_single_cross_entropy_loss():
    sigmoid = ng.NetChain(
        [ng.LinearLayer(1, Weights=[[1.0, -1.0]], Biases=[0.0]), "LogisticSigmoid"], Input=2
    )
    x = np.array([[2.0, 0.0], [0.0, 2.0], [1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    # p > 0.5 exactly when x0 > x1: predicted 1, 0, 1, 0; targets 1, 1, 1, 0: one wrong in 4
    binary = ng.NetTrain(
        sigmoid,
        (x, np.array([[1.0], [1.0], [1.0], [0.0]])),
        "RoundMeasurements",
        LossFunction=ng.CrossEntropyLossLayer("Binary"),
        MaxTrainingRounds=1,
        BatchSize=4,
    )
    assert binary["ErrorRate"] == pytest.approx(0.25)
    # one-hot targets: argmax "b", "a", "c", "b" against predictions b, a, c, a: 1 of 4 wrong
    onehot = np.eye(3)[[1, 0, 2, 1]]
    probs = ng.NetTrain(
        ng.NetChain([ng.LinearLayer(3, Weights=LW, Biases=[0, 0, 0]), ng.SoftmaxLayer()], Input=2),
        (LX, onehot),
        "RoundMeasurements",
        LossFunction=ng.CrossEntropyLossLayer("Probabilities"),
        MaxTrainingRounds=1,
        BatchSize=4,
    )
    assert probs["ErrorRate"] == pytest.approx(0.25)


def halving(t, total):
    return 0.5 ** (t - 1)  # 1, 1/2, 1/4, ... of the LearningRate at steps 1, 2, 3, ...


def test_the_progress_association_has_time_learning_rate_and_progress():
    seen, times = [], []

    def record(info):
        seen.append((info["AbsoluteBatch"], info["LearningRate"], info["ProgressFraction"]))
        times.append(info["TimeElapsed"])

    ng.NetTrain(
        nested_regressor(),
        (XS, YS),
        MaxTrainingRounds=2,
        BatchSize=2,  # 2 batches a round, 4 steps in all
        Method=("SGD", {"LearningRateSchedule": halving}),
        LearningRate=0.1,
        TrainingProgressFunction=record,
        TrainingProgressReporting=None,
    )
    assert seen == [
        (1, pytest.approx(0.1), 0.25),
        (2, pytest.approx(0.05), 0.5),
        (3, pytest.approx(0.025), 0.75),
        (4, pytest.approx(0.0125), 1.0),
    ]
    assert 0 <= times[0] <= times[1] <= times[2] <= times[3]


def test_labels_are_one_hot_for_a_loss_that_wants_vectors():
    targets = ["b", "a", "c", "b"]
    kw = dict(MaxTrainingRounds=2, BatchSize=2, TrainingProgressReporting=None)
    index = ng.NetTrain(label_classifier(), (LX, targets), "RoundLossList", **kw)
    probs = ng.NetTrain(
        label_classifier(),
        (LX, targets),
        "RoundLossList",
        LossFunction=ng.CrossEntropyLossLayer("Probabilities"),
        **kw,
    )
    np.testing.assert_allclose(probs, index, rtol=1e-6)  # -log p[true] either way
    scores = LX.astype(np.float64) @ LW.T.astype(np.float64)
    p = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    onehot = np.eye(3)[[1, 0, 2, 1]]
    mse = ng.NetMeasurements(
        label_classifier(), (LX, targets), "Loss", LossFunction=ng.MeanSquaredLossLayer()
    )
    assert mse == pytest.approx(np.mean((p - onehot) ** 2), rel=1e-5)


def test_final_plots_have_whole_rounds_and_one_tick_per_class():
    results = ng.NetTrain(
        label_classifier(),
        (LX, ["b", "a", "c", "b"]),
        "All",
        MaxTrainingRounds=3,
        BatchSize=4,
        TrainingProgressMeasurements=["Accuracy", "ConfusionMatrix"],
        TrainingProgressReporting=None,
    )
    plots = results["FinalPlots"]
    for key in ("Loss", "Accuracy"):
        ticks = plots[key].axes[0].get_xticks()
        assert np.all(ticks == np.round(ticks)), (key, ticks)
    matrix = plots["ConfusionMatrix"].axes[0]
    assert list(matrix.get_xticks()) == [0, 1, 2] == list(matrix.get_yticks())


@pytest.mark.parametrize("spec", ["Acuracy", ng.NetPort("lim", "Output"), [{"Key": "k"}]])
def test_netmeasurements_errors_name_netmeasurements(spec):
    message = raises(
        ng.NetOptionError, lambda: ng.NetMeasurements(nested_regressor(), (XS, YS), spec)
    )
    assert message.startswith("NetMeasurements:"), message
    assert "TrainingProgressMeasurements" not in message


def test_netextract_reads_a_decoders_labels():
    decoder = ng.NetExtract(label_classifier(), "Output")
    assert decoder == ng.NetDecoder(("Class", LABELS))
    assert ng.NetExtract(decoder, "Labels") == LABELS
    assert ng.NetExtract(label_classifier(), ("Output", "Labels")) == LABELS
    assert label_classifier()["Output", "Labels"] == LABELS
    assert ng.NetExtract(decoder, ng.All) == {"Labels": LABELS}
    raises(ng.NetOptionError, lambda: ng.NetExtract(decoder, "Lables"), '"Labels"')
    raises(ng.NetOptionError, lambda: ng.NetExtract(ng.NetDecoder("Boolean"), "Labels"), "no")


def test_nettake_port_options_set_or_replace_a_decoder():
    xyz = ng.NetDecoder(("Class", ["x", "y", "z"]))
    scores = ng.NetTake(label_classifier(), 1, Output=xyz)  # scores (0.5, 2, -2.5): "y"
    assert scores(LX[0]) == "y"
    assert ng.NetTake(decoded_graph(), "lin", Output=xyz)(X) == "y"
    assert ng.NetTake(label_classifier(), 2, Output=xyz)(LX[0]) == "y"  # replaced
    raw = ng.NetTake(label_classifier(), 2, Output=3)  # a plain shape replaces the decoder
    assert ng.Information(raw, "OutputPortDecoders") == {}
    raises(ng.NetGraphError, lambda: ng.NetTake(label_classifier(), 1, Outptu=3), '"Output"')
    two = ng.NetDecoder(("Class", ["x", "y"]))
    raises(ng.NetShapeError, lambda: ng.NetTake(label_classifier(), 1, Output=two), "NetTake")
