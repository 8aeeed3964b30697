"""The shared layer-test helper (not a test file): one call checks a layer's generic contract.

- `numeric_gradient(f, x)`: central finite differences in float64.
- `check_gradients(net, inputs, mode)`: every input-port and learned-array gradient the net
  reports, against finite differences of ``sum(G * net(X))`` for a random output gradient G.
- `check_layer(layer, input_shape, ...)`: shapes, NetInitialize, arrays, Options, NetExtract /
  NetReplacePart round trips, immutability, batch forms, precision, gradients, a bad-rank
  error and (once `ng.Export` exists) an Export/Import round trip.

    from layer_check import check_layer
    check_layer(ng.BatchNormalizationLayer(Input=(3, 4, 4)), (3, 4, 4),
                array_shapes={"Scaling": (3,), ...}, options={"Epsilon": 0.01})
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

import netgraph as ng

F64 = np.float64


# ------------------------------------------------------------------------------ gradients


def numeric_gradient(f: Callable[[np.ndarray], float], x: Any, h: float = 1e-6) -> np.ndarray:
    """df/dx by central differences (f(x + h e_i) - f(x - h e_i)) / 2h, in float64."""
    x = np.array(x, dtype=F64)
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        f_plus = float(f(x.copy()))
        x[i] = old - h
        f_minus = float(f(x.copy()))
        x[i] = old
        grad[i] = (f_plus - f_minus) / (2 * h)
    return grad


def directional_derivative(f: Callable, x: np.ndarray, v: np.ndarray, h: float = 1e-6) -> float:
    """The derivative of f at x along v, by central differences in float64."""
    x = np.asarray(x, F64)
    return (float(f(x + h * v)) - float(f(x - h * v))) / (2 * h)


def _outputs(net: ng.Layer, result: Any) -> dict:
    if isinstance(result, dict):
        return result
    return {net.output_ports[0].name: result}


def _compare_gradient(f, x, analytic, what, rng, rtol, atol, h, max_entries, directions):
    """Exhaustive on small x; else a random subset of entries plus random unit directions."""
    analytic = np.asarray(analytic)
    assert analytic.shape == x.shape, f"{what}: gradient shape {analytic.shape} != {x.shape}"
    assert analytic.dtype == F64, f"{what}: Real64 gradient has dtype {analytic.dtype}"
    if x.size <= max_entries:
        numeric = numeric_gradient(f, x, h)
        np.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=atol, err_msg=what)
        return
    got, want = [], []
    for index in rng.choice(x.size, size=max_entries, replace=False):
        e = np.zeros(x.shape)
        e.flat[index] = 1.0
        got.append(analytic.flat[index])
        want.append(directional_derivative(f, x, e, h))
    for _ in range(directions):
        v = rng.standard_normal(x.shape)
        v /= np.linalg.norm(v)
        got.append(float(np.sum(analytic * v)))
        want.append(directional_derivative(f, x, v, h))
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=what)


def check_gradients(
    net: ng.Layer,
    inputs: Any,
    mode: str = "Test",
    rtol: float = 1e-4,
    atol: float = 1e-6,
    arrays: bool = True,
    *,
    seed: int = 0,
    h: float = 1e-6,
    max_entries: int = 24,
    directions: int = 3,
) -> dict:
    """Check the net's input and array gradients against float64 finite differences.

    `inputs` is one array (single input port) or a dict port -> array, examples or batches.
    A random output gradient G is forced on every output port; the reference is the
    derivative of ``sum(G * net(X))``. Arrays are perturbed as Real64 NumericArrays so that
    the step h is not lost to float32 storage. Returns the analytic gradients checked.
    """
    rng = np.random.default_rng(seed)
    in_names = [p.name for p in net.input_ports]
    data = dict(inputs) if isinstance(inputs, dict) else {in_names[0]: inputs}
    data = {p: np.asarray(x, F64) for p, x in data.items()}
    opts = {"WorkingPrecision": "Real64", "NetEvaluationMode": mode}
    out = _outputs(net, net(data, **opts))
    g_out = {p: rng.standard_normal(np.shape(y)) for p, y in out.items()}
    forced = {**data, **{ng.NetPortGradient(p): g for p, g in g_out.items()}}

    def objective(candidate: ng.Layer, feed: dict) -> float:
        y = _outputs(candidate, candidate(feed, **opts))
        return sum(float(np.sum(g_out[p] * y[p])) for p in g_out)

    settings = (rng, rtol, atol, h, max_entries, directions)
    checked = {}
    for p in (p.name for p in net.input_ports if p.dtype == "Real"):
        analytic = net(forced, ng.NetPortGradient(p), **opts)
        f = lambda x, p=p: objective(net, {**data, p: x})  # noqa: E731
        _compare_gradient(f, data[p], analytic, f'gradient of input port "{p}"', *settings)
        checked[p] = np.asarray(analytic)
    if not arrays:
        return checked
    everything = net(forced, ng.NetPortGradient(ng.All), **opts)
    for key, analytic in everything.items():
        if isinstance(key, str):  # the same input gradient as asked for alone
            np.testing.assert_allclose(analytic, checked[key], rtol=1e-12, atol=0)
            continue
        np.testing.assert_array_equal(net(forced, ng.NetPortGradient(key), **opts), analytic)
        value = np.asarray(ng.NetExtract(net, key), F64)

        def f(w, key=key):
            return objective(ng.NetReplacePart(net, {key: ng.NumericArray(w, "Real64")}), data)

        _compare_gradient(f, value, analytic, f"gradient of array {key!r}", *settings)
        checked[key] = np.asarray(analytic)
    return checked


# ------------------------------------------------------------------------------ check_layer


def _snapshot(net: ng.Layer) -> tuple:
    """Everything observable about a net value: options, port shapes, array values."""
    arrays = ng.Information(net, "Arrays")
    return (
        dict(net.options),
        ng.Information(net, "InputPorts"),
        ng.Information(net, "OutputPorts"),
        {k: (v if v is ng.Automatic else (v.dtype, v.tobytes())) for k, v in arrays.items()},
    )


def _check_shapes(layer, input_shape, output_shape, input_port, output_port) -> None:
    assert ng.Information(layer, "InputPorts")[input_port] == input_shape
    assert ng.NetExtract(layer, input_port) == input_shape
    if output_shape is not None:
        assert ng.Information(layer, "OutputPorts")[output_port] == output_shape
    str(ng.Information(layer))  # the report works before NetInitialize
    repr(layer)


def _check_initialize(layer, array_shapes) -> ng.Layer:
    before = _snapshot(layer)
    net = ng.NetInitialize(layer)
    assert _snapshot(layer) == before, "NetInitialize changed its argument"
    assert ng.Information(net, "Initialized")
    names = [s.name for s in type(layer).array_specs]
    assert list(ng.Information(net, "ArraysDimensions")) == [(n,) for n in names]
    if array_shapes is not None:
        assert set(array_shapes) == set(names), f"arrays {names}, expected {list(array_shapes)}"
        for name, shape in array_shapes.items():
            value = ng.NetExtract(net, name)
            assert value.shape == tuple(shape), f'array "{name}": {value.shape} != {shape}'
            assert value.dtype == np.float32
    again = ng.NetInitialize(layer)
    for name in names:  # deterministic for the default seed
        np.testing.assert_array_equal(ng.NetExtract(again, name), ng.NetExtract(net, name))
    return net


def _check_options(layer, net, options, input_port, output_port) -> None:
    cls = type(layer)
    declared = ng.Options(cls)
    names = [s.name for s in cls.array_specs]
    for key in [*options, *names, input_port, output_port, "LearningRateMultipliers"]:
        assert key in declared, f"Options({cls.__name__}) lacks {key!r}"
    for key, value in options.items():
        assert ng.NetExtract(net, key) == value, f"NetExtract(net, {key!r})"
        replaced = ng.NetReplacePart(net, {key: value})
        assert ng.NetExtract(replaced, key) == value
    evaluation = ng.Options(net)
    assert evaluation["NetEvaluationMode"] == "Test"
    assert evaluation["WorkingPrecision"] == "Real32"
    assert evaluation["TargetDevice"] == "CPU"
    assert "BatchSize" in evaluation


def _random_arrays(net, rng) -> dict:
    """New values for every array: uniform in [0.5, 1.5], valid for any variance array."""
    return {
        s.name: rng.uniform(0.5, 1.5, ng.NetExtract(net, s.name).shape).astype(np.float32)
        for s in type(net).array_specs
    }


def _check_array_round_trips(net, rng) -> None:
    before = _snapshot(net)
    for name, value in _random_arrays(net, rng).items():
        replaced = ng.NetReplacePart(net, {name: value})
        got = ng.NetExtract(replaced, name)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, value)
        value64 = value.astype(F64) + 1e-9  # not a float32 number: kept only in Real64
        replaced = ng.NetReplacePart(net, {(name,): ng.NumericArray(value64, "Real64")})
        got = ng.NetExtract(replaced, (name,))
        assert got.dtype == F64
        np.testing.assert_array_equal(got, value64)
    assert _snapshot(net) == before, "NetReplacePart changed its argument"


def _check_immutability(net, options) -> None:
    before = _snapshot(net)
    for attr in [*options, "Foo", "_arrays"]:
        with pytest.raises(ng.NetError):
            setattr(net, attr, 1)
    for spec in type(net).array_specs:
        copy = ng.NetExtract(net, spec.name)
        assert copy.flags.writeable, "NetExtract should hand out a writable copy"
        copy[...] = 123.0
        assert not np.any(ng.NetExtract(net, spec.name) == 123.0)
    ng.NetInitialize(net, ng.All, RandomSeeding=99)
    assert _snapshot(net) == before, "mutation through a setter, NetExtract or NetInitialize"


def _check_read_only_input(net, x, modes) -> None:
    x = np.array(x)
    x.setflags(write=False)
    original = x.copy()
    for mode in modes:
        net(x, NetEvaluationMode=mode)
        net(x, ng.NetPortGradient(ng.All), NetEvaluationMode=mode)
    np.testing.assert_array_equal(x, original)


def _check_batch_forms(net, x, output_shape) -> None:
    batch = net(x)
    assert batch.shape == (len(x), *output_shape)
    stacked = net(list(x))
    np.testing.assert_array_equal(stacked, batch)
    for i, example in enumerate(x):
        one = net(example)
        assert one.shape == tuple(output_shape)
        np.testing.assert_allclose(one, batch[i], rtol=1e-6, atol=1e-6)


def _check_precision(net, x, mode) -> None:
    y32 = net(x.astype(np.float32), NetEvaluationMode=mode)
    assert y32.dtype == np.float32
    y = net(x.astype(F64), NetEvaluationMode=mode)
    assert y.dtype == np.float32  # Real32 unless asked otherwise
    y64 = net(x.astype(np.float32), WorkingPrecision="Real64", NetEvaluationMode=mode)
    assert y64.dtype == F64
    np.testing.assert_allclose(y32, y64, rtol=1e-5, atol=1e-5)


def _check_bad_rank(net, input_shape, input_port) -> None:
    r = len(input_shape)
    bad_shapes = [(2, 2, *input_shape)] + ([tuple(input_shape[1:])] if r >= 1 else [])
    for shape in bad_shapes:
        with pytest.raises(ng.NetShapeError, match=f'"{input_port}"'):
            net(np.ones(shape, np.float32))


def _check_export(net, x, tmp_path) -> None:
    if not hasattr(ng, "Export"):
        return  # Export/Import come later; this check switches itself on then
    with tempfile.TemporaryDirectory() as scratch:
        path = pathlib.Path(tmp_path or scratch) / "layer_check.safetensors"
        ng.Export(str(path), net)
        loaded = ng.Import(str(path))
    assert type(loaded) is type(net)
    assert loaded.options == net.options
    assert _snapshot(loaded) == _snapshot(net)  # bit-identical arrays, same dtypes
    for mode in ("Test", "Train"):  # seeded: Dropout's Train mode draws a mask
        np.testing.assert_array_equal(
            loaded(x, NetEvaluationMode=mode, RandomSeeding=1),
            net(x, NetEvaluationMode=mode, RandomSeeding=1),
        )


def check_layer(
    layer: ng.Layer,
    input_shape: tuple,
    *,
    output_shape: tuple | None = None,
    array_shapes: dict | None = None,
    options: dict | None = None,
    modes: tuple = ("Test", "Train"),
    batch_size: int = 3,
    seed: int = 0,
    tmp_path: Any = None,
    input_port: str = "Input",
    output_port: str = "Output",
    rtol: float = 1e-4,
    atol: float = 1e-6,
    export: bool = True,
) -> ng.Layer:
    """Run the generic checks on an uninitialized `layer` whose input shape is known.

    `array_shapes`: expected {array name: shape}; `options`: the constructor options the
    layer was built with (each must be in Options(class) and come back from NetExtract).
    Single-example/batch consistency is checked in "Test" mode; precision, read-only input
    and gradients in every mode of `modes`. `export=False` skips the Export/Import round
    trip (only for test-only layer classes, which Import cannot know). Returns the
    initialized layer.
    """
    rng = np.random.default_rng(seed)
    input_shape = tuple(input_shape)
    options = dict(options or {})
    _check_shapes(layer, input_shape, output_shape, input_port, output_port)
    net = _check_initialize(layer, array_shapes)
    output_shape = ng.Information(net, "OutputPorts")[output_port]
    _check_options(layer, net, options, input_port, output_port)
    _check_array_round_trips(net, rng)
    _check_immutability(net, options)
    randomized = ng.NetReplacePart(net, _random_arrays(net, rng))
    x = rng.standard_normal((batch_size, *input_shape)).astype(np.float32)
    _check_read_only_input(randomized, x, modes)
    _check_batch_forms(randomized, x, output_shape)
    for mode in modes:
        _check_precision(randomized, x, mode)
        check_gradients(randomized, x.astype(F64), mode, rtol, atol, seed=seed)
    _check_bad_rank(net, input_shape, input_port)
    if export:
        _check_export(randomized, x, tmp_path)
    return net


def raises(error: type, call, *words: str) -> str:
    """Run `call`, expecting exactly the NetError subclass `error` with every one of `words` in
    its message; returns the message."""
    with pytest.raises(ng.NetError) as info:
        call()
    assert type(info.value) is error, f"{type(info.value).__name__}: {info.value}"
    for word in words:
        assert word in str(info.value), (word, str(info.value))
    return str(info.value)


@contextmanager
def unwritable_folder(folder: Any):
    """`folder` made unwritable for this process while the block runs: by its permission bits
    for an ordinary user, and by the immutable attribute (`chattr +i`) for root, whom
    permission bits do not stop. Skips only where neither can be set (no chattr, or a file
    system without the attribute)."""
    folder = pathlib.Path(folder)
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    if root:
        done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot make {folder} unwritable as root: {done.stderr.decode().strip()}")
    else:
        folder.chmod(0o500)
    try:
        probe = folder / ".probe"
        try:
            probe.touch()
        except OSError:
            pass
        else:
            probe.unlink()
            pytest.skip(f"{folder} stays writable here")
        yield folder
    finally:
        if root:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        else:
            folder.chmod(0o700)
