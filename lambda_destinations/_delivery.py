"""Handing records and dead letters to their receivers, each bounded by a timeout.

A receiver's failure, slowness or refusal to be cancelled never changes an event's outcome
and never holds up another delivery: it is counted and logged, and that is all. Coroutine
receivers run in a task of their own, plain functions in a worker thread, and a destination
object's ``send`` on the loop (it returns an awaitable for slow work). Whoever keeps
the item until it is delivered (a durable queue's outbox) passes *done*, told once the
delivery is over: delivered, failed for good, or with no receiver to go to; never when the
invoker closed first, so the item is delivered again later.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Final

from ._clock import Clock
from ._dead_letter import DeadLetterMessage
from ._exceptions import InvokerClosedError
from ._records import ExecutionRecord
from ._telemetry import Telemetry, logger
from ._threads import HandlerThreads
from .destinations._adapt import Sender, ThreadedSender

__all__ = ["Deliveries", "Done"]

ON_SUCCESS, ON_FAILURE, DEAD_LETTER_QUEUE = "on_success", "on_failure", "dead_letter_queue"
#: Told (request id, ``"record"`` or ``"dead_letter"``) once a delivery is over.
Done = Callable[[str, str], None]
# Threads for plain-function receivers, per invoker: enough that slow receivers rarely wait
# for one another; a receiver stuck past its timeout keeps its thread until it returns.
_MAX_THREADS: Final = 32


class Deliveries:
    """The invoker's receivers, and the deliveries still running."""

    __slots__ = (
        "_clock",
        "_telemetry",
        "_threads",
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
        self._threads: HandlerThreads | None = None

    def success(self, record: ExecutionRecord, done: Done | None = None) -> None:
        """Deliver the record of a success to on-success, if there is one."""
        self._record(self.on_success, ON_SUCCESS, record, done)

    def failure(self, record: ExecutionRecord, done: Done | None = None) -> None:
        """Deliver the record of a failure to on-failure, if there is one."""
        self._record(self.on_failure, ON_FAILURE, record, done)

    def _record(
        self, send: Sender | None, role: str, record: ExecutionRecord, done: Done | None
    ) -> None:
        request_id = record.request_context.request_id
        if send is not None:
            self._deliver(send, record, role, request_id, done)
        elif done is not None:
            done(request_id, "record")

    def dead_letter_message(self, letter: DeadLetterMessage, done: Done | None = None) -> None:
        """Send *letter* to the dead-letter queue, if there is one."""
        if self.dead_letter is not None:
            self._deliver(self.dead_letter, letter, DEAD_LETTER_QUEUE, letter.request_id, done)
        elif done is not None:
            done(letter.request_id, "dead_letter")

    def cancel(self) -> None:
        """Cut off every running delivery (the invoker is closing); each is counted as failed.

        A receiver's thread cannot be stopped: it finishes on its own, and its result is not
        waited for.
        """
        for task in self.tasks:
            task.cancel()
        threads, self._threads = self._threads, None
        if threads is not None:
            threads.shutdown(wait=False)

    def _deliver(
        self, send: Sender, item: object, role: str, request_id: str, done: Done | None
    ) -> None:
        try:
            if type(send) is ThreadedSender:
                pending: Awaitable[None] | None = self._in_thread(send.send, item)
            else:
                pending = send(item)  # type: ignore[operator]
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

    async def _in_thread(self, send: Callable[[Any], object], item: object) -> None:
        threads = self._threads
        if threads is None:
            threads = self._threads = HandlerThreads(_MAX_THREADS, name="lambda_destinations-send")
        # A fresh copy of the context, as for a sync handler: the recursion count goes along.
        call = functools.partial(contextvars.copy_context().run, send, item)
        result = await asyncio.get_running_loop().run_in_executor(threads, call)
        if result is not None and inspect.isawaitable(result):
            await result

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
        # The error's text, not its repr: an OSError's repr leaves out the file it names.
        logger.error(
            "%s delivery of event %s failed: %s: %s",
            role,
            request_id,
            type(error).__name__,
            str(error) or repr(error),
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
