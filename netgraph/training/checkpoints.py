"""Training checkpoints: every array, optimizer slots, counters, RNG states and history.

A checkpoint is a safetensors-layout file written atomically through netgraph._safefile (so a
failed write keeps the previous file), whose metadata also holds the trained net's description:
`ng.Import(checkpoint)` gives the net as it was at that point. `NetTrain(..., ResumeFrom=path)`
continues the run so that its result equals an uninterrupted run; a checkpoint of a different
net, data size or training options is refused with a NetLoadError listing the differences.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

import numpy as np

from netgraph import _safefile
from netgraph.errors import NetLoadError, NetOptionError, NetSaveError
from netgraph.information import Information

FORMAT = "netgraph-checkpoint"
VERSION = 1
META_KEY = "netgraph.training"


def _fingerprint(session) -> dict:
    """What must match for a resumed run to continue this one (as stored: JSON values)."""
    t, o = session.trainer, session.opts
    fingerprint = {
        "topology": Information(t.tnet.graph, "TopologyHash"),
        "examples": t.n,
        "validation_examples": 0 if t.valid is None else len(next(iter(t.valid.values()))),
        "batch_size": t.batch_size,
        "method": t.method,
        "optimizer": {k: _option_value(v) for k, v in t.optimizer.options.items()},
        "learning_rate_multipliers": sorted([repr(k), v] for k, v in t.net_multipliers.items()),
        "stopping": t.stopping,
        "precision": o["WorkingPrecision"],
        "seed": t.seed,
    }
    return json.loads(json.dumps(fingerprint, default=_json_default))


def _option_value(value: Any) -> Any:
    """An optimizer option as stored; a function (LearningRateSchedule) by its name, since its
    repr holds a memory address that differs in the process that resumes."""
    if isinstance(value, (int, float)) or value is None:
        return value
    if callable(value):
        name = getattr(value, "__qualname__", type(value).__qualname__)
        return f"function {getattr(value, '__module__', '?')}.{name}"
    return repr(value)


def _ids(session) -> list:
    return sorted(session.trainer.values, key=repr)


def _payload(session) -> tuple[dict, dict]:
    t = session.trainer
    tensors: dict = {}
    ids = _ids(session)
    for i, aid in enumerate(ids):
        tensors[f"arrays/{i}"] = np.ascontiguousarray(t.values[aid])
    for name, slot in t.optimizer.slots.items():
        tensors[f"slots/{name}"] = slot
    if session.permutation is not None:
        tensors["permutation"] = session.permutation.astype(np.int64)
    if session.best["values"] is not None:
        for i, aid in enumerate(ids):
            tensors[f"best/{i}"] = np.ascontiguousarray(session.best["values"][aid])
    state = {
        "format": FORMAT,
        "version": VERSION,
        "fingerprint": _fingerprint(session),
        "array_ids": [repr(a) for a in ids],
        "counters": {
            "round": session.round,
            "batch": session.batch,
            "t": session.t,
            "examples": session.examples,
            "elapsed": session.elapsed,
            "stale": session.stale,
            "monitor_best": getattr(session, "_monitor_best", None),
        },
        "limit": session.limit,
        "history": session.history,
        "round_losses": session.round_losses,
        "measurements": _measure_state(session),
        "best": {"loss": session.best["loss"], "round": session.best["round"]},
        "rng": {
            "shuffle": t.shuffle_rng.bit_generator.state,
            "layer": t.layer_rng.bit_generator.state,
        },
    }
    metadata = {META_KEY: json.dumps(state, default=_json_default)}
    metadata.update(_net_metadata(session, tensors))
    return tensors, metadata


def _measure_state(session) -> dict:
    """The measurement sums (float64 arrays) as lists: the current round's and each round's."""

    def plain(acc: dict) -> dict:
        return {k: a.tolist() for k, a in acc.items()}

    return {
        "acc": plain(session.acc),
        "Round": [plain(a) for a in session.measure_history["Round"]],
        "Validation": [plain(a) for a in session.measure_history["Validation"]],
    }


def _read_measures(session, state: dict) -> dict:
    """The checkpoint's measurement sums, checked against this run's measurements (a run with
    other TrainingProgressMeasurements starts them afresh)."""
    fresh = session.trainer.meter.new_acc()
    saved = state.get("measurements")

    def arrays(acc: dict) -> dict:
        out = {k: np.asarray(acc[k], np.float64) for k in fresh}
        if any(out[k].shape != fresh[k].shape for k in fresh):
            raise KeyError("measurement shapes")
        return out

    try:
        return {
            "acc": arrays(saved["acc"]),
            "Round": [arrays(a) for a in saved["Round"]],
            "Validation": [arrays(a) for a in saved["Validation"]],
        }
    except (KeyError, TypeError, ValueError):
        return {"acc": fresh, "Round": [], "Validation": []}


def _json_default(value: Any):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    raise TypeError(f"cannot store {type(value).__name__} in a checkpoint")


def _net_metadata(session, tensors: dict) -> dict:
    """The trained net's own file description, so that ng.Import reads a checkpoint."""
    from netgraph import files

    manifest, net_tensors = files.net_to_manifest(session.trainer.trained_net())
    tensors.update(net_tensors)
    return files.manifest_metadata(manifest)


def _write(session, path: str) -> str:
    tensors, metadata = _payload(session)
    _safefile.write_tensors(path, tensors, metadata)
    return path


def save_round(session) -> str:
    """Write the end-of-round checkpoint where TrainingProgressCheckpointing says."""
    kind, where = _location(session.opts["TrainingProgressCheckpointing"])
    if kind == "Directory":
        path = os.path.join(where, f"checkpoint-round{session.round:04d}.safetensors")
    else:
        path = where
    return _write(session, _ready(path))


def _location(option: Any) -> tuple[str, str]:
    """("Directory", dir) or ("File", path), checked (also before training starts)."""
    if (
        isinstance(option, (tuple, list))
        and len(option) == 2
        and option[0] in ("Directory", "File")
        and isinstance(option[1], (str, os.PathLike))
    ):
        kind, where = option[0], os.fspath(option[1])
        if kind == "Directory" and os.path.exists(where) and not os.path.isdir(where):
            raise NetOptionError(
                f"TrainingProgressCheckpointing: {where!r} is a file, not a directory."
            )
        if kind == "File" and os.path.isdir(where):
            raise NetOptionError(f"TrainingProgressCheckpointing: {where!r} is a directory.")
        return kind, where
    raise NetOptionError(
        'TrainingProgressCheckpointing should be ("Directory", dir) or ("File", path), '
        f"got {option!r}."
    )


def _ready(path: str) -> str:
    """`path`, its directory created; a failure is a NetSaveError (not a raw OSError)."""
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    except OSError as exc:
        raise NetSaveError(
            f"could not create the checkpoint directory for {path!r}: {exc}"
        ) from exc
    return path


def save_emergency(session) -> str:
    """A checkpoint of the last completed batch, at the checkpointing location or a temp file."""
    option = session.opts["TrainingProgressCheckpointing"]
    if option is not None:
        kind, where = _location(option)
        if kind == "Directory":
            name = f"checkpoint-round{session.round:04d}-batch{session.batch:05d}.safetensors"
            path = os.path.join(where, name)
        else:
            path = where
        path = _ready(path)
    else:
        fd, path = tempfile.mkstemp(prefix="netgraph-", suffix=".checkpoint.safetensors")
        os.close(fd)
    return _write(session, path)


def _difference(key: str, saved: Any, current: Any) -> str:
    """One fingerprint mismatch; for tables (optimizer, multipliers) only the differing rows."""
    as_dict = {dict: lambda d: d, list: lambda rows: {r[0]: r[1] for r in rows}}
    if type(saved) is type(current) and isinstance(saved, (dict, list)):
        try:
            old, new = as_dict[type(saved)](saved), as_dict[type(current)](current)
        except (TypeError, IndexError, KeyError):
            old = new = None
        if old is not None:
            rows = [
                f"{k}: {old.get(k, 'absent')!r} vs {new.get(k, 'absent')!r}"
                for k in sorted(set(old) | set(new), key=str)
                if old.get(k, "absent") != new.get(k, "absent")
            ]
            return f"{key} (checkpoint vs this run) {', '.join(rows)}"
    return f"{key}: checkpoint has {saved!r}, this run {current!r}"


def restore(session, path: Any) -> None:
    """Continue `session` from a checkpoint file; refuse one of another run or a damaged one.
    Everything is read and checked before anything is applied."""
    tensors, metadata = _safefile.read_tensors(os.fspath(path), require_checksum=True)
    try:
        state = json.loads(metadata[META_KEY])
    except (KeyError, ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        raise NetLoadError(f"{path} is not a NetTrain checkpoint (no training state).") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise NetLoadError(f"{path} is not a NetTrain checkpoint.")
    if not isinstance(state.get("version"), int) or state["version"] > VERSION:
        raise NetLoadError(
            f"checkpoint format_version {state.get('version')!r} is not supported (this netgraph "
            f"reads up to {VERSION})."
        )
    try:
        _check_run(session, state, tensors, path)
        loaded = _read_state(session, state, tensors)
    except NetLoadError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise NetLoadError(
            f"{path}: damaged NetTrain checkpoint ({type(exc).__name__}: {exc})."
        ) from None
    _apply(session, loaded)


def _check_run(session, state: dict, tensors: dict, path: Any) -> None:
    """NetLoadError listing every way the checkpoint's run differs from this one."""
    t = session.trainer
    ids = _ids(session)
    problems = []
    saved_fingerprint = state["fingerprint"]
    for key, value in _fingerprint(session).items():
        if saved_fingerprint.get(key) != value:
            problems.append(_difference(key, saved_fingerprint.get(key), value))
    if state["array_ids"] != [repr(a) for a in ids]:
        problems.append("the arrays differ (another net structure)")
    else:
        for i, aid in enumerate(ids):
            saved = tensors.get(f"arrays/{i}")
            if saved is None or saved.shape != t.values[aid].shape:
                problems.append(
                    f"array {aid!r}: shape {getattr(saved, 'shape', None)} vs {t.values[aid].shape}"
                )
    for name, slot in t.optimizer.slots.items():
        saved = tensors.get(f"slots/{name}")
        if saved is None or saved.shape != slot.shape:
            problems.append(f"optimizer slot {name!r} missing or of another size")
    if problems:
        raise NetLoadError(
            f"cannot resume from {path}: it belongs to a different training run: "
            + "; ".join(problems)
            + "."
        )


def _read_state(session, state: dict, tensors: dict) -> dict:
    """The checkpoint's counters, history and generator states, checked (KeyError, TypeError
    or ValueError when damaged)."""
    t = session.trainer
    ids = _ids(session)
    c = state["counters"]
    counters = {k: int(c[k]) for k in ("round", "batch", "t", "examples", "stale")}
    per_round = len(t.bounds)
    if not (0 <= counters["batch"] <= per_round and counters["round"] >= 0):
        raise ValueError(f"counters out of range: {counters}")
    permutation = tensors.get("permutation")
    if counters["batch"] and (permutation is None or sorted(permutation) != list(range(t.n))):
        raise ValueError("the current round's order of examples is missing or wrong")
    generators = {}
    for name in ("shuffle", "layer"):
        generator = np.random.default_rng()
        generator.bit_generator.state = state["rng"][name]
        generators[name] = generator.bit_generator.state
    history = {k: [float(x) for x in state["history"][k]] for k in session.history}
    best_values = None
    if "best/0" in tensors:
        best_values = {aid: tensors[f"best/{i}"] for i, aid in enumerate(ids)}
    return {
        "arrays": {aid: tensors[f"arrays/{i}"] for i, aid in enumerate(ids)},
        "slots": {name: tensors[f"slots/{name}"] for name in t.optimizer.slots},
        "counters": counters,
        "elapsed": float(c["elapsed"]),
        "monitor_best": None if c.get("monitor_best") is None else float(c["monitor_best"]),
        "limit": state["limit"],
        "history": history,
        "round_losses": [(float(loss), int(n)) for loss, n in state["round_losses"]],
        "measurements": _read_measures(session, state),
        "permutation": permutation,
        "best": {
            "loss": float(state["best"]["loss"]),
            "round": state["best"]["round"],
            "values": best_values,
        },
        "rng": generators,
    }


def _apply(session, loaded: dict) -> None:
    t = session.trainer
    for aid, value in loaded["arrays"].items():
        t.values[aid][...] = value
    for name, value in loaded["slots"].items():
        t.optimizer.slots[name][...] = value
    c = loaded["counters"]
    session.round, session.batch, session.t = c["round"], c["batch"], c["t"]
    session.examples, session.stale = c["examples"], c["stale"]
    session.elapsed = loaded["elapsed"]
    if session.automatic:
        session.limit = loaded["limit"]
    if loaded["monitor_best"] is not None:
        session._monitor_best = loaded["monitor_best"]
    session.history = loaded["history"]
    session.round_losses = loaded["round_losses"]
    session.acc = loaded["measurements"]["acc"]
    session.measure_history = {k: loaded["measurements"][k] for k in ("Round", "Validation")}
    session.permutation = loaded["permutation"]
    session.best = loaded["best"]
    t.shuffle_rng.bit_generator.state = loaded["rng"]["shuffle"]
    t.layer_rng.bit_generator.state = loaded["rng"]["layer"]
