"""Ctrl-C while invokers drain: stop waiting at once, so what did not end is reported now.

A drain can wait minutes for retries. While one runs on the main thread's event loop, or the
background loop is drained at interpreter exit, a SIGINT handler of ours stands in front of the
one installed before: it cuts every drain of the process short, puts the previous handler back,
and hands the signal on to it, so the application's own handling (or Python's
KeyboardInterrupt, or asyncio.run's) still happens. One SIGINT is ours; the next goes straight
to the application. When the last drain ends, the previous handler is put back unless someone
replaced ours meanwhile. Nothing is installed off the main thread (Python allows it only
there), nor when SIGINT is ignored or left to the system (``SIG_IGN``, ``SIG_DFL``).

At interpreter exit the program is over: there, a Ctrl-C whose next handler is Python's own
only cuts the drain, raising no KeyboardInterrupt, which would only land wherever the exit hook
happened to be and print a traceback after the report.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

__all__ = ["interrupts"]


class _Interrupts:
    """The process's drains and the SIGINT handler that cuts them short."""

    __slots__ = (
        "_at_exit",
        "_cuts",
        "_handler",
        "_holders",
        "_installed",
        "_interrupted",
        "_lock",
        "_previous",
    )

    def __init__(self) -> None:
        # Reentrant: the handler runs on the main thread, possibly while it holds the lock.
        self._lock = threading.RLock()
        self._cuts: set[Callable[[], None]] = set()
        self._holders = 0
        self._installed = False
        # Sticky while anyone watches: a drain that registers after the Ctrl-C is cut at once.
        self._interrupted = False
        self._previous: Any = None
        # Whether the exit drain watches: Python's KeyboardInterrupt is not raised then.
        self._at_exit = False
        self._handler = self._on_sigint  # one bound method, so it can be recognised

    @contextmanager
    def watching(self, *, at_exit: bool = False) -> Iterator[bool]:
        """While inside, SIGINT cuts every drain short; yields whether it can here.

        On the main thread, installs the handler for the block (nested blocks share it).
        *at_exit*: the interpreter is exiting; Python's default handler is not called.
        """
        held = self._hold()
        # Only the exit drain's block sets and clears it: the drains it waits for watch too,
        # from the background loop's thread, and must not clear it under its feet.
        if at_exit:
            self._at_exit = True
        try:
            yield self.armed()
        finally:
            if at_exit:
                self._at_exit = False
            if held:
                self._release()

    @contextmanager
    def cutting(self, cut: Callable[[], None]) -> Iterator[bool]:
        """Register a drain's *cut* (callable from any thread) for the block; watch too.

        Yields whether a Ctrl-C can cut this drain (the handler is in place).
        """
        with self.watching():
            with self._lock:
                self._cuts.add(cut)
                interrupted = self._interrupted
            try:
                if interrupted:
                    cut()
                yield self.armed()
            finally:
                with self._lock:
                    self._cuts.discard(cut)

    def armed(self) -> bool:
        """Whether a Ctrl-C now would cut the drains short."""
        return self._installed or self._interrupted

    def interrupt(self) -> None:
        """Cut every drain short now, and each that starts while someone still watches."""
        with self._lock:
            if self._holders:
                self._interrupted = True
            cuts = tuple(self._cuts)
        for cut in cuts:
            cut()

    def _hold(self) -> bool:
        if threading.current_thread() is not threading.main_thread():
            return False
        with self._lock:
            self._holders += 1
            if self._holders == 1:
                self._interrupted = False
                self._install()
        return True

    def _release(self) -> None:
        with self._lock:
            self._holders -= 1
            if self._holders == 0:
                self._uninstall()
                self._interrupted = False

    def _install(self) -> None:
        try:
            previous = signal.getsignal(signal.SIGINT)
            if not callable(previous):
                return  # ignored, the system's default, or not set from Python: leave it be
            signal.signal(signal.SIGINT, self._handler)
        except (ValueError, OSError):
            return  # signals are not ours to touch here (say, an embedded interpreter)
        self._previous = previous
        self._installed = True

    def _uninstall(self) -> None:
        if not self._installed:
            return
        self._installed = False
        try:
            if signal.getsignal(signal.SIGINT) is self._handler:
                signal.signal(signal.SIGINT, self._previous)
        except (ValueError, OSError):
            pass

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        # Kept after uninstalling: a handler installed over ours may still hand signals on.
        previous = self._previous
        with self._lock:
            self._uninstall()
        self.interrupt()
        if self._at_exit and previous is signal.default_int_handler:
            return
        if callable(previous):
            previous(signum, frame)


#: The one instance: signal handlers are per process.
interrupts = _Interrupts()
