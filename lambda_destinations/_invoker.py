"""AsyncInvoker: Lambda's asynchronous invocation model around any callable.

An accepted event waits in an internal queue, runs on one of at most ``reserved_concurrency``
workers, is retried on function errors on the retry schedule, and ends in exactly one
`ExecutionRecord` (on success or on failure) and, on failure, one `DeadLetterMessage`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import json
import logging
import math
import os
import uuid
from collections.abc import Awaitable, Callable, Generator, Sequence
from typing import Any, Final, Self

import tenacity
from attrs import evolve, frozen

from ._background import background_loop, is_background, register
from ._clock import Clock, SystemClock
from ._config import (
    AWS_RETRY_WAIT,
    DEFAULT_ACCOUNT_ID,
    DEFAULT_CONCURRENCY,
    DEFAULT_REGION,
    Duration,
    EventInvokeConfig,
    FunctionIdentity,
    RetryWait,
    at_least,
    in_range,
    seconds,
    whole,
)
from ._context import LambdaContext
from ._dead_letter import DeadLetterMessage
from ._exceptions import (
    ConfigurationError,
    FunctionError,
    InvokerClosedError,
    JoinTimeoutError,
)
from ._metrics import Counters, Metric, MetricsHook, MetricsSnapshot
from ._payload import DEFAULT_PAYLOAD_LIMIT, NO_PAYLOAD, encode_payload
from ._queue import QUEUED, RUNNING, WAITING, EventQueue, QueuedEvent, State
from ._records import Condition, ExecutionRecord, RequestContext, ResponseContext
from ._runtime import Runtime
from .destinations import DeadLetterQueueLike, DestinationLike
from .destinations._adapt import Sender, as_sender

__all__ = ["AsyncInvoker", "InvokeResponse", "UnfinishedEvent"]

logger = logging.getLogger("lambda_destinations")
#: Lambda's own START / END / REPORT lines, when ``lambda_logs=True``.
runtime_logger = logging.getLogger("lambda_destinations.runtime")

_OPEN, _CLOSING, _CLOSED = "open", "closing", "closed"
_UNSET: Final[Any] = object()
# How many events a worker may run back to back before it lets other tasks run.
_EVENTS_PER_TURN: Final = 32
# How often a thread waiting for its event to be accepted checks that the loop still runs.
_HANDOFF_POLL: Final = 0.05
# Loop turns aclose() gives cancelled tasks to end before it returns.
_WIND_DOWN_TURNS: Final = 3
# DLQ attributes for an event that never ran: AWS's answer to a throttled invoke (assumption).
_THROTTLE_CODE, _THROTTLE_MESSAGE = "429", "Rate Exceeded."


@frozen
class InvokeResponse:
    """What ``invoke()`` answers at once: AWS's 202 and the request id; never the outcome.

    It can be awaited (giving itself), so ``await invoker.invoke(...)`` in async code and
    ``invoker.invoke(...)`` in sync code both queue the event at the call.
    """

    request_id: str
    status_code: int = 202

    def __await__(self) -> Generator[None, None, InvokeResponse]:
        yield from ()
        return self


@frozen
class UnfinishedEvent:
    """An accepted event that had not ended when its invoker closed: reported, never dropped."""

    request_id: str
    payload_json: str
    attempts: int
    state: State


class AsyncInvoker:
    """Invoke *handler* the way Lambda invokes a function with ``InvocationType=Event``.

    *handler* is any callable, sync or async, taking ``(event, context)`` or ``(event)``; sync
    handlers run in threads so the event loop never blocks. Settings carry AWS's names and, by
    default, AWS's ranges (``aws_limits=False`` lifts the ranges for in-process use). Every
    time measurement goes through *clock*, so ``lambda_destinations.testing.VirtualClock``
    runs the real schedule in virtual time.

    Use it as ``async with AsyncInvoker(...) as invoker:`` or call ``start()`` / ``aclose()``.
    """

    def __init__(
        self,
        handler: Callable[..., Any],
        *,
        function_name: str | None = None,
        qualifier: str = "$LATEST",
        executed_version: str | None = None,
        region: str = DEFAULT_REGION,
        account_id: str = DEFAULT_ACCOUNT_ID,
        maximum_retry_attempts: int = 2,
        maximum_event_age_in_seconds: Duration = 21600,
        retry_wait: RetryWait = AWS_RETRY_WAIT,
        timeout: Duration = 3,
        memory_size: int = 128,
        reserved_concurrency: int | None = None,
        on_success: DestinationLike | None = None,
        on_failure: DestinationLike | None = None,
        dead_letter_queue: DeadLetterQueueLike | None = None,
        payload_limit: int = DEFAULT_PAYLOAD_LIMIT,
        delivery_timeout: Duration = 30,
        drain_timeout: Duration | None = None,
        clock: Clock | None = None,
        aws_limits: bool = True,
        metrics_hooks: Sequence[MetricsHook] = (),
        lambda_logs: bool = False,
    ) -> None:
        self._aws_limits = aws_limits
        if function_name is None:
            function_name = _default_name(handler)
        self._identity = FunctionIdentity.build(
            function_name, qualifier, executed_version, region, account_id
        )
        self._timeout = seconds("timeout", timeout)
        in_range("timeout", self._timeout, 1, 900, "timeout", aws_limits)
        memory = whole("memory_size", memory_size)
        in_range("memory_size", memory, 128, 10240, "memorySize", aws_limits)
        self._memory = str(memory)
        if reserved_concurrency is None:
            self._concurrency = DEFAULT_CONCURRENCY
        else:
            self._concurrency = whole("reserved_concurrency", reserved_concurrency)
            in_range(
                "reserved_concurrency",
                self._concurrency,
                0,
                None,
                "reservedConcurrentExecutions",
                aws_limits=True,
            )
        self._payload_limit = whole("payload_limit", payload_limit)
        if self._payload_limit <= 0:
            msg = f"payload_limit={payload_limit!r} must be a positive number of bytes"
            raise ConfigurationError(msg)
        self._delivery_timeout = seconds("delivery_timeout", delivery_timeout)
        at_least("delivery_timeout", self._delivery_timeout, 0, inclusive=False)
        self._drain_timeout = (
            None if drain_timeout is None else seconds("drain_timeout", drain_timeout)
        )
        if self._drain_timeout is not None:
            at_least("drain_timeout", self._drain_timeout, 0, inclusive=True)
        self._clock: Clock = SystemClock() if clock is None else clock
        self._hooks = tuple(metrics_hooks)
        for hook in self._hooks:
            if not callable(hook):
                msg = f"metrics_hooks holds {hook!r}, which is not callable: pass functions"
                raise ConfigurationError(msg)
        self._lambda_logs = lambda_logs
        self._runtime = Runtime(
            handler,
            timeout=self._timeout,
            clock=self._clock,
            max_threads=max(1, self._concurrency),
        )
        self._config = EventInvokeConfig(
            maximum_retry_attempts=2,
            maximum_event_age_in_seconds=21600.0,
            retry_wait=AWS_RETRY_WAIT,
            on_success=None,
            on_failure=None,
        )
        self._send_success: Sender | None = None
        self._send_failure: Sender | None = None
        self._send_dead_letter: Sender | None = None
        self._dead_letter_queue: DeadLetterQueueLike | None = None
        self.update_config(
            maximum_retry_attempts=maximum_retry_attempts,
            maximum_event_age_in_seconds=maximum_event_age_in_seconds,
            retry_wait=retry_wait,
            on_success=on_success,
            on_failure=on_failure,
            dead_letter_queue=dead_letter_queue,
        )

        ident = self._identity
        self._function_arn = ident.function_arn
        self._ok_response = ResponseContext(200, ident.executed_version)
        self._error_response = ResponseContext(200, ident.executed_version, "Unhandled")
        self._log_group = f"/aws/lambda/{ident.function_name}"
        self._log_stream = ""
        self._retrying = tenacity.Retrying()
        self._counters = Counters()
        self._state = _OPEN
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unfinished: tuple[UnfinishedEvent, ...] = ()
        self._closing: asyncio.Future[None] | None = None
        self._reset_loop_state()

    def _reset_loop_state(self) -> None:
        self._queue: EventQueue = asyncio.Queue()
        self._inflight: dict[str, QueuedEvent] = {}
        self._all_done = asyncio.Event()
        self._all_done.set()
        self._workers: set[asyncio.Task[None]] = set()
        self._idle = 0
        self._timers: dict[str, asyncio.Task[None]] = {}
        self._deliveries: set[asyncio.Task[None]] = set()
        self._runtime.watchdog.stop()
        self._abandon_reported = False
        # The first function error not yet raised by join(raise_on_error=True).
        self._first_error: tuple[str, str] | None = None
        self._error_signal: asyncio.Future[None] | None = None

    def __repr__(self) -> str:
        return (
            f"<AsyncInvoker {self._function_arn} {self._state}, "
            f"{len(self._inflight)} event(s) in flight>"
        )

    # -- configuration --------------------------------------------------------------------

    @property
    def function_arn(self) -> str:
        """The qualified function ARN that records carry."""
        return self._function_arn

    @property
    def function_name(self) -> str:
        return self._identity.function_name

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def config(self) -> EventInvokeConfig:
        """The current retry, age and destination settings."""
        return self._config

    @property
    def dead_letter_queue(self) -> DeadLetterQueueLike | None:
        return self._dead_letter_queue

    def update_config(
        self,
        *,
        maximum_retry_attempts: int = _UNSET,
        maximum_event_age_in_seconds: Duration = _UNSET,
        retry_wait: RetryWait = _UNSET,
        on_success: DestinationLike | None = _UNSET,
        on_failure: DestinationLike | None = _UNSET,
        dead_letter_queue: DeadLetterQueueLike | None = _UNSET,
    ) -> EventInvokeConfig:
        """Change some settings, keeping the others (AWS's ``UpdateFunctionEventInvokeConfig``).

        Events already queued keep flowing; each decision uses the settings current when it
        is made. Passing ``None`` for a destination removes it.
        """
        given = (
            maximum_retry_attempts,
            maximum_event_age_in_seconds,
            retry_wait,
            on_success,
            on_failure,
            dead_letter_queue,
        )
        if all(value is _UNSET for value in given):
            msg = (
                "You must specify at least one of error handling or destination setting. "
                "(update_config() was called with no setting.)"
            )
            raise ConfigurationError(msg)
        changes: dict[str, Any] = {}
        if maximum_retry_attempts is not _UNSET:
            retries = whole("maximum_retry_attempts", maximum_retry_attempts)
            in_range(
                "maximum_retry_attempts", retries, 0, 2, "maximumRetryAttempts", self._aws_limits
            )
            changes["maximum_retry_attempts"] = retries
        if maximum_event_age_in_seconds is not _UNSET:
            age = seconds("maximum_event_age_in_seconds", maximum_event_age_in_seconds)
            in_range(
                "maximum_event_age_in_seconds",
                age,
                60,
                21600,
                "maximumEventAgeInSeconds",
                self._aws_limits,
            )
            changes["maximum_event_age_in_seconds"] = age
        if retry_wait is not _UNSET:
            if isinstance(retry_wait, type):
                msg = (
                    f"retry_wait={retry_wait.__name__} is a class: pass an instance, such as "
                    f"{retry_wait.__name__}()"
                )
                raise ConfigurationError(msg)
            if not callable(retry_wait):
                msg = (
                    f"retry_wait={retry_wait!r} is not a wait strategy: pass a tenacity wait "
                    "(e.g. tenacity.wait_exponential()) or a callable taking a RetryCallState"
                )
                raise ConfigurationError(msg)
            changes["retry_wait"] = retry_wait
        senders: dict[str, Sender | None] = {}
        for role, target in (("on_success", on_success), ("on_failure", on_failure)):
            if target is _UNSET:
                continue
            senders[role] = as_sender(target, role, owner=self)
            changes[role] = target
        if dead_letter_queue is not _UNSET:
            self._send_dead_letter = as_sender(dead_letter_queue, "dead_letter_queue")
            self._dead_letter_queue = dead_letter_queue
        if "on_success" in senders:
            self._send_success = senders["on_success"]
        if "on_failure" in senders:
            self._send_failure = senders["on_failure"]
        self._config = evolve(self._config, **changes)
        return self._config

    # -- metrics --------------------------------------------------------------------------

    def metrics(self) -> MetricsSnapshot:
        """The counters now, under CloudWatch's names (``.to_cloudwatch()``)."""
        return self._counters.snapshot()

    def reset_metrics(self) -> None:
        """Zero every counter (``concurrent_executions`` keeps its live value)."""
        self._counters.reset()

    @property
    def pending(self) -> int:
        """How many accepted events have not reached their final outcome yet."""
        return len(self._inflight)

    def pending_events(self) -> tuple[UnfinishedEvent, ...]:
        """Every accepted event that has not ended yet, and where it is."""
        return tuple(_unfinished(ev) for ev in self._inflight.values())

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> Self:
        """Bind to the running event loop. ``invoke()`` does it for you on first use.

        An invoker already running on another loop (say, the background loop that sync code
        started) stays there; invokes, joins and closes from here are handed over to it.
        """
        if self._elsewhere() is None:
            self._bind()
        return self

    def _elsewhere(self) -> asyncio.AbstractEventLoop | None:
        # The invoker's loop, if it runs in another thread than the caller's loop.
        own = self._loop
        if own is None or not own.is_running() or own is asyncio.get_running_loop():
            return None
        return own

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _bind(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._loop is loop:
            return loop
        old = self._loop
        if old is not None and not old.is_closed():
            if old.is_running():
                msg = (
                    f"{self!r} is bound to another running event loop; invoke it from that "
                    "loop's thread"
                )
                raise RuntimeError(msg)
            if self._inflight or self._deliveries:
                msg = (
                    f"{self!r} is bound to an event loop that is not running but still holds "
                    f"{len(self._inflight)} event(s): run that loop until they end (join()), "
                    "or aclose() the invoker, before using it from another loop"
                )
                raise RuntimeError(msg)
        elif self._inflight:
            lost = ", ".join(self._inflight)
            logger.warning("event loop of %s closed with events in flight: %s", self, lost)
        self._loop = loop
        self._reset_loop_state()
        if is_background(loop):
            register(self)
        self._clock.monotonic()  # lets a virtual clock attach to this loop
        ident = self._identity
        self._log_stream = (
            f"{self._clock.now():%Y/%m/%d}/[{ident.executed_version}]{uuid.uuid4().hex}"
        )
        return loop

    async def join(self, *, timeout: Duration | None = None, raise_on_error: bool = False) -> None:
        """Wait until every accepted event has reached its end and its deliveries are done.

        *timeout* (on the invoker's clock) raises `JoinTimeoutError` naming the events still
        pending. With *raise_on_error*, the first function error of any attempt since the last
        such join is raised at once as `FunctionError`, instead of waiting out the retries.
        """
        other = self._elsewhere()
        if other is not None:
            work = self.join(timeout=timeout, raise_on_error=raise_on_error)
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, other))
            return
        limit = None if timeout is None else seconds("timeout", timeout)
        timer = self._clock.timeout(limit)
        try:
            async with timer:
                await self._join(raise_on_error)
            if not raise_on_error:
                self._first_error = None  # what this join waited through is not news later
        except TimeoutError:
            if not timer.expired():
                raise
            pending = self.pending_events()
            listed = "; ".join(
                f"{ev.request_id} ({ev.state}, {ev.attempts} attempt(s), payload {ev.payload_json})"
                for ev in pending
            )
            message = (
                f"{len(pending)} event(s) of {self._function_arn} still pending after "
                f"{limit:g} s: {listed or 'none (destination deliveries still running)'}"
            )
            raise JoinTimeoutError(message, pending) from None

    async def _join(self, raise_on_error: bool) -> None:
        while self._state != _CLOSED:  # once closed, what did not end was reported
            if raise_on_error and self._first_error is not None:
                request_id, payload = self._first_error
                self._first_error = None
                raise FunctionError.from_error_object(request_id, payload)
            if self._inflight:
                if not raise_on_error:
                    await self._all_done.wait()
                    continue
                signal = self._error_signal = asyncio.get_running_loop().create_future()
                everything = asyncio.ensure_future(self._all_done.wait())
                try:
                    await asyncio.wait((signal, everything), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    everything.cancel()
                    self._error_signal = None
            elif self._deliveries:
                await asyncio.wait(tuple(self._deliveries))
            else:
                return

    async def aclose(self, *, timeout: Duration | None = _UNSET) -> tuple[UnfinishedEvent, ...]:
        """Stop accepting events, drain the accepted ones, then stop the workers.

        Waits up to *timeout* (default: the invoker's ``drain_timeout``, ``None`` = as long as
        it takes) on the invoker's clock. Events still unfinished then are logged at WARNING
        and returned; they are never dropped silently. Calling it again returns the same.
        """
        if self._state == _CLOSED:
            return self._unfinished
        other = self._elsewhere()
        if other is not None:
            work = self.aclose(timeout=timeout)
            return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, other))
        if self._state == _CLOSING and self._closing is not None:
            await asyncio.shield(self._closing)  # another caller is closing: share its report
            return self._unfinished
        self._state = _CLOSING
        self._closing = asyncio.get_running_loop().create_future()
        limit = self._drain_timeout if timeout is _UNSET else timeout
        try:
            if self._loop is not None and not self._loop.is_closed():
                try:
                    async with self._clock.timeout(
                        None if limit is None else seconds("timeout", limit)
                    ):
                        await self.join()
                except TimeoutError:
                    pass
        finally:
            self._unfinished = self.pending_events()
            tasks = [*self._workers, *self._timers.values(), *self._deliveries]
            for task in tasks:
                task.cancel()
            self._runtime.shutdown()
            self._state = _CLOSED
            self._all_done.set()
            for ev in self._unfinished:
                logger.warning(
                    "%s closed before event %s ended (%s after %d attempt(s)); payload: %s",
                    self._function_arn,
                    ev.request_id,
                    ev.state,
                    ev.attempts,
                    ev.payload_json,
                )
            # A few turns let the cancelled tasks wind down; a handler that ignores its
            # cancellation is left behind rather than holding aclose() forever.
            for _ in range(_WIND_DOWN_TURNS):
                if all(task.done() for task in tasks):
                    break
                await asyncio.sleep(0)
            if self._closing is not None and not self._closing.done():
                self._closing.set_result(None)
        return self._unfinished

    # -- accepting events -----------------------------------------------------------------

    def invoke(self, payload: object = NO_PAYLOAD) -> InvokeResponse:
        """Queue *payload* and answer at once with 202 and a request id (AWS's Event invoke).

        *payload* is a JSON-serialisable value, or ``bytes`` holding a JSON document (kept byte
        for byte); no argument means ``{}``, ``None`` is JSON ``null``. A ``str`` is a JSON
        string: to send a JSON document you already have as text, pass it as bytes. Raises
        `InvalidRequestContentError`, `RequestEntityTooLargeError` or `InvokerClosedError`;
        nothing is queued then. The event is queued by the call itself; awaiting the response
        (``await invoker.invoke(...)``) is optional. Thread-safe, like `invoke_nowait`.
        """
        return self.invoke_nowait(payload)

    def invoke_nowait(self, payload: object = NO_PAYLOAD) -> InvokeResponse:
        """Like `invoke`, for code that cannot await. Thread-safe: call it from anywhere.

        On the invoker's own event loop it queues at once. From another thread (a sync web
        framework) it hands the event to the invoker's loop and returns once it is accepted.
        With no event loop anywhere (a script), the invoker runs on a background loop that
        starts on first use and is drained when the interpreter exits.
        """
        if self._state != _OPEN:
            raise self._closed_error()
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        own = self._loop
        if loop is None or (own is not loop and own is not None and own.is_running()):
            return self._invoke_from_thread(payload, loop)
        if own is not loop:
            self._bind()
        body = encode_payload(payload, self._payload_limit)
        request_id = new_request_id()
        self._accept(body, request_id)
        return InvokeResponse(request_id)

    def _invoke_from_thread(
        self, payload: object, caller_loop: asyncio.AbstractEventLoop | None
    ) -> InvokeResponse:
        body = encode_payload(payload, self._payload_limit)
        target = self._loop
        if target is None or not target.is_running():
            target = background_loop()
        if target is caller_loop:
            msg = "internal error: cross-thread invoke targeted the caller's own loop"
            raise RuntimeError(msg)
        request_id = new_request_id()
        accepted: concurrent.futures.Future[None] = concurrent.futures.Future()

        def accept() -> None:
            if not accepted.set_running_or_notify_cancel():
                return  # the caller gave up: its loop stopped before this ran
            try:
                if self._loop is not target:
                    self._bind()
                self._accept(body, request_id)
            except BaseException as e:  # noqa: BLE001 - handed back to the calling thread
                accepted.set_exception(e)
            else:
                accepted.set_result(None)

        try:
            target.call_soon_threadsafe(accept)
        except RuntimeError:
            raise self._closed_error() from None  # the loop closed under us
        while True:
            try:
                accepted.result(timeout=_HANDOFF_POLL)
            except TimeoutError:
                if (target.is_closed() or not target.is_running()) and accepted.cancel():
                    msg = f"{self!r}: its event loop stopped before the event was accepted"
                    raise InvokerClosedError(msg) from None
            else:
                return InvokeResponse(request_id)

    def _closed_error(self) -> InvokerClosedError:
        msg = f"{self!r} is {self._state} and accepts no more events: create a new invoker"
        return InvokerClosedError(msg)

    def _accept(self, body: str, request_id: str) -> None:
        if self._state != _OPEN:
            raise self._closed_error()
        ev = QueuedEvent(request_id, body, self._clock.monotonic())
        if not self._inflight:
            self._all_done.clear()
        self._inflight[request_id] = ev
        self._counters.async_events_received += 1
        if self._hooks:
            self._emit("AsyncEventsReceived", 1, "Count", request_id)
        if self._concurrency == 0:
            self._throttled(ev)
            self._give_up(ev, Condition.ZERO_RESERVED_CONCURRENCY)
        else:
            self._enqueue(ev)

    def _throttled(self, ev: QueuedEvent) -> None:
        self._counters.throttles += 1
        if self._hooks:
            self._emit("Throttles", 1, "Count", ev.request_id)

    def _enqueue(self, ev: QueuedEvent) -> None:
        ev.state = QUEUED
        queue = self._queue
        queue.put_nowait(ev)
        if queue.qsize() > self._idle:
            if len(self._workers) < self._concurrency:
                task = asyncio.get_running_loop().create_task(self._work())
                self._workers.add(task)
                task.add_done_callback(self._workers.discard)
            else:
                self._throttled(ev)

    # -- running events -------------------------------------------------------------------

    async def _work(self) -> None:
        try:
            await self._work_forever()
        except asyncio.CancelledError:
            self._abandoned()
            raise

    async def _work_forever(self) -> None:
        queue = self._queue
        turns = 0
        while True:
            turns += 1
            if turns == _EVENTS_PER_TURN:
                # With a backlog and handlers that never wait, nothing here would ever yield:
                # give the loop a turn now and then, so it is never blocked for long.
                turns = 0
                await asyncio.sleep(0)
            self._idle += 1
            try:
                ev = await queue.get()
            finally:
                self._idle -= 1
            try:
                await self._attempt(ev)
            except Exception:
                # A bug of ours must not lose the event: it ends, loudly, as a failure.
                logger.exception("internal error while running event %s", ev.request_id)
                if ev.request_id in self._inflight:
                    ev.response = json.dumps(
                        {
                            "errorType": "LambdaDestinations.InternalError",
                            "errorMessage": "internal error in lambda_destinations; see the log",
                        }
                    )
                    ev.error_message = "internal error in lambda_destinations"
                    self._give_up(ev, Condition.RETRIES_EXHAUSTED)

    async def _attempt(self, ev: QueuedEvent) -> None:
        clock = self._clock
        started = clock.monotonic()
        age = started - ev.accepted_at
        if age >= self._config.maximum_event_age_in_seconds:
            self._give_up(ev, Condition.EVENT_AGE_EXCEEDED)
            return
        ev.attempts += 1
        ev.state = RUNNING
        request_id = ev.request_id
        counters = self._counters
        counters.invocations += 1
        counters.concurrent_executions += 1
        counters.observe_age(age)
        hooks = self._hooks
        if hooks:
            self._emit("AsyncEventAge", age * 1000, "Milliseconds", request_id)
            self._emit("Invocations", 1, "Count", request_id)
            self._emit("ConcurrentExecutions", counters.concurrent_executions, "Count", None)
        if self._lambda_logs:
            runtime_logger.info(
                "START RequestId: %s Version: %s", request_id, self._identity.executed_version
            )
        runtime = self._runtime
        try:
            context = (
                LambdaContext(
                    function_name=self._identity.function_name,
                    function_version=self._identity.executed_version,
                    invoked_function_arn=self._identity.invoked_function_arn,
                    memory_limit_in_mb=self._memory,
                    aws_request_id=request_id,
                    log_group_name=self._log_group,
                    log_stream_name=self._log_stream,
                    deadline=started + self._timeout,
                    clock=clock,
                )
                if runtime.wants_context
                else None
            )
            response, error = await runtime.run(ev.body, request_id, context)
        finally:
            counters.concurrent_executions -= 1
            if hooks:
                self._emit("ConcurrentExecutions", counters.concurrent_executions, "Count", None)
        if hooks or self._lambda_logs:
            self._report(request_id, (clock.monotonic() - started) * 1000)
        if error is None:
            logger.debug("attempt %d of %s succeeded", ev.attempts, request_id)
            record = ExecutionRecord(
                clock.now(),
                RequestContext(request_id, self._function_arn, Condition.SUCCESS, ev.attempts),
                ev.body,
                self._ok_response,
                response,
            )
            if self._send_success is not None:
                self._deliver(self._send_success, record, "on_success", request_id)
            self._settle(ev)
            return
        counters.errors += 1
        if hooks:
            self._emit("Errors", 1, "Count", request_id)
        ev.response = response
        ev.error_message = error
        if self._first_error is None:
            self._first_error = (request_id, response)
            if self._error_signal is not None and not self._error_signal.done():
                self._error_signal.set_result(None)
        logger.debug("attempt %d of %s failed: %s", ev.attempts, request_id, error)
        self._after_failure(ev)

    def _report(self, request_id: str, duration_ms: float) -> None:
        if self._hooks:
            self._emit("Duration", duration_ms, "Milliseconds", request_id)
        if self._lambda_logs:
            runtime_logger.info("END RequestId: %s", request_id)
            runtime_logger.info(
                "REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %d ms\t"
                "Memory Size: %s MB",
                request_id,
                duration_ms,
                math.ceil(duration_ms),
                self._memory,
            )

    def _emit(self, name: str, value: float, unit: str, request_id: str | None) -> None:
        metric = Metric(name, value, unit, self._identity.function_name, request_id)
        for hook in self._hooks:
            try:
                hook(metric)
            except BaseException:  # a hook never affects an event, whatever it raises
                logger.exception("metrics hook %r failed on %s", hook, name)

    def _after_failure(self, ev: QueuedEvent) -> None:
        config = self._config
        if ev.attempts > config.maximum_retry_attempts:
            self._give_up(ev, Condition.RETRIES_EXHAUSTED)
            return
        now = self._clock.monotonic()
        try:
            delay = self._retry_delay(ev, now, config.retry_wait)
        except Exception:
            # A broken wait strategy ends the event with the handler's own error, not ours.
            logger.exception(
                "retry_wait %r failed for event %s; giving up on it",
                config.retry_wait,
                ev.request_id,
            )
            self._give_up(ev, Condition.RETRIES_EXHAUSTED)
            return
        # AWS looks ahead: a retry that would start past the maximum age is never waited for.
        if now - ev.accepted_at + delay >= config.maximum_event_age_in_seconds:
            self._give_up(ev, Condition.EVENT_AGE_EXCEEDED)
            return
        ev.state = WAITING
        loop = asyncio.get_running_loop()
        self._timers[ev.request_id] = loop.create_task(self._retry_later(ev, delay))

    def _retry_delay(self, ev: QueuedEvent, now: float, wait: RetryWait) -> float:
        state = ev.retry_state
        if state is None:
            state = ev.retry_state = tenacity.RetryCallState(self._retrying, None, (), {})
            state.start_time = ev.accepted_at
        state.attempt_number = ev.attempts
        outcome = tenacity.Future(ev.attempts)
        assert ev.response is not None
        outcome.set_exception(FunctionError.from_error_object(ev.request_id, ev.response))
        state.outcome = outcome
        state.outcome_timestamp = now
        try:
            delay = float(wait(state))
        finally:
            # The outcome holds a lock and the error; a waiting event keeps neither.
            state.outcome = None
        if not math.isfinite(delay) or delay < 0:
            msg = f"retry_wait returned {delay!r}; a wait must be a finite number of seconds >= 0"
            raise ConfigurationError(msg)
        state.idle_for += delay
        state.upcoming_sleep = delay
        return delay

    async def _retry_later(self, ev: QueuedEvent, delay: float) -> None:
        try:
            await self._clock.sleep(delay)
        except asyncio.CancelledError:
            self._abandoned()
            raise
        del self._timers[ev.request_id]
        self._enqueue(ev)

    def _abandoned(self) -> None:
        # Our tasks are cancelled while the invoker is open: the event loop is shutting down
        # (asyncio.run returned) without aclose(). Say which accepted events will never end.
        if self._state != _OPEN or self._abandon_reported:
            return
        self._abandon_reported = True
        self._unfinished = pending = self.pending_events()
        if pending:
            logger.error(
                "%s: its event loop is shutting down without aclose(); %d accepted event(s) "
                "will not end: %s. Use 'async with AsyncInvoker(...)' or await aclose().",
                self._function_arn,
                len(pending),
                "; ".join(f"{ev.request_id} ({ev.state}) {ev.payload_json}" for ev in pending),
            )

    # -- endings --------------------------------------------------------------------------

    def _give_up(self, ev: QueuedEvent, condition: Condition) -> None:
        attempted = ev.attempts > 0
        record = ExecutionRecord(
            self._clock.now(),
            RequestContext(ev.request_id, self._function_arn, condition, ev.attempts),
            ev.body,
            self._error_response if attempted else None,
            ev.response if attempted else None,
        )
        logger.warning(
            "event %s of %s failed: %s after %d attempt(s)%s",
            ev.request_id,
            self._function_arn,
            condition.value,
            ev.attempts,
            f": {ev.error_message}" if attempted else "",
        )
        if self._send_failure is not None:
            self._deliver(self._send_failure, record, "on_failure", ev.request_id)
        if self._send_dead_letter is not None:
            if attempted:
                code, message = "200", ev.error_message
            else:
                code, message = _THROTTLE_CODE, _THROTTLE_MESSAGE
            letter = DeadLetterMessage.build(ev.body, ev.request_id, code, message)
            self._deliver(self._send_dead_letter, letter, "dead_letter_queue", ev.request_id)
        self._counters.async_events_dropped += 1
        if self._hooks:
            self._emit("AsyncEventsDropped", 1, "Count", ev.request_id)
        self._settle(ev)

    def _settle(self, ev: QueuedEvent) -> None:
        inflight = self._inflight
        del inflight[ev.request_id]
        if not inflight:
            self._all_done.set()

    def _deliver(self, send: Sender, item: object, role: str, request_id: str) -> None:
        try:
            pending = send(item)
        except BaseException as e:  # noqa: BLE001 - a destination never affects the outcome
            self._delivery_failed(role, request_id, e)
            return
        if pending is not None and inspect.isawaitable(pending):
            task = asyncio.get_running_loop().create_task(
                self._finish_delivery(pending, role, request_id)
            )
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)

    async def _finish_delivery(
        self, pending: Awaitable[object], role: str, request_id: str
    ) -> None:
        # The destination runs in a task of its own: one that ignores cancellation cannot
        # hold this delivery past its timeout, nor aclose() past its drain.
        inner = asyncio.ensure_future(_contained(pending))
        try:
            async with self._clock.timeout(self._delivery_timeout):
                await asyncio.wait((inner,))
        except TimeoutError:
            inner.cancel()
            error = TimeoutError(f"timed out after {self._delivery_timeout:g} s")
            self._delivery_failed(role, request_id, error)
            return
        except asyncio.CancelledError:
            inner.cancel()
            cut = InvokerClosedError("cut off: the invoker closed before the delivery ended")
            self._delivery_failed(role, request_id, cut)
            raise
        failure = inner.result()
        if failure is not None:
            self._delivery_failed(role, request_id, failure)

    def _delivery_failed(self, role: str, request_id: str, error: BaseException) -> None:
        if role == "dead_letter_queue":
            self._counters.dead_letter_errors += 1
            name = "DeadLetterErrors"
        else:
            self._counters.destination_delivery_failures += 1
            name = "DestinationDeliveryFailures"
        if self._hooks:
            self._emit(name, 1, "Count", request_id)
        logger.error(
            "%s delivery of event %s failed: %r",
            role,
            request_id,
            error,
            exc_info=error if error.__traceback__ is not None else None,
        )


def new_request_id() -> str:
    """A random UUID version 4 in its usual text form, as Lambda's request ids are."""
    # Formatting the random bytes directly is less than half the cost of str(uuid.uuid4()).
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


_VARIANT: Final = "89ab"


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


def _unfinished(ev: QueuedEvent) -> UnfinishedEvent:
    return UnfinishedEvent(ev.request_id, ev.body, ev.attempts, ev.state)


def _default_name(handler: object) -> str:
    name = getattr(handler, "__name__", None) or type(handler).__name__
    cleaned = "".join(c if c.isalnum() or c in "-_" else "-" for c in name).strip("-")
    return (cleaned or "function")[:64]
