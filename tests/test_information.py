"""Information on a layer: every property API.md lists, the report, and errors."""

import networkx as nx
import numpy as np
import pytest

import netgraph as ng

ARRAY_NAMES = ("Scaling", "Biases", "MovingMean", "MovingVariance")
LISTED = [  # API.md, "Functions": Information(net, prop) supports at least these
    "Arrays",
    "ArraysCount",
    "ArraysDimensions",
    "ArraysElementCounts",
    "ArraysTotalElementCount",
    "ArraysTotalSize",
    "InputPorts",
    "OutputPorts",
    "Layers",
    "LayersCount",
    "LayersList",
    "LayerTypeCounts",
    "LayersGraph",
    "SharedArraysCount",
    "SummaryGraphic",
]


@pytest.fixture
def bn():
    return ng.NetInitialize(ng.BatchNormalizationLayer(Input=(5, 2), Biases=np.arange(5.0)))


def test_every_listed_property_is_known():
    assert set(LISTED) <= set(ng.Information(ng.BatchNormalizationLayer(), "Properties"))


def test_arrays(bn):
    arrays = ng.Information(bn, "Arrays")
    assert list(arrays) == [(n,) for n in ARRAY_NAMES]
    np.testing.assert_array_equal(arrays[("Biases",)], np.arange(5.0))
    np.testing.assert_array_equal(arrays[("MovingVariance",)], np.ones(5))
    arrays[("Biases",)][:] = -1.0  # a copy
    np.testing.assert_array_equal(ng.NetExtract(bn, "Biases"), np.arange(5.0))


def test_array_counts_and_sizes(bn):
    assert ng.Information(bn, "ArraysCount") == 4
    assert ng.Information(bn, "ArraysDimensions") == {(n,): (5,) for n in ARRAY_NAMES}
    assert ng.Information(bn, "ArraysElementCounts") == {(n,): 5 for n in ARRAY_NAMES}
    assert ng.Information(bn, "ArraysTotalElementCount") == 20
    size = ng.Information(bn, "ArraysTotalSize")
    assert size == 80 and isinstance(size, int)  # 20 float32 values, 4 bytes each


def test_total_size_counts_the_stored_itemsize(bn):
    wide = ng.NetReplacePart(bn, {"Biases": ng.NumericArray(np.zeros(5), "Real64")})
    assert ng.Information(wide, "ArraysTotalSize") == 15 * 4 + 5 * 8


def test_ports(bn):
    assert ng.Information(bn, "InputPorts") == {"Input": (5, 2)}
    assert ng.Information(bn, "OutputPorts") == {"Output": (5, 2)}


def test_layers(bn):
    assert ng.Information(bn, "LayersCount") == 1
    layers = ng.Information(bn, "LayersList")
    assert len(layers) == 1 and layers[0] == bn
    assert list(ng.Information(bn, "Layers").values()) == [bn]
    assert ng.Information(bn, "LayerTypeCounts") == {"BatchNormalizationLayer": 1}


def test_layers_graph(bn):
    g = ng.Information(bn, "LayersGraph")
    assert isinstance(g, nx.DiGraph)
    assert g.has_edge(ng.NetPort("Input"), "BatchNormalizationLayer")
    assert g.has_edge("BatchNormalizationLayer", ng.NetPort("Output"))
    assert g.number_of_nodes() == 3


def test_shared_arrays_count(bn):
    assert ng.Information(bn, "SharedArraysCount") == 0
    shared = ng.BatchNormalizationLayer(
        Input=3, Scaling=ng.NetSharedArray("g"), Biases=ng.NetSharedArray("b")
    )
    assert ng.Information(shared, "SharedArraysCount") == 2
    assert ng.Information(ng.NetInitialize(shared), "SharedArraysCount") == 2


def test_summary_graphic(bn):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    for net in (bn, ng.BatchNormalizationLayer()):
        fig = ng.Information(net, "SummaryGraphic")
        assert isinstance(fig, Figure)
        plt.close(fig)


def test_uninitialized_layer_properties():
    open_bn = ng.BatchNormalizationLayer()
    assert ng.Information(open_bn, "Arrays") == {(n,): ng.Automatic for n in ARRAY_NAMES}
    assert ng.Information(open_bn, "ArraysCount") == 4
    assert ng.Information(open_bn, "ArraysElementCounts") == {(n,): None for n in ARRAY_NAMES}
    assert ng.Information(open_bn, "InputPorts") == {"Input": None}
    known = ng.BatchNormalizationLayer(Input=(16, 8, 8))
    assert ng.Information(known, "ArraysTotalElementCount") == 64
    assert ng.Information(known, "ArraysTotalSize") == 256


def test_unknown_property_lists_the_valid_ones(bn):
    with pytest.raises(ng.NetError, match='Did you mean "ArraysCount"') as info:
        ng.Information(bn, "ArrayCount")
    assert "LayersGraph" in str(info.value)
    with pytest.raises(ng.NetError, match="ArraysTotalSize") as info:
        ng.Information(bn, "zzzz")
    assert "InputPorts" in str(info.value)


def test_information_of_something_else():
    with pytest.raises(ng.NetError):
        ng.Information(3)


# ------------------------------------------------------------------------------ the report


@pytest.mark.parametrize(
    "net",
    [
        ng.BatchNormalizationLayer(),
        ng.BatchNormalizationLayer(Input=(3, 4)),
        ng.BatchNormalizationLayer(Scaling=[1.0, 2.0]),
    ],
)
def test_report_works_uninitialized(net):
    text = str(ng.Information(net))
    assert "BatchNormalizationLayer" in text and "uninitialized" in text
    html = ng.Information(net)._repr_html_()
    assert html.startswith("<table") and "BatchNormalizationLayer" in html
    assert net._repr_html_() == html


def test_report_of_an_initialized_layer(bn):
    report = ng.Information(bn)
    text = str(report)
    assert "(5, 2)" in text and "uninitialized" not in text
    assert "20" in text  # total element count
    assert report["ArraysCount"] == 4
    assert repr(report) == text
