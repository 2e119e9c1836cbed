"""What a queue backend offers the invoker, and what the invoker offers it back.

The invoker asks a backend to keep accepted events, hands it each event's outcome, and lets
it push events that fall due. Everything between (the attempt, the retry decision) is the
invoker's, so every backend behaves alike; a backend only decides how events are stored.

An event's life in a backend: `put` (accepted, stored before ``invoke()`` answers) → due →
offered to the `Consumer` or taken by it (leased: it runs in this process) → either
`reschedule` (a retry wait or a throttle backoff, with its new state) or `finish` (its
outcome; the record and dead letter are the backend's to keep until delivered).
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from typing import Protocol, runtime_checkable

from lambda_destinations._clock import Clock
from lambda_destinations._dead_letter import DeadLetterMessage
from lambda_destinations._records import ExecutionRecord

from ._state import EventState, State

__all__ = ["Consumer", "DueTimes", "EventQueue"]


class Consumer(Protocol):
    """The invoker's side: it runs events as concurrency allows."""

    def offer(self, state: EventState, /) -> bool:
        """An event fell due: ``True`` if the consumer took it (it is leased now)."""
        ...

    def capacity(self) -> int:
        """How many more events the consumer could take right now."""
        ...

    def redeliver(
        self, record: ExecutionRecord | None, dead_letter: DeadLetterMessage | None, /
    ) -> None:
        """Deliver an outcome a process stored but did not deliver (it died first).

        Each item delivered is then reported back with `EventQueue.delivered`.
        """
        ...

    def pending_changed(self) -> None:
        """`EventQueue.pending` moved without a ``put`` or ``finish`` here: look again.

        Another process sharing the queue added or ended events; ``join()`` checks the count.
        """
        ...


class EventQueue(Protocol):
    """Where accepted events wait between attempts.

    Methods that may store something return an awaitable when the store is not done by the
    time they return (a durable backend commits in a thread); the invoker awaits it.
    """

    def start(self, consumer: Consumer, clock: Clock, lease_seconds: float) -> None:
        """Begin offering due events to *consumer*, on the running event loop.

        *lease_seconds* bounds how long an offered or taken event stays leased to this process
        (the function timeout plus a margin); a backend shared between processes makes an
        event visible again when its lease runs out.
        """
        ...

    def put(self, state: EventState, /) -> Awaitable[None] | None:
        """Keep an accepted event; it is due at once."""
        ...

    def take(self) -> EventState | None:
        """Lease the next due event that was not offered (the consumer had no room), if any."""
        ...

    def reschedule(self, state: EventState, delay: float, /) -> Awaitable[None] | None:
        """The leased event is due again after *delay* seconds, with its new *state*."""
        ...

    def finish(
        self,
        state: EventState,
        record: ExecutionRecord,
        dead_letter: DeadLetterMessage | None,
        /,
    ) -> Awaitable[bool] | bool:
        """The leased event ended: forget it, keeping its record and dead letter to deliver.

        ``False`` if the lease was lost (another process finished the event): then nothing of
        this outcome may be delivered.
        """
        ...

    def delivered(self, request_id: str, target: str, /) -> None:
        """A record (*target* ``"record"``) or dead letter (``"dead_letter"``) was delivered.

        Also called when its delivery failed for good (failed deliveries are never retried)
        or there was no receiver to deliver to; not when the invoker closed first.
        """
        ...

    def pending(self) -> int:
        """Accepted events that have not finished (a shared backend: in every process)."""
        ...

    def snapshot(self) -> Iterable[tuple[EventState, State]]:
        """The unfinished events that are not leased, and where each waits."""
        ...

    def stop(self) -> None:
        """Stop offering events and let go of the event loop (the invoker is closing)."""
        ...


@runtime_checkable
class DueTimes(Protocol):
    """Optional for a backend: when its next waiting event falls due.

    An invoker that is closing names it in the lines it logs while it drains ("next retry due
    in 42 s"); a backend without it is drained the same, and those lines leave it out.
    """

    def next_due_in(self) -> float | None:
        """Seconds on the invoker's clock until the earliest waiting event is due.

        ``None`` when no event waits for a retry or a throttle backoff.
        """
        ...
