"""NetGraph and NetChain: layers wired by typed ports, shapes inferred both ways.

A graph keeps two views of its layers: the layers as given (shorthand resolved, shared-array
values held by the graph instead) and the same layers with every shape inferred in context. All
rebuilding (NetReplacePart, JIT shapes from data, new arrays) starts from the given view, so a
replaced layer is never checked against shapes inferred from what it replaced.

Connections are stored as `conns[(key, input port)] = source` and `outputs[graph port] = source`
where a source is `(key, output port)` or `(None, graph input port)`.
"""

from __future__ import annotations

import heapq
import itertools
from typing import Any

import numpy as np

from . import shapes as S
from .errors import NetArrayError, NetError, NetGraphError, NetShapeError, did_you_mean
from .layer import Layer, LayerOptions, Port, _check_lrm, as_array_value, check_positive_dims
from .values import Automatic, NetPort, NetSharedArray


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

    def __init__(self, layers: Any, edges: Any = (), **kwargs: Any):
        given = _layer_dict(layers, type(self).__name__)
        shapes, lrm = _graph_kwargs(kwargs, type(self).__name__)
        conns, outputs = self._parse_edges(given, edges)
        built = type(self)._build(given, conns, outputs, shapes, lrm, None)
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
    def _build(cls, given, conns, outputs, shapes, lrm, shared, array_error=NetShapeError):
        """A graph value from its parts: auto ports, cycle check, hoisting, inference."""
        self = object.__new__(cls)
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
        for slot, value in (
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
        layers, port_shapes = _infer_graph(self, dict(shapes), array_error, hints)
        object.__setattr__(self, "_layers", layers)
        object.__setattr__(self, "_shapes", port_shapes)
        _shared_shapes(self, layers, hints, strict=True)
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
    ):
        return type(self)._build(
            self._given if given is None else given,
            self._conns if conns is None else conns,
            self._outputs if outputs is None else outputs,
            {**self._port_given, **(shapes or {})},
            self._lrm if lrm is None else lrm,
            self._shared if shared is None else shared,
            array_error,
        )

    def _replace(self, *, shapes=None, lrm=None, array_error=None, **parts):
        """A container's own replaceable parts are its port shapes and its multiplier."""
        if any(v is not None for v in parts.values()):
            raise NetGraphError(f"{type(self).__name__} has no options or arrays of its own.")
        return self._rebuild(shapes=shapes, lrm=lrm, array_error=array_error or NetShapeError)

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
        return self._rebuild(shared={**self._shared, name: arr}, array_error=NetArrayError)

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

    def _effective_lrm(self, path: tuple) -> Any:
        """The LearningRateMultipliers number that applies to a leaf: the innermost one set."""
        layer, found = self, self._lrm
        for key in path:
            layer = layer._layers[key]
            if layer._lrm is not Automatic and not isinstance(layer._lrm, dict):
                found = layer._lrm
        return None if isinstance(found, dict) else found

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
        return {name: slot_of(src) for name, src in self._outputs.items()}

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


# ---------------------------------------------------------------------- construction helpers


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


def _graph_kwargs(kwargs: dict, owner: str) -> tuple[dict, Any]:
    shapes, lrm = {}, Automatic
    for key, value in kwargs.items():
        if key in ("LearningRateMultipliers", "learning_rate_multipliers"):
            lrm = _check_lrm(value, owner)
            continue
        name = {"input": "Input", "output": "Output"}.get(key, key)
        try:
            shapes[name] = S.parse(value, f'{owner} port "{name}"')
        except ValueError as exc:
            raise NetShapeError(str(exc) + ".") from None
    return shapes, lrm


def _vertex_key(layers: dict, v: Any, edge: tuple) -> Any:
    keys = list(layers)
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        if v in layers:
            return v
        if -len(keys) <= v < len(keys):
            return keys[v]
    elif isinstance(v, str) and v in layers:
        return v
    raise NetGraphError(
        f"The vertex {v!r}, specified in the edge {edge!r}, does not exist." + did_you_mean(v, keys)
    )


def _sources(layers: dict, u: Any, edge: tuple) -> list:
    """The sources a vertex provides: [(key, output port)] or [(None, graph input port)]."""
    if isinstance(u, list):
        return [s for item in u for s in _sources(layers, item, edge)]
    if isinstance(u, NetPort):
        if u.layer is None:
            return [(None, u.port)]
        key = _vertex_key(layers, u.layer, edge)
        names = [p.name for p in layers[key].output_ports]
        if u.port not in names:
            raise NetGraphError(
                f"{type(layers[key]).__name__} {key!r} has no output port {u.port!r} "
                f"(edge {edge!r})." + did_you_mean(u.port, names)
            )
        return [(key, u.port)]
    key = _vertex_key(layers, u, edge)
    outs = [p.name for p in layers[key].output_ports]
    if len(outs) != 1:
        raise NetGraphError(
            f"layer {key!r} has several outputs {outs}; use NetPort({key!r}, port) in {edge!r}."
        )
    return [(key, outs[0])]


def _connect(layers: dict, sources: list, v: Any, edge: tuple, conns: dict, outputs: dict):
    """Wire sources into vertex v (a layer, an inner port, or a graph output port)."""
    if isinstance(v, list):
        raise NetGraphError(f"a list of vertices can only be a source, in edge {edge!r}.")
    if isinstance(v, NetPort) and v.layer is None:
        if len(sources) != 1:
            raise NetGraphError(f"graph output port {v.port!r} takes one source ({edge!r}).")
        if v.port in outputs:
            raise NetGraphError(
                f"Multiple vertices have been connected to NetPort({v.port!r}): "
                f"{_source_str(outputs[v.port])} and {_source_str(sources[0])} (edge {edge!r})."
            )
        outputs[v.port] = sources[0]
        return
    if isinstance(v, NetPort):
        key, ports = _vertex_key(layers, v.layer, edge), [v.port]
        names = [p.name for p in layers[key].input_ports]
        numbered = layers[key].variadic_inputs and _input_number(v.port) is not None
        if v.port not in names and not numbered:
            hint = " (its ports are Input1, Input2, ...)" if layers[key].variadic_inputs else ""
            raise NetGraphError(
                f"{type(layers[key]).__name__} {key!r} has no input port {v.port!r}{hint} "
                f"(edge {edge!r})." + did_you_mean(v.port, names)
            )
    else:
        key = _vertex_key(layers, v, edge)
        layer = layers[key]
        if layer.variadic_inputs:  # the first free numbers, after any port fed by name
            taken = {p for (k, p) in conns if k == key}
            free = (f"Input{i}" for i in itertools.count(1) if f"Input{i}" not in taken)
            ports = [next(free) for _ in sources]
        else:
            free = [p.name for p in layer.input_ports if (key, p.name) not in conns]
            if not free and len(layer.input_ports) == 1:
                ports = [layer.input_ports[0].name]  # doubly fed: reported below
            elif len(sources) > len(free):
                raise NetGraphError(
                    f"{type(layer).__name__} {key!r} takes {len(free)} more input(s), "
                    f"got {len(sources)} in edge {edge!r}."
                )
            else:
                ports = free[: len(sources)]
    if len(ports) != len(sources):
        raise NetGraphError(f"edge {edge!r}: {len(sources)} sources for one port.")
    for port, src in zip(ports, sources):
        if (key, port) in conns:
            raise NetGraphError(
                f"Multiple vertices have been connected to port {port!r} of layer {key!r}: "
                f"{_source_str(conns[(key, port)])} and {_source_str(src)} (edge {edge!r}). "
                "Join them with a CatenateLayer or TotalLayer."
            )
        conns[(key, port)] = src


def _check_connected_ports(owner: str, layers: dict, conns: dict, outputs: dict) -> None:
    """Every connection names ports its layers have (a layer replaced by NetReplacePart may
    have other ports than the one it replaces)."""
    for (key, port), src in conns.items():
        names = [p.name for p in layers[key].input_ports]
        if port not in names:
            raise NetGraphError(
                f"{owner}: {type(layers[key]).__name__} {key!r} has no input port {port!r}, "
                f"which {_source_str(src)} is connected to." + did_you_mean(port, names)
            )
    ends = [(f"port {port!r} of layer {key!r}", src) for (key, port), src in conns.items()]
    ends += [(f"NetPort({name!r})", src) for name, src in outputs.items()]
    for target, (key, port) in ends:
        if key is None:
            continue
        names = [p.name for p in layers[key].output_ports]
        if port not in names:
            raise NetGraphError(
                f"{owner}: {type(layers[key]).__name__} {key!r} has no output port {port!r}, "
                f"which is connected to {target}." + did_you_mean(port, names)
            )


def _without_automatic_ports(conns: dict, outputs: dict, key: Any, layer: Layer) -> tuple:
    """The connections of a graph whose layer `key` becomes `layer`, less those that were only
    made automatically for ports the new layer lacks: an input fed by the graph input of its
    own name, an output exposed under its own name (numbered or not). They are made afresh for
    the new layer's ports; any other connection to a missing port is reported by the build."""
    ins = {p.name for p in layer.input_ports}
    outs = {p.name for p in layer.output_ports}
    conns = {
        (k, p): src
        for (k, p), src in conns.items()
        if not (k == key and p not in ins and src == (None, p))
    }
    outputs = {
        name: src
        for name, src in outputs.items()
        if not (src[0] == key and src[1] not in outs and _named_after(name, src[1]))
    }
    return conns, outputs


def _named_after(name: str, port: str) -> bool:
    """Is `name` the automatic graph-port name of `port` ("Output", "Output2")?"""
    return name.startswith(port) and (name == port or name[len(port) :].isdigit())


def _source_str(src: tuple) -> str:
    return f"NetPort({src[1]!r})" if src[0] is None else repr(src[0])


def _input_number(port: str) -> int | None:
    """k for a variadic layer's port "Inputk" (k >= 1), else None."""
    digits = port[len("Input") :] if port.startswith("Input") else ""
    return int(digits) if digits.isdigit() and not digits.startswith("0") else None


def _variadic(layer: Layer, key: Any, conns: dict) -> Layer:
    """A variadic layer with as many ports as its highest fed port number (ports below it
    that nothing feeds become graph inputs); a count given explicitly (InputPorts=) is a
    minimum."""
    if not layer.variadic_inputs:
        return layer
    n = max((_input_number(p) or 0 for (k, p) in conns if k == key), default=0)
    if "input_ports" in layer._options.model_fields_set:
        n = max(n, len(layer.input_ports))
    return layer._with_input_count(n) if n and n != len(layer.input_ports) else layer


def _auto_ports(layers: dict, conns: dict, outputs: dict) -> dict:
    """Unconnected inputs become graph inputs (same name, one port); dangling outputs outputs."""
    inputs: dict = {}
    for (key, port), (src, name) in conns.items():
        if src is None:
            inputs.setdefault(name, _port_dtype(layers[key], port))
    for key, layer in layers.items():
        for p in layer.input_ports:
            if (key, p.name) not in conns:
                conns[(key, p.name)] = (None, p.name)
                inputs.setdefault(p.name, p.dtype)
    used = set(conns.values()) | set(outputs.values())
    dangling = [
        (k, p.name)
        for k, layer in layers.items()
        for p in layer.output_ports
        if (k, p.name) not in used
    ]
    names = [p for _, p in dangling]
    for key, port in dangling:
        name = port
        if names.count(port) > 1 or port in outputs:
            i = 1
            while f"{port}{i}" in outputs:
                i += 1
            name = f"{port}{i}"
        outputs[name] = (key, port)
    return inputs


def _port_dtype(layer: Layer, port: str) -> str:
    return next((p.dtype for p in layer.input_ports if p.name == port), "Real")


def _topological_order(layers: dict, conns: dict, owner: str) -> list:
    """Layer keys so that every layer comes after its sources; among the layers that are
    ready, the one given first goes first (Kahn's algorithm), so the order is deterministic."""
    position = {k: i for i, k in enumerate(layers)}
    sources: dict = {k: set() for k in layers}
    for (key, _), (src, _) in conns.items():
        if src is not None:
            sources[key].add(src)
    readers: dict = {k: [] for k in layers}
    for key, srcs in sources.items():
        for src in srcs:
            readers[src].append(key)
    waiting = {k: len(srcs) for k, srcs in sources.items()}
    ready = [position[k] for k, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    keys, order = list(layers), []
    while ready:
        key = keys[heapq.heappop(ready)]
        order.append(key)
        for reader in readers[key]:
            waiting[reader] -= 1
            if waiting[reader] == 0:
                heapq.heappush(ready, position[reader])
    if len(order) < len(layers):
        raise NetGraphError(
            f"{owner}: the connectivity of layers must be acyclic; found the cycle "
            f"{_cycle(sources, [k for k in layers if k not in order])}."
        )
    return order


def _cycle(sources: dict, stuck: list) -> str:
    """One cycle among the layers a topological order could not place, as 'a' -> 'b' -> 'a'."""
    import networkx as nx  # only on this error path: networkx is slow to import

    g = nx.DiGraph((src, key) for key in stuck for src in sources[key] if src in stuck)
    nodes = [a for a, _ in nx.find_cycle(g)]
    first = min(range(len(nodes)), key=lambda i: stuck.index(nodes[i]))  # from the first given
    nodes = nodes[first:] + nodes[:first]
    return " -> ".join(map(repr, nodes + nodes[:1]))


# ---------------------------------------------------------------------- shared arrays


def _shared_names(layer: Layer) -> set:
    names = {v.name for v in layer._arrays.values() if isinstance(v, NetSharedArray)}
    if isinstance(layer, NetGraph):
        for sub in layer._layers.values():
            names |= _shared_names(sub)
    return names


def _collect_shared(layer: Layer) -> dict:
    """Shared-array values a layer carries (a lone layer, or a graph that was extracted)."""
    return dict(layer._shared)


def _hoist_shared(given: dict, shared: dict | None) -> dict:
    out = dict(shared or {})
    for key, layer in given.items():
        for name, value in _collect_shared(layer).items():
            old = out.get(name)
            if (
                old is not None
                and value is not None
                and not (old.shape == value.shape and np.array_equal(old, value))
            ):
                raise NetArrayError(
                    f"shared array {name!r} is given two different values (layer {key!r})."
                )
            out[name] = value if old is None else old
    names = set()
    for layer in given.values():
        names |= _shared_names(layer)
    return {n: out.get(n) for n in sorted(names)}


def _strip_shared(layer: Layer) -> Layer:
    return layer._copy_with(_shared={}) if layer._shared else layer


def _attach_shared(layer: Layer, shared: dict) -> Layer:
    return layer._copy_with(_shared=dict(shared))


def _same_shared(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    for k in a:
        x, y = a[k], b[k]
        if (x is None) != (y is None):
            return False
        if x is not None and (x.dtype != y.dtype or not np.array_equal(x, y)):
            return False
    return True


def _shared_shapes(net: NetGraph, layers: dict, hints: dict, strict: bool) -> dict:
    """The shape of each shared array: its value's, an enclosing container's and every use's,
    unified. Uses that disagree raise a NetArrayError naming both when `strict`; otherwise
    (while inference is still running) that array is left out."""
    seen: dict = {n: (v.shape, "its value") for n, v in net._shared.items() if v is not None}
    for name, shape in hints.items():
        seen.setdefault(name, (shape, "the enclosing net"))
    conflicts = set()
    for key, layer in layers.items():
        for path, leaf, array, name in _shared_uses(layer, (key,)):
            shape, (other, other_where) = leaf.array_shape(array), seen.get(name, (None, None))
            where = f"{type(leaf).__name__} {'/'.join(map(str, path))}"
            try:
                seen[name] = (S.unify(shape, other), where)
            except S.ShapeConflict:
                if strict:
                    raise NetArrayError(
                        f"shared array {name!r}: {where} needs shape {S.fmt(shape)} but "
                        f"{other_where} has {S.fmt(other)}."
                    ) from None
                conflicts.add(name)
    return {n: shape for n, (shape, _) in seen.items() if n not in conflicts}


def _shared_uses(layer: Layer, path: tuple = ()):
    """(leaf path, leaf, array name, shared name) for every NetSharedArray a net uses."""
    for leaf_path, leaf in layer._leaves(path):
        for array, value in leaf._arrays.items():
            if isinstance(value, NetSharedArray):
                yield leaf_path, leaf, array, value.name


def _shared_hints(layer: Layer, known: dict) -> dict:
    """The known shapes of a given layer's shared arrays, as `_with_port_shapes` takes them:
    by array name for a leaf, by NetSharedArray for a container (which passes them on)."""
    if isinstance(layer, NetGraph):
        names = _shared_names(layer)
        return {NetSharedArray(n): known[n] for n in names if known.get(n) is not None}
    return {
        array: known[value.name]
        for array, value in layer._arrays.items()
        if isinstance(value, NetSharedArray) and known.get(value.name) is not None
    }


def _knows_less(layer: Layer, known: dict) -> bool:
    """Does some use of a shared array in `layer` know less of its shape than `known`?"""
    for _, leaf, array, name in _shared_uses(layer):
        have = leaf.array_shape(array)
        try:
            if known.get(name) is not None and S.unify(have, known[name]) != have:
                return True
        except S.ShapeConflict:  # reported once inference is done
            pass
    return False


# ---------------------------------------------------------------------- inference


def _infer_graph(net: NetGraph, graph_shapes: dict, array_error, hints: dict) -> tuple:
    """Shapes of every port to a fixed point: every edge, then each layer's rule after the
    edges that touch it, in sweeps alternately along the topological order (shapes flow down a
    whole chain in one sweep) and against it (up a whole chain), until nothing changes.
    The uses of a shared array are one array: what one use knows of its shape, all know."""
    given = net._given
    shapes: dict = {(None, p): graph_shapes.get(p) for p in net._inputs}
    for p in net._outputs:
        shapes[(None, "out", p)] = graph_shapes.get(p)
    layers = dict(given)
    for key, layer in layers.items():
        for p in layer.input_ports + layer.output_ports:
            shapes[(key, p.name)] = layer.port_shape(p.name)
    owner = type(net).__name__
    pairs = _edge_pairs(net)
    touching: dict = {key: [] for key in net._order}
    for src, dst in pairs:
        for end in {src[0], dst[0]} - {None}:
            touching[end].append((src, dst))
    for sweep in range(max(50, 4 * len(layers))):  # a safety bound: unification is monotone
        changed = _unify_edges(pairs, shapes, owner)
        known = _shared_shapes(net, layers, hints, strict=False) if net._shared else {}
        for key in net._order if sweep % 2 == 0 else reversed(net._order):
            changed |= _unify_edges(touching[key], shapes, owner)
            layer = layers[key]
            ports = {p.name: shapes[(key, p.name)] for p in layer.input_ports + layer.output_ports}
            if any(layer.port_shape(p) != s for p, s in ports.items()) or (
                known and _knows_less(layer, known)
            ):
                given_shapes = {p: s for p, s in ports.items() if s is not None}
                array_hints = _shared_hints(given[key], known)
                try:
                    layer = layers[key] = given[key]._with_port_shapes(
                        {**given_shapes, **array_hints}, array_error
                    )
                except NetError as exc:
                    raise _in_context(exc, key, given[key], touching[key], shapes, known) from None
                changed = True
            for p in ports:
                if shapes[(key, p)] != layer.port_shape(p):
                    shapes[(key, p)] = layer.port_shape(p)
                    changed = True
        if not changed:
            break
    port_shapes = {p: shapes[(None, p)] for p in net._inputs}
    port_shapes.update({p: shapes[(None, "out", p)] for p in net._outputs})
    return layers, port_shapes


def _in_context(
    exc: NetError, key: Any, layer: Layer, pairs: list, shapes: dict, known: dict
) -> NetError:
    """A layer's error in a graph: prefixed with its key, and followed by what the graph told
    it: the other end of each edge that brought a shape it did not know on its own, and the
    shapes its shared arrays got from their values or other uses."""
    told = []
    for src, dst in pairs:
        mine, other = (src, dst) if src[0] == key else (dst, src)
        shape = shapes.get(mine)
        if shape is not None and shape != layer.port_shape(mine[1]):
            verb = "feeds" if mine is src else "is fed by"
            told.append(f'its "{mine[1]}" {S.fmt(shape)} {verb} {_end(other)}')
    for name in sorted({n for *_, n in _shared_uses(layer) if known.get(n)}):
        told.append(
            f"shared array {name!r} has shape {S.fmt(known[name])} from its value or another use"
        )
    message = f"in layer {key!r}: {exc}"
    if told:
        message = message.rstrip(".") + "; " + "; ".join(told) + "."
    return type(exc)(message)


def _edge_pairs(net: NetGraph) -> list:
    """Every edge as (source port key, destination port key) in the shapes table."""
    pairs = [((None, src[1]) if src[0] is None else src, dst) for dst, src in net._conns.items()]
    pairs += [
        ((None, src[1]) if src[0] is None else src, (None, "out", name))
        for name, src in net._outputs.items()
    ]
    return pairs


def _unify_edges(pairs: list, shapes: dict, owner: str) -> bool:
    changed = False
    for src, dst in pairs:
        a, b = shapes.get(src), shapes.get(dst)
        try:
            new = S.unify(a, b)
        except S.ShapeConflict as exc:
            flatten = S.rank(b) == 1 and S.min_rank(a) > 1  # e.g. a conv feeding a LinearLayer
            raise NetShapeError(
                f"{owner}: incompatible shapes for the output of {_end(src)} {S.fmt(a)} and the "
                f"input to {_end(dst)} {S.fmt(b)} ({exc})."
                + (" Hint: put a FlattenLayer between them." if flatten else "")
            ) from None
        for k in (src, dst):
            if shapes.get(k) != new:
                shapes[k] = new
                changed = True
    return changed


def _end(k: tuple) -> str:
    if k[0] is None:
        return f'NetPort("{k[-1]}")'
    return f'layer {k[0]!r} port "{k[1]}"'


def NetInsertSharedArrays(net: Layer, prefix: str = "") -> Layer:  # noqa: N802
    """A new net whose learned arrays are all NetSharedArrays named from their positions.

    BatchNormalizationLayer's MovingMean and MovingVariance are state, never shared: they stay
    per layer, so two uses of one shared BN layer train one Scaling/Biases and keep separate
    moving statistics.

    >>> import netgraph as ng
    >>> bn = ng.NetInsertSharedArrays(ng.BatchNormalizationLayer(Input=3), "bn/")
    >>> ng.NetExtract(bn, "Scaling"), ng.NetExtract(bn, "MovingMean")
    (Automatic, Automatic)
    >>> ng.Information(ng.NetChain([bn, bn]), "SharedArraysCount")
    2
    """
    if not isinstance(prefix, str):
        raise NetError(f"NetInsertSharedArrays: the prefix must be a string, got {prefix!r}.")
    return _insert_shared(net, (), prefix, dict(net._shared))


def _insert_shared(layer: Layer, path: tuple, prefix: str, values: dict) -> Layer:
    if isinstance(layer, NetGraph):
        values = {**values, **layer._shared}
        given = {k: _insert_shared(v, path + (k,), prefix, values) for k, v in layer._given.items()}
        return layer._rebuild(given=given, shared=dict(layer._shared))
    arrays, shared = {}, {}
    for spec in layer.array_specs:
        value = layer._arrays.get(spec.name)
        if isinstance(value, NetSharedArray):
            shared[value.name] = values.get(value.name, layer._shared.get(value.name))
        elif spec.shareable:
            name = prefix + "/".join(map(str, path + (spec.name,)))
            arrays[spec.name] = NetSharedArray(name)
            shared[name] = value
    return layer._replace(arrays=arrays, shared=shared)
