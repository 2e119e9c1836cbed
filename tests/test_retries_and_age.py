"""Retries on function errors and the maximum event age, as AWS schedules them."""

from __future__ import annotations

import itertools

import tenacity
from lambda_destinations import Condition, ExecutionRecord, FunctionError


async def run_failing_event(invoker_factory, clock, **options):
    """Invoke a handler that always fails, join, and return the response and attempt log.

    Each attempt is logged as (virtual seconds, request id).
    """
    attempts: list[tuple[float, str]] = []

    async def handler(event, context):
        attempts.append((clock.elapsed, context.aws_request_id))
        raise ValueError("boom")

    invoker = invoker_factory(handler, **options)
    response = await invoker.invoke({})
    await invoker.join()
    return response, attempts


async def test_default_schedule_is_attempts_at_0_60_and_180_seconds(
    invoker_factory, virtual_clock, in_memory_destination
):
    """Two retries by default, after 60 s and then 120 s more, all on the same request id."""
    response, attempts = await run_failing_event(
        invoker_factory, virtual_clock, on_failure=in_memory_destination
    )
    assert [t for t, _ in attempts] == [0, 60, 180]
    assert {rid for _, rid in attempts} == {response.request_id}
    record = in_memory_destination.records[0]
    assert record.condition is Condition.RETRIES_EXHAUSTED
    assert record.approximate_invoke_count == 3
    assert record.response_payload["requestId"] == response.request_id


async def test_zero_retries_gives_up_after_one_attempt(
    invoker_factory, virtual_clock, in_memory_destination
):
    """maximum_retry_attempts=0: RetriesExhausted with count 1, no waiting."""
    _, attempts = await run_failing_event(
        invoker_factory, virtual_clock, maximum_retry_attempts=0, on_failure=in_memory_destination
    )
    assert len(attempts) == 1
    assert virtual_clock.elapsed == 0
    assert in_memory_destination.records[0].approximate_invoke_count == 1
    assert in_memory_destination.records[0].condition is Condition.RETRIES_EXHAUSTED


async def test_success_on_a_retry_reports_the_attempt_count(invoker_factory, in_memory_destination):
    """An event that succeeds on its second attempt gives a Success record with count 2."""
    calls = []

    def flaky(event):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first time fails")
        return "ok"

    invoker = invoker_factory(flaky, on_success=in_memory_destination)
    await invoker.invoke({})
    await invoker.join()
    record = in_memory_destination.records[0]
    assert (record.condition, record.approximate_invoke_count, record.response_payload) == (
        Condition.SUCCESS,
        2,
        "ok",
    )


async def test_max_age_60_gives_up_right_after_the_first_failure(
    invoker_factory, virtual_clock, in_memory_destination
):
    """AWS recording: retries 2, max age 60 s -> EventAgeExceeded, count 1, no wait."""
    await run_failing_event(
        invoker_factory,
        virtual_clock,
        maximum_event_age_in_seconds=60,
        on_failure=in_memory_destination,
    )
    record = in_memory_destination.records[0]
    assert (record.condition, record.approximate_invoke_count) == (Condition.EVENT_AGE_EXCEEDED, 1)
    assert virtual_clock.elapsed == 0
    assert record.to_dict()["responseContext"]["functionError"] == "Unhandled"
    assert record.response_payload["errorType"] == "ValueError"


async def test_max_age_90_allows_one_retry_then_gives_up(
    invoker_factory, virtual_clock, in_memory_destination
):
    """AWS recording: retries 2, max age 90 s -> one retry at +60 s, then EventAgeExceeded, count 2."""
    _, attempts = await run_failing_event(
        invoker_factory,
        virtual_clock,
        maximum_event_age_in_seconds=90,
        on_failure=in_memory_destination,
    )
    record = in_memory_destination.records[0]
    assert (record.condition, record.approximate_invoke_count) == (Condition.EVENT_AGE_EXCEEDED, 2)
    assert [t for t, _ in attempts] == [0, 60]
    assert virtual_clock.elapsed == 60


async def test_age_boundary_a_retry_landing_exactly_on_the_max_age_is_not_waited_for(
    invoker_factory, virtual_clock, in_memory_destination
):
    """Max age 180 s: the third attempt would start at exactly 180 s, so AWS gives up at count 2."""
    await run_failing_event(
        invoker_factory,
        virtual_clock,
        maximum_event_age_in_seconds=180,
        on_failure=in_memory_destination,
    )
    assert in_memory_destination.records[0].approximate_invoke_count == 2
    assert in_memory_destination.records[0].condition is Condition.EVENT_AGE_EXCEEDED


async def test_max_age_181_lets_all_three_attempts_run(
    invoker_factory, virtual_clock, in_memory_destination
):
    """One second more than the schedule needs: RetriesExhausted after three attempts."""
    await run_failing_event(
        invoker_factory,
        virtual_clock,
        maximum_event_age_in_seconds=181,
        on_failure=in_memory_destination,
    )
    assert in_memory_destination.records[0].approximate_invoke_count == 3
    assert in_memory_destination.records[0].condition is Condition.RETRIES_EXHAUSTED


async def test_event_aging_out_in_the_queue_never_runs(
    invoker_factory, virtual_clock, in_memory_destination, in_memory_dlq
):
    """An event that waited in the queue past its max age ends with count 0 and no response keys."""
    import asyncio

    async def slow(event):
        await asyncio.sleep(3600)

    invoker = invoker_factory(
        slow,
        reserved_concurrency=1,
        timeout=900,
        maximum_event_age_in_seconds=600,
        on_failure=in_memory_destination,
        dead_letter_queue=in_memory_dlq,
    )
    first = await invoker.invoke({"n": 1})
    second = await invoker.invoke({"n": 2})
    await invoker.join()
    by_id = {r.request_id: r for r in in_memory_destination.records}
    starved = by_id[second.request_id]
    assert (starved.condition, starved.approximate_invoke_count) == (
        Condition.EVENT_AGE_EXCEEDED,
        0,
    )
    assert "responseContext" not in starved.to_dict()
    assert by_id[first.request_id].response_payload["errorType"] == "Sandbox.Timedout"
    letter = next(m for m in in_memory_dlq.messages if m.request_id == second.request_id)
    assert (letter.error_code, letter.error_message) == ("429", "Rate Exceeded.")


async def test_six_hour_age_limit_expires_in_virtual_time(
    invoker_factory, virtual_clock, in_memory_destination
):
    """With a custom wait of 4 hours, the 6-hour limit ends the event after one retry."""
    _, attempts = await run_failing_event(
        invoker_factory,
        virtual_clock,
        retry_wait=tenacity.wait_fixed(4 * 3600),
        on_failure=in_memory_destination,
    )
    assert [t for t, _ in attempts] == [0, 4 * 3600]
    assert in_memory_destination.records[0].condition is Condition.EVENT_AGE_EXCEEDED


async def test_custom_tenacity_wait_sets_the_schedule(invoker_factory, virtual_clock):
    """Any tenacity wait strategy replaces AWS's schedule."""
    _, attempts = await run_failing_event(
        invoker_factory, virtual_clock, retry_wait=tenacity.wait_exponential(multiplier=2)
    )
    assert [t for t, _ in attempts] == [0, 2, 6]


async def test_jittered_wait_stays_within_its_bounds(invoker_factory, virtual_clock):
    """A jittered tenacity wait is honoured, retries landing inside its range."""
    _, attempts = await run_failing_event(
        invoker_factory, virtual_clock, retry_wait=tenacity.wait_random(1, 5)
    )
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(attempts)]
    assert len(gaps) == 2
    assert all(1 <= g <= 5 for g in gaps)


async def test_wait_strategy_sees_the_failed_attempt(invoker_factory):
    """The RetryCallState given to a wait holds the attempt number and a FunctionError outcome."""
    seen = []

    def wait(state: tenacity.RetryCallState) -> float:
        assert state.outcome is not None
        error = state.outcome.exception()
        assert isinstance(error, FunctionError)
        seen.append(
            (state.attempt_number, error.error_type, error.error_message, state.seconds_since_start)
        )
        return 10

    def handler(event):
        raise KeyError("missing")

    invoker = invoker_factory(handler, retry_wait=wait)
    await invoker.invoke({})
    await invoker.join()
    assert seen == [(1, "KeyError", "'missing'", 0), (2, "KeyError", "'missing'", 10)]


async def test_successes_never_build_retry_state(invoker_factory, monkeypatch):
    """The success path never touches tenacity's retry state."""
    built = []
    original = tenacity.RetryCallState.__init__

    def spy(self, *args, **kwargs):
        built.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(tenacity.RetryCallState, "__init__", spy)
    invoker = invoker_factory(lambda event: event)
    for i in range(50):
        await invoker.invoke({"i": i})
    await invoker.join()
    assert built == []


async def test_a_waiting_retry_holds_no_concurrency_slot(
    invoker_factory, virtual_clock, in_memory_destination
):
    """With concurrency 1, a second event runs while the first waits for its retry.

    The second event found the slot busy when it was accepted: AWS backs it off for 1 s.
    """
    runs = []

    async def handler(event):
        runs.append((virtual_clock.elapsed, event["n"]))
        if event["n"] == 1:
            raise RuntimeError("retry me")

    invoker = invoker_factory(
        handler, reserved_concurrency=1, maximum_retry_attempts=1, on_success=in_memory_destination
    )
    await invoker.invoke({"n": 1})
    await invoker.invoke({"n": 2})
    await invoker.join()
    assert runs == [(0, 1), (1, 2), (60, 1)]


async def test_retry_records_keep_the_original_payload_when_the_handler_mutates_it(
    invoker_factory, in_memory_destination
):
    """Each attempt gets a fresh copy of the event; mutations never leak into retries or records."""
    seen = []

    def mutate(event):
        seen.append(dict(event))
        event["mutated"] = True
        raise RuntimeError("again")

    invoker = invoker_factory(mutate, on_failure=in_memory_destination)
    await invoker.invoke({"a": 1})
    await invoker.join()
    assert seen == [{"a": 1}] * 3
    record: ExecutionRecord = in_memory_destination.records[0]
    assert record.request_payload == {"a": 1}
