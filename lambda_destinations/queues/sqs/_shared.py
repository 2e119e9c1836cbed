"""What the parts of one `SQSQueue` share: its calls, its settings, and the loop it runs on.

One `Shared` lives as long as its queue. `begin` sets it up for a start on the running loop
(the consumer, the clock, the lease, the batchers of each kind of call); `end` marks the stop.
Every callback of a call started here carries the ``generation`` it was started in, and does
nothing once the queue stopped or started again since.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import math
import time
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar

from lambda_destinations._clock import Clock, SystemClock
from lambda_destinations.destinations.aws._connection import AwsConnection
from lambda_destinations.destinations.aws._errors import Failure, failure_from_exception
from lambda_destinations.queues._protocol import Consumer
from lambda_destinations.queues._timing import ahead_grace

from ._batcher import Batcher
from ._calls import Calls
from ._count import QueueCount
from ._lease import Holdings
from ._messages import MAX_VISIBILITY, MESSAGE_LIMIT, STATE_ROOM

__all__ = ["HIDE", "SLACK", "TOO_LARGE", "Shared", "ignore", "result"]

T = TypeVar("T")

# Calls of each batched kind (send, resend, delete, change visibility) running at once.
_IN_FLIGHT: Final = 2
#: A message this library cannot read is hidden this long each time it is received.
HIDE: Final = MAX_VISIBILITY // 2
#: The code of a send refused here: the message exceeds the queue's limit less `STATE_ROOM`.
TOO_LARGE: Final = "RequestEntityTooLargeException"
#: Epoch seconds resolve about 0.24 us: a due time this close counts as reached.
SLACK: Final = 1e-5


class Shared:
    """The state every part of one queue reads: settings, and from a start to a stop, the loop's.

    *owner* is the queue, named in log lines.
    """

    __slots__ = (
        "calls",
        "calls_in_flight",
        "changes",
        "clock",
        "connection",
        "consume",
        "consumer",
        "count",
        "deletes",
        "generation",
        "grace",
        "holdings",
        "lease_override",
        "limit",
        "loop",
        "max_receives",
        "order",
        "owner",
        "poll_interval",
        "puts",
        "read_ahead",
        "real_time",
        "resends",
        "running",
        "visibility",
        "wait",
        "wait_seconds",
        "wake",
        "wall",
    )

    def __init__(
        self,
        owner: object,
        connection: AwsConnection,
        calls: Calls,
        *,
        lease_override: float | None,
        wait_seconds: int,
        poll_interval: float,
        read_ahead: int,
        max_receives: int,
        consume: bool,
    ) -> None:
        self.owner = owner
        self.connection = connection
        self.calls = calls
        self.lease_override = lease_override
        self.wait_seconds = wait_seconds
        self.poll_interval = poll_interval
        self.read_ahead = read_ahead
        self.max_receives = max_receives
        self.consume = consume
        self.loop: asyncio.AbstractEventLoop | None = None
        self.consumer: Consumer | None = None
        self.clock: Clock | None = None
        self.wall: Callable[[], float] = time.time
        self.real_time = True
        self.running = False
        self.generation = 0
        #: The pump waits on it between turns; `kick` wakes it.
        self.wake: asyncio.Future[None] | None = None
        #: The visibility timeout of each message received here (the lease), in whole seconds.
        self.visibility = 0
        #: How long after it was received a message leased ahead may still run.
        self.grace = 0.0
        #: The long poll of an idle receive.
        self.wait = 0
        #: The largest message the queue takes (SQS's, or the queue's own smaller one).
        self.limit = MESSAGE_LIMIT
        self.count = QueueCount()
        self.order = itertools.count()
        self.holdings = Holdings()
        self.calls_in_flight = 0

    def begin(self, consumer: Consumer, clock: Clock, lease_seconds: float) -> None:
        """Start afresh on the running loop, offering events to *consumer*."""
        loop = asyncio.get_running_loop()
        # A virtual clock attaches to the loop on first use: before the first call, so that
        # it knows the call runs and keeps its time still meanwhile.
        clock.monotonic()
        self.loop = loop
        self.consumer = consumer
        self.clock = clock
        self.real_time = type(clock) is SystemClock
        self.wall = time.time if self.real_time else lambda: clock.now().timestamp()
        lease = self.lease_override if self.lease_override is not None else lease_seconds
        self.visibility = min(MAX_VISIBILITY, max(1, math.ceil(lease)))
        self.grace = ahead_grace(self.visibility)
        # A long poll holds a virtual clock still for as long, in real time.
        self.wait = self.wait_seconds if self.real_time else 0
        self.holdings.reset()
        self.count.reset()
        self.calls_in_flight = 0
        self.generation += 1
        self.running = True
        calls, start, broken = self.calls, self.start, failure_from_exception
        self.puts: Batcher[tuple[str, int], Failure | None] = Batcher(
            calls.send,
            start,
            loop,
            broken,
            max_in_flight=_IN_FLIGHT,
            max_bytes=MESSAGE_LIMIT,
            refuse=self._too_large,
        )
        self.resends: Batcher[
            tuple[str, int, tuple[str, ...]], tuple[Failure | None, Failure | None]
        ] = Batcher(
            calls.resend,
            start,
            loop,
            lambda error: (broken(error), None),
            max_in_flight=_IN_FLIGHT,
            max_bytes=MESSAGE_LIMIT,
        )
        self.deletes: Batcher[str, Failure | None] = Batcher(
            calls.delete, self._start_deletes, loop, broken, max_in_flight=_IN_FLIGHT
        )
        self.changes: Batcher[tuple[str, int], Failure | None] = Batcher(
            calls.change_visibility, start, loop, broken, max_in_flight=_IN_FLIGHT
        )

    def _too_large(self, _: tuple[str, int], size: int) -> Failure | None:
        # A send about to go out, checked again: the first count may have found the queue's
        # own limit smaller than SQS's since the event was accepted.
        if size <= self.limit - STATE_ROOM:
            return None
        return Failure.local(TOO_LARGE, f"the message is {size} bytes")

    def end(self) -> None:
        """The queue stops: callbacks of calls started before do nothing from now on."""
        self.running = False
        self.generation += 1
        self.wake = None
        self.consumer = None

    def now(self) -> float:
        """The clock's monotonic time (the queue is started)."""
        clock = self.clock
        assert clock is not None
        return clock.monotonic()

    def pending(self) -> int:
        """Events accepted and not ended: held or sent here, or counted in SQS."""
        return max(self.holdings.local(), self.count.value())

    def kick(self) -> None:
        """Wake the pump: something changed that it acts on."""
        wake = self.wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    def changed(self) -> None:
        """``pending()`` moved: the consumer (``join()``) looks again."""
        consumer = self.consumer
        if consumer is not None:
            consumer.pending_changed()

    def start(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Run *fn* in a thread of the connection; the pump wakes when it is done."""
        self.calls_in_flight += 1
        future = self.connection.run(fn, *args)
        future.add_done_callback(functools.partial(self._call_done, self.generation))
        return future

    def _start_deletes(
        self, run: Callable[[list[str]], Sequence[Any]], receipts: list[str]
    ) -> asyncio.Future[Sequence[Any]]:
        # A message whose delete starts is no longer unended.
        holdings = self.holdings
        if holdings.unended:
            deleting = holdings.deleting
            holdings.unended.difference_update(deleting.get(receipt) for receipt in receipts)
        return self.start(run, receipts)

    def _call_done(self, generation: int, _: object) -> None:
        if generation == self.generation:
            self.calls_in_flight -= 1
            self.kick()


def ignore(_: Failure | None) -> None:
    """The callback of a release or a hide: if it fails, the message comes back anyway."""


def result(future: asyncio.Future[T]) -> T | Failure:
    """What a call answered: its value, or its failure."""
    if future.cancelled():
        return Failure("Cancelled", "the call was cancelled")
    error = future.exception()
    if error is not None:
        return failure_from_exception(error)
    return future.result()
