"""Ctrl-C and SIGTERM: the first asks the run to save and stop, the second exits at once."""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any


class StopRequest:
    """Turns the first SIGINT/SIGTERM into a request to save and stop; the second exits at once.

    The training loop polls `requested` after every step; `restore()` hands the signals back to
    Python (KeyboardInterrupt) for what follows the loop; `release()` puts back the handlers
    found by `install()`, so that a caller of train() (a sweep, a test) keeps its own.

    Python takes signal handlers from the main thread only. A loop run in another thread (a Ray
    Tune trial) leaves the signals alone: whoever owns that thread stops it (Ray ends its worker,
    and the run continues from its newest checkpoint).
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signum: int | None = None
        self.previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum else ""

    def install(self) -> None:
        if not _on_main_thread():
            return
        for signum in self.SIGNALS:
            self.previous.setdefault(signum, signal.getsignal(signum))
            signal.signal(signum, self._handle)

    def restore(self) -> None:
        if not _on_main_thread():
            return
        for signum in self.SIGNALS:
            signal.signal(signum, signal.default_int_handler)

    def release(self) -> None:
        if not _on_main_thread():
            return
        for signum, handler in self.previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)

    def _handle(self, signum: int, _frame: Any) -> None:
        if self.signum is not None:
            print("second signal: exiting now", file=sys.stderr, flush=True)
            os._exit(128 + signum)
        self.signum = signum
        print(f"{self.name}: saving a checkpoint after this step", file=sys.stderr, flush=True)


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def interrupt_on_sigterm() -> None:
    """Let SIGTERM raise KeyboardInterrupt like Ctrl-C, until the training loop takes over."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)
