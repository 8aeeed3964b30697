"""Information on whole nets (API.md "Functions" and "Precise rules"; wolfram-semantics.md §6):
the report and every listed property for containers, before and after NetInitialize.

The net used throughout, with its numbers worked out by hand:

    Image (1, 6, 6) -> block: chain[Conv(4, 3) -> (4, 4, 4), BN, Ramp] -> flat (64,) --+
    Vector (3,) -> side: LinearLayer(5) -> (5,) ---------------------------------------+-> cat (69,)
    cat -> out: LinearLayer(2) -> Scores (2,)

    arrays: conv Weights 4*1*3*3 = 36, Biases 4; BN 4 x 4 = 16 (8 of them moving statistics);
            side Weights 5*3 = 15, Biases 5; out Weights 2*69 = 138, Biases 2  -> 216 in all
"""

from __future__ import annotations

import builtins
import re
import sys

import networkx as nx
import numpy as np
import pytest

import netgraph as ng

I = ng.Information  # noqa: E741
PORT = ng.NetPort


def sample(image=(1, 6, 6)) -> ng.NetGraph:
    return ng.NetGraph(
        {
            "block": ng.NetChain([ng.ConvolutionLayer(4, 3), ng.BatchNormalizationLayer(), "Ramp"]),
            "flat": ng.FlattenLayer(),
            "side": ng.LinearLayer(5),
            "cat": ng.CatenateLayer(),
            "out": ng.LinearLayer(2),
        },
        [
            (PORT("Image"), "block", "flat"),
            (PORT("Vector"), "side"),
            (["flat", "side"], "cat", "out", PORT("Scores")),
        ],
        Vector=3,
        **({} if image is None else {"Image": image}),
    )


DIMENSIONS = {
    ("block", 0, "Weights"): (4, 1, 3, 3),
    ("block", 0, "Biases"): (4,),
    ("block", 1, "Scaling"): (4,),
    ("block", 1, "Biases"): (4,),
    ("block", 1, "MovingMean"): (4,),
    ("block", 1, "MovingVariance"): (4,),
    ("side", "Weights"): (5, 3),
    ("side", "Biases"): (5,),
    ("out", "Weights"): (2, 69),
    ("out", "Biases"): (2,),
}
LEAVES = {
    ("block", 0): (ng.ConvolutionLayer, (4, 4, 4)),
    ("block", 1): (ng.BatchNormalizationLayer, (4, 4, 4)),
    ("block", 2): (ng.ElementwiseLayer, (4, 4, 4)),
    ("flat",): (ng.FlattenLayer, (64,)),
    ("side",): (ng.LinearLayer, (5,)),
    ("cat",): (ng.CatenateLayer, (69,)),
    ("out",): (ng.LinearLayer, (2,)),
}


@pytest.fixture(params=["uninitialized", "initialized"])
def net(request):
    return sample() if request.param == "uninitialized" else ng.NetInitialize(sample())


# --------------------------------------------------------------------------- properties


def test_ports(net):
    assert I(net, "InputPorts") == {"Image": (1, 6, 6), "Vector": (3,)}
    assert I(net, "OutputPorts") == {"Scores": (2,)}


def test_array_properties(net):
    assert I(net, "ArraysDimensions") == DIMENSIONS
    counts = {k: int(np.prod(s)) for k, s in DIMENSIONS.items()}
    assert I(net, "ArraysElementCounts") == counts
    assert I(net, "ArraysCount") == 10
    assert I(net, "ArraysTotalElementCount") == 36 + 4 + 16 + 15 + 5 + 138 + 2 == 216
    size = I(net, "ArraysTotalSize")
    assert size == 4 * 216 and isinstance(size, int)
    assert I(net, "SharedArraysCount") == 0
    arrays = I(net, "Arrays")
    assert list(arrays) == list(DIMENSIONS)
    if not net.is_initialized():
        assert all(v is ng.Automatic for v in arrays.values())
    else:
        assert all(arrays[k].shape == s for k, s in DIMENSIONS.items())
        np.testing.assert_array_equal(arrays[("block", 1, "MovingVariance")], np.ones(4))


def test_layer_properties(net):
    layers = I(net, "Layers")
    assert list(layers) == list(LEAVES)
    for path, (cls, output) in LEAVES.items():
        assert type(layers[path]) is cls
        assert list(layers[path].output_shapes.values()) == [output]
    assert layers[("block", 0)].input_shapes == {"Input": (1, 6, 6)}
    assert I(net, "LayersList") == list(layers.values())
    assert I(net, "LayersCount") == 7
    assert I(net, "LayerTypeCounts") == {
        "ConvolutionLayer": 1,
        "BatchNormalizationLayer": 1,
        "ElementwiseLayer": 1,
        "FlattenLayer": 1,
        "LinearLayer": 2,
        "CatenateLayer": 1,
    }


def test_layers_graph(net):
    g = I(net, "LayersGraph")
    assert isinstance(g, nx.DiGraph)
    assert set(g.nodes) == {"block", "flat", "side", "cat", "out"} | {
        PORT("Image"),
        PORT("Vector"),
        PORT("Scores"),
    }
    assert set(g.edges) == {
        (PORT("Image"), "block"),
        ("block", "flat"),
        (PORT("Vector"), "side"),
        ("flat", "cat"),
        ("side", "cat"),
        ("cat", "out"),
        ("out", PORT("Scores")),
    }
    assert list(nx.topological_sort(g))[-1] == PORT("Scores")


def test_layers_graph_of_chains_and_nested_chains():
    chain = ng.NetChain([2, "Ramp", ng.NetChain([3, "Tanh"])], Input=4)
    g = I(chain, "LayersGraph")
    assert set(g.nodes) == {0, 1, 2, PORT("Input"), PORT("Output")}  # top-level keys only
    assert set(g.edges) == {(PORT("Input"), 0), (0, 1), (1, 2), (2, PORT("Output"))}
    named = ng.NetChain({"a": 2, "b": "Ramp"}, Input=4)
    assert list(nx.topological_sort(I(named, "LayersGraph"))) == [
        PORT("Input"),
        "a",
        "b",
        PORT("Output"),
    ]


def test_layer_type_counts_walk_nested_containers():
    net = ng.NetChain([ng.NetChain(["Tanh", ng.NetChain(["Ramp", 2])]), "Sin", 3], Input=2)
    assert I(net, "LayersCount") == 5
    assert I(net, "LayerTypeCounts") == {"ElementwiseLayer": 3, "LinearLayer": 2}
    assert list(I(net, "Layers")) == [(0, 0), (0, 1, 0), (0, 1, 1), (1,), (2,)]


# ----------------------------------------------------------------------- shared arrays


def test_shared_arrays_are_counted_once():
    w = ng.NetSharedArray("w")
    net = ng.NetChain(
        {
            "l1": ng.LinearLayer(3, Weights=w),
            "act": "Tanh",
            "l2": ng.LinearLayer(3, Weights=w),
            "bn": ng.BatchNormalizationLayer(Scaling=ng.NetSharedArray("s")),
        },
        Input=3,
    )
    assert I(net, "SharedArraysCount") == 2
    assert I(net, "ArraysCount") == 2 + 2 + 3  # w, s; two Biases; BN Biases and statistics
    assert I(net, "ArraysTotalElementCount") == 9 + 3 + 3 + 3 * 4
    assert I(net, "ArraysTotalSize") == 4 * 27
    dims = I(net, "ArraysDimensions")
    assert dims[w] == (3, 3) and dims[ng.NetSharedArray("s")] == (3,)
    wide = ng.NetInitialize(ng.NetReplacePart(net, {w: ng.NumericArray(np.eye(3), "Real64")}))
    assert I(wide, "ArraysTotalSize") == 8 * 9 + 4 * 18  # the stored itemsize of each array
    np.testing.assert_array_equal(I(wide, "Arrays")[w], np.eye(3))


def test_layers_carry_their_shared_values():
    w = ng.NetSharedArray("w")
    net = ng.NetInitialize(
        ng.NetChain([ng.LinearLayer(3, Weights=w), ng.LinearLayer(3, Weights=w)], Input=3)
    )
    first = I(net, "Layers")[(0,)]
    assert first.is_initialized() and first == ng.NetExtract(net, 0)
    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(first(x), ng.NetExtract(net, 0)(x))
    assert all(layer.is_initialized() for layer in I(net, "LayersList"))


# ------------------------------------------------------------------- unknown dimensions


def test_properties_before_shapes_are_known():
    net = sample(image=None)
    assert I(net, "InputPorts") == {"Image": None, "Vector": (3,)}
    assert I(net, "OutputPorts") == {"Scores": (2,)}
    dims = I(net, "ArraysDimensions")
    assert dims[("side", "Weights")] == (5, 3)
    assert dims[("out", "Weights")] == (2, None)
    counts = I(net, "ArraysElementCounts")
    assert counts[("side", "Weights")] == 15 and counts[("out", "Weights")] is None
    assert I(net, "ArraysTotalElementCount") is None  # not a partial sum
    assert I(net, "ArraysTotalSize") is None
    assert I(net, "ArraysCount") == 10 and I(net, "LayersCount") == 7


# ------------------------------------------------------------------------------ report


def table(text: str) -> dict:
    """The report's layer table: layer -> [type, output, arrays, parameters, note]."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("layer "))
    assert set(lines[start + 1]) == {"-"}
    rows = {}
    for line in lines[start + 2 :]:
        cells = re.split(r"\s{2,}", line.strip())
        rows[cells[0]] = cells[1:]
    return rows


def test_report_table_before_initialization():
    text = str(I(sample()))
    assert "Type: NetGraph" in text
    assert "Inputs: Image (1, 6, 6), Vector (3,)" in text
    assert "Outputs: Scores (2,)" in text
    assert "LayersCount: 7" in text and "ArraysCount: 10" in text
    assert "ArraysTotalElementCount: 216 (208 learned, 8 state)" in text
    assert "ArraysTotalSize: 864 bytes" in text and "Initialized: no" in text
    assert table(text) == {
        "block/0": ["ConvolutionLayer", "(4, 4, 4)", "2", "40", "(uninitialized)"],
        "block/1": ["BatchNormalizationLayer", "(4, 4, 4)", "4", "16", "(uninitialized)"],
        "block/2": ["ElementwiseLayer (Ramp)", "(4, 4, 4)", "0", "0"],
        "flat": ["FlattenLayer", "(64,)", "0", "0"],
        "side": ["LinearLayer", "(5,)", "2", "20", "(uninitialized)"],
        "cat": ["CatenateLayer", "(69,)", "0", "0"],
        "out": ["LinearLayer", "(2,)", "2", "140", "(uninitialized)"],
    }


def test_report_table_with_unknown_dims_and_after_initialization():
    text = str(I(sample(image=None)))
    rows = table(text)
    # ConvolutionLayer(4, 3) knows its 4 output channels before the image rank is known
    assert rows["block/0"][1:4] == ["(4, ...)", "2", "?"]
    assert rows["flat"][1] == "(?,)"
    assert rows["side"][3] == "20" and rows["out"][3] == "?"
    assert "ArraysTotalElementCount: ?" in text and "ArraysTotalSize: ?" in text
    done = str(I(ng.NetInitialize(sample())))
    assert "uninitialized" not in done and "Initialized: yes" in done
    assert table(done)["out"] == ["LinearLayer", "(2,)", "2", "140"]


def test_report_html():
    net = sample()
    html = I(net)._repr_html_()
    assert html.startswith("<table") and net._repr_html_() == html
    for cell in ("block/0", "ConvolutionLayer", "(4, 4, 4)", "ElementwiseLayer (Ramp)", "140"):
        assert f">{cell}</td>" in html
    assert html.count("<i>uninitialized</i>") == 4
    report = I(net)
    assert report["LayersCount"] == 7 and repr(report) == str(report)


# ------------------------------------------------------------------------ SummaryGraphic


def pyplot():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


@pytest.mark.parametrize(
    "build", [sample, lambda: sample(image=None), lambda: ng.NetChain(["Tanh"])]
)
def test_summary_graphic_is_a_figure(build):
    plt = pyplot()
    from matplotlib.figure import Figure

    fig = I(build(), "SummaryGraphic")
    try:
        assert isinstance(fig, Figure)
        g = I(build(), "LayersGraph")
        labels = [t.get_text() for t in fig.axes[0].texts if t.get_text()]  # arrows have none
        assert len(labels) == g.number_of_nodes()
        assert len(fig.axes[0].texts) - len(labels) == g.number_of_edges()
    finally:
        plt.close(fig)


def test_summary_graphic_labels_layers_and_ports():
    plt = pyplot()

    fig = I(sample(), "SummaryGraphic")
    try:
        labels = {t.get_text() for t in fig.axes[0].texts}
    finally:
        plt.close(fig)
    assert "Image\n(1, 6, 6)" in labels and "Scores\n(2,)" in labels
    assert "block\nNetChain\n(4, 4, 4)" in labels
    assert "out\nLinearLayer\n(2,)" in labels


def _refuse_matplotlib(monkeypatch, how: str) -> None:
    if how == "sys.modules":
        for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
            monkeypatch.setitem(sys.modules, name, None)
        return
    real_import = builtins.__import__

    def guarded(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", guarded)


@pytest.mark.parametrize("how", ["sys.modules", "__import__"])
def test_summary_graphic_without_matplotlib_names_the_plot_extra(monkeypatch, how):
    net = sample()
    _refuse_matplotlib(monkeypatch, how)
    with pytest.raises(ng.NetError) as info:
        I(net, "SummaryGraphic")
    assert "matplotlib" in str(info.value) and "netgraph[plot]" in str(info.value)
    # everything else still works without it
    assert I(net, "LayersCount") == 7 and "block/0" in str(I(net))
