"""Ctrl-C during NetTrain lands between batches, never inside one.

A real SIGINT can arrive at any bytecode: between the optimizer's update of the arrays and the
step counter, or between a BatchNormalization layer's moving-statistics update and the next
layer's. The emergency checkpoint written for the interrupt would then hold a half-taken step,
and a run resumed from it would differ from an uninterrupted one. While a batch (or the close
of a round) is being committed, `InterruptGuard` holds a SIGINT back and raises the
KeyboardInterrupt as soon as the commit is complete.

The guard is installed only in the main thread and only over Python's default SIGINT handler;
a handler the user installed is left alone (their handler then decides what Ctrl-C does).

>>> guard = InterruptGuard()
>>> try:
...     with guard.atomic():
...         guard.handler(2, None)  # what a Ctrl-C here does: nothing yet
...         held = guard.pending
... except KeyboardInterrupt:
...     print("held inside the block:", held, "- raised when it was complete")
held inside the block: True - raised when it was complete
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager


class InterruptGuard:
    """Holds SIGINT back inside `atomic()` blocks (see the module docstring)."""

    def __init__(self):
        self.critical = False  # inside an atomic block
        self.pending = False  # a SIGINT arrived inside it

    def handler(self, signum, frame) -> None:
        if self.critical:
            self.pending = True
        else:
            raise KeyboardInterrupt

    @contextmanager
    def installed(self):
        """Use `handler` for SIGINT while the block runs, when that is safe to do."""
        ours = (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        )
        if ours:
            signal.signal(signal.SIGINT, self.handler)
        try:
            yield self
        finally:
            if ours:
                signal.signal(signal.SIGINT, signal.default_int_handler)

    @contextmanager
    def atomic(self):
        """A block a SIGINT does not split: it is raised when the block is complete."""
        self.critical = True
        try:
            yield
        finally:
            self.critical = False
            if self.pending:
                self.pending = False
                raise KeyboardInterrupt
