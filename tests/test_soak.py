"""Soak: 100,000 events through one invoker, each accounted for once, memory in check.

One `AsyncInvoker` at ``reserved_concurrency=100`` on a `VirtualClock` takes a seeded random mix
of events: instant successes, slow successes (the handler awaits ``asyncio.sleep``, in virtual
time), events that fail once and succeed on their retry, events that fail every attempt and
events that time out on every attempt. Every receiver fails now and then: on-success (a
plain function, so it runs in the invoker's worker threads) raises on every 13th record,
on-failure (async) on every 7th, the dead-letter queue (a plain function) on every 11th
message.

The receivers keep counts, never the records, so that nothing but the invoker can hold memory
per event. Nothing here measures time: throughput and the loop's latency are real-time
figures, reported by ``make bench`` and never asserted, so the suite cannot fail by chance.

A second test shows that a backlog of events whose handler never awaits still lets the loop
run other callbacks between small batches.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from lambda_destinations import AsyncInvoker, Condition, DeadLetterMessage, ExecutionRecord
from lambda_destinations.testing import VirtualClock

SEED = 20251126
N_EVENTS = 100_000
WARM_UP_EVENTS = 10_000
CONCURRENCY = 100
#: The producer keeps at most HIGH_WATER events in flight and refills once LOW_WATER remain,
#: as a producer with back-pressure does. A quarter of the events wait minutes (virtual) for
#: their retries, so thousands are in flight at any time.
HIGH_WATER, LOW_WATER = 3_000, 1_500
#: Events invoked between two yields of the producer, so that invoking never blocks the loop.
CHUNK = 100
#: Virtual seconds after which a stalled run fails instead of hanging (it needs about 4,000).
STALL_TIMEOUT = 36_000

#: Kinds of event and their weight in the mix.
KINDS = {"instant": 55, "slow": 20, "flaky": 10, "doomed": 10, "too_slow": 5}
#: How each kind must end: condition, approximateInvokeCount, errorType of the last attempt.
EXPECTED: dict[str, tuple[Condition, int, str | None]] = {
    "instant": (Condition.SUCCESS, 1, None),
    "slow": (Condition.SUCCESS, 1, None),
    "flaky": (Condition.SUCCESS, 2, None),
    "doomed": (Condition.RETRIES_EXHAUSTED, 3, "RuntimeError"),
    "too_slow": (Condition.RETRIES_EXHAUSTED, 3, "Sandbox.Timedout"),
}

#: Memory blocks (objects and other small allocations) the run may leave behind: 0.005 per
#: event. A run leaves about 100. An invoker keeping anything per event, even one small
#: object per failed event (about 15,000 of them), fails this by far; so does keeping one
#: request id string per 20 failed events (about 750).
MEMORY_TOLERANCE_BLOCKS = N_EVENTS // 200

Outcome = tuple[str, str, int, str | None]


def event_kinds(count: int, seed: int) -> Iterator[tuple[str, float]]:
    """(kind, seconds the handler sleeps) for *count* events of the mix; the same per seed."""
    rng = random.Random(seed)
    names, weights = list(KINDS), list(KINDS.values())
    for start in range(0, count, 1000):
        for kind in rng.choices(names, weights, k=min(1000, count - start)):
            if kind == "slow":
                yield kind, round(rng.uniform(0.05, 2.5), 3)
            elif kind == "too_slow":
                yield kind, 5.0  # past the 3 s timeout
            else:
                yield kind, 0.0


def expected_outcomes(count: int, seed: int) -> tuple[Counter[Outcome], int]:
    """The outcomes the events of *seed* must have, counted, and the attempts they take."""
    outcomes: Counter[Outcome] = Counter()
    attempts = 0
    for kind, _ in event_kinds(count, seed):
        condition, invoke_count, error_type = EXPECTED[kind]
        outcomes[kind, condition.value, invoke_count, error_type] += 1
        attempts += invoke_count
    return outcomes, attempts


def make_handler() -> Any:
    failed_once: set[str] = set()

    async def handler(event: dict[str, Any], context: Any) -> Any:
        kind = event["k"]
        if kind == "instant":
            return event["n"]
        if kind in ("slow", "too_slow"):
            await asyncio.sleep(event["s"])
            return event["n"]
        if kind == "flaky":
            if context.aws_request_id in failed_once:
                failed_once.discard(context.aws_request_id)
                return event["n"]
            failed_once.add(context.aws_request_id)
        raise RuntimeError(f"event {event['n']} failed")

    return handler


class Ledger:
    """What the receivers saw, as counts, and the events still owed an outcome.

    ``outstanding`` maps the request id of each event accepted and not yet ended to its
    kind; a record pops it, so a second record for an event (or one for an event never
    accepted) finds nothing and counts as unexpected. The plain-function receivers run in
    the invoker's worker threads, so every change is made under one lock.
    """

    def __init__(self, invoker: AsyncInvoker) -> None:
        self.invoker = invoker
        self.outstanding: dict[str, str] = {}
        #: request id -> what arrived of a failure so far: 1 = record, 2 = DLQ message.
        self.failure_parts: dict[str, int] = {}
        self.outcomes: Counter[Outcome] = Counter()
        self.successes = self.failures = self.dead_letters = self.unexpected = 0
        self.success_send_failures = 0
        self.failure_send_failures = 0
        self.dead_letter_send_failures = 0
        self.refill = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._lock = threading.Lock()

    def _ended(self, record: ExecutionRecord) -> None:
        kind = self.outstanding.pop(record.request_id, None)
        if kind is None or f'"k": "{kind}"' not in record.request_payload_json:
            self.unexpected += 1
            return
        error_type = None
        if record.condition is not Condition.SUCCESS:
            for candidate in ("RuntimeError", "Sandbox.Timedout"):
                if f'"errorType": "{candidate}"' in (record.response_payload_json or ""):
                    error_type = candidate
        self.outcomes[
            kind, record.condition.value, record.approximate_invoke_count, error_type
        ] += 1
        if self.invoker.pending <= LOW_WATER:
            self._loop.call_soon_threadsafe(self.refill.set)

    def _failure_part(self, request_id: str, part: int) -> None:
        seen = self.failure_parts.get(request_id, 0)
        if seen & part:
            self.unexpected += 1
        elif seen | part == 3:
            del self.failure_parts[request_id]
        else:
            self.failure_parts[request_id] = seen | part

    def on_success(self, record: ExecutionRecord) -> None:
        with self._lock:
            self.successes += 1
            self._ended(record)
            if self.successes % 13 == 0:
                self.success_send_failures += 1
                raise ConnectionError("on-success queue unavailable")

    async def on_failure(self, record: ExecutionRecord) -> None:
        await asyncio.sleep(0)
        with self._lock:
            self.failures += 1
            self._ended(record)
            self._failure_part(record.request_id, 1)
            if self.failures % 7 == 0:
                self.failure_send_failures += 1
                raise ConnectionError("on-failure queue unavailable")

    def dead_letter(self, message: DeadLetterMessage) -> None:
        with self._lock:
            self.dead_letters += 1
            self._failure_part(message.request_id, 2)
            if self.dead_letters % 11 == 0:
                self.dead_letter_send_failures += 1
                raise ConnectionError("dead-letter queue unavailable")

    def receive_from(self, invoker: AsyncInvoker) -> None:
        invoker.update_config(
            on_success=self.on_success,
            on_failure=self.on_failure,
            dead_letter_queue=self.dead_letter,
        )

    async def produce(self, kinds: Iterator[tuple[str, float]], first: int) -> int:
        """Invoke every event of *kinds*, at most HIGH_WATER in flight, then join; the count."""
        invoker = self.invoker
        accepted = first
        async with asyncio.timeout(STALL_TIMEOUT):  # virtual seconds: the loop's time
            for kind, seconds in kinds:
                payload = {"n": accepted, "k": kind, "s": seconds}
                self.outstanding[invoker.invoke_nowait(payload).request_id] = kind
                accepted += 1
                if accepted % CHUNK == 0:
                    await asyncio.sleep(0)
                    while invoker.pending >= HIGH_WATER:
                        self.refill.clear()
                        await self.refill.wait()
            await invoker.join()
        return accepted - first


class CountingFilter(logging.Filter):
    """Counts the library's log lines by level and stops them there.

    A filter on the logger runs before any handler, pytest's capture included (pytest 9 also
    captures loggers that do not propagate), so the run's 50,000 or so lines are counted
    without being kept in memory.
    """

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[int] = Counter()

    def filter(self, record: logging.LogRecord) -> bool:
        self.counts[record.levelno] += 1
        return False


@pytest.fixture
def counted_logs() -> Iterator[CountingFilter]:
    """The library's log lines, counted and dropped; the logger is restored afterwards."""
    logger = logging.getLogger("lambda_destinations")
    counter = CountingFilter()
    logger.addFilter(counter)
    try:
        yield counter
    finally:
        logger.removeFilter(counter)


def allocated_blocks() -> int:
    """Memory blocks the interpreter holds once every unreachable cycle is collected."""
    gc.collect()
    gc.collect()
    return sys.getallocatedblocks()


async def test_soak_every_event_ends_once_metrics_agree_and_memory_returns(
    virtual_clock: VirtualClock, counted_logs: CountingFilter
) -> None:
    """100,000 mixed events: each ends once as its kind must, and nothing is retained.

    Every accepted request id gets exactly one record (success or failure) and every failure
    exactly one DLQ message; the outcomes per kind are exactly those the mix dictates; the
    metrics and the log lines agree with the receivers' counts; and after join() the
    interpreter holds no more memory blocks than before the run (within 0.005 per event).
    How fast it runs and how long the loop waits are real-time figures: ``make bench``
    reports them.
    """
    expected, expected_attempts = expected_outcomes(N_EVENTS, SEED)
    invoker = AsyncInvoker(
        make_handler(),
        function_name="soak",
        clock=virtual_clock,
        reserved_concurrency=CONCURRENCY,
        timeout=3,
    )
    # Warm-up: worker tasks, caches and free lists reach their working size before measuring.
    warm_up = Ledger(invoker)
    warm_up.receive_from(invoker)
    assert await warm_up.produce(event_kinds(WARM_UP_EVENTS, SEED + 1), 0) == WARM_UP_EVENTS
    assert (warm_up.outstanding, warm_up.unexpected) == ({}, 0)
    ledger = Ledger(invoker)
    ledger.receive_from(invoker)
    del warm_up
    invoker.reset_metrics()
    counted_logs.counts.clear()

    blocks_before = allocated_blocks()
    accepted = await ledger.produce(event_kinds(N_EVENTS, SEED), WARM_UP_EVENTS)
    blocks_after = allocated_blocks()

    assert accepted == N_EVENTS
    # Exactly once: every accepted id ended, none twice, no stranger; each failure in full.
    assert ledger.outstanding == {}
    assert ledger.unexpected == 0
    assert ledger.failure_parts == {}
    assert ledger.successes + ledger.failures == N_EVENTS
    assert ledger.dead_letters == ledger.failures
    assert ledger.outcomes == expected

    metrics = invoker.metrics()
    assert metrics.async_events_received == N_EVENTS
    assert metrics.async_events_dropped == ledger.failures
    assert metrics.invocations == expected_attempts
    assert metrics.errors == expected_attempts - ledger.successes
    assert metrics.async_event_age_ms.sample_count == expected_attempts
    assert metrics.destination_delivery_failures == (
        ledger.success_send_failures + ledger.failure_send_failures
    )
    assert metrics.dead_letter_errors == ledger.dead_letter_send_failures
    assert metrics.throttles > 0
    assert metrics.concurrent_executions == 0
    assert invoker.pending == 0
    # One WARNING per final failure, one ERROR per failed send, nothing else at those levels.
    assert counted_logs.counts == {
        logging.WARNING: ledger.failures,
        logging.ERROR: metrics.destination_delivery_failures + metrics.dead_letter_errors,
    }

    assert blocks_after - blocks_before < MEMORY_TOLERANCE_BLOCKS
    assert await invoker.aclose() == ()


async def test_a_backlog_of_events_whose_handler_never_awaits_lets_the_loop_run_between_turns(
    virtual_clock: VirtualClock,
) -> None:
    """50,000 events queued in line for a handler that never awaits: other callbacks get turns.

    Counted in events, not seconds: a callback that re-schedules itself on every loop turn
    notes how many attempts ran since its last turn. Workers give the loop a turn every few
    dozen events, so no stretch between two turns holds more than a small batch per worker;
    a worker that never yielded would run the whole backlog in one stretch. (The worst
    real-time wait is a figure in ``make bench``.)
    """

    async def instant(event: Any) -> Any:
        return event

    invoker = AsyncInvoker(
        instant, clock=virtual_clock, reserved_concurrency=CONCURRENCY, throttling="fifo"
    )
    await invoker.start()
    for n in range(50_000):  # a burst, as a sync caller or a wave of retries makes one
        invoker.invoke_nowait(n)
    loop = asyncio.get_running_loop()
    longest_stretch = 0
    last_seen = 0
    ticking = True

    def tick() -> None:
        nonlocal longest_stretch, last_seen
        ran = invoker.metrics().invocations
        longest_stretch = max(longest_stretch, ran - last_seen)
        last_seen = ran
        if ticking:
            loop.call_soon(tick)

    loop.call_soon(tick)
    await invoker.join()
    ticking = False
    await asyncio.sleep(0)
    assert await invoker.aclose() == ()
    assert last_seen == 50_000
    assert 0 < longest_stretch <= CONCURRENCY * 64
