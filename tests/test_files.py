"""Export/Import in netgraph's own format: round trips of every layer type, nested containers and
shared arrays; the file layout; damaged, hostile and inconsistent files; atomic writes."""

from __future__ import annotations

import errno
import json
import os
import pickle
import zipfile

import numpy as np
import pytest
import safetensors.numpy

import netgraph as ng
from netgraph import files
from netgraph._safefile import read_tensors, write_tensors
from netgraph.layer import LAYER_TYPES

RNG = np.random.default_rng


def _has(name: str) -> bool:
    return name in LAYER_TYPES


# One small example per registered layer type; a new type without an example fails
# test_every_registered_layer_type_has_an_example until a line is added here.
def _examples() -> dict:
    ex = {
        "BatchNormalizationLayer": lambda: ng.BatchNormalizationLayer(Input=(3, 4), Epsilon=0.01),
        "NetChain": lambda: ng.NetChain(
            [ng.BatchNormalizationLayer(Interleaving=True)], Input=(2, 3)
        ),
        "NetGraph": lambda: ng.NetGraph(
            {"a": ng.BatchNormalizationLayer(), "b": ng.BatchNormalizationLayer(Momentum=0.5)},
            [(ng.NetPort("Input"), "a", "b")],
            Input=(3,),
        ),
    }
    if _has("ElementwiseLayer"):
        ex["ElementwiseLayer"] = lambda: ng.ElementwiseLayer("Tanh", Input=(2, 3))
    if _has("LinearLayer"):
        ex["LinearLayer"] = lambda: ng.LinearLayer((2, 2), Input=(2, 3))
    if _has("SoftmaxLayer"):
        ex["SoftmaxLayer"] = lambda: ng.SoftmaxLayer(1, Input=(3, 4))
    if _has("FlattenLayer"):
        ex["FlattenLayer"] = lambda: ng.FlattenLayer(1, Input=(2, 3, 4))
    if _has("ReshapeLayer"):
        ex["ReshapeLayer"] = lambda: ng.ReshapeLayer((3, 2), Input=6)
    if _has("DropoutLayer"):
        ex["DropoutLayer"] = lambda: ng.DropoutLayer(0.25, Input=4)
    if _has("CatenateLayer"):
        ex["CatenateLayer"] = lambda: ng.NetExtract(  # three inputs with their shapes
            ng.NetGraph(
                {"c": ng.CatenateLayer()},
                [([ng.NetPort("A"), ng.NetPort("B"), ng.NetPort("C")], "c")],
                A=(2, 5),
                B=(1, 5),
                C=(3, 5),
            ),
            "c",
        )
    if _has("TotalLayer"):
        ex["TotalLayer"] = lambda: ng.TotalLayer(Input1=3)
    if _has("ThreadingLayer"):
        ex["ThreadingLayer"] = lambda: ng.ThreadingLayer("Subtract", Input1=(2, 2))
    if _has("MeanSquaredLossLayer"):
        ex["MeanSquaredLossLayer"] = lambda: ng.MeanSquaredLossLayer(Input=3)
    if _has("CrossEntropyLossLayer"):
        ex["CrossEntropyLossLayer"] = lambda: ng.CrossEntropyLossLayer("Binary", Input=4)
    if _has("ConvolutionLayer"):
        ex["ConvolutionLayer"] = lambda: ng.ConvolutionLayer(
            4, (3, 2), Stride=(1, 2), PaddingSize=((1, 0), (0, 1)), Input=(2, 6, 6)
        )
    if _has("PoolingLayer"):
        ex["PoolingLayer"] = lambda: ng.PoolingLayer(
            (2, 2), Stride=2, PaddingSize=1, Function="Mean", Input=(2, 6, 6)
        )
    return ex


EXAMPLES = _examples()


def _data(net: ng.Layer, n: int = 3, seed: int = 0) -> dict:
    """A random batch for every input port (values in (0, 1): valid for every loss form)."""
    rng = RNG(seed)
    return {p: rng.uniform(0.05, 0.95, (n, *s)) for p, s in net.input_shapes.items()}


def _float64(net: ng.Layer) -> ng.Layer:
    """The same net with every array stored in float64 (Real64)."""
    arrays = ng.Information(net, "Arrays")
    rules = {path: ng.NumericArray(a, "Real64") for path, a in arrays.items()}
    return ng.NetReplacePart(net, rules) if rules else net


def _round_trip(net: ng.Layer, tmp_path, name: str = "net.safetensors") -> ng.Layer:
    path = tmp_path / name
    assert ng.Export(path, net) == path
    return ng.Import(path)


def _assert_same(loaded: ng.Layer, net: ng.Layer) -> None:
    assert type(loaded) is type(net)
    assert loaded == net
    got, want = ng.Information(loaded, "Arrays"), ng.Information(net, "Arrays")
    assert list(got) == list(want)
    for key, a in want.items():
        b = got[key]
        if a is ng.Automatic:
            assert b is ng.Automatic, key
        else:
            assert (b.dtype, b.shape, b.tobytes()) == (a.dtype, a.shape, a.tobytes()), key
    assert str(ng.Information(loaded)) == str(ng.Information(net))
    for prop in (
        "InputPorts",
        "OutputPorts",
        "TopologyHash",
        "ArraysTotalSize",
        "ArraysLearningRateMultipliers",
        "SharedArraysCount",
        "LayerTypeCounts",
    ):
        assert ng.Information(loaded, prop) == ng.Information(net, prop), prop
    if net.is_initialized():
        x = _data(net)
        for mode in ("Test", "Train"):
            a = loaded(x, NetEvaluationMode=mode, RandomSeeding=7)
            b = net(x, NetEvaluationMode=mode, RandomSeeding=7)
            for y, z in zip(*(v.values() if isinstance(v, dict) else [v] for v in (a, b))):
                assert np.array_equal(y, z)


# ------------------------------------------------------------------------ round trips


def test_every_registered_layer_type_has_an_example():
    ours = {n for n, c in LAYER_TYPES.items() if c.__module__.startswith("netgraph.")}
    assert ours <= set(EXAMPLES), f"add an example for {sorted(ours - set(EXAMPLES))}"


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
@pytest.mark.parametrize("state", ["uninitialized", "initialized", "float64"])
def test_round_trip_of_every_layer_type(kind, state, tmp_path):
    net = EXAMPLES[kind]()
    if state != "uninitialized":
        net = ng.NetInitialize(net, RandomSeeding=3)
        # non-trivial values everywhere, so that a mixed-up array would show
        rules = {
            p: RNG(i).normal(size=a.shape)
            for i, (p, a) in enumerate(ng.Information(net, "Arrays").items())
        }
        if "BatchNormalizationLayer" in ng.Information(net, "LayerTypeCounts"):
            rules = {p: (abs(v) if p[-1] == "MovingVariance" else v) for p, v in rules.items()}
        net = ng.NetReplacePart(net, rules) if rules else net
    if state == "float64":
        net = _float64(net)
    _assert_same(_round_trip(net, tmp_path), net)


@pytest.mark.parametrize("interleaving", [False, True])
def test_batch_normalization_keeps_every_option_and_array(interleaving, tmp_path):
    rng = RNG(1)
    bn = ng.BatchNormalizationLayer(
        Epsilon=1e-5,
        Momentum=0.75,
        Interleaving=interleaving,
        LearningRateMultipliers=0.5,
        Scaling=ng.NumericArray(rng.normal(size=3), "Real64"),
        Biases=rng.normal(size=3),
        MovingMean=rng.normal(size=3),
        MovingVariance=rng.uniform(0.1, 2, 3),
        Input=(5, 3) if interleaving else (3, 5),
    )
    loaded = _round_trip(bn, tmp_path)
    _assert_same(loaded, bn)
    assert ng.NetExtract(loaded, "Scaling").dtype == np.float64
    assert ng.NetExtract(loaded, "Biases").dtype == np.float32
    assert loaded.options == bn.options
    assert ng.NetExtract(loaded, "LearningRateMultipliers") == 0.5


def _nested_net() -> ng.Layer:
    """Containers three deep, list- and dict-built, a layer used twice with shared arrays."""
    shared_bn = ng.NetInsertSharedArrays(
        ng.NetInitialize(ng.BatchNormalizationLayer(Input=(3, 2))), "bn/"
    )
    inner = ng.NetChain([shared_bn, ng.BatchNormalizationLayer(Epsilon=0.1)])
    middle = ng.NetGraph(
        {"x/y": inner, "_z": shared_bn, "%": ng.BatchNormalizationLayer(Momentum=1.0)},
        [(ng.NetPort("Input"), "x/y", "_z", "%", ng.NetPort("Out"))],
        LearningRateMultipliers=0.25,
    )
    return ng.NetChain(
        {
            "first": ng.BatchNormalizationLayer(LearningRateMultipliers=None),
            "middle": middle,
            "last": [shared_bn],
        },
        Input=(3, 2),
    )


@pytest.mark.parametrize("initialize", [False, True])
def test_nested_containers_with_shared_arrays(initialize, tmp_path):
    net = _nested_net()
    if initialize:
        net = ng.NetInitialize(net)
    assert ng.Information(net, "SharedArraysCount") == 2
    loaded = _round_trip(net, tmp_path)
    _assert_same(loaded, net)
    assert ng.Information(loaded, "LayersCount") == 6


def test_the_file_is_a_plain_safetensors_file(tmp_path):
    net = ng.NetInitialize(_nested_net())
    ng.Export(tmp_path / "net.safetensors", net)
    tensors = safetensors.numpy.load_file(tmp_path / "net.safetensors")
    assert sorted(tensors) == [
        "__shared__/bn/Biases",
        "__shared__/bn/Scaling",
        "first/Biases",
        "first/MovingMean",
        "first/MovingVariance",
        "first/Scaling",
        "last/0/MovingMean",
        "last/0/MovingVariance",
        "middle/%25/Biases",
        "middle/%25/MovingMean",
        "middle/%25/MovingVariance",
        "middle/%25/Scaling",
        "middle/%5Fz/MovingMean",  # a leading "_" is escaped: only shared keys start "__"
        "middle/%5Fz/MovingVariance",
        "middle/x%2Fy/0/MovingMean",
        "middle/x%2Fy/0/MovingVariance",
        "middle/x%2Fy/1/Biases",
        "middle/x%2Fy/1/MovingMean",
        "middle/x%2Fy/1/MovingVariance",
        "middle/x%2Fy/1/Scaling",
    ]
    np.testing.assert_array_equal(tensors["first/MovingVariance"], np.ones(3, np.float32))
    _, metadata = read_tensors(tmp_path / "net.safetensors")
    manifest = json.loads(metadata["netgraph.manifest"])
    assert (manifest["format"], manifest["format_version"]) == ("netgraph", 1)
    assert manifest["netgraph_version"] == ng.__version__
    assert manifest["ports"] == {"inputs": {"Input": [3, 2]}, "outputs": {"Output": [3, 2]}}
    assert manifest["tensors"]["first/Scaling"] == {"dtype": "float32", "shape": [3]}
    assert [k for k, _ in manifest["net"]["layers"]] == ["first", "middle", "last"]
    assert [k for k, _ in manifest["net"]["layers"][2][1]["layers"]] == [0]


@pytest.mark.skipif(not _has("LinearLayer"), reason="LinearLayer is not registered yet")
def test_tuples_in_options_come_back_as_tuples(tmp_path):
    net = ng.LinearLayer((2, 3), Input=4)
    loaded = _round_trip(net, tmp_path)
    assert ng.NetExtract(loaded, "OutputDimensions") == (2, 3)
    _, metadata = read_tensors(tmp_path / "net.safetensors")
    manifest = json.loads(metadata["netgraph.manifest"])
    assert manifest["net"]["options"]["OutputDimensions"] == {"tuple": [2, 3]}


def test_any_extension_but_onnx_writes_our_format(tmp_path):
    net = ng.NetInitialize(ng.BatchNormalizationLayer(Input=2))
    for name in ("net.wlnet", "net", "net.bin"):
        _assert_same(_round_trip(net, tmp_path, name), net)


def test_checkpoint_helpers_keep_extra_tensors_and_metadata(tmp_path):
    net = ng.NetInitialize(_nested_net())
    extra = {"adam/m": np.arange(3.0), "step": np.array([5], np.int64), "flag": np.array(True)}
    meta = {"round": 2, "rng": [1, 2**70], "method": "ADAM"}
    files.save_checkpoint(tmp_path / "ck.safetensors", net, extra, meta)
    loaded, tensors, metadata = files.load_checkpoint(tmp_path / "ck.safetensors")
    _assert_same(loaded, net)
    assert metadata == meta
    assert sorted(tensors) == sorted(extra)
    for k, a in extra.items():
        assert (tensors[k].dtype, tensors[k].tobytes()) == (a.dtype, a.tobytes())
    assert ng.Import(tmp_path / "ck.safetensors") == net
    assert files.load_checkpoint(_export(tmp_path, net))[1:] == ({}, None)
    with pytest.raises(ng.NetSaveError, match="JSON"):
        files.save_checkpoint(tmp_path / "bad.safetensors", net, {}, {"x": float("nan")})
    with pytest.raises(ng.NetSaveError, match="not one of the net's tensor names"):
        files.save_checkpoint(tmp_path / "bad.safetensors", net, {"first/Scaling": np.ones(3)})
    assert not (tmp_path / "bad.safetensors").exists()


def test_a_file_with_declared_other_tensors_imports_as_its_net(tmp_path):
    """What NetTrain's checkpoints do: the net's tensors and manifest, plus their own tensors."""
    net = ng.NetInitialize(_nested_net())
    manifest, tensors = files.net_to_manifest(net)
    own = {"slots/m": np.zeros(7, np.float32), "permutation": np.arange(4)}
    path = tmp_path / "ck.safetensors"
    write_tensors(path, {**tensors, **own}, {**files.manifest_metadata(manifest), "run": "{}"})
    _assert_same(ng.Import(path), net)
    assert sorted(files.load_checkpoint(path)[1]) == ["permutation", "slots/m"]
    # declared precisely, the other tensors are checked like the net's
    write_tensors(path, {**tensors, **own}, files.manifest_metadata(manifest, own))
    _assert_same(ng.Import(path), net)
    write_tensors(
        path, {**tensors, "permutation": own["permutation"]}, files.manifest_metadata(manifest, own)
    )
    _load_error(path, "other tensors", "missing ['slots/m']")
    # undeclared, they are unexpected (as a net file with an extra array is)
    write_tensors(path, {**tensors, **own}, {"netgraph.manifest": json.dumps(manifest)})
    _load_error(path, 'unexpected arrays "permutation", "slots/m"')


# ------------------------------------------------------------------------ what cannot be saved


@pytest.mark.skipif(not _has("ElementwiseLayer"), reason="ElementwiseLayer is not registered yet")
def test_a_python_callable_cannot_be_saved(tmp_path):
    net = ng.NetChain({"act": ng.ElementwiseLayer(lambda x: x**3)}, Input=2)
    with pytest.raises(ng.NetSaveError, match='ElementwiseLayer "act" option "Function" is a Py'):
        ng.Export(tmp_path / "f.safetensors", net)
    with pytest.raises(ng.NetSaveError, match="never carries code"):
        ng.Export(tmp_path / "f.safetensors", net)
    assert not list(tmp_path.iterdir())


def test_export_needs_a_net(tmp_path):
    with pytest.raises(ng.NetSaveError, match="expected a net"):
        ng.Export(tmp_path / "x.safetensors", "Ramp")


# ------------------------------------------------------------------------ damaged files


def _export(tmp_path, net=None, name="net.safetensors"):
    path = tmp_path / name
    ng.Export(path, net if net is not None else ng.NetInitialize(_nested_net()))
    return path


def test_a_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        ng.Import(tmp_path / "nothing.safetensors")


def test_truncated_and_bit_flipped_files_raise_only_load_errors(tmp_path):
    net = ng.NetInitialize(
        ng.NetChain([ng.BatchNormalizationLayer(), [ng.BatchNormalizationLayer()]], Input=(2, 2))
    )
    blob = _export(tmp_path, net).read_bytes()
    damaged = tmp_path / "damaged.safetensors"
    cases = [blob[:n] for n in range(0, len(blob), 7)]
    rng = RNG(2024)
    for _ in range(300):
        b = bytearray(blob)
        for i in rng.integers(0, len(b), rng.integers(1, 4)):
            b[i] ^= int(rng.integers(1, 256))
        cases.append(bytes(b))
    loaded = 0
    for case in cases:
        damaged.write_bytes(case)
        try:
            result = ng.Import(damaged)
        except ng.NetLoadError:
            continue
        assert result == net  # a flip the checksum cannot see (JSON whitespace) changes nothing
        loaded += 1
    assert loaded < len(cases) // 10


def test_pickle_and_zip_files_are_refused_without_unpickling(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("something tried to unpickle")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, boom)
    (tmp_path / "model.pt").write_bytes(pickle.dumps({"weights": [1.0, 2.0]}, protocol=4))
    with pytest.raises(ng.NetLoadError, match="pickle"):
        ng.Import(tmp_path / "model.pt")
    with zipfile.ZipFile(tmp_path / "model.zip", "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x04N.")
    with pytest.raises(ng.NetLoadError, match="zip"):
        ng.Import(tmp_path / "model.zip")


def test_a_plain_safetensors_file_is_not_a_net(tmp_path):
    safetensors.numpy.save_file({"w": np.ones(3, np.float32)}, tmp_path / "w.safetensors")
    with pytest.raises(ng.NetLoadError, match="not a netgraph net file"):
        ng.Import(tmp_path / "w.safetensors")


def test_importing_an_onnx_file_is_refused_clearly(tmp_path):
    with pytest.raises(ng.NetLoadError, match="does not read it"):
        ng.Import(tmp_path / "model.onnx")


# ------------------------------------------------------------------------ inconsistent files


def _rewrite(path, edit_manifest=None, edit_tensors=None, metadata_edit=None):
    """Rewrite a net file with an edited manifest/tensors and a freshly computed checksum."""
    tensors, metadata = read_tensors(path)
    manifest = json.loads(metadata["netgraph.manifest"])
    if edit_manifest:
        edit_manifest(manifest)
    if edit_tensors:
        edit_tensors(tensors)
    metadata = {"netgraph.manifest": json.dumps(manifest)}
    if metadata_edit:
        metadata_edit(metadata)
    write_tensors(path, tensors, metadata)
    return path


def _load_error(path, *words):
    with pytest.raises(ng.NetLoadError) as info:
        ng.Import(path)
    for w in words:
        assert w in str(info.value), (w, str(info.value))
    assert str(path) in str(info.value)
    return str(info.value)


def test_newer_format_version_is_refused_first(tmp_path):
    def newer(m):
        m["format_version"] = 3
        m["net"] = "a layout from the future"

    path = _rewrite(_export(tmp_path), newer)
    _load_error(path, "format_version 3 is newer than supported 1", "upgrade netgraph")


def test_other_formats_and_versions(tmp_path):
    path = _rewrite(_export(tmp_path), lambda m: m.update(format="keras"))
    _load_error(path, "not a netgraph net", "keras")
    path = _rewrite(_export(tmp_path), lambda m: m.update(format_version="1"))
    _load_error(path, "format_version", "a positive integer")


def test_a_missing_checksum_is_refused(tmp_path):
    path = _export(tmp_path)
    tensors, metadata = read_tensors(path)
    blob = safetensors.numpy.save(tensors, {"netgraph.manifest": metadata["netgraph.manifest"]})
    path.write_bytes(blob)
    _load_error(path, "checksum missing")


def test_an_unknown_layer_type_is_refused(tmp_path):
    def foo(m):
        m["net"]["layers"][1][1]["layers"][0][1]["type"] = "FooLayer"

    path = _rewrite(_export(tmp_path), foo)
    _load_error(path, 'unknown layer type "FooLayer"', 'net.layers["middle"].layers["x/y"].type')


def test_layer_types_resolve_only_through_the_registry(tmp_path):
    for name in ("os.system", "Layer", "__class__", "builtins.eval"):
        path = _rewrite(_export(tmp_path), lambda m, n=name: m["net"].update(type=n))
        _load_error(path, f'unknown layer type "{name}"')


MANIFEST_DAMAGE = [
    (lambda m: m["net"].update(layers={"first": None}), "net.layers", "a non-empty list"),
    (
        lambda m: m["net"]["layers"][0][1].update(options=[]),
        'net.layers["first"].options',
        "an object",
    ),
    (lambda m: m["net"]["layers"][0][1]["inputs"].update(Input="3"), ".inputs.Input", "a shape"),
    (
        lambda m: m["net"]["layers"][0][1]["inputs"].update(Input=[3, True]),
        ".inputs.Input[1]",
        "a positive int",
    ),
    (
        lambda m: m["net"]["layers"][0][1]["options"].update(Epsilon={"lambda": "x"}),
        ".options.Epsilon",
        "one-key tag",
    ),
    (
        lambda m: m["net"]["layers"][0][1]["arrays"].update(Scaling="middle/%25/Scaling"),
        ".arrays.Scaling",
        '"first/Scaling"',
    ),
    (lambda m: m["net"].update(connections={}), "net.connections", "a list"),
    (
        lambda m: m["net"]["connections"][0].__setitem__(1, ["nowhere", "Output"]),
        "net.connections[0][1][0]",
        "no layer 'nowhere'",
    ),
    (lambda m: m["net"].update(extra=1), "manifest net", 'unknown key "extra"'),
    (lambda m: m.pop("tensors"), "manifest (root)", 'missing key "tensors"'),
    (
        lambda m: m["tensors"]["first/Scaling"].update(dtype="float16"),
        "dtype",
        '"float32" or "float64"',
    ),
    (
        lambda m: m["tensors"].update({"ghost": {"dtype": "float32", "shape": [1]}}),
        '"ghost"',
        "no array refers to it",
    ),
    (lambda m: m["shared"].update({"extra": None}), "manifest shared", "unused"),
    (lambda m: m.update(netgraph_version=1), "netgraph_version", "a string"),
    (
        lambda m: m["net"]["layers"][0][1].update(learning_rate_multipliers=float("inf")),
        "learning_rate_multipliers",
        "finite",
    ),
]


@pytest.mark.parametrize("damage, where, words", MANIFEST_DAMAGE)
def test_a_manifest_with_a_wrong_type_says_where(damage, where, words, tmp_path):
    path = _export(tmp_path)
    tensors, metadata = read_tensors(path)
    manifest = json.loads(metadata["netgraph.manifest"])
    damage(manifest)
    text = json.dumps(manifest).replace("Infinity", "1e999")  # JSON itself has no infinity
    write_tensors(path, tensors, {"netgraph.manifest": text})
    _load_error(path, where, words)


def test_json_trouble_in_the_manifest(tmp_path):
    path = _rewrite(
        _export(tmp_path),
        metadata_edit=lambda md: md.update(
            {"netgraph.manifest": '{"format": "netgraph", "format": "x"}'}
        ),
    )
    _load_error(path, 'the key "format" appears twice')
    path = _rewrite(
        _export(tmp_path),
        metadata_edit=lambda md: md.update({"netgraph.manifest": "[" * 5000 + "]" * 5000}),
    )
    _load_error(path, "manifest")
    path = _rewrite(
        _export(tmp_path),
        metadata_edit=lambda md: md.update({"netgraph.manifest": '{"format": NaN}'}),
    )
    _load_error(path, "NaN is not a finite number")


def test_missing_and_unexpected_arrays_are_reported_together(tmp_path):
    def edit(t):
        del t["first/Scaling"]
        del t["__shared__/bn/Biases"]
        t["first/Extra"] = np.zeros(2, np.float32)

    path = _rewrite(_export(tmp_path), edit_tensors=edit)
    _load_error(
        path,
        'missing arrays "first/Scaling", "__shared__/bn/Biases"',
        'unexpected arrays "first/Extra"',
    )


def test_a_wrong_array_shape_is_a_size_mismatch(tmp_path):
    def file_only(t):
        t["first/Biases"] = np.zeros(4, np.float32)

    path = _rewrite(_export(tmp_path), edit_tensors=file_only)
    _load_error(path, 'size mismatch for "first/Biases"', "(4,)", "the manifest says (3,)")

    def both(m):
        m["tensors"]["first/Biases"]["shape"] = [4]

    path = _rewrite(_export(tmp_path), both, file_only)
    _load_error(path, 'size mismatch for "first/Biases"', "the net needs (3,)")


def test_a_wrong_dtype_is_reported(tmp_path):
    def edit(t):
        t["first/Biases"] = t["first/Biases"].astype(np.float64)

    path = _rewrite(_export(tmp_path), edit_tensors=edit)
    _load_error(path, 'dtype mismatch for "first/Biases"', "float64", "float32")


def test_invalid_values_are_rejected_by_the_layers_own_validation(tmp_path):
    path = _rewrite(
        _export(tmp_path), lambda m: m["net"]["layers"][0][1]["options"].update(Epsilon=-1.0)
    )
    _load_error(path, 'BatchNormalizationLayer "first"', 'option "Epsilon"', "greater than 0")

    def negative_variance(t):
        t["first/MovingVariance"] = np.array([1.0, -0.5, 1.0], np.float32)

    path = _rewrite(_export(tmp_path), edit_tensors=negative_variance)
    _load_error(path, 'BatchNormalizationLayer "first"', '"MovingVariance" must be > -Epsilon')

    def nan(t):
        t["first/Scaling"] = np.array([1.0, np.nan, 1.0], np.float32)

    path = _rewrite(_export(tmp_path), edit_tensors=nan)
    _load_error(path, "NaN")

    def shared_moving_mean(m):
        m["net"]["layers"][0][1]["arrays"]["MovingMean"] = {"shared": "bn/Scaling"}
        del m["tensors"]["first/MovingMean"]

    path = _rewrite(_export(tmp_path), shared_moving_mean, lambda t: t.pop("first/MovingMean"))
    _load_error(path, "cannot be a NetSharedArray")


def test_connections_that_disagree_with_the_rebuilt_chain(tmp_path):
    def rewire(m):
        m["net"]["connections"][0][1] = [None, "Input"]  # a chain cannot feed "middle" that way

    path = _rewrite(_export(tmp_path), rewire)
    _load_error(path, "connections or output ports differ")


# ------------------------------------------------------------------------ atomic writes


def test_a_failed_export_keeps_the_previous_file(tmp_path, monkeypatch):
    path = _export(tmp_path)
    before = path.read_bytes()

    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(ng.NetSaveError, match="No space left on device.*intact"):
        ng.Export(path, ng.BatchNormalizationLayer())
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["net.safetensors"]  # no temporary left
    monkeypatch.undo()
    assert ng.Import(path) == ng.NetInitialize(_nested_net())


def test_an_unwritable_target_raises_a_save_error(tmp_path):
    with pytest.raises(ng.NetSaveError, match="could not save"):
        ng.Export(tmp_path / "no" / "such" / "dir.safetensors", ng.BatchNormalizationLayer())
    if hasattr(os, "geteuid") and os.geteuid() != 0:  # root writes into read-only folders
        path = _export(tmp_path)
        before = path.read_bytes()
        tmp_path.chmod(0o500)
        try:
            with pytest.raises(ng.NetSaveError):
                ng.Export(path, ng.BatchNormalizationLayer())
        finally:
            tmp_path.chmod(0o700)
        assert path.read_bytes() == before
