"""Evaluation options (`net(x, BatchSize=..., WorkingPrecision=...)`): their defaults, their
checks, the working precision and device, and the random generators of an evaluation."""

from __future__ import annotations

import os
import zlib
from typing import Any

import numpy as np

from .errors import NetOptionError, did_you_mean
from .initialize import _seed_words
from .values import Automatic

EVALUATION_OPTIONS = {
    "BatchSize": Automatic,
    "NetEvaluationMode": "Test",
    "TargetDevice": "CPU",
    "WorkingPrecision": "Real32",
    "RandomSeeding": Automatic,
}
_SNAKE = {
    "batch_size": "BatchSize",
    "net_evaluation_mode": "NetEvaluationMode",
    "target_device": "TargetDevice",
    "working_precision": "WorkingPrecision",
    "random_seeding": "RandomSeeding",
}
PRECISIONS = {"Real32": np.float32, "Real64": np.float64}

# RandomSeeding -> Automatic: one process-wide generator seeded from OS entropy (a fresh
# default_rng() per call costs ~25 us); a forked child re-seeds so it never repeats its parent.
_AUTOMATIC_RNG = np.random.default_rng()


def _reseed_automatic_rng() -> None:
    global _AUTOMATIC_RNG
    _AUTOMATIC_RNG = np.random.default_rng()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reseed_automatic_rng)


class _LayerRngs(dict):
    """Leaf path -> the generator of a layer that draws random numbers (Dropout), made on first
    use from the seed and the path: each layer has its own stream, so evaluating in BatchSize
    chunks draws the numbers one batch would. Automatic: the words come from the process-wide
    generator, once per evaluation."""

    def __init__(self, seed: Any):
        super().__init__()
        auto = seed is Automatic
        self.words = [int(w) for w in _AUTOMATIC_RNG.integers(0, 2**32, 4)] if auto else None
        self.seed = seed

    def __missing__(self, path: tuple) -> np.random.Generator:
        words = self.words if self.seed is Automatic else _seed_words(self.seed)
        tag = zlib.crc32(repr(tuple(path)).encode())
        rng = self[path] = np.random.default_rng([*words, tag])
        return rng


def parse_evaluation_options(options: dict) -> dict:
    opts = dict(EVALUATION_OPTIONS)
    for key, value in options.items():
        name = _SNAKE.get(key, key)
        if name not in opts:
            raise NetOptionError(
                f'unknown evaluation option "{key}".{did_you_mean(key, EVALUATION_OPTIONS)}'
            )
        opts[name] = value
    mode = opts["NetEvaluationMode"]
    if not isinstance(mode, str) or mode not in ("Test", "Train"):
        raise NetOptionError(
            f'NetEvaluationMode should be set to either "Test" or "Train", got {mode!r}.'
        )
    check_device(opts["TargetDevice"])
    precision_dtype(opts["WorkingPrecision"])
    bs = opts["BatchSize"]
    if bs is not Automatic and (
        isinstance(bs, bool) or not isinstance(bs, (int, np.integer)) or bs < 1
    ):
        raise NetOptionError(f"BatchSize should be a positive integer or Automatic, got {bs!r}.")
    seed = opts["RandomSeeding"]
    if seed is not Automatic and (
        isinstance(seed, bool) or not isinstance(seed, (int, np.integer, str))
    ):  # as NetInitialize and NetTrain take it
        raise NetOptionError(
            f"RandomSeeding should be an integer, a string or Automatic, got {seed!r}."
        )
    return opts


def check_device(device: Any) -> None:
    if not (isinstance(device, str) and device == "CPU"):
        raise NetOptionError(
            f'TargetDevice {device!r} is not available: netgraph runs on "CPU" only.'
        )


def precision_dtype(precision: Any):
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise NetOptionError(f'WorkingPrecision should be "Real32" or "Real64", got {precision!r}.')
    return PRECISIONS[precision]


def evaluation_rng(seed: Any) -> np.random.Generator:
    """The generator of one evaluation: the process-wide one for Automatic, else from the seed."""
    return _AUTOMATIC_RNG if seed is Automatic else np.random.default_rng(_seed_words(seed))
