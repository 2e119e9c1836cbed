"""Starting, joining and closing: every accepted event ends or is reported."""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import UTC, datetime

import pytest
from lambda_destinations import AsyncInvoker, Condition, InMemoryDestination, InvokerClosedError
from lambda_destinations.testing import VirtualClock

from .scripts import Child, run_script

#: The ARN of a function named "fail" with the default qualifier, region and account.
AN_ARN = "arn:aws:lambda:us-east-1:123456789012:function:fail:$LATEST"


async def test_async_with_drains_accepted_events_on_exit():
    """Leaving `async with` waits until every accepted event has ended, retries included."""
    clock = VirtualClock()
    failed = InMemoryDestination()

    def fail(event):
        raise RuntimeError("x")

    async with AsyncInvoker(fail, clock=clock, on_failure=failed) as invoker:
        for _ in range(5):
            await invoker.invoke({})
    assert len(failed.records) == 5
    assert clock.elapsed == 180
    assert invoker.pending == 0


async def test_explicit_start_and_aclose():
    """start() and aclose() work without `async with`; aclose() returns nothing unfinished."""
    ok = InMemoryDestination()
    invoker = await AsyncInvoker(lambda e: e, clock=VirtualClock(), on_success=ok).start()
    await invoker.invoke({})
    assert await invoker.aclose() == ()
    assert len(ok.records) == 1


async def test_drain_timeout_reports_unfinished_events(caplog):
    """Events still unfinished after the drain timeout are returned and logged, not dropped.

    The hanging invoker queues in line (``throttling="fifo"``), so one event is running and
    the next one queued behind it.
    """
    clock = VirtualClock()

    def fail(event):
        raise RuntimeError("x")

    async def hang(event):
        await asyncio.sleep(10_000)

    failing = AsyncInvoker(fail, clock=clock)
    hanging = AsyncInvoker(
        hang, clock=clock, timeout=900, reserved_concurrency=1, throttling="fifo"
    )
    waiting = await failing.invoke({"w": 1})
    running = await hanging.invoke({"r": 1})
    queued = await hanging.invoke({"q": 1})
    await asyncio.sleep(1)
    with caplog.at_level(logging.WARNING, logger="lambda_destinations"):
        unfinished_failing = await failing.aclose(timeout=10)
        unfinished_hanging = await hanging.aclose(timeout=10)
    assert [(u.request_id, u.state, u.attempts, u.payload_json) for u in unfinished_failing] == [
        (waiting.request_id, "waiting to retry", 1, '{"w": 1}')
    ]
    assert {(u.request_id, u.state) for u in unfinished_hanging} == {
        (running.request_id, "running"),
        (queued.request_id, "queued"),
    }
    for event in (waiting, running, queued):
        assert event.request_id in caplog.text
    assert await hanging.aclose() == unfinished_hanging


async def test_join_waits_for_async_deliveries():
    """join() returns only after asynchronous destinations have finished delivering."""
    delivered = []

    async def slow_destination(record):
        await asyncio.sleep(20)
        delivered.append(record)

    async with AsyncInvoker(
        lambda e: e, clock=VirtualClock(), on_success=slow_destination
    ) as invoker:
        await invoker.invoke({})
        await invoker.join()
        assert len(delivered) == 1


async def test_closing_invoker_refuses_new_events():
    """While aclose() drains, invoke() raises InvokerClosedError."""
    clock = VirtualClock()

    async def slow(event):
        await asyncio.sleep(5)

    invoker = AsyncInvoker(slow, clock=clock, timeout=10)
    await invoker.invoke({})
    closing = asyncio.ensure_future(invoker.aclose())
    await asyncio.sleep(0)
    with pytest.raises(InvokerClosedError, match="closing"):
        await invoker.invoke({})
    await closing


async def test_a_closed_invoker_cannot_be_entered_again():
    """``async with`` (or start()) on a closed invoker fails at once, not at the next invoke()."""
    invoker = AsyncInvoker(lambda event: None, clock=VirtualClock())
    async with invoker:
        pass
    with pytest.raises(InvokerClosedError, match="is closed and accepts no more events"):
        async with invoker:
            raise AssertionError("entered a closed invoker")


async def test_update_config_keeps_queued_events_flowing(invoker_factory, in_memory_destination):
    """Events already queued or waiting keep flowing after the configuration changes."""
    other = InMemoryDestination()
    calls = []

    def flaky(event):
        calls.append(event)
        if len(calls) == 1:
            raise RuntimeError("retry")
        return "done"

    invoker = invoker_factory(flaky, on_success=in_memory_destination)
    await invoker.invoke({"n": 1})
    await asyncio.sleep(1)
    invoker.update_config(on_success=other, maximum_retry_attempts=1)
    await invoker.invoke({"n": 2})
    await invoker.join()
    assert in_memory_destination.records == []
    assert sorted(r.request_payload["n"] for r in other.records) == [1, 2]
    assert invoker.config.maximum_retry_attempts == 1


async def test_update_config_removes_a_destination_with_none(
    invoker_factory, in_memory_destination
):
    """update_config(on_success=None) stops deliveries; other settings are kept."""
    invoker = invoker_factory(
        lambda e: e, on_success=in_memory_destination, maximum_retry_attempts=1
    )
    invoker.update_config(on_success=None)
    await invoker.invoke({})
    await invoker.join()
    assert in_memory_destination.records == []
    assert invoker.config.maximum_retry_attempts == 1


async def test_invoker_can_serve_a_new_loop_after_its_old_loop_closed():
    """An invoker (e.g. behind a decorator) rebinds when used from a new event loop."""
    ok = InMemoryDestination()
    invoker = AsyncInvoker(lambda e: e, on_success=ok)

    async def once():
        await invoker.invoke({})
        await invoker.join()

    def in_new_loop():
        asyncio.run(once())

    await asyncio.get_running_loop().run_in_executor(None, in_new_loop)
    await asyncio.get_running_loop().run_in_executor(None, in_new_loop)
    assert len(ok.records) == 2


async def test_metrics_count_like_cloudwatch(invoker_factory):
    """Counters follow CloudWatch: received once per event, invocations and errors per attempt."""

    def fail(event):
        raise RuntimeError

    invoker = invoker_factory(fail, maximum_retry_attempts=1)
    await invoker.invoke({})
    await invoker.join()
    assert invoker.metrics().to_cloudwatch() == {
        "AsyncEventsReceived": 1,
        "AsyncEventsDropped": 1,
        "Invocations": 2,
        "Errors": 2,
        "Throttles": 0,
        "DestinationDeliveryFailures": 0,
        "DeadLetterErrors": 0,
        "RecursiveInvocationsDropped": 0,
        "ConcurrentExecutions": 0,
        "AsyncEventAge": 60_000,
    }
    invoker.reset_metrics()
    assert invoker.metrics().invocations == 0


async def ten_one_second_events(invoker_factory, **options):
    """Ten 1 s events at reserved_concurrency=3: (peak concurrency, invoker)."""
    running = 0
    peak = 0

    async def handler(event):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(1)
        running -= 1

    invoker = invoker_factory(handler, reserved_concurrency=3, **options)
    for _ in range(10):
        await invoker.invoke({})
    await invoker.join()
    return peak, invoker


async def test_concurrency_limit_is_respected_and_the_rest_back_off_as_on_aws(
    invoker_factory, virtual_clock
):
    """At most reserved_concurrency attempts at once; each event finding no slot backs off.

    AWS retries a throttled event after 1 s, then 2 s, 4 s, ...: at +0 s three run and seven
    are throttled; at +1 s three of those run and four are throttled again (next try +3 s);
    at +3 s three run and one is throttled (next try +7 s); it runs from +7 s to +8 s.
    ``Throttles`` counts every throttled try: 7 + 4 + 1.
    """
    peak, invoker = await ten_one_second_events(invoker_factory)
    assert peak == 3
    assert virtual_clock.elapsed == 8
    assert invoker.metrics().throttles == 12
    assert invoker.metrics().invocations == 10


async def test_with_fifo_throttling_events_wait_in_line_for_the_next_free_slot(
    invoker_factory, virtual_clock
):
    """throttling="fifo": the seven events finding no slot wait in line, one Throttle each."""
    peak, invoker = await ten_one_second_events(invoker_factory, throttling="fifo")
    assert peak == 3
    assert virtual_clock.elapsed == 4
    assert invoker.metrics().throttles == 7


async def test_unlimited_concurrency_runs_everything_at_once(invoker_factory, virtual_clock):
    """Without reserved concurrency, 50 slow events run side by side."""

    async def handler(event):
        await asyncio.sleep(1)

    invoker = invoker_factory(handler)
    for _ in range(50):
        await invoker.invoke({})
    await invoker.join()
    assert virtual_clock.elapsed == 1


async def test_every_accepted_event_ends_exactly_once(invoker_factory):
    """Across a mix of outcomes, each accepted event yields exactly one record."""
    ok, failed = InMemoryDestination(), InMemoryDestination()

    def handler(event):
        if event["n"] % 3 == 0:
            raise RuntimeError("fails")
        return event["n"]

    invoker = invoker_factory(handler, on_success=ok, on_failure=failed)
    ids = [(await invoker.invoke({"n": n})).request_id for n in range(30)]
    await invoker.join()
    ended = [r.request_id for r in ok.records + failed.records]
    assert sorted(ended) == sorted(ids)
    assert all(r.condition is Condition.RETRIES_EXHAUSTED for r in failed.records)
    assert len(failed.records) == 10


def test_loop_shutting_down_without_aclose_reports_the_events(caplog):
    """asyncio.run() ending without aclose() logs every accepted event that will never end."""

    async def slow(event):
        await asyncio.sleep(60)

    async def main() -> list[str]:
        invoker = AsyncInvoker(slow, timeout=120, reserved_concurrency=1)
        return [(await invoker.invoke({"n": n})).request_id for n in range(3)]

    with caplog.at_level(logging.ERROR, logger="lambda_destinations"):
        ids = asyncio.run(main())
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "shutting down without aclose(); 3 accepted event(s) will not end" in errors[0]
    assert all(request_id in errors[0] for request_id in ids)


async def test_join_after_aclose_returns_at_once(invoker_factory):
    """Once closed, join() returns: what did not end was already reported by aclose()."""

    async def slow(event):
        await asyncio.sleep(100)

    invoker = invoker_factory(slow, timeout=900)
    await invoker.invoke({})
    (unfinished,) = await invoker.aclose(timeout=1)
    assert unfinished.state == "running"
    await invoker.join(timeout=1)


async def test_a_plain_join_consumes_earlier_errors(invoker_factory):
    """join(raise_on_error=True) never raises an error that an earlier join already waited out."""
    from lambda_destinations import FunctionError

    def handler(event):
        if event["fail"]:
            raise ValueError("old failure")
        return "ok"

    invoker = invoker_factory(handler, maximum_retry_attempts=0)
    await invoker.invoke({"fail": True})
    await invoker.join()
    await invoker.invoke({"fail": False})
    await invoker.join(raise_on_error=True)
    await invoker.invoke({"fail": True})
    with pytest.raises(FunctionError, match="old failure"):
        await invoker.join(raise_on_error=True)


def test_an_invoker_on_the_background_loop_can_be_joined_and_closed_from_a_new_loop(tmp_path):
    """Sync code binds the invoker to the background loop; async code can still use it fully."""
    result = run_script(
        tmp_path,
        """
        import asyncio
        from lambda_destinations import AsyncInvoker, InMemoryDestination

        ok = InMemoryDestination()

        async def work(event):
            await asyncio.sleep(0.05)
            return event["n"]

        invoker = AsyncInvoker(work, on_success=ok)
        invoker.invoke_nowait({"n": 1})  # no loop here: the background loop takes it

        async def main():
            async with invoker:
                await invoker.invoke({"n": 2})
                await asyncio.wait_for(invoker.join(), 5)
                print(sorted(r.response_payload for r in ok.records))

        asyncio.run(main())
        """,
    )
    assert (result.returncode, result.stdout.strip()) == (0, "[1, 2]"), result.stderr


async def test_a_drain_says_what_it_waits_for_when_it_starts_and_every_10_seconds(
    caplog, monkeypatch
):
    """aclose() logs at INFO what it waits for, then at WARNING every 10 s.

    Each line names the function, the events by state, when the next retry is due (in seconds
    and as a time on the invoker's clock), and that there is no time limit. Real time stands
    in as if it ran with the virtual clock, as it does beside a real one.
    """
    clock = VirtualClock(start=datetime(2024, 5, 1, 12, 0, tzinfo=UTC))
    monkeypatch.setattr("lambda_destinations._closing.real_seconds", clock.monotonic)

    async def fail(event):
        raise RuntimeError("x")

    invoker = AsyncInvoker(fail, function_name="orders", clock=clock)
    await invoker.invoke({})
    await asyncio.sleep(1)  # the first attempt failed at +0 s: its retry is due at +60 s
    with caplog.at_level(logging.INFO, logger="lambda_destinations"):
        assert await invoker.aclose() == ()
    assert clock.elapsed == 180
    # Where Ctrl-C can cut the drain (SIGINT is not ignored here), the lines also say so.
    lines = [
        (r.levelno, r.getMessage().removesuffix("; Ctrl-C stops waiting and reports them"))
        for r in caplog.records
        if "closing" in r.getMessage()
    ]
    arn = invoker.function_arn
    assert lines[0] == (
        logging.INFO,
        f"{arn}: closing; waiting for 1 event(s) (1 waiting to retry; next retry due in 59 s, "
        "at 12:01:00 UTC) to end, with no time limit (drain_timeout=None)",
    )
    assert lines[1] == (
        logging.WARNING,
        f"{arn}: still closing after 10 s; waiting for 1 event(s) (1 waiting to retry; next "
        "retry due in 49 s, at 12:01:00 UTC) to end, with no time limit (drain_timeout=None)",
    )
    # After the second attempt (+60 s), the next retry is the last one, at +180 s.
    assert (
        f"{arn}: still closing after 60 s; waiting for 1 event(s) (1 waiting to retry; "
        in (lines[6][1])
    )
    assert "next retry due in 119 s, at 12:03:00 UTC" in lines[6][1]
    assert [level for level, _ in lines[1:]] == [logging.WARNING] * 17  # +10 s ... +170 s


async def test_a_drain_on_virtual_time_logs_no_progress_lines_while_no_real_time_passes(caplog):
    """Progress lines are for a person waiting: 3 virtual minutes in milliseconds log none.

    The line when the drain starts still says what it waits for.
    """

    async def fail(event):
        raise RuntimeError("x")

    invoker = AsyncInvoker(fail, function_name="orders", clock=VirtualClock())
    await invoker.invoke({})
    with caplog.at_level(logging.INFO, logger="lambda_destinations"):
        await invoker.aclose()
    messages = [r.getMessage() for r in caplog.records if "closing" in r.getMessage()]
    assert len(messages) == 1
    assert "closing; waiting for 1 event(s)" in messages[0]


async def test_a_drain_stopped_by_its_timeout_says_so_and_how_many_events_are_left(caplog):
    """A drain_timeout that runs out is one WARNING line, before each event's own line."""
    clock = VirtualClock()

    async def fail(event):
        raise RuntimeError("x")

    invoker = AsyncInvoker(fail, function_name="orders", clock=clock, drain_timeout=30)
    response = await invoker.invoke({})
    with caplog.at_level(logging.WARNING, logger="lambda_destinations"):
        (unfinished,) = await invoker.aclose()
    messages = [r.getMessage() for r in caplog.records]
    arn = invoker.function_arn
    stopped = messages.index(
        f"{arn}: closing; its drain timeout (30 s) ran out after 30 s: "
        "1 event(s) will not end, each listed below"
    )
    assert f"closed before event {response.request_id} ended" in messages[stopped + 1]
    assert unfinished.request_id == response.request_id


AN_APPLICATION_THAT_CLOSES_ITS_INVOKER_WHEN_CANCELLED = """
    import asyncio, logging, sys
    from lambda_destinations import AsyncInvoker

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")

    def fail(event):
        raise RuntimeError("down")

    async def main():
        invoker = AsyncInvoker(fail)
        try:
            response = invoker.invoke({"order": 7})
            await invoker.join(timeout=30, raise_on_error=True)
        except Exception as e:
            print(response.request_id, flush=True)
            print("first attempt failed", type(e).__name__, file=sys.stderr, flush=True)
        try:
            await asyncio.Event().wait()  # serve until Ctrl-C cancels this task
        finally:
            unfinished = await invoker.aclose()
            print("aclose returned", [u.request_id for u in unfinished], flush=True)
"""


def test_a_second_ctrl_c_ends_the_drain_of_an_asyncio_run_program_and_reports_the_rest(tmp_path):
    """asyncio.run: Ctrl-C cancels the main task, whose aclose() drains; a second one ends it.

    The drain logs what it waits for; at the second Ctrl-C it stops at once and the event
    waiting to retry is logged at WARNING; then asyncio.run raises KeyboardInterrupt, as
    asyncio.run always does at a second Ctrl-C.
    """
    source = AN_APPLICATION_THAT_CLOSES_ITS_INVOKER_WHEN_CANCELLED + "    asyncio.run(main())\n"
    with Child(tmp_path, source) as child:
        child.wait_for("first attempt failed")
        child.interrupt()
        child.wait_for("closing; waiting for 1 event(s) (1 waiting to retry; next retry due")
        child.interrupt()
        returncode, stdout, stderr = child.finish()
    request_id = stdout.split()[0]
    assert returncode == -signal.SIGINT, stderr
    assert "closing; interrupted (Ctrl-C) after" in stderr, stderr
    assert (
        f"WARNING {AN_ARN} closed before event {request_id} ended (waiting to retry after "
        '1 attempt(s)); payload: {"order": 7}'
    ) in stderr
    assert stderr.rstrip().endswith("KeyboardInterrupt")


def test_an_applications_own_sigint_handler_sees_every_ctrl_c_and_is_put_back(tmp_path):
    """A program that handles SIGINT itself (as uvicorn does) keeps its handler working.

    Its handler starts the shutdown at the first Ctrl-C; at the second, the drain stops, the
    handler still sees that signal, aclose() returns the event left, and the handler is the
    program's own again afterwards.
    """
    source = (
        AN_APPLICATION_THAT_CLOSES_ITS_INVOKER_WHEN_CANCELLED
        + """
    seen = []

    def on_sigint(signum, frame):
        seen.append(signum)
        if len(seen) == 1:
            task.get_loop().call_soon_threadsafe(task.cancel)

    async def serve():
        global task
        task = asyncio.current_task()
        try:
            await main()
        except asyncio.CancelledError:
            pass

    signal.signal(signal.SIGINT, on_sigint)
    asyncio.new_event_loop().run_until_complete(serve())
    print("signals seen", len(seen), "handler kept", signal.getsignal(signal.SIGINT) is on_sigint)
    """
    )
    with Child(tmp_path, source) as child:
        child.wait_for("first attempt failed")
        child.interrupt()
        child.wait_for("closing; waiting for 1 event(s)")
        child.interrupt()
        returncode, stdout, stderr = child.finish()
    request_id, returned, seen = stdout.splitlines()
    assert returncode == 0, stderr
    assert returned == f"aclose returned ['{request_id}']"
    assert seen == "signals seen 2 handler kept True"
    assert f"closed before event {request_id} ended (waiting to retry" in stderr


def test_under_uvicorn_a_second_ctrl_c_ends_the_drain_and_aclose_returns_the_rest(tmp_path):
    """An ASGI app closing its invoker at lifespan shutdown, under uvicorn, with a retry pending.

    The first Ctrl-C starts uvicorn's shutdown and the drain (logged); the second ends the
    drain at once: aclose() returns the event, uvicorn completes its shutdown and exits.
    """
    source = """
    import logging, sys
    import uvicorn
    from lambda_destinations import AsyncInvoker

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")

    def fail(event):
        raise RuntimeError("down")

    invoker = AsyncInvoker(fail)

    async def app(scope, receive, send):
        assert scope["type"] == "lifespan"
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                print(invoker.invoke({"order": 7}).request_id, flush=True)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                unfinished = await invoker.aclose()
                print("aclose returned", [u.request_id for u in unfinished], flush=True)
                await send({"type": "lifespan.shutdown.complete"})
                return

    uvicorn.run(app, host="127.0.0.1", port=0, lifespan="on")
    """
    with Child(tmp_path, source) as child:
        child.wait_for("Application startup complete")
        child.interrupt()
        child.wait_for("closing; waiting for 1 event(s)")
        child.interrupt()
        returncode, stdout, stderr = child.finish()
    request_id, returned = stdout.splitlines()
    assert returncode == 0, stderr
    assert returned == f"aclose returned ['{request_id}']"
    assert f"closed before event {request_id} ended" in stderr
    assert "Application shutdown complete" in stderr
