"""What a notebook shows: HTML tables for nets, reports and training results, and the
SummaryGraphic with port shapes."""

import re

import numpy as np
import pytest

import netgraph as ng


def chain():
    return ng.NetChain(
        [ng.LinearLayer(6), ng.BatchNormalizationLayer(), "Ramp", ng.LinearLayer(2)], Input=3
    )


def html_rows(html: str) -> list[list[str]]:
    """The cells of each body row of the layer table (the second table)."""
    body = html.split("<tbody>")[1].split("</tbody>")[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body)
    return [[re.sub(r"<.*?>", "", c) for c in re.findall(r"<td.*?</td>", r)] for r in rows]


def test_net_html_lists_layers_with_shapes_and_parameter_counts():
    html = chain()._repr_html_()
    assert html.startswith("<table")
    rows = html_rows(html)
    # layer, type, output, arrays, parameters, note; counts worked out by hand:
    # Linear 3->6: 6*3 + 6 = 24; BN on 6 channels: 4*6 = 24; Linear 6->2: 2*6 + 2 = 14.
    assert rows == [
        ["0", "LinearLayer", "(6,)", "2", "24", "uninitialized"],
        ["1", "BatchNormalizationLayer", "(6,)", "4", "24", "uninitialized"],
        ["2", "ElementwiseLayer (Ramp)", "(6,)", "0", "0", ""],
        ["3", "LinearLayer", "(2,)", "2", "14", "uninitialized"],
    ]
    assert "Input (3,)" in html and "Output (2,)" in html
    initialized = ng.NetInitialize(chain())._repr_html_()
    assert "uninitialized" not in initialized


def test_html_escapes_layer_keys():
    net = ng.NetChain({"<b>": ng.BatchNormalizationLayer()}, Input=2)
    html = net._repr_html_()
    assert "&lt;b&gt;" in html and "<b>" not in html


def test_training_results_html_has_a_table_and_the_loss_plot():
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    results = ng.NetTrain(
        chain(),
        (x, x[:, :2]),
        "All",
        MaxTrainingRounds=2,
        BatchSize=10,
        ValidationSet=ng.Scaled(0.25),
        TrainingProgressReporting=None,
    )
    html = results._repr_html_()
    assert "<caption>NetTrain results</caption>" in html
    assert f"{results['RoundLoss']:.5g}" in html
    assert f"{results['ValidationLoss']:.5g}" in html
    assert "MaxTrainingRoundsReached" in html
    assert "src='data:image/png;base64," in html
    assert f"final loss: {results['RoundLoss']:.5g}" in repr(results)


def test_summary_graphic_labels_show_port_and_output_shapes():
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    fig = ng.Information(chain(), "SummaryGraphic")
    labels = [t.get_text() for t in fig.axes[0].texts if t.get_text()]
    plt.close(fig)
    assert "Input\n(3,)" in labels and "Output\n(2,)" in labels
    assert "1\nBatchNormalizationLayer\n(6,)" in labels
    assert "2\nElementwiseLayer (Ramp)\n(6,)" in labels
    assert len(labels) == 6  # two ports and four layers
