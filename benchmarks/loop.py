"""How responsive the event loop stays while the invoker works through a backlog.

A thread hands the loop a callback every millisecond; each callback measures how long it
waited (real time), which is how long the loop was busy with something else. These are
real-time figures: they belong here, reported, never asserted in the test suite.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from typing import Any

from lambda_destinations import AsyncInvoker
from lambda_destinations.testing import VirtualClock

__all__ = ["LoopProbe", "backlog_latency"]


class LoopProbe:
    """The longest real-time wait of a callback handed to *loop* from another thread.

    Each probe carries the moment it was due, not the moment the thread got to send it: a
    thread waiting for the GIL (while the loop runs a garbage collection, say) sends late, and
    that wait is part of what the loop made it wait. ``loop.time()`` may be virtual, so the
    probe uses ``time.perf_counter()``.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.max_latency = 0.0
        self.samples = 0
        self.over_10ms = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="loop-probe", daemon=True)

    def _answer(self, sent: float) -> None:
        latency = time.perf_counter() - sent
        self.samples += 1
        self.over_10ms += latency > 0.010
        self.max_latency = max(self.max_latency, latency)

    def _run(self) -> None:
        due = time.perf_counter()
        while not self._stop.is_set():
            due += 0.001
            delay = due - time.perf_counter()
            if delay > 0:
                self._stop.wait(delay)
            self.loop.call_soon_threadsafe(self._answer, due)
            due = max(due, time.perf_counter())  # after a stall, resume from now, no burst

    def __enter__(self) -> LoopProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()


class GcPauses:
    """The longest garbage-collector pause while active, to explain the loop's latency."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._started = 0.0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.longest = max(self.longest, time.perf_counter() - self._started)

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc_info: object) -> None:
        gc.callbacks.remove(self._callback)


async def _instant(event: Any) -> Any:
    return event


async def _backlog(n: int) -> dict[str, Any]:
    invoker = AsyncInvoker(
        _instant, clock=VirtualClock(), reserved_concurrency=100, throttling="fifo"
    )
    await invoker.start()
    for i in range(n):  # a burst, as a sync caller or a wave of retries makes one
        invoker.invoke_nowait(i)
    started = time.perf_counter()
    with LoopProbe(asyncio.get_running_loop()) as probe, GcPauses() as pauses:
        await invoker.join()
    wall = time.perf_counter() - started
    await invoker.aclose()
    return {
        "events": n,
        "seconds": wall,
        "max_latency_ms": probe.max_latency * 1000,
        "probes": probe.samples,
        "probes_over_10ms": probe.over_10ms,
        "longest_gc_pause_ms": pauses.longest * 1000,
    }


def backlog_latency(n: int) -> dict[str, Any]:
    """The worst real-time loop latency while *n* events of a never-awaiting handler run."""
    return asyncio.run(_backlog(n))
