"""docs/errors.md: every example message in its table is what the code raises, with that type.

The example column is read from the page itself; each example is matched to the call below that
triggers it by a phrase only that example holds. In an example, "..." stands for any text and a
temporary folder (/tmp/tmp<letters>/) for this test's tmp_path.
"""

from __future__ import annotations

import os
import pathlib
import re

import numpy as np
import pytest

import netgraph as ng

PAGE = pathlib.Path(__file__).resolve().parent.parent / "docs" / "errors.md"
QUIET = {"TrainingProgressReporting": None, "MaxTrainingRounds": 1}


def _table() -> list[tuple[str, str]]:
    """(error type name, example message) for each row of the error-types table."""
    rows, kind = [], None
    for line in PAGE.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if not line.startswith("| ") or len(cells) != 3 or cells[0] == "type":
            continue
        kind = cells[0].split()[0].strip("`") if cells[0] else kind
        rows.append((kind, cells[2].removeprefix("`").removesuffix("`")))
    return rows


def _pattern(example: str) -> str:
    # a temporary folder in the example stands for any folder (the tests' is pytest's own)
    text = re.sub(r"/tmp/(tmp\w+/)?", "\0", example)
    parts = [re.escape(p).replace(r"\.\.\.", ".*?") for p in text.split("\0")]
    return "/.*?/?".join(parts)


def _conv():
    return ng.NetInitialize(ng.ConvolutionLayer(2, 3, Input=(1, 8, 8)))


def _edge(n):
    conv = ng.ConvolutionLayer(16, 3, Input=(1, 28, 28))
    layers = {"conv1": conv, "lin": ng.LinearLayer(10, Input=n)}
    return lambda tmp: ng.NetGraph(layers, [("conv1", "lin")])


def _progress_key(tmp):
    net = ng.NetChain([ng.LinearLayer(1)], Input=2)
    data = (np.zeros((4, 2), np.float32), np.zeros((4, 1), np.float32))
    try:
        ng.NetTrain(net, data, BatchSize=2, TrainingProgressFunction=lambda a: a["Rond"], **QUIET)
    except KeyError as exc:  # the emergency checkpoint it wrote is not ours to keep
        if exc.checkpoint_path:
            os.remove(exc.checkpoint_path)
        raise


def _replaced(tmp):
    layers = {
        "c1": ng.ConvolutionLayer(4, 3, PaddingSize=1),
        "r": "Ramp",
        "c2": ng.ConvolutionLayer(2, 3),
    }
    net = ng.NetInitialize(ng.NetChain(layers, Input=(2, 6, 6)))
    ng.NetReplacePart(net, {("c2", "Weights"): np.zeros((2, 5, 3, 3))})


def _appended(tmp):
    conv4 = ng.ConvolutionLayer(4, 3, Input=(1, 8, 8))
    ng.NetAppend(
        ng.NetChain([conv4, "Ramp"]), ng.ConvolutionLayer(2, 3, Weights=np.zeros((2, 5, 3, 3)))
    )


def _netport(tmp):
    net = ng.NetChain({"lin1": ng.LinearLayer(2), "relu": ng.ElementwiseLayer("Ramp")}, Input=2)
    ng.NetInitialize(net)(np.zeros(2), ng.NetPort("relu", "Input"))


def _nan_data(tmp):
    x = np.zeros((8, 2), np.float32)
    x[5, 1] = np.nan
    ng.NetTrain(ng.NetChain([ng.LinearLayer(1)], Input=2), (x, np.zeros((8, 1))), **QUIET)


def _label(tmp):
    decoder = ng.NetDecoder(("Class", ["cat", "dog", "bird"]))
    net = ng.NetChain([ng.LinearLayer(3), ng.SoftmaxLayer()], Input=2, Output=decoder)
    labels = ["cat", "dog", "bird", "cat", "dgo", "dog"]
    ng.NetTrain(net, (np.zeros((6, 2)), labels), **QUIET)


def _single_value(tmp):
    net = ng.NetChain({"bn": ng.BatchNormalizationLayer()}, Input=(3, 1))
    ng.NetTrain(net, (np.ones((4, 3, 1)), np.zeros((4, 3, 1))), BatchSize=1, **QUIET)


def _truncated(tmp):
    path = tmp / "net.safetensors"
    ng.Export(path, ng.NetInitialize(ng.LinearLayer(2, Input=3)))
    path.write_bytes(path.read_bytes()[:-5])
    ng.Import(path)


def _overflow(tmp):
    layers = {"lin": ng.LinearLayer(1, Weights=[[1.0]], Biases=[0.0]), "exp": "Exp"}
    ng.NetChain(layers, Input=1)(np.array([1000.0]))


CASES = {  # a phrase of one example -> the call that raises it
    'option "Epsilon" should be': lambda tmp: ng.BatchNormalizationLayer(Epsilon=0),
    '"Epsilion"': lambda tmp: ng.BatchNormalizationLayer(Epsilion=0.1),
    "no key 'Rond'": _progress_key,
    "got rank 2": lambda tmp: _conv()(np.zeros((8, 8))),
    "batch of 5 examples": lambda tmp: _conv()(np.zeros((5, 8, 8))),
    '"Input" (100,)': _edge(100),
    "Hint: put a FlattenLayer": _edge(10816),
    "NetAppend: in layer 2": _appended,
    "in layer 'c2'": _replaced,
    "acyclic": lambda tmp: ng.NetGraph(
        {"conv": ng.ConvolutionLayer(3, 1), "bn": ng.BatchNormalizationLayer(), "relu": "Ramp"},
        [("conv", "bn"), ("bn", "relu"), ("relu", "conv")],
    ),
    "NetPort('relu', 'Input')": _netport,
    "The vertex 'conv2'": lambda tmp: ng.NetGraph(
        {"conv1": ng.ConvolutionLayer(3, 1), "lin": ng.LinearLayer(2)}, [("conv2", "lin")]
    ),
    "-Epsilon (= -0.001)": lambda tmp: ng.BatchNormalizationLayer(MovingVariance=[1, -1, 1]),
    "expected (4, 3), given (3, 4)": lambda tmp: ng.LinearLayer(
        4, Input=3, Weights=np.zeros((3, 4))
    ),
    '"MovingMean" cannot be a NetSharedArray': lambda tmp: ng.BatchNormalizationLayer(
        MovingMean=ng.NetSharedArray("m")
    ),
    "Cannot evaluate NetChain": lambda tmp: ng.NetChain(
        [ng.LinearLayer(3), ng.BatchNormalizationLayer()], Input=2
    )(np.zeros(2)),
    "example 5 of port 'Input'": _nan_data,
    "the label 'dgo'": _label,
    "a single value": _single_value,
    "data offsets past end of file": _truncated,
    "could not save": lambda tmp: ng.Export(
        tmp / "nodir" / "new.safetensors", ng.NetInitialize(ng.LinearLayer(2, Input=3))
    ),
    "floating-point overflow": _overflow,
}


def _examples() -> list[tuple[str, str, str]]:
    out = []
    for kind, example in _table():
        keys = [k for k in CASES if k in example]
        assert len(keys) == 1, f"no single case for the documented example {example!r}: {keys}"
        out.append((keys[0], kind, example))
    return out


EXAMPLES = _examples()


def test_every_case_has_its_example_on_the_page():
    assert sorted(k for k, _, _ in EXAMPLES) == sorted(CASES)


@pytest.mark.parametrize("key, kind, example", EXAMPLES, ids=[k for k, _, _ in EXAMPLES])
def test_the_documented_message_is_raised(key, kind, example, tmp_path):
    with pytest.raises(getattr(ng, kind)) as info:
        CASES[key](tmp_path)
    assert re.fullmatch(_pattern(example), str(info.value), re.S), (example, str(info.value))
