"""Taking one leased event through an attempt to what comes next: retry, or its end.

The decisions are `_policy`'s; this module runs the attempt, builds AWS's record, and tells
the queue, the deliveries and the telemetry what happened, in that order.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Awaitable, Callable
from typing import Final

from . import _policy as policy
from ._clock import Clock, monotonic_time, record_time
from ._config import EventInvokeConfig
from ._context import LambdaContext
from ._dead_letter import DeadLetterMessage
from ._delivery import Deliveries
from ._identity import FunctionIdentity
from ._lineage import LINEAGE, RecursiveLoop
from ._records import Condition, ExecutionRecord, RequestContext, ResponseContext
from ._runtime import Attempt, Runtime
from ._telemetry import Telemetry, logger
from .queues import EventQueue, EventState, MemoryQueue

__all__ = ["Completion", "EventRunner"]

# DLQ attributes for an event that never ran: AWS's answer to a throttled invoke (assumption).
_THROTTLE_CODE, _THROTTLE_MESSAGE = "429", "Rate Exceeded."
# DLQ attributes for an event stopped as a recursive loop: the status and message AWS answers a
# synchronous caller with (RecursiveInvocationException); an assumption for the DLQ.
_RECURSION_CODE: Final = "400"
_RECURSION_MESSAGE: Final = (
    "Lambda has detected your function being invoked in a recursive loop with other AWS "
    "resources and stopped your function's invocation."
)
# What finishing an event takes: its last state, its record, and its dead letter if any.
_Ending = tuple[EventState, ExecutionRecord, DeadLetterMessage | None]
_INTERNAL_ERROR: Final = json.dumps(
    {
        "errorType": "LambdaDestinations.InternalError",
        "errorMessage": "internal error in lambda_destinations; see the log",
    }
)


class Completion:
    """What ``join()`` waits for: every accepted event ended; and the first function error."""

    __slots__ = ("_queue", "all_done", "error_signal", "first_error")

    def __init__(self, queue: EventQueue) -> None:
        self._queue = queue
        self.all_done = asyncio.Event()
        self.all_done.set()
        #: (request id, error object) of the first function error not yet raised by a join.
        self.first_error: tuple[str, str] | None = None
        self.error_signal: asyncio.Future[None] | None = None

    def accepted(self) -> None:
        """An event was accepted: joins now wait for it."""
        if self.all_done.is_set():
            self.all_done.clear()

    def ended(self) -> None:
        """An event ended: joins return once none is left."""
        if not self._queue.pending():
            self.all_done.set()

    def recount(self) -> None:
        """The queue's count moved by itself (another process shares it): joins follow it."""
        if self._queue.pending():
            self.accepted()
        else:
            self.all_done.set()

    def function_error(self, request_id: str, response: str) -> None:
        """An attempt failed: ``join(raise_on_error=True)`` raises the first such error."""
        if self.first_error is None:
            self.first_error = (request_id, response)
            signal = self.error_signal
            if signal is not None and not signal.done():
                signal.set_result(None)


class EventRunner:
    """Runs leased events: attempt, decide, then reschedule or finish and deliver."""

    __slots__ = (
        "_clock",
        "_config",
        "_delivered",
        "_deliveries",
        "_error_response",
        "_function_arn",
        "_identity",
        "_log_group",
        "_memory",
        "_monotonic",
        "_now",
        "_ok_response",
        "_queue",
        "_runtime",
        "_telemetry",
        "_timeout",
        "_wall",
        "backoff",
        "completion",
        "log_stream",
        "recursive_loop",
        "reserved_concurrency",
    )

    def __init__(
        self,
        *,
        identity: FunctionIdentity,
        memory_size: int,
        timeout: float,
        clock: Clock,
        wall: Callable[[], float],
        runtime: Runtime,
        config: Callable[[], EventInvokeConfig],
        queue: EventQueue,
        deliveries: Deliveries,
        telemetry: Telemetry,
        completion: Completion,
        reserved_concurrency: int | None,
        backoff: bool,
        recursive_loop: RecursiveLoop,
    ) -> None:
        self._identity = identity
        self._function_arn = identity.function_arn
        self._memory = str(memory_size)
        self._timeout = timeout
        self._clock = clock
        self._now = record_time(clock)
        self._monotonic = monotonic_time(clock)
        self._wall = wall
        self._runtime = runtime
        self._config = config
        self._queue = queue
        self._deliveries = deliveries
        # Told after each delivery, so that a durable queue forgets what it kept to deliver.
        # The memory queue keeps nothing to deliver again: no acknowledgement per delivery.
        self._delivered = None if type(queue) is MemoryQueue else queue.delivered
        self._telemetry = telemetry
        self.completion = completion
        #: ``0`` ends every event at once (``ZeroReservedConcurrency``).
        self.reserved_concurrency = reserved_concurrency
        #: Throttled events back off (AWS) rather than wait in line.
        self.backoff = backoff
        #: Whether an event's 17th invocation is stopped (``"Terminate"``).
        self.recursive_loop = recursive_loop
        self._ok_response = ResponseContext(200, identity.executed_version)
        self._error_response = ResponseContext(200, identity.executed_version, "Unhandled")
        self._log_group = f"/aws/lambda/{identity.function_name}"
        #: Set when the invoker binds to a loop, as Lambda names a stream per sandbox.
        self.log_stream = ""

    async def run(self, state: EventState) -> None:
        """Take *state* through one attempt, then retry it or end it.

        One coroutine for the whole success path, which is the hot one. A fault of ours ends
        the event, loudly, as a failure: it is never lost.
        """
        # What the handler invokes, and the destinations its record reaches, carry the count.
        lineage = LINEAGE.set(state.lineage + 1)
        try:
            ending: _Ending | None
            try:
                now = self._wall()
                stop = policy.before_attempt(state, self._config(), now, self.recursive_loop)
                if stop is not None:
                    ending = self._ending(state, stop.condition)
                else:
                    started = self._monotonic()
                    attempt = self._call(state, now, started)
                    try:
                        response, error = await attempt
                    finally:
                        self._telemetry.attempt_ended(state.request_id, started)
                    if error is None:
                        logger.debug(
                            "attempt %d of %s succeeded", state.attempts + 1, state.request_id
                        )
                        ending = state, self._success(state, response), None
                    else:
                        failed = state._replace(attempts=state.attempts + 1)
                        ending = await self._after_failure(failed, response, error)
            except Exception:  # noqa: BLE001 - logged with its traceback; the event still ends
                logger.exception("internal error while running event %s", state.request_id)
                failed = state._replace(
                    error=_INTERNAL_ERROR, error_message="internal error in lambda_destinations"
                )
                ending = self._ending(failed, Condition.RETRIES_EXHAUSTED)
            if ending is not None:
                pending = self._end(ending)
                if pending is not None:
                    await pending
        finally:
            LINEAGE.reset(lineage)

    def _call(self, state: EventState, now: float, started: float) -> Awaitable[Attempt]:
        # Start the attempt: the handler's response or error object, and the error message.
        request_id = state.request_id
        clock = self._clock
        runtime = self._runtime
        self._telemetry.attempt_started(request_id, now - state.accepted_at)
        context = (
            LambdaContext(
                function_name=self._identity.function_name,
                function_version=self._identity.executed_version,
                invoked_function_arn=self._identity.invoked_function_arn,
                memory_limit_in_mb=self._memory,
                aws_request_id=request_id,
                log_group_name=self._log_group,
                log_stream_name=self.log_stream,
                deadline=started + self._timeout,
                clock=clock,
            )
            if runtime.wants_context
            else None
        )
        return runtime.run(state.body, request_id, context)

    def _success(self, state: EventState, response: str) -> ExecutionRecord:
        return ExecutionRecord(
            self._now(),
            RequestContext(
                state.request_id, self._function_arn, Condition.SUCCESS, state.attempts + 1
            ),
            state.body,
            self._ok_response,
            response,
        )

    async def _after_failure(self, state: EventState, response: str, error: str) -> _Ending | None:
        request_id = state.request_id
        self._telemetry.attempt_failed(request_id)
        self.completion.function_error(request_id, response)
        logger.debug("attempt %d of %s failed: %s", state.attempts, request_id, error)
        failed = state._replace(error=response, error_message=error)
        decision = policy.after_failure(failed, self._config(), self._wall())
        if isinstance(decision, policy.Retry):
            await _done(self._queue.reschedule(decision.state, decision.delay))
            return None
        if decision.broken_wait is not None:
            logger.error(
                "retry_wait %r failed for event %s; giving up on it",
                self._config().retry_wait,
                request_id,
                exc_info=decision.broken_wait,
            )
        return self._ending(failed, decision.condition)

    def throttle(self, state: EventState) -> bool:
        """*state* fell due and found no free concurrency: count it, and decide.

        ``True`` if it was taken care of (backed off, or ended); ``False`` if it waits in line
        for the next free slot (``throttling="fifo"``).
        """
        self._telemetry.throttled(state.request_id)
        if not self.backoff and self.reserved_concurrency != 0:
            return False  # it waits in line in the queue
        lineage = LINEAGE.set(state.lineage + 1)
        try:
            self._throttled(state)
        finally:
            LINEAGE.reset(lineage)
        return True

    def _throttled(self, state: EventState) -> None:
        if self.reserved_concurrency == 0:
            pending = self.give_up(state, Condition.ZERO_RESERVED_CONCURRENCY)
        else:
            decision = policy.after_throttle(state, self._config(), self._wall())
            if isinstance(decision, policy.Retry):
                pending = self._queue.reschedule(decision.state, decision.delay)
            else:
                pending = self.give_up(state, decision.condition)
        if pending is not None:
            _background(pending)

    def give_up(self, state: EventState, condition: Condition) -> Awaitable[None] | None:
        """End *state* on failure: the record, a dead letter, and the drop counted."""
        return self._end(self._ending(state, condition))

    def _ending(self, state: EventState, condition: Condition) -> _Ending:
        request_id = state.request_id
        attempted = state.attempts > 0
        record = ExecutionRecord(
            self._now(),
            RequestContext(request_id, self._function_arn, condition, state.attempts),
            state.body,
            self._error_response if attempted else None,
            state.error if attempted else None,
        )
        logger.warning(
            "event %s of %s failed: %s after %d attempt(s)%s",
            request_id,
            self._function_arn,
            condition.value,
            state.attempts,
            f": {state.error_message}" if attempted else "",
        )
        letter = None
        if self._deliveries.dead_letter is not None:
            if condition is Condition.RECURSIVE_INVOCATION:
                code, message = _RECURSION_CODE, _RECURSION_MESSAGE
            elif attempted:
                code, message = "200", state.error_message
            else:
                code, message = _THROTTLE_CODE, _THROTTLE_MESSAGE
            letter = DeadLetterMessage.build(state.body, request_id, code, message)
        return state, record, letter

    def _end(self, ending: _Ending) -> Awaitable[None] | None:
        # Finishing is synchronous when the queue's is (in memory): no coroutine per event.
        done = self._queue.finish(*ending)
        if done is True:
            self._ended(ending)
            return None
        if done is False:
            self._lost(ending[0])
            return None
        if isinstance(done, asyncio.Future):
            # A durable queue's commit: the worker goes on to its next event meanwhile, and
            # a callback (no coroutine per event) delivers once the end is stored.
            done.add_done_callback(functools.partial(self._stored, ending))
            return None
        return self._end_when_stored(done, ending)

    def _stored(self, ending: _Ending, done: asyncio.Future[bool]) -> None:
        if done.cancelled():
            return  # the queue stopped or failed first: it says so, and delivers it later
        if done.result():
            self._ended(ending)
        else:
            self._lost(ending[0])

    async def _end_when_stored(self, done: Awaitable[bool], ending: _Ending) -> None:
        if await done:
            self._ended(ending)
        else:
            self._lost(ending[0])

    def _ended(self, ending: _Ending) -> None:
        state, record, letter = ending
        deliveries = self._deliveries
        condition = record.request_context.condition
        if condition is Condition.SUCCESS:
            deliveries.success(record, self._delivered)
        else:
            deliveries.failure(record, self._delivered)
            if letter is not None:
                deliveries.dead_letter_message(letter, self._delivered)
            if condition is Condition.RECURSIVE_INVOCATION:
                self._telemetry.recursion_stopped(state.request_id)
            self._telemetry.dropped(state.request_id)
        self.completion.ended()

    def redeliver(self, record: ExecutionRecord | None, letter: DeadLetterMessage | None) -> None:
        """Deliver what a process that died stored but did not deliver; the event ended there."""
        if record is not None:
            if record.is_success:
                self._deliveries.success(record, self._delivered)
            else:
                self._deliveries.failure(record, self._delivered)
        if letter is not None:
            self._deliveries.dead_letter_message(letter, self._delivered)

    def _lost(self, state: EventState) -> None:
        logger.warning(
            "event %s of %s: its lease ran out before it finished here; another worker owns "
            "it now, so this outcome is not delivered",
            state.request_id,
            self._function_arn,
        )


async def _done(pending: Awaitable[None] | None) -> None:
    if pending is not None:
        await pending


_tasks: set[asyncio.Task[None]] = set()


def _background(pending: Awaitable[None]) -> None:
    async def wait() -> None:
        await pending

    task = asyncio.get_running_loop().create_task(wait())
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
