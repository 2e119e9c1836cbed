"""What one process holds in the queue file: leases on events, and outbox items to deliver.

Events are leased in batches, more than the workers can take at once: those the consumer has
no room for wait here, leased ahead, for `SQLiteQueue.take` to serve as workers free up. An
event leased ahead is run only within a small part of its lease (at most 5 s), so what is
left of the lease still covers the function's timeout; one leased longer ago is given back.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Final

from lambda_destinations.queues._protocol import Consumer
from lambda_destinations.queues._state import EventState
from lambda_destinations.queues._timing import ahead_grace

from ._waits import RetryWaits

__all__ = ["Leases", "OutboxIds"]

# Events leased ahead of need, for take() to serve without waiting: at least as many as the
# consumer can run at once, within these bounds...
_AHEAD_MIN: Final = 32
_AHEAD_MIN_MAX: Final = 256
# ...and under load as many as the last transaction ended, up to this: workers then run one
# batch while the writer commits the one before.
_AHEAD_MAX: Final = 4096


class Leases:
    """The events this process holds a lease on, and those of them leased ahead of need."""

    __slots__ = ("_ahead", "_grace", "_held", "_minimum", "_target")

    def __init__(self) -> None:
        # Leased here: request id → (seq, lease token).
        self._held: dict[str, tuple[int, int]] = {}
        # Leased ahead, not offered: (state, when leased).
        self._ahead: deque[tuple[EventState, float]] = deque()
        self._grace = 0.0
        self._minimum = self._target = _AHEAD_MIN

    def start(self, lease_seconds: float, capacity: int) -> None:
        """Size what is leased ahead for leases of *lease_seconds* and *capacity* workers."""
        self._grace = ahead_grace(lease_seconds)
        self._minimum = min(_AHEAD_MIN_MAX, max(_AHEAD_MIN, capacity))
        self._target = self._minimum

    def pop(self, request_id: str) -> tuple[int, int] | None:
        """The (seq, lease token) of an event held here, which stops being held here."""
        return self._held.pop(request_id, None)

    def has_ahead(self) -> bool:
        """Whether any event waits here, leased ahead."""
        return bool(self._ahead)

    def take_ahead(
        self, now: float, give_back: Callable[[tuple[int, int]], None]
    ) -> EventState | None:
        """The next event leased ahead still fresh at *now*, if any.

        Events leased too long ago to run now are no longer held here: their leases go to
        *give_back*.
        """
        ahead = self._ahead
        while ahead:
            state, leased_at = ahead.popleft()
            if now - leased_at <= self._grace:
                return state
            lease = self._held.pop(state.request_id, None)
            if lease is not None:
                give_back(lease)
        return None

    def running_low(self) -> bool:
        """Whether less than half of what should wait leased ahead is left."""
        return len(self._ahead) < self._target // 2

    def room(self) -> int:
        """How many more events may be leased ahead."""
        return max(0, self._target - len(self._ahead))

    def resize(self, ended: int) -> None:
        """Lease ahead as many as the last transaction *ended*, within bounds."""
        self._target = min(_AHEAD_MAX, max(self._minimum, ended))

    def accept(
        self,
        leased: Iterable[tuple[int, EventState]],
        token: int,
        now: float,
        consumer: Consumer,
        waits: RetryWaits,
    ) -> None:
        """Hold the events a transaction *leased* at *now*: offered, or kept leased ahead."""
        held, ahead = self._held, self._ahead
        # Offered while the consumer has a free worker: the rest wait here, leased ahead,
        # for take() as workers free up. A process holds only what it runs soon, so a
        # busy one never throttles what another process could run: it is not offered.
        offering = True
        offer = consumer.offer
        room = consumer.capacity
        for seq, state in leased:
            request_id = state.request_id
            renewed = request_id in held
            held[request_id] = (seq, token)
            if renewed:
                # Its lease ran out while it ran (or waited) here, and no other process
                # took it: the new lease is this process's renewal, not a second run.
                continue
            if waits:
                waits.forget(request_id)
            if offering and room() > 0 and offer(state):
                continue
            offering = False
            ahead.append((state, now))

    def ahead(self) -> list[EventState]:
        """The events leased ahead, in the order take() serves them."""
        return [state for state, _ in self._ahead]

    def give_back(self) -> list[tuple[int, int]]:
        """Let go of everything: the leases of the events leased ahead, to give back.

        The leases of events running or waiting here are dropped too: the store that granted
        them gives them back when it closes.
        """
        released: list[tuple[int, int]] = []
        for state, _ in self._ahead:
            lease = self._held.pop(state.request_id, None)
            if lease is not None:
                released.append(lease)
        self._ahead.clear()
        self._held.clear()
        return released


class OutboxIds:
    """The outbox items this process stored or claimed: removed from the file once delivered."""

    __slots__ = ("_ids",)

    def __init__(self) -> None:
        # (request id, target) → outbox id
        self._ids: dict[tuple[str, str], int] = {}

    def add(self, entries: Iterable[tuple[str, str, int]]) -> None:
        """Keep each (request id, target, outbox id) a transaction stored or claimed."""
        ids = self._ids
        for request_id, target, outbox_id in entries:
            ids[request_id, target] = outbox_id

    def pop(self, request_id: str, target: str) -> int | None:
        """The outbox id of a delivered item, if it is kept here."""
        return self._ids.pop((request_id, target), None)

    def give_back(self) -> list[int]:
        """Every id kept here, forgotten: items this process will not deliver after all."""
        ids = list(self._ids.values())
        self._ids.clear()
        return ids

    def clear(self) -> None:
        """Forget every id (a new start: the outbox delivers them, whoever claims them)."""
        self._ids.clear()
