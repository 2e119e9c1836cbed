"""Sending accepted events: one message each, in batches, refused at once if too large.

``invoke()`` awaits `Sent` until SQS accepted the event's message (or raises why not). An
event whose message would not leave room in SQS's limit for the state a retry adds is refused
before anything is sent, with AWS's 413 (`RequestEntityTooLargeError`).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Generator

from lambda_destinations._exceptions import InvokeError, RequestEntityTooLargeError
from lambda_destinations._telemetry import logger
from lambda_destinations.destinations.aws._errors import Failure
from lambda_destinations.queues._state import EventState

from ._messages import STATE_ROOM, base64_needed, encode, size
from ._receiving import Receiver
from ._shared import TOO_LARGE, Shared

__all__ = ["Sender", "Sent"]


class Sent:
    """What ``put`` answers: awaiting it waits until SQS accepted the event, or raises why not."""

    __slots__ = ("done", "error")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.done: asyncio.Future[None] = loop.create_future()
        self.error: InvokeError | None = None

    def __await__(self) -> Generator[object, None, None]:
        yield from self.done.__await__()
        error = self.error
        if error is not None:
            raise type(error)(str(error)) from error

    def settle(self) -> None:
        """The answer is in: wake whoever awaits it."""
        if not self.done.done():
            self.done.set_result(None)


class Sender:
    """Accepted events on their way to SQS."""

    __slots__ = ("_receiver", "_shared")

    def __init__(self, shared: Shared, receiver: Receiver) -> None:
        self._shared = shared
        self._receiver = receiver

    def put(self, state: EventState) -> Sent:
        """Send *state*'s message; raises `RequestEntityTooLargeError` if it is too large."""
        shared = self._shared
        loop = shared.loop
        if loop is None or not shared.running:
            msg = f"{shared.owner!r} is not started: an invoker starts it when it binds to its loop"
            raise InvokeError(msg)
        message = encode(state)
        length = size(message)
        if length > shared.limit - STATE_ROOM:
            shared.changed()  # the invoker counted it in; it is not
            raise self._too_large(state, length)
        sent = Sent(loop)
        shared.holdings.unsent[state.request_id] = state
        done = functools.partial(self._put_done, state.request_id, sent, shared.generation)
        shared.puts.add((message, 0), done, length)
        return sent

    def _put_done(
        self, request_id: str, sent: Sent, generation: int, failure: Failure | None
    ) -> None:
        shared = self._shared
        holdings = shared.holdings
        owner = shared.owner
        state = holdings.unsent.pop(request_id, None)
        if state is not None and generation == shared.generation:
            if failure is None:
                early = request_id in holdings.early
                if early:
                    holdings.early.discard(request_id)
                shared.count.sent(request_id, received=early)
                self._receiver.news()
            elif failure.code == TOO_LARGE:
                # Accepted before the queue's own limit was known; refused before sending.
                sent.error = self._too_large(state, size(encode(state)))
                logger.error("%r: event %s is not queued: %s", owner, request_id, sent.error)
                shared.changed()
            else:
                logger.error(
                    "%r: SQS did not accept event %s: %s: %s (AWS request id %s); it is not queued",
                    owner,
                    request_id,
                    failure.code,
                    failure.message,
                    failure.aws_request_id or "none",
                )
                sent.error = InvokeError(
                    f"{owner!r} could not queue event {request_id}: SQS answered "
                    f"{failure.code}: {failure.message}"
                )
                shared.changed()
        elif failure is not None:
            sent.error = InvokeError(
                f"{owner!r} could not queue event {request_id} before it stopped: "
                f"{failure.code}: {failure.message}"
            )
        sent.settle()

    def _too_large(self, state: EventState, length: int) -> RequestEntityTooLargeError:
        encoded = (
            " (its payload holds characters SQS cannot carry as text, so it goes "
            "base64-encoded, a third larger)"
            if base64_needed(state.body)
            else ""
        )
        limit = self._shared.limit
        return RequestEntityTooLargeError(
            f"{length} byte event is too large for {self._shared.owner!r}{encoded}: an SQS "
            f"message holds at most {limit} bytes, {STATE_ROOM} of which are kept for the "
            "event's retry state; send a smaller payload, or store large payloads elsewhere "
            "(S3) and invoke with a reference to them"
        )
