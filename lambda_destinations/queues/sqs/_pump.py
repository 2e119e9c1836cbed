"""The run loop of a started queue: extensions, holds, receives and counts, as each falls due.

One task per start. Each turn does what is due (leases to extend, held messages whose time
came, receives wanted, a count of the queue), then sleeps until the next of those, or until
a kick (a call answered, a message sent). While this process holds nothing, it asks SQS for
the queue's counts now and then (every second while the queue seems not empty, every minute
while it seems empty), so that ``pending()`` and ``join()`` follow other processes' work.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from typing import Final

from lambda_destinations._telemetry import logger
from lambda_destinations.destinations.aws._errors import Failure

from ._calls import COUNTED
from ._extending import Extension
from ._messages import MESSAGE_LIMIT
from ._receiving import Receiver
from ._shared import Shared, result

__all__ = ["Pump"]

# How often SQS is asked for the queue's counts while this process holds nothing: while the
# queue seems not empty (someone may be waiting in join()), and while it seems empty.
_COUNT_BUSY: Final = 1.0
_COUNT_IDLE: Final = 60.0


class Pump:
    """Runs a started queue's turns until cancelled; counts the queue."""

    __slots__ = ("_count_at", "_counting", "_extension", "_receiver", "_shared")

    def __init__(self, shared: Shared, extension: Extension, receiver: Receiver) -> None:
        self._shared = shared
        self._extension = extension
        self._receiver = receiver
        self.reset()

    def reset(self) -> None:
        """Never counted (a new start)."""
        self._counting = False
        self._count_at = -math.inf

    async def run(self) -> None:
        """Turn after turn, until cancelled."""
        while True:
            delay = self._tick()
            await self._idle(delay)

    def _tick(self) -> float | None:
        # Does what is due now; answers how long to wait for the next thing (None: a kick).
        shared = self._shared
        now_real, now = time.monotonic(), shared.now()
        self._extension.due(now_real)
        self._receiver.release_holds(now)
        self._receiver.more(now)  # it wants nothing of a queue that does not consume
        count_at = math.inf if self._counting else self._count_due_at()
        if count_at <= now:
            self.begin_count()
            count_at = math.inf
        if not shared.real_time and shared.calls_in_flight:
            return None  # a virtual clock stands still while calls run: they wake the pump
        times = [count_at - now]
        check_at = self._extension.next_at()
        if check_at is not None:
            times.append(check_at - now_real)
        hold_at = self._receiver.next_hold_at()
        if hold_at is not None:
            times.append(hold_at - now)
        poll_in = self._receiver.next_poll_in(now)
        if poll_in is not None:
            times.append(poll_in)
        wait = min(times)
        return None if wait == math.inf else max(0.0, wait)

    def _count_due_at(self) -> float:
        shared = self._shared
        if shared.holdings.local():
            return math.inf
        return self._count_at + (_COUNT_BUSY if shared.count.value() else _COUNT_IDLE)

    async def _idle(self, delay: float | None) -> None:
        shared = self._shared
        loop, clock = shared.loop, shared.clock
        assert loop is not None
        assert clock is not None
        shared.wake = wake = loop.create_future()
        try:
            async with clock.timeout(delay):
                await wake
        except TimeoutError:
            pass
        finally:
            shared.wake = None

    # -- counting ----------------------------------------------------------------------------

    def begin_count(self) -> None:
        """Ask SQS for the queue's counts, while none of this process's sends or deletes run."""
        shared = self._shared
        batchers = (shared.puts, shared.resends, shared.deletes)
        if any(b.in_flight for b in batchers):
            return  # SQS counts while nothing of ours is sent or deleted
        for batcher in batchers:
            batcher.pause()
        self._counting = True
        token = shared.count.asking()
        generation = shared.generation
        future = shared.start(shared.calls.attributes)
        future.add_done_callback(functools.partial(self._counted, token, generation))

    def _counted(
        self, token: int, generation: int, future: asyncio.Future[dict[str, int] | Failure]
    ) -> None:
        shared = self._shared
        if generation != shared.generation:
            return
        self._counting = False
        self._count_at = shared.now()
        for batcher in (shared.puts, shared.resends, shared.deletes):
            batcher.resume()
        found = result(future)
        if not isinstance(found, dict):
            logger.warning(
                "%r: counting the queue's messages failed (%s: %s); asking again later",
                shared.owner,
                found.code,
                found.message,
            )
            return
        before = shared.pending()
        total = sum(found.get(name, 0) for name in COUNTED)
        shared.count.answered(token, total, len(shared.holdings.unended))
        limit = found.get("MaximumMessageSize")
        if limit:
            shared.limit = min(MESSAGE_LIMIT, limit)
        if shared.pending() != before:
            shared.changed()
