"""Faults of handlers, receivers and callers: every accepted event still ends once, or is reported.

Complements test_runtime.py (exceptions, timeouts, sys.exit, marshal errors), test_destinations.py
(raising, hanging and failing receivers) and test_lifecycle.py (drain timeout): here are the
faults those leave out, and shutdowns that happen by cancellation rather than by ``aclose()``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lambda_destinations import (
    AsyncInvoker,
    Condition,
    DeadLetterMessage,
    ExecutionRecord,
    InMemoryDestination,
    InvokerClosedError,
    JoinTimeoutError,
)
from lambda_destinations.testing import VirtualClock

from .scripts import run_script


class Abort(BaseException):
    """A BaseException that is neither KeyboardInterrupt nor SystemExit (gevent's Timeout is one)."""


def error_of(record: ExecutionRecord) -> tuple[str, str]:
    payload = record.response_payload
    return payload["errorType"], payload["errorMessage"]


# -- handler faults ---------------------------------------------------------------------------


def sync_raiser(exc_type: type[BaseException]) -> Callable[..., Any]:
    def handler(event):
        if event.get("raise"):
            raise exc_type("stopped")
        return "ran"

    return handler


def async_raiser(exc_type: type[BaseException]) -> Callable[..., Any]:
    async def handler(event):
        await asyncio.sleep(0)
        if event.get("raise"):
            raise exc_type("stopped")
        return "ran"

    return handler


@pytest.mark.parametrize("style", [sync_raiser, async_raiser], ids=["sync", "async"])
@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, Abort])
async def test_base_exceptions_from_a_handler_are_retried_function_errors(
    invoker_factory, virtual_clock, style, exc_type
):
    """KeyboardInterrupt or any BaseException from a handler is a function error, retried.

    The record carries the runtime's error object for it after the usual three attempts at
    +0, +60 and +180 s, and the only worker (concurrency 1) and the invoker live on: the
    event invoked next runs and succeeds.
    """
    ok, failed = InMemoryDestination(), InMemoryDestination()
    invoker = invoker_factory(
        style(exc_type), reserved_concurrency=1, on_success=ok, on_failure=failed
    )
    raised = await invoker.invoke({"raise": True})
    await invoker.join(timeout=600)
    (record,) = failed.records
    assert record.request_id == raised.request_id
    assert (record.condition, record.approximate_invoke_count) == (
        Condition.RETRIES_EXHAUSTED,
        3,
    )
    assert virtual_clock.elapsed == 180
    payload = record.response_payload
    assert list(payload) == ["errorMessage", "errorType", "requestId", "stackTrace"]
    assert error_of(record) == (exc_type.__name__, "stopped")
    assert payload["requestId"] == raised.request_id
    (frame,) = payload["stackTrace"]
    assert frame.endswith(', in handler\n    raise exc_type("stopped")\n')

    after = await invoker.invoke({"raise": False})
    await invoker.join(timeout=600)
    assert [(r.request_id, r.response_payload) for r in ok.records] == [(after.request_id, "ran")]
    metrics = invoker.metrics()
    assert (metrics.invocations, metrics.errors, metrics.async_events_dropped) == (4, 3, 1)


async def test_an_async_handler_ignoring_its_timeout_holds_its_event_until_it_returns(
    invoker_factory, virtual_clock, in_memory_destination
):
    """A handler swallowing every cancellation keeps its event running, reported, never lost.

    Lambda would stop it at its timeout; asyncio can only ask (docs/reliability.md). When it
    finally returns, the attempt still ends as Sandbox.Timedout.
    """
    released = False

    async def stubborn(event):
        while not released:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                continue
        return "released"

    invoker = invoker_factory(
        stubborn, timeout=3, maximum_retry_attempts=0, on_failure=in_memory_destination
    )
    response = await invoker.invoke({})
    with pytest.raises(JoinTimeoutError) as info:
        await invoker.join(timeout=60)
    assert [(p.request_id, p.state) for p in info.value.pending] == [
        (response.request_id, "running")
    ]
    released = True  # the handler returns at its next wake-up
    await invoker.join(timeout=60)
    (record,) = in_memory_destination.records
    assert error_of(record)[0] == "Sandbox.Timedout"


def test_aclose_returns_at_its_drain_timeout_even_if_a_handler_ignores_cancellation(
    tmp_path: Path,
):
    """aclose(timeout=5) returns at +5 s with the event reported, whatever the handler.

    The handler ignores its cancellation, so its event is still running and reported so. Run
    in a child process with a 3 s real-time guard, as a hang is real; the child leaves with
    os._exit because asyncio.run() itself waits for every task, one that ignores cancellation
    included.
    """
    result = run_script(
        tmp_path,
        """
        import asyncio, os, sys, threading
        from lambda_destinations import AsyncInvoker
        from lambda_destinations.testing import VirtualClock

        async def stubborn(event):
            while True:
                try:
                    await asyncio.sleep(10)
                except asyncio.CancelledError:
                    pass

        async def main():
            clock = VirtualClock()
            invoker = AsyncInvoker(stubborn, clock=clock, timeout=3)
            await invoker.invoke({})
            report = await invoker.aclose(timeout=5)
            print(clock.elapsed, [u.state for u in report], flush=True)
            os._exit(0)  # asyncio.run would wait for the stubborn coroutine at its exit

        guard = threading.Timer(3, os._exit, (3,))  # real time: the hang is real
        guard.daemon = True
        guard.start()
        asyncio.run(main())
        """,
    )
    assert (result.returncode, result.stdout.strip()) == (0, "5.0 ['running']"), result.stderr


async def test_hung_sync_handler_threads_never_stop_events_from_ending(invoker_factory):
    """A sync handler blocked past its timeout keeps its thread, yet every event still ends.

    With concurrency 1 the one handler thread stays blocked after the first attempt timed
    out; the next event ends too, one way or another, and join() returns.
    """
    gate = threading.Event()

    def handler(event):
        if event["hang"]:
            gate.wait(10)
        return "ran"

    ok, failed = InMemoryDestination(), InMemoryDestination()
    invoker = invoker_factory(
        handler,
        aws_limits=False,
        timeout=0.1,
        reserved_concurrency=1,
        maximum_retry_attempts=0,
        on_success=ok,
        on_failure=failed,
    )
    try:
        ids = [(await invoker.invoke({"hang": hang})).request_id for hang in (True, False)]
        await invoker.join(timeout=60)
    finally:
        gate.set()
    assert sorted(r.request_id for r in ok.records + failed.records) == sorted(ids)
    assert error_of(failed.records[0])[0] == "Sandbox.Timedout"
    assert invoker.pending == 0


async def test_a_hung_sync_handler_thread_does_not_starve_the_next_event(invoker_factory):
    """After a sync handler times out and stays blocked, the next event still runs, as on AWS."""
    gate = threading.Event()

    def handler(event):
        if event["hang"]:
            gate.wait(10)
        return "ran"

    ok = InMemoryDestination()
    invoker = invoker_factory(
        handler,
        aws_limits=False,
        timeout=0.1,
        reserved_concurrency=1,
        maximum_retry_attempts=0,
        on_success=ok,
    )
    try:
        await invoker.invoke({"hang": True})
        after = await invoker.invoke({"hang": False})
        await invoker.join(timeout=60)
    finally:
        gate.set()
    assert [(r.request_id, r.response_payload) for r in ok.records] == [(after.request_id, "ran")]


# -- receiver faults --------------------------------------------------------------------------

ROLES = ["on_success", "on_failure", "dead_letter_queue"]


def handler_for(role: str) -> Callable[[Any], Any]:
    """A handler whose events reach *role*: it succeeds for on_success and fails otherwise."""

    def handler(event):
        if role == "on_success":
            return event["n"]
        raise RuntimeError(f"event {event['n']} failed")

    return handler


def request_id_of(item: ExecutionRecord | DeadLetterMessage) -> str:
    return item.request_id


@pytest.mark.parametrize("role", ROLES)
async def test_a_slow_receiver_delays_no_other_delivery_and_holds_no_slot(
    invoker_factory, virtual_clock, role
):
    """A receiver taking 20 s over one delivery delays neither the others nor the next events.

    With one concurrency slot, five events run at +0 s one after the other; the four
    deliveries not held up arrive at +0 s, the slow one at +20 s (within the 30 s delivery
    timeout), and join() waits for it. Nothing counts as a failed delivery.
    """
    arrivals: list[tuple[str, float]] = []

    async def receiver(item):
        if not arrivals:
            arrivals.append(("slow starts", virtual_clock.elapsed))
            await asyncio.sleep(20)
        arrivals.append((request_id_of(item), virtual_clock.elapsed))

    started: list[float] = []

    def handler(event):
        started.append(virtual_clock.elapsed)
        return handler_for(role)(event)

    invoker = invoker_factory(
        handler,
        reserved_concurrency=1,
        maximum_retry_attempts=0,
        throttling="fifo",  # in line behind one slot: each starts as soon as it is free
        **{role: receiver},
    )
    ids = [(await invoker.invoke({"n": n})).request_id for n in range(5)]
    await invoker.join()
    assert started == [0, 0, 0, 0, 0]
    assert arrivals == [
        ("slow starts", 0),
        *((request_id, 0) for request_id in ids[1:]),
        (ids[0], 20),
    ]
    assert virtual_clock.elapsed == 20
    metrics = invoker.metrics()
    assert (metrics.destination_delivery_failures, metrics.dead_letter_errors) == (0, 0)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("style", ["sync", "async"])
async def test_a_receiver_failing_then_recovering_changes_no_outcome_and_counts_each_failure(
    invoker_factory, caplog, role, style
):
    """A receiver whose first 3 sends raise: each event still hands it exactly one item.

    The 3 failures are counted exactly (DestinationDeliveryFailures, or DeadLetterErrors for
    the DLQ) and logged at ERROR with their request ids; the 7 later items are delivered;
    every event ends with the outcome its handler gave.
    """
    calls: list[str] = []
    delivered: list[str] = []

    def receive(item):
        calls.append(request_id_of(item))
        if len(calls) <= 3:
            raise ConnectionError(f"send {len(calls)} refused")
        delivered.append(request_id_of(item))

    async def receive_async(item):
        await asyncio.sleep(1)
        receive(item)

    receiver = receive if style == "sync" else receive_async
    invoker = invoker_factory(handler_for(role), maximum_retry_attempts=0, **{role: receiver})
    with caplog.at_level(logging.ERROR, logger="lambda_destinations"):
        ids = [(await invoker.invoke({"n": n})).request_id for n in range(10)]
        await invoker.join()
    assert sorted(calls) == sorted(ids)
    assert sorted(delivered) == sorted(calls[3:])
    metrics = invoker.metrics()
    failures = (metrics.destination_delivery_failures, metrics.dead_letter_errors)
    assert failures == ((0, 3) if role == "dead_letter_queue" else (3, 0))
    assert metrics.async_events_dropped == (0 if role == "on_success" else 10)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 3
    for request_id, line in zip(calls[:3], errors, strict=True):
        assert f"{role} delivery of event {request_id} failed" in line.getMessage()
    assert invoker.pending == 0


@pytest.mark.parametrize(
    ("role", "style"),
    [("on_success", "sync"), ("dead_letter_queue", "sync"), ("on_failure", "async")],
)
async def test_a_receiver_raising_a_base_exception_is_a_failed_delivery(
    invoker_factory, role, style
):
    """A receiver raising a BaseException is a failed delivery like any other, counted.

    The event still ends, the only worker survives (the next event ends too), and the
    failure counts in DestinationDeliveryFailures or DeadLetterErrors.
    """

    def receive(item):
        raise Abort("receiver aborted")

    async def receive_async(item):
        await asyncio.sleep(0)
        raise Abort("receiver aborted")

    invoker = invoker_factory(
        handler_for(role),
        reserved_concurrency=1,
        maximum_retry_attempts=0,
        **{role: receive if style == "sync" else receive_async},
    )
    await invoker.invoke({"n": 1})
    await invoker.invoke({"n": 2})
    await invoker.join(timeout=60)
    metrics = invoker.metrics()
    assert invoker.pending == 0
    assert metrics.destination_delivery_failures + metrics.dead_letter_errors == 2


# -- configuration code ---------------------------------------------------------------------


def broken_wait(state: Any) -> float:
    raise RuntimeError("wait strategy broke")


@pytest.mark.parametrize(
    ("wait", "cause"),
    [
        (broken_wait, "wait strategy broke"),
        (lambda state: float("nan"), "retry_wait returned nan"),
        (lambda state: -1.0, "retry_wait returned -1.0"),
    ],
    ids=["raises", "nan", "negative"],
)
async def test_a_broken_retry_wait_strategy_ends_the_event_once_and_logs_why(
    invoker_factory, in_memory_dlq, caplog, wait, cause
):
    """A retry_wait that raises or returns nonsense: the event ends once, failed, and logged.

    It gets one failure record and one DLQ message instead of a retry; the ERROR line names
    the request id and carries the cause; the worker lives on (concurrency 1, next event runs).
    """
    calls: list[bool] = []

    def handler(event):
        calls.append(event["fail"])
        if event["fail"]:
            raise ValueError("boom")
        return "ran"

    ok, failed = InMemoryDestination(), InMemoryDestination()
    invoker = invoker_factory(
        handler,
        retry_wait=wait,
        reserved_concurrency=1,
        on_success=ok,
        on_failure=failed,
        dead_letter_queue=in_memory_dlq,
    )
    with caplog.at_level(logging.ERROR, logger="lambda_destinations"):
        broken = await invoker.invoke({"fail": True})
        after = await invoker.invoke({"fail": False})
        await invoker.join(timeout=600)
    assert [(r.request_id, r.condition, r.approximate_invoke_count) for r in failed.records] == [
        (broken.request_id, Condition.RETRIES_EXHAUSTED, 1)
    ]
    assert failed.records[0].response_payload["errorType"] == "ValueError"
    assert [m.request_id for m in in_memory_dlq.messages] == [broken.request_id]
    assert [r.request_id for r in ok.records] == [after.request_id]
    assert calls == [True, False]
    assert f"event {broken.request_id}" in caplog.text
    assert cause in caplog.text


async def test_a_metrics_hook_raising_a_base_exception_changes_nothing(invoker_factory):
    """A hook raising a BaseException is logged like any failing hook; the event runs."""

    def hook(metric):
        raise Abort(f"hook aborted on {metric.name}")

    ok = InMemoryDestination()
    invoker = invoker_factory(lambda event: "ran", metrics_hooks=[hook], on_success=ok)
    response = await invoker.invoke({})
    await invoker.join(timeout=60)
    assert [r.request_id for r in ok.records] == [response.request_id]


# -- shutdown ---------------------------------------------------------------------------------


async def fail_slow_or_quick(event):
    if event["k"] == "fail":
        raise RuntimeError("downstream unavailable")
    if event["k"] == "slow":
        await asyncio.sleep(100)
    return event["k"]


class Owner:
    """A task owning an invoker in ``async with``, with one event in each state at +1 s.

    With concurrency 1: "fail" failed at +0 s and waits for its retry at +60 s, "slow" runs
    until +100 s, "quick" is queued behind it.
    """

    def __init__(self, invoker: AsyncInvoker) -> None:
        self.invoker = invoker
        self.ids: dict[str, str] = {}
        self._ready = asyncio.Event()
        self.task = asyncio.create_task(self._own())

    async def _own(self) -> None:
        async with self.invoker:
            for kind in ("fail", "slow", "quick"):
                self.ids[kind] = (await self.invoker.invoke({"k": kind})).request_id
            self._ready.set()
            await asyncio.Event().wait()

    async def started(self) -> None:
        await self._ready.wait()
        await asyncio.sleep(1)

    async def cancelled(self) -> None:
        with pytest.raises(asyncio.CancelledError):
            await self.task
        assert self.task.cancelled()

    def states(self) -> set[tuple[str, str, int]]:
        kinds = {request_id: kind for kind, request_id in self.ids.items()}
        return {
            (kinds[ev.request_id], ev.state, ev.attempts) for ev in self.invoker.pending_events()
        }


ALL_THREE_STATES = {("fail", "waiting to retry", 1), ("slow", "running", 1), ("quick", "queued", 0)}


def make_owned_invoker(
    clock: VirtualClock, ok: InMemoryDestination, failed: InMemoryDestination, **options: Any
) -> AsyncInvoker:
    return AsyncInvoker(
        fail_slow_or_quick,
        clock=clock,
        reserved_concurrency=1,
        timeout=900,
        on_success=ok,
        on_failure=failed,
        throttling="fifo",  # "quick" waits in line behind "slow", in the queued state
        **options,
    )


async def test_cancelling_the_owner_task_drains_every_event_before_the_cancellation_propagates(
    virtual_clock,
):
    """Cancelling the task in `async with` leaves the block as usual: it drains everything.

    Without a drain timeout, the queued, running and waiting events all reach their outcome
    once (the waiting one after its full retry schedule), then the task ends cancelled.
    """
    ok, failed = InMemoryDestination(), InMemoryDestination()
    owner = Owner(make_owned_invoker(virtual_clock, ok, failed))
    await owner.started()
    assert owner.states() == ALL_THREE_STATES
    owner.task.cancel()
    await owner.cancelled()
    assert sorted((r.request_id, r.response_payload) for r in ok.records) == sorted(
        [(owner.ids["slow"], "slow"), (owner.ids["quick"], "quick")]
    )
    assert [(r.request_id, r.condition, r.approximate_invoke_count) for r in failed.records] == [
        (owner.ids["fail"], Condition.RETRIES_EXHAUSTED, 3)
    ]
    # fail: +0 s, retry due at +60 s queued behind quick; slow ends at +100 s; quick, then
    # fail's second attempt at +100 s; its last attempt 120 s later.
    assert virtual_clock.elapsed == 220
    assert owner.invoker.pending_events() == ()
    assert await owner.invoker.aclose() == ()


async def test_cancelled_owner_with_a_drain_timeout_reports_what_could_not_finish(
    virtual_clock, caplog
):
    """With drain_timeout=10, the cancelled owner's events left after 10 s are reported.

    Each is logged at WARNING with its request id and state and returned by a second
    aclose(); pending_events() still lists them; none of them produces anything later.
    """
    ok, failed = InMemoryDestination(), InMemoryDestination()
    owner = Owner(make_owned_invoker(virtual_clock, ok, failed, drain_timeout=10))
    await owner.started()
    with caplog.at_level(logging.WARNING, logger="lambda_destinations"):
        owner.task.cancel()
        await owner.cancelled()
    assert virtual_clock.elapsed == 11
    invoker = owner.invoker
    report = await invoker.aclose()
    assert {(u.request_id, u.state, u.attempts) for u in report} == {
        (owner.ids[kind], state, attempts) for kind, state, attempts in ALL_THREE_STATES
    }
    assert {u.payload_json for u in report} == {
        '{"k": "fail"}',
        '{"k": "slow"}',
        '{"k": "quick"}',
    }
    assert await invoker.aclose() == report
    assert invoker.pending_events() == report
    for unfinished in report:
        assert (
            f"closed before event {unfinished.request_id} ended ({unfinished.state} after "
            f"{unfinished.attempts} attempt(s)); payload: {unfinished.payload_json}"
        ) in caplog.text
    await asyncio.sleep(1000)
    assert (ok.records, failed.records) == ([], [])
    assert invoker.metrics().invocations == 2


async def test_a_second_cancellation_cuts_the_drain_short_and_reports_the_rest(
    virtual_clock, caplog
):
    """Cancelling the owner again while it drains stops the drain and reports what is left."""
    ok, failed = InMemoryDestination(), InMemoryDestination()
    owner = Owner(make_owned_invoker(virtual_clock, ok, failed))
    await owner.started()
    owner.task.cancel()
    await asyncio.sleep(5)
    assert owner.states() == ALL_THREE_STATES
    with caplog.at_level(logging.WARNING, logger="lambda_destinations"):
        owner.task.cancel()
        await owner.cancelled()
    assert virtual_clock.elapsed == 6
    report = await owner.invoker.aclose()
    assert {u.request_id for u in report} == set(owner.ids.values())
    for request_id in owner.ids.values():
        assert f"closed before event {request_id} ended" in caplog.text
    assert (ok.records, failed.records) == ([], [])


async def test_aclose_cancelled_by_its_caller_still_closes_and_reports(invoker_factory, caplog):
    """aclose() under its caller's timeout: the drain stops, the invoker closes, events reported."""

    def fail(event):
        raise RuntimeError("down")

    invoker = invoker_factory(fail)
    waiting = await invoker.invoke({"w": 1})
    with (
        caplog.at_level(logging.WARNING, logger="lambda_destinations"),
        pytest.raises(TimeoutError),
    ):
        async with asyncio.timeout(30):
            await invoker.aclose()
    (unfinished,) = await invoker.aclose()
    assert (unfinished.request_id, unfinished.state) == (waiting.request_id, "waiting to retry")
    assert f"closed before event {waiting.request_id} ended" in caplog.text
    with pytest.raises(InvokerClosedError):
        await invoker.invoke({})


async def test_a_sync_handler_still_running_at_close_is_reported_and_its_late_result_ignored(
    invoker_factory, in_memory_destination
):
    """A sync handler's thread cannot be stopped: at close its event is reported as running.

    When the thread finishes later, its result is dropped: no record, no second outcome.
    """
    started, release, finished = threading.Event(), threading.Event(), threading.Event()

    def blocking(event):
        started.set()
        release.wait(10)
        finished.set()
        return "too late"

    invoker = invoker_factory(blocking, timeout=900, on_success=in_memory_destination)
    response = await invoker.invoke({})
    assert await asyncio.to_thread(started.wait, 10)
    (unfinished,) = await invoker.aclose(timeout=0)
    assert (unfinished.request_id, unfinished.state) == (response.request_id, "running")
    release.set()
    assert await asyncio.to_thread(finished.wait, 10)
    await asyncio.sleep(1)
    assert in_memory_destination.records == []
    assert invoker.pending_events() == (unfinished,)
    assert (invoker.metrics().invocations, invoker.metrics().errors) == (1, 0)


async def test_a_delivery_cut_off_by_close_is_a_failed_delivery(invoker_factory, caplog):
    """A delivery still in progress when the drain timeout ends is counted and logged."""

    async def slow_destination(record):
        await asyncio.sleep(60)

    invoker = invoker_factory(lambda event: "done", on_success=slow_destination)
    response = await invoker.invoke({})
    await asyncio.sleep(1)
    assert invoker.pending == 0  # the event has ended; its record is on its way
    with caplog.at_level(logging.WARNING, logger="lambda_destinations"):
        assert await invoker.aclose(timeout=5) == ()
    assert invoker.metrics().destination_delivery_failures == 1
    assert response.request_id in caplog.text


def test_interpreter_exit_with_a_drain_timeout_reports_unfinished_events(tmp_path: Path):
    """A script exiting with an event waiting to retry drains up to drain_timeout, then reports.

    The exit is not held up by the 60 s retry wait: after the 1 s drain timeout the event is
    logged at WARNING with its request id, state and payload. Real time: on a virtual clock
    that nothing holds, the background loop could run all the retries before the exit began.
    """
    result = run_script(
        tmp_path,
        """
        from lambda_destinations import AsyncInvoker, FunctionError

        def fail(event):
            raise RuntimeError("down")

        invoker = AsyncInvoker(fail, drain_timeout=1)
        print(invoker.invoke_nowait({"order": 7}).request_id)
        try:
            invoker.join_sync(raise_on_error=True)  # the first attempt failed: a retry is due
        except FunctionError:
            pass
        """,
    )
    assert result.returncode == 0, result.stderr
    request_id = result.stdout.strip()
    assert (
        f"closed before event {request_id} ended (waiting to retry after 1 attempt(s)); "
        'payload: {"order": 7}'
    ) in result.stderr


# -- races at close, and receivers raising CancelledError -------------------------------------


async def test_a_timeout_and_aclose_in_the_same_turn_leave_the_event_reported_only():
    """When the drain ends as the deadline strikes, the event is reported and ends no more."""
    clock = VirtualClock()
    failed = InMemoryDestination()

    async def handler(event):
        await asyncio.sleep(10)

    invoker = await AsyncInvoker(handler, on_failure=failed, clock=clock, timeout=3).start()
    response = invoker.invoke({})
    await clock.sleep(1)
    report = await asyncio.wait_for(invoker.aclose(timeout=2), 60)
    assert [(u.request_id, u.state) for u in report] == [(response.request_id, "running")]
    await clock.sleep(600)
    assert failed.records == []


async def test_two_acloses_at_once_report_each_event_once(invoker_factory, caplog):
    """A second aclose() while the first drains shares its report; each event is logged once."""

    async def slow(event):
        await asyncio.sleep(100)

    invoker = invoker_factory(slow, timeout=900)
    response = await invoker.invoke({})
    with caplog.at_level(logging.WARNING, logger="lambda_destinations"):
        first, second = await asyncio.gather(invoker.aclose(timeout=5), invoker.aclose())
    assert first == second
    assert [u.request_id for u in first] == [response.request_id]
    assert caplog.text.count(response.request_id) == 1


async def test_an_async_receiver_raising_cancelled_error_is_a_failed_delivery(invoker_factory):
    """A receiver that raises CancelledError itself is counted like any failed delivery."""

    async def receiver(record):
        raise asyncio.CancelledError("client aborted")

    invoker = invoker_factory(lambda e: e, on_success=receiver)
    await invoker.invoke({})
    await invoker.join()
    assert invoker.metrics().destination_delivery_failures == 1
