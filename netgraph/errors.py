"""The error hierarchy: every user mistake raises a `NetError` subclass.

`NetError` is a `ValueError`, so generic handlers keep working. Messages name the layer path,
port or array, what was expected, what was received, and one hint.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable, Iterable


class NetError(ValueError):
    """Base class of every netgraph error."""

    def __reduce__(self):
        # rebuilt without calling __init__, so a subclass whose __init__ takes other (e.g.
        # keyword-only) arguments still unpickles: a worker's error reaches the parent intact
        return (_restore_error, (type(self), self.args), self.__dict__ or None)


def _restore_error(cls: type, args: tuple) -> NetError:
    error = ValueError.__new__(cls)
    error.args = args
    return error


class NetOptionError(NetError):
    """A bad option value or an unknown option name."""


class NetShapeError(NetError):
    """A rank or dimension mismatch at a port, an edge or an array."""


class NetGraphError(NetError):
    """A malformed graph: cycle, unknown layer or port, doubly fed or dangling port."""


class NetArrayError(NetError):
    """A bad array value or shape, or an illegal sharing of an array."""


class NetNotInitializedError(NetError):
    """A net whose arrays are not all set was evaluated, trained or exported."""


class NetDataError(NetError):
    """Evaluation or training data that cannot be used."""


class NetTrainError(NetError):
    """Training cannot continue (for example one value per BatchNormalization channel)."""


class NetLoadError(NetError):
    """A file that is not a valid netgraph file: damaged, newer, or not ours."""


class NetSaveError(NetError):
    """A net could not be written; any previous file at the path is intact."""


def did_you_mean(name: object, valid: Iterable[object]) -> str:
    """' Did you mean "x"?' for a close match among `valid`, else the valid names listed."""
    valid = [str(v) for v in valid]
    # one wrong letter in a short name ("bm" for "bn") is a large fraction of it
    cutoff = 0.5 if len(str(name)) <= 4 else 0.6
    close = difflib.get_close_matches(str(name), valid, n=1, cutoff=cutoff)
    if close:
        return f' Did you mean "{close[0]}"?'
    if valid:
        return " Valid names: " + ", ".join(f'"{v}"' for v in valid) + "."
    return ""


def refuses_deep_nesting(name: str | None = None) -> Callable:
    """Decorate a public call so that a value nested too deeply for Python (a list in a list ...
    thousands of levels deep, which even `repr` cannot print; or a net of containers nested
    hundreds deep) is a NetError naming the call
    (`name`, or the class of the first argument for a method) instead of a RecursionError.

    >>> @refuses_deep_nesting("Count")
    ... def count(value):
    ...     return 1 + count(value[0]) if isinstance(value, list) else 0
    >>> deep = 0
    >>> for _ in range(100_000):
    ...     deep = [deep]
    >>> count(deep)
    Traceback (most recent call last):
    ...
    netgraph.errors.NetError: Count: a value or net is nested too deeply (beyond Python's
    recursion limit); nest lists, tuples, dicts and containers less deeply.
    """

    def wrap(f: Callable) -> Callable:
        @functools.wraps(f)
        def call(*args, **kwargs):
            try:
                return f(*args, **kwargs)
            except RecursionError:
                who = name or type(args[0]).__name__
                raise NetError(
                    f"{who}: a value or net is nested too deeply (beyond Python's recursion "
                    "limit); nest lists, tuples, dicts and containers less deeply."
                ) from None

        return call

    return wrap
