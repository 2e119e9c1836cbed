"""Faults found in review: handlers using asyncio's own tools, races at close, odd receivers."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest
from lambda_destinations import AsyncInvoker, InMemoryDestination, InvokerClosedError
from lambda_destinations.testing import VirtualClock


async def test_a_handler_may_use_asyncio_timeout(invoker_factory, in_memory_destination):
    """asyncio.timeout inside a handler times out the handler's own await, nothing else."""

    async def handler(event):
        try:
            async with asyncio.timeout(0.5):
                await asyncio.sleep(1)
        except TimeoutError:
            return "fallback"
        return "fast"

    invoker = invoker_factory(handler, reserved_concurrency=1, on_success=in_memory_destination)
    await invoker.invoke({})
    await invoker.invoke({})
    await invoker.join(timeout=60)
    assert [r.response_payload for r in in_memory_destination.records] == ["fallback"] * 2


async def test_a_handler_may_use_a_task_group(invoker_factory, in_memory_destination):
    """A TaskGroup whose child fails gives the handler's ExceptionGroup as a function error."""

    async def child(n: int) -> None:
        await asyncio.sleep(n)
        raise ValueError(f"child {n}")

    async def handler(event):
        async with asyncio.TaskGroup() as group:
            group.create_task(child(1))
            group.create_task(asyncio.sleep(5))

    failed = InMemoryDestination()
    invoker = invoker_factory(
        handler, reserved_concurrency=1, maximum_retry_attempts=0, on_failure=failed
    )
    await invoker.invoke({})
    await invoker.invoke({})
    await invoker.join(timeout=60)
    assert [r.response_payload["errorType"] for r in failed.records] == ["ExceptionGroup"] * 2


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


async def test_an_async_receiver_raising_cancelled_error_is_a_failed_delivery(invoker_factory):
    """A receiver that raises CancelledError itself is counted like any failed delivery."""

    async def receiver(record):
        raise asyncio.CancelledError("client aborted")

    invoker = invoker_factory(lambda e: e, on_success=receiver)
    await invoker.invoke({})
    await invoker.join()
    assert invoker.metrics().destination_delivery_failures == 1


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


def test_an_idle_loop_holding_events_is_not_left_behind():
    """Sync code cannot move an invoker whose stopped loop still holds events: a clear error."""

    def fail(event):
        raise RuntimeError("again")

    invoker = AsyncInvoker(fail)
    loop = asyncio.new_event_loop()
    try:

        async def first() -> None:
            invoker.invoke({"n": 1})
            await asyncio.sleep(0.05)

        loop.run_until_complete(first())
        with pytest.raises(RuntimeError, match="not running but still holds 1 event"):
            invoker.invoke({"n": 2})
        assert [e.request_id for e in invoker.pending_events()]
    finally:
        loop.run_until_complete(invoker.aclose(timeout=0))
        loop.close()


def test_invoking_from_a_thread_while_the_loop_shuts_down_fails_cleanly():
    """An invoke handed to a loop that stops before taking it raises instead of hanging."""
    loop = asyncio.new_event_loop()
    runner = threading.Thread(target=loop.run_forever, daemon=True)
    runner.start()
    invoker = AsyncInvoker(lambda e: e)
    asyncio.run_coroutine_threadsafe(invoker.start(), loop).result(10)
    gate, blocking = threading.Event(), threading.Event()

    def block_then_stop() -> None:
        blocking.set()
        gate.wait(10)
        loop.stop()

    loop.call_soon_threadsafe(block_then_stop)
    assert blocking.wait(10)
    outcome: list[object] = []

    def caller() -> None:
        try:
            outcome.append(invoker.invoke({}))
        except InvokerClosedError as e:
            outcome.append(e)

    calling = threading.Thread(target=caller)
    calling.start()
    time.sleep(0.2)  # real time: the caller's hand-off must be queued behind the blocker
    gate.set()
    runner.join(10)
    calling.join(10)
    assert not calling.is_alive()
    assert len(outcome) == 1
    assert isinstance(outcome[0], InvokerClosedError)
    loop.close()
