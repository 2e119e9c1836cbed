"""The durable queue: `SQLiteQueue` beside the in-memory queue and beside persist-queue.

Every figure is accept → success record, timed from the first ``invoke_nowait()`` to the end
of ``join()`` (the file drained and every record delivered), each run on a fresh file in a
temporary folder. persist-queue's ``SQLiteAckQueue`` does the same storage work a durable
queue must: put each event, get it, build the same record, ack it; it is optional (the
``bench`` extra) and reported unavailable when missing.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import json
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path
from time import perf_counter
from typing import Any, Final, Literal

from lambda_destinations import AsyncInvoker, ExecutionRecord, InMemoryDestination
from lambda_destinations.queues import SQLiteQueue

from . import peers, scenarios
from .floor import build_record

__all__ = ["PERSIST_QUEUE", "compare_durable", "time_persist_queue", "time_sqlite"]

Level = Literal["NORMAL", "FULL"]
PERSIST_QUEUE: Final = "persistqueue"
TARGET_EVENTS_PER_SECOND: Final = 10_000
TARGET_PERSIST_QUEUE_SPEEDUP: Final = 3.0


async def _sqlite_seconds(payloads: list[dict[str, Any]], synchronous: Level) -> float:
    ok = InMemoryDestination()
    with tempfile.TemporaryDirectory() as folder:
        queue = SQLiteQueue(Path(folder) / "q.db", synchronous=synchronous)
        invoker = AsyncInvoker(scenarios.noop, queue=queue, on_success=ok)
        await invoker.start()
        try:
            await invoker.invoke({"warm": True})  # opens the file outside the timed region
            await invoker.join()
            start = perf_counter()
            for payload in payloads:
                invoker.invoke_nowait(payload)
            await invoker.join()
            elapsed = perf_counter() - start
        finally:
            await invoker.aclose(timeout=0)
    if len(ok) != len(payloads) + 1:
        msg = f"SQLite records: expected {len(payloads) + 1}, got {len(ok)}"
        raise RuntimeError(msg)
    return elapsed


def time_sqlite(payloads: list[dict[str, Any]], synchronous: Level) -> float:
    """Seconds for an invoker on a `SQLiteQueue` to take *payloads* to ``on_success``."""
    gc.collect()
    return asyncio.run(_sqlite_seconds(payloads, synchronous))


async def _commit_latencies(n: int, synchronous: Level) -> list[float]:
    with tempfile.TemporaryDirectory() as folder:
        queue = SQLiteQueue(Path(folder) / "q.db", synchronous=synchronous)
        invoker = AsyncInvoker(scenarios.noop, queue=queue)
        await invoker.start()
        samples: list[float] = []
        try:
            await invoker.invoke({"warm": True})
            for i in range(n):
                start = perf_counter()
                await invoker.invoke({"i": i})
                samples.append(perf_counter() - start)
            await invoker.join()
        finally:
            await invoker.aclose(timeout=0)
    return samples


def commit_latency(n: int, synchronous: Level) -> dict[str, float]:
    """p50/p99 of ``await invoker.invoke()``, one at a time: until the event is committed."""
    samples = asyncio.run(_commit_latencies(n, synchronous))
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50_us": cuts[49] * 1e6, "p99_us": cuts[98] * 1e6}


def time_persist_queue(payloads: list[dict[str, Any]], synchronous: Level) -> float:
    """Seconds for persist-queue's ``SQLiteAckQueue`` to put, get, record and ack *payloads*.

    ``"FULL"`` is persist-queue as shipped (SQLite's default); ``"NORMAL"`` sets the same
    pragma the `SQLiteQueue` default uses on both of its connections.
    """
    module = importlib.import_module(PERSIST_QUEUE)
    records: list[ExecutionRecord] = []
    gc.collect()
    with tempfile.TemporaryDirectory() as folder:
        queue = module.SQLiteAckQueue(folder, multithreading=True, auto_resume=False)
        try:
            for connection in (queue._putter, queue._getter):
                connection.execute(f"PRAGMA synchronous = {synchronous}")
            start = perf_counter()
            for payload in payloads:
                queue.put(payload)
            for _ in payloads:
                item = queue.get(block=False, raw=True)
                body = json.dumps(item["data"])
                records.append(build_record(str(item["pqid"]), body, "null"))
                queue.ack(id=item["pqid"])
            elapsed = perf_counter() - start
        finally:
            queue.close()
    if len(records) != len(payloads):
        msg = f"persist-queue records: expected {len(payloads)}, got {len(records)}"
        raise RuntimeError(msg)
    return elapsed


def _best(run: Callable[[], float], n: int, repeats: int) -> dict[str, float]:
    seconds = min(run() for _ in range(repeats))
    return {"seconds": seconds, "events_per_second": n / seconds}


def compare_durable(
    n: int,
    peer_n: int,
    latency_n: int,
    repeats: int,
    *,
    peers_enabled: bool,
    progress: scenarios.Progress,
) -> dict[str, Any]:
    """SQLite (NORMAL and FULL) beside memory on *n* events; persist-queue on *peer_n*."""
    payloads = scenarios.make_payloads(n)
    progress(f"durable queue: memory, SQLite NORMAL and FULL on {n:,} events")
    memory = _best(lambda: scenarios.time_library(payloads), n, repeats)
    normal = _best(lambda: time_sqlite(payloads, "NORMAL"), n, repeats)
    full = _best(lambda: time_sqlite(payloads, "FULL"), n, repeats)
    progress(f"durable queue: commit latency of {latency_n:,} sequential invokes")
    latency = {level: commit_latency(latency_n, level) for level in ("NORMAL", "FULL")}
    met = normal["events_per_second"] >= TARGET_EVENTS_PER_SECOND
    return {
        "events": n,
        "repeats": repeats,
        "memory": memory,
        "sqlite_normal": normal,
        "sqlite_full": full,
        "ratio_to_memory": normal["events_per_second"] / memory["events_per_second"],
        "full_to_normal": full["events_per_second"] / normal["events_per_second"],
        "commit_latency": {"events": latency_n, **latency},
        "target_events_per_second": TARGET_EVENTS_PER_SECOND,
        "met": met,
        "target_persist_queue_speedup": TARGET_PERSIST_QUEUE_SPEEDUP,
        "persist_queue": _compare_persist_queue(
            peer_n, repeats, enabled=peers_enabled, progress=progress
        ),
    }


def _compare_persist_queue(
    n: int, repeats: int, *, enabled: bool, progress: scenarios.Progress
) -> dict[str, Any]:
    if not enabled:
        return peers.unavailable("excluded with --no-peers")
    try:
        version = str(importlib.import_module(PERSIST_QUEUE).__version__)
    except ImportError as e:
        return peers.unavailable(f"not installed ({e}); run `make bench`")
    payloads = scenarios.make_payloads(n)
    levels: dict[str, Any] = {}
    try:
        for level in ("NORMAL", "FULL"):
            progress(f"durable queue vs persist-queue, {level}, {n:,} events")
            ours: list[float] = []
            theirs: list[float] = []
            for _ in range(repeats):  # interleaved, so drift bills both alike
                ours.append(time_sqlite(payloads, level))
                theirs.append(time_persist_queue(payloads, level))
            speedup = min(theirs) / min(ours)
            levels[level.lower()] = {
                "sqlite_queue": {"seconds": min(ours), "events_per_second": n / min(ours)},
                "persist_queue": {"seconds": min(theirs), "events_per_second": n / min(theirs)},
                "speedup": speedup,
            }
    except Exception as e:
        return peers.unavailable(f"failed: {type(e).__name__}: {e}")
    speedup = levels["normal"]["speedup"]
    return {
        "available": True,
        "version": version,
        "events": n,
        **levels,
        "met": speedup >= TARGET_PERSIST_QUEUE_SPEEDUP,
    }
