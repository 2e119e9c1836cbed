"""The invoker's internal queue: what it holds and what a queue backend must offer.

The default backend is an ``asyncio.Queue``. A durable or distributed backend only needs the
three methods of `EventQueue`; nothing else in the invoker knows how events are stored.
"""

from __future__ import annotations

from typing import Final, Literal, Protocol

import tenacity

__all__ = ["QUEUED", "RUNNING", "WAITING", "EventQueue", "QueuedEvent", "State"]

QUEUED: Final[Literal["queued"]] = "queued"
RUNNING: Final[Literal["running"]] = "running"
WAITING: Final[Literal["waiting to retry"]] = "waiting to retry"
#: Where an accepted event is: the `UnfinishedEvent.state` of a report.
State = Literal["queued", "running", "waiting to retry"]


class QueuedEvent:
    """One accepted event and its progress; the only per-event object the invoker keeps."""

    __slots__ = (
        "accepted_at",
        "attempts",
        "body",
        "error_message",
        "request_id",
        "response",
        "retry_state",
        "state",
    )

    def __init__(self, request_id: str, body: str, accepted_at: float) -> None:
        self.request_id = request_id
        #: The event's JSON text exactly as the caller sent it.
        self.body = body
        #: When it was accepted, on the invoker's monotonic clock.
        self.accepted_at = accepted_at
        self.attempts = 0
        self.state: State = QUEUED
        #: The last failed attempt's error object (JSON text) and message.
        self.response: str | None = None
        self.error_message = ""
        #: Built at the first failure only: successes never pay for retry bookkeeping.
        self.retry_state: tenacity.RetryCallState | None = None

    def __repr__(self) -> str:
        return f"<QueuedEvent {self.request_id} {self.state}, {self.attempts} attempt(s)>"


class EventQueue(Protocol):
    """A FIFO of `QueuedEvent` shared by the invoker's workers (``asyncio.Queue`` fits)."""

    def put_nowait(self, item: QueuedEvent, /) -> None: ...

    async def get(self) -> QueuedEvent: ...

    def qsize(self) -> int: ...
