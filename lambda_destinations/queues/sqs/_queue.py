"""A distributed queue backend: accepted events in an Amazon SQS standard queue.

Any number of processes on any number of machines share one queue: each invoker on it sends
the events it accepts and receives events to run while it has free workers. Every call to
SQS runs in the queue's threads (boto3 blocks); the event loop only gathers what to send
into batches and acts on the answers. See docs/queues.md for the guarantees: attempts,
records and dead letters are at least once, and a consumer drops repeats by request id.

An event's message is leased to the process that received it for a visibility timeout (the
lease); the process extends it while the event runs or waits there, deletes the message
once the event's record (and dead letter) were handed to their receivers, or sends a new
message with the next state and a delay for a retry, then deletes the old one.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import importlib.util
import itertools
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Sequence
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

from lambda_destinations._clock import Clock, SystemClock
from lambda_destinations._dead_letter import DeadLetterMessage
from lambda_destinations._exceptions import (
    ConfigurationError,
    InvokeError,
    RequestEntityTooLargeError,
)
from lambda_destinations._records import ExecutionRecord
from lambda_destinations._telemetry import logger
from lambda_destinations.destinations.aws._connection import AwsConnection
from lambda_destinations.destinations.aws._errors import (
    DeliveryRetry,
    Failure,
    failure_from_exception,
)
from lambda_destinations.queues._protocol import Consumer
from lambda_destinations.queues._state import QUEUED, WAITING, EventState, State

from ._batcher import BATCH, Batcher
from ._calls import COUNTED, Calls, Received, lost
from ._count import QueueCount
from ._messages import (
    MAX_VISIBILITY,
    MESSAGE_LIMIT,
    STATE_ROOM,
    base64_needed,
    delay_seconds,
    encode,
    fitted,
    size,
)

__all__ = ["SQSQueue"]

T = TypeVar("T")

# Where a message received here is (a lease's ``where``).
AHEAD: Final = "ahead"  # received ahead of need, not offered yet: waits for take()
RUNNING: Final = "running"  # offered or taken: its attempt runs here
HOLDING: Final = "holding"  # received before its not-before time: waits here until then
ENDING: Final = "ending"  # ended: its record and dead letter are being delivered
RESENDING: Final = "resending"  # its retry is being sent as a new message
CHECKING: Final = "checking"  # ended after its lease ran out here: is it still ours?
RESENT: Final = "resent"  # its retry's message was received here before the resend answered

# Leases are extended once less than this part of the visibility timeout is left.
_EXTEND_WHEN_LEFT: Final = 0.5
# A message received ahead is run only within this part of its lease (at most 5 s).
_AHEAD_SHARE: Final = 0.1
_AHEAD_GRACE_MAX: Final = 5.0
# A message received this close before its not-before time waits here rather than in SQS.
_HOLD_HORIZON: Final = 2.0
# Epoch seconds resolve about 0.24 us: a due time this close counts as reached.
_SLACK: Final = 1e-5
# How often SQS is asked for the queue's counts while this process holds nothing: while the
# queue seems not empty (someone may be waiting in join()), and while it seems empty.
_COUNT_BUSY: Final = 1.0
_COUNT_IDLE: Final = 60.0
# On a virtual clock, idle receives space out, doubling from the poll interval up to this.
_VIRTUAL_POLL_MAX: Final = 30.0
# Waits after failed receives, doubling from the poll interval up to this.
_FAILURE_BACKOFF_MAX: Final = 10.0
# Calls of each batched kind (send, resend, delete, change visibility) running at once.
_IN_FLIGHT: Final = 2
# A message this library cannot read is hidden this long each time it is received.
_HIDE: Final = MAX_VISIBILITY // 2
_QUEUE_URL_REGION: Final = re.compile(
    r"^(?:sqs[.-](?P<a>[a-z0-9-]+)\.(?:amazonaws\.com|api\.aws)|(?P<b>[a-z0-9-]+)\.queue\.amazonaws\.com)"
)


class _Sent:
    """What ``put`` answers: awaiting it waits until SQS accepted the event, or raises why not."""

    __slots__ = ("done", "error")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.done: asyncio.Future[None] = loop.create_future()
        self.error: InvokeError | None = None

    def __await__(self) -> Generator[object, None, None]:
        yield from self.done.__await__()
        error = self.error
        if error is not None:
            raise type(error)(str(error)) from error

    def settle(self) -> None:
        if not self.done.done():
            self.done.set_result(None)


class _Lease:
    """A message received here and not yet deleted, released or replaced."""

    __slots__ = (
        "check_at",
        "counted",
        "expect",
        "extending",
        "extra",
        "hold_due",
        "lost",
        "message_id",
        "receipt",
        "received",
        "state",
        "until",
        "where",
    )

    def __init__(
        self, message: Received, state: EventState, until: float, now: float, counted: bool
    ) -> None:
        self.message_id = message.message_id
        self.receipt = message.receipt
        self.state = state
        #: When SQS makes the message visible again, on this process's monotonic clock.
        self.until = until
        #: When it was received (or became ahead), on the monotonic clock.
        self.received = now
        #: Whether the queue's count includes it (see `QueueCount`).
        self.counted = counted
        self.where = RUNNING
        self.check_at = math.inf
        self.extending = False
        #: The receipt was refused: another process holds the message now.
        self.lost = False
        #: Deliveries still to hear of before the message is deleted.
        self.expect = 0
        self.hold_due = math.inf
        #: Other messages of the same event received here (copies): message id → receipt.
        self.extra: dict[str, str] = {}


class SQSQueue:
    """Accepted events in the SQS standard queue at *queue_url*, shared by every process on it.

    The client: a boto3 SQS *client*, or one made on first use from *session* (default: a new
    ``boto3.session.Session()``, which reads the environment and profiles) at *endpoint_url*,
    in *region_name* (default: the queue URL's region, else boto3's), with botocore's own
    retries off (calls are retried here) and *botocore_config* merged over these settings.

    *lease_seconds* overrides the visibility timeout a process holds a message for (default:
    what the invoker asks, the function's timeout plus 30 s; it is extended while the event
    runs). *wait_seconds* is the long poll of an idle receive (0 to 20). *poll_interval* is
    how long an idle process waits between receives that do not long-poll. *read_ahead* is how
    many events a process receives beyond its free workers, for the next worker to free up;
    *max_receives* bounds the receives in flight, *max_threads* the threads (and connections)
    the calls run in. With ``consume=False`` the process only sends events (a web front end).

    On a clock other than the system clock (a `VirtualClock` in tests), SQS's timers cannot
    follow it: receives do not long-poll, and retry waits are kept in this process (the
    message is sent at once, with a not-before time, and held here until then).
    """

    __slots__ = (
        "_ahead",
        "_calls",
        "_calls_in_flight",
        "_changes",
        "_checks",
        "_clock",
        "_connection",
        "_consume",
        "_consumer",
        "_count",
        "_count_at",
        "_counting",
        "_deletes",
        "_deleting",
        "_early",
        "_empty",
        "_ending",
        "_failures",
        "_fresh",
        "_generation",
        "_grace",
        "_held",
        "_holding",
        "_idle_polling",
        "_lease_override",
        "_limit",
        "_loop",
        "_max_receives",
        "_next_poll",
        "_order",
        "_poll_interval",
        "_pump",
        "_puts",
        "_read_ahead",
        "_real_time",
        "_receiving",
        "_requested",
        "_resends",
        "_running",
        "_unended",
        "_unsent",
        "_visibility",
        "_wait",
        "_wait_seconds",
        "_waits",
        "_wake",
        "_wall",
        "_warned",
        "queue_url",
    )

    def __init__(
        self,
        queue_url: str,
        *,
        session: Any = None,
        client: Any = None,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        botocore_config: Any = None,
        lease_seconds: float | None = None,
        wait_seconds: int = 20,
        poll_interval: float = 1.0,
        read_ahead: int = 10,
        max_receives: int = 4,
        max_threads: int = 12,
        consume: bool = True,
    ) -> None:
        self.queue_url = _checked_url(queue_url)
        if client is not None and (session is not None or endpoint_url is not None):
            msg = (
                "SQSQueue takes either client= or what to make one from (session=, "
                "endpoint_url=), not both: configure the client you pass"
            )
            raise ConfigurationError(msg)
        if client is None and session is None and importlib.util.find_spec("boto3") is None:
            msg = (
                "SQSQueue needs boto3, which is not installed: "
                "pip install 'lambda_destinations[aws]'"
            )
            raise ConfigurationError(msg)
        if lease_seconds is not None:
            _check_seconds("lease_seconds", lease_seconds, 1, MAX_VISIBILITY)
        if isinstance(wait_seconds, bool) or not isinstance(wait_seconds, int):
            msg = f"wait_seconds={wait_seconds!r} must be a whole number of seconds, 0 to 20"
            raise ConfigurationError(msg)
        _check_seconds("wait_seconds", wait_seconds, 0, 20)
        _check_seconds("poll_interval", poll_interval, 0, math.inf, above=True)
        _check_count("read_ahead", read_ahead, 0)
        _check_count("max_receives", max_receives, 1)
        _check_count("max_threads", max_threads, 1)
        self._lease_override = lease_seconds
        self._wait_seconds = wait_seconds
        self._poll_interval = float(poll_interval)
        self._read_ahead = read_ahead
        self._max_receives = max_receives
        self._consume = bool(consume)
        self._connection = AwsConnection(
            session=session,
            clients=None if client is None else {"sqs": client},
            endpoint_url=endpoint_url,
            region_name=region_name,
            botocore_config=botocore_config,
            max_threads=max_threads,
            # A long poll must not time out before SQS answers.
            read_timeout=wait_seconds + 5,
        )
        self._calls = Calls(
            self._connection, self.queue_url, _region(self.queue_url), DeliveryRetry()
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._consumer: Consumer | None = None
        self._clock: Clock | None = None
        self._wall: Callable[[], float] = time.time
        self._real_time = True
        self._running = False
        self._generation = 0
        self._pump: asyncio.Task[None] | None = None
        self._wake: asyncio.Future[None] | None = None
        self._visibility = 0
        self._grace = 0.0
        self._wait = 0
        self._limit = MESSAGE_LIMIT
        self._count = QueueCount()
        self._order = itertools.count()
        self._reset()

    def _reset(self) -> None:
        # Everything a start begins afresh with.
        #: Accepted here, not yet in SQS: request id → state.
        self._unsent: dict[str, EventState] = {}
        #: Messages received here: request id → lease.
        self._held: dict[str, _Lease] = {}
        self._ending = 0
        self._ahead: deque[_Lease] = deque()
        # (when to extend, order, lease) and (due on the clock, order, lease)
        self._checks: list[tuple[float, int, _Lease]] = []
        self._holding: list[tuple[float, int, _Lease]] = []
        #: Retry waits stored from here: request id → (state, due on the clock's monotonic).
        self._waits: dict[str, tuple[EventState, float]] = {}
        #: Deletes on their way: receipt → message id. Message ids of events ended here
        #: whose delete has not started (SQS still counts them).
        self._deleting: dict[str, str] = {}
        self._unended: set[str] = set()
        self._warned: set[str] = set()
        #: Events received here before their send was answered.
        self._early: set[str] = set()
        self._count.reset()
        self._counting = False
        self._count_at = -math.inf
        self._calls_in_flight = 0
        self._receiving = 0
        self._requested = 0
        self._idle_polling = False
        self._empty = 0
        self._fresh = True
        self._next_poll = -math.inf
        self._failures = 0

    def __repr__(self) -> str:
        name = self.queue_url.rstrip("/").rsplit("/", 1)[-1]
        return f"<SQSQueue {name!r}, {self.pending()} pending>"

    # -- the EventQueue protocol -------------------------------------------------------------

    def start(self, consumer: Consumer, clock: Clock, lease_seconds: float) -> None:
        self.stop()
        loop = asyncio.get_running_loop()
        # A virtual clock attaches to the loop on first use: before the first call, so that
        # it knows the call runs and keeps its time still meanwhile.
        clock.monotonic()
        self._loop = loop
        self._consumer = consumer
        self._clock = clock
        self._real_time = type(clock) is SystemClock
        self._wall = time.time if self._real_time else lambda: clock.now().timestamp()
        lease = self._lease_override if self._lease_override is not None else lease_seconds
        self._visibility = min(MAX_VISIBILITY, max(1, math.ceil(lease)))
        self._grace = min(_AHEAD_GRACE_MAX, self._visibility * _AHEAD_SHARE)
        # A long poll holds a virtual clock still for as long, in real time.
        self._wait = self._wait_seconds if self._real_time else 0
        self._reset()
        self._generation += 1
        self._running = True
        calls, start = self._calls, self._start_batch

        def broken(error: BaseException) -> Failure:
            return failure_from_exception(error)

        self._puts: Batcher[tuple[str, int], Failure | None] = Batcher(
            calls.send, start, loop, broken, max_in_flight=_IN_FLIGHT, max_bytes=MESSAGE_LIMIT
        )
        self._resends: Batcher[
            tuple[str, int, tuple[str, ...]], tuple[Failure | None, Failure | None]
        ] = Batcher(
            calls.resend,
            start,
            loop,
            lambda error: (broken(error), None),
            max_in_flight=_IN_FLIGHT,
            max_bytes=MESSAGE_LIMIT,
        )
        self._deletes: Batcher[str, Failure | None] = Batcher(
            calls.delete, start, loop, broken, max_in_flight=_IN_FLIGHT
        )
        self._changes: Batcher[tuple[str, int], Failure | None] = Batcher(
            calls.change_visibility, start, loop, broken, max_in_flight=_IN_FLIGHT
        )
        # Until SQS has counted the queue, pending() cannot say it is empty; the first sends
        # wait for that count, so that what it says and what was sent here add up.
        self._begin_count()
        self._pump = loop.create_task(self._run())
        consumer.pending_changed()

    def put(self, state: EventState, /) -> _Sent:
        loop = self._loop
        if loop is None or not self._running:
            msg = f"{self!r} is not started: an invoker starts it when it binds to its loop"
            raise InvokeError(msg)
        message = encode(state)
        length = size(message)
        if length > self._limit - STATE_ROOM:
            consumer = self._consumer
            if consumer is not None:
                consumer.pending_changed()  # the invoker counted it in; it is not
            raise self._too_large(state, length)
        sent = _Sent(loop)
        self._unsent[state.request_id] = state
        done = functools.partial(self._put_done, state.request_id, sent, self._generation)
        self._puts.add((message, 0), done, length)
        return sent

    def take(self) -> EventState | None:
        ahead = self._ahead
        if ahead:
            now = time.monotonic()
            held = self._held
            while ahead:
                lease = ahead.popleft()
                if lease.where is not AHEAD or held.get(lease.state.request_id) is not lease:
                    continue
                if now - lease.received <= self._grace and not lease.lost:
                    lease.where = RUNNING
                    self._check_later(lease)
                    if len(ahead) <= self._read_ahead // 2:
                        self._kick()
                    return lease.state
                self._give_back(lease)
        self._kick()
        return None

    def reschedule(self, state: EventState, delay: float, /) -> asyncio.Future[None] | None:
        request_id = state.request_id
        lease = self._held.get(request_id)
        if lease is None or lease.lost or not self._running:
            if lease is not None:
                self._drop(lease)
            self._not_held(state, "retry")
            return None
        clock, loop = self._clock, self._loop
        assert clock is not None
        assert loop is not None
        delay = max(0.0, delay)
        not_before = self._wall() + delay if delay > 0 else None
        state, message = fitted(state, not_before, self._limit)
        if delay > 0:
            self._waits[request_id] = (state, clock.monotonic() + delay)
        lease.where = RESENDING
        done: asyncio.Future[None] = loop.create_future()
        seconds = delay_seconds(delay) if self._real_time else 0
        receipts = (lease.receipt, *lease.extra.values())
        callback = functools.partial(self._resent, lease, done, delay, self._generation)
        self._resends.add((message, seconds, receipts), callback, size(message))
        return done

    def finish(
        self,
        state: EventState,
        record: ExecutionRecord,
        dead_letter: DeadLetterMessage | None,
        /,
    ) -> asyncio.Future[bool] | bool:
        lease = self._held.get(state.request_id)
        if lease is None or not self._running:
            self._not_held(state, "outcome")
            return False
        if lease.lost:
            self._drop(lease)
            return False
        expect = 1 if dead_letter is None else 2
        if time.monotonic() < lease.until:
            self._end(lease, expect)
            return True
        # The lease ran out here (the loop stalled longer than it): ask SQS whether the
        # message is still this process's, extending the lease for the deliveries.
        loop = self._loop
        assert loop is not None
        lease.where = CHECKING
        answer: asyncio.Future[bool] = loop.create_future()
        callback = functools.partial(self._checked, lease, answer, expect, time.monotonic())
        self._changes.add((lease.receipt, self._visibility), callback)
        return answer

    def delivered(self, request_id: str, target: str, /) -> None:
        lease = self._held.get(request_id)
        if lease is None or lease.where is not ENDING:
            return
        lease.expect -= 1
        if lease.expect > 0:
            return
        self._drop(lease)
        if not self._running:
            return  # stop() gives the message back: the event runs again elsewhere
        for message_id, receipt in ((lease.message_id, lease.receipt), *lease.extra.items()):
            self._deleting[receipt] = message_id
            self._deletes.add(receipt, functools.partial(self._deleted, lease, receipt))

    def pending(self) -> int:
        local = len(self._unsent) + len(self._held) - self._ending
        return max(local, self._count.value())

    def snapshot(self) -> Iterable[tuple[EventState, State]]:
        held = self._held
        listed: list[tuple[EventState, State]] = [(s, QUEUED) for s in self._unsent.values()]
        listed += [
            (lease.state, QUEUED)
            for lease in self._ahead
            if lease.where is AHEAD and held.get(lease.state.request_id) is lease
        ]
        holding = {rid for rid, lease in held.items() if lease.where is HOLDING}
        listed += [(held[rid].state, WAITING) for rid in holding]
        if self._waits and self._clock is not None:
            now = self._clock.monotonic()
            listed += [
                (s, WAITING)
                for rid, (s, due) in self._waits.items()
                if due > now and rid not in holding
            ]
        return listed

    def stop(self) -> None:
        if not self._running:
            return
        self._running = False
        self._generation += 1
        pump, self._pump = self._pump, None
        if pump is not None and not pump.done() and not pump.get_loop().is_closed():
            pump.cancel()
        self._wake = None
        puts = self._puts.drain()
        resends = self._resends.drain()
        deletes = [receipt for receipt, _ in self._deletes.drain()]
        changes = [entry for entry, _ in self._changes.drain()]
        # Every message held here goes back to the queue at once, for any process to take:
        # an event cut off mid-attempt or mid-delivery runs again; one waiting here waits
        # again wherever it is received. A retry being sent finishes in its own thread.
        for lease in self._held.values():
            if lease.where is not RESENDING and not lease.lost:
                changes += [(r, 0) for r in (lease.receipt, *lease.extra.values())]
        self._connection.close()
        loop = self._loop
        self._consumer = None
        self._held.clear()
        self._ahead.clear()
        if not (puts or resends or deletes or changes):
            return
        calls = self._calls

        def last() -> None:
            # In a thread of its own, which the interpreter waits for at exit.
            sent = calls.send([entry for entry, _ in puts]) if puts else []
            resent = calls.resend([entry for entry, _ in resends]) if resends else []
            if deletes:
                calls.delete(deletes)
            if changes:
                for at in range(0, len(changes), BATCH):
                    calls.change_visibility(changes[at : at + BATCH])
            if loop is None:
                return

            def settle() -> None:
                for (_, done), result in zip(puts, sent, strict=True):
                    done(result)
                for (_, redone), twice in zip(resends, resent, strict=True):
                    redone(twice)

            with contextlib.suppress(RuntimeError):  # a closed loop has nobody to wake
                loop.call_soon_threadsafe(settle)

        _in_own_thread(last, self)

    # -- ending, retrying, giving back -------------------------------------------------------

    def _end(self, lease: _Lease, expect: int) -> None:
        lease.where = ENDING
        lease.expect = expect
        self._ending += 1
        self._count.ended(lease.counted)
        if lease.counted:
            self._unended.add(lease.message_id)

    def _drop(self, lease: _Lease) -> None:
        # The lease is no longer this process's business.
        held = self._held
        request_id = lease.state.request_id
        if held.get(request_id) is lease:
            del held[request_id]
            if lease.where is ENDING:
                self._ending -= 1

    def _give_back(self, lease: _Lease) -> None:
        # Received ahead too long ago to run now: visible again at once, for any process.
        self._drop(lease)
        self._count.given_back(lease.state.request_id, lease.counted)
        if self._running and not lease.lost:
            self._changes.add((lease.receipt, 0), _ignore)

    def _put_done(
        self, request_id: str, sent: _Sent, generation: int, failure: Failure | None
    ) -> None:
        if self._unsent.pop(request_id, None) is not None and generation == self._generation:
            if failure is None:
                early = request_id in self._early
                if early:
                    self._early.discard(request_id)
                self._count.sent(request_id, received=early)
                self._fresh = True
                self._kick()
            else:
                logger.error(
                    "%r: SQS did not accept event %s: %s: %s (AWS request id %s); it is not queued",
                    self,
                    request_id,
                    failure.code,
                    failure.message,
                    failure.aws_request_id or "none",
                )
                sent.error = InvokeError(
                    f"{self!r} could not queue event {request_id}: SQS answered "
                    f"{failure.code}: {failure.message}"
                )
                self._changed()
        elif failure is not None:
            sent.error = InvokeError(
                f"{self!r} could not queue event {request_id} before it stopped: "
                f"{failure.code}: {failure.message}"
            )
        sent.settle()

    def _resent(
        self,
        lease: _Lease,
        done: asyncio.Future[None],
        delay: float,
        generation: int,
        result: tuple[Failure | None, Failure | None],
    ) -> None:
        if not done.done():
            done.set_result(None)
        if generation != self._generation:
            return
        self._drop(lease)
        request_id = lease.state.request_id
        sent, deleted = result
        if sent is None:
            if lease.where is not RESENT:
                self._count.given_back(request_id, lease.counted)
            if deleted is not None:
                logger.warning(
                    "%r: the retry of event %s is queued, but its previous message could not "
                    "be deleted (%s: %s): SQS may deliver that one again, and the event may "
                    "run once more",
                    self,
                    request_id,
                    deleted.code,
                    deleted.message,
                )
            if delay <= 0 or not self._real_time:
                self._fresh = True
                self._kick()
            return
        # Not stored: the old message comes back after the wait, with the state it had
        # before this attempt (the attempt is not counted), so the retry still happens.
        self._waits.pop(request_id, None)
        logger.error(
            "%r: the retry of event %s could not be queued (%s: %s); its previous message "
            "runs again after the wait, with its attempt count as before",
            self,
            request_id,
            sent.code,
            sent.message,
        )
        self._count.given_back(request_id, lease.counted)
        if not lease.lost:
            wait = min(_HIDE, max(0, math.ceil(delay)))
            self._changes.add((lease.receipt, wait), _ignore)
        self._changed()

    def _checked(
        self,
        lease: _Lease,
        answer: asyncio.Future[bool],
        expect: int,
        asked_at: float,
        failure: Failure | None,
    ) -> None:
        if lost(failure):
            self._drop(lease)
            result = False
        else:
            if failure is None:
                lease.until = asked_at + self._visibility
            self._check_later(lease)
            self._end(lease, expect)
            result = True
        if not answer.done():
            answer.set_result(result)

    def _deleted(self, lease: _Lease, receipt: str, failure: Failure | None) -> None:
        message_id = self._deleting.pop(receipt, None)
        if message_id is not None:
            self._unended.discard(message_id)
        if failure is None:
            return
        logger.warning(
            "%r: the message of event %s could not be deleted (%s: %s); SQS may deliver it "
            "again and the event run once more: receivers drop repeats by request id",
            self,
            lease.state.request_id,
            failure.code,
            failure.message,
        )

    def _not_held(self, state: EventState, what: str) -> None:
        logger.warning(
            "%r: event %s is not leased here (the queue stopped, or another process took its "
            "message); its %s is not stored here, and the event runs again wherever SQS "
            "delivers it",
            self,
            state.request_id,
            what,
        )

    def _too_large(self, state: EventState, length: int) -> RequestEntityTooLargeError:
        encoded = (
            " (its payload holds characters SQS cannot carry as text, so it goes "
            "base64-encoded, a third larger)"
            if base64_needed(state.body)
            else ""
        )
        return RequestEntityTooLargeError(
            f"{length} byte event is too large for {self!r}{encoded}: an SQS message holds at "
            f"most {self._limit} bytes, {STATE_ROOM} of which are kept for the event's retry "
            "state; send a smaller payload, or store large payloads elsewhere (S3) and "
            "invoke with a reference to them"
        )

    # -- receiving ---------------------------------------------------------------------------

    def _want(self) -> int:
        consumer = self._consumer
        if not self._consume or consumer is None:
            return 0
        return consumer.capacity() + self._read_ahead - len(self._ahead) - self._requested

    def _receive_more(self, now: float) -> None:
        want = self._want()
        allowed = 1 if self._idle_polling else self._max_receives
        while want > 0 and self._receiving < allowed:
            if not self._fresh and now < self._next_poll:
                return
            count = min(BATCH, want)
            want -= count
            if self._fresh:
                self._empty = 0
            self._fresh = False
            self._receiving += 1
            self._requested += count
            generation = self._generation
            future = self._start(self._receive, generation, count, self._wait, self._visibility)
            future.add_done_callback(
                functools.partial(self._received, count, time.monotonic(), generation)
            )

    def _receive(
        self, generation: int, count: int, wait: int, visibility: int
    ) -> list[Received] | Failure:
        # In a thread. Messages that arrive after the queue stopped go straight back.
        found = self._calls.receive(count, wait, visibility)
        if generation != self._generation and isinstance(found, list) and found:
            self._calls.change_visibility([(m.receipt, 0) for m in found])
            return []
        return found

    def _received(
        self,
        count: int,
        started: float,
        generation: int,
        future: asyncio.Future[list[Received] | Failure],
    ) -> None:
        found = _result(future)
        if generation != self._generation:
            if isinstance(found, list) and found:
                calls = self._calls
                back = [(m.receipt, 0) for m in found]
                _in_own_thread(functools.partial(_release, calls, back), self)
            return
        self._receiving -= 1
        self._requested -= count
        clock = self._clock
        assert clock is not None
        now = clock.monotonic()
        if not isinstance(found, list):
            self._failures += 1
            wait = min(_FAILURE_BACKOFF_MAX, self._poll_interval * 2 ** (self._failures - 1))
            self._next_poll = now + wait
            self._fresh = False
            logger.error(
                "%r: receiving failed (%s: %s, AWS request id %s); trying again in %g s",
                self,
                found.code,
                found.message,
                found.aws_request_id or "none",
                wait,
            )
            return
        self._failures = 0
        if not found:
            self._idle_polling = True
            self._empty += 1
            # A long poll was the wait; without one, wait before asking again. On a virtual
            # clock, where only other invokers of the process could add messages, the waits
            # grow: a test's long virtual waits then cost a few receives, not one a second.
            wait = 0.0 if self._wait else self._poll_interval
            if not self._real_time:
                wait = min(_VIRTUAL_POLL_MAX, wait * 2 ** min(self._empty - 1, 16))
            self._next_poll = now + wait
            return
        self._idle_polling = False
        self._empty = 0
        until = started + self._visibility
        for message in found:
            self._take_in(message, until)

    def _take_in(self, message: Received, until: float) -> None:
        decoded = message.decoded
        if decoded is None:
            self._hide(message)
            return
        state, not_before = decoded
        request_id = state.request_id
        if message.message_id in self._deleting.values():
            self._deletes.add(message.receipt, _ignore)  # its delete is on the way already
            return
        counted: bool | None = None
        lease = self._held.get(request_id)
        if (
            lease is not None
            and lease.where is RESENDING
            and lease.message_id != message.message_id
        ):
            # The retry's new message, received before its resend was answered here: it
            # takes over from the old lease, which the resend's answer lets go.
            lease.where = RESENT
            counted = lease.counted
            lease = None
        if lease is not None:
            if lease.message_id == message.message_id:
                # Its lease ran out here and SQS gave it back to this process: a renewal.
                lease.receipt = message.receipt
                lease.until = until
                lease.lost = False
                self._check_later(lease)
            else:
                lease.extra[message.message_id] = message.receipt  # a copy: ended with it
            return
        if counted is None:
            if request_id in self._unsent:
                # Received before its send was answered here: counted once that answer comes.
                counted = True
                self._early.add(request_id)
            else:
                counted = self._count.received(request_id)
        lease = _Lease(message, state, until, time.monotonic(), counted)
        self._held[request_id] = lease
        if not_before is not None and self._hold(lease, not_before):
            return
        self._waits.pop(request_id, None)
        self._offer(lease)

    def _hold(self, lease: _Lease, not_before: float) -> bool:
        # Whether a message received before its not-before time waits, here or in SQS.
        clock = self._clock
        assert clock is not None
        now = clock.monotonic()
        request_id = lease.state.request_id
        own = self._waits.get(request_id)
        if own is not None:
            left = own[1] - now  # a wait stored here is due exactly, on the clock
        else:
            left = not_before - self._wall()
            if left <= _SLACK:
                return False
        if left <= 0:
            return False
        if self._real_time and left > _HOLD_HORIZON:
            self._drop(lease)
            self._count.given_back(request_id, lease.counted)
            self._changes.add((lease.receipt, min(_HIDE, math.ceil(left))), _ignore)
            return True
        lease.where = HOLDING
        lease.hold_due = now + left
        heapq.heappush(self._holding, (lease.hold_due, next(self._order), lease))
        self._check_later(lease)
        return True

    def _offer(self, lease: _Lease) -> None:
        consumer = self._consumer
        assert consumer is not None
        if consumer.capacity() > 0:
            lease.where = RUNNING
            self._check_later(lease)
            if consumer.offer(lease.state):
                return
        lease.where = AHEAD
        lease.received = time.monotonic()
        self._ahead.append(lease)

    def _hide(self, message: Received) -> None:
        if message.message_id not in self._warned:
            self._warned.add(message.message_id)
            logger.error(
                "%r: message %s was not written by lambda_destinations (or by a version that "
                "wrote it differently); it is left in the queue, hidden for %d s at a time. "
                "Use a queue of its own for the invoker, and remove the message",
                self,
                message.message_id,
                _HIDE,
            )
        self._changes.add((message.receipt, _HIDE), _ignore)

    # -- leases ------------------------------------------------------------------------------

    def _check_later(self, lease: _Lease) -> None:
        lease.check_at = lease.until - self._visibility * _EXTEND_WHEN_LEFT
        checks = self._checks
        first = not checks or lease.check_at < checks[0][0]
        heapq.heappush(checks, (lease.check_at, next(self._order), lease))
        if first:
            self._kick()

    def _extend_due(self, now: float) -> None:
        checks, held = self._checks, self._held
        while checks and checks[0][0] <= now:
            at, _, lease = heapq.heappop(checks)
            if (
                at != lease.check_at
                or lease.extending
                or lease.lost
                or lease.where is AHEAD
                or held.get(lease.state.request_id) is not lease
            ):
                continue
            lease.extending = True
            callback = functools.partial(self._extended, lease, now, self._generation)
            self._changes.add((lease.receipt, self._visibility), callback)

    def _extended(
        self, lease: _Lease, asked_at: float, generation: int, failure: Failure | None
    ) -> None:
        lease.extending = False
        if generation != self._generation:
            return
        if failure is None:
            lease.until = asked_at + self._visibility
            self._check_later(lease)
        elif lost(failure):
            lease.lost = True
            logger.warning(
                "%r: the lease of event %s ran out and another process received its message "
                "(%s); nothing of this attempt is stored or delivered here",
                self,
                lease.state.request_id,
                failure.code,
            )
            if lease.where in (HOLDING, AHEAD):
                self._drop(lease)
                self._changed()
        else:
            logger.warning(
                "%r: extending the lease of event %s failed (%s: %s); trying again",
                self,
                lease.state.request_id,
                failure.code,
                failure.message,
            )
            self._push_check(lease, asked_at + 1.0)

    def _push_check(self, lease: _Lease, at: float) -> None:
        lease.check_at = at
        heapq.heappush(self._checks, (at, next(self._order), lease))

    def _release_holds(self, now: float) -> None:
        holding, held = self._holding, self._held
        while holding and holding[0][0] <= now:
            due, _, lease = heapq.heappop(holding)
            if (
                lease.where is not HOLDING
                or lease.hold_due != due
                or held.get(lease.state.request_id) is not lease
            ):
                continue
            self._waits.pop(lease.state.request_id, None)
            self._offer(lease)

    # -- counting ----------------------------------------------------------------------------

    def _begin_count(self) -> None:
        batchers = (self._puts, self._resends, self._deletes)
        if any(b.in_flight for b in batchers):
            return  # SQS counts while nothing of ours is sent or deleted
        for batcher in batchers:
            batcher.pause()
        self._counting = True
        token = self._count.asking()
        generation = self._generation
        future = self._start(self._calls.attributes)
        future.add_done_callback(functools.partial(self._counted, token, generation))

    def _counted(
        self, token: int, generation: int, future: asyncio.Future[dict[str, int] | Failure]
    ) -> None:
        if generation != self._generation:
            return
        self._counting = False
        clock = self._clock
        assert clock is not None
        self._count_at = clock.monotonic()
        for batcher in (self._puts, self._resends, self._deletes):
            batcher.resume()
        found = _result(future)
        if not isinstance(found, dict):
            logger.warning(
                "%r: counting the queue's messages failed (%s: %s); asking again later",
                self,
                found.code,
                found.message,
            )
            return
        before = self.pending()
        total = sum(found.get(name, 0) for name in COUNTED)
        self._count.answered(token, total, len(self._unended))
        limit = found.get("MaximumMessageSize")
        if limit:
            self._limit = min(MESSAGE_LIMIT, limit)
        if self.pending() != before:
            self._changed()

    # -- the pump ----------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            delay = self._tick()
            await self._idle(delay)

    def _tick(self) -> float | None:
        # Does what is due now; answers how long to wait for the next thing (None: a kick).
        clock = self._clock
        assert clock is not None
        now_real, now = time.monotonic(), clock.monotonic()
        self._extend_due(now_real)
        self._release_holds(now)
        if self._consume:
            self._receive_more(now)
        count_at = math.inf if self._counting else self._count_due_at()
        if count_at <= now:
            self._begin_count()
            count_at = math.inf
        if not self._real_time and self._calls_in_flight:
            return None  # a virtual clock stands still while calls run: they wake the pump
        times = [count_at - now]
        if self._checks:
            times.append(self._checks[0][0] - now_real)
        if self._holding:
            times.append(self._holding[0][0] - now)
        allowed = 1 if self._idle_polling else self._max_receives
        if self._consume and self._want() > 0 and self._receiving < allowed:
            times.append(self._next_poll - now)
        wait = min(times)
        return None if wait == math.inf else max(0.0, wait)

    def _count_due_at(self) -> float:
        local = len(self._unsent) + len(self._held) - self._ending
        if local:
            return math.inf
        return self._count_at + (_COUNT_BUSY if self._count.value() else _COUNT_IDLE)

    async def _idle(self, delay: float | None) -> None:
        loop, clock = self._loop, self._clock
        assert loop is not None
        assert clock is not None
        self._wake = wake = loop.create_future()
        try:
            async with clock.timeout(delay):
                await wake
        except TimeoutError:
            pass
        finally:
            self._wake = None

    def _kick(self) -> None:
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    def _changed(self) -> None:
        consumer = self._consumer
        if consumer is not None:
            consumer.pending_changed()

    # -- calls -------------------------------------------------------------------------------

    def _start(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        # Runs *fn* in a thread of the connection; the pump wakes when it is done.
        self._calls_in_flight += 1
        future = self._connection.run(fn, *args)
        future.add_done_callback(functools.partial(self._call_done, self._generation))
        return future

    def _start_batch(
        self, run: Callable[[list[T]], Sequence[Any]], entries: list[T]
    ) -> asyncio.Future[Sequence[Any]]:
        if run == self._calls.delete and self._unended:
            deleting = self._deleting
            self._unended.difference_update(deleting.get(str(receipt)) for receipt in entries)
        return self._start(run, entries)

    def _call_done(self, generation: int, _: object) -> None:
        if generation == self._generation:
            self._calls_in_flight -= 1
            self._kick()


def _release(calls: Calls, entries: list[tuple[str, int]]) -> None:
    calls.change_visibility(entries)


def _ignore(_: Failure | None) -> None:
    pass  # a release or a hide: if it fails, the message comes back when its lease ends


def _result(future: asyncio.Future[T]) -> T | Failure:
    if future.cancelled():
        return Failure("Cancelled", "the call was cancelled")
    error = future.exception()
    if error is not None:
        return failure_from_exception(error)
    return future.result()


def _in_own_thread(work: Callable[[], None], queue: SQSQueue) -> None:
    # A thread the interpreter waits for at exit: what the queue sends as it stops (accepted
    # events, deletes, released leases) must reach SQS even when the process is exiting.
    def run() -> None:
        try:
            work()
        except Exception:  # noqa: BLE001 - logged: a thread has nobody else to tell
            logger.exception("%r: the calls made as it stopped failed", queue)

    try:
        threading.Thread(target=run, name="lambda_destinations-sqs-stop").start()
    except RuntimeError:
        run()  # the interpreter is past starting threads: do it here, the last thing left


def _checked_url(queue_url: object) -> str:
    if not isinstance(queue_url, str):
        msg = f"queue_url={queue_url!r} must be the queue's URL, as CreateQueue answers it"
        raise ConfigurationError(msg)
    parts = urlsplit(queue_url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/") == "":
        msg = (
            f"queue_url={queue_url!r} is not a queue URL: pass the URL CreateQueue or "
            "GetQueueUrl answer, such as https://sqs.us-east-1.amazonaws.com/123456789012/orders"
        )
        raise ConfigurationError(msg)
    if parts.path.rstrip("/").endswith(".fifo"):
        msg = (
            f"{queue_url} is a FIFO queue; SQSQueue needs a standard queue (a FIFO queue "
            "takes no delay per message, which retry waits need): create one without .fifo"
        )
        raise ConfigurationError(msg)
    return queue_url


def _region(queue_url: str) -> str:
    found = _QUEUE_URL_REGION.match(urlsplit(queue_url).netloc)
    if found is None:
        return ""
    return found.group("a") or found.group("b") or ""


def _check_seconds(
    name: str, value: object, low: float, high: float, *, above: bool = False
) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"{name}={value!r} must be a number of seconds"
        raise ConfigurationError(msg)
    too_low = value <= low if above else value < low
    if not math.isfinite(value) or too_low or value > high:
        bounds = f"above {low:g}" if above else f"from {low:g}"
        upper = "" if high == math.inf else f" to {high:g}"
        msg = f"{name}={value!r} must be a finite number of seconds {bounds}{upper}"
        raise ConfigurationError(msg)


def _check_count(name: str, value: object, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        msg = f"{name}={value!r} must be a whole number, {low} or more"
        raise ConfigurationError(msg)
