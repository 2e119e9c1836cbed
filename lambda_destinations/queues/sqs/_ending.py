"""What becomes of a message once its attempt ended: re-sent for a retry, or deleted.

A retry wait sends a new message with the event's next state (and a delay, at most SQS's
900 s; the rest of a longer wait rides in the message as its not-before time), then deletes
the old message, both in one thread. An outcome is delivered first, from this process, and
the message deleted once every delivery was heard of: a process that dies before leaves the
message in the queue, and another process runs the event again (at least once).
"""

from __future__ import annotations

import asyncio
import functools
import math
import time

from lambda_destinations._telemetry import logger
from lambda_destinations.destinations.aws._errors import Failure
from lambda_destinations.queues._state import EventState

from ._calls import lost
from ._extending import Extension
from ._lease import CHECKING, ENDING, RESENDING, RESENT, Lease
from ._messages import delay_seconds, fitted, size
from ._receiving import Receiver
from ._shared import HIDE, Shared, ignore

__all__ = ["Ending"]


class Ending:
    """Retries re-sent, outcomes awaited, messages deleted."""

    __slots__ = ("_extension", "_receiver", "_shared")

    def __init__(self, shared: Shared, extension: Extension, receiver: Receiver) -> None:
        self._shared = shared
        self._extension = extension
        self._receiver = receiver

    # -- retries -----------------------------------------------------------------------------

    def reschedule(self, state: EventState, delay: float) -> asyncio.Future[None] | None:
        """Send the leased event's retry with *state*, due after *delay* s; then delete it."""
        shared = self._shared
        holdings = shared.holdings
        request_id = state.request_id
        lease = holdings.held.get(request_id)
        if lease is None or lease.lost or not shared.running:
            if lease is not None:
                holdings.drop(lease)
            self.not_held(state, "retry")
            return None
        loop = shared.loop
        assert loop is not None
        delay = max(0.0, delay)
        not_before = shared.wall() + delay if delay > 0 else None
        state, message = fitted(state, not_before, shared.limit)
        if delay > 0:
            holdings.waits[request_id] = (state, shared.now() + delay)
        lease.where = RESENDING
        done: asyncio.Future[None] = loop.create_future()
        seconds = delay_seconds(delay) if shared.real_time else 0
        receipts = lease.receipts()
        callback = functools.partial(self._resent, lease, receipts, done, delay, shared.generation)
        shared.resends.add((message, seconds, receipts), callback, size(message))
        return done

    def _resent(
        self,
        lease: Lease,
        receipts: tuple[str, ...],
        done: asyncio.Future[None],
        delay: float,
        generation: int,
        result: tuple[Failure | None, Failure | None],
    ) -> None:
        shared = self._shared
        if not done.done():
            done.set_result(None)
        if generation != shared.generation:
            return
        shared.holdings.drop(lease)
        request_id = lease.state.request_id
        sent, deleted = result
        if sent is None:
            self._replaced(lease, receipts)
            if lease.where is not RESENT:
                shared.count.given_back(request_id, lease.counted)
            if deleted is not None:
                logger.warning(
                    "%r: the retry of event %s is queued, but its previous message could not "
                    "be deleted (%s: %s): SQS may deliver that one again, and the event may "
                    "run once more",
                    shared.owner,
                    request_id,
                    deleted.code,
                    deleted.message,
                )
            if delay <= 0 or not shared.real_time:
                self._receiver.news()
            return
        # Not stored: the old message comes back after the wait, with the state it had
        # before this attempt (the attempt is not counted), so the retry still happens.
        shared.holdings.waits.pop(request_id, None)
        logger.error(
            "%r: the retry of event %s could not be queued (%s: %s); its previous message "
            "runs again after the wait, with its attempt count as before",
            shared.owner,
            request_id,
            sent.code,
            sent.message,
        )
        shared.count.given_back(request_id, lease.counted)
        if not lease.lost:
            wait = min(HIDE, max(0, math.ceil(delay)))
            shared.changes.add((lease.receipt, wait), ignore)
        shared.changed()

    def _replaced(self, lease: Lease, receipts: tuple[str, ...]) -> None:
        # The retry is queued and the old messages were deleted with *receipts*, those held
        # when the resend began. A message received again since has a newer receipt, and SQS
        # deletes a message only with its latest: it is deleted again with that one. A copy
        # received from now on is deleted, not run (as after any delete here).
        shared = self._shared
        holdings = shared.holdings
        for message_id, receipt in lease.messages():
            if receipt in receipts:
                holdings.forget(message_id)
            else:
                self._delete(lease, message_id, receipt)

    # -- outcomes ----------------------------------------------------------------------------

    def finish(self, state: EventState, expect: int) -> asyncio.Future[bool] | bool:
        """The leased event ended: its message is deleted once *expect* deliveries were heard of.

        ``False`` if the event is not this process's any more (nothing of it is delivered).
        """
        shared = self._shared
        lease = shared.holdings.held.get(state.request_id)
        if lease is None or not shared.running:
            self.not_held(state, "outcome")
            return False
        if lease.lost:
            shared.holdings.drop(lease)
            return False
        if time.monotonic() < lease.until:
            self._end(lease, expect)
            return True
        # The lease ran out here (the loop stalled longer than it): ask SQS whether the
        # message is still this process's, extending the lease for the deliveries.
        loop = shared.loop
        assert loop is not None
        lease.where = CHECKING
        answer: asyncio.Future[bool] = loop.create_future()
        receipt = lease.receipt
        callback = functools.partial(
            self._checked, lease, receipt, answer, expect, time.monotonic()
        )
        shared.changes.add((receipt, shared.visibility), callback)
        return answer

    def _end(self, lease: Lease, expect: int) -> None:
        self._shared.holdings.end(lease, expect)
        self._shared.count.ended(lease.counted)

    def _checked(
        self,
        lease: Lease,
        receipt: str,
        answer: asyncio.Future[bool],
        expect: int,
        asked_at: float,
        failure: Failure | None,
    ) -> None:
        # Received again meanwhile (a newer receipt): the message is this process's, leased anew.
        renewed = lease.receipt != receipt
        if lost(failure) and not renewed:
            self._shared.holdings.drop(lease)
            answer_value = False
        else:
            if failure is None and not renewed:
                lease.until = asked_at + self._shared.visibility
            self._extension.later(lease)
            self._end(lease, expect)
            answer_value = True
        if not answer.done():
            answer.set_result(answer_value)

    def delivered(self, request_id: str) -> None:
        """One delivery of an ended event was heard of: the last one deletes its messages."""
        shared = self._shared
        holdings = shared.holdings
        lease = holdings.held.get(request_id)
        if lease is None or lease.where is not ENDING:
            return
        lease.expect -= 1
        if lease.expect > 0:
            return
        holdings.drop(lease)
        if not shared.running:
            return  # stop() gives the message back: the event runs again elsewhere
        for message_id, receipt in lease.messages():
            self._delete(lease, message_id, receipt)

    def _delete(self, lease: Lease, message_id: str, receipt: str) -> None:
        shared = self._shared
        shared.holdings.deleting[receipt] = message_id
        shared.deletes.add(receipt, functools.partial(self._deleted, lease, receipt))

    def _deleted(self, lease: Lease, receipt: str, failure: Failure | None) -> None:
        holdings = self._shared.holdings
        message_id = holdings.deleting.pop(receipt, None)
        if message_id is not None:
            holdings.unended.discard(message_id)
        if failure is None:
            if message_id is not None:
                holdings.forget(message_id)
            return
        logger.warning(
            "%r: the message of event %s could not be deleted (%s: %s); SQS may deliver it "
            "again and the event run once more: receivers drop repeats by request id",
            self._shared.owner,
            lease.state.request_id,
            failure.code,
            failure.message,
        )

    def not_held(self, state: EventState, what: str) -> None:
        """Log that *what* (a retry, an outcome) of an event not leased here is not stored."""
        logger.warning(
            "%r: event %s is not leased here (the queue stopped, or another process took its "
            "message); its %s is not stored here, and the event runs again wherever SQS "
            "delivers it",
            self._shared.owner,
            state.request_id,
            what,
        )
