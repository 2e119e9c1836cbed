"""`SQSQueue`: the `EventQueue` protocol on an Amazon SQS standard queue.

The queue's methods hand each request to the part that owns it (``_sending``,
``_receiving``, ``_ending``) and answer from what this process knows of the queue; the
``_pump`` runs as a task on the loop from a start to a stop.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable
from typing import Any

from lambda_destinations._clock import Clock
from lambda_destinations._dead_letter import DeadLetterMessage
from lambda_destinations._exceptions import ConfigurationError
from lambda_destinations._records import ExecutionRecord
from lambda_destinations.destinations.aws._connection import AwsConnection, boto3_installed
from lambda_destinations.destinations.aws._errors import DeliveryRetry
from lambda_destinations.queues._protocol import Consumer
from lambda_destinations.queues._state import EventState, State

from ._calls import Calls
from ._ending import Ending
from ._extending import Extension
from ._lease import RESENDING
from ._messages import MAX_VISIBILITY
from ._options import check_count, check_seconds, checked_url, region
from ._pump import Pump
from ._receiving import Receiver
from ._sending import Sender, Sent
from ._shared import Shared
from ._stopping import Left, last_calls

__all__ = ["SQSQueue"]


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
        "_ending",
        "_extension",
        "_pump",
        "_receiver",
        "_sender",
        "_shared",
        "_task",
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
        self.queue_url = checked_url(queue_url)
        if client is not None and (session is not None or endpoint_url is not None):
            msg = (
                "SQSQueue takes either client= or what to make one from (session=, "
                "endpoint_url=), not both: configure the client you pass"
            )
            raise ConfigurationError(msg)
        if client is None and session is None and not boto3_installed():
            msg = (
                "SQSQueue needs boto3, which is not installed: "
                "pip install 'lambda_destinations[aws]'"
            )
            raise ConfigurationError(msg)
        if lease_seconds is not None:
            check_seconds("lease_seconds", lease_seconds, 1, MAX_VISIBILITY)
        if isinstance(wait_seconds, bool) or not isinstance(wait_seconds, int):
            msg = f"wait_seconds={wait_seconds!r} must be a whole number of seconds, 0 to 20"
            raise ConfigurationError(msg)
        check_seconds("wait_seconds", wait_seconds, 0, 20)
        check_seconds("poll_interval", poll_interval, 0, math.inf, above=True)
        check_count("read_ahead", read_ahead, 0)
        check_count("max_receives", max_receives, 1)
        check_count("max_threads", max_threads, 1)
        connection = AwsConnection(
            session=session,
            clients=None if client is None else {"sqs": client},
            endpoint_url=endpoint_url,
            region_name=region_name,
            botocore_config=botocore_config,
            max_threads=max_threads,
            # A long poll must not time out before SQS answers.
            read_timeout=wait_seconds + 5,
        )
        calls = Calls(connection, self.queue_url, region(self.queue_url), DeliveryRetry())
        self._shared = shared = Shared(
            self,
            connection,
            calls,
            lease_override=lease_seconds,
            wait_seconds=wait_seconds,
            poll_interval=float(poll_interval),
            read_ahead=read_ahead,
            max_receives=max_receives,
            consume=bool(consume),
        )
        self._extension = Extension(shared)
        self._receiver = Receiver(shared, self._extension)
        self._sender = Sender(shared, self._receiver)
        self._ending = Ending(shared, self._extension, self._receiver)
        self._pump = Pump(shared, self._extension, self._receiver)
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        name = self.queue_url.rstrip("/").rsplit("/", 1)[-1]
        return f"<SQSQueue {name!r}, {self.pending()} pending>"

    # -- the EventQueue protocol -------------------------------------------------------------

    def start(self, consumer: Consumer, clock: Clock, lease_seconds: float) -> None:
        self.stop()
        shared = self._shared
        shared.begin(consumer, clock, lease_seconds)
        self._extension.reset()
        self._receiver.reset()
        self._pump.reset()
        # Until SQS has counted the queue, pending() cannot say it is empty; the first sends
        # wait for that count, so that what it says and what was sent here add up.
        self._pump.begin_count()
        loop = shared.loop
        assert loop is not None
        self._task = loop.create_task(self._pump.run())
        consumer.pending_changed()

    def put(self, state: EventState, /) -> Sent:
        return self._sender.put(state)

    def take(self) -> EventState | None:
        return self._receiver.take()

    def reschedule(self, state: EventState, delay: float, /) -> asyncio.Future[None] | None:
        return self._ending.reschedule(state, delay)

    def finish(
        self,
        state: EventState,
        record: ExecutionRecord,
        dead_letter: DeadLetterMessage | None,
        /,
    ) -> asyncio.Future[bool] | bool:
        return self._ending.finish(state, 1 if dead_letter is None else 2)

    def delivered(self, request_id: str, target: str, /) -> None:
        self._ending.delivered(request_id)

    def pending(self) -> int:
        return self._shared.pending()

    def snapshot(self) -> Iterable[tuple[EventState, State]]:
        clock = self._shared.clock
        return self._shared.holdings.listed(None if clock is None else clock.monotonic)

    def stop(self) -> None:
        shared = self._shared
        if not shared.running:
            return
        loop = shared.loop
        shared.end()
        task, self._task = self._task, None
        if task is not None and not task.done() and not task.get_loop().is_closed():
            task.cancel()
        holdings = shared.holdings
        left = Left(
            shared.puts.drain(),
            shared.resends.drain(),
            [receipt for receipt, _ in shared.deletes.drain()],
            [entry for entry, _ in shared.changes.drain()],
        )
        # Every message held here goes back to the queue at once, for any process to take:
        # an event cut off mid-attempt or mid-delivery runs again; one waiting here waits
        # again wherever it is received. A retry being sent finishes in its own thread.
        for lease in holdings.held.values():
            if lease.where is not RESENDING and not lease.lost:
                left.changes += [(r, 0) for r in lease.receipts()]
        shared.connection.close()
        holdings.held.clear()
        holdings.ahead.clear()
        if left:
            last_calls(shared.calls, left, loop, self)
