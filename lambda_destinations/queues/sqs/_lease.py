"""What one process holds of an SQS queue: the messages it received, and events on their way.

A message received here is leased to this process for a visibility timeout: a `Lease` says
where its event is (``where``), until when SQS keeps the message hidden, and what is left to
do before it is deleted. `Holdings` keeps every lease, the events sent from here that SQS has
not answered for yet, the retry waits stored from here, and the messages being deleted.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Final

from lambda_destinations.queues._state import QUEUED, WAITING, EventState, State

from ._calls import Received

__all__ = [
    "AHEAD",
    "CHECKING",
    "ENDING",
    "HOLDING",
    "RESENDING",
    "RESENT",
    "RUNNING",
    "Holdings",
    "Lease",
]

# Message ids of messages deleted here remembered at most (about 100 bytes each).
_MAX_DELETED: Final = 10_000

# Where a message received here is (a lease's ``where``).
AHEAD: Final = "ahead"  # received ahead of need, not offered yet: waits for take()
RUNNING: Final = "running"  # offered or taken: its attempt runs here
HOLDING: Final = "holding"  # received before its not-before time: waits here until then
ENDING: Final = "ending"  # ended: its record and dead letter are being delivered
RESENDING: Final = "resending"  # its retry is being sent as a new message
CHECKING: Final = "checking"  # ended after its lease ran out here: is it still ours?
RESENT: Final = "resent"  # its retry's message was received here before the resend answered


class Lease:
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
        self.where: str = RUNNING
        self.check_at = math.inf
        self.extending = False
        #: The receipt was refused: another process holds the message now.
        self.lost = False
        #: Deliveries still to hear of before the message is deleted.
        self.expect = 0
        self.hold_due = math.inf
        #: Other messages of the same event received here (copies): message id → receipt.
        self.extra: dict[str, str] = {}

    def messages(self) -> list[tuple[str, str]]:
        """(message id, receipt) of every message of the event held here, copies included."""
        return [(self.message_id, self.receipt), *self.extra.items()]

    def receipts(self) -> tuple[str, ...]:
        """The receipt of every message of the event held here, copies included."""
        return (self.receipt, *self.extra.values())


class Holdings:
    """Everything of the queue this process holds or has on its way, from a start to a stop."""

    __slots__ = (
        "ahead",
        "deleted",
        "deleting",
        "early",
        "ending",
        "held",
        "unended",
        "unsent",
        "waits",
        "warned",
    )

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Hold nothing (a new start)."""
        #: Accepted here, not yet in SQS: request id → state.
        self.unsent: dict[str, EventState] = {}
        #: Messages received here: request id → lease.
        self.held: dict[str, Lease] = {}
        #: How many of them are `ENDING`.
        self.ending = 0
        #: Received ahead of need, in the order received (some may have moved on since).
        self.ahead: deque[Lease] = deque()
        #: Retry waits stored from here: request id → (state, due on the clock's monotonic).
        self.waits: dict[str, tuple[EventState, float]] = {}
        #: Deletes on their way: receipt → message id.
        self.deleting: dict[str, str] = {}
        #: Message ids deleted here, the latest `_MAX_DELETED` (a copy received later is not
        #: run again: SQS may deliver a message twice, a copy after the delete).
        self.deleted: OrderedDict[str, None] = OrderedDict()
        #: Message ids of events ended here whose delete has not started (SQS still counts
        #: them).
        self.unended: set[str] = set()
        #: Message ids of foreign messages already logged.
        self.warned: set[str] = set()
        #: Events received here before their send was answered.
        self.early: set[str] = set()

    def local(self) -> int:
        """Events accepted or held here that have not ended."""
        return len(self.unsent) + len(self.held) - self.ending

    def was_deleted(self, message_id: str) -> bool:
        """Whether the message is deleted here, or its delete is on the way."""
        return message_id in self.deleted or message_id in self.deleting.values()

    def forget(self, message_id: str) -> None:
        """The message is deleted: remember it, to drop a copy SQS delivers later."""
        deleted = self.deleted
        deleted[message_id] = None
        if len(deleted) > _MAX_DELETED:
            deleted.popitem(last=False)

    def current(self, lease: Lease) -> bool:
        """Whether *lease* is still the one held here for its event."""
        return self.held.get(lease.state.request_id) is lease

    def drop(self, lease: Lease) -> None:
        """The lease is no longer this process's business."""
        held = self.held
        request_id = lease.state.request_id
        if held.get(request_id) is lease:
            del held[request_id]
            if lease.where is ENDING:
                self.ending -= 1

    def end(self, lease: Lease, expect: int) -> None:
        """The lease's event ended: its message is deleted after *expect* deliveries."""
        lease.where = ENDING
        lease.expect = expect
        self.ending += 1
        if lease.counted:
            self.unended.add(lease.message_id)

    def listed(self, now: Callable[[], float] | None) -> list[tuple[EventState, State]]:
        """The events waiting here (not leased to a worker), and where each waits.

        *now* reads the clock's monotonic time, for the retry waits stored from here
        (``None``: the queue never started, so none is listed).
        """
        held = self.held
        listed: list[tuple[EventState, State]] = [(s, QUEUED) for s in self.unsent.values()]
        listed += [
            (lease.state, QUEUED)
            for lease in self.ahead
            if lease.where is AHEAD and held.get(lease.state.request_id) is lease
        ]
        holding = {rid for rid, lease in held.items() if lease.where is HOLDING}
        listed += [(held[rid].state, WAITING) for rid in holding]
        if self.waits and now is not None:
            at = now()
            listed += [
                (s, WAITING)
                for rid, (s, due) in self.waits.items()
                if due > at and rid not in holding
            ]
        return listed
