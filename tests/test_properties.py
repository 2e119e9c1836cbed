"""Property tests: invariants of the asynchronous invocation model under generated workloads.

Each example drives an `AsyncInvoker` on a fresh event loop and a fresh `VirtualClock` with a
generated workload: events whose attempts follow a script (succeed, raise or time out),
random retry and age settings, an optional reserved concurrency and optional destinations.
The handler logs every attempt by ``context.aws_request_id``; the invariants compare what the
destinations, the DLQ and the metrics report with what actually ran.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from hypothesis import example, given, settings
from hypothesis import strategies as st
from lambda_destinations import (
    AsyncInvoker,
    Condition,
    DeadLetterMessage,
    ExecutionRecord,
    InMemoryDeadLetterQueue,
    InMemoryDestination,
    MetricsSnapshot,
)
from lambda_destinations.testing import VirtualClock

Outcome = Literal["succeed", "raise", "timeout"]

START = datetime(2025, 11, 1, tzinfo=UTC)
PROPERTY_SETTINGS = settings(max_examples=100, deadline=None)

#: Maximum ages on and just past the look-ahead's boundaries (60 s, 180 s, plus attempt times).
AGE_EDGES = [60, 61, 63, 64, 90, 91, 120, 121, 180, 181, 182, 183, 186, 187, 189, 190, 21600]

OUTCOMES: list[Outcome] = ["succeed", "raise", "timeout"]
outcomes = st.sampled_from(OUTCOMES)
#: One script per event: what its 1st, 2nd and 3rd attempt do.
scripts = st.lists(st.lists(outcomes, min_size=3, max_size=3), min_size=1, max_size=8)


@dataclass(frozen=True)
class Workload:
    scripts: list[list[Outcome]]
    maximum_retry_attempts: int
    maximum_event_age_in_seconds: int
    reserved_concurrency: int | None
    timeout: int
    on_success: bool
    on_failure: bool
    dead_letter_queue: bool


@st.composite
def workloads(
    draw: st.DrawFn, *, concurrency: st.SearchStrategy[int | None] | None = None
) -> Workload:
    return Workload(
        scripts=draw(scripts),
        maximum_retry_attempts=draw(st.integers(0, 2)),
        maximum_event_age_in_seconds=draw(st.sampled_from(AGE_EDGES) | st.integers(60, 21600)),
        reserved_concurrency=draw(
            concurrency if concurrency is not None else st.none() | st.integers(1, 5)
        ),
        # Long timeouts make events wait long enough for a slot to age out in the queue.
        timeout=draw(st.sampled_from([1, 3, 30, 120, 900])),
        on_success=draw(st.booleans()),
        on_failure=draw(st.booleans()),
        dead_letter_queue=draw(st.booleans()),
    )


@dataclass
class Run:
    """What one workload did: every attempt, every delivery, the final metrics."""

    workload: Workload
    request_ids: list[str]
    #: Attempt start times (virtual seconds) per request id, as the handler saw them.
    attempts: dict[str, list[float]]
    peak_concurrency: int
    ok: InMemoryDestination | None
    failed: InMemoryDestination | None
    dlq: InMemoryDeadLetterQueue | None
    metrics: MetricsSnapshot
    pending_after_join: int
    extra_ok: InMemoryDestination | None = None
    extra_failed: InMemoryDestination | None = None
    payloads: dict[str, str] = field(default_factory=dict)

    def script(self, request_id: str) -> list[Outcome]:
        return self.workload.scripts[self.request_ids.index(request_id)]

    def ran(self, request_id: str) -> list[float]:
        return self.attempts.get(request_id, [])

    def succeeded(self, request_id: str) -> bool:
        ran = self.ran(request_id)
        return bool(ran) and self.script(request_id)[len(ran) - 1] == "succeed"


def make_handler(clock: VirtualClock, attempts: dict[str, list[float]], peak: list[int]):
    running = 0

    async def handler(event: dict[str, Any], context: Any) -> Any:
        nonlocal running
        ran = attempts[context.aws_request_id]
        ran.append(clock.elapsed)
        script = event["script"]
        outcome = script[len(ran) - 1] if len(ran) <= len(script) else "raise"
        running += 1
        peak[0] = max(peak[0], running)
        try:
            if outcome == "succeed":
                return {"i": event["i"], "attempt": len(ran)}
            if outcome == "timeout":
                await asyncio.sleep(3600)
            raise RuntimeError(f"event {event['i']} attempt {len(ran)} failed")
        finally:
            running -= 1

    return handler


async def scenario(w: Workload, *, change: tuple[float, int] | None = None) -> Run:
    """Run *w*; with *change* = (at, retries), swap the destinations and retries at +at s."""
    clock = VirtualClock(start=START)
    attempts: dict[str, list[float]] = defaultdict(list)
    peak = [0]
    ok = InMemoryDestination() if w.on_success else None
    failed = InMemoryDestination() if w.on_failure else None
    dlq = InMemoryDeadLetterQueue() if w.dead_letter_queue else None
    invoker = AsyncInvoker(
        make_handler(clock, attempts, peak),
        function_name="workload",
        clock=clock,
        maximum_retry_attempts=w.maximum_retry_attempts,
        maximum_event_age_in_seconds=w.maximum_event_age_in_seconds,
        reserved_concurrency=w.reserved_concurrency,
        timeout=w.timeout,
        on_success=ok,
        on_failure=failed,
        dead_letter_queue=dlq,
    )
    extra_ok = extra_failed = None
    async with invoker:
        request_ids = []
        payloads = {}
        for i, script in enumerate(w.scripts):
            payload = {"i": i, "script": script}
            request_ids.append((await invoker.invoke(payload)).request_id)
            payloads[request_ids[-1]] = json.dumps(payload)
        if change is not None:
            at, retries = change
            await asyncio.sleep(at)
            extra_ok, extra_failed = InMemoryDestination(), InMemoryDestination()
            invoker.update_config(
                maximum_retry_attempts=retries, on_success=extra_ok, on_failure=extra_failed
            )
        await invoker.join()
        pending = invoker.pending
        metrics = invoker.metrics()
    return Run(
        workload=w,
        request_ids=request_ids,
        attempts=dict(attempts),
        peak_concurrency=peak[0],
        ok=ok,
        failed=failed,
        dlq=dlq,
        metrics=metrics,
        pending_after_join=pending,
        extra_ok=extra_ok,
        extra_failed=extra_failed,
        payloads=payloads,
    )


def error_message(run: Run, request_id: str) -> str:
    """The message of the last failed attempt of *request_id*, as the runtime words it."""
    count = len(run.ran(request_id))
    if run.script(request_id)[count - 1] == "timeout":
        seconds = run.workload.timeout
        return f"RequestId: {request_id} Error: Task timed out after {seconds:.2f} seconds"
    return f"event {run.request_ids.index(request_id)} attempt {count} failed"


def check_record(run: Run, record: ExecutionRecord) -> None:
    """One record agrees with what ran for its event."""
    rid = record.request_id
    count = len(run.ran(rid))
    assert record.approximate_invoke_count == count
    assert record.request_payload_json == run.payloads[rid]
    assert record.request_context.function_arn.endswith(":function:workload:$LATEST")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record.to_dict()["timestamp"])
    if record.condition is Condition.SUCCESS:
        assert record.response_payload == {"i": run.request_ids.index(rid), "attempt": count}
        return
    assert record.condition in (Condition.RETRIES_EXHAUSTED, Condition.EVENT_AGE_EXCEEDED)
    if count == 0:
        assert record.condition is Condition.EVENT_AGE_EXCEEDED
        assert "responseContext" not in record.to_dict()
        return
    payload = record.response_payload
    assert payload["errorMessage"] == error_message(run, rid)
    assert record.to_dict()["responseContext"]["functionError"] == "Unhandled"


def check_invariants(run: Run) -> None:
    w = run.workload
    ids = run.request_ids
    assert run.pending_after_join == 0
    assert len(set(ids)) == len(ids)
    assert set(run.attempts) <= set(ids)
    limit = w.maximum_retry_attempts + 1
    successes = {rid for rid in ids if run.succeeded(rid)}
    failures = set(ids) - successes

    for rid in ids:
        ran = run.ran(rid)
        # Never more attempts than retries + 1; never an attempt after a success.
        assert len(ran) <= limit
        script = run.script(rid)
        assert "succeed" not in script[: max(len(ran) - 1, 0)]
        # An attempt never starts at or past the maximum age, measured from acceptance.
        assert all(t < w.maximum_event_age_in_seconds for t in ran)

    if w.reserved_concurrency is not None:
        assert run.peak_concurrency <= w.reserved_concurrency

    if run.ok is not None:
        got = [r.request_id for r in run.ok.records]
        assert sorted(got) == sorted(successes)
        assert all(r.condition is Condition.SUCCESS for r in run.ok.records)
    if run.failed is not None:
        got = [r.request_id for r in run.failed.records]
        assert sorted(got) == sorted(failures)
    for destination in (run.ok, run.failed):
        for record in destination.records if destination is not None else ():
            check_record(run, record)
    if run.failed is not None:
        for record in run.failed.records:
            if record.condition is Condition.RETRIES_EXHAUSTED:
                assert record.approximate_invoke_count == limit
            else:
                assert record.approximate_invoke_count < limit
    if run.dlq is not None:
        got = [m.request_id for m in run.dlq.messages]
        assert sorted(got) == sorted(failures)
        for message in run.dlq.messages:
            rid = message.request_id
            if run.ran(rid):
                expected = DeadLetterMessage.build(
                    run.payloads[rid], rid, "200", error_message(run, rid)
                )
            else:
                expected = DeadLetterMessage.build(run.payloads[rid], rid, "429", "Rate Exceeded.")
            assert message == expected

    total = sum(len(ran) for ran in run.attempts.values())
    failed_attempts = total - len(successes)
    m = run.metrics
    assert m.async_events_received == len(ids)
    assert m.invocations == total
    assert m.errors == failed_attempts
    assert m.async_events_dropped == len(failures)
    assert m.concurrent_executions == 0
    assert m.destination_delivery_failures == 0
    assert m.dead_letter_errors == 0
    if w.reserved_concurrency is None:
        assert m.throttles == 0


@PROPERTY_SETTINGS
@given(workloads())
def test_every_event_ends_once_and_destinations_see_exactly_what_ran(w: Workload) -> None:
    """Each event reaches one outcome; destinations, DLQ and metrics agree with what ran."""
    check_invariants(asyncio.run(scenario(w)))


@PROPERTY_SETTINGS
@given(workloads(concurrency=st.sampled_from([1, 2])))
def test_invariants_hold_when_events_queue_for_a_small_concurrency(w: Workload) -> None:
    """With 1 or 2 slots, events wait (and may age out) in the queue; the invariants still hold."""
    check_invariants(asyncio.run(scenario(w)))


def aws_schedule(script: list[Outcome], retries: int, max_age: int, timeout: int):
    """What AWS does to one event that never waits for a slot.

    Returns (condition, attempt start times, decision time): attempts are retried 60 s and then
    120 s after they fail, and a retry that would start at or past the max age is not waited
    for (AWS's look-ahead).
    """
    t = 0
    starts: list[int] = []
    for n in range(1, retries + 2):
        starts.append(t)
        outcome = script[n - 1]
        if outcome == "succeed":
            return Condition.SUCCESS, starts, t
        t += timeout if outcome == "timeout" else 0
        if n > retries:
            return Condition.RETRIES_EXHAUSTED, starts, t
        wait = 60 if n == 1 else 120
        if t + wait >= max_age:
            return Condition.EVENT_AGE_EXCEEDED, starts, t
        t += wait
    raise AssertionError("unreachable: the last attempt always decides")


@PROPERTY_SETTINGS
@example(
    Workload(
        scripts=[["raise", "raise", "raise"], ["timeout", "timeout", "succeed"]],
        maximum_retry_attempts=2,
        maximum_event_age_in_seconds=21600,
        reserved_concurrency=None,
        timeout=3,
        on_success=True,
        on_failure=True,
        dead_letter_queue=True,
    )
)
@given(
    workloads(concurrency=st.none()).map(
        lambda w: Workload(**{**w.__dict__, "on_success": True, "on_failure": True})
    )
)
def test_without_queueing_each_event_follows_the_aws_schedule_exactly(w: Workload) -> None:
    """Unthrottled, every event's attempts, condition, count and timestamp match AWS's schedule."""
    run = asyncio.run(scenario(w))
    check_invariants(run)
    assert run.ok is not None
    assert run.failed is not None
    records = {r.request_id: r for r in run.ok.records + run.failed.records}
    for rid, script in zip(run.request_ids, w.scripts, strict=True):
        condition, starts, decided = aws_schedule(
            script, w.maximum_retry_attempts, w.maximum_event_age_in_seconds, w.timeout
        )
        assert run.ran(rid) == starts
        record = records[rid]
        assert (record.condition, record.approximate_invoke_count) == (condition, len(starts))
        assert record.timestamp == START + timedelta(seconds=decided)


@PROPERTY_SETTINGS
@given(
    workloads().map(lambda w: Workload(**{**w.__dict__, "on_success": True, "on_failure": True})),
    st.integers(0, 400).map(lambda s: s + 0.5),
    st.integers(0, 2),
)
def test_config_changes_mid_flight_lose_and_duplicate_nothing(
    w: Workload, change_at: float, new_retries: int
) -> None:
    """Swapping destinations and retries mid-flight: each event still ends exactly once.

    Records decided before the change go to the old destinations, later ones to the new; no
    event gets more attempts than the larger retry setting allows.
    """
    run = asyncio.run(scenario(w, change=(change_at, new_retries)))
    assert run.ok is not None
    assert run.failed is not None
    assert run.extra_ok is not None
    assert run.extra_failed is not None
    assert run.pending_after_join == 0
    change = START + timedelta(seconds=change_at)
    before = run.ok.records + run.failed.records
    after = run.extra_ok.records + run.extra_failed.records
    assert all(r.timestamp < change for r in before)
    assert all(r.timestamp > change for r in after)
    ended = [r.request_id for r in before + after]
    assert sorted(ended) == sorted(run.request_ids)
    limit = max(w.maximum_retry_attempts, new_retries) + 1
    for record in before + after:
        ran = run.ran(record.request_id)
        assert len(ran) <= limit
        check_record(run, record)
    successes = {r.request_id for r in run.ok.records + run.extra_ok.records}
    assert successes == {rid for rid in run.request_ids if run.succeeded(rid)}
    m = run.metrics
    assert m.async_events_received == len(run.request_ids)
    assert m.invocations == sum(len(ran) for ran in run.attempts.values())
    assert m.async_events_dropped == len(run.request_ids) - len(successes)
