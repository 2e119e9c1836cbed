"""Timeouts of attempts: one watchdog task per function, not a timer per attempt."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from ._clock import Clock, monotonic_time

__all__ = ["Watchdog"]


class _Ticket:
    """One running attempt's deadline, watched by the `Watchdog`."""

    __slots__ = ("deadline", "done", "expired", "generation", "handler", "waker")

    def __init__(
        self,
        deadline: float,
        waker: asyncio.Future[Any] | None,
        handler: asyncio.Task[Any] | None,
        generation: int,
    ) -> None:
        self.deadline = deadline
        self.waker = waker
        self.handler = handler
        self.generation = generation
        self.done = False
        self.expired = False


class Watchdog:
    """Ends attempts that outlive the timeout, with one task instead of a timer per attempt.

    Every attempt of a function shares one timeout, so deadlines fall in the order attempts
    start: a FIFO of tickets is enough, and starting an attempt never re-arms anything. At the
    deadline it cancels what the attempt waits on: the worker task running an async handler,
    or the future of a sync handler's thread. When the last running attempt ends, the watchdog
    stops until the next one: a timer left for a finished attempt would keep the loop busy, and
    move a virtual clock on to that deadline once everything else is idle.
    """

    __slots__ = (
        "_clock",
        "_generation",
        "_idle_check",
        "_monotonic",
        "_running",
        "_task",
        "_tickets",
        "_timeout",
        "_wake",
    )

    def __init__(self, clock: Clock, timeout: float) -> None:
        self._clock = clock
        self._monotonic = monotonic_time(clock)
        self._timeout = timeout
        self._tickets: deque[_Ticket] = deque()
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Future[None] | None = None
        # Attempts watched and not yet released, counted per generation: stop() starts a new one.
        self._running = 0
        self._generation = 0
        self._idle_check = False

    def watch(self, waker: asyncio.Future[Any] | None, task: asyncio.Task[Any] | None) -> _Ticket:
        """Cancel *waker* or *task* if the attempt is not done by its deadline.

        Pass the ticket to `release` when the attempt ends, however it ends.
        """
        ticket = _Ticket(self._monotonic() + self._timeout, waker, task, self._generation)
        self._running += 1
        tickets = self._tickets
        while tickets and tickets[0].done:
            tickets.popleft()
        tickets.append(ticket)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        elif self._wake is not None and not self._wake.done():
            self._wake.set_result(None)
        return ticket

    def release(self, ticket: _Ticket) -> None:
        """The attempt of *ticket* ended; with none left running, stop watching until the next."""
        if ticket.done:
            return
        ticket.done = True
        if ticket.generation != self._generation:
            return  # watched before a stop(), which forgot it
        self._running -= 1
        if self._running == 0 and not self._idle_check:
            # Checked a loop turn later: a worker with a backlog starts its next attempt at
            # once, and the watchdog then keeps running rather than stopping and starting.
            self._idle_check = True
            asyncio.get_running_loop().call_soon(self._stop_if_idle)

    def _stop_if_idle(self) -> None:
        self._idle_check = False
        if self._running == 0:
            self.stop()

    def stop(self) -> None:
        """Forget every ticket and stop watching (the invoker closed or changed loops)."""
        task = self._task
        if task is not None and not task.done() and not task.get_loop().is_closed():
            task.cancel()
        self._task = None
        self._wake = None
        self._tickets.clear()
        self._running = 0
        self._generation += 1

    async def _run(self) -> None:
        tickets, clock = self._tickets, self._clock
        while True:
            while tickets and tickets[0].done:
                tickets.popleft()
            if not tickets:
                self._wake = asyncio.get_running_loop().create_future()
                await self._wake
                continue
            ticket = tickets[0]
            delay = ticket.deadline - clock.monotonic()
            if delay > 0:
                await clock.sleep(delay)
                continue
            tickets.popleft()
            ticket.expired = True
            if ticket.waker is not None:
                ticket.waker.cancel()
            if ticket.handler is not None:
                ticket.handler.cancel()
