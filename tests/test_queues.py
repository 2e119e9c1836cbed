"""One suite for every queue backend: what the invoker relies on, whatever stores the events.

Each test runs against every backend in ``BACKENDS`` (as dramatiq and huey test their brokers
and storages). A backend is driven directly, through the `EventQueue` protocol, by a small
consumer that takes events while it has room; then through a whole `AsyncInvoker`.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from lambda_destinations import (
    AsyncInvoker,
    Condition,
    DeadLetterMessage,
    ExecutionRecord,
    InMemoryDeadLetterQueue,
    InMemoryDestination,
    RequestContext,
)
from lambda_destinations.queues import (
    QUEUED,
    WAITING,
    EventQueue,
    EventState,
    MemoryQueue,
    SQLiteQueue,
)
from lambda_destinations.queues.sqs import SQSQueue
from lambda_destinations.testing import VirtualClock

from .aws import REGION

# A backend bug that keeps a thread busy would freeze virtual time: the guard stops the test.
pytestmark = pytest.mark.lambda_destinations(wall_timeout=60)

_queue_names = itertools.count()


def sqs_queue(request: pytest.FixtureRequest) -> SQSQueue:
    """A new SQS queue on the moto server (emptied before each test)."""
    aws = request.getfixturevalue("aws")
    url, _ = aws.queue(f"suite-{next(_queue_names)}")
    return SQSQueue(url, endpoint_url=aws.endpoint_url, region_name=REGION)


#: Backend name → a factory taking the test's request (for the fixtures it needs). Durable
#: backends add themselves here.
BACKENDS: dict[str, Callable[[pytest.FixtureRequest], EventQueue]] = {
    "memory": lambda request: MemoryQueue(),
    "sqlite": lambda request: SQLiteQueue(request.getfixturevalue("tmp_path") / "q.db"),
    "sqs": sqs_queue,
}


@pytest.fixture(params=sorted(BACKENDS))
def make_queue(request: pytest.FixtureRequest) -> Callable[[], EventQueue]:
    """A factory of fresh queues of one backend."""
    return lambda: BACKENDS[request.param](request)


class Taker:
    """A consumer with *room* free slots: it takes offered events while it has room."""

    def __init__(self, room: int) -> None:
        self.room = room
        self.offered: list[EventState] = []
        self.redelivered: list[tuple[ExecutionRecord | None, DeadLetterMessage | None]] = []

    def offer(self, state: EventState, /) -> bool:
        if self.room <= 0:
            return False
        self.room -= 1
        self.offered.append(state)
        return True

    def capacity(self) -> int:
        return self.room

    def redeliver(self, record: ExecutionRecord | None, dead_letter: DeadLetterMessage | None):
        self.redelivered.append((record, dead_letter))

    def pending_changed(self) -> None:
        pass


async def settled(value: Awaitable[Any] | Any) -> Any:
    """The value of a backend call, awaited if the backend answered with an awaitable."""
    return await value if inspect.isawaitable(value) else value


async def offered_within(taker: Taker, count: int, clock: VirtualClock, seconds: float) -> None:
    """Let time pass (virtual) until *taker* was offered *count* events, or fail."""
    async with clock.timeout(seconds):
        while len(taker.offered) < count:
            await clock.sleep(0.01)


def state(n: int, at: float = 1_700_000_000.0) -> EventState:
    return EventState(f"request-{n}", json.dumps({"n": n}), at)


def record_for(s: EventState) -> ExecutionRecord:
    context = RequestContext(
        s.request_id, "arn:aws:lambda:::function:f:$LATEST", Condition.SUCCESS, 1
    )
    return ExecutionRecord(VirtualClock().now(), context, s.body, None, "null")


@pytest.fixture
def clock() -> VirtualClock:
    """A virtual clock; it attaches to the test's loop on first use."""
    return VirtualClock()


async def started(queue: EventQueue, taker: Taker, clock: VirtualClock) -> EventQueue:
    clock.monotonic()  # attach to this loop before the backend sets timers
    queue.start(taker, clock, lease_seconds=33)
    return queue


async def test_an_accepted_event_is_offered_at_once_to_a_consumer_with_room(make_queue, clock):
    """put(): the event is due at once; a consumer with room is offered it, exactly once."""
    taker = Taker(room=5)
    queue = await started(make_queue(), taker, clock)
    await settled(queue.put(state(1)))
    await offered_within(taker, 1, clock, 5)
    assert [s.request_id for s in taker.offered] == ["request-1"]
    assert queue.pending() == 1
    assert queue.take() is None
    queue.stop()


async def test_events_a_busy_consumer_refused_wait_in_order_for_take(make_queue, clock):
    """With no room, due events wait in acceptance order; take() leases them one by one."""
    taker = Taker(room=0)
    queue = await started(make_queue(), taker, clock)
    for n in range(3):
        await settled(queue.put(state(n)))
    await clock.sleep(1)
    taken = [queue.take() for _ in range(4)]
    assert [s.request_id if s else None for s in taken] == [
        "request-0",
        "request-1",
        "request-2",
        None,
    ]
    assert queue.pending() == 3
    queue.stop()


async def test_a_rescheduled_event_is_due_only_after_its_delay(make_queue, clock):
    """reschedule(state, 60): not offered before +60 s; then offered with its new state."""
    taker = Taker(room=5)
    queue = await started(make_queue(), taker, clock)
    first = state(1)
    await settled(queue.put(first))
    await offered_within(taker, 1, clock, 5)
    began = clock.elapsed
    retried = first._replace(attempts=1, error='{"errorMessage":"x"}', error_message="x")
    await settled(queue.reschedule(retried, 60))
    await clock.sleep(59)
    assert len(taker.offered) == 1
    assert [(s.request_id, w) for s, w in queue.snapshot()] == [("request-1", WAITING)]
    await offered_within(taker, 2, clock, 5)
    assert taker.offered[1] == retried
    assert 60 <= clock.elapsed - began < 61
    queue.stop()


async def test_finishing_forgets_the_event(make_queue, clock):
    """finish(): True, and the event is no longer pending nor listed anywhere."""
    taker = Taker(room=5)
    queue = await started(make_queue(), taker, clock)
    first = state(1)
    await settled(queue.put(first))
    await offered_within(taker, 1, clock, 5)
    assert await settled(queue.finish(first, record_for(first), None)) is True
    queue.delivered(first.request_id, "record")
    assert queue.pending() == 0
    assert list(queue.snapshot()) == []
    queue.stop()


async def test_finishing_keeps_a_dead_letter_with_the_record(make_queue, clock):
    """finish() with a dead letter is accepted the same way (the backend may keep both)."""
    taker = Taker(room=5)
    queue = await started(make_queue(), taker, clock)
    first = state(1)
    await settled(queue.put(first))
    await offered_within(taker, 1, clock, 5)
    letter = DeadLetterMessage.build(first.body, first.request_id, "200", "boom")
    assert await settled(queue.finish(first, record_for(first), letter)) is True
    assert queue.pending() == 0
    queue.stop()


async def test_snapshot_names_queued_and_waiting_events(make_queue, clock):
    """snapshot(): events waiting for a slot are queued; delayed ones are waiting to retry."""
    taker = Taker(room=1)
    queue = await started(make_queue(), taker, clock)
    await settled(queue.put(state(1)))
    await offered_within(taker, 1, clock, 5)
    await settled(queue.put(state(2)))
    await settled(queue.reschedule(taker.offered[0]._replace(attempts=1), 600))
    await clock.sleep(1)
    assert sorted((s.request_id, w) for s, w in queue.snapshot()) == [
        ("request-1", WAITING),
        ("request-2", QUEUED),
    ]
    queue.stop()


async def test_a_stopped_queue_offers_nothing(make_queue, clock):
    """stop(): delayed events falling due afterwards are not offered."""
    taker = Taker(room=5)
    queue = await started(make_queue(), taker, clock)
    first = state(1)
    await settled(queue.put(first))
    await offered_within(taker, 1, clock, 5)
    await settled(queue.reschedule(first._replace(attempts=1), 10))
    queue.stop()
    await clock.sleep(30)
    assert len(taker.offered) == 1


def test_event_state_round_trips_through_json():
    """EventState → to_dict → JSON → from_dict gives the same state, field for field."""
    s = EventState("id", '{"a": 1}', 1_700_000_000.5, 2, '{"errorType":"E"}', "m", 180.0, 3, 4)
    assert EventState.from_dict(json.loads(json.dumps(s.to_dict()))) == s


async def test_an_invoker_on_the_backend_runs_the_whole_schedule(make_queue):
    """Through an AsyncInvoker: a success, and a failure after +0, +60 and +180 s, with DLQ."""
    clock = VirtualClock()
    ok, failed, dlq = InMemoryDestination(), InMemoryDestination(), InMemoryDeadLetterQueue()
    seen: list[tuple[int, float]] = []

    def handler(event: dict[str, Any]) -> int:
        seen.append((event["n"], clock.elapsed))
        if event["n"]:
            raise ValueError("no")
        return 0

    invoker = AsyncInvoker(
        handler,
        queue=make_queue(),
        clock=clock,
        on_success=ok,
        on_failure=failed,
        dead_letter_queue=dlq,
    )
    async with invoker:
        good = await invoker.invoke({"n": 0})
        bad = await invoker.invoke({"n": 1})
        await invoker.join(timeout=600)
    assert [r.request_id for r in ok.records] == [good.request_id]
    assert [(r.request_id, r.condition, r.approximate_invoke_count) for r in failed.records] == [
        (bad.request_id, Condition.RETRIES_EXHAUSTED, 3)
    ]
    assert [m.request_id for m in dlq.messages] == [bad.request_id]
    assert sorted(t for n, t in seen if n) == [0, 60, 180]
    assert invoker.pending == 0


async def test_an_invoker_reports_events_left_in_the_backend_at_close(make_queue):
    """Closed with a drain timeout of 0, the invoker names each event still in the backend."""
    clock = VirtualClock()

    def fail(event: Any) -> None:
        raise ValueError("no")

    invoker = AsyncInvoker(fail, queue=make_queue(), clock=clock, drain_timeout=0)
    async with invoker:
        response = await invoker.invoke({})
        await asyncio.sleep(1)
    report = await invoker.aclose()
    assert [(u.request_id, u.state, u.attempts) for u in report] == [
        (response.request_id, WAITING, 1)
    ]


async def test_an_invoker_with_zero_concurrency_ends_every_event_on_the_backend(make_queue):
    """reserved_concurrency=0: each event is offered and ends at once, never attempted."""
    clock = VirtualClock()
    failed = InMemoryDestination()

    def never(event: Any) -> None:
        raise AssertionError("ran with zero concurrency")

    invoker = AsyncInvoker(
        never, queue=make_queue(), clock=clock, reserved_concurrency=0, on_failure=failed
    )
    async with invoker:
        responses = [await invoker.invoke({"n": n}) for n in range(3)]
        await invoker.join(timeout=60)
    assert [(r.request_id, r.condition, r.approximate_invoke_count) for r in failed.records] == [
        (response.request_id, Condition.ZERO_RESERVED_CONCURRENCY, 0) for response in responses
    ]


async def test_an_event_finding_no_free_worker_runs_once_one_is_free(make_queue):
    """One slot, busy for 2.5 s: the second event runs after the first ended, exactly once.

    How it waits is the backend's: in memory it is throttled with AWS's backoff (1 s, 2 s:
    it runs at +3 s); a durable backend leaves it in its store, leased by no one or held
    ahead by this process, until a worker is free. Neither runs it early or twice.
    """
    clock = VirtualClock()
    ran: list[tuple[int, float]] = []

    async def busy(event: dict[str, Any]) -> None:
        ran.append((event["n"], clock.elapsed))
        await asyncio.sleep(2.5)

    invoker = AsyncInvoker(
        busy,
        queue=make_queue(),
        clock=clock,
        reserved_concurrency=1,
        throttling="backoff",
    )
    async with invoker:
        await invoker.invoke({"n": 0})
        await invoker.invoke({"n": 1})
        await invoker.join(timeout=60)
    assert [n for n, _ in ran] == [0, 1]
    assert ran[0][1] == 0
    assert 2.5 <= ran[1][1] <= 3
