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
    # The 7-hour event found the slot busy at +0 s and ran after AWS's 1 s throttle backoff.
    assert clock.elapsed == 7 * 3600 + 1
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


async def test_an_idle_loop_stays_at_the_time_the_last_attempt_ended():
    """Once join() returns, nothing left of a finished attempt moves virtual time on.

    The loop then waits for a wake-up from another thread. A timer kept for the last attempt's
    timeout (3 s after it started) would make virtual time jump to 183 first.
    """
    import threading

    clock = VirtualClock()
    loop = asyncio.get_running_loop()

    def fail(event):
        raise RuntimeError

    async with AsyncInvoker(fail, clock=clock) as invoker:
        await invoker.invoke({})
        await invoker.join()
        woken = loop.create_future()
        threading.Timer(0.05, loop.call_soon_threadsafe, (woken.set_result, None)).start()
        await woken
        assert clock.elapsed == 180


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
    """advance() moves monotonic() and now() forward at once, even with no timer involved."""
    clock = VirtualClock(start=datetime(2026, 1, 1, tzinfo=UTC))
    before = clock.monotonic()
    clock.advance(90)
    assert clock.monotonic() == before + 90
    assert clock.now() == datetime(2026, 1, 1, 0, 1, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="cannot go back"):
        clock.advance(-1)


async def test_advance_wakes_a_sleeper_while_the_loop_stays_busy():
    """A sleeper wakes when advance() reaches its time, though the loop never went idle.

    The test yields with sleep(0) only, so the loop always has work ready and virtual time
    never jumps by itself: only advance() can move the sleeper's timer into the past.
    """
    clock = VirtualClock()
    woke = []

    async def sleeper():
        await clock.sleep(100)
        woke.append(clock.elapsed)

    task = asyncio.ensure_future(sleeper())
    for _ in range(20):
        await asyncio.sleep(0)
    assert (woke, clock.elapsed) == ([], 0)
    clock.advance(100)
    for _ in range(20):
        if task.done():
            break
        await asyncio.sleep(0)
    assert woke == [100]


async def test_a_timeout_entered_before_the_clock_attaches_keeps_its_delay():
    """An asyncio.timeout(5) entered before the clock drives the loop expires 5 s in, virtually.

    Its deadline was on the host's monotonic clock; read as virtual seconds it would fire at
    the machine's uptime plus 5. Attaching moves it onto virtual time with what it had left.
    """
    loop = asyncio.get_running_loop()
    clock = VirtualClock()
    guard = asyncio.timeout(5)

    async def sleep_an_hour():
        async with guard:
            clock.attach(loop)  # the guard's timer is in the loop already, on real time
            await asyncio.sleep(3600)

    with pytest.raises(TimeoutError):
        await sleep_an_hour()
    # Five seconds less the real instant between entering the timeout and attaching.
    assert 0 < clock.elapsed <= 5
    assert guard.when() == pytest.approx(clock.elapsed)


async def test_timers_made_before_attaching_keep_their_order_and_delays():
    """Timers of the loop from before the clock attaches fire in order, at their delays."""
    loop = asyncio.get_running_loop()
    clock = VirtualClock()
    fired = []
    loop.call_later(20, lambda: fired.append(("late", clock.elapsed)))
    loop.call_later(10, lambda: fired.append(("early", clock.elapsed)))
    clock.attach(loop)
    await clock.sleep(30)
    (early, at_early), (late, at_late) = fired
    assert (early, late) == ("early", "late")
    # Each fires at its delay less the real instant between scheduling and attaching.
    assert 0 < at_early <= 10 < at_late <= 20


async def test_detach_gives_the_loop_real_time_back_and_lets_another_clock_drive_it():
    """After detach(), pending timers keep their remaining delay in real seconds; a new clock attaches."""
    loop = asyncio.get_running_loop()
    clock = VirtualClock()
    clock.attach(loop)
    clock.advance(1000)
    handle = loop.call_later(60, lambda: None)
    try:
        clock.detach()
        assert 0 < handle.when() - loop.time() <= 60
        assert abs(loop.time() - time.monotonic()) < 60  # the host's clock again
        other = VirtualClock()
        other.attach(loop)
        assert loop.time() == 0
        other.detach()
    finally:
        handle.cancel()
    assert clock.elapsed == 1000  # a detached clock keeps its own time


def test_detach_restores_a_loop_running_in_another_thread():
    """detach() restores a loop that runs in another thread, from that thread, and waits for it."""
    import threading

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def read(clock):
        return clock.monotonic()  # attaches the clock to the loop this runs on

    try:
        clock = VirtualClock()
        asyncio.run_coroutine_threadsafe(clock.sleep(7200), loop).result(timeout=60)
        assert clock.elapsed == 7200
        clock.detach()
        # Refused if the first clock still drove the loop.
        assert asyncio.run_coroutine_threadsafe(read(VirtualClock()), loop).result(timeout=60) == 0
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=60)
        loop.close()
