"""Property-based tests (hypothesis): random nets, random shapes, random arrays.

Properties: inferred shapes equal the shapes a forward pass produces; one example, a batch row
and a list element agree; float64 gradients agree with finite differences; Export/Import is
bit-exact; BatchNormalization's Train-mode statistics and Test-mode affine map; NetReplacePart
then NetExtract returns what was put in; shape unification is commutative and idempotent.
Data comes from numpy generators seeded by hypothesis (hypothesis' own arrays favour ties,
which put max pooling and Ramp on their kinks).
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from layer_check import check_gradients

import netgraph as ng
from netgraph import shapes as S

PROPERTY = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
REAL64 = {"WorkingPrecision": "Real64"}
SEEDS = st.integers(0, 2**32 - 1)
# smooth (C1) functions only: finite differences across a kink would disagree
SMOOTH = ["Tanh", "LogisticSigmoid", "Sin", "SoftPlus", "Swish", "GELU", "Square", "ELU"]


# ------------------------------------------------------------------------ random nets


@st.composite
def vector_chains(draw):
    """Linear/Elementwise/BatchNormalization/Softmax/Dropout chains on vectors."""
    layers = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["linear", "elementwise", "bn", "softmax", "dropout"]))
        if kind == "linear":
            layers.append(ng.LinearLayer(draw(st.integers(1, 5))))
        elif kind == "elementwise":
            layers.append(ng.ElementwiseLayer(draw(st.sampled_from(SMOOTH))))
        elif kind == "bn":
            layers.append(ng.BatchNormalizationLayer(Epsilon=draw(st.floats(1e-4, 0.1))))
        elif kind == "softmax":
            layers.append(ng.SoftmaxLayer())
        else:
            layers.append(ng.DropoutLayer(draw(st.floats(0, 0.9))))
    return ng.NetChain(layers, Input=draw(st.integers(1, 5)))


def _window(draw, size: tuple, pooling: bool) -> dict | None:
    """Random kernel/stride/padding(/dilation) whose output is at least 1 in every dim."""
    k = draw(st.integers(1, 3))
    stride = draw(st.integers(1, 2))
    pad = draw(st.integers(0, k - 1))
    dilation = 1 if pooling else draw(st.integers(1, 2))
    reach = dilation * (k - 1) + 1
    if any(n + 2 * pad < reach for n in size):
        return None
    options = {"Stride": stride, "PaddingSize": pad, "k": k}
    return options if pooling else {**options, "Dilation": dilation}


@st.composite
def image_chains(draw):
    """Convolution/Pooling/BatchNormalization/Ramp chains on small images, maybe then
    Flatten and Linear; window geometry random but keeping every size positive."""
    channels = draw(st.integers(1, 3))
    size = (draw(st.integers(3, 7)), draw(st.integers(3, 7)))
    net = ng.NetChain([ng.ElementwiseLayer("Tanh")], Input=(channels, *size))
    layers = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["conv", "pool", "bn", "ramp"]))
        spatial = ng.Information(net, "OutputPorts")["Output"][1:]
        if kind == "conv":
            options = _window(draw, spatial, pooling=False)
            if options is None:
                continue
            k = options.pop("k")
            layer = ng.ConvolutionLayer(draw(st.integers(1, 3)), k, **options)
        elif kind == "pool":
            options = _window(draw, spatial, pooling=True)
            if options is None:
                continue
            function = draw(st.sampled_from(["Max", "Mean", "Total"]))
            layer = ng.PoolingLayer(options.pop("k"), Function=function, **options)
        elif kind == "bn":
            layer = ng.BatchNormalizationLayer()
        else:
            layer = ng.ElementwiseLayer("Ramp")
        layers.append(layer)
        net = ng.NetChain([ng.ElementwiseLayer("Tanh"), *layers], Input=(channels, *size))
    if draw(st.booleans()):
        layers += [ng.FlattenLayer(), ng.LinearLayer(draw(st.integers(1, 4)))]
    return ng.NetChain(layers or ["Ramp"], Input=(channels, *size))


def randomized(net: ng.Layer, seed: int) -> ng.Layer:
    """The net initialized, then every array replaced by random values (variances > 0)."""
    rng = np.random.default_rng(seed)
    net = ng.NetInitialize(net, RandomSeeding=seed)
    rules = {}
    for path, value in ng.Information(net, "Arrays").items():
        if path[-1] == "MovingVariance":
            rules[path] = rng.uniform(0.5, 2.0, value.shape)
        else:
            rules[path] = rng.normal(0, 0.7, value.shape)
    return ng.NetReplacePart(net, rules)


def batch_for(net: ng.Layer, seed: int, n: int) -> np.ndarray:
    shape = ng.Information(net, "InputPorts")["Input"]
    return np.random.default_rng(seed).normal(size=(n, *shape))


def _output_shape(net: ng.Layer) -> tuple:
    return ng.Information(net, "OutputPorts")["Output"]


# ----------------------------------------------------------- shapes, batches, gradients


@PROPERTY
@given(st.one_of(vector_chains(), image_chains()), SEEDS, st.integers(1, 3))
def test_inferred_shape_matches_the_forward_pass_and_batch_forms_agree(net, seed, n):
    net = randomized(net, seed)
    x = batch_for(net, seed, n)
    batch = net(x, **REAL64)
    assert batch.shape == (n, *_output_shape(net))
    as_list = net(list(x), **REAL64)
    np.testing.assert_array_equal(as_list, batch)
    for i in range(n):
        single = net(x[i], **REAL64)
        assert single.shape == _output_shape(net)
        np.testing.assert_allclose(single, batch[i], rtol=1e-12, atol=1e-12)


@settings(PROPERTY, max_examples=12)
@given(vector_chains(), SEEDS, st.sampled_from(["Test", "Train"]))
def test_vector_chain_gradients_match_finite_differences(net, seed, mode):
    if mode == "Train" and "DropoutLayer" in ng.Information(net, "LayerTypeCounts"):
        mode = "Test"  # Dropout's Train mode draws a fresh mask per call
    net = randomized(net, seed)
    check_gradients(net, batch_for(net, seed, 3), mode, max_entries=6, directions=2)


@settings(PROPERTY, max_examples=8)
@given(image_chains(), SEEDS)
def test_image_chain_gradients_match_finite_differences(net, seed):
    net = randomized(net, seed)
    check_gradients(net, batch_for(net, seed, 2), "Test", max_entries=6, directions=2)


@PROPERTY
@given(
    st.integers(1, 3),
    st.lists(st.integers(2, 9), min_size=1, max_size=2),
    st.integers(1, 3),
    st.integers(1, 3),
    st.integers(0, 2),
    st.integers(1, 2),
    st.booleans(),
)
def test_convolution_and_pooling_shapes_equal_the_forward_pass(c, size, k, stride, pad, dil, pool):
    shape = (c, *size)
    dil = 1 if pool else dil
    reach = dil * (k - 1) + 1
    if any(n + 2 * pad < reach for n in size):
        return
    if pool:
        if pad >= k:
            return
        net = ng.PoolingLayer(k, stride, PaddingSize=pad, Input=shape)
    else:
        net = ng.ConvolutionLayer(2, k, Stride=stride, PaddingSize=pad, Dilation=dil, Input=shape)
    expected = tuple((n + 2 * pad - reach) // stride + 1 for n in size)
    net = ng.NetInitialize(net)
    assert _output_shape(net)[1:] == expected
    assert net(np.ones(shape)).shape == _output_shape(net)


# ----------------------------------------------------------------------- Export/Import


@settings(PROPERTY, max_examples=15)
@given(st.one_of(vector_chains(), image_chains()), SEEDS, st.booleans())
def test_export_import_round_trip_is_bit_exact(net, seed, real64):
    net = randomized(net, seed)
    if real64:
        arrays = ng.Information(net, "Arrays").items()
        net = ng.NetReplacePart(net, {p: ng.NumericArray(v, "Real64") for p, v in arrays})
    with tempfile.TemporaryDirectory() as tmp:
        loaded = ng.Import(ng.Export(os.path.join(tmp, "net.safetensors"), net))
    assert loaded == net
    mine, theirs = ng.Information(net, "Arrays"), ng.Information(loaded, "Arrays")
    assert mine.keys() == theirs.keys()
    for path, value in mine.items():
        assert theirs[path].dtype == value.dtype
        assert theirs[path].tobytes() == value.tobytes()
    x = batch_for(net, seed, 2)
    for options in ({}, REAL64):
        assert loaded(x, **options).tobytes() == net(x, **options).tobytes()


# --------------------------------------------------------------- BatchNormalization


@st.composite
def batch_norm_cases(draw):
    """A BN layer with random arrays and a batch with random per-channel location and scale."""
    seed = draw(SEEDS)
    rng = np.random.default_rng(seed)
    c = draw(st.integers(1, 4))
    n = draw(st.integers(2, 6))
    spatial = draw(st.sampled_from([(), (3,), (2, 3)]))
    interleaving = draw(st.booleans())
    shape = (*spatial, c) if interleaving else (c, *spatial)
    channel_axis = -1 if interleaving else 1
    loc = rng.uniform(-100, 100, c)
    scale = rng.uniform(0.1, 10, c)
    view = [1] * (len(shape) + 1)
    view[channel_axis] = c
    x = loc.reshape(view) + scale.reshape(view) * rng.normal(size=(n, *shape))
    arrays = {
        "Scaling": rng.normal(0, 2, c),
        "Biases": rng.normal(0, 2, c),
        "MovingMean": rng.normal(0, 2, c),
        "MovingVariance": rng.uniform(0.1, 3, c),
    }
    epsilon = draw(st.sampled_from([1e-9, 1e-5, 1e-3, 0.1]))
    arrays64 = {k: ng.NumericArray(v, "Real64") for k, v in arrays.items()}
    bn = ng.BatchNormalizationLayer(
        Input=shape, Interleaving=interleaving, Epsilon=epsilon, **arrays64
    )
    return bn, x, arrays, epsilon, channel_axis, rng


def _per_channel(a: np.ndarray, axis: int) -> np.ndarray:
    """(channels, values) of a batch whose channel axis is `axis`."""
    a = np.moveaxis(a, axis, 0)
    return a.reshape(a.shape[0], -1)


@PROPERTY
@given(batch_norm_cases())
def test_batch_norm_train_mode_output_has_mean_biases_and_std_scaling(case):
    bn, x, arrays, epsilon, axis, _ = case
    y = _per_channel(bn(x, NetEvaluationMode="Train", **REAL64), axis)
    var = _per_channel(x, axis).var(axis=1)
    np.testing.assert_allclose(y.mean(axis=1), arrays["Biases"], rtol=0, atol=1e-9)
    expected_std = np.abs(arrays["Scaling"]) * np.sqrt(var / (var + epsilon))
    np.testing.assert_allclose(y.std(axis=1), expected_std, rtol=1e-9, atol=1e-12)


@PROPERTY
@given(batch_norm_cases())
def test_batch_norm_train_mode_ignores_per_channel_shift_and_positive_scale(case):
    bn, x, arrays, epsilon, axis, rng = case
    c = len(arrays["Scaling"])
    view = [1] * x.ndim
    view[axis] = c
    shift = rng.uniform(-50, 50, c).reshape(view)
    factor = rng.uniform(0.5, 4, c).reshape(view)
    y = bn(x, NetEvaluationMode="Train", **REAL64)
    atol = 1e-8 * np.abs(arrays["Scaling"]).max()
    np.testing.assert_allclose(
        bn(x + shift, NetEvaluationMode="Train", **REAL64), y, rtol=1e-8, atol=atol
    )
    # a scale a changes only the epsilon correction: BN_eps(a x) = BN_{eps/a^2}(x)
    scaled = bn(x * factor, NetEvaluationMode="Train", **REAL64)
    xc = _per_channel(x, axis)
    mu, var = xc.mean(axis=1), xc.var(axis=1)
    a = factor.reshape(-1)
    expected = arrays["Scaling"][:, None] * (xc - mu[:, None])
    expected = expected / np.sqrt(var + epsilon / a**2)[:, None] + arrays["Biases"][:, None]
    np.testing.assert_allclose(_per_channel(scaled, axis), expected, rtol=1e-8, atol=atol)
    if epsilon <= 1e-5:  # then the correction is below the tolerance: plain invariance
        np.testing.assert_allclose(scaled, y, rtol=1e-4, atol=1e-4 * np.abs(y).max())


@PROPERTY
@given(batch_norm_cases(), st.floats(-2, 2))
def test_batch_norm_test_mode_is_exactly_the_affine_map(case, t):
    bn, x, arrays, epsilon, axis, rng = case
    scale = arrays["Scaling"] / np.sqrt(arrays["MovingVariance"] + epsilon)
    shift = arrays["Biases"] - arrays["MovingMean"] * scale
    y = bn(x, **REAL64)
    expected = scale[:, None] * _per_channel(x, axis) + shift[:, None]
    np.testing.assert_allclose(_per_channel(y, axis), expected, rtol=1e-12, atol=1e-12)
    other = rng.normal(size=x.shape)
    mixed = bn(t * x + (1 - t) * other, **REAL64)
    np.testing.assert_allclose(mixed, t * y + (1 - t) * bn(other, **REAL64), rtol=1e-9, atol=1e-9)


# ------------------------------------------------------------ NetReplacePart/NetExtract


@settings(PROPERTY, max_examples=20)
@given(st.one_of(vector_chains(), image_chains()), SEEDS, st.data())
def test_replace_part_then_extract_returns_what_was_put_in(net, seed, data):
    rng = np.random.default_rng(seed)
    net = ng.NetInitialize(net, RandomSeeding=seed)
    arrays = ng.Information(net, "Arrays")
    if arrays:
        path = data.draw(st.sampled_from(sorted(arrays, key=repr)))
        value = rng.uniform(0.5, 2.0, arrays[path].shape)
        for given, expected in [
            (value, value.astype(np.float32)),
            (ng.NumericArray(value, "Real64"), value),
        ]:
            new = ng.NetReplacePart(net, {path: given})
            got = ng.NetExtract(new, path)
            assert got.dtype == expected.dtype and got.tobytes() == expected.tobytes()
            assert new != net or np.array_equal(arrays[path], expected)
    for key, layer in ng.NetExtract(net, ng.All).items():
        if isinstance(layer, ng.BatchNormalizationLayer):
            epsilon = data.draw(st.floats(1e-6, 1.0))
            momentum = data.draw(st.floats(0, 1))
            new = ng.NetReplacePart(net, {(key, "Epsilon"): epsilon, (key, "Momentum"): momentum})
            assert ng.NetExtract(new, (key, "Epsilon")) == epsilon
            assert ng.NetExtract(new, (key, "Momentum")) == momentum
        if isinstance(layer, ng.ElementwiseLayer):
            other = ng.ElementwiseLayer(data.draw(st.sampled_from(SMOOTH)))
            new = ng.NetReplacePart(net, {key: other})
            assert ng.NetExtract(new, key).Function == other.Function
    open_chain = ng.NetChain([ng.ElementwiseLayer("Tanh"), ng.BatchNormalizationLayer()])
    shape = tuple(data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    assert ng.NetExtract(ng.NetReplacePart(open_chain, "Input", shape), "Input") == shape


# ------------------------------------------------------------------- shape unification

DIMS = st.lists(st.one_of(st.none(), st.integers(1, 3)), max_size=3)
SHAPES = st.one_of(
    st.none(),
    DIMS.map(tuple),
    st.tuples(DIMS, DIMS).map(lambda t: S.join(tuple(t[0]), True, tuple(t[1]))),
)


@st.composite
def blurred(draw, concrete: tuple):
    """A description of `concrete` with some dims unknown and maybe an unknown middle."""
    dims = tuple(d if draw(st.booleans()) else None for d in concrete)
    if not draw(st.booleans()):
        return dims
    i = draw(st.integers(0, len(dims)))
    j = draw(st.integers(i, len(dims)))
    return S.join(dims[:i], True, dims[j:])


def _unify(a, b):
    try:
        return ("ok", S.unify(a, b))
    except S.ShapeConflict:
        return ("conflict", None)


@settings(PROPERTY, max_examples=300)
@given(SHAPES, SHAPES)
def test_unification_is_commutative_and_idempotent(a, b):
    assert S.unify(a, a) == a
    assert _unify(a, b) == _unify(b, a)
    outcome, u = _unify(a, b)
    if outcome == "ok":
        assert S.unify(u, u) == u
        assert S.unify(u, a) == u and S.unify(u, b) == u


@settings(PROPERTY, max_examples=300)
@given(
    st.lists(st.integers(1, 3), max_size=4)
    .map(tuple)
    .flatmap(lambda c: st.tuples(st.just(c), blurred(c), blurred(c)))
)
def test_two_descriptions_of_one_shape_unify_to_a_description_of_it(case):
    concrete, a, b = case
    u = S.unify(a, b)
    assert u == S.unify(b, a)
    assert S.unify(u, concrete) == concrete
