"""The wall-clock guard: a test on virtual time that hangs is stopped after real seconds."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any

__all__ = ["Expired", "WallGuard"]


class Expired(Exception):
    """The wall-clock guard stopped the test."""


class WallGuard:
    """Cancels the test's task after so many real seconds, from a timer thread.

    The test's loop runs on virtual time, so none of its own timers can measure real time.
    """

    def __init__(self, seconds: float | None, task: asyncio.Task[Any]) -> None:
        self.fired = False
        self._task = task
        self._loop = task.get_loop()
        self._armed = seconds is not None
        self._timer: threading.Timer | None = None
        if seconds is not None:
            self._timer = threading.Timer(seconds, self._from_timer_thread)
            self._timer.daemon = True
            self._timer.start()

    def _from_timer_thread(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed: the test is over
            self._loop.call_soon_threadsafe(self._fire)

    def _fire(self) -> None:
        # Runs on the loop's thread, so the task is suspended inside `run`, or already done.
        if self._armed:
            self._armed = False
            self.fired = True
            self._task.cancel()

    async def run(self, step: Coroutine[Any, Any, Any]) -> Any:
        """Await *step*; `Expired` if the guard fired meanwhile."""
        try:
            result = await step
        except asyncio.CancelledError:
            if not self.fired:
                raise
            self._task.uncancel()
            raise Expired from None
        if self.fired:  # the test swallowed the cancellation, then ended
            self._task.uncancel()
            raise Expired
        return result

    def stop(self) -> None:
        """Disarm the guard: the test is over."""
        self._armed = False
        if self._timer is not None:
            self._timer.cancel()
