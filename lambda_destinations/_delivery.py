"""Handing records and dead letters to their receivers, each bounded by a timeout.

A receiver's failure, slowness or refusal to be cancelled never changes an event's outcome
and never holds up another delivery: it is counted and logged, and that is all. Whoever keeps
the item until it is delivered (a durable queue's outbox) passes *done*, told once the
delivery is over: delivered, failed for good, or with no receiver to go to; never when the
invoker closed first, so the item is delivered again later.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

from ._clock import Clock
from ._dead_letter import DeadLetterMessage
from ._exceptions import InvokerClosedError
from ._records import ExecutionRecord
from ._telemetry import Telemetry, logger
from .destinations._adapt import Sender

__all__ = ["Deliveries", "Done"]

ON_SUCCESS, ON_FAILURE, DEAD_LETTER_QUEUE = "on_success", "on_failure", "dead_letter_queue"
#: Told (request id, ``"record"`` or ``"dead_letter"``) once a delivery is over.
Done = Callable[[str, str], None]


class Deliveries:
    """The invoker's receivers, and the deliveries still running."""

    __slots__ = (
        "_clock",
        "_telemetry",
        "dead_letter",
        "on_failure",
        "on_success",
        "tasks",
        "timeout",
    )

    def __init__(self, clock: Clock, timeout: float, telemetry: Telemetry) -> None:
        self._clock = clock
        self._telemetry = telemetry
        self.timeout = timeout
        self.on_success: Sender | None = None
        self.on_failure: Sender | None = None
        self.dead_letter: Sender | None = None
        #: Deliveries that returned an awaitable and have not finished.
        self.tasks: set[asyncio.Task[None]] = set()

    def record(self, record: ExecutionRecord, done: Done | None = None) -> None:
        """Deliver *record* to on-success or on-failure, whichever its condition calls for."""
        send = self.on_success if record.is_success else self.on_failure
        if send is not None:
            role = ON_SUCCESS if record.is_success else ON_FAILURE
            self._deliver(send, record, role, record.request_id, done)
        elif done is not None:
            done(record.request_id, "record")

    def dead_letter_message(self, letter: DeadLetterMessage, done: Done | None = None) -> None:
        """Send *letter* to the dead-letter queue, if there is one."""
        if self.dead_letter is not None:
            self._deliver(self.dead_letter, letter, DEAD_LETTER_QUEUE, letter.request_id, done)
        elif done is not None:
            done(letter.request_id, "dead_letter")

    def cancel(self) -> None:
        """Cut off every running delivery (the invoker is closing); each is counted as failed."""
        for task in self.tasks:
            task.cancel()

    def _deliver(
        self, send: Sender, item: object, role: str, request_id: str, done: Done | None
    ) -> None:
        try:
            pending = send(item)
        except BaseException as e:  # noqa: BLE001 - a destination never affects the outcome
            self._failed(role, request_id, e)
        else:
            if pending is not None and inspect.isawaitable(pending):
                task = asyncio.get_running_loop().create_task(
                    self._finish(pending, role, request_id, done)
                )
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
                return
        if done is not None:
            done(request_id, "dead_letter" if role == DEAD_LETTER_QUEUE else "record")

    async def _finish(
        self, pending: Awaitable[object], role: str, request_id: str, done: Done | None
    ) -> None:
        # The destination runs in a task of its own: one that ignores cancellation cannot
        # hold this delivery past its timeout, nor aclose() past its drain.
        inner = asyncio.ensure_future(_contained(pending))
        try:
            async with self._clock.timeout(self.timeout):
                await asyncio.wait((inner,))
        except TimeoutError:
            inner.cancel()
            self._failed(role, request_id, TimeoutError(f"timed out after {self.timeout:g} s"))
        except asyncio.CancelledError:
            inner.cancel()
            cut = InvokerClosedError("cut off: the invoker closed before the delivery ended")
            self._failed(role, request_id, cut)
            raise
        else:
            failure = inner.result()
            if failure is not None:
                self._failed(role, request_id, failure)
        if done is not None:
            done(request_id, "dead_letter" if role == DEAD_LETTER_QUEUE else "record")

    def _failed(self, role: str, request_id: str, error: BaseException) -> None:
        self._telemetry.delivery_failed(role == DEAD_LETTER_QUEUE, request_id)
        logger.error(
            "%s delivery of event %s failed: %r",
            role,
            request_id,
            error,
            exc_info=error if error.__traceback__ is not None else None,
        )


async def _contained(pending: Awaitable[object]) -> BaseException | None:
    # A destination's failure, returned as a value: KeyboardInterrupt or SystemExit escaping
    # a task would stop the whole event loop.
    try:
        await pending
    except asyncio.CancelledError as e:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise  # cut off by the delivery timeout or by aclose()
        return e  # the destination raised it itself
    except BaseException as e:  # noqa: BLE001 - counted and logged as a failed delivery
        return e
    return None
