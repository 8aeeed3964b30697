"""Regressions found reviewing issue 12 (correctness and robustness) on the merged code."""

import pickle
import warnings
import zlib

import numpy as np
import pytest

import netgraph as ng


def _linear():
    lin = ng.LinearLayer(2, Input=2, Weights=np.eye(2), Biases=np.zeros(2))
    return lin


def test_netmeasurements_refuses_float64_data_beyond_float32():
    x = np.array([[1.0, 2.0], [3.0, 1e300], [0.0, 1.0]])
    y = np.zeros((3, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning may leak
        with pytest.raises(ng.NetDataError) as err:
            ng.NetMeasurements(_linear(), (x, y), "MeanSquare")
    msg = str(err.value)
    assert "'Input'" in msg and "example 1" in msg and "1e+300" in msg and "(1, 1)" in msg


def test_netmeasurements_real64_takes_float64_data_beyond_float32():
    x = np.array([[1e100, 0.0], [0.0, 0.0]])
    y = np.zeros((2, 2))
    # identity net: the mean |output - target| over the 4 values is 1e100 / 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = ng.NetMeasurements(_linear(), (x, y), "MeanDeviation", WorkingPrecision="Real64")
    assert got == pytest.approx(1e100 / 4, rel=1e-12)


def test_netmeasurements_overflow_in_the_net_leaks_no_warning():
    # Real64 data the net squares past float64's range: the loss is inf, and no warning escapes
    x = np.array([[1e300, 0.0], [0.0, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = ng.NetMeasurements(
            _linear(), (x, np.zeros((2, 2))), "Loss", WorkingPrecision="Real64"
        )
    assert got == np.inf


@pytest.mark.parametrize("batch_size", [1, 2, 3, 4])
def test_train_mode_batch_size_never_changes_dropout_masks(batch_size):
    # Two Dropout layers: chunks of the batch must draw the masks the whole batch draws (one
    # stream per layer), so BatchSize does not change a seeded Train-mode evaluation.
    x = np.arange(1.0, 41.0).reshape(5, 8)
    net = ng.NetChain([ng.DropoutLayer(0.5), ng.DropoutLayer(0.5)], Input=8)
    whole = net(x, NetEvaluationMode="Train", RandomSeeding=7)
    chunked = net(x, NetEvaluationMode="Train", RandomSeeding=7, BatchSize=batch_size)
    assert np.array_equal(whole, chunked)
    # each element is x, 0 or 4x (kept by both layers: scaled by 2 twice), some of each
    assert np.all((whole == 0) | (whole == 4 * x))
    assert 0 < np.count_nonzero(whole) < x.size


def test_train_mode_batch_size_gradient_matches_one_batch():
    x = np.arange(1.0, 31.0).reshape(5, 6) / 10
    net = ng.NetChain(
        [ng.LinearLayer(4, Weights=np.ones((4, 6)), Biases=np.zeros(4)), ng.DropoutLayer(0.5),
         ng.LinearLayer(3, Weights=np.ones((3, 4)), Biases=np.zeros(3)), ng.DropoutLayer(0.5)],
        Input=6,
    )  # fmt: skip
    port = ng.NetPortGradient((0, "Weights"))
    whole = net(x, port, NetEvaluationMode="Train", RandomSeeding=3)
    chunked = net(x, port, NetEvaluationMode="Train", RandomSeeding=3, BatchSize=2)
    np.testing.assert_allclose(chunked, whole, rtol=1e-6)


def _conv_chain():
    layers = {
        "c1": ng.ConvolutionLayer(4, 3, PaddingSize=1),
        "r": ng.ElementwiseLayer("Ramp"),
        "c2": ng.ConvolutionLayer(2, 3),
    }
    return ng.NetInitialize(ng.NetChain(layers, Input=(2, 6, 6)))


def test_replaced_weights_with_another_input_channel_count_name_their_layer():
    # c2's Weights given 5 input channels while c1 (through the Ramp) gives 4: the error names
    # c2 and its Weights with the full expected shape (2, 4, 3, 3), not the Ramp in between
    with pytest.raises(ng.NetError) as err:
        ng.NetReplacePart(_conv_chain(), {("c2", "Weights"): np.zeros((2, 5, 3, 3))})
    msg = str(err.value)
    assert "'c2'" in msg and 'array "Weights"' in msg
    assert "expected (2, 4, 3, 3)" in msg and "given (2, 5, 3, 3)" in msg
    assert "'r'" not in msg


def test_replaced_weights_in_a_nested_chain_name_the_path():
    inner = ng.NetChain({"r": ng.ElementwiseLayer("Ramp"), "c2": ng.ConvolutionLayer(2, 3)})
    net = ng.NetChain({"c1": ng.ConvolutionLayer(4, 3), "block": inner}, Input=(2, 7, 7))
    with pytest.raises(ng.NetError) as err:
        ng.NetReplacePart(net, {("block", "c2", "Weights"): np.zeros((2, 3, 3, 3))})
    msg = str(err.value)
    assert "'block'" in msg and "'c2'" in msg and 'array "Weights"' in msg
    assert "expected (2, 4, 3, 3)" in msg and "given (2, 3, 3, 3)" in msg


def test_a_replaced_array_that_fits_still_replaces():
    w = np.full((2, 4, 3, 3), 0.5)
    net = ng.NetReplacePart(_conv_chain(), {("c2", "Weights"): w})
    np.testing.assert_array_equal(ng.NetExtract(net, ("c2", "Weights")), w)


def test_replaced_weights_in_a_graph_name_their_layer():
    layers = {"c1": ng.ConvolutionLayer(4, 3), "r": ng.ElementwiseLayer("Tanh"),
              "c2": ng.ConvolutionLayer(2, 1)}  # fmt: skip
    net = ng.NetGraph(layers, {"c1": "r", "r": "c2"}, Input=(3, 5, 5))
    with pytest.raises(ng.NetError) as err:
        ng.NetReplacePart(net, {("c2", "Weights"): np.zeros((2, 6, 1, 1))})
    msg = str(err.value)
    assert "'c2'" in msg and "expected (2, 4, 1, 1)" in msg and "given (2, 6, 1, 1)" in msg


@pytest.mark.parametrize(
    "method, sub",
    [("Random", {"Weights": 1e300}), ("Kaiming", {"ScaleFactor": 1e300}),
     ("Xavier", {"ScaleFactor": 1e39, "Distribution": "Uniform"})],
)  # fmt: skip
def test_netinitialize_refuses_standard_deviations_beyond_float32(method, sub):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ng.NetOptionError) as err:
            ng.NetInitialize(ng.LinearLayer(3, Input=2), Method=(method, sub))
    msg = str(err.value)
    assert method in msg and '"Weights"' in msg and "float32" in msg


def test_netinitialize_random_biases_beyond_float32_are_refused():
    with pytest.raises(ng.NetOptionError) as err:
        ng.NetInitialize(ng.LinearLayer(3, Input=2), Method=("Random", {"Biases": 1e300}))
    assert '"Biases"' in str(err.value)


def test_forced_output_gradient_beyond_float32_names_the_port_and_value():
    lin = _linear()
    forced = {"Input": np.ones(2), ng.NetPortGradient("Output"): np.array([0.0, 1e300])}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ng.NetDataError) as err:
            lin(forced, ng.NetPortGradient("Input"))
    msg = str(err.value)
    assert 'gradient of output port "Output"' in msg and "1e+300" in msg and "float32" in msg
    # in Real64 it is a number: the identity net's input gradient is the forced gradient
    got = lin(forced, ng.NetPortGradient("Input"), WorkingPrecision="Real64")
    np.testing.assert_array_equal(got, [0.0, 1e300])


def test_a_multiplier_beyond_float32_diverges_without_warnings():
    x = np.arange(20.0).reshape(10, 2) / 20
    y = np.arange(20.0).reshape(10, 2) / 10
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opts = dict(MaxTrainingRounds=1, BatchSize=5, TrainingProgressReporting=None)
        res = ng.NetTrain(
            _linear(), (x, y), "All", LearningRateMultipliers={"Weights": 1e300}, **opts
        )
    assert res["ReasonTrainingStopped"] == "Diverged"
    # the returned net is the last finite one: the given net, untouched
    np.testing.assert_array_equal(ng.NetExtract(res["TrainedNet"], "Weights"), np.eye(2))


@pytest.mark.parametrize(
    "value, kind",
    [(2.0**63, "Integer64"), (2.0**64, "UnsignedInteger64"), (-(2.0**63) - 4096, "Integer64"),
     (2.0**31, "Integer32"), (np.float32(2.0**31), "Integer32")],
)  # fmt: skip
def test_numericarray_refuses_floats_just_past_the_integer_range(value, kind):
    # float(2**63 - 1) rounds to 2**63, which int64 cannot hold (it wrapped to -2**63)
    with pytest.raises(ng.NetDataError) as err:
        ng.NumericArray(np.array([1.0, value], dtype=np.asarray(value).dtype), kind)
    assert "out of range" in str(err.value) and "(1,)" in str(err.value)


@pytest.mark.parametrize(
    "value, kind",
    [(-(2.0**63), "Integer64"), (2.0**63 - 1024, "Integer64"),
     (2.0**64 - 2048, "UnsignedInteger64"), (2.0**31 - 1, "Integer32"), (-128.0, "Integer8")],
)  # fmt: skip
def test_numericarray_keeps_floats_at_the_integer_range_ends(value, kind):
    # the largest floats below the bound are exact integers the type holds
    got = np.asarray(ng.NumericArray(np.array([value]), kind))
    assert int(got[0]) == int(value)


def _two_input_graph():
    layers = {"a": ng.LinearLayer(3), "b": ng.LinearLayer(3), "t": ng.TotalLayer()}
    edges = [(ng.NetPort("X"), "a"), (ng.NetPort("Y"), "b"), ("a", "t"), ("b", "t")]
    return ng.NetInitialize(ng.NetGraph(layers, edges, X=2, Y=4))


@pytest.mark.parametrize("y", [np.ones(5), np.ones((3, 5))])
def test_data_of_the_wrong_shape_is_reported_at_its_port_first(y):
    # the port Y was given as 4 and b's Weights fit it: the news is the data's shape (5,)
    x = np.ones(2) if y.ndim == 1 else np.ones((3, 2))
    with pytest.raises(ng.NetShapeError) as err:
        _two_input_graph()({"X": x, "Y": y})
    msg = str(err.value)
    assert msg.startswith('NetGraph: port "Y" has shape (4,), but got (5,)')
    assert "'b'" in msg and '"Weights"' in msg  # why the port is (4,): b's Weights


def test_data_of_the_wrong_shape_for_a_chain_names_its_input_port_first():
    net = ng.NetInitialize(ng.NetChain([ng.ElementwiseLayer("Tanh"), ng.LinearLayer(3)], Input=2))
    with pytest.raises(ng.NetShapeError) as err:
        net(np.ones(3))
    assert str(err.value).startswith('NetChain: port "Input" has shape (2,), but got (3,)')


def test_netmeasurements_refuses_a_misspelt_option_with_a_suggestion():
    x, y = np.eye(2), np.eye(2)
    with pytest.raises(ng.NetOptionError) as err:
        ng.NetMeasurements(_linear(), (x, y), "MeanSquare", BatchSze=1)
    assert "BatchSze" in str(err.value) and 'Did you mean "BatchSize"' in str(err.value)
    # snake_case names work, as for NetTrain: the identity net on its own targets measures 0
    assert ng.NetMeasurements(_linear(), (x, y), "MeanSquare", batch_size=1) == 0.0


def test_evaluation_takes_a_string_seed_like_netinitialize_and_nettrain():
    net = ng.DropoutLayer(0.5)
    a = net(np.ones(64), NetEvaluationMode="Train", RandomSeeding="abc")
    b = net(np.ones(64), NetEvaluationMode="Train", RandomSeeding="abc")
    c = net(np.ones(64), NetEvaluationMode="Train", RandomSeeding="abd")
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert set(np.unique(a)) == {0.0, 2.0}
    with pytest.raises(ng.NetOptionError):
        net(np.ones(4), NetEvaluationMode="Train", RandomSeeding=1.5)


def _real64_weights(value):
    w = ng.NumericArray(np.array([[1.0, 0.0], [0.0, value]]), "Real64")
    return ng.LinearLayer(2, Weights=w, Biases=np.zeros(2), Input=2)


def test_real64_arrays_beyond_float32_are_refused_in_real32_evaluation():
    net = ng.NetChain({"lin": _real64_weights(1e300)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ng.NetArrayError) as err:
            net(np.ones(2))
    msg = str(err.value)
    assert '"lin/Weights"' in msg and "1e+300" in msg and "(1, 1)" in msg and "Real64" in msg
    # in Real64 the array is a number: the output is (1, 1e300)
    np.testing.assert_array_equal(net(np.ones(2), WorkingPrecision="Real64"), [1.0, 1e300])


def test_real64_arrays_beyond_float32_are_refused_by_nettrain_and_netmeasurements():
    net, x = _real64_weights(-1e300), np.ones((4, 2))
    opts = dict(MaxTrainingRounds=1, BatchSize=2, TrainingProgressReporting=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ng.NetArrayError) as err:
            ng.NetTrain(net, (x, x), **opts)
        assert '"Weights"' in str(err.value) and "-1e+300" in str(err.value)
        with pytest.raises(ng.NetArrayError):
            ng.NetMeasurements(net, (x, x), "MeanSquare")


def test_a_uint64_class_index_beyond_int64_is_reported_as_given():
    # 2**64 - 1 as int64 wraps to -1: the error must show the value the caller gave
    ce = ng.CrossEntropyLossLayer("Index")
    with pytest.raises(ng.NetDataError) as err:
        ce({"Input": np.array([0.2, 0.8]), "Target": np.uint64(2**64 - 1)})
    assert "18446744073709551615" in str(err.value) and '"Target"' in str(err.value)


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_nets_with_decoders_pickle_with_every_protocol(protocol):
    labels = ["cat", "dog", "bird"]
    net = ng.NetChain(
        [ng.LinearLayer(3, Weights=np.eye(3), Biases=np.zeros(3)), ng.SoftmaxLayer()],
        Input=3, Output=ng.NetDecoder(("Class", labels)),
    )  # fmt: skip
    back = pickle.loads(pickle.dumps(net, protocol=protocol))
    assert back == net and back(np.array([0.0, 0.0, 3.0])) == "bird"
    boolean = ng.NetDecoder("Boolean")
    assert pickle.loads(pickle.dumps(boolean, protocol=protocol)) == boolean


def _image_classifier():
    layers = [ng.ConvolutionLayer(2, 3), ng.FlattenLayer(), ng.LinearLayer(3), ng.SoftmaxLayer()]
    return ng.NetInitialize(ng.NetChain(layers, Input=(1, 6, 6)))


def test_netmeasurements_data_missing_its_channel_axis_is_named_as_such():
    x, y = np.ones((5, 6, 6)), np.zeros(5, int)
    with pytest.raises(ng.NetDataError) as err:
        ng.NetMeasurements(_image_classifier(), (x, y), "Accuracy")
    msg = str(err.value)
    assert msg.startswith("NetMeasurements data:") and "channel dimension" in msg
    # examples one axis short: the data's fault, not the Weights' (no "expected (2, 6, 3)")
    assert '"Weights"' not in msg


def test_nettrain_data_missing_its_channel_axis_does_not_blame_the_weights():
    x, y = np.ones((5, 6, 6)), np.zeros(5, int)
    with pytest.raises(ng.NetDataError) as err:
        ng.NetTrain(_image_classifier(), (x, y), MaxTrainingRounds=1, BatchSize=5)
    msg = str(err.value)
    assert "(6, 6)" in msg and "(1, 6, 6)" in msg and "channel dimension" in msg
    assert '"Weights"' not in msg


def test_data_against_a_port_shape_the_user_gave_does_not_blame_the_weights():
    x, y = np.ones((5, 1, 7, 7)), np.zeros(5, int)
    with pytest.raises(ng.NetDataError) as err:
        ng.NetTrain(_image_classifier(), (x, y), MaxTrainingRounds=1, BatchSize=5)
    msg = str(err.value)
    assert "(1, 7, 7)" in msg and "(1, 6, 6)" in msg and '"Weights"' not in msg


def test_data_against_a_port_shape_the_arrays_fixed_names_the_array():
    # no Input given: BN's Scaling of length 3 fixes the channels, and is named
    bn = ng.BatchNormalizationLayer(Scaling=np.ones(3), Biases=np.zeros(3))
    x = np.ones((6, 4, 2))
    with pytest.raises(ng.NetDataError) as err:
        ng.NetTrain(ng.NetChain([bn]), (x, x), MaxTrainingRounds=1, BatchSize=3)
    msg = str(err.value)
    assert '"Scaling"' in msg and "(4, 2)" in msg and "(3," in msg


def test_string_seeds_with_one_crc32_give_different_streams():
    assert zlib.crc32(b"plumless") == zlib.crc32(b"buckeroo")  # a known CRC-32 collision

    def weights(seed):
        net = ng.NetInitialize(ng.LinearLayer(4, Input=4), RandomSeeding=seed)
        return ng.NetExtract(net, "Weights")

    assert not np.array_equal(weights("plumless"), weights("buckeroo"))
    assert np.array_equal(weights("plumless"), weights("plumless"))
    drop = ng.DropoutLayer(0.5)
    masks = [drop(np.ones(64), NetEvaluationMode="Train", RandomSeeding=s) for s in
             ("plumless", "buckeroo")]  # fmt: skip
    assert not np.array_equal(*masks)


@pytest.mark.parametrize(
    "data", [[1, 70000], np.array([1, 70000]), np.array([1, 70000], np.uint32)]
)
def test_integers_beyond_real16_are_refused(data):
    # float16's largest value is 65504: 70000 would become inf
    with pytest.raises(ng.NetDataError) as err:
        ng.NumericArray(data, "Real16")
    assert "70000" in str(err.value) and "Real16" in str(err.value) and "(1,)" in str(err.value)
    assert np.asarray(ng.NumericArray([1, 65504], "Real16"))[1] == 65504


def test_a_python_int_beyond_float64_is_named_with_its_index():
    for big, digits in ((10**400, 401), (-(10**5000), 5001)):  # str() refuses 5001 digits
        with pytest.raises(ng.NetDataError) as err:
            ng.NumericArray([[1, 2], [3, big]], "Real64")
        assert "(1, 1)" in str(err.value) and f"about {digits} digits" in str(err.value)
        with pytest.raises(ng.NetDataError) as err:
            ng.NumericArray([1, big], "Integer8")
        assert "(1,)" in str(err.value) and f"about {digits} digits" in str(err.value)


def test_a_replaced_shared_array_of_another_shape_gets_the_expected_shape():
    layers = {"a": ng.LinearLayer(3, Weights=ng.NetSharedArray("w")),
              "b": ng.LinearLayer(3, Weights=ng.NetSharedArray("w"))}  # fmt: skip
    net = ng.NetInitialize(ng.NetGraph(layers, [("a", "b")], Input=3))
    for key in (ng.NetSharedArray("w"), ("a", "Weights")):
        with pytest.raises(ng.NetArrayError) as err:
            ng.NetReplacePart(net, {key: np.zeros((3, 4))})
        msg = str(err.value)
        assert "shared array 'w'" in msg and "expected (3, 3), given (3, 4)" in msg
