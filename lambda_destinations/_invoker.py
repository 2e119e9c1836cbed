"""AsyncInvoker: Lambda's asynchronous invocation model around any callable.

An accepted event waits in a queue backend, runs on one of at most ``reserved_concurrency``
workers, is retried on function errors on the retry schedule, and ends in exactly one
`ExecutionRecord` (on success or on failure) and, on failure, one `DeadLetterMessage`.

This class is the public face and the wiring; the parts are: `_settings` (checked settings),
`queues` (where events wait), `_pool` (workers and throttling), `_runner` (an attempt and what
follows it, decided by `_policy`), `_delivery` (receivers), `_telemetry` (metrics and log
lines), `_binding` (the event loop and calls from other threads), `_closing` (joins, the
drain, and the report of what did not end) and `_blocking` (the same, for sync code).

Over 400 lines on purpose: it is the public face, one method per public name with the
docstring users read (AWS's EventInvokeConfig calls included); what takes more than a few
lines lives in the parts.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final, Self

from ._background import register
from ._binding import LoopBinding
from ._blocking import close_sync, join_sync
from ._clock import Clock, SystemClock, wall_time
from ._closing import DRAIN_TIMEOUT, OPEN, Lifecycle
from ._config import AWS_RETRY_WAIT, EventInvokeConfig, RetryWait
from ._delivery import Deliveries
from ._event_invoke_config import DestinationFactory
from ._exceptions import ConfigurationError, InvokerClosedError
from ._identity import DEFAULT_ACCOUNT_ID, DEFAULT_REGION, FunctionIdentity, default_function_name
from ._lineage import LINEAGE, RecursiveLoop
from ._metrics import MetricsHook, MetricsSnapshot
from ._payload import DEFAULT_PAYLOAD_LIMIT, NO_PAYLOAD, encode_payload
from ._pool import WorkerPool
from ._responses import InvokeResponse, UnfinishedEvent, new_request_id
from ._runner import Completion, EventRunner
from ._runtime import Runtime
from ._settings import Duration, FunctionSettings, Throttling
from ._telemetry import telemetry_for
from .destinations import DeadLetterQueueLike, DestinationLike
from .destinations._adapt import as_sender
from .queues import EventQueue, MemoryQueue
from .queues._state import fresh_state

__all__ = ["AsyncInvoker", "InvokeResponse", "UnfinishedEvent", "new_request_id"]

_UNSET: Final[Any] = object()
# A lease outlives the attempt's timeout by this much before another process may take it.
_LEASE_MARGIN: Final = 30.0


class AsyncInvoker:
    """Invoke *handler* the way Lambda invokes a function with ``InvocationType=Event``.

    *handler* is any callable, sync or async, taking ``(event, context)`` or ``(event)``; sync
    handlers run in threads so the event loop never blocks. Settings carry AWS's names and, by
    default, AWS's ranges (``aws_limits=False`` lifts the ranges for in-process use). Every
    time measurement goes through *clock*, so ``lambda_destinations.testing.VirtualClock``
    runs the real schedule in virtual time. *queue* is where accepted events wait (default: a
    `MemoryQueue`). *throttling* is how an event that finds no free concurrency waits:
    ``"backoff"`` (AWS: retried after 1 s, 2 s, ... up to 5 minutes) or ``"fifo"`` (in line).
    *recursive_loop* is AWS's recursive loop detection: ``"Terminate"`` stops an event's 17th
    invocation (through ``invoke()`` from handlers and invokers as destinations), ``"Allow"``.

    Use it as ``async with AsyncInvoker(...) as invoker:`` or call ``start()`` / ``aclose()``;
    sync code calls ``join_sync()`` / ``close()``.
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
        queue: EventQueue | None = None,
        throttling: Throttling = "backoff",
        recursive_loop: RecursiveLoop = "Terminate",
    ) -> None:
        if function_name is None:
            function_name = default_function_name(handler)
        self._identity = ident = FunctionIdentity.build(
            function_name, qualifier, executed_version, region, account_id
        )
        self._settings = settings = FunctionSettings.build(
            timeout=timeout,
            memory_size=memory_size,
            reserved_concurrency=reserved_concurrency,
            payload_limit=payload_limit,
            delivery_timeout=delivery_timeout,
            drain_timeout=drain_timeout,
            throttling=throttling,
            aws_limits=aws_limits,
            recursive_loop=recursive_loop,
        )
        self._clock: Clock = SystemClock() if clock is None else clock
        self._telemetry = telemetry_for(
            metrics_hooks,
            lambda_logs=lambda_logs,
            clock=self._clock,
            function_name=ident.function_name,
            executed_version=ident.executed_version,
            memory_size=settings.memory_size,
        )
        self._runtime = Runtime(
            handler,
            timeout=settings.timeout,
            clock=self._clock,
            max_threads=max(1, settings.concurrency),
        )
        self._config = EventInvokeConfig()
        self._deliveries = Deliveries(self._clock, settings.delivery_timeout, self._telemetry)
        self._dead_letter_queue: DeadLetterQueueLike | None = None
        self.update_config(
            maximum_retry_attempts=maximum_retry_attempts,
            maximum_event_age_in_seconds=maximum_event_age_in_seconds,
            retry_wait=retry_wait,
            on_success=on_success,
            on_failure=on_failure,
            dead_letter_queue=dead_letter_queue,
        )
        self._function_arn = ident.function_arn
        self._queue: EventQueue = MemoryQueue() if queue is None else queue
        self._wall = wall_time(self._clock)
        self._completion = Completion(self._queue)
        self._runner = EventRunner(
            identity=ident,
            memory_size=settings.memory_size,
            timeout=settings.timeout,
            clock=self._clock,
            wall=self._wall,
            runtime=self._runtime,
            # A C-level getter: the runner reads the current config once per attempt.
            config=functools.partial(getattr, self, "_config"),
            queue=self._queue,
            deliveries=self._deliveries,
            telemetry=self._telemetry,
            completion=self._completion,
            reserved_concurrency=settings.reserved_concurrency,
            backoff=settings.throttling == "backoff",
            recursive_loop=settings.recursive_loop,
        )
        self._binding = LoopBinding(lambda: repr(self), self._busy, self._on_bind)
        self._lifecycle = Lifecycle(
            function_arn=self._function_arn,
            clock=self._clock,
            binding=self._binding,
            queue=self._queue,
            completion=self._completion,
            deliveries=self._deliveries,
            runtime=self._runtime,
            pool=lambda: self._pool,
            drain_timeout=settings.drain_timeout,
        )
        self._pool = self._new_pool()

    def _new_pool(self) -> WorkerPool:
        return WorkerPool(
            concurrency=self._settings.concurrency,
            queue=self._queue,
            run=self._runner.run,
            throttle=self._runner.throttle,
            abandoned=self._lifecycle.abandoned,
            redeliver=self._runner.redeliver,
            recount=self._completion.recount,
        )

    @property
    def _state(self) -> str:
        return self._lifecycle.state

    def __repr__(self) -> str:
        return (
            f"<AsyncInvoker {self._function_arn} {self._state}, "
            f"{self._queue.pending()} event(s) in flight>"
        )

    # -- configuration --------------------------------------------------------------------

    @property
    def function_arn(self) -> str:
        """The qualified function ARN that records carry."""
        return self._function_arn

    @property
    def function_name(self) -> str:
        """The function's name, as in its ARN."""
        return self._identity.function_name

    @property
    def clock(self) -> Clock:
        """The clock every wait and timestamp of this invoker goes through."""
        return self._clock

    @property
    def config(self) -> EventInvokeConfig:
        """The current retry, age and destination settings."""
        return self._config

    @property
    def dead_letter_queue(self) -> DeadLetterQueueLike | None:
        """The dead-letter queue, or ``None``."""
        return self._dead_letter_queue

    @property
    def queue(self) -> EventQueue:
        """The queue backend accepted events wait in."""
        return self._queue

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
        given = {
            "maximum_retry_attempts": maximum_retry_attempts,
            "maximum_event_age_in_seconds": maximum_event_age_in_seconds,
            "retry_wait": retry_wait,
            "on_success": on_success,
            "on_failure": on_failure,
        }
        changes = {name: value for name, value in given.items() if value is not _UNSET}
        if not changes and dead_letter_queue is _UNSET:
            msg = (
                "You must specify at least one of error handling or destination setting. "
                "(update_config() was called with no setting.)"
            )
            raise ConfigurationError(msg)
        senders = {
            role: as_sender(changes[role], role, owner=self)
            for role in ("on_success", "on_failure")
            if role in changes
        }
        config = self._config.updated(self._settings.aws_limits, **changes)
        if dead_letter_queue is not _UNSET:
            self._deliveries.dead_letter = as_sender(dead_letter_queue, "dead_letter_queue")
            self._dead_letter_queue = dead_letter_queue
        if "on_success" in senders:
            self._deliveries.on_success = senders["on_success"]
        if "on_failure" in senders:
            self._deliveries.on_failure = senders["on_failure"]
        self._config = config
        return config

    # -- EventInvokeConfig as AWS's API writes it (logic in _event_invoke_config) ---------

    @classmethod
    def from_event_invoke_config(
        cls,
        handler: Callable[..., Any],
        request: object,
        *,
        dead_letter_config: object = None,
        destinations: DestinationFactory | None = None,
        **settings: Any,
    ) -> AsyncInvoker:
        """An invoker configured by AWS's ``PutFunctionEventInvokeConfig`` JSON *request*.

        The function's name and qualifier come from the request; *dead_letter_config* is a
        function's ``DeadLetterConfig`` (``{"TargetArn": ...}``). ARNs become adapters through
        *destinations* (default: ``destinations.aws.AwsDestinations()``). Other *settings*
        are `AsyncInvoker`'s. Refusals are `EventInvokeConfigError` with AWS's message.
        """
        from ._event_invoke_config import invoker_from_put

        return invoker_from_put(cls, handler, request, dead_letter_config, destinations, settings)

    def put_event_invoke_config(
        self, request: object, *, destinations: DestinationFactory | None = None
    ) -> dict[str, Any]:
        """Replace the config with a ``PutFunctionEventInvokeConfig`` request; AWS's answer."""
        from ._event_invoke_config import put

        return put(self, request, destinations)

    def update_event_invoke_config(
        self, request: object, *, destinations: DestinationFactory | None = None
    ) -> dict[str, Any]:
        """Merge an ``UpdateFunctionEventInvokeConfig`` request into the config; AWS's answer."""
        from ._event_invoke_config import update

        return update(self, request, destinations)

    def get_event_invoke_config(self) -> dict[str, Any]:
        """AWS's ``GetFunctionEventInvokeConfig`` answer for the config put or updated."""
        from ._event_invoke_config import get

        return get(self)

    def delete_event_invoke_config(self) -> None:
        """AWS's ``DeleteFunctionEventInvokeConfig``: retries, age, destinations to defaults."""
        from ._event_invoke_config import delete

        delete(self)

    # -- metrics --------------------------------------------------------------------------

    def metrics(self) -> MetricsSnapshot:
        """The counters now, under CloudWatch's names (``.to_cloudwatch()``)."""
        return self._telemetry.counters.snapshot()

    def reset_metrics(self) -> None:
        """Zero every counter (``concurrent_executions`` keeps its live value)."""
        self._telemetry.counters.reset()

    @property
    def pending(self) -> int:
        """How many accepted events have not reached their final outcome yet."""
        return self._queue.pending()

    def pending_events(self) -> tuple[UnfinishedEvent, ...]:
        """Every accepted event that has not ended yet, and where it is."""
        return self._lifecycle.pending_events()

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> Self:
        """Bind to the running event loop. ``invoke()`` does it for you on first use.

        An invoker already running on another loop (say, the background loop that sync code
        started) stays there; invokes, joins and closes from here are handed over to it.
        A closed or closing invoker cannot start again: `InvokerClosedError`.
        """
        if self._lifecycle.state != OPEN:
            raise self._closed_error()
        if self._binding.elsewhere() is None:
            self._binding.bind()
        return self

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _busy(self) -> int:
        return self._queue.pending() + len(self._deliveries.tasks)

    def _on_bind(self, background: bool) -> None:
        # A new loop: everything bound to the old one starts afresh.
        self._runtime.watchdog.stop()
        self._pool = self._new_pool()
        self._completion.all_done = asyncio.Event()
        self._completion.all_done.set()
        self._completion.first_error = None
        self._completion.error_signal = None
        self._lifecycle.rebound()
        settings = self._settings
        self._queue.start(self._pool, self._clock, settings.timeout + _LEASE_MARGIN)
        if background:
            register(self)
        self._clock.monotonic()  # lets a virtual clock attach to this loop
        version = self._identity.executed_version
        self._runner.log_stream = f"{self._clock.now():%Y/%m/%d}/[{version}]{uuid.uuid4().hex}"

    async def join(self, *, timeout: Duration | None = None, raise_on_error: bool = False) -> None:
        """Wait until every accepted event has reached its end and its deliveries are done.

        *timeout* (on the invoker's clock) raises `JoinTimeoutError` naming the events still
        pending. With *raise_on_error*, the first function error of any attempt since the last
        such join is raised at once as `FunctionError`, instead of waiting out the retries.
        """
        await self._lifecycle.join(timeout, raise_on_error)

    async def aclose(
        self, *, timeout: Duration | None = DRAIN_TIMEOUT
    ) -> tuple[UnfinishedEvent, ...]:
        """Stop accepting events, drain the accepted ones, then stop the workers.

        Waits up to *timeout* (default: the invoker's ``drain_timeout``, ``None`` = as long as
        it takes) on the invoker's clock, logging what it waits for (INFO when it starts, then
        WARNING every 10 s); Ctrl-C stops the wait. Events still unfinished then are logged at
        WARNING and returned; they are never dropped silently. Calling it again returns the
        same.
        """
        return await self._lifecycle.aclose(timeout)

    def join_sync(self, *, timeout: Duration | None = None, raise_on_error: bool = False) -> None:
        """`join` for code with no running event loop: blocks until it is done.

        Runs on the invoker's loop (for sync code, the background loop). Raises
        `EventLoopError` inside a running event loop (await `join` there), and if the
        invoker's loop stopped with events it cannot end any more. Never call it from the
        invoker's own handler or receivers: they would wait for themselves.
        """
        join_sync(self._lifecycle, timeout, raise_on_error)

    def close(self, *, timeout: Duration | None = DRAIN_TIMEOUT) -> tuple[UnfinishedEvent, ...]:
        """`aclose` for code with no running event loop: drain, close, and return the report.

        Ctrl-C while it drains stops the wait; the events left are logged and the
        KeyboardInterrupt raised once they are (an application's own SIGINT handler runs
        instead, and then the report is returned). Raises `EventLoopError` inside a running
        event loop: await `aclose` there.
        """
        return close_sync(self._lifecycle, timeout)

    # -- accepting events -----------------------------------------------------------------

    def invoke(self, payload: object = NO_PAYLOAD) -> InvokeResponse:
        """Queue *payload* and answer at once with 202 and a request id (AWS's Event invoke).

        *payload* is a JSON-serialisable value, or ``bytes`` holding a JSON document (kept byte
        for byte); no argument means ``{}``, ``None`` is JSON ``null``. A ``str`` is a JSON
        string: to send a JSON document you already have as text, pass it as bytes. Raises
        `InvalidRequestContentError`, `RequestEntityTooLargeError` or `InvokerClosedError`;
        nothing is queued then. The event is queued by the call itself; awaiting the response
        (``await invoker.invoke(...)``) is optional, and with a durable queue it waits until
        the event is stored (committed). Thread-safe, like `invoke_nowait`.
        """
        return self.invoke_nowait(payload)

    def invoke_nowait(self, payload: object = NO_PAYLOAD) -> InvokeResponse:
        """Like `invoke`, for code that cannot await. Thread-safe: call it from anywhere.

        On the invoker's own event loop it queues at once; a durable queue stores it in its
        next group commit (await the response to wait for that). From another thread (a sync
        web framework) it hands the event to the invoker's loop and returns once it is
        accepted, and stored if the queue is durable. With no event loop anywhere (a script),
        the invoker runs on a background loop that starts on first use and is drained when
        the interpreter exits.
        """
        if self._lifecycle.state != OPEN:
            raise self._closed_error()
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        binding = self._binding
        body = encode_payload(payload, self._settings.payload_limit)
        request_id = new_request_id()
        # Read here, in the caller's context: invoked from a handler, the event carries its
        # triggering event's count of invocations on.
        lineage = LINEAGE.get()
        if binding.must_hand_off(loop):
            binding.run_on_loop(lambda: self._accept(body, request_id, lineage), loop)
            return InvokeResponse(request_id)
        if binding.loop is not loop:
            binding.bind()
        stored = self._accept(body, request_id, lineage)
        if stored is None:
            return InvokeResponse(request_id)
        return InvokeResponse(request_id, _stored=stored)

    def _closed_error(self) -> InvokerClosedError:
        msg = f"{self!r} is {self._state} and accepts no more events: create a new invoker"
        return InvokerClosedError(msg)

    def _accept(self, body: str, request_id: str, lineage: int) -> Awaitable[None] | None:
        if self._lifecycle.state != OPEN:
            raise self._closed_error()
        self._completion.accepted()
        self._telemetry.received(request_id)
        # A durable queue answers with its pending commit: what awaiting the response awaits.
        return self._queue.put(fresh_state(request_id, body, self._wall(), lineage))
