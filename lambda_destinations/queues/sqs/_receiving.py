"""Receiving messages and taking them in: offered to a free worker, kept ahead, or held.

A process asks SQS for as many messages as it has free workers plus ``read_ahead`` (up to 10
a call, at most ``max_receives`` calls at once); an idle one long-polls, one call at a time.
Each message received becomes a `Lease`: its event is offered to a free worker, or kept
ahead of need for `Receiver.take`; one received before its not-before time (a retry wait
longer than SQS's 900 s delay) waits here if it is due within seconds, else goes back to
SQS, hidden for the rest of the wait. A copy of an event held here joins its lease and is
deleted with it.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import math
import time
from typing import Final

from lambda_destinations._telemetry import logger
from lambda_destinations.destinations.aws._errors import Failure
from lambda_destinations.queues._state import EventState
from lambda_destinations.queues._timing import failure_backoff

from ._batcher import BATCH
from ._calls import Received
from ._extending import Extension
from ._lease import AHEAD, HOLDING, RESENDING, RESENT, RUNNING, Lease
from ._shared import HIDE, SLACK, Shared, ignore, result
from ._stopping import in_own_thread

__all__ = ["Receiver"]

# A message received this close before its not-before time waits here rather than in SQS.
_HOLD_HORIZON: Final = 2.0
# On a virtual clock, idle receives space out, doubling from the poll interval up to this.
_VIRTUAL_POLL_MAX: Final = 30.0


class Receiver:
    """The receives of one queue, and what becomes of each message they return."""

    __slots__ = (
        "_empty",
        "_extension",
        "_failures",
        "_fresh",
        "_holding",
        "_idle_polling",
        "_next_poll",
        "_receiving",
        "_requested",
        "_shared",
    )

    def __init__(self, shared: Shared, extension: Extension) -> None:
        self._shared = shared
        self._extension = extension
        self.reset()

    def reset(self) -> None:
        """Nothing received or asked for yet (a new start)."""
        # (due on the clock, order, lease) of messages held here until their not-before time.
        self._holding: list[tuple[float, int, Lease]] = []
        self._receiving = 0
        self._requested = 0
        self._idle_polling = False
        self._empty = 0
        self._fresh = True
        self._next_poll = -math.inf
        self._failures = 0

    def news(self) -> None:
        """A message was sent from here: receive at once, whatever the idle wait."""
        self._fresh = True
        self._shared.kick()

    # -- receiving ---------------------------------------------------------------------------

    def want(self) -> int:
        """How many more messages to ask for: free workers and read-ahead, less those asked."""
        shared = self._shared
        consumer = shared.consumer
        if not shared.consume or consumer is None:
            return 0
        ahead = len(shared.holdings.ahead)
        return consumer.capacity() + shared.read_ahead - ahead - self._requested

    def more(self, now: float) -> None:
        """Start the receives wanted now (*now* on the clock's monotonic time)."""
        shared = self._shared
        want = self.want()
        allowed = self._allowed()
        while want > 0 and self._receiving < allowed:
            if not self._fresh and now < self._next_poll:
                return
            count = min(BATCH, want)
            want -= count
            if self._fresh:
                self._empty = 0
            self._fresh = False
            self._receiving += 1
            self._requested += count
            generation = shared.generation
            future = shared.start(self._receive, generation, count, shared.wait, shared.visibility)
            future.add_done_callback(
                functools.partial(self._received, count, time.monotonic(), generation)
            )

    def next_poll_in(self, now: float) -> float | None:
        """Seconds until the next receive may start, if one is wanted then."""
        if self.want() > 0 and self._receiving < self._allowed():
            return self._next_poll - now
        return None

    def _allowed(self) -> int:
        # Receives at once: one long poll while idle, up to max_receives under load.
        return 1 if self._idle_polling else self._shared.max_receives

    def _receive(
        self, generation: int, count: int, wait: int, visibility: int
    ) -> list[Received] | Failure:
        # In a thread. Messages that arrive after the queue stopped go straight back.
        calls = self._shared.calls
        found = calls.receive(count, wait, visibility)
        if generation != self._shared.generation and isinstance(found, list) and found:
            calls.change_visibility([(m.receipt, 0) for m in found])
            return []
        return found

    def _received(
        self,
        count: int,
        started: float,
        generation: int,
        future: asyncio.Future[list[Received] | Failure],
    ) -> None:
        shared = self._shared
        found = result(future)
        if generation != shared.generation:
            if isinstance(found, list) and found:
                back = [(m.receipt, 0) for m in found]
                in_own_thread(functools.partial(shared.calls.change_visibility, back), shared.owner)
            return
        self._receiving -= 1
        self._requested -= count
        now = shared.now()
        if not isinstance(found, list):
            self._failures += 1
            wait = failure_backoff(shared.poll_interval, self._failures)
            self._next_poll = now + wait
            self._fresh = False
            logger.error(
                "%r: receiving failed (%s: %s, AWS request id %s); trying again in %g s",
                shared.owner,
                found.code,
                found.message,
                found.aws_request_id or "none",
                wait,
            )
            return
        self._failures = 0
        if not found:
            self._idle_polling = True
            self._empty += 1
            # A long poll was the wait; without one, wait before asking again. On a virtual
            # clock, where only other invokers of the process could add messages, the waits
            # grow: a test's long virtual waits then cost a few receives, not one a second.
            wait = 0.0 if shared.wait else shared.poll_interval
            if not shared.real_time:
                wait = min(_VIRTUAL_POLL_MAX, wait * 2 ** min(self._empty - 1, 16))
            self._next_poll = now + wait
            return
        self._idle_polling = False
        self._empty = 0
        until = started + shared.visibility
        for message in found:
            self._take_in(message, until)

    # -- taking in ---------------------------------------------------------------------------

    def _take_in(self, message: Received, until: float) -> None:
        shared = self._shared
        holdings = shared.holdings
        decoded = message.decoded
        if decoded is None:
            self._hide(message)
            return
        state, not_before = decoded
        request_id = state.request_id
        if holdings.was_deleted(message.message_id):
            # A copy of a message whose event ended here (SQS delivers at least once: two
            # receives may return the same message, one of them after its delete): deleted
            # again with its own receipt, never run again.
            shared.deletes.add(message.receipt, ignore)
            return
        counted: bool | None = None
        lease = holdings.held.get(request_id)
        if (
            lease is not None
            and lease.where is RESENDING
            and lease.message_id != message.message_id
        ):
            # The retry's new message, received before its resend was answered here: it
            # takes over from the old lease, which the resend's answer lets go.
            lease.where = RESENT
            counted = lease.counted
            lease = None
        if lease is not None:
            if lease.message_id == message.message_id:
                # Its lease ran out here and SQS gave it back to this process: a renewal.
                lease.receipt = message.receipt
                lease.until = until
                lease.lost = False
                self._extension.later(lease)
            else:
                lease.extra[message.message_id] = message.receipt  # a copy: ended with it
            return
        if counted is None:
            if request_id in holdings.unsent:
                # Received before its send was answered here: counted once that answer comes.
                counted = True
                holdings.early.add(request_id)
            else:
                counted = shared.count.received(request_id)
        lease = Lease(message, state, until, time.monotonic(), counted)
        holdings.held[request_id] = lease
        if not counted:
            # Sent by another process since SQS last counted: ``pending()`` may have risen,
            # and ``join()`` must wait for it rather than find its wait already over.
            shared.changed()
        if not_before is not None and self._hold(lease, not_before):
            return
        holdings.waits.pop(request_id, None)
        self._offer(lease)

    def _hold(self, lease: Lease, not_before: float) -> bool:
        # Whether a message received before its not-before time waits, here or in SQS.
        shared = self._shared
        now = shared.now()
        request_id = lease.state.request_id
        own = shared.holdings.waits.get(request_id)
        if own is not None:
            left = own[1] - now  # a wait stored here is due exactly, on the clock
        else:
            left = not_before - shared.wall()
            if left <= SLACK:
                return False
        if left <= 0:
            return False
        if shared.real_time and left > _HOLD_HORIZON:
            shared.holdings.drop(lease)
            shared.count.given_back(request_id, lease.counted)
            shared.changes.add((lease.receipt, min(HIDE, math.ceil(left))), ignore)
            return True
        lease.where = HOLDING
        lease.hold_due = now + left
        heapq.heappush(self._holding, (lease.hold_due, next(shared.order), lease))
        self._extension.later(lease)
        return True

    def next_hold_at(self) -> float | None:
        """When the next message held here falls due (the clock's monotonic), if any."""
        return self._holding[0][0] if self._holding else None

    def release_holds(self, now: float) -> None:
        """Offer the messages held here whose not-before time has come."""
        holding, holdings = self._holding, self._shared.holdings
        while holding and holding[0][0] <= now:
            due, _, lease = heapq.heappop(holding)
            if lease.where is not HOLDING or lease.hold_due != due or not holdings.current(lease):
                continue
            holdings.waits.pop(lease.state.request_id, None)
            self._offer(lease)

    def _offer(self, lease: Lease) -> None:
        consumer = self._shared.consumer
        assert consumer is not None
        if consumer.capacity() > 0:
            lease.where = RUNNING
            self._extension.later(lease)
            if consumer.offer(lease.state):
                return
        lease.where = AHEAD
        lease.received = time.monotonic()
        self._shared.holdings.ahead.append(lease)

    def _hide(self, message: Received) -> None:
        shared = self._shared
        warned = shared.holdings.warned
        if message.message_id not in warned:
            warned.add(message.message_id)
            logger.error(
                "%r: message %s was not written by lambda_destinations (or by a version that "
                "wrote it differently); it is left in the queue, hidden for %d s at a time. "
                "Use a queue of its own for the invoker, and remove the message",
                shared.owner,
                message.message_id,
                HIDE,
            )
        shared.changes.add((message.receipt, HIDE), ignore)

    # -- taking, giving back -----------------------------------------------------------------

    def take(self) -> EventState | None:
        """The next event received ahead, if one is still fresh enough to run."""
        shared = self._shared
        ahead = shared.holdings.ahead
        if ahead:
            now = time.monotonic()
            holdings = shared.holdings
            while ahead:
                lease = ahead.popleft()
                if lease.where is not AHEAD or not holdings.current(lease):
                    continue
                if now - lease.received <= shared.grace and not lease.lost:
                    lease.where = RUNNING
                    self._extension.later(lease)
                    if len(ahead) <= shared.read_ahead // 2:
                        shared.kick()
                    return lease.state
                self._give_back(lease)
        shared.kick()
        return None

    def _give_back(self, lease: Lease) -> None:
        # Received ahead too long ago to run now: visible again at once, for any process.
        shared = self._shared
        shared.holdings.drop(lease)
        shared.count.given_back(lease.state.request_id, lease.counted)
        if shared.running and not lease.lost:
            shared.changes.add((lease.receipt, 0), ignore)
