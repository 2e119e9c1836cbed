"""VirtualClock: hours of schedule in milliseconds, exactly, on every wait."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest
from lambda_destinations import AsyncInvoker, InMemoryDestination
from lambda_destinations.testing import VirtualClock


async def test_full_schedule_and_six_hour_expiry_take_milliseconds():
    """The 180 s retry schedule and an event ageing out after 6 hours take well under a second."""
    clock = VirtualClock()
    ok, failed = InMemoryDestination(), InMemoryDestination()

    async def handler(event):
        await asyncio.sleep(event["sleep"])
        if event["fail"]:
            raise RuntimeError("down")

    began = time.perf_counter()
    async with AsyncInvoker(
        handler,
        clock=clock,
        on_success=ok,
        on_failure=failed,
        reserved_concurrency=1,
        timeout=8 * 3600,
        aws_limits=False,
    ) as invoker:
        await invoker.invoke({"sleep": 0, "fail": True})
        await invoker.invoke({"sleep": 7 * 3600, "fail": False})
        starved = await invoker.invoke({"sleep": 0, "fail": False})
    wall = time.perf_counter() - began
    assert wall < 5  # generous: the point is hours of virtual time, not a benchmark
    assert clock.elapsed == 7 * 3600
    conditions = {
        r.request_id: (r.condition.value, r.approximate_invoke_count) for r in failed.records
    }
    assert conditions[starved.request_id] == ("EventAgeExceeded", 0)
    # The first event's retry waited behind the 7-hour run and aged out there.
    assert sorted(conditions.values()) == [("EventAgeExceeded", 0), ("EventAgeExceeded", 1)]
    assert len(ok.records) == 1


async def test_record_timestamps_are_on_virtual_time():
    """Record timestamps advance with virtual time from the clock's start."""
    clock = VirtualClock(start=datetime(2026, 1, 1, tzinfo=UTC))
    failed = InMemoryDestination()

    def fail(event):
        raise RuntimeError

    async with AsyncInvoker(fail, clock=clock, on_failure=failed) as invoker:
        await invoker.invoke({})
    assert failed.records[0].to_dict()["timestamp"] == "2026-01-01T00:03:00.000Z"


async def test_handler_asyncio_sleep_is_virtual():
    """A handler's own asyncio.sleep passes in virtual time."""
    clock = VirtualClock()
    ok = InMemoryDestination()

    async def nap(event, context):
        await asyncio.sleep(600)
        return context.get_remaining_time_in_millis()

    began = time.perf_counter()
    async with AsyncInvoker(nap, clock=clock, on_success=ok, timeout=900) as invoker:
        await invoker.invoke({})
    assert time.perf_counter() - began < 5
    assert ok.records[0].response_payload == 300_000
    assert clock.elapsed == 600


async def test_time_stands_still_while_a_sync_handler_runs():
    """Virtual time does not drift while code runs in a thread: attempts land exactly."""
    clock = VirtualClock()
    times = []

    def fail(event):
        times.append(clock.elapsed)
        time.sleep(0.01)
        raise RuntimeError

    async with AsyncInvoker(fail, clock=clock) as invoker:
        await invoker.invoke({})
    assert times == [0, 60, 180]


def test_start_must_be_timezone_aware():
    """A naive start time is refused."""
    with pytest.raises(ValueError, match="timezone-aware"):
        VirtualClock(start=datetime(2026, 1, 1))


async def test_two_clocks_cannot_drive_one_loop():
    """Using two virtual clocks in one loop is refused with a clear message."""
    VirtualClock().monotonic()
    with pytest.raises(RuntimeError, match="another VirtualClock"):
        VirtualClock().monotonic()


async def test_advance_moves_time_by_hand():
    """advance() jumps forward; sleepers due by then wake up."""
    clock = VirtualClock()
    woke = []

    async def sleeper():
        await clock.sleep(100)
        woke.append(clock.elapsed)

    task = asyncio.ensure_future(sleeper())
    await asyncio.sleep(0)
    clock.advance(100)
    await task
    assert woke == [100]
    with pytest.raises(ValueError, match="cannot go back"):
        clock.advance(-1)
