"""Export and Import: a net in one file, bit-exact, and safe to load from untrusted hands.

Any extension but ``.onnx`` writes netgraph's own format (docs use ``.safetensors``): one file in
the safetensors layout, every array (moving statistics included) a named tensor, and in the
metadata a JSON manifest (entry ``"netgraph.manifest"``, see `netgraph.manifest`) plus a SHA-256
checksum of everything. Any safetensors reader opens the arrays; nothing is ever unpickled,
imported or executed. Writes are atomic: a failed Export leaves the previous file intact.
``.onnx`` writes the Test-mode graph in ONNX (`netgraph.onnx_export`).

>>> import numpy as np, netgraph as ng
>>> net = ng.NetInitialize(ng.NetChain([ng.BatchNormalizationLayer(Epsilon=0.01)], Input=3))
>>> ng.Export("net.safetensors", net)
'net.safetensors'
>>> same = ng.Import("net.safetensors")
>>> same == net, same(np.ones(3)).tolist() == net(np.ones(3)).tolist()
(True, True)

Training checkpoints are the same file with more in it. A writer that adds its own tensors
declares them with `manifest_metadata` (``other_tensors``); `save_checkpoint` does this for extra
tensors and JSON metadata, `load_checkpoint` returns all three, and `Import` of a checkpoint
returns its net. Without a declaration, a tensor that is not the net's is an error.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from ._limits import json_items_problem, nesting_depth
from ._manifest_check import MAX_DEPTH, check_format, tensor_table
from ._safefile import _DTYPES, CHECKSUM_KEY, file_path, read_tensors, write_tensors
from .errors import NetError, NetLoadError, NetSaveError
from .layer import Layer
from .manifest import FORMAT, FORMAT_VERSION, net_from_manifest, net_to_manifest

MANIFEST_KEY = "netgraph.manifest"
CHECKPOINT_KEY = "netgraph.checkpoint"
MAX_JSON_DEPTH = 8 * MAX_DEPTH  # the manifest and checkpoint metadata, as JSON
_EXTRA_DTYPES = {dt.newbyteorder("=").name: dt.newbyteorder("=") for dt in _DTYPES.values()}


def _is_onnx(path: str) -> bool:
    return os.path.splitext(path)[1].lower() == ".onnx"


def Export(path: str | os.PathLike, net: Layer) -> str:  # noqa: N802 (Wolfram's name)
    """Write `net` to `path` and return `path`; ``.onnx`` gives ONNX, anything else our format.

    Works for any net: initialized or not, nested containers, shared arrays, float32 or float64
    arrays. Raises `NetSaveError` when the net cannot be saved (a layer built from a Python
    callable) or the file cannot be written; any previous file at `path` is then intact.

    >>> import netgraph as ng
    >>> ng.Export("bn.safetensors", ng.BatchNormalizationLayer(Input=(3, 8, 8)))
    'bn.safetensors'
    >>> ng.Import("bn.safetensors")
    BatchNormalizationLayer(Input=(3, 8, 8)) <uninitialized>
    """
    name = file_path(path, NetSaveError)
    if not isinstance(net, Layer):
        raise NetSaveError(f"Export: expected a net to save, got {type(net).__name__}.")
    if _is_onnx(name):
        from .onnx_export import export_onnx

        export_onnx(name, net)
        return path
    manifest, tensors = net_to_manifest(net)
    write_tensors(name, tensors, {MANIFEST_KEY: _dumps(manifest, "the manifest")})
    return path


def Import(path: str | os.PathLike) -> Layer:  # noqa: N802 (Wolfram's name)
    """The net saved at `path` by `Export` (or the net of a training checkpoint).

    A missing file raises `FileNotFoundError`; anything else wrong (damaged, truncated, not
    ours, newer format_version, unknown layer type, invalid options or arrays) raises
    `NetLoadError` naming the check that failed, and no net is returned. The file is validated
    before anything is built: see `netgraph.manifest.net_from_manifest`.
    """
    name = file_path(path, NetLoadError)
    if _is_onnx(name):
        raise NetLoadError(
            f"Import: {name!r} is an ONNX file; netgraph writes ONNX for deployment but does not "
            "read it. Import the .safetensors file the net was exported to."
        )
    net, _, _ = load_checkpoint(name)
    return net


def _dumps(value: Any, what: str) -> str:
    """Compact JSON that `_loads` reads back: NetSaveError for what it would refuse."""
    depth = nesting_depth(value, MAX_JSON_DEPTH + 1)
    if depth > MAX_JSON_DEPTH:
        raise NetSaveError(
            f"{what} is nested more than {MAX_JSON_DEPTH} levels deep; Import reads at most "
            f"{MAX_JSON_DEPTH}, so nothing was written."
        )
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise NetSaveError(f"{what} is not JSON with finite numbers ({exc}).") from None
    problem = json_items_problem(text)
    if problem:
        raise NetSaveError(f"{what} is {problem}; Import would refuse it, so nothing was written.")
    return text


def _table(tensors: dict) -> dict:
    return {
        k: {"dtype": v.dtype.newbyteorder("=").name, "shape": list(v.shape)}
        for k, v in tensors.items()
    }


def manifest_metadata(
    manifest: dict, other_tensors: dict[str, np.ndarray] | None = None
) -> dict[str, str]:
    """The metadata entries that make a safetensors file written by others `Import`-able.

    `manifest` comes from `net_to_manifest`; write its tensors and these entries with
    `netgraph._safefile.write_tensors`. `other_tensors` are the file's tensors that are not the
    net's: given as a dict, they are checked on load (present, same dtype and shape) and handed
    back by `load_checkpoint`; ``None`` allows any other tensors (a NetTrain checkpoint).
    """
    manifest = dict(manifest)
    manifest["other_tensors"] = "any" if other_tensors is None else _table(other_tensors)
    return {MANIFEST_KEY: _dumps(manifest, "the manifest")}


def save_checkpoint(
    path: str | os.PathLike,
    net: Layer,
    extra_tensors: dict[str, np.ndarray] | None = None,
    extra_metadata: Any = None,
) -> None:
    """Atomically write `net` plus extra named arrays and JSON metadata (a training checkpoint).

    `extra_tensors` (float16/32/64, int32/64, uint8 or bool arrays) must not reuse the net's
    tensor names; `extra_metadata` must be JSON-serialisable with finite numbers (tuples come
    back as lists). NetSaveError on failure; a previous file is kept.

    >>> import numpy as np, netgraph as ng
    >>> net = ng.BatchNormalizationLayer(Input=2)
    >>> save_checkpoint("ck.safetensors", net, {"step": np.array([7])}, {"round": 3})
    >>> loaded, tensors, meta = load_checkpoint("ck.safetensors")
    >>> loaded == net, tensors["step"].tolist(), meta
    (True, [7], {'round': 3})
    """
    name = file_path(path, NetSaveError)
    manifest, tensors = net_to_manifest(net)
    extra = dict(extra_tensors or {})
    for key, value in extra.items():
        if not isinstance(key, str) or not isinstance(value, np.ndarray) or key in tensors:
            raise NetSaveError(
                f"could not save {name!r}: extra tensor {key!r} should be a numpy array under a "
                "str name that is not one of the net's tensor names."
            )
    metadata = manifest_metadata(manifest, extra)
    if extra_metadata is not None:
        metadata[CHECKPOINT_KEY] = _dumps(extra_metadata, f"could not save {name!r}: the metadata")
    write_tensors(name, {**tensors, **extra}, metadata)


def load_checkpoint(path: str | os.PathLike) -> tuple[Layer, dict[str, np.ndarray], Any]:
    """``(net, other_tensors, extra_metadata)`` from a file `save_checkpoint` (or Export) wrote.

    For a plain net file the extras are ``{}`` and ``None``. Errors as `Import`.
    """
    name = file_path(path, NetLoadError)
    tensors, metadata = read_tensors(name)
    try:
        manifest = _parse_manifest(metadata)
        net_tensors, other = _split_tensors(manifest, tensors)
        net = net_from_manifest(manifest, net_tensors)
        extra_metadata = None
        if CHECKPOINT_KEY in metadata:
            extra_metadata = _loads(metadata[CHECKPOINT_KEY], CHECKPOINT_KEY)
    except NetError as exc:
        raise NetLoadError(f"{exc} (file {name!r})") from exc
    return net, other, extra_metadata


def _split_tensors(manifest: dict, tensors: dict) -> tuple[dict, dict]:
    """The net's tensors and the others the manifest declares (checked as the net's are)."""
    declared = manifest.get("other_tensors")
    if declared is None:
        return tensors, {}
    ours = manifest.get("tensors")
    ours = ours if isinstance(ours, dict) else {}
    other = {k: v for k, v in tensors.items() if k not in ours}
    if declared == "any":
        return {k: v for k, v in tensors.items() if k in ours}, other
    table = tensor_table(declared, "other_tensors", _EXTRA_DTYPES)
    missing = [k for k in table if k not in other]
    unexpected = [k for k in other if k not in table]
    wrong = [k for k in table if k in other and (other[k].dtype, other[k].shape) != table[k]]
    if missing or unexpected or wrong:
        raise NetLoadError(
            "error(s) in loading the other tensors: "
            f"missing {missing}, unexpected {unexpected}, dtype or size mismatch {wrong}."
        )
    return {k: v for k, v in tensors.items() if k in ours}, other


def _no_duplicates(pairs: list) -> dict:
    out = {}
    for key, value in pairs:
        if key in out:
            raise NetLoadError(f'manifest: the key "{key}" appears twice in one object.')
        out[key] = value
    return out


def _no_constant(name: str):
    raise NetLoadError(f"manifest: {name} is not a finite number.")


def _loads(text: str, what: str) -> Any:
    """Strict JSON: duplicate keys, NaN/Infinity, absurd nesting and size are errors."""
    problem = json_items_problem(text)
    if problem:
        raise NetLoadError(f"{what}: {problem}.")
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except NetLoadError:
        raise
    except (ValueError, RecursionError) as exc:
        raise NetLoadError(f"{what}: not valid JSON ({str(exc)[:200]}).") from None
    if nesting_depth(value, MAX_JSON_DEPTH + 1) > MAX_JSON_DEPTH:
        raise NetLoadError(f"{what}: nested more than {MAX_JSON_DEPTH} levels deep.")
    return value


def _parse_manifest(metadata: dict) -> Any:
    text = metadata.get(MANIFEST_KEY)
    if text is None:
        raise NetLoadError(
            f'not a netgraph net file: the metadata has no "{MANIFEST_KEY}" entry (a plain '
            "safetensors file?)."
        )
    manifest = _loads(text, "manifest")
    check_format(manifest, FORMAT, FORMAT_VERSION)  # first: a newer file may differ in anything
    if CHECKSUM_KEY not in metadata:
        raise NetLoadError(f'checksum missing: no "{CHECKSUM_KEY}" in the metadata.')
    return manifest
