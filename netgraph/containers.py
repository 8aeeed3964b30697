"""NetGraph and NetChain: layers wired by typed ports, shapes inferred both ways.

A graph keeps two views of its layers: the layers as given (shorthand resolved, shared-array
values held by the graph instead) and the same layers with every shape inferred in context. All
rebuilding (NetReplacePart, JIT shapes from data, new arrays) starts from the given view, so a
replaced layer is never checked against shapes inferred from what it replaced.

Connections are stored as `conns[(key, input port)] = source` and `outputs[graph port] = source`
where a source is `(key, output port)` or `(None, graph input port)`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import shapes as S
from ._decoder_ports import check_decoders, decoder_note
from .decoders import NetDecoder
from .edges import (
    _auto_ports,
    _check_connected_ports,
    _connect,
    _graph_kwargs,
    _sources,
    _topological_order,
    _variadic,
    _without_automatic_ports,
)
from .errors import (
    NetArrayError,
    NetError,
    NetGraphError,
    NetShapeError,
    did_you_mean,
    refuses_deep_nesting,
)
from .graph_inference import _infer_graph
from .layer import Layer, LayerOptions, Port, as_array_value, check_positive_dims
from .sharing import (
    _attach_shared,
    _collect_shared,
    _hoist_shared,
    _same_shared,
    _shared_names,
    _shared_shapes,
    _strip_shared,
    blame_shared,
)
from .values import NetPort, NetSharedArray


def as_layer(spec: Any, where: str = "") -> Layer:
    """A layer from a shorthand: an activation name, an int n (LinearLayer(n)), a nested list."""
    from .layer import LAYER_TYPES

    if isinstance(spec, Layer):
        return spec
    if isinstance(spec, str) and "ElementwiseLayer" in LAYER_TYPES:
        return LAYER_TYPES["ElementwiseLayer"](spec)
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        if "LinearLayer" in LAYER_TYPES:
            return LAYER_TYPES["LinearLayer"](int(spec))
    if isinstance(spec, (list, dict)):
        return NetChain(spec)
    if callable(spec) and "ElementwiseLayer" in LAYER_TYPES:
        return LAYER_TYPES["ElementwiseLayer"](spec)
    raise NetGraphError(
        f"{where}expected a layer, an activation name, an int (LinearLayer size) or a list "
        f"(nested NetChain), got {spec!r}."
    )


class _NoOptions(LayerOptions):
    pass


class NetGraph(Layer):
    """A graph of layers. Edges are paths of vertices (layer keys, NetPorts, lists of sources).

    >>> import numpy as np, netgraph as ng
    >>> g = ng.NetGraph({"bn1": ng.BatchNormalizationLayer(), "bn2": ng.BatchNormalizationLayer()},
    ...                 [(ng.NetPort("Input"), "bn1", "bn2", ng.NetPort("Output"))], Input=3)
    >>> ng.Information(g, "OutputPorts")
    {'Output': (3,)}
    """

    Options = _NoOptions
    __slots__ = ("_given", "_layers", "_conns", "_outputs", "_inputs", "_order")

    @refuses_deep_nesting()
    def __init__(self, layers: Any, edges: Any = (), **kwargs: Any):
        kwargs, decoders = _graph_decoders(kwargs)
        shapes, lrm = _graph_kwargs(kwargs, type(self).__name__)
        if type(self) is NetGraph and isinstance(layers, NetGraph) and not edges:
            from ._graph_surgery import equivalent_graph

            built = equivalent_graph(layers, shapes, lrm, decoders)
        else:
            given = _layer_dict(layers, type(self).__name__)
            conns, outputs = self._parse_edges(given, edges)
            built = type(self)._build(  # a given array that does not fit: NetArrayError
                given, conns, outputs, shapes, lrm, None, NetArrayError, decoders=decoders
            )
        for cls in type(self).__mro__:
            for slot in getattr(cls, "__slots__", ()):
                object.__setattr__(self, slot, getattr(built, slot))

    # ------------------------------------------------------------------ edges

    def _parse_edges(self, layers: dict, edges: Any) -> tuple[dict, dict]:
        name = type(self).__name__
        if isinstance(edges, dict):
            edges = list(edges.items())
        if not isinstance(edges, (list, tuple)):
            raise NetGraphError(
                f'{name}: the edges should be a list of tuples such as [("a", "b")], got '
                f"{edges!r:.60}."
            )
        conns: dict = {}
        outputs: dict = {}
        for edge in edges:
            if not isinstance(edge, tuple) or len(edge) < 2:
                raise NetGraphError(
                    f"{name}: {edge!r} is not a valid edge specification; an edge is a tuple of "
                    'two or more vertices, e.g. ("a", "b") or (ng.NetPort("Input"), "a").'
                )
            for u, v in zip(edge[:-1], edge[1:]):
                sources = _sources(layers, u, edge)
                _connect(layers, sources, v, edge, conns, outputs)
        return conns, outputs

    # ------------------------------------------------------------------ build

    @classmethod
    def _build(
        cls, given, conns, outputs, shapes, lrm, shared, array_error=NetShapeError, decoders=None
    ):
        """A graph value from its parts: auto ports, cycle check, hoisting, inference."""
        self = object.__new__(cls)
        decoders = dict(decoders or {})
        # shapes of shared arrays known to an enclosing container come keyed by NetSharedArray
        hints = {k.name: v for k, v in shapes.items() if isinstance(k, NetSharedArray)}
        shapes = {k: v for k, v in shapes.items() if not isinstance(k, NetSharedArray)}
        given = {k: _variadic(given[k], k, conns) for k in given}
        cls._check_layers(given)
        _check_connected_ports(cls.__name__, given, conns, outputs)
        shared = _hoist_shared(given, shared)
        given = {k: _strip_shared(v) for k, v in given.items()}
        conns, outputs = dict(conns), dict(outputs)
        inputs = _auto_ports(given, conns, outputs)
        both = [p for p in outputs if p in inputs]
        if both:
            raise NetGraphError(
                f"{cls.__name__}: {both[0]!r} names both an input and an output port of the "
                'graph; give the output another name, e.g. NetPort("Output").'
            )
        order = _topological_order(given, conns, cls.__name__)
        for port in shapes:
            if port not in inputs and port not in outputs:
                raise NetGraphError(
                    f"{cls.__name__} has no port {port!r}."
                    + did_you_mean(port, list(inputs) + list(outputs))
                )
        for port in decoders:
            if port not in outputs:
                raise NetGraphError(
                    f'{cls.__name__}: a NetDecoder goes on an output port; "{port}" is not one.'
                    + did_you_mean(port, list(outputs))
                )
        for slot, value in (
            ("_decoders", decoders),
            ("_given", given),
            ("_conns", conns),
            ("_outputs", outputs),
            ("_inputs", inputs),
            ("_port_given", dict(shapes)),
            ("_order", order),
            ("_lrm", lrm),
            ("_options", _NoOptions()),
            ("_arrays", {}),
            ("_cache", {}),
            ("_shared", shared),
        ):
            object.__setattr__(self, slot, value)
        try:
            layers, port_shapes = _infer_graph(self, dict(shapes), array_error, hints)
        except NetError as exc:
            if not decoder_note(decoders):
                raise
            raise type(exc)(str(exc) + decoder_note(decoders)) from None
        object.__setattr__(self, "_layers", layers)
        object.__setattr__(self, "_shapes", port_shapes)
        _shared_shapes(self, layers, hints, strict=True)
        check_decoders(self, decoders, cls.__name__)
        if isinstance(lrm, (dict, list)):  # rules: slices expanded, keys checked
            from .training.multipliers import normalize_setting

            object.__setattr__(self, "_lrm", normalize_setting(self, lrm))
        return self

    @classmethod
    def _check_layers(cls, given: dict) -> None:
        """Structural rules of the container kind on its layers (none for a graph)."""

    def _rebuild(
        self,
        *,
        given=None,
        shapes=None,
        lrm=None,
        shared=None,
        array_error=NetShapeError,
        conns=None,
        outputs=None,
        decoders=None,
    ):
        return type(self)._build(
            self._given if given is None else given,
            self._conns if conns is None else conns,
            self._outputs if outputs is None else outputs,
            {**self._port_given, **(shapes or {})},
            self._lrm if lrm is None else lrm,
            self._shared if shared is None else shared,
            array_error,
            decoders=self._decoders if decoders is None else decoders,
        )

    def _replace(self, *, shapes=None, lrm=None, array_error=None, decoders=None, **parts):
        """A container's own replaceable parts are its port shapes (and decoders) and its
        multiplier."""
        if any(v is not None for v in parts.values()):
            raise NetGraphError(f"{type(self).__name__} has no options or arrays of its own.")
        return self._rebuild(
            shapes=shapes, lrm=lrm, array_error=array_error or NetShapeError, decoders=decoders
        )

    # ------------------------------------------------------------------ ports

    @property
    def input_ports(self) -> tuple[Port, ...]:
        return tuple(Port(n, dtype) for n, dtype in self._inputs.items())

    @property
    def output_ports(self) -> tuple[Port, ...]:
        return tuple(Port(n) for n in self._outputs)

    def _port_names(self) -> list[str]:
        return list(self._inputs) + list(self._outputs)

    def _override_ports(self, shapes: dict) -> Layer:
        return self._rebuild(shapes=shapes)

    def _with_port_shapes(self, shapes: dict, array_error=NetShapeError) -> Layer:
        check_positive_dims(self, shapes)
        return self._rebuild(shapes=self._refined(shapes), array_error=array_error)

    # ------------------------------------------------------------------ paths

    def _child_keys(self) -> tuple:
        return tuple(self._given)

    def _child_key(self, head: Any) -> Any:
        keys = list(self._given)
        if isinstance(head, (int, np.integer)) and not isinstance(head, bool):
            if head in self._given:
                return head
            if -len(keys) <= head < len(keys):
                return keys[head]
            raise NetGraphError(
                f"{type(self).__name__} has {len(keys)} layers; position {head} is out of range."
            )
        if isinstance(head, str) and head in self._given:
            return head
        return None

    def _child(self, key: Any) -> Layer:
        layer = self._layers[key]
        names = _shared_names(layer)
        if not names:
            return layer
        return _attach_shared(layer, {n: self._shared.get(n) for n in names})

    def _given_child(self, key: Any) -> Layer:
        """The child as given (its own constraints only), shared values attached: the view
        that edits such as NetReplacePart start from."""
        layer = self._given[key]
        names = _shared_names(layer)
        if not names:
            return layer
        return _attach_shared(layer, {n: self._shared.get(n) for n in names})

    def _with_child(self, key: Any, value: Any) -> Layer:
        layer = as_layer(value, f"{type(self).__name__} layer {key!r}: ")
        shared = dict(self._shared)
        for n, v in _collect_shared(layer).items():
            if v is not None:
                shared[n] = v
        given = {**self._given, key: layer}
        conns, outputs = _without_automatic_ports(self._conns, self._outputs, key, layer)
        return self._rebuild(
            given=given, shared=shared, array_error=NetArrayError, conns=conns, outputs=outputs
        )

    def _with_shared(self, name: str, value: Any) -> Layer:
        if name not in self._shared:
            raise NetArrayError(
                f"{type(self).__name__} has no shared array {name!r}."
                + did_you_mean(name, self._shared)
            )
        arr = as_array_value(value, type(self).__name__, name)
        try:
            return self._rebuild(shared={**self._shared, name: arr}, array_error=NetArrayError)
        except NetError as exc:  # name the shape its uses expect
            if not isinstance(arr, np.ndarray):
                raise
            raise blame_shared(self, name, arr, exc) from None

    def _with_array_values(self, values: dict) -> Layer:
        by_key: dict = {}
        shared = dict(self._shared)
        for aid, v in values.items():
            if isinstance(aid, NetSharedArray):
                shared[aid.name] = v
            else:
                by_key.setdefault(aid[0], {})[aid[1:]] = v
        given = dict(self._given)
        for key, sub in by_key.items():
            given[key] = given[key]._with_array_values(sub)
        return self._rebuild(given=given, shared=shared, array_error=NetArrayError)

    def _leaves(self, path: tuple = ()):
        for key in self._order:
            yield from self._layers[key]._leaves(path + (key,))

    def _graph_edges(self) -> list:
        edges = []
        for (key, _), (src, port) in self._conns.items():
            edges.append((NetPort(port) if src is None else src, key))
        for name, (src, port) in self._outputs.items():
            edges.append((NetPort(port) if src is None else src, NetPort(name)))
        return edges

    # ------------------------------------------------------------------ compute

    def _emit(self, builder, path: tuple, in_slots: dict) -> dict:
        slots: dict = {}

        def slot_of(src):
            return in_slots[src[1]] if src[0] is None else slots[src]

        for key in self._order:
            layer = self._layers[key]
            ins = {p.name: slot_of(self._conns[(key, p.name)]) for p in layer.input_ports}
            for port, s in layer._emit(builder, path + (key,), ins).items():
                slots[(key, port)] = s
                builder.port_slots[(path + (key,), port)] = s  # NetPort(...) in evaluation
        return {name: slot_of(src) for name, src in self._outputs.items()}

    # ------------------------------------------------------------------ Python niceties

    def __len__(self) -> int:
        """The number of (top-level) layers."""
        return len(self._given)

    def __iter__(self):
        """The layers in order, as NetExtract gives them."""
        return (self._child(k) for k in self._given)

    @refuses_deep_nesting()
    def __getitem__(self, spec: Any) -> Any:
        """`net[i]` (0-based, negatives from the end), `net["name"]`, `net["bn", "Scaling"]`
        (a NetExtract path); on a NetChain `net[1:3]` is a chain (NetTake)."""
        if isinstance(spec, slice):
            if not isinstance(self, NetChain):
                raise NetGraphError(
                    "NetGraph layers have no order to slice; use NetTake(graph, spec)."
                )
            from .surgery import NetTake

            return NetTake(self, spec)
        from .parts import NetExtract

        return NetExtract(self, spec)

    # ------------------------------------------------------------------ values

    def __eq__(self, other: object) -> bool:
        if type(self) is not type(other):
            return NotImplemented
        return (
            self._conns == other._conns
            and self._outputs == other._outputs
            and list(self._layers) == list(other._layers)
            and all(self._layers[k] == other._layers[k] for k in self._layers)
            and self._shapes == other._shapes
            and self._lrm == other._lrm
            and self._decoders == other._decoders
            and _same_shared(self._shared, other._shared)
        )

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(map(repr, self._layers))))

    def __repr__(self) -> str:
        ports = ", ".join(
            f"{p}={S.fmt(s)}" for p, s in {**self.input_shapes, **self.output_shapes}.items()
        )
        state = "" if self.is_initialized() else " <uninitialized>"
        return f"{type(self).__name__}(<{len(self._layers)} layers>, {ports}){state}"


class NetChain(NetGraph):
    """Layers in sequence: each layer's output feeds the next layer's first input.

    Entries may be layers, activation names ("Ramp"), ints (LinearLayer(n)) or nested lists.

    >>> import numpy as np, netgraph as ng
    >>> bn = ng.BatchNormalizationLayer()
    >>> chain = ng.NetInitialize(ng.NetChain([bn, bn], Input=(2, 3)))
    >>> chain(np.ones((2, 3))).shape, ng.Information(chain, "LayersCount")
    ((2, 3), 2)
    """

    __slots__ = ()

    @refuses_deep_nesting()
    def __init__(self, layers: Any, **kwargs: Any):
        given = _layer_dict(layers, "NetChain")
        keys = list(given)
        edges = [(keys[i], keys[i + 1]) for i in range(len(keys) - 1)]
        self._check_layers(given)
        super().__init__(given, edges, **kwargs)

    @classmethod
    def _check_layers(cls, given: dict) -> None:
        for k in list(given)[:-1]:
            if len(given[k].output_ports) != 1:
                raise NetGraphError(
                    f"NetChain: layer {k!r} ({type(given[k]).__name__}) has "
                    f"{len(given[k].output_ports)} outputs; only the last layer of a chain may "
                    "have several. Use a NetGraph."
                )


def _graph_decoders(kwargs: dict) -> tuple[dict, dict]:
    """NetDecoders among a container's port options: (the options with each replaced by the
    shape it fixes, {port: decoder}); which ports are outputs is checked once they are known."""
    decoders = {}
    rest = {}
    for key, value in kwargs.items():
        if isinstance(value, NetDecoder):
            port = {"input": "Input", "output": "Output"}.get(key, key)
            decoders[port] = value
            rest[port] = value.port_shape
        else:
            rest[key] = value
    return rest, decoders


def _layer_dict(layers: Any, owner: str) -> dict:
    if isinstance(layers, Layer):
        layers = [layers]
    if isinstance(layers, dict):
        items = list(layers.items())
        positional = [k for k, _ in items] == list(range(len(items)))  # a list-built container
        for k, _ in items:
            if not isinstance(k, str) and not positional:
                raise NetGraphError(f"{owner}: layer names must be strings, got {k!r}.")
    elif isinstance(layers, (list, tuple)):
        items = list(enumerate(layers))
    else:
        raise NetGraphError(f"{owner}: expected a list or a dict of layers, got {layers!r}.")
    if not items:
        raise NetGraphError(f"{owner} objects must contain at least one layer.")
    return {k: as_layer(v, f"{owner} layer {k!r}: ") for k, v in items}
