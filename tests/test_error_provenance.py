"""Issue 12 items 6-8: values out of range, ignored or colliding options, errors that name the
thing that caused them, and BatchSize in "Train" mode.

Each test failed on the main branch it was written against (971d585).
"""

import math
import warnings

import numpy as np
import pytest
from layer_check import raises

import netgraph as ng


def _weights(net, name="Weights"):
    return np.asarray(ng.NetExtract(net, name), dtype=np.float64)


# ------------------------------------------------------------------ NetInitialize sub-options


def test_a_misspelt_sub_option_is_refused_with_did_you_mean():
    layer = ng.LinearLayer(3, Input=2)
    raises(
        ng.NetOptionError,
        lambda: ng.NetInitialize(layer, Method=("Xavier", {"Distrbution": "Normal"})),
        "Distrbution",
        'Did you mean "Distribution"?',
    )
    raises(
        ng.NetOptionError,
        lambda: ng.NetInitialize(layer, Method=("Random", {"Weigths": 2})),
        'Did you mean "Weights"?',
    )
    raises(
        ng.NetOptionError,
        lambda: ng.NetInitialize(layer, Method=("Orthogonal", {"Distribution": "Normal"})),
        "Orthogonal",
        "no sub-options",
    )


@pytest.mark.parametrize(
    "sub, word",
    [
        ({"Weights": -1}, "Weights"),
        ({"Biases": "1"}, "Biases"),
        ({"Weights": float("nan")}, "Weights"),
    ],
)
def test_bad_random_sub_option_values_are_refused(sub, word):
    raises(
        ng.NetOptionError,
        lambda: ng.NetInitialize(ng.LinearLayer(3, Input=2), Method=("Random", sub)),
        word,
    )


def test_random_weights_and_biases_are_normal_with_the_given_standard_deviations():
    layer = ng.LinearLayer(4000, Input=8)  # 32000 weights, 4000 biases
    net = ng.NetInitialize(layer, Method=("Random", {"Weights": 2, "Biases": 0.5}))
    w, b = _weights(net), _weights(net, "Biases")
    # the std of N normal samples has a relative sampling error of about 1/sqrt(2N)
    assert abs(w.std() - 2.0) < 4 * 2.0 / math.sqrt(2 * w.size)
    assert abs(b.std() - 0.5) < 4 * 0.5 / math.sqrt(2 * b.size)
    assert abs(b.mean()) < 4 * 0.5 / math.sqrt(b.size)
    # the default: weights N(0, 1), biases zero
    default = ng.NetInitialize(layer, Method="Random")
    assert abs(_weights(default).std() - 1.0) < 4 / math.sqrt(2 * w.size)
    assert not _weights(default, "Biases").any()


FAN_OUT, FAN_IN = 500, 60  # LinearLayer(500, Input=60): Weights (500, 60)


@pytest.mark.parametrize(
    "method, sub, std",
    [
        ("Kaiming", {"FactorType": "Out"}, math.sqrt(2 / FAN_OUT)),
        ("Kaiming", {"FactorType": "Mean"}, math.sqrt(2 / ((FAN_IN + FAN_OUT) / 2))),
        ("Kaiming", {"ScaleFactor": 3}, 3 * math.sqrt(2 / FAN_IN)),
        ("Xavier", {"FactorType": "In"}, math.sqrt(1 / FAN_IN)),
        ("Xavier", {"FactorType": "Out", "ScaleFactor": 0.5}, 0.5 * math.sqrt(1 / FAN_OUT)),
        ("Xavier", {"Distribution": "Uniform"}, math.sqrt(2 / (FAN_IN + FAN_OUT))),
    ],
)
def test_kaiming_and_xavier_sub_options_set_the_standard_deviation(method, sub, std):
    net = ng.NetInitialize(ng.LinearLayer(FAN_OUT, Input=FAN_IN), Method=(method, sub))
    w = _weights(net)
    assert abs(w.std() - std) < 0.03 * std  # 30000 samples: sampling error about 0.4%
    if sub.get("Distribution") == "Uniform":
        assert np.abs(w).max() <= std * math.sqrt(3) * (1 + 1e-6)


def test_bad_factor_type_is_refused():
    raises(
        ng.NetOptionError,
        lambda: ng.NetInitialize(
            ng.LinearLayer(3, Input=2), Method=("Kaiming", {"FactorType": "Avg"})
        ),
        "FactorType",
        "Avg",
    )


# ------------------------------------------------------------------------ RandomSeeding


@pytest.mark.parametrize("a, b", [(0, 2**64), (-1, 2**64 - 1), (2**64, 2**65), (5, -5)])
def test_random_seeds_equal_modulo_2_to_the_64_give_different_nets(a, b):
    layer = ng.LinearLayer(5, Input=4)
    wa = _weights(ng.NetInitialize(layer, RandomSeeding=a))
    wb = _weights(ng.NetInitialize(layer, RandomSeeding=b))
    assert not np.array_equal(wa, wb)
    np.testing.assert_array_equal(wa, _weights(ng.NetInitialize(layer, RandomSeeding=a)))


def test_random_seeds_equal_modulo_2_to_the_64_give_different_dropout_masks():
    net = ng.DropoutLayer(0.5, Input=64)
    x = np.ones(64, np.float32)
    a = net(x, NetEvaluationMode="Train", RandomSeeding=0)
    b = net(x, NetEvaluationMode="Train", RandomSeeding=2**64)
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, net(x, NetEvaluationMode="Train", RandomSeeding=0))


def test_seeds_below_2_to_the_64_keep_their_stream():
    # the stream of seed s in [0, 2**64) is numpy's generator seeded with s's two 32-bit words
    # followed by the CRC-32 of the array's path: what every earlier release gave
    import zlib

    seed = 2**40 + 7
    rng = np.random.default_rng(
        [seed & 0xFFFFFFFF, seed >> 32, zlib.crc32(repr(("Weights",)).encode())]
    )
    expected = rng.standard_normal((5, 4)) * math.sqrt(2 / 4)
    net = ng.NetInitialize(ng.LinearLayer(5, Input=4), RandomSeeding=seed)
    np.testing.assert_allclose(_weights(net), expected, rtol=1e-6)


# ------------------------------------------------------------- values a type cannot hold


def _no_warning(call):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning would fail the test
        return call()


def test_float64_data_beyond_float32_is_refused_naming_port_value_and_index():
    net = ng.NetInitialize(ng.LinearLayer(2, Input=3))
    message = _no_warning(
        lambda: raises(ng.NetDataError, lambda: net(np.array([1e300, 1, 2])), '"Input"', "1e+300")
    )
    assert "(0,)" in message and "float32" in message and "Weights" not in message
    batch = np.ones((4, 3))
    batch[2, 1] = -3e39
    message = _no_warning(lambda: raises(ng.NetDataError, lambda: net(batch), "-3e+39", "(2, 1)"))
    # float64 working precision holds it: the result is W . x + b computed by hand
    w, b = _weights(net).astype(np.float64), _weights(net, "Biases")
    out = net(batch, WorkingPrecision="Real64")
    np.testing.assert_allclose(out, batch @ w.T + b, rtol=1e-12)


def test_training_data_beyond_float32_is_refused_naming_the_example():
    x = np.ones((6, 3))
    x[4, 0] = 1e200
    call = lambda: ng.NetTrain(ng.LinearLayer(2, Input=3), (x, np.ones((6, 2))))  # noqa: E731
    _no_warning(lambda: raises(ng.NetDataError, call, "example 4", "1e+200", "'Input'"))


@pytest.mark.parametrize(
    "data, type_, words",
    [
        ([300], "Integer8", ["300", "Integer8", "out of range"]),
        ([[1, 2], [3, -129]], "Integer8", ["-129", "(1, 1)", "out of range"]),
        ([-1], "UnsignedInteger16", ["-1", "UnsignedInteger16"]),
        ([2**70], "Integer64", [str(2**70), "Integer64"]),
        ([1.7], "Integer8", ["1.7", "Integer8", "not an integer"]),
        ([float("nan")], "Integer32", ["nan", "Integer32"]),
        ([1e300], "Real32", ["1e+300", "Real32", "out of range"]),
        ([None, 1.0], "Real32", ["None", "not a number"]),
    ],
)
def test_numeric_array_refuses_values_its_type_cannot_hold(data, type_, words):
    _no_warning(lambda: raises(ng.NetDataError, lambda: ng.NumericArray(data, type_), *words))


def test_numeric_array_keeps_values_its_type_holds():
    assert np.asarray(ng.NumericArray([3.0, -128], "Integer8")).tolist() == [3, -128]
    assert np.asarray(ng.NumericArray([2**64 - 1], "UnsignedInteger64")).tolist() == [2**64 - 1]
    assert np.isinf(np.asarray(ng.NumericArray([np.inf], "Real32"))).all()  # given, not grown


# ------------------------------------------------------------- BatchSize in "Train" mode


def _bn_train(x, scaling, biases, eps=0.001):
    """BatchNormalization in "Train" mode by its formula: per channel (axis 1 of a batch), the
    batch mean and biased variance over every other axis."""
    axes = (0, *range(2, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return scaling.reshape(shape) * (x - mean) / np.sqrt(var + eps) + biases.reshape(shape)


@pytest.mark.parametrize("batch_size", [1, 2, 4, 5, 100])
def test_train_mode_batch_size_does_not_split_batch_normalization_statistics(batch_size):
    rng = np.random.default_rng(3)
    scaling, biases = rng.uniform(0.5, 2, 3), rng.normal(size=3)
    bn = ng.NetInitialize(ng.BatchNormalizationLayer(Scaling=scaling, Biases=biases, Input=3))
    x = rng.normal(size=(5, 3)) * [1, 10, 100]  # 5 examples: BatchSize 2 once left one alone
    out = bn(x, NetEvaluationMode="Train", BatchSize=batch_size)
    np.testing.assert_allclose(out, _bn_train(x, scaling, biases), rtol=1e-4, atol=1e-5)


def test_train_mode_batch_size_in_a_chain_with_gradients():
    rng = np.random.default_rng(4)
    net = ng.NetInitialize(
        ng.NetChain([ng.LinearLayer(2), ng.BatchNormalizationLayer()], Input=3), RandomSeeding=7
    )
    x = rng.normal(size=(5, 3))
    w = np.asarray(ng.NetExtract(net, (0, "Weights")), np.float64)
    b = np.asarray(ng.NetExtract(net, (0, "Biases")), np.float64)
    expected = _bn_train(x @ w.T + b, np.ones(2), np.zeros(2))
    np.testing.assert_allclose(
        net(x, NetEvaluationMode="Train", BatchSize=2), expected, rtol=1e-4, atol=1e-5
    )
    whole = net(x, ng.NetPortGradient("Input"), NetEvaluationMode="Train")
    split = net(x, ng.NetPortGradient("Input"), NetEvaluationMode="Train", BatchSize=2)
    np.testing.assert_allclose(split, whole, rtol=1e-6, atol=1e-7)


def test_test_mode_batch_size_still_splits_and_agrees():
    rng = np.random.default_rng(5)
    bn = ng.NetInitialize(
        ng.BatchNormalizationLayer(MovingMean=[1.0, 2], MovingVariance=[4.0, 9], Input=2)
    )
    x = rng.normal(size=(5, 2))
    expected = (x - [1, 2]) / np.sqrt(np.array([4, 9]) + 0.001)
    np.testing.assert_allclose(bn(x, BatchSize=2), expected, rtol=1e-5)


# ------------------------------------------------------------------ non-numeric data


@pytest.mark.parametrize(
    "data, words",
    [
        ([[1, 2, 3], "a"], ["str", "'a'", "(1,)", "example 1"]),
        ([[1, 2, 3], None], ["NoneType", "(1,)", "example 1"]),
        ([[1, 2, 3], [1, 2, "x"]], ["str", "'x'", "(1, 2)", "example 1"]),
        (np.array([[1, 2, 3], [1, 2, 3], [4, None, 6]], dtype=object), ["NoneType", "(2, 1)"]),
    ],
)
def test_non_numeric_examples_are_named_with_their_type_and_position(data, words):
    net = ng.NetInitialize(ng.LinearLayer(2, Input=3))
    message = raises(ng.NetDataError, lambda: net(data), '"Input"', *words)
    assert "ragged" not in message


def test_non_numeric_training_data_names_the_first_bad_example():
    x = np.array([[1.0, 2, 3]] * 5, dtype=object)
    x[3, 2] = "?"
    x[4, 0] = None
    call = lambda: ng.NetTrain(ng.LinearLayer(2, Input=3), (x, np.ones((5, 2))))  # noqa: E731
    raises(ng.NetDataError, call, "'?'", "str", "(3, 2)", "example 3")


# ------------------------------------------------------------------------------- hints


@pytest.mark.parametrize(
    "channels, interleaving, words",
    [
        (1, False, ["x[:, None]"]),
        (3, False, ["3 channels"]),
        (1, True, ["x[..., None]"]),
    ],
)
def test_a_batch_missing_its_channel_axis_gets_the_channel_hint(channels, interleaving, words):
    spatial = (8, 8)
    shape = (*spatial, channels) if interleaving else (channels, *spatial)
    conv = ng.NetInitialize(ng.ConvolutionLayer(4, 3, Input=shape, Interleaving=interleaving))
    batch = np.ones((5, *spatial))
    message = raises(
        ng.NetShapeError,
        lambda: conv(batch),
        '"Input"',
        "(5, 8, 8)",
        "channel dimension seems to be missing",
        *words,
    )
    assert "Weights" not in message
    if channels == 1:  # the hint's fix works
        fixed = batch[:, None] if not interleaving else batch[..., None]
        assert conv(fixed).shape[0] == 5


def test_an_example_of_the_right_rank_and_wrong_size_gets_no_channel_hint():
    conv = ng.NetInitialize(ng.ConvolutionLayer(4, 3, Input=(3, 8, 8)))
    with pytest.raises(ng.NetError) as info:
        conv(np.ones((3, 9, 9)))  # one example with the wrong spatial size: no axis is missing
    assert "channel dimension" not in str(info.value)


def test_the_flatten_hint_appears_only_when_a_flatten_layer_would_fit():
    conv = ng.ConvolutionLayer(16, 3, Input=(1, 28, 28))  # Output (16, 26, 26): 10816 values
    fits = raises(
        ng.NetShapeError,
        lambda: ng.NetChain([conv, ng.ElementwiseLayer("Ramp", Input=16 * 26 * 26)]),
        "Hint: put a FlattenLayer between them.",
    )
    assert "(10816,)" in fits
    message = raises(
        ng.NetShapeError, lambda: ng.NetChain([conv, ng.LinearLayer(10, Input=100)]), "(100,)"
    )
    assert "put a FlattenLayer" not in message
    assert "(10816,)" in message  # what a FlattenLayer would have given instead


# ----------------------------------------------------------------------------- Options


def test_options_of_pooling_list_stride_like_convolution():
    assert ng.Options(ng.PoolingLayer)["Stride"] == 1
    assert ng.Options(ng.ConvolutionLayer)["Stride"] == 1
    pool = ng.PoolingLayer(2, Input=(1, 4, 4))
    x = np.arange(16.0).reshape(1, 4, 4)
    # Stride 1: every 2x2 window, the max is its bottom-right entry x[i+1, j+1]
    np.testing.assert_array_equal(pool(x), x[:, 1:, 1:])


@pytest.mark.parametrize(
    "cls, name, default",
    [(ng.DropoutLayer, "DropoutProbability", 0.5), (ng.SoftmaxLayer, "Level", -1)],
)
def test_options_list_positional_options_that_have_a_default(cls, name, default):
    assert ng.Options(cls)[name] == default
    assert cls(**{name: default}) == cls()


# ------------------------------------------------- errors name the array that caused them


def test_replaced_convolution_weights_name_the_full_expected_shape():
    conv = ng.NetInitialize(ng.ConvolutionLayer(8, 3, Input=(2, 6, 6)))
    words = ['"Weights"', "expected (8, 2, 3, 3)", "given (8, 3, 3, 3)"]
    raises(
        ng.NetArrayError, lambda: ng.NetReplacePart(conv, "Weights", np.ones((8, 3, 3, 3))), *words
    )
    chain = ng.NetInitialize(
        ng.NetChain([ng.ConvolutionLayer(8, 3), ng.BatchNormalizationLayer()], Input=(2, 6, 6))
    )
    call = lambda: ng.NetReplacePart(chain, (0, "Weights"), np.ones((8, 3, 3, 3)))  # noqa: E731
    message = raises(ng.NetArrayError, call, "layer 0", "ConvolutionLayer", *words)
    assert "incompatible shapes for the output of" not in message
    call = lambda: ng.NetReplacePart(chain, (0, "Weights"), np.ones((5, 2, 3, 3)))  # noqa: E731
    raises(ng.NetArrayError, call, "layer 0", "expected (8, 2, 3, 3)", "given (5, 2, 3, 3)")


def test_transposed_linear_weights_say_the_expected_shape():
    words = ['"Weights"', "expected (4, 3)", "given (3, 4)"]
    raises(ng.NetArrayError, lambda: ng.LinearLayer(4, Input=3, Weights=np.ones((3, 4))), *words)
    lin = ng.NetInitialize(ng.LinearLayer(4, Input=3))
    raises(ng.NetArrayError, lambda: ng.NetReplacePart(lin, "Weights", np.ones((3, 4))), *words)
    chain = ng.NetInitialize(ng.NetChain([ng.LinearLayer(4), ng.LinearLayer(2)], Input=3))
    call = lambda: ng.NetReplacePart(chain, (0, "Weights"), np.ones((3, 4)))  # noqa: E731
    raises(ng.NetArrayError, call, "layer 0", *words)  # in context: Input 3 is known


def test_a_replaced_array_is_named_not_its_sibling():
    lin = ng.LinearLayer(Weights=np.ones((4, 3)), Biases=np.ones(4))  # no Input, no n given
    message = raises(
        ng.NetArrayError,
        lambda: ng.NetReplacePart(lin, "Biases", np.ones(5)),
        '"Biases"',
        "expected (4,)",
        "given (5,)",
    )
    assert "Weights" not in message
    chain = ng.NetInitialize(
        ng.NetChain([ng.LinearLayer(4), ng.BatchNormalizationLayer(), ng.LinearLayer(2)], Input=3)
    )
    message = raises(
        ng.NetArrayError,
        lambda: ng.NetReplacePart(chain, (1, "Scaling"), np.ones(5)),
        '"Scaling"',
        "expected (4,)",
        "given (5,)",
    )
    assert '"Biases"' not in message


BN3 = {"Scaling": np.ones(3), "Biases": np.zeros(3)}  # fixes 3 channels


@pytest.mark.parametrize(
    "build",
    [
        lambda: ng.NetChain([ng.BatchNormalizationLayer(**BN3)], Input=4),
        lambda: ng.NetChain([ng.LinearLayer(4), ng.BatchNormalizationLayer(**BN3)], Input=2),
        lambda: ng.NetGraph(
            {"lin": ng.LinearLayer(4), "bn": ng.BatchNormalizationLayer(**BN3)},
            [("lin", "bn")],
            Input=2,
        ),
    ],
)
def test_a_channel_count_fixed_by_arrays_names_the_layer_and_array_in_a_net(build):
    message = raises(
        ng.NetArrayError, build, "BatchNormalizationLayer", '"Scaling" (3,)', '"Input" (4,)'
    )
    assert "incompatible shapes for the output of" not in message


def test_data_against_arrays_names_the_array_in_evaluation_and_training():
    net = ng.NetInitialize(ng.NetChain([ng.BatchNormalizationLayer(**BN3)]))
    words = ["BatchNormalizationLayer", '"Scaling" (3,)', "(4,)"]
    raises(ng.NetShapeError, lambda: net(np.ones((5, 4))), *words)
    call = lambda: ng.NetTrain(net, (np.ones((6, 4)), np.ones((6, 4))))  # noqa: E731
    raises(ng.NetDataError, call, "training data", *words)


def test_training_examples_missing_their_channel_axis_get_the_channel_hint():
    net = ng.NetChain(
        [ng.ConvolutionLayer(4, 3), ng.FlattenLayer(), ng.LinearLayer(2)], Input=(1, 8, 8)
    )
    call = lambda: ng.NetTrain(net, (np.ones((10, 8, 8)), np.ones((10, 2))))  # noqa: E731
    raises(
        ng.NetDataError,
        call,
        "(8, 8)",
        "(1, 8, 8)",
        "channel dimension seems to be missing (add an axis of size 1)",
    )


# ------------------------------- a given array behind a conflict met while building a container


def _conv4():  # 4 output channels from its options
    return ng.ConvolutionLayer(4, 3, Input=(1, 8, 8))


def _conv_in5():  # Weights given for 5 input channels (2 outputs, 3x3 kernel)
    return ng.ConvolutionLayer(2, 3, Weights=np.zeros((2, 5, 3, 3), np.float32))


# after 4 channels the Weights of a 2-output 3x3 convolution are (2, 4, 3, 3)
CONV_IN5 = ['ConvolutionLayer: array "Weights": expected (2, 4, 3, 3)', "given (2, 5, 3, 3)"]


@pytest.mark.parametrize(
    "build, where",
    [
        (lambda: ng.NetChain([_conv4(), ng.ElementwiseLayer("Ramp"), _conv_in5()]), "layer 2"),
        (lambda: ng.NetAppend(ng.NetChain([_conv4(), "Ramp"]), _conv_in5()), "layer 2"),
        (
            lambda: ng.NetJoin(ng.NetChain([_conv4(), "Ramp"]), ng.NetChain(["Tanh", _conv_in5()])),
            "layer 3",
        ),
        (lambda: ng.NetInsert(ng.NetChain([_conv4(), "Ramp", "Tanh"]), _conv_in5(), 2), "layer 2"),
        (
            lambda: ng.NetGraph(
                {"a": _conv4(), "r": "Ramp", "b": _conv_in5()}, [("a", "r"), ("r", "b")]
            ),
            "layer 'b'",
        ),
        (
            lambda: ng.NetChain(
                [ng.NetChain([_conv4(), "Ramp"]), ng.NetChain(["Ramp", _conv_in5()])]
            ),
            "layer 1: in layer 1",
        ),
        (
            lambda: ng.NetChain(
                {
                    "stem": ng.NetChain([_conv4(), "Ramp"]),
                    "head": ng.NetGraph({"r": "Tanh", "c": _conv_in5()}, [("r", "c")]),
                }
            ),
            "layer 'head': in layer 'c'",
        ),
    ],
)
def test_a_given_array_behind_a_conflict_in_a_container_is_named_not_the_layer_between(
    build, where
):
    message = raises(ng.NetArrayError, build, f"in {where}: " + CONV_IN5[0], CONV_IN5[1])
    assert "ElementwiseLayer" not in message  # the Ramp or Tanh in between is not to blame


def test_a_given_scaling_behind_a_conflict_is_named_unless_biases_could_be_to_blame():
    # 4 channels through a Ramp into a BN whose Scaling has 3: Scaling, expected (4,)
    three = np.ones(3, np.float32)
    build = lambda **arrays: ng.NetChain(  # noqa: E731
        [_conv4(), "Ramp", ng.BatchNormalizationLayer(**arrays)]
    )
    raises(
        ng.NetArrayError,
        lambda: build(Scaling=three),
        'in layer 2: BatchNormalizationLayer: array "Scaling": expected (4,), given (3,)',
    )
    graph = lambda: ng.NetGraph(  # noqa: E731
        {"c": _conv4(), "r": "Ramp", "bn": ng.BatchNormalizationLayer(Biases=three)},
        [("c", "r"), ("r", "bn")],
    )
    raises(ng.NetArrayError, graph, "in layer 'bn'", '"Biases": expected (4,), given (3,)')
    # Scaling and Biases both of length 3: neither alone is the cause, the conflict is kept
    message = raises(
        ng.NetShapeError, lambda: build(Scaling=three, Biases=three), "ElementwiseLayer"
    )
    assert 'array "' not in message and "expected (4,)" not in message


def test_two_given_arrays_that_could_each_be_wrong_keep_the_conflict():
    # the first conv's 4 output channels come from its Weights alone: either Weights could be
    # the wrong one, so neither is named; with its channel count an option, the second is
    first = ng.ConvolutionLayer(KernelSize=3, Weights=np.zeros((4, 1, 3, 3)), Input=(1, 8, 8))
    message = raises(
        ng.NetShapeError,  # met between two layers, at the Ramp: a shape conflict
        lambda: ng.NetChain([first, "Ramp", _conv_in5()]),
        '"Output" (5, ?, ?) feeds layer 2',
    )
    assert 'array "' not in message
    fixed = ng.ConvolutionLayer(4, 3, Weights=np.zeros((4, 1, 3, 3)), Input=(1, 8, 8))
    raises(ng.NetArrayError, lambda: ng.NetChain([fixed, "Ramp", _conv_in5()]), *CONV_IN5)


def test_a_shared_array_behind_a_conflict_in_a_container_is_named():
    # the block's convolution Weights become a shared array of the block, given for 5 input
    # channels; the stem gives 4 through a Ramp, so the shared array is the one to blame
    block = ng.NetInsertSharedArrays(ng.NetChain({"r": "Tanh", "c": _conv_in5()}))
    message = raises(
        ng.NetArrayError,
        lambda: ng.NetChain([_conv4(), "Ramp", block]),
        "shared array 'c/Weights': expected (2, 4, 3, 3)",
        CONV_IN5[1],
    )
    assert "ElementwiseLayer" not in message


def test_a_nested_error_tells_the_inner_and_the_outer_edge_apart():
    inner = ng.NetChain([ng.ElementwiseLayer("Ramp"), ng.LinearLayer(3, Weights=np.zeros((3, 5)))])
    with pytest.raises(ng.NetArrayError) as info:
        ng.NetChain([ng.LinearLayer(4, Input=2), inner])
    message = str(info.value)
    assert 'array "Weights": expected (3, 4), given (3, 5)' in message
    # the inner Linear layer's edge, then the inner chain's, each said once
    assert message.count('its "Input" (4,) is fed by layer 0') == 1
    assert 'the NetChain\'s "Input" (4,) is fed by layer 0' in message
