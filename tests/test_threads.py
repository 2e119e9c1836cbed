"""Thread-safe invoking, and code with no event loop at all."""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
from typing import Any

import pytest
from lambda_destinations import (
    AsyncInvoker,
    EventLoopError,
    FunctionError,
    InMemoryDestination,
    InvalidRequestContentError,
    InvokerClosedError,
    JoinTimeoutError,
)
from lambda_destinations._interrupt import interrupts

from .scripts import Child, run_script


async def test_an_event_from_another_thread_wakes_the_idle_loop_that_accepts_it():
    """A thread's invoke wakes the invoker's loop, asleep with nothing else to do, at once.

    The loop waits only on the invoking thread, so the hand-off itself must wake it: if it
    did not, the 30 s deadline (generous: the hand-off takes milliseconds) would fail the test.
    """
    ok = InMemoryDestination()

    def invoke_once_the_loop_sleeps():
        # Lets the loop fall asleep first, so only a hand-off that wakes it passes: without it,
        # a broken hand-off could slip in before the loop sleeps. No result is waited for here.
        time.sleep(0.2)
        return invoker.invoke_nowait({"n": 1})

    async with AsyncInvoker(lambda event: event["n"], on_success=ok) as invoker:
        await invoker.start()
        response = await asyncio.wait_for(asyncio.to_thread(invoke_once_the_loop_sleeps), 30)
        await invoker.join()
    assert [(r.request_id, r.response_payload) for r in ok.records] == [(response.request_id, 1)]


async def test_many_threads_invoke_one_invoker_at_once():
    """invoke_nowait() from 16 threads at once: every event accepted once and delivered."""
    ok = InMemoryDestination()

    async def handler(event):
        return event["n"]

    async with AsyncInvoker(handler, on_success=ok) as invoker:
        await invoker.start()
        ids: list[str] = []
        lock = threading.Lock()

        def caller(start: int) -> None:
            for n in range(start, start + 50):
                request_id = invoker.invoke_nowait({"n": n}).request_id
                with lock:
                    ids.append(request_id)

        threads = [threading.Thread(target=caller, args=(i * 50,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            await asyncio.to_thread(t.join)
        await invoker.join()
    assert len(set(ids)) == 800
    assert sorted(r.response_payload for r in ok.records) == list(range(800))
    assert {r.request_id for r in ok.records} == set(ids)


async def test_errors_reach_the_calling_thread():
    """A bad payload or a closed invoker raises in the thread that invoked."""
    invoker = await AsyncInvoker(lambda e: e).start()
    with pytest.raises(InvalidRequestContentError):
        await asyncio.to_thread(invoker.invoke_nowait, {1, 2})
    await invoker.aclose()
    with pytest.raises(InvokerClosedError):
        await asyncio.to_thread(invoker.invoke_nowait, {})


def test_script_without_event_loop_uses_background_loop_drained_at_exit(tmp_path):
    """A script with no event loop runs a decorated function's events on a background loop.

    Every accepted event ends before the interpreter exits.
    """
    result = run_script(
        tmp_path,
        """
        import time
        from lambda_destinations import JsonLinesDestination, async_invoke

        out = JsonLinesDestination("records.jsonl")

        @async_invoke(on_success=out, on_failure=out, maximum_retry_attempts=0)
        def work(event, context):
            time.sleep(0.05)
            if event["n"] == 2:
                raise ValueError("two")
            return event["n"]

        for n in range(5):
            work.invoke_nowait({"n": n})
        print("invoked")
        """,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "invoked"
    lines = [json.loads(line) for line in (tmp_path / "records.jsonl").read_text().splitlines()]
    assert sorted(r["requestPayload"]["n"] for r in lines) == [0, 1, 2, 3, 4]
    assert [r["requestContext"]["condition"] for r in lines].count("RetriesExhausted") == 1


def test_plain_invoker_in_sync_code(tmp_path):
    """An AsyncInvoker used from sync code only (like a Flask view) works the same way."""
    result = run_script(
        tmp_path,
        """
        from lambda_destinations import AsyncInvoker, JsonLinesDestination

        invoker = AsyncInvoker(lambda event: event, on_success=JsonLinesDestination("out.jsonl"))

        def view(n):
            return invoker.invoke_nowait({"n": n}).status_code

        print(sum(view(n) for n in range(10)))
        """,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2020"
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 10


# -- loops that stop or move -------------------------------------------------------------------


def test_an_idle_loop_holding_events_is_not_left_behind():
    """Sync code cannot move an invoker whose stopped loop still holds events: a clear error."""

    def fail(event):
        raise RuntimeError("again")

    invoker = AsyncInvoker(fail)
    loop = asyncio.new_event_loop()
    try:

        async def first() -> None:
            invoker.invoke({"n": 1})
            await asyncio.sleep(0)

        loop.run_until_complete(first())
        with pytest.raises(RuntimeError, match="not running but still holds 1 event"):
            invoker.invoke({"n": 2})
        assert [e.request_id for e in invoker.pending_events()]
    finally:
        loop.run_until_complete(invoker.aclose(timeout=0))
        loop.close()


def test_invoking_from_a_thread_while_the_loop_shuts_down_fails_cleanly():
    """An invoke handed to a loop that stops before taking it raises instead of hanging."""

    class Loop(asyncio.SelectorEventLoop):
        # Tells the test when another thread's call is in the loop's queue.
        def __init__(self) -> None:
            super().__init__()
            self.handed = threading.Event()

        def call_soon_threadsafe(self, *args: Any, **kwargs: Any) -> asyncio.Handle:  # type: ignore[override]
            handle = super().call_soon_threadsafe(*args, **kwargs)
            self.handed.set()
            return handle

    loop = Loop()
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
    loop.handed.clear()
    outcome: list[object] = []

    def caller() -> None:
        try:
            outcome.append(invoker.invoke({}))
        except InvokerClosedError as e:
            outcome.append(e)

    calling = threading.Thread(target=caller)
    calling.start()
    assert loop.handed.wait(10)  # the hand-off is queued behind the blocker
    gate.set()
    runner.join(10)
    calling.join(10)
    assert not calling.is_alive()
    assert len(outcome) == 1
    assert isinstance(outcome[0], InvokerClosedError)
    loop.close()


def test_sync_code_waits_for_and_closes_an_invoker_without_an_event_loop():
    """join_sync() and close() do from sync code what join() and aclose() do from async code.

    join_sync() returns once every event has ended and been delivered; close() drains, closes
    and returns what did not end (nothing here); then the invoker refuses events.
    """
    ok = InMemoryDestination()
    invoker = AsyncInvoker(lambda event: event["n"], on_success=ok)
    for n in range(5):
        invoker.invoke({"n": n})
    invoker.join_sync(timeout=30)
    assert sorted(r.response_payload for r in ok.records) == [0, 1, 2, 3, 4]
    assert invoker.close() == ()
    with pytest.raises(InvokerClosedError):
        invoker.invoke({})
    assert invoker.close() == ()


def test_join_sync_raises_what_join_raises():
    """join_sync(raise_on_error=True) raises the function's error; a timeout names the events."""
    release = threading.Event()

    def handler(event):
        if event["fail"]:
            raise ValueError("bad order")
        release.wait(30)

    invoker = AsyncInvoker(handler, timeout=60, maximum_retry_attempts=0)
    invoker.invoke({"fail": True})
    with pytest.raises(FunctionError, match="bad order"):
        invoker.join_sync(raise_on_error=True)
    slow = invoker.invoke({"fail": False})
    with pytest.raises(JoinTimeoutError, match=slow.request_id):
        invoker.join_sync(timeout=0.2)
    release.set()
    assert invoker.close() == ()


def test_a_never_used_invoker_closes_from_sync_code():
    """close() on an invoker that never accepted an event closes it; join_sync() returns."""
    invoker = AsyncInvoker(lambda event: event)
    invoker.join_sync()
    assert invoker.close() == ()
    with pytest.raises(InvokerClosedError):
        invoker.invoke({})


async def test_blocking_calls_inside_an_event_loop_say_to_await_instead():
    """join_sync() and close() would block the running loop: they refuse, naming the await."""
    invoker = AsyncInvoker(lambda event: event)
    await invoker.invoke({})
    with pytest.raises(EventLoopError, match=r"in async code, use await invoker\.join\(\)"):
        invoker.join_sync()
    with pytest.raises(EventLoopError, match=r"in async code, use await invoker\.aclose\(\)"):
        invoker.close()
    assert await invoker.aclose() == ()


def test_join_sync_says_why_it_cannot_wait_for_events_whose_loop_is_gone(caplog):
    """An invoker left behind by asyncio.run without aclose(): join_sync() says it cannot wait.

    close() still closes it and returns the event that will never end.
    """

    async def slow(event):
        await asyncio.sleep(60)

    async def main() -> AsyncInvoker:
        invoker = AsyncInvoker(slow, timeout=120)
        await invoker.invoke({})
        await asyncio.sleep(0)
        return invoker

    invoker = asyncio.run(main())
    with pytest.raises(EventLoopError, match="its event loop is not running, so its 1 event"):
        invoker.join_sync()
    (unfinished,) = invoker.close()
    assert unfinished.state == "running"


A_SCRIPT_WITH_AN_EVENT_WAITING_TO_RETRY = """
    import logging
    from lambda_destinations import AsyncInvoker, FunctionError

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")

    def fail(event):
        raise RuntimeError("down")

    invoker = AsyncInvoker(fail)
    print(invoker.invoke({"order": 7}).request_id, flush=True)
    try:
        invoker.join_sync(raise_on_error=True)  # the first attempt failed: a retry is due
    except FunctionError:
        pass
"""


def test_ctrl_c_during_a_scripts_exit_drain_stops_it_and_reports_the_events(tmp_path):
    """A script ends with an event waiting to retry: the exit drain says so, and Ctrl-C ends it.

    The event is reported at WARNING, and the script exits as it would have (status 0, no
    traceback) instead of waiting out the retries.
    """
    with Child(tmp_path, A_SCRIPT_WITH_AN_EVENT_WAITING_TO_RETRY) as child:
        child.wait_for("closing; waiting for 1 event(s) (1 waiting to retry; next retry due")
        child.interrupt()
        returncode, stdout, stderr = child.finish()
    assert returncode == 0, stderr
    assert "closing; interrupted (Ctrl-C) after" in stderr
    assert (
        f"closed before event {stdout.strip()} ended (waiting to retry after 1 attempt(s)); "
        'payload: {"order": 7}'
    ) in stderr
    assert "Traceback" not in stderr


def test_at_exit_a_ctrl_c_stays_a_cut_while_the_drains_watch_from_another_thread():
    """At exit, Ctrl-C only cuts the drain, even once other threads' drains watched too.

    The drains the exit drain waits for watch from the background loop's thread; their
    watching must not turn the next Ctrl-C back into a KeyboardInterrupt.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    cut = threading.Event()
    raised = False
    try:
        with interrupts.watching(at_exit=True):
            drain = threading.Thread(target=_watch_a_drain, args=(cut,))
            drain.start()
            drain.join()
            try:
                signal.raise_signal(signal.SIGINT)
                time.sleep(0)  # the handler runs between two bytecodes of this thread
            except KeyboardInterrupt:
                raised = True
    finally:
        signal.signal(signal.SIGINT, previous)
    assert not raised
    assert not cut.is_set()  # that drain had ended: only drains still running are cut


def _watch_a_drain(cut: threading.Event) -> None:
    with interrupts.cutting(cut.set):
        pass


def test_ctrl_c_during_close_in_sync_code_reports_the_events_then_raises(tmp_path):
    """close() interrupted by Ctrl-C reports the event left, then raises KeyboardInterrupt.

    The drain stops at once; nothing is left for the drain at exit.
    """
    source = (
        A_SCRIPT_WITH_AN_EVENT_WAITING_TO_RETRY
        + """
    try:
        invoker.close()
    except KeyboardInterrupt:
        print("KeyboardInterrupt;", [u.state for u in invoker.close()], flush=True)
    """
    )
    with Child(tmp_path, source) as child:
        child.wait_for("closing; waiting for 1 event(s)")
        child.interrupt()
        returncode, stdout, stderr = child.finish()
    request_id, caught = stdout.splitlines()
    assert returncode == 0, stderr
    assert caught == "KeyboardInterrupt; ['waiting to retry']"
    assert f"closed before event {request_id} ended" in stderr
    assert stderr.count("closing; waiting for") == 1
