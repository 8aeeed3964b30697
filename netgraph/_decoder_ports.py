"""Decoders on nets: which output ports decode (`port_decoders`), decoders given as port
options (`split_port_options`, `check_decoders`), and decoding an evaluation's outputs
(`parse_decoder_request`, `decode_outputs`). The decoder itself is in `decoders.py`."""

from __future__ import annotations

from typing import Any

from . import shapes as S
from .decoders import BOOLEAN_PROPERTIES, CLASS_PROPERTIES, NetDecoder
from .errors import NetOptionError


def port_decoders(net: Any) -> dict:
    """{output port: NetDecoder} of a net: its own decoders, and those of the inner layers
    whose outputs are the net's outputs (a decoder on a chain's last layer decodes the chain).
    Cached on the (immutable) net value; the caller must not change the dict."""
    cache = getattr(net, "_cache", None)
    found = cache.get("decoders") if cache is not None else None
    if found is None:
        found = _port_decoders(net)
        if cache is not None:
            cache["decoders"] = found
    return found


def _port_decoders(net: Any) -> dict:
    own = dict(getattr(net, "_decoders", None) or {})
    outputs = getattr(net, "_outputs", None)
    if outputs:
        for port, (key, inner) in outputs.items():
            if port not in own and key is not None:
                found = port_decoders(net._layers[key]).get(inner)
                if found is not None:
                    own[port] = found
    return own


def split_port_options(values: dict, owner: str, outputs: Any) -> tuple[dict, dict]:
    """Port options as given -> (shape specs, decoders). A decoder becomes its shape."""
    specs, decoders = {}, {}
    for port, value in values.items():
        if isinstance(value, NetDecoder):
            if outputs is not None and port not in outputs:
                raise NetOptionError(
                    f'{owner}: port "{port}" is not an output port; a NetDecoder can only be '
                    f"attached to an output port ({', '.join(map(repr, outputs))})."
                )
            decoders[port] = value
            value = value.port_shape
        specs[port] = value
    return specs, decoders


def check_decoders(net: Any, decoders: dict, owner: str) -> None:
    """Each decoder fits its port's inferred shape."""
    for port, dec in decoders.items():
        dec.check_port(net.port_shape(port), f'{owner} port "{port}"')


def decoder_note(decoders: dict) -> str:
    """A sentence to add to a shape error: which decoder fixed which port."""
    notes = [
        f'port "{p}" has {d!r}, which fixes its shape to {S.fmt(d.port_shape)}'
        for p, d in decoders.items()
        if d.port_shape is not None
    ]
    return (" (" + "; ".join(notes) + ")") if notes else ""


def parse_decoder_request(net: Any, props: tuple) -> tuple[dict | None, tuple]:
    """({port: (decoder, property)} or None, the properties left for other requests).

    No property: decode every port that has a decoder ("Decision"). `None`: no decoding (the
    raw arrays). A name or (name, argument): that property, checked before any work is done.
    """
    decoders = port_decoders(net)
    if not props:
        return ({p: (d, "Decision") for p, d in decoders.items()} or None), ()
    prop = props[0]
    if len(props) == 1 and prop is None:
        return None, ()
    named = isinstance(prop, str) or (
        isinstance(prop, tuple) and len(prop) == 2 and isinstance(prop[0], str)
    )
    if len(props) != 1 or not named:
        return None, props
    outputs = [p.name for p in net.output_ports]
    if prop in outputs and all(prop not in _properties(d) for d in decoders.values()):
        raise NetOptionError(
            f"{type(net).__name__}: {prop!r} is an output port, not an evaluation property; "
            f"read it with net(x, NetPort({prop!r}))."
        )
    if not decoders:
        raise NetOptionError(
            f"{type(net).__name__}: unknown evaluation property {prop!r:.60}: properties such "
            'as "Probabilities" need a NetDecoder on an output port (Output=NetDecoder(...)), '
            "and this net has none. Use NetPort(...) for inner values or NetPortGradient(...) "
            "for gradients."
        )
    for dec in decoders.values():
        dec._property(prop)  # a misspelt property fails before the net runs
    return {p: (d, prop) for p, d in decoders.items()}, ()


def _properties(decoder: NetDecoder) -> tuple:
    return CLASS_PROPERTIES if decoder.kind == "Class" else BOOLEAN_PROPERTIES


def decode_outputs(decoding: dict, outputs: dict, single: bool) -> dict:
    """The net's outputs with the decoded ports replaced by their decoded values."""
    return {
        p: (decoding[p][0].decode(arr, decoding[p][1], single) if p in decoding else arr)
        for p, arr in outputs.items()
    }
