"""NetExtract, NetReplacePart and Options on a layer: names, aliases, paths, copies, errors."""

import numpy as np
import pytest

import netgraph as ng


@pytest.fixture
def bn():
    return ng.NetInitialize(ng.BatchNormalizationLayer(Input=(3, 2), Epsilon=0.01, Momentum=0.8))


# ------------------------------------------------------------------------------ NetExtract


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("Epsilon", 0.01),
        ("Momentum", 0.8),
        ("Interleaving", False),
        ("Input", (3, 2)),
        ("Output", (3, 2)),
        ("LearningRateMultipliers", ng.Automatic),
        (["Epsilon"], 0.01),
        (("Momentum",), 0.8),
    ],
)
def test_extract_options_and_ports(bn, spec, expected):
    assert ng.NetExtract(bn, spec) == expected


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("Scaling", [1, 1, 1]),
        ("Biases", [0, 0, 0]),
        ("MovingMean", [0, 0, 0]),
        ("MovingVariance", [1, 1, 1]),
        (("Biases",), [0, 0, 0]),
    ],
)
def test_extract_arrays(bn, spec, expected):
    value = ng.NetExtract(bn, spec)
    assert isinstance(value, np.ndarray) and value.dtype == np.float32
    np.testing.assert_array_equal(value, expected)


@pytest.mark.parametrize(
    "alias, canonical",
    [
        ("epsilon", "Epsilon"),
        ("moving_mean", "MovingMean"),
        ("moving_variance", "MovingVariance"),
        ("scaling", "Scaling"),
        ("interleaving", "Interleaving"),
    ],
)
def test_extract_snake_case_aliases(bn, alias, canonical):
    a, b = ng.NetExtract(bn, alias), ng.NetExtract(bn, canonical)
    if isinstance(b, np.ndarray):
        np.testing.assert_array_equal(a, b)
    else:
        assert a == b


def test_extract_returns_copies(bn):
    for name in ("Scaling", "MovingVariance"):
        value = ng.NetExtract(bn, name)
        value[:] = -7.0
        assert not np.any(ng.NetExtract(bn, name) == -7.0)
    everything = ng.NetExtract(bn, ng.All)
    everything["Biases"][:] = 5.0
    np.testing.assert_array_equal(ng.NetExtract(bn, "Biases"), [0, 0, 0])


def test_extract_all_of_a_layer(bn):
    everything = ng.NetExtract(bn, ng.All)
    assert {
        "Epsilon",
        "Momentum",
        "Interleaving",
        "Scaling",
        "Biases",
        "MovingMean",
        "MovingVariance",
    } <= set(everything)
    assert everything["Epsilon"] == 0.01


def test_extract_unset_array_is_automatic():
    bn = ng.BatchNormalizationLayer(Input=3, Biases=[1.0, 2.0, 3.0])
    assert ng.NetExtract(bn, "Scaling") is ng.Automatic
    assert ng.NetExtract(bn, "MovingMean") is ng.Automatic
    np.testing.assert_array_equal(ng.NetExtract(bn, "Biases"), [1, 2, 3])


def test_extract_empty_path_is_the_net(bn):
    assert ng.NetExtract(bn, ()) is bn


@pytest.mark.parametrize(
    "spec, suggestion",
    [
        ("Epsilom", "Epsilon"),
        ("Scalling", "Scaling"),
        ("MovingMeen", "MovingMean"),
        ("Inputt", "Input"),
    ],
)
def test_extract_unknown_part_did_you_mean(bn, spec, suggestion):
    with pytest.raises(ng.NetError, match=f'Did you mean "{suggestion}"'):
        ng.NetExtract(bn, spec)


@pytest.mark.parametrize("spec", [0, "zzzz", ("Biases", "x"), ("Epsilon", 0)])
def test_extract_bad_paths_list_valid_names(bn, spec):
    with pytest.raises(ng.NetError, match="BatchNormalizationLayer"):
        ng.NetExtract(bn, spec)


# -------------------------------------------------------------------------- NetReplacePart


def test_replace_array_round_trip_and_no_mutation(bn):
    new = ng.NetReplacePart(bn, {"Biases": [1.0, 2.0, 3.0]})
    np.testing.assert_array_equal(ng.NetExtract(new, "Biases"), [1, 2, 3])
    np.testing.assert_array_equal(ng.NetExtract(bn, "Biases"), [0, 0, 0])
    assert isinstance(new, ng.BatchNormalizationLayer) and new is not bn


def test_replace_does_not_keep_a_reference_to_the_callers_array(bn):
    value = np.array([1.0, 2.0, 3.0], np.float32)
    new = ng.NetReplacePart(bn, {"Scaling": value})
    value[:] = 0.0
    np.testing.assert_array_equal(ng.NetExtract(new, "Scaling"), [1, 2, 3])


@pytest.mark.parametrize(
    "rules",
    [
        {"moving_mean": [1.0, 2.0, 3.0]},
        {"MovingMean": [1.0, 2.0, 3.0]},
        {("MovingMean",): [1.0, 2.0, 3.0]},
        [("MovingMean", [1.0, 2.0, 3.0])],
    ],
)
def test_replace_rule_forms(bn, rules):
    np.testing.assert_array_equal(
        ng.NetExtract(ng.NetReplacePart(bn, rules), "MovingMean"), [1, 2, 3]
    )


def test_replace_two_argument_form(bn):
    np.testing.assert_array_equal(
        ng.NetExtract(ng.NetReplacePart(bn, "Biases", [4.0, 5.0, 6.0]), "Biases"), [4, 5, 6]
    )


def test_replace_options_and_effect_on_evaluation(bn):
    new = ng.NetReplacePart(bn, {"epsilon": 0.5, "Momentum": 0.1})
    assert ng.NetExtract(new, "Epsilon") == 0.5 and ng.NetExtract(new, "Momentum") == 0.1
    x = np.ones((2, 3, 2))
    np.testing.assert_allclose(new(x), x / np.sqrt(1.5), rtol=1e-6)
    assert ng.NetExtract(bn, "Epsilon") == 0.01


def test_replace_input_shape_of_an_open_layer():
    bn = ng.NetReplacePart(ng.BatchNormalizationLayer(), {"Input": (4, 5)})
    assert ng.Information(bn, "ArraysDimensions")[("Scaling",)] == (4,)


def test_replace_with_automatic_unsets_an_array(bn):
    new = ng.NetReplacePart(bn, {"Biases": ng.Automatic})
    assert ng.NetExtract(new, "Biases") is ng.Automatic
    assert not ng.Information(new, "Initialized")


def test_replace_real64_numeric_array_keeps_float64(bn):
    value = np.array([0.1, 0.2, 0.3])
    new = ng.NetReplacePart(bn, {"Biases": ng.NumericArray(value, "Real64")})
    got = ng.NetExtract(new, "Biases")
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, value)
    plain = ng.NetExtract(ng.NetReplacePart(bn, {"Biases": value}), "Biases")
    assert plain.dtype == np.float32


@pytest.mark.parametrize(
    "rules, error",
    [
        ({"Scalling": [1, 1, 1]}, ng.NetError),
        ({"Biases": [1.0, 2.0]}, ng.NetArrayError),
        ({"Biases": [[1.0, 2.0, 3.0]]}, ng.NetArrayError),
        ({"Biases": [np.nan, 1.0, 1.0]}, ng.NetArrayError),
        ({"Biases": ["a", "b", "c"]}, ng.NetArrayError),
        ({"Epsilon": -1.0}, ng.NetOptionError),
        ({"Input": (4, 2)}, ng.NetError),
        ({"LearningRateMultipliers": "fast"}, ng.NetOptionError),
    ],
)
def test_replace_errors_leave_the_net_unchanged(bn, rules, error):
    before = {k: v.copy() for k, v in ng.Information(bn, "Arrays").items()}
    with pytest.raises(error):
        ng.NetReplacePart(bn, rules)
    for key, value in ng.Information(bn, "Arrays").items():
        np.testing.assert_array_equal(value, before[key])
    assert ng.NetExtract(bn, "Epsilon") == 0.01


def test_replace_unknown_part_did_you_mean(bn):
    with pytest.raises(ng.NetError, match='Did you mean "Scaling"'):
        ng.NetReplacePart(bn, {"Scalling": [1, 1, 1]})


def test_replace_learning_rate_multipliers(bn):
    assert (
        ng.NetExtract(
            ng.NetReplacePart(bn, {"LearningRateMultipliers": 0}), "LearningRateMultipliers"
        )
        == 0
    )


# --------------------------------------------------------------------------- constructor


def test_constructor_snake_case_aliases():
    bn = ng.BatchNormalizationLayer(
        epsilon=0.01, moving_mean=[1.0, 2.0], momentum=0.5, interleaving=True, input=(4, 2)
    )
    assert ng.NetExtract(bn, "Epsilon") == 0.01 and ng.NetExtract(bn, "Momentum") == 0.5
    assert ng.NetExtract(bn, "Interleaving") is True
    np.testing.assert_array_equal(ng.NetExtract(bn, "MovingMean"), [1, 2])
    assert ng.NetExtract(bn, "Input") == (4, 2)


def test_constructor_rejects_positional_arguments():
    with pytest.raises(ng.NetOptionError, match="positional"):
        ng.BatchNormalizationLayer(3)


# -------------------------------------------------------------------------------- Options


def test_options_of_the_class():
    options = ng.Options(ng.BatchNormalizationLayer)
    assert options["Epsilon"] == 0.001
    assert options["Momentum"] == 0.9
    assert options["Interleaving"] is False
    for name in (
        "Input",
        "Output",
        "Scaling",
        "Biases",
        "MovingMean",
        "MovingVariance",
        "LearningRateMultipliers",
    ):
        assert options[name] is ng.Automatic


def test_options_of_a_value_are_evaluation_options(bn):
    assert ng.Options(bn) == {
        "BatchSize": ng.Automatic,
        "NetEvaluationMode": "Test",
        "TargetDevice": "CPU",
        "WorkingPrecision": "Real32",
        "RandomSeeding": ng.Automatic,
    }


def test_options_of_something_else():
    with pytest.raises(ng.NetOptionError):
        ng.Options(3)


def test_layer_equality_is_by_value(bn):
    same = ng.NetInitialize(ng.BatchNormalizationLayer(Input=(3, 2), Epsilon=0.01, Momentum=0.8))
    assert bn == same
    assert bn != ng.NetReplacePart(bn, {"Biases": [0.0, 0.0, 1.0]})
    assert bn != ng.NetReplacePart(bn, {"Epsilon": 0.02})


def test_attributes_cannot_be_set(bn):
    for name in ("Epsilon", "epsilon", "_arrays", "anything"):
        with pytest.raises(ng.NetError, match="immutable"):
            setattr(bn, name, 1)
    assert ng.NetExtract(bn, "Epsilon") == 0.01


def test_attributes_cannot_be_deleted(bn):
    with pytest.raises(ng.NetError):
        del bn._arrays


def test_a_leaf_layer_indexes_its_parts_like_netextract():
    weights = np.arange(6.0).reshape(3, 2)
    layer = ng.LinearLayer(3, Weights=weights, Biases=[1.0, 2.0, 3.0], Input=2)
    np.testing.assert_array_equal(layer["Weights"], weights)
    assert layer["Input"] == (2,)
    with pytest.raises(ng.NetError, match="Weights"):
        layer["Weigths"]
