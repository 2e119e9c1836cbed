"""The retry waits one process stored in a `SQLiteQueue`: its timers and its reports.

The file knows each wait by its wall-clock due time (epoch seconds, the same in every
process). The process that stored a wait also knows it on its clock's monotonic time, which a
virtual clock keeps exact where epoch seconds resolve only about 0.24 us: a wait wakes, and
counts as due, by the monotonic clock.
"""

from __future__ import annotations

import heapq
import math
from typing import Final

from lambda_destinations.queues._state import EventState

__all__ = ["RetryWaits"]

#: How far the wall clock may read past a due time before it is trusted over the monotonic
#: one: more than rounding, so the wall clock jumped (it then holds nothing up).
SLACK: Final = 1e-5


class RetryWaits:
    """Retry waits stored here and not yet due, or leased, or lost to another process."""

    __slots__ = ("_by_id", "_order", "_released")

    def __init__(self) -> None:
        # request id → (state, due on the monotonic clock, due in the file)
        self._by_id: dict[str, tuple[EventState, float, float]] = {}
        # (monotonic due, request id), earliest first; entries of forgotten waits linger
        self._order: list[tuple[float, str]] = []
        # The latest file due time among waits that fell due on the monotonic clock.
        self._released = -math.inf

    def __bool__(self) -> bool:
        return bool(self._by_id)

    def add(self, state: EventState, due: float, due_in_file: float) -> None:
        """*state* waits until *due* (monotonic), which the file holds as *due_in_file*."""
        self._by_id[state.request_id] = (state, due, due_in_file)
        heapq.heappush(self._order, (due, state.request_id))

    def forget(self, request_id: str) -> None:
        """The event was leased, or another process owns it now."""
        self._by_id.pop(request_id, None)

    def reset(self) -> None:
        """A new start: the clock may be another one."""
        self._released = -math.inf

    def next_due(self) -> float:
        """The earliest monotonic due time (or one already past), or infinity."""
        return self._order[0][0] if self._order else math.inf

    def waiting(self, now: float) -> list[EventState]:
        """The events still waiting at monotonic time *now*."""
        return [state for state, due, _ in self._by_id.values() if due > now]

    def due_by(self, wall: float, now: float) -> float:
        """What is due by now in the file's terms, given wall time *wall*, monotonic *now*.

        A wait that fell due on the monotonic clock counts as due even if the wall clock is a
        hair behind; one that did not stays waiting even if the wall clock is a hair ahead.
        """
        order, by_id = self._order, self._by_id
        while order:
            due, request_id = order[0]
            entry = by_id.get(request_id)
            if entry is None or entry[1] != due:
                heapq.heappop(order)  # forgotten, or waiting again since
            elif due <= now:
                heapq.heappop(order)
                del by_id[request_id]
                self._released = max(self._released, entry[2])
            elif entry[2] >= wall - SLACK:
                return min(max(wall, self._released), math.nextafter(entry[2], -math.inf))
            else:
                break
        return max(wall, self._released)
