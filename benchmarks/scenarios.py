"""The library's side of each benchmark, with the floor measured the same way beside it.

Each public function runs on a fresh event loop and returns plain JSON-ready figures. Timed
regions cover accepting the events through the last delivery; building and closing invokers
stays outside them, because a real process pays those once, not per event.

Invokers here queue events beyond their concurrency in line (``throttling="fifo"``), as the
floor's asyncio.Queue does: with AWS's throttle backoff, a burst of 100,000 events on real
time would spend its time waiting out backoffs, and measure the backoff, not the invoker.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import statistics
import sys
import tracemalloc
from collections.abc import Callable, Coroutine, Iterator
from time import perf_counter
from typing import Any, TypeVar

from lambda_destinations import AsyncInvoker, ExecutionRecord, InMemoryDestination
from lambda_destinations.testing import VirtualClock

from .floor import Floor

__all__ = [
    "Progress",
    "compare_latency",
    "compare_throughput",
    "failure_mix",
    "make_payloads",
    "memory_per_event",
    "time_library",
]

T = TypeVar("T")
Progress = Callable[[str], None]

#: The AWS schedule the failure mix runs through: first attempt, then 2 retries.
ATTEMPTS_PER_FAILING_EVENT = 3


async def noop(event: object) -> None:
    """The no-op async handler every throughput figure is about."""


def noop_sync(event: object) -> None:
    """The same no-op as a plain function, which the invoker runs in a thread."""


async def flaky(event: dict[str, Any]) -> None:
    """Fails the events marked to fail, on every attempt, so they use the whole schedule."""
    if event["fail"]:
        msg = "planned failure"
        raise ValueError(msg)


def make_payloads(n: int, *, fail_every: int = 0) -> list[dict[str, Any]]:
    """*n* small events; with *fail_every* k, every k-th one is marked to fail."""
    if fail_every:
        return [{"i": i, "fail": i % fail_every == 0} for i in range(n)]
    return [{"i": i} for i in range(n)]


def _fresh_loop(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    # Each measurement starts from a clean loop and a collected heap, so one run's timers and
    # garbage never bill the next.
    gc.collect()
    return asyncio.run(make())


def _expect(actual: int, expected: int, what: str) -> None:
    if actual != expected:
        msg = f"{what}: expected {expected}, got {actual}; the benchmark did not do the work"
        raise RuntimeError(msg)


@contextlib.contextmanager
def quiet_library_logs() -> Iterator[None]:
    """Keep the library's per-event warnings (the failure mix) off the terminal.

    Records are still created, so their cost stays in the figures; only the I/O of whatever
    handlers the application would configure is left out.
    """
    logger = logging.getLogger("lambda_destinations")
    null = logging.NullHandler()
    propagate = logger.propagate
    logger.addHandler(null)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(null)
        logger.propagate = propagate


# -- throughput ---------------------------------------------------------------------------


async def _library_seconds(handler: Callable[..., Any], payloads: list[dict[str, Any]]) -> float:
    ok = InMemoryDestination()
    invoker = AsyncInvoker(handler, on_success=ok, throttling="fifo")
    await invoker.start()
    try:
        start = perf_counter()
        for payload in payloads:
            invoker.invoke_nowait(payload)
        await invoker.join()
        elapsed = perf_counter() - start
    finally:
        await invoker.aclose(timeout=0)
    _expect(len(ok), len(payloads), "library success records")
    return elapsed


async def _floor_seconds(*, sync: bool, payloads: list[dict[str, Any]]) -> float:
    records: list[ExecutionRecord] = []
    floor = (
        Floor(records.append, sync_handler=noop_sync)
        if sync
        else Floor(records.append, async_handler=noop)
    )
    try:
        start = perf_counter()
        floor.start()
        for payload in payloads:
            floor.invoke_nowait(payload)
        await floor.join()
        elapsed = perf_counter() - start
    finally:
        await floor.aclose()
    _expect(len(records), len(payloads), "floor success records")
    return elapsed


def time_library(payloads: list[dict[str, Any]], *, sync: bool = False) -> float:
    """Seconds for the invoker to take *payloads* to their ``on_success`` destination."""
    handler: Callable[..., Any] = noop_sync if sync else noop
    return _fresh_loop(lambda: _library_seconds(handler, payloads))


def time_floor(payloads: list[dict[str, Any]], *, sync: bool = False) -> float:
    """Seconds for the floor to do the same."""
    return _fresh_loop(lambda: _floor_seconds(sync=sync, payloads=payloads))


def _rate(n: int, seconds: float) -> dict[str, float]:
    return {"seconds": seconds, "events_per_second": n / seconds}


def compare_throughput(n: int, repeats: int, *, sync: bool, progress: Progress) -> dict[str, Any]:
    """Best-of-*repeats* throughput of the library and of the floor, and their ratio.

    Runs alternate which side goes first, so warm-up and drift bill both sides alike; the
    best run is the one least disturbed by the rest of the machine.
    """
    payloads = make_payloads(n)
    library: list[float] = []
    floor: list[float] = []
    for i in range(repeats):
        progress(f"{'sync' if sync else 'async'} throughput, run {i + 1}/{repeats}")
        if i % 2:
            floor.append(time_floor(payloads, sync=sync))
            library.append(time_library(payloads, sync=sync))
        else:
            library.append(time_library(payloads, sync=sync))
            floor.append(time_floor(payloads, sync=sync))
    lib = _rate(n, min(library))
    flo = _rate(n, min(floor))
    return {
        "events": n,
        "repeats": repeats,
        "library": lib,
        "floor": flo,
        "ratio_to_floor": lib["events_per_second"] / flo["events_per_second"],
    }


# -- failures through the whole retry schedule -----------------------------------------------


async def _failure_mix(payloads: list[dict[str, Any]]) -> dict[str, Any]:
    ok = InMemoryDestination()
    failed = InMemoryDestination()
    clock = VirtualClock()
    invoker = AsyncInvoker(flaky, on_success=ok, on_failure=failed, clock=clock, throttling="fifo")
    await invoker.start()
    try:
        start = perf_counter()
        for payload in payloads:
            invoker.invoke_nowait(payload)
        await invoker.join()
        elapsed = perf_counter() - start
        metrics = invoker.metrics()
    finally:
        await invoker.aclose(timeout=0)
    failing = sum(1 for p in payloads if p["fail"])
    _expect(len(failed), failing, "failure records")
    _expect(len(ok), len(payloads) - failing, "success records")
    attempts = {r.approximate_invoke_count for r in failed.records}
    if failing and attempts != {ATTEMPTS_PER_FAILING_EVENT}:
        msg = f"failing events ran {sorted(attempts)} attempts, not the full schedule"
        raise RuntimeError(msg)
    return {
        "events": len(payloads),
        "failing_events": failing,
        "invocations": metrics.invocations,
        "virtual_seconds": clock.elapsed,
        "wall_seconds": elapsed,
        "events_per_wall_second": len(payloads) / elapsed,
    }


def failure_mix(n: int, repeats: int, *, progress: Progress) -> dict[str, Any]:
    """Events per wall second when 10% fail through 2 retries (60 s, 120 s) on virtual time."""
    payloads = make_payloads(n, fail_every=10)
    runs = []
    with quiet_library_logs():
        for i in range(repeats):
            progress(f"10% failing through the retry schedule, run {i + 1}/{repeats}")
            runs.append(_fresh_loop(lambda: _failure_mix(payloads)))
    best = min(runs, key=lambda r: float(r["wall_seconds"]))
    return {"failure_fraction": 0.1, "retry_waits_seconds": [60, 120], "repeats": repeats, **best}


# -- memory -----------------------------------------------------------------------------------


class _Gate:
    """A handler whose first call blocks until released, so everything after it stays queued."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, event: object) -> None:
        if not self.started.is_set():
            self.started.set()
            await self.release.wait()


def _traced_bytes(queue_all: Callable[[], None]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        queue_all()
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


async def _library_memory(payloads: list[dict[str, Any]]) -> int:
    gate = _Gate()
    ok = InMemoryDestination()
    # The longest timeout AWS allows: the blocked first call must not time out and retry
    # while the others are being queued under tracemalloc's slowdown.
    invoker = AsyncInvoker(
        gate, reserved_concurrency=1, timeout=900, on_success=ok, throttling="fifo"
    )
    await invoker.start()
    try:
        invoker.invoke_nowait({"gate": True})
        await gate.started.wait()

        def queue_all() -> None:
            for payload in payloads:
                invoker.invoke_nowait(payload)

        traced = _traced_bytes(queue_all)
        _expect(invoker.pending, len(payloads) + 1, "events queued behind the gate")
        gate.release.set()
        await invoker.join()
    finally:
        await invoker.aclose(timeout=0)
    _expect(len(ok), len(payloads) + 1, "library success records")
    return traced


async def _floor_memory(payloads: list[dict[str, Any]]) -> int:
    gate = _Gate()
    records: list[ExecutionRecord] = []
    floor = Floor(records.append, async_handler=gate, workers=1)
    try:
        floor.start()
        floor.invoke_nowait({"gate": True})
        await gate.started.wait()

        def queue_all() -> None:
            for payload in payloads:
                floor.invoke_nowait(payload)

        traced = _traced_bytes(queue_all)
        gate.release.set()
        await floor.join()
    finally:
        await floor.aclose()
    _expect(len(records), len(payloads) + 1, "floor success records")
    return traced


def memory_per_event(n: int, *, progress: Progress) -> dict[str, Any]:
    """Bytes each queued event holds beyond its payload's JSON text, while no worker runs.

    The payload dicts exist before tracing starts (they are the caller's); the JSON text the
    invoker keeps is subtracted at its length in bytes, so the 49-byte header of the string
    object counts as overhead.
    """
    payloads = make_payloads(n)
    text_bytes = sum(len(json.dumps(p)) for p in payloads)
    progress(f"memory of {n:,} queued events")
    library = _fresh_loop(lambda: _library_memory(payloads))
    floor = _fresh_loop(lambda: _floor_memory(payloads))
    return {
        "events": n,
        "payload_text_bytes_per_event": text_bytes / n,
        "library": {
            "traced_bytes_per_event": library / n,
            "bytes_per_event": (library - text_bytes) / n,
        },
        "floor": {
            "traced_bytes_per_event": floor / n,
            "bytes_per_event": (floor - text_bytes) / n,
        },
        "python": sys.version.split()[0],
    }


# -- latency ----------------------------------------------------------------------------------


class _Stamp:
    """A destination that resolves the waiting future with the moment of delivery."""

    def __init__(self) -> None:
        self.waiter: asyncio.Future[float] | None = None

    def send(self, record: ExecutionRecord) -> None:
        delivered = perf_counter()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(delivered)


def _percentiles(samples: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {
        "p50_us": cuts[49] * 1e6,
        "p99_us": cuts[98] * 1e6,
        "mean_us": statistics.fmean(samples) * 1e6,
    }


async def _latency(n: int, warmup: int) -> dict[str, list[float]]:
    loop = asyncio.get_running_loop()
    stamp = _Stamp()
    invoker = AsyncInvoker(noop, on_success=stamp, throttling="fifo")
    floor = Floor(stamp.send, async_handler=noop)
    await invoker.start()
    floor.start()

    async def via_library(payload: object) -> float:
        fut: asyncio.Future[float] = loop.create_future()
        stamp.waiter = fut
        start = perf_counter()
        await invoker.invoke(payload)
        return await fut - start

    async def via_floor(payload: object) -> float:
        fut: asyncio.Future[float] = loop.create_future()
        stamp.waiter = fut
        start = perf_counter()
        floor.invoke_nowait(payload)
        return await fut - start

    library: list[float] = []
    floor_samples: list[float] = []
    try:
        for i in range(warmup + n):
            payload = {"i": i}
            # One event at a time, alternating sides (and which goes first) on the same loop,
            # so both see the same machine at the same moment.
            if i % 2:
                f = await via_floor(payload)
                lib = await via_library(payload)
            else:
                lib = await via_library(payload)
                f = await via_floor(payload)
            if i >= warmup:
                library.append(lib)
                floor_samples.append(f)
    finally:
        await invoker.aclose(timeout=0)
        await floor.aclose()
    return {"library": library, "floor": floor_samples}


def compare_latency(n: int, *, progress: Progress) -> dict[str, Any]:
    """p50 and p99 from ``invoke()`` to destination delivery, one event at a time."""
    progress(f"latency of {n:,} sequential events")
    warmup = min(200, max(1, n // 10))
    samples = _fresh_loop(lambda: _latency(n, warmup))
    library = _percentiles(samples["library"])
    floor = _percentiles(samples["floor"])
    return {
        "events": n,
        "warmup_events": warmup,
        "library": library,
        "floor": floor,
        "p50_ratio_to_floor": library["p50_us"] / floor["p50_us"],
        "p99_ratio_to_floor": library["p99_us"] / floor["p99_us"],
    }
