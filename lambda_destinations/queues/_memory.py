"""The default queue backend: events in this process's memory, as fast as an asyncio queue.

Nothing survives the process. Due events go straight to the consumer when it has room and
wait in line otherwise; delayed events sit in one heap, watched by one timer task.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import deque
from collections.abc import Iterable
from typing import Final

from lambda_destinations._clock import Clock
from lambda_destinations._dead_letter import DeadLetterMessage
from lambda_destinations._records import ExecutionRecord

from ._protocol import Consumer
from ._state import QUEUED, WAITING, EventState, State

__all__ = ["MemoryQueue"]

# Due events moved from the heap between two turns of the loop, at most.
_DUE_PER_TURN: Final = 256


class MemoryQueue:
    """Accepted events in memory: lost with the process, never persisted, fastest."""

    __slots__ = (
        "_clock",
        "_consumer",
        "_delayed",
        "_order",
        "_pending",
        "_ready",
        "_timer",
        "_wake",
    )

    def __init__(self) -> None:
        self._ready: deque[EventState] = deque()
        # (due on the clock's monotonic time, tie-breaker, state)
        self._delayed: list[tuple[float, int, EventState]] = []
        self._order = itertools.count()
        self._pending = 0
        self._consumer: Consumer | None = None
        self._clock: Clock | None = None
        self._timer: asyncio.Task[None] | None = None
        self._wake: asyncio.Future[None] | None = None

    def __repr__(self) -> str:
        return (
            f"<MemoryQueue {self._pending} pending: {len(self._ready)} queued, "
            f"{len(self._delayed)} waiting>"
        )

    def start(self, consumer: Consumer, clock: Clock, lease_seconds: float) -> None:
        self.stop()
        self._consumer = consumer
        self._clock = clock

    def put(self, state: EventState, /) -> None:
        self._pending += 1
        self._due(state)

    def _due(self, state: EventState) -> None:
        consumer = self._consumer
        if consumer is None or not consumer.offer(state):
            self._ready.append(state)

    def take(self) -> EventState | None:
        ready = self._ready
        return ready.popleft() if ready else None

    def reschedule(self, state: EventState, delay: float, /) -> None:
        if delay <= 0:
            self._due(state)
            return
        assert self._clock is not None, "reschedule() before start()"
        due = self._clock.monotonic() + delay
        delayed = self._delayed
        heapq.heappush(delayed, (due, next(self._order), state))
        if self._timer is None or self._timer.done():
            self._timer = asyncio.get_running_loop().create_task(self._release_due())
        elif delayed[0][2] is state and self._wake is not None and not self._wake.done():
            self._wake.set_result(None)  # a new earliest due time: re-arm

    def finish(
        self,
        state: EventState,
        record: ExecutionRecord,
        dead_letter: DeadLetterMessage | None,
        /,
    ) -> bool:
        self._pending -= 1
        return True

    def delivered(self, request_id: str, target: str, /) -> None:
        pass  # nothing is kept to deliver again: there is no restart to deliver after

    def pending(self) -> int:
        return self._pending

    def next_due_in(self) -> float | None:
        delayed, clock = self._delayed, self._clock
        if not delayed or clock is None:
            return None
        return max(0.0, delayed[0][0] - clock.monotonic())

    def snapshot(self) -> Iterable[tuple[EventState, State]]:
        waiting: list[tuple[EventState, State]] = [(s, QUEUED) for s in self._ready]
        waiting += [(s, WAITING) for _, _, s in sorted(self._delayed)]
        return waiting

    def stop(self) -> None:
        timer = self._timer
        if timer is not None and not timer.done() and not timer.get_loop().is_closed():
            timer.cancel()
        self._timer = None
        self._wake = None
        self._consumer = None

    async def _release_due(self) -> None:
        clock = self._clock
        assert clock is not None
        delayed = self._delayed
        loop = asyncio.get_running_loop()
        while delayed:
            wait = delayed[0][0] - clock.monotonic()
            if wait > 0:
                self._wake = wake = loop.create_future()
                sleeper = loop.create_task(clock.sleep(wait))
                try:
                    await asyncio.wait((wake, sleeper), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    sleeper.cancel()
                    self._wake = None
                continue
            for _ in range(_DUE_PER_TURN):
                if not delayed or delayed[0][0] > clock.monotonic():
                    break
                self._due(heapq.heappop(delayed)[2])
            await asyncio.sleep(0)
