"""Durability: accepted events in a `SQLiteQueue` outlive the process that accepted them.

In-process tests run two invokers on one file and one virtual clock, standing in for a
process that closed (or lost its lease) and one that took over. The crash tests run real
worker processes, kill them with SIGKILL at the worst moments, and start new ones on the file.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from lambda_destinations import (
    AsyncInvoker,
    Condition,
    ConfigurationError,
    InMemoryDeadLetterQueue,
    InMemoryDestination,
    JsonLinesDestination,
)
from lambda_destinations.queues import SQLiteQueue
from lambda_destinations.queues.sqs import SQSQueue
from lambda_destinations.testing import VirtualClock

from .aws import REGION, MotoAws
from .scripts import run_script, start_script

# A bug that keeps the writer busy would freeze virtual time: the guard stops the test then.
pytestmark = pytest.mark.lambda_destinations(wall_timeout=60)

# -- in process, on a virtual clock -----------------------------------------------------------


def always_fails(event: Any) -> None:
    raise ValueError("planned failure")


def succeeds(event: Any) -> Any:
    return event


@pytest.mark.parametrize("synchronous", ["NORMAL", "FULL"])
async def test_a_new_invoker_on_the_file_resumes_retry_waits_counts_and_ages(tmp_path, synchronous):
    """An invoker closed mid-retry-wait leaves the event in the file; the next one goes on.

    The retry falls due at its stored time, the attempt count goes on from 1, and the age
    counts from the original acceptance: at +60 s the event is 60 s old, so the next retry
    (+120 s) would pass the 150 s maximum and it ends with EventAgeExceeded after 2 attempts
    (counted from the restart, it would have been retried a third time).
    """
    clock = VirtualClock()
    path = tmp_path / "q.db"
    failed = InMemoryDestination()
    seen: list[float] = []

    def fails_again(event: Any) -> None:
        seen.append(clock.elapsed)
        raise ValueError("still failing")

    settings: dict[str, Any] = {
        "function_name": "orders",
        "clock": clock,
        "maximum_event_age_in_seconds": 150,
        "aws_limits": False,
    }
    first = AsyncInvoker(always_fails, queue=SQLiteQueue(path, synchronous=synchronous), **settings)
    await first.start()
    accepted = await first.invoke({"order": 1})
    await clock.sleep(10)
    report = await first.aclose(timeout=0)
    assert [(u.request_id, u.attempts, u.state) for u in report] == [
        (accepted.request_id, 1, "waiting to retry")
    ]

    await clock.sleep(20)  # nothing runs the file meanwhile
    second = AsyncInvoker(
        fails_again,
        queue=SQLiteQueue(path, synchronous=synchronous),
        on_failure=failed,
        **settings,
    )
    async with second:
        await second.join(timeout=600)
    # A new queue knows the retry only by its wall-clock due time (about 0.24 us resolution).
    assert seen == [pytest.approx(60, abs=1e-3)]
    assert [(r.request_id, r.condition, r.approximate_invoke_count) for r in failed.records] == [
        (accepted.request_id, Condition.EVENT_AGE_EXCEEDED, 2)
    ]


async def test_an_event_that_never_ran_ages_from_its_acceptance_in_another_process(tmp_path):
    """Accepted by an invoker that runs nothing, found 100 s later by a worker: too old.

    Its 60 s maximum age counts from the acceptance, stored with the event: the worker ends
    it with EventAgeExceeded, never attempted (count 0).
    """
    clock = VirtualClock(datetime(2020, 1, 1, tzinfo=UTC))
    path = tmp_path / "q.db"
    settings: dict[str, Any] = {
        "function_name": "f",
        "clock": clock,
        "maximum_event_age_in_seconds": 60,
    }
    producer = AsyncInvoker(always_fails, queue=SQLiteQueue(path, consume=False), **settings)
    await producer.start()
    accepted = await producer.invoke({})
    await producer.aclose(timeout=0)
    await clock.sleep(100)

    ran: list[Any] = []
    failed = InMemoryDestination()
    worker = AsyncInvoker(ran.append, queue=SQLiteQueue(path), on_failure=failed, **settings)
    async with worker:
        await worker.join(timeout=60)
    assert ran == []
    assert [(r.request_id, r.condition, r.approximate_invoke_count) for r in failed.records] == [
        (accepted.request_id, Condition.EVENT_AGE_EXCEEDED, 0)
    ]


async def test_an_attempt_longer_than_its_lease_renews_it_and_runs_once(tmp_path):
    """An attempt still running when its 5 s lease runs out: the process renews the lease.

    No other process wants the event, and this one does not run it a second time: one call
    of the handler, one record.
    """
    clock = VirtualClock()
    ok = InMemoryDestination()
    calls: list[float] = []

    async def long(event: Any) -> str:
        calls.append(clock.elapsed)
        await asyncio.sleep(20)
        return "done"

    invoker = AsyncInvoker(
        long,
        queue=SQLiteQueue(tmp_path / "q.db", lease_seconds=5),
        clock=clock,
        timeout=60,
        aws_limits=False,
        on_success=ok,
    )
    async with invoker:
        accepted = await invoker.invoke({})
        await invoker.join(timeout=120)
    assert calls == [0]
    assert [(r.request_id, r.approximate_invoke_count) for r in ok.records] == [
        (accepted.request_id, 1)
    ]


async def test_an_attempt_cut_off_by_close_is_given_back_to_the_file_at_once(tmp_path):
    """Closing with an attempt running gives its lease back: the next invoker runs it at once.

    Without that, the event would wait for its lease (the 600 s timeout plus 30 s) to run out.
    """
    clock = VirtualClock()
    path = tmp_path / "q.db"
    seen: list[float] = []

    async def hangs(event: Any) -> None:
        await asyncio.sleep(3600)

    def quick(event: Any) -> str:
        seen.append(clock.elapsed)
        return "done"

    settings: dict[str, Any] = {"function_name": "f", "clock": clock, "timeout": 600}
    first = AsyncInvoker(hangs, queue=SQLiteQueue(path), aws_limits=False, **settings)
    await first.start()
    accepted = await first.invoke({})
    await clock.sleep(1)
    report = await first.aclose(timeout=0)
    assert [(u.request_id, u.state) for u in report] == [(accepted.request_id, "running")]

    ok = InMemoryDestination()
    second = AsyncInvoker(quick, queue=SQLiteQueue(path), on_success=ok, **settings)
    async with second:
        await second.join(timeout=60)
    assert [r.request_id for r in ok.records] == [accepted.request_id]
    assert seen == [pytest.approx(1, abs=0.5)]


async def test_an_outcome_whose_delivery_was_cut_off_is_delivered_by_the_next_invoker(tmp_path):
    """A record still being delivered when its invoker closed stays in the outbox.

    The next invoker on the file delivers it (once: at least once overall), and the event
    itself does not run again.
    """
    clock = VirtualClock()
    path = tmp_path / "q.db"
    attempts: list[str] = []
    never = asyncio.Event()

    async def hangs(record: Any) -> None:
        await never.wait()

    def handler(event: Any, context: Any) -> str:
        attempts.append(context.aws_request_id)
        return "done"

    first = AsyncInvoker(
        handler, function_name="f", queue=SQLiteQueue(path), clock=clock, on_success=hangs
    )
    await first.start()
    accepted = await first.invoke({})
    await clock.sleep(1)
    await first.aclose(timeout=0)  # cuts the delivery off

    ok = InMemoryDestination()
    second = AsyncInvoker(
        handler, function_name="f", queue=SQLiteQueue(path), clock=clock, on_success=ok
    )
    async with second:
        await second.join(timeout=60)
    assert [(r.request_id, r.response_payload) for r in ok.records] == [
        (accepted.request_id, "done")
    ]
    assert attempts == [accepted.request_id]


async def test_delivered_and_failed_deliveries_are_not_delivered_again_after_a_restart(tmp_path):
    """Records and dead letters delivered (or whose delivery failed for good) leave the outbox.

    A second invoker on the file finds nothing to deliver: a failed delivery is counted and
    logged, never retried, after a restart as before it.
    """
    clock = VirtualClock()
    path = tmp_path / "q.db"

    def broken(record: Any) -> None:
        raise RuntimeError("receiver down")

    def ok_or_fails(event: Any) -> bool:
        if not event["ok"]:
            raise ValueError("planned failure")
        return True

    dlq = InMemoryDeadLetterQueue()
    first = AsyncInvoker(
        ok_or_fails,
        function_name="f",
        queue=SQLiteQueue(path),
        clock=clock,
        maximum_retry_attempts=0,
        on_success=broken,
        on_failure=InMemoryDestination(),
        dead_letter_queue=dlq,
    )
    async with first:
        await first.invoke({"ok": True})
        await first.invoke({"ok": False})
        await first.join(timeout=60)
    assert len(dlq) == 1
    assert first.metrics().destination_delivery_failures == 1

    again, letters = InMemoryDestination(), InMemoryDeadLetterQueue()
    second = AsyncInvoker(
        succeeds,
        function_name="f",
        queue=SQLiteQueue(path),
        clock=clock,
        on_success=again,
        on_failure=again,
        dead_letter_queue=letters,
    )
    async with second:
        await second.join(timeout=60)
        await clock.sleep(60)
    assert (len(again), len(letters)) == (0, 0)


async def test_join_on_an_invoker_that_only_adds_events_waits_for_the_workers(tmp_path):
    """``consume=False``: the invoker runs nothing; its ``join()`` follows the whole file.

    ``pending`` counts the file's unfinished events, so the producer's join returns once the
    worker (another invoker on the file) has run them all.
    """
    clock = VirtualClock()
    path = tmp_path / "q.db"
    ran: list[int] = []
    ok = InMemoryDestination()

    def never_here(event: Any) -> None:
        raise AssertionError("a consume=False invoker ran an event")

    async def worker_handler(event: Any) -> None:
        await asyncio.sleep(2)
        ran.append(event["n"])

    producer = AsyncInvoker(
        never_here, function_name="f", queue=SQLiteQueue(path, consume=False), clock=clock
    )
    worker = AsyncInvoker(
        worker_handler,
        function_name="f",
        queue=SQLiteQueue(path),
        clock=clock,
        reserved_concurrency=1,
        on_success=ok,
    )
    async with producer, worker:
        for n in range(3):
            await producer.invoke({"n": n})
        assert producer.pending == 3
        await producer.join(timeout=60)
        assert sorted(ran) == [0, 1, 2]
        assert len(ok) == 3
        assert producer.pending == 0


async def test_closing_an_invoker_that_only_adds_events_says_it_waits_for_other_processes(
    tmp_path, caplog
):
    """A drain with nothing of its own to wait for names what it waits for: the shared file.

    Without a worker it would look stuck ("waiting for the destination deliveries"); it says
    how many events other processes hold, how to close without waiting, and what stays.
    """
    producer = AsyncInvoker(
        always_fails,
        function_name="f",
        queue=SQLiteQueue(tmp_path / "q.db", consume=False),
        clock=VirtualClock(),
        drain_timeout=30,
    )
    with caplog.at_level(logging.INFO, logger="lambda_destinations"):
        async with producer:
            for n in range(3):
                await producer.invoke({"n": n})
    started, stopped = [r.getMessage() for r in caplog.records if "closing" in r.getMessage()]
    assert (
        "closing; waiting for 3 event(s) or outcome(s) in the shared queue, held or run by "
        "other processes (drain_timeout=0, or aclose(timeout=0), closes without waiting for "
        "them) to end, for at most 30 s"
    ) in started
    assert stopped.endswith(
        "no event is left; 3 stay in the shared queue for the processes that run it"
    )


def test_many_processes_opening_one_new_file_at_once_all_open_it(tmp_path):
    """Connections that open a new file together all get it, the schema made once.

    While one switches the file to write-ahead logging, SQLite can answer another "database
    is locked" at once, without its busy wait; the opening is tried again instead of failing.
    Threads stand in for processes: each opens its own connection, as a process would.
    """
    from lambda_destinations.queues._sqlite._opening import open_queue_file

    path = tmp_path / "q.db"
    start = threading.Barrier(8)
    failures: list[BaseException] = []

    def open_it() -> None:
        start.wait()
        try:
            open_queue_file(path, "NORMAL").close()
        except BaseException as e:
            failures.append(e)

    for _ in range(10):
        for leftover in (path, tmp_path / "q.db-wal", tmp_path / "q.db-shm"):
            leftover.unlink(missing_ok=True)
        threads = [threading.Thread(target=open_it) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        start.reset()
    assert failures == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"synchronous": "OFF"}, "'NORMAL' (survives a process crash) or 'FULL'"),
        ({"lease_seconds": 0}, "lease_seconds=0 must be a finite number of seconds above 0"),
        ({"poll_interval": -1}, "poll_interval=-1 must be a finite number of seconds above 0"),
        ({"poll_interval": "1"}, "poll_interval='1' must be a number of seconds"),
    ],
)
def test_bad_settings_are_refused_saying_what_to_pass(tmp_path, options, message):
    """Each setting is checked when the queue is made, with a message naming the fix."""
    with pytest.raises(ConfigurationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        SQLiteQueue(tmp_path / "q.db", **options)


@pytest.mark.parametrize("path", [":memory:", ""])
def test_an_in_memory_database_is_refused(path):
    """An in-memory database dies with its connection: the error points to MemoryQueue."""
    with pytest.raises(ConfigurationError, match="use MemoryQueue instead"):
        SQLiteQueue(path)


def test_a_path_in_a_missing_folder_is_refused_at_once(tmp_path):
    """The folder must exist: the queue says which one is missing when it is made."""
    with pytest.raises(ConfigurationError, match="does not exist"):
        SQLiteQueue(tmp_path / "missing" / "q.db")


async def test_a_file_that_is_not_a_queue_fails_the_invoke_and_the_invoker_still_closes(tmp_path):
    """Another database (or not a database) in the file: ``await invoke()`` raises, clearly.

    The event is not accepted (nothing pending), and closing returns at once.
    """
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE unrelated (x)")
    clock = VirtualClock()
    invoker = AsyncInvoker(succeeds, queue=SQLiteQueue(path), clock=clock)
    async with invoker:
        with pytest.raises(ConfigurationError, match="not a queue file"):
            await invoker.invoke({})
        assert invoker.pending == 0


# -- real processes, killed with SIGKILL ------------------------------------------------------

WORKER = """
    import asyncio, json, os, sys, time

    import tenacity
    from lambda_destinations import AsyncInvoker, JsonLinesDestination
    from lambda_destinations.queues import SQLiteQueue

    config = json.loads(sys.argv[1])
    if config.get("sqs"):
        from lambda_destinations.queues.sqs import SQSQueue

        queue = SQSQueue(
            config["sqs"],
            endpoint_url=config["endpoint"],
            region_name="us-east-1",
            lease_seconds=config["lease"],
            wait_seconds=1,
        )
    else:
        queue = SQLiteQueue("q.db", lease_seconds=config["lease"], poll_interval=0.05)
    records = JsonLinesDestination("records.jsonl")


    def log(kind, **fields):
        line = json.dumps({"kind": kind, "pid": os.getpid(), "at": time.time(), **fields})
        with open("log.jsonl", "a") as f:  # one append per line: processes never interleave
            f.write(line + "\\n")


    async def handler(event, context):
        log("attempt", id=context.aws_request_id)
        if event.get("block") and config.get("block"):
            await asyncio.sleep(3600)
        if event.get("stall") and config.get("stall"):
            # The whole process stalls, renewing no lease, until another worker has taken
            # the event over (or a minute passed).
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not taken_over(context.aws_request_id):
                time.sleep(0.02)
            log("stalled", id=context.aws_request_id)
        if event.get("fail"):
            raise ValueError("planned failure")
        await asyncio.sleep(event.get("sleep", 0))
        return {**event, "pid": os.getpid()}


    def taken_over(request_id):
        with open("log.jsonl") as f:
            lines = [json.loads(line) for line in f]
        return any(
            line["kind"] == "attempt" and line["id"] == request_id and line["pid"] != os.getpid()
            for line in lines
        )


    async def deliver(record):
        log("delivering", id=record.request_id)
        if config.get("block_delivery"):
            await asyncio.sleep(3600)
        records.send(record)


    async def main():
        invoker = AsyncInvoker(
            handler,
            function_name="worker",
            queue=queue,
            aws_limits=False,
            timeout=600,
            retry_wait=tenacity.wait_fixed(config.get("wait", 1)),
            reserved_concurrency=config.get("concurrency"),
            on_success=deliver,
            on_failure=deliver,
            delivery_timeout=3600,
        )
        async with invoker:
            log("ready")
            await asyncio.Event().wait()


    asyncio.run(main())
"""

# Accepts events, then kills itself with SIGKILL the moment the last invoke() returned.
ACCEPT_AND_DIE = """
    import asyncio, json, os, signal, sys

    from lambda_destinations import AsyncInvoker
    from lambda_destinations.queues import SQLiteQueue


    def never(event):
        raise AssertionError("this process only accepts")


    if len(sys.argv) > 3:  # an SQS queue's URL and the endpoint
        from lambda_destinations.queues.sqs import SQSQueue

        queue = SQSQueue(
            sys.argv[3], endpoint_url=sys.argv[4], region_name="us-east-1", consume=False
        )
    else:
        queue = SQLiteQueue("q.db", consume=False)
    invoker = AsyncInvoker(never, function_name="worker", queue=queue)


    def die(ids):
        with open(sys.argv[1], "w") as f:
            json.dump(ids, f)
        os.kill(os.getpid(), signal.SIGKILL)


    async def from_async_code():
        await invoker.start()  # on this loop, not the background loop a thread would start
        # From a thread of a sync web framework, while the loop runs...
        ids = await asyncio.to_thread(lambda: [invoker.invoke({"n": n}).request_id for n in range(5)])
        # ...then from async code; and die at once: only the awaits gave the queue time.
        ids += [(await invoker.invoke({"n": n})).request_id for n in range(5, 10)]
        die(ids)


    if sys.argv[2] == "async":
        asyncio.run(from_async_code())
    else:  # sync code with no event loop at all: the background loop
        die([invoker.invoke({"n": n}).request_id for n in range(10, 15)])
"""


def wait_until(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """Poll *check* until it returns something true; fail naming *what* after *timeout*."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:g} s waiting for {what}")
        time.sleep(0.02)


def log_lines(folder: Path, kind: str) -> list[dict[str, Any]]:
    path = folder / "log.jsonl"
    if not path.exists():
        return []
    lines = [json.loads(line) for line in path.read_text().splitlines() if line]
    return [line for line in lines if line["kind"] == kind]


def records(folder: Path) -> list[Any]:
    return JsonLinesDestination(folder / "records.jsonl").read()


def stored_attempts(folder: Path, request_id: str) -> int | None:
    """The attempt count the file holds for an unfinished event (its documented layout)."""
    with sqlite3.connect(folder / "q.db") as conn:
        row = conn.execute("SELECT state FROM events WHERE request_id = ?", (request_id,))
        found = row.fetchone()
    return None if found is None else int(json.loads(found[0]).get("attempts", 0))


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Start worker processes on ``tmp_path/q.db``; any still running are killed at the end."""
    started: list[Any] = []

    def start(**config: Any) -> Any:
        process = start_script(
            tmp_path, WORKER, json.dumps({"lease": 3, **config}), name="worker.py"
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(30)


def accept(folder: Path, events: list[dict[str, Any]]) -> list[str]:
    """Queue *events* from this process without running any of them; their request ids."""

    async def main() -> list[str]:
        invoker = AsyncInvoker(
            succeeds, function_name="worker", queue=SQLiteQueue(folder / "q.db", consume=False)
        )
        await invoker.start()
        ids = [(await invoker.invoke(event)).request_id for event in events]
        await invoker.aclose(timeout=0)
        return ids

    return asyncio.run(main())


def test_a_script_with_no_event_loop_drains_its_file_at_exit(tmp_path):
    """Sync code on the background loop: at exit every event ends, and the process exits.

    The drain at exit still commits (the writer thread outlives it), so each of the 50
    events has its record and the file is left empty.
    """
    result = run_script(
        tmp_path,
        """
        from lambda_destinations import AsyncInvoker, JsonLinesDestination
        from lambda_destinations.queues import SQLiteQueue

        invoker = AsyncInvoker(
            lambda event: event,
            queue=SQLiteQueue("q.db"),
            on_success=JsonLinesDestination("records.jsonl"),
        )
        for n in range(50):
            invoker.invoke({"n": n})
        """,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(r.request_payload["n"] for r in records(tmp_path)) == list(range(50))
    with sqlite3.connect(tmp_path / "q.db") as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (0,)


def test_events_accepted_just_before_a_sigkill_all_reach_their_outcome(tmp_path, workers):
    """``invoke()`` answers only once the event is committed: SIGKILL right after loses none.

    Two processes accept events and kill themselves at once: one from async code and from a
    thread beside its loop, one from sync code with no loop (the background loop). A worker
    started afterwards runs every one of them, once.
    """
    for mode in ("async", "sync"):
        child = start_script(
            tmp_path, ACCEPT_AND_DIE, str(tmp_path / f"{mode}.json"), mode, name="accept.py"
        )
        assert child.wait(60) == -signal.SIGKILL, (tmp_path / "accept.py.out").read_text()
    accepted = [
        *json.loads((tmp_path / "async.json").read_text()),
        *json.loads((tmp_path / "sync.json").read_text()),
    ]
    assert len(set(accepted)) == 15

    workers()
    wait_until(lambda: len(records(tmp_path)) >= 15, "15 records")
    assert sorted(r.request_id for r in records(tmp_path)) == sorted(accepted)
    assert sorted(line["id"] for line in log_lines(tmp_path, "attempt")) == sorted(accepted)


def test_a_worker_killed_mid_attempt_mid_retry_wait_and_mid_delivery_is_resumed(tmp_path, workers):
    """SIGKILL a worker while it runs one event, waits to retry another, delivers a third.

    The next worker runs the first again (the cut-off attempt was never stored, so its count
    starts over at 1), goes on with the second's retries where they stopped (3 attempts in
    all, the last one there, RetriesExhausted with count 3, the retry not before its stored
    due time), and delivers the third's stored record without running it again. Each event
    ends exactly once; records are delivered at least once, so the third's may repeat.
    """
    running, waiting, delivering = accept(
        tmp_path, [{"block": True}, {"fail": True}, {"name": "delivered later"}]
    )
    first = workers(block=True, block_delivery=True, wait=2)

    def attempted(request_id: str) -> list[dict[str, Any]]:
        return [line for line in log_lines(tmp_path, "attempt") if line["id"] == request_id]

    wait_until(lambda: attempted(running), "the first attempt of the blocking event")
    wait_until(lambda: (stored_attempts(tmp_path, waiting) or 0) >= 1, "a retry wait stored")
    wait_until(
        lambda: [line for line in log_lines(tmp_path, "delivering") if line["id"] == delivering],
        "the delivery of the third event",
    )
    first.kill()
    assert first.wait(30) == -signal.SIGKILL

    workers()
    wait_until(
        lambda: {r.request_id for r in records(tmp_path)} >= {running, waiting, delivering},
        "three records",
    )
    ended = {r.request_id: r for r in records(tmp_path)}
    assert Counter(r.request_id for r in records(tmp_path))[running] == 1
    assert Counter(r.request_id for r in records(tmp_path))[waiting] == 1
    assert (ended[running].condition, ended[running].approximate_invoke_count) == (
        Condition.SUCCESS,
        1,
    )
    assert (ended[waiting].condition, ended[waiting].approximate_invoke_count) == (
        Condition.RETRIES_EXHAUSTED,
        3,
    )
    # The outcome the killed worker stored, delivered by the next one.
    assert ended[delivering].response_payload == {"name": "delivered later", "pid": first.pid}

    def ran_in(request_id: str) -> list[bool]:
        return [line["pid"] == first.pid for line in attempted(request_id)]

    assert ran_in(running) == [True, False]
    assert ran_in(delivering) == [True]
    retries = ran_in(waiting)
    assert len(retries) == 3
    assert (retries[0], retries[-1]) == (True, False)
    times = [line["at"] for line in attempted(waiting)]
    assert times[1] >= times[0] + 2 - 0.01  # the stored 2 s wait held across the kill


def test_worker_processes_sharing_a_file_attempt_each_event_once(tmp_path, workers):
    """Three worker processes on one file: every event runs once, in one of them, and ends once.

    Leases are long (30 s) and attempts short, so no lease runs out: no event may run twice.
    Each worker holds at most its concurrency plus 32 events ahead, so the 60 events spread
    over more than one process.
    """
    for _ in range(3):
        workers(lease=30, concurrency=2)
    wait_until(lambda: len(log_lines(tmp_path, "ready")) == 3, "three workers")
    accepted = accept(tmp_path, [{"n": n, "sleep": 0.02} for n in range(60)])

    wait_until(lambda: len(records(tmp_path)) >= 60, "60 records")
    assert sorted(r.request_id for r in records(tmp_path)) == sorted(accepted)
    attempts = log_lines(tmp_path, "attempt")
    assert sorted(line["id"] for line in attempts) == sorted(accepted)
    assert len({line["pid"] for line in attempts}) >= 2


def test_a_process_that_stalled_past_its_lease_delivers_nothing_of_the_event(tmp_path, workers):
    """A worker stalls (its event loop blocked) past its 1.5 s lease; another takes over.

    The second worker runs the event and delivers its record. The first one wakes up once
    the second has taken the event over; its attempt returns, and its finish loses the
    compare-and-set: the event ended once, with the second worker's outcome, and the first
    logs why it delivered nothing.
    """
    first = workers(lease=1.5, stall=True)
    wait_until(lambda: log_lines(tmp_path, "ready"), "the first worker")
    (accepted,) = accept(tmp_path, [{"stall": True}])
    wait_until(lambda: log_lines(tmp_path, "attempt"), "the first attempt")
    second = workers(lease=1.5)

    wait_until(lambda: log_lines(tmp_path, "stalled"), "the first worker to wake up")
    wait_until(
        lambda: "is not delivered" in (tmp_path / "worker.py.out").read_text(),
        "the first worker to give up its late outcome",
    )
    (record,) = records(tmp_path)
    assert record.request_id == accepted
    assert record.response_payload["pid"] == second.pid
    assert [line["pid"] for line in log_lines(tmp_path, "attempt")] == [first.pid, second.pid]


# -- an SQS queue shared by worker processes, killed with SIGKILL -------------------------------


def accept_on_sqs(aws: MotoAws, queue_url: str, events: list[dict[str, Any]]) -> list[str]:
    """Queue *events* in the SQS queue without running any of them; their request ids."""

    async def main() -> list[str]:
        queue = SQSQueue(
            queue_url, endpoint_url=aws.endpoint_url, region_name=REGION, consume=False
        )
        invoker = AsyncInvoker(succeeds, function_name="worker", queue=queue)
        await invoker.start()
        ids = [(await invoker.invoke(event)).request_id for event in events]
        await invoker.aclose(timeout=0)
        return ids

    return asyncio.run(main())


def test_events_accepted_on_sqs_just_before_a_sigkill_all_reach_their_outcome(
    tmp_path, workers, aws
):
    """``invoke()`` answers only once SQS accepted the event: SIGKILL right after loses none.

    As with a file: one process accepts from async code and from a thread beside its loop,
    one from sync code with no loop, and each kills itself at once; a worker started
    afterwards runs every event, once.
    """
    url, _ = aws.queue("accepted")
    for mode in ("async", "sync"):
        child = start_script(
            tmp_path,
            ACCEPT_AND_DIE,
            str(tmp_path / f"{mode}.json"),
            mode,
            url,
            aws.endpoint_url,
            name="accept.py",
        )
        assert child.wait(60) == -signal.SIGKILL, (tmp_path / "accept.py.out").read_text()
    accepted = [
        *json.loads((tmp_path / "async.json").read_text()),
        *json.loads((tmp_path / "sync.json").read_text()),
    ]
    assert len(set(accepted)) == 15

    workers(sqs=url, endpoint=aws.endpoint_url)
    wait_until(lambda: len(records(tmp_path)) >= 15, "15 records")
    assert sorted(r.request_id for r in records(tmp_path)) == sorted(accepted)
    assert sorted(line["id"] for line in log_lines(tmp_path, "attempt")) == sorted(accepted)


def test_a_worker_on_sqs_killed_mid_attempt_mid_retry_wait_and_mid_delivery_is_resumed(
    tmp_path, workers, aws
):
    """SIGKILL a worker on an SQS queue while it runs one event, waits to retry another, delivers a third.

    The next worker runs the first again once the killed worker's 2 s lease ran out (its
    count starts over at 1: the cut-off attempt was never stored); goes on with the second's
    retries where they stopped (3 attempts in all, the last one there, RetriesExhausted with
    count 3, the retry not before the 4 s wait stored in SQS); and runs the third again, since
    SQS keeps no outcome: its record reaches the receiver at least once, from the new worker.
    Attempts are at least once: on moto, under load, one may repeat (see the comment below).
    """
    url, _ = aws.queue("crash")
    sqs = {"sqs": url, "endpoint": aws.endpoint_url, "lease": 2}
    running, waiting, delivering = accept_on_sqs(
        aws, url, [{"block": True}, {"fail": True}, {"name": "delivered later"}]
    )
    first = workers(**sqs, block=True, block_delivery=True, wait=4)

    def attempted(request_id: str) -> list[dict[str, Any]]:
        return [line for line in log_lines(tmp_path, "attempt") if line["id"] == request_id]

    wait_until(lambda: attempted(running), "the first attempt of the blocking event")
    wait_until(
        lambda: aws.counts(url)["ApproximateNumberOfMessagesDelayed"],
        "the retry wait stored in SQS",
    )
    wait_until(
        lambda: [line for line in log_lines(tmp_path, "delivering") if line["id"] == delivering],
        "the delivery of the third event",
    )
    first.kill()
    assert first.wait(30) == -signal.SIGKILL

    second = workers(**sqs)
    wait_until(
        lambda: {r.request_id for r in records(tmp_path)} >= {running, waiting, delivering},
        "three records",
    )
    ended = {r.request_id: r for r in records(tmp_path)}
    assert (ended[running].condition, ended[running].approximate_invoke_count) == (
        Condition.SUCCESS,
        1,
    )
    assert (ended[waiting].condition, ended[waiting].approximate_invoke_count) == (
        Condition.RETRIES_EXHAUSTED,
        3,
    )
    assert ended[delivering].response_payload == {"name": "delivered later", "pid": second.pid}

    def ran_in(request_id: str) -> list[bool]:
        return [line["pid"] == first.pid for line in attempted(request_id)]

    for again in (running, delivering):  # once there, then in the new worker (see below)
        where = ran_in(again)
        assert where[0], where
        assert where[1:], where
        assert not any(where[1:]), where
    # Three attempts make the record; moto's SQS server, whose concurrent receives and deletes
    # race (docs/queues.md, "Testing on moto's server"), can hand a message back on a loaded
    # machine, so an attempt may repeat, as SQS allows (at least once).
    retries = ran_in(waiting)
    assert len(retries) >= 3
    assert (retries[0], retries[-1]) == (True, False)
    times = [line["at"] for line in attempted(waiting)]
    assert times[-1] >= times[0] + 4 - 0.01  # the stored 4 s wait held across the kill


def test_worker_processes_sharing_an_sqs_queue_attempt_each_event_once(tmp_path, workers, aws):
    """Three worker processes on one SQS queue: every event runs once, in one of them.

    Leases are long (30 s) and attempts short, so no lease runs out: no event may run twice.
    Each worker receives at most its free workers plus 10 events ahead, so the 60 events
    spread over more than one process.
    """
    url, _ = aws.queue("shared")
    for _ in range(3):
        workers(sqs=url, endpoint=aws.endpoint_url, lease=30, concurrency=2)
    wait_until(lambda: len(log_lines(tmp_path, "ready")) == 3, "three workers")
    accepted = accept_on_sqs(aws, url, [{"n": n, "sleep": 0.02} for n in range(60)])

    wait_until(lambda: len(records(tmp_path)) >= 60, "60 records")
    assert sorted(r.request_id for r in records(tmp_path)) == sorted(accepted)
    attempts = log_lines(tmp_path, "attempt")
    assert sorted(line["id"] for line in attempts) == sorted(accepted)
    assert len({line["pid"] for line in attempts}) >= 2
