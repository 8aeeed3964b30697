"""Information: a readable report of a net, and its properties by name.

Everything here works before NetInitialize: unknown dims show as `?`, unset arrays as
"uninitialized", and counts use the inferred shapes.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
from collections import Counter
from typing import Any

from . import shapes as S
from ._decoder_ports import port_decoders
from .errors import NetError, NetOptionError, did_you_mean
from .layer import Layer
from .values import Automatic, NetPort, NetSharedArray


def _arrays_info(net: Layer) -> dict:
    """array id -> (value or None, shape, kind, itemsize) in plan order."""
    out: dict = {}
    for path, leaf in net._leaves():
        for spec in leaf.array_specs:
            value = leaf._arrays.get(spec.name)
            if isinstance(value, NetSharedArray):
                aid, value = value, net._shared.get(value.name)
            else:
                aid = path + (spec.name,)
            shape = value.shape if value is not None else leaf.array_shape(spec.name)
            itemsize = value.dtype.itemsize if value is not None else 4
            if aid not in out:
                out[aid] = (value, shape, spec.kind, itemsize)
    return out


def _count(shape) -> int | None:
    return S.size(shape)


def _total(counts) -> int | None:
    """The sum; None while some count is not known (a dimension not inferred yet)."""
    counts = list(counts)
    return None if None in counts else int(sum(counts))


def _lrm_of(net: Layer) -> dict:
    """The learning-rate multipliers NetTrain uses by default (state arrays are pinned at 0)."""
    from .training.multipliers import resolve

    return resolve(net)


def layers_graph(net: Layer):
    import networkx as nx

    g = nx.DiGraph()
    if hasattr(net, "_graph_edges"):
        for a, b in net._graph_edges():
            g.add_edge(a, b)
        for k in net._child_keys():
            g.add_node(k)
        return g
    name = type(net).__name__
    g.add_node(name)
    for p in net.input_ports:
        g.add_edge(NetPort(p.name), name)
    for p in net.output_ports:
        g.add_edge(name, NetPort(p.name))
    return g


def _topology(net: Layer) -> Any:
    if net._child_keys():
        return {
            "type": type(net).__name__,
            "layers": {str(k): _topology(net._child(k)) for k in net._child_keys()},
            "edges": [[repr(a), repr(b)] for a, b in layers_graph(net).edges()],
        }
    return {
        "type": type(net).__name__,
        "options": {k: repr(v) for k, v in net.options.items()},
        "ports": {p: S.fmt(s) for p, s in {**net.input_shapes, **net.output_shapes}.items()},
    }


def summary_graphic(net: Layer):
    """The layers graph, left to right: one box per layer (key, type, output shape) and per port
    (name, shape). Boxes fit their text, and arrows end at the box edges."""
    try:
        import matplotlib

        if matplotlib.get_backend().lower() not in ("agg",) and not _has_display():
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise NetError(
            'Information(net, "SummaryGraphic") needs matplotlib: pip install "netgraph[plot]".'
        ) from None
    g = layers_graph(net)
    pos = _graph_positions(g)
    columns = max(x for x, _ in pos.values()) + 1
    rows = max(1 + 2 * abs(y) for _, y in pos.values())
    fig, ax = plt.subplots(figsize=(max(3.5, 2.3 * columns), max(1.6, 1.0 * rows + 0.6)))
    boxes = {}
    for node in g.nodes:
        port = isinstance(node, NetPort)
        boxes[node] = ax.text(
            *pos[node],
            _node_label(net, node),
            ha="center",
            va="center",
            fontsize=8,
            bbox=dict(
                boxstyle="round,pad=0.5",
                fc="#dde8f7" if port else "#f7e7c6",
                ec="#6b8bb5" if port else "#c49a45",
            ),
        )
    for a, b in g.edges:
        ax.annotate(
            "",
            xy=(0.5, 0.5),
            xycoords=boxes[b],
            xytext=(0.5, 0.5),
            textcoords=boxes[a],
            zorder=1,  # under the boxes, so a long edge never crosses a label
            arrowprops=dict(
                arrowstyle="-|>",
                color="#444444",
                patchA=boxes[a].get_bbox_patch(),
                patchB=boxes[b].get_bbox_patch(),
                shrinkA=1,
                shrinkB=1,
            ),
        )
    ax.set_xlim(-0.5, columns - 0.5)
    ax.set_ylim(-rows / 2, rows / 2)
    ax.set_axis_off()
    fig.tight_layout()
    return fig


def _graph_positions(g) -> dict:
    """node -> (column, row): columns are topological generations, rows centred on 0."""
    import networkx as nx

    try:
        generations = list(nx.topological_generations(g))
    except nx.NetworkXUnfeasible:  # containers refuse cycles; a fallback all the same
        generations = [list(g.nodes)]
    pos = {}
    for x, gen in enumerate(generations):
        for y, node in enumerate(sorted(gen, key=repr)):
            pos[node] = (x, (len(gen) - 1) / 2 - y)
    return pos


def _node_label(net: Layer, node) -> str:
    if isinstance(node, NetPort):
        return f"{node.port}\n{S.fmt(net.port_shape(node.port))}"
    layer = net._child(node) if node in net._child_keys() else net
    out = ", ".join(S.fmt(s) for s in layer.output_shapes.values())
    kind = layer_label(layer)
    return f"{node}\n{kind}\n{out}" if node != type(layer).__name__ else f"{kind}\n{out}"


def layer_label(layer: Layer) -> str:
    """The type name, with the function of an ElementwiseLayer: "ElementwiseLayer (Ramp)"."""
    name = type(layer).__name__
    function = layer.options.get("Function") if name == "ElementwiseLayer" else None
    return f"{name} ({function})" if isinstance(function, str) else name


def _has_display() -> bool:
    import os

    return bool(os.environ.get("DISPLAY"))


def _props(net: Layer) -> dict:
    """Property name -> function computing it."""
    arrays = lambda: _arrays_info(net)  # noqa: E731
    return {
        "Arrays": lambda: {
            a: (Automatic if v is None else v.copy()) for a, (v, *_) in arrays().items()
        },
        "ArraysList": lambda: [Automatic if v is None else v.copy() for v, *_ in arrays().values()],
        "ArraysCount": lambda: len(arrays()),
        "ArraysPositionList": lambda: list(arrays()),
        "ArraysDimensions": lambda: {a: s for a, (_, s, *_) in arrays().items()},
        "ArraysElementCounts": lambda: {a: _count(s) for a, (_, s, *_) in arrays().items()},
        "ArraysByteCounts": lambda: {
            a: (None if _count(s) is None else _count(s) * b)
            for a, (_, s, _, b) in arrays().items()
        },
        "ArraysTotalElementCount": lambda: _total(_count(s) for _, s, *_ in arrays().values()),
        "ArraysTotalByteCount": lambda: _total_bytes(arrays()),
        "ArraysTotalSize": lambda: _total_bytes(arrays()),
        "ArraysLearningRateMultipliers": lambda: _lrm_of(net),
        "SharedArraysCount": lambda: sum(isinstance(a, NetSharedArray) for a in arrays()),
        "InputPorts": lambda: dict(net.input_shapes),
        "OutputPorts": lambda: dict(net.output_shapes),
        "InputPortNames": lambda: [p.name for p in net.input_ports],
        "OutputPortNames": lambda: [p.name for p in net.output_ports],
        "OutputPortDecoders": lambda: dict(port_decoders(net)),
        "Layers": lambda: dict(_leaves_with_values(net)),
        "LayersList": lambda: [leaf for _, leaf in _leaves_with_values(net)],
        "LayersCount": lambda: sum(1 for _ in net._leaves()),
        "LayerTypeCounts": lambda: dict(Counter(type(l).__name__ for _, l in net._leaves())),
        "LayersGraph": lambda: layers_graph(net),
        "SummaryGraphic": lambda: summary_graphic(net),
        "TopologyHash": lambda: hashlib.sha256(
            json.dumps(_topology(net), sort_keys=True).encode()
        ).hexdigest(),
        "Initialized": lambda: net.is_initialized(),
    }


def _leaves_with_values(net: Layer):
    """(path, leaf) with the values of the leaf's shared arrays, which the net holds, attached:
    a leaf as NetExtract gives it, evaluable on its own."""
    for path, leaf in net._leaves():
        names = {v.name for v in leaf._arrays.values() if isinstance(v, NetSharedArray)}
        if names:
            leaf = leaf._copy_with(_shared={n: net._shared.get(n) for n in names})
        yield path, leaf


def _total_bytes(arrays: dict) -> int | None:
    return _total(None if _count(s) is None else _count(s) * b for _, s, _, b in arrays.values())


PROPERTIES = tuple(sorted(_props(None).keys())) + ("Properties",)  # type: ignore[arg-type]


def Information(net: Layer, prop: str | None = None) -> Any:  # noqa: N802 (Wolfram's name)
    """A report on a net (`str()` gives a table), or one property of it.

    >>> import netgraph as ng
    >>> bn = ng.NetInitialize(ng.BatchNormalizationLayer(Input=(16, 8, 8)))
    >>> ng.Information(bn, "ArraysCount"), ng.Information(bn, "ArraysTotalElementCount")
    (4, 64)
    >>> ng.Information(bn, "ArraysTotalSize")
    256
    """
    if not isinstance(net, Layer):
        raise NetError(f"Information: expected a layer or net, got {type(net).__name__}.")
    if prop is None:
        return InformationReport(net)
    if not isinstance(prop, str):
        raise NetOptionError(
            f'Information: a property is a name such as "Arrays", got {prop!r:.60}. '
            'Information(net, "Properties") lists them.'
        )
    if prop == "Properties":
        return list(PROPERTIES)
    props = _props(net)
    if prop not in props:
        hint = did_you_mean(prop, PROPERTIES)
        if hint.startswith(" Did"):
            hint += " Valid properties: " + ", ".join(PROPERTIES) + "."
        raise NetOptionError(f"Information: unknown property {prop!r}.{hint}")
    return props[prop]()


class InformationReport:
    """The summary of a net: a text table (`str`), HTML in notebooks, properties by `[name]`."""

    def __init__(self, net: Layer):
        self.net = net

    def __getitem__(self, prop: str) -> Any:
        return Information(self.net, prop)

    def rows(self) -> list[dict]:
        rows = []
        for path, leaf in self.net._leaves():
            values = [
                self.net._shared.get(v.name) if isinstance(v, NetSharedArray) else v
                for v in leaf._arrays.values()
            ]
            counts = [
                _count(v.shape if v is not None else leaf.array_shape(s.name))
                for s, v in zip(leaf.array_specs, values)
            ]
            out = [S.fmt(s) for s in leaf.output_shapes.values()]
            rows.append(
                {
                    "layer": "/".join(map(str, path)) or type(leaf).__name__,
                    "type": layer_label(leaf),
                    "output": ", ".join(out),
                    "arrays": len(values),
                    "parameters": "?" if None in counts else str(_total(counts)),
                    "initialized": all(v is not None for v in values),
                }
            )
        return rows

    def summary(self) -> dict:
        info = Information
        net = self.net
        arrays = _arrays_info(net)
        learned = _total(_count(s) for _, s, k, _ in arrays.values() if k == "learned")
        state = _total(_count(s) for _, s, k, _ in arrays.values() if k == "state")
        size = _total_bytes(arrays)
        decoders = port_decoders(net)
        return {
            "Type": type(net).__name__,
            "Inputs": ", ".join(f"{p} {S.fmt(s)}" for p, s in net.input_shapes.items()),
            "Outputs": ", ".join(
                f"{p} {S.fmt(s)}" + (f" {decoders[p]!r}" if p in decoders else "")
                for p, s in net.output_shapes.items()
            ),
            "LayersCount": info(net, "LayersCount"),
            "ArraysCount": len(arrays),
            "SharedArraysCount": info(net, "SharedArraysCount"),
            "ArraysTotalElementCount": (
                "? (some dimensions are not known yet)"
                if learned is None or state is None
                else f"{learned + state} ({learned} learned, {state} state)"
            ),
            "ArraysTotalSize": "?" if size is None else _human_bytes(size),
            "Initialized": "yes" if net.is_initialized() else "no",
        }

    def __str__(self) -> str:
        rows = self.rows()
        heads = ["layer", "type", "output", "arrays", "parameters"]
        widths = {h: max([len(h)] + [len(str(r[h])) for r in rows]) for h in heads}
        line = "  ".join(h.ljust(widths[h]) for h in heads)
        out = [f"{k}: {v}" for k, v in self.summary().items()]
        out += ["", line, "-" * len(line)]
        for r in rows:
            text = "  ".join(str(r[h]).ljust(widths[h]) for h in heads)
            out.append(text + ("" if r["initialized"] else "  (uninitialized)"))
        return "\n".join(out)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        cell = "<td style='text-align:{}'>{}</td>"
        summary = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
            + cell.format("left", html.escape(str(v)))
            + "</tr>"
            for k, v in self.summary().items()
        )
        heads = ["layer", "type", "output", "arrays", "parameters"]
        right = {"arrays", "parameters"}
        body = ""
        for r in self.rows():
            cells = [
                cell.format("right" if h in right else "left", html.escape(str(r[h])))
                for h in heads
            ]
            note = "" if r["initialized"] else "<i>uninitialized</i>"
            body += "<tr>" + "".join(cells) + cell.format("left", note) + "</tr>"
        head = "".join(
            f"<th style='text-align:{'right' if h in right else 'left'}'>{h}</th>" for h in heads
        )
        return (
            f"<table>{summary}</table><table><thead><tr>{head}<th></th></tr></thead>"
            f"<tbody>{body}</tbody></table>"
        )


def _human_bytes(n: int) -> str:
    if n < 1000:
        return f"{n} bytes"
    exp = min(int(math.log10(n) // 3), 3)
    return f"{n / 10 ** (3 * exp):.3g} {['bytes', 'kB', 'MB', 'GB'][exp]} ({n} bytes)"
