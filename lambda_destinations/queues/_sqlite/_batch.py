"""What crosses between the event loop and the writer thread: a `Batch` in, an `Outcome` out.

A batch is what the loop gathered since the last transaction (accepted events, outcomes,
retry waits, deliveries done, how many events to lease); the writer stores it in one
transaction and answers with what it did and how the file looks right after.
"""

from __future__ import annotations

import math
from typing import Final

from lambda_destinations._dead_letter import DeadLetterMessage
from lambda_destinations._records import ExecutionRecord
from lambda_destinations.queues._state import EventState

__all__ = ["UNCHANGED", "Batch", "Outcome"]


class Batch:
    """What the loop hands the writer thread for one transaction; not touched afterwards."""

    __slots__ = (
        "claim",
        "delivered",
        "due_by",
        "finishes",
        "lease",
        "lease_seconds",
        "look",
        "now",
        "puts",
        "releases",
        "reschedules",
        "unclaims",
    )

    def __init__(self, now: float) -> None:
        #: Epoch seconds on the invoker's clock: due times and leases are measured against it.
        self.now = now
        self.puts: list[EventState] = []
        #: (seq, lease token, last state, record, dead letter)
        self.finishes: list[
            tuple[int, int, EventState, ExecutionRecord, DeadLetterMessage | None]
        ] = []
        #: (seq, lease token, new state, due time)
        self.reschedules: list[tuple[int, int, EventState, float]] = []
        #: (seq, lease token): leased here, given back unrun
        self.releases: list[tuple[int, int]] = []
        #: Outbox ids of items delivered
        self.delivered: list[int] = []
        #: Outbox ids of items this process will not deliver after all (it is closing)
        self.unclaims: list[int] = []
        #: Due events to lease, at most, and the time they are due by (now, or a little later
        #: for a retry wait that fell due on the loop's monotonic clock).
        self.lease = 0
        self.due_by = now
        self.lease_seconds = 0.0
        #: Whether to claim outbox items whose claim ran out (their process died).
        self.claim = False
        #: Only look whether another process changed the file: no write unless needed.
        self.look = False

    def writes(self) -> bool:
        """Whether the batch holds anything to store."""
        return bool(
            self.puts
            or self.finishes
            or self.reschedules
            or self.releases
            or self.delivered
            or self.unclaims
        )


class Outcome:
    """What a transaction did, and the file's state right after it."""

    __slots__ = (
        "changed",
        "claimed",
        "events",
        "leased",
        "lost",
        "lost_retries",
        "next_due",
        "outbox",
        "outbox_delta_ours",
        "outbox_due",
        "outbox_ids",
        "token",
    )

    def __init__(self) -> None:
        #: False when a look found nothing new: nothing else here is meaningful then.
        self.changed = True
        #: Leased events, in due order, as (seq, state); all under one `token`.
        self.leased: list[tuple[int, EventState]] = []
        self.token = 0
        #: Request ids whose finish or retry lost its lease (another process had it).
        self.lost: set[str] = set()
        self.lost_retries: list[str] = []
        #: Outbox items claimed for delivery: request id → (record, dead letter).
        self.claimed: dict[str, tuple[ExecutionRecord | None, DeadLetterMessage | None]] = {}
        #: (request id, target, outbox id) of every item stored or claimed here.
        self.outbox_ids: list[tuple[str, str, int]] = []
        #: Unfinished events and undelivered outbox items in the file.
        self.events = 0
        self.outbox = 0
        #: Outbox items this process added or claimed, less those it removed.
        self.outbox_delta_ours = 0
        #: When the next event may be due (or its lease run out), and the next outbox claim.
        self.next_due = math.inf
        self.outbox_due = math.inf


#: What a look that found nothing new answers.
UNCHANGED: Final = Outcome()
UNCHANGED.changed = False
