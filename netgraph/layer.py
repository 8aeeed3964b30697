"""The layer contract: options, declared ports and arrays, a shape rule, forward and backward.

A layer is an immutable value. Its options live in a frozen, strict pydantic model (Wolfram's
CamelCase names and snake_case aliases); its arrays in a separate mapping of read-only ndarrays;
its port and array shapes come from `infer`, a monotone rule run to a fixed point. Compute never
stores anything on the layer: `forward` returns the outputs, a cache for `backward`, and state
updates (BatchNormalization's moving statistics) that the training loop applies.

The options model and the split of a constructor's arguments live in `_layer_options`, the
value protocol (equality, hashing, copies, pickles, repr) in `_layer_value`; this module builds
and re-infers values and states the contract.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from pydantic.alias_generators import to_pascal

from . import shapes as S
from ._array_blame import blame_array
from ._decoder_ports import check_decoders, decoder_note
from ._layer_options import (
    ArraySpec,
    Context,
    LayerArguments,
    LayerOptions,
    Port,
    _check_lrm,
    _option_error,
    as_array_value,
    freeze,
)
from ._layer_value import LayerValue, _same_arrays, _shown, _slots
from .errors import NetArrayError, NetError, NetShapeError, refuses_deep_nesting
from .values import NetSharedArray

__all__ = [  # every name this module held before _layer_options/_layer_value were split off
    "LAYER_TYPES",
    "ArraySpec",
    "Context",
    "Layer",
    "LayerOptions",
    "Port",
    "_check_lrm",
    "_option_error",
    "_same_arrays",
    "_shown",
    "_slots",
    "as_array_value",
    "check_positive_dims",
    "freeze",
]

LAYER_TYPES: dict[str, type[Layer]] = {}  # the closed registry Import resolves names with


class Layer(LayerArguments, LayerValue):
    """Base of every layer and container. Subclasses declare their options, ports and arrays.

    Subclass contract:
    - `Options`: a LayerOptions model; `positional`: the option names positional args fill;
    - `input_ports`, `output_ports`: tuples of Port; `array_specs`: tuple of ArraySpec;
    - `infer(store)`: refine port and array shapes in a ShapeStore (both directions);
    - `forward(arrays, inputs, ctx) -> (outputs, cache, state_updates or None)`;
    - `backward(arrays, cache, d_outputs, ctx) -> (d_inputs, d_arrays)`;
    - optionally `check_arrays()` for value rules (e.g. MovingVariance > -Epsilon).
    Ports and arrays are batched (axis 0 is the batch) in forward and backward.

    A net is a value: `copy.copy` and `copy.deepcopy` give the net itself, and a pickle gives
    an equal net (arrays bit-exact, shared arrays still shared), e.g. for a worker process.

    >>> import copy, pickle, numpy as np, netgraph as ng
    >>> bn = ng.NetInitialize(ng.BatchNormalizationLayer(Input=3))
    >>> copy.deepcopy(bn) is bn, pickle.loads(pickle.dumps(bn)) == bn
    (True, True)
    """

    Options: ClassVar[type[LayerOptions]] = LayerOptions
    positional: ClassVar[tuple[str, ...]] = ()
    input_ports: ClassVar[tuple[Port, ...]] = (Port("Input"),)
    output_ports: ClassVar[tuple[Port, ...]] = (Port("Output"),)
    array_specs: ClassVar[tuple[ArraySpec, ...]] = ()
    variadic_inputs: ClassVar[bool] = False  # ports Input1..InputN, N set by the graph

    __slots__ = (
        "_options",
        "_arrays",
        "_shapes",
        "_lrm",
        "_cache",
        "_shared",
        "_port_given",
        "_decoders",  # {output port: NetDecoder} given to this value (netgraph.decoders)
    )

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if not cls.__name__.startswith("_"):
            LAYER_TYPES[cls.__name__] = cls

    # ----------------------------------------------------------------- construction

    @refuses_deep_nesting()
    def __init__(self, *args: Any, **kwargs: Any):
        kwargs, decoders = self._take_decoders(kwargs)
        options, arrays, shapes, lrm = self._split_arguments(args, kwargs)
        options = self._validate_options(options)
        try:
            built = type(self)._make(options, arrays, shapes, lrm, decoders=decoders)
        except NetError as exc:  # a given array whose shape the rest contradicts: name it
            parts = (options, arrays, shapes, lrm, NetArrayError, None, None, decoders)
            raise blame_array(type(self), exc, parts, list(arrays)) from None
        for slot in Layer.__slots__:
            object.__setattr__(self, slot, getattr(built, slot))

    @classmethod
    def _make(
        cls,
        options,
        arrays,
        shapes,
        lrm,
        array_error=NetArrayError,
        owner=None,
        shared=None,
        decoders=None,
    ):
        """Build a value from its parts: run inference to a fixed point, then check arrays.

        `shared` holds the values of this layer's NetSharedArrays when it stands alone; inside a
        container the outermost container holds them instead.
        """
        self = object.__new__(cls)
        object.__setattr__(self, "_options", options)
        object.__setattr__(self, "_arrays", dict(arrays))
        object.__setattr__(self, "_lrm", lrm)
        object.__setattr__(self, "_cache", {})
        if shared is None:
            shared = {v.name: None for v in arrays.values() if isinstance(v, NetSharedArray)}
        object.__setattr__(self, "_shared", dict(shared))
        # the port constraints this value was given; rebuilds start from these, never from
        # shapes inferred from options or arrays that a NetReplacePart may be replacing.
        # (`shapes` may also hold a container's shape for a NetSharedArray: not kept.)
        ports = self._port_names()
        object.__setattr__(
            self, "_port_given", {k: v for k, v in shapes.items() if v is not None and k in ports}
        )
        object.__setattr__(self, "_shapes", {})
        object.__setattr__(self, "_decoders", dict(decoders or {}))
        try:
            object.__setattr__(self, "_shapes", self._infer_shapes(shapes, array_error, owner))
        except NetError as exc:
            if not decoder_note(self._decoders):
                raise
            raise type(exc)(str(exc) + decoder_note(self._decoders)) from None
        check_decoders(self, self._decoders, owner or cls.__name__)
        self.check_arrays()
        return self

    def _infer_shapes(self, shapes: dict, array_error, owner=None) -> dict:
        known = {n: shapes.get(n) for n in self._port_names()}
        for name, value in self._arrays.items():
            if isinstance(value, NetSharedArray):
                value = self._shared.get(value.name)
            # a shared array's value lives in the container, which passes its shape instead
            known[name] = value.shape if isinstance(value, np.ndarray) else shapes.get(name)
        store = S.ShapeStore(known, owner or type(self).__name__, self._arrays.keys(), array_error)
        for _ in range(20):
            store.changed = False
            self.infer(store)
            if not store.changed:
                break
        return store.shapes

    def _replace(
        self,
        *,
        options=None,
        arrays=None,
        shapes=None,
        lrm=None,
        shared=None,
        array_error=None,
        decoders=None,
    ):
        """A new value with some parts replaced (everything is re-inferred and re-checked)."""
        ports = dict(self._port_given)
        replaced = list(arrays or {})
        arrays = {**self._arrays, **(arrays or {})}
        names = {v.name for v in arrays.values() if isinstance(v, NetSharedArray)}
        merged = {**self._shared, **(shared or {})}
        parts = (
            self._options if options is None else options,
            arrays,
            {**ports, **(shapes or {})},
            self._lrm if lrm is None else lrm,
            array_error or NetArrayError,
            None,
            {n: merged.get(n) for n in names},
            self._decoders if decoders is None else decoders,
        )
        try:
            return type(self)._make(*parts)
        except NetError as exc:  # a replaced array that does not fit: name it, not a sibling
            raise blame_array(type(self), exc, parts, replaced) if replaced else exc from None

    def _with_port_shapes(self, shapes: dict, array_error=NetShapeError) -> Layer:
        """This net with some port shapes made more specific (from data or a container's
        inference); a shape that contradicts what the net knows is a NetShapeError."""
        check_positive_dims(self, shapes)
        return self._replace(shapes=self._refined(shapes), array_error=array_error)

    def _refined(self, shapes: dict) -> dict:
        out = {}
        for port, shape in shapes.items():
            try:
                out[port] = S.unify(self._shapes.get(port), shape)
            except S.ShapeConflict as exc:
                lead = (
                    f'{type(self).__name__}: port "{port}" has shape '
                    f"{S.fmt(self._shapes.get(port))}, but got {S.fmt(shape)} ({exc})"
                )
                try:  # when arrays fixed the port's shape, their conflict names the cause
                    self._override_ports({port: shape})
                except NetError as because:  # after the port and data: they are the news
                    raise NetShapeError(f"{lead}: {str(because).rstrip('.')}.") from None
                raise NetShapeError(lead + ".") from None
        return out

    def _override_ports(self, shapes: dict) -> Layer:
        """This net rebuilt with `shapes` replacing its given port shapes."""
        return self._replace(shapes=shapes, array_error=NetShapeError)

    def _with_input_count(self, n: int) -> Layer:
        """For variadic layers (Catenate, Total, Threading): the layer with N input ports."""
        raise NetError(f"{type(self).__name__} does not take a list of inputs.")

    def _copy_with(self, **slots: Any) -> Layer:
        """A shallow copy with some slots replaced and a fresh cache (no re-inference)."""
        new = object.__new__(type(self))
        for cls in type(self).__mro__:
            for slot in getattr(cls, "__slots__", ()):
                if hasattr(self, slot):
                    object.__setattr__(new, slot, slots.get(slot, getattr(self, slot)))
        object.__setattr__(new, "_cache", {})
        return new

    # Path hooks. A leaf has no children; containers override these.
    def _child_keys(self) -> tuple:
        return ()

    def _child_key(self, head: Any) -> Any:
        """The canonical key of a child named or positioned by `head`, else None."""
        return None

    def _child(self, key: Any) -> Layer:
        raise KeyError(key)

    def _given_child(self, key: Any) -> Layer:
        raise KeyError(key)

    def _with_child(self, key: Any, layer: Any) -> Layer:
        raise KeyError(key)

    def _with_shared(self, name: str, value: Any) -> Layer:
        """A new net whose shared array `name` holds `value`."""
        if name not in self._shared:
            raise NetArrayError(f"{type(self).__name__} has no shared array {name!r}.")
        arr = as_array_value(value, type(self).__name__, name)
        return self._replace(shared={name: arr})

    def _with_array_values(self, values: dict) -> Layer:
        """A new net with arrays replaced by id (path tuple or NetSharedArray)."""
        arrays = {aid[-1]: v for aid, v in values.items() if isinstance(aid, tuple)}
        shared = {aid.name: v for aid, v in values.items() if isinstance(aid, NetSharedArray)}
        return self._replace(arrays=arrays, shared=shared)

    def _leaves(self, path: tuple = ()):
        """(path, leaf layer) pairs in plan order; a leaf is its own only leaf."""
        yield path, self

    def _array_values(self) -> dict:
        """Every array of the net by id (path tuple or NetSharedArray): ndarray or None."""
        out = {}
        for path, leaf in self._leaves():
            for spec in leaf.array_specs:
                value = leaf._arrays.get(spec.name)
                if isinstance(value, NetSharedArray):
                    out[value] = self._shared.get(value.name)
                else:
                    out[path + (spec.name,)] = value
        return out

    # ------------------------------------------------------------------ the contract

    def infer(self, store: S.ShapeStore) -> None:
        """Default: Output has the shape of Input (elementwise layers)."""
        store.same("Input", "Output")

    def check_arrays(self) -> None:
        """Value rules for arrays; raise NetArrayError. Default: none."""

    def forward(self, arrays: dict, inputs: dict, ctx: Context):
        raise NotImplementedError

    def backward(self, arrays: dict, cache: Any, d_outputs: dict, ctx: Context):
        raise NotImplementedError

    # ------------------------------------------------------------------ inspection

    @property
    def options(self) -> dict[str, Any]:
        """Construction options in Wolfram spelling (positional ones included)."""
        out = {}
        for name, f in type(self).Options.model_fields.items():
            out[f.alias or to_pascal(name)] = getattr(self._options, name)
        return out

    def port_shape(self, port: str) -> Any:
        return self._shapes.get(port)

    @property
    def input_shapes(self) -> dict[str, Any]:
        return {p.name: self._shapes.get(p.name) for p in self.input_ports}

    @property
    def output_shapes(self) -> dict[str, Any]:
        return {p.name: self._shapes.get(p.name) for p in self.output_ports}

    def array_shape(self, name: str) -> Any:
        return self._shapes.get(name)

    def is_initialized(self) -> bool:
        return all(v is not None for v in self._array_values().values())

    @refuses_deep_nesting()
    def __call__(self, data: Any, *props: Any, **options: Any):
        from .evaluation import evaluate

        return evaluate(self, data, props, options)

    @refuses_deep_nesting()
    def __getitem__(self, spec: Any) -> Any:
        """`layer["Weights"]` is `NetExtract(layer, "Weights")` (containers index their layers).

        >>> import netgraph as ng
        >>> ng.BatchNormalizationLayer(Input=2)["Epsilon"]
        0.001
        """
        from .parts import NetExtract

        return NetExtract(self, spec)

    # --------------------------------------------------- executor hook (containers override)

    def _emit(self, builder, path: tuple, in_slots: dict) -> dict:
        """Add this layer's compute to a plan being built; return its output slots."""
        return builder.add_step(self, path, in_slots)


def check_positive_dims(net: Layer, shapes: dict) -> None:
    """Port shapes taken from data have dims >= 1 (examples of shape (0,) fix nothing)."""
    for port, shape in shapes.items():
        if shape is not None and any(d == 0 for d in shape if d is not Ellipsis):
            raise NetShapeError(
                f'{type(net).__name__}: port "{port}" cannot take examples of shape '
                f"{S.fmt(shape)}: every dimension must be at least 1."
            )
