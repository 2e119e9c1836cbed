"""The worker pool: at most ``concurrency`` attempts at once, the rest throttled.

Workers are tasks started as events fall due and kept for the next ones. An event that falls
due when every slot is busy is throttled: the runner backs it off (AWS's way) or leaves it in
line in the queue for the next free slot.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Final

from ._dead_letter import DeadLetterMessage
from ._records import ExecutionRecord
from .queues import EventQueue, EventState

__all__ = ["WorkerPool"]

# How many events a worker may run back to back before it lets other tasks run.
_EVENTS_PER_TURN: Final = 32
# What a pool of zero concurrency can take: anything (ZeroReservedConcurrency ends it).
_ENDS_EVERYTHING: Final = 1_000_000


class WorkerPool:
    """The `Consumer` a queue backend offers due events to.

    *run* takes a leased event through its attempt to its next state; *throttle* is told of an
    event that found no free slot, and answers whether it took care of it (else it waits in
    line in the queue). *redeliver* and *recount* serve a queue shared between processes: an
    outcome a dead process left undelivered, and a pending count that moved elsewhere.
    """

    __slots__ = (
        "_abandoned",
        "_concurrency",
        "_idle",
        "_queue",
        "_recount",
        "_redeliver",
        "_run",
        "_throttle",
        "running",
        "workers",
    )

    def __init__(
        self,
        *,
        concurrency: int,
        queue: EventQueue,
        run: Callable[[EventState], Awaitable[None]],
        throttle: Callable[[EventState], bool],
        abandoned: Callable[[], None],
        redeliver: Callable[[ExecutionRecord | None, DeadLetterMessage | None], None],
        recount: Callable[[], None],
    ) -> None:
        self._concurrency = concurrency
        self._queue = queue
        self._run = run
        self._throttle = throttle
        self._abandoned = abandoned
        self._redeliver = redeliver
        self._recount = recount
        # Workers waiting for an event, each on a future the next offered event resolves.
        self._idle: list[asyncio.Future[EventState]] = []
        self.workers: set[asyncio.Task[None]] = set()
        #: Leased events by request id: running, or about to.
        self.running: dict[str, EventState] = {}

    def offer(self, state: EventState, /) -> bool:
        idle = self._idle
        while idle:
            waiter = idle.pop()
            if not waiter.done():
                self.running[state.request_id] = state
                waiter.set_result(state)
                return True
        if len(self.workers) < self._concurrency:
            self.running[state.request_id] = state
            task = asyncio.get_running_loop().create_task(self._work(state))
            self.workers.add(task)
            task.add_done_callback(self.workers.discard)
            return True
        return self._throttle(state)

    def capacity(self) -> int:
        if not self._concurrency:
            return _ENDS_EVERYTHING  # every event offered ends at once, with no worker
        return len(self._idle) + self._concurrency - len(self.workers)

    def redeliver(
        self, record: ExecutionRecord | None, dead_letter: DeadLetterMessage | None, /
    ) -> None:
        self._redeliver(record, dead_letter)

    def pending_changed(self) -> None:
        self._recount()

    def cancel(self) -> None:
        """Stop every worker (the invoker is closing)."""
        for task in self.workers:
            task.cancel()

    async def _work(self, state: EventState) -> None:
        try:
            await self._work_from(state)
        except asyncio.CancelledError:
            self._abandoned()
            raise

    async def _work_from(self, state: EventState) -> None:
        run, take, running = self._run, self._queue.take, self.running
        loop = asyncio.get_running_loop()
        turns = 0
        while True:
            await run(state)
            # Only an event that ended here leaves the running set: one cut off by a
            # cancellation stays there, to be reported as unfinished. A shared queue can hand
            # back an event's retry before its reschedule is answered: the lease found under
            # the request id is then the retry's, in another worker, and stays.
            found = running.pop(state.request_id, None)
            if found is not None and found is not state:
                running[state.request_id] = found
            turns += 1
            if turns == _EVENTS_PER_TURN:
                # With a backlog and handlers that never wait, nothing here would ever yield:
                # give the loop a turn now and then, so it is never blocked for long.
                turns = 0
                await asyncio.sleep(0)
            next_state = take()
            if next_state is None:
                waiter: asyncio.Future[EventState] = loop.create_future()
                self._idle.append(waiter)
                next_state = await waiter
            else:
                running[next_state.request_id] = next_state
            state = next_state
