"""Keeping the messages held here hidden: leases extended with ChangeMessageVisibility.

Each lease is looked at once less than half of its visibility timeout is left: if its event
still runs, waits or is delivered here, the timeout is set again to a whole lease from now.
SQS refusing the receipt means the lease ran out and another process received the message:
the lease is lost, and nothing of its event is stored or delivered from here.
"""

from __future__ import annotations

import functools
import heapq
from typing import Final

from lambda_destinations._telemetry import logger
from lambda_destinations.destinations.aws._errors import Failure

from ._calls import lost
from ._lease import AHEAD, HOLDING, Lease
from ._shared import Shared

__all__ = ["Extension"]

# Leases are extended once less than this part of the visibility timeout is left.
_EXTEND_WHEN_LEFT: Final = 0.5


class Extension:
    """When each lease held here is looked at next, and the extensions on their way."""

    __slots__ = ("_checks", "_shared")

    def __init__(self, shared: Shared) -> None:
        self._shared = shared
        # (when to look, order, lease), on this process's monotonic clock.
        self._checks: list[tuple[float, int, Lease]] = []

    def reset(self) -> None:
        """Look at nothing (a new start)."""
        self._checks = []

    def next_at(self) -> float | None:
        """When the next lease is due to be looked at (monotonic clock), if any."""
        return self._checks[0][0] if self._checks else None

    def later(self, lease: Lease) -> None:
        """Look at *lease* again once less than half of its timeout is left."""
        shared = self._shared
        lease.check_at = lease.until - shared.visibility * _EXTEND_WHEN_LEFT
        checks = self._checks
        first = not checks or lease.check_at < checks[0][0]
        heapq.heappush(checks, (lease.check_at, next(shared.order), lease))
        if first:
            shared.kick()

    def due(self, now: float) -> None:
        """Extend every lease due to be looked at by *now* (monotonic clock)."""
        shared = self._shared
        checks, holdings = self._checks, shared.holdings
        while checks and checks[0][0] <= now:
            at, _, lease = heapq.heappop(checks)
            if (
                at != lease.check_at
                or lease.extending
                or lease.lost
                or lease.where is AHEAD
                or not holdings.current(lease)
            ):
                continue
            lease.extending = True
            receipt = lease.receipt
            callback = functools.partial(self._extended, lease, receipt, now, shared.generation)
            shared.changes.add((receipt, shared.visibility), callback)

    def _extended(
        self, lease: Lease, receipt: str, asked_at: float, generation: int, failure: Failure | None
    ) -> None:
        shared = self._shared
        lease.extending = False
        if generation != shared.generation:
            return
        if lease.receipt != receipt:
            # Received again meanwhile: its newer receipt's lease stands, whatever SQS said of
            # the older one; it is extended in its turn, with the newer receipt.
            self.later(lease)
            return
        if failure is None:
            lease.until = asked_at + shared.visibility
            self.later(lease)
        elif lost(failure):
            lease.lost = True
            logger.warning(
                "%r: the lease of event %s ran out and another process received its message "
                "(%s); nothing of this attempt is stored or delivered here",
                shared.owner,
                lease.state.request_id,
                failure.code,
            )
            if lease.where in (HOLDING, AHEAD):
                shared.holdings.drop(lease)
                shared.changed()
        else:
            logger.warning(
                "%r: extending the lease of event %s failed (%s: %s); trying again",
                shared.owner,
                lease.state.request_id,
                failure.code,
                failure.message,
            )
            self._push(lease, asked_at + 1.0)

    def _push(self, lease: Lease, at: float) -> None:
        lease.check_at = at
        heapq.heappush(self._checks, (at, next(self._shared.order), lease))
