"""Running one attempt of a handler the way Lambda's Python runtime does.

The event is unmarshalled, the handler called (async ones in the worker's task, sync ones in a
thread of their own pool) under the function's timeout, and the result marshalled as the
runtime does (`_marshal`); every way an attempt can fail becomes the runtime's error object
(`_error_objects`).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from ._clock import Clock
from ._error_objects import Attempt, error_object, fault, fault_of, marshal_error, runtime_error
from ._exceptions import ConfigurationTypeError
from ._json import decode
from ._marshal import marshal
from ._threads import HandlerThreads
from ._watchdog import Watchdog

__all__ = ["Attempt", "Runtime", "call_style"]


def _callable_name(fn: object) -> str:
    """*fn* as a reader finds it in the code: ``module.qualname``, never a memory address.

    A callable object with no name of its own is named by its class.
    """
    qualname = getattr(fn, "__qualname__", None)
    if not isinstance(qualname, str):
        cls = type(fn)
        return f"{_qualified(cls.__module__, cls.__qualname__)} instance"
    module = getattr(fn, "__module__", None)
    return _qualified(module if isinstance(module, str) else None, qualname)


def _qualified(module: str | None, qualname: str) -> str:
    return qualname if module in (None, "builtins") else f"{module}.{qualname}"


def call_style(handler: object) -> tuple[bool, bool]:
    """Return ``(is_async, wants_context)`` for *handler*, or raise `ConfigurationTypeError`."""
    if not callable(handler):
        raise ConfigurationTypeError(_not_callable(handler))
    is_async = inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
        getattr(handler, "__call__", None)  # noqa: B004 - async __call__ of a callable object
    )
    try:
        params = inspect.signature(handler).parameters.values()
    except (TypeError, ValueError):
        return is_async, True
    positional = required = 0
    varargs = False
    for p in params:
        if p.kind is p.VAR_POSITIONAL:
            varargs = True
        elif p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            positional += 1
            required += p.default is p.empty
        elif p.kind is p.KEYWORD_ONLY and p.default is p.empty:
            msg = (
                f"handler {_callable_name(handler)} requires the keyword argument {p.name!r}, "
                "which Lambda never passes: give it a default, or take only (event, context)"
            )
            raise ConfigurationTypeError(msg)
    if required > 2:
        msg = (
            f"handler {_callable_name(handler)} requires {required} positional arguments: Lambda "
            "passes only (event, context); give the others defaults"
        )
        raise ConfigurationTypeError(msg)
    if varargs:
        return is_async, True
    if positional == 0:
        msg = (
            f"handler {_callable_name(handler)} takes no positional argument: a Lambda handler "
            "takes (event, context) or (event)"
        )
        raise ConfigurationTypeError(msg)
    return is_async, positional >= 2


def _not_callable(handler: object) -> str:
    given = f"handler must be callable, got {type(handler).__name__} {handler!r}"
    if isinstance(handler, str):
        return (
            f"{given}: pass the function itself (import it, then AsyncInvoker(function)), not "
            "its name; to run a handler named 'module.function' as Lambda does, use the "
            f"command line: lambda-destinations invoke {handler}"
        )
    return f"{given}: pass a function taking (event, context) or (event)"


def _cancelling() -> bool:
    # Whether the running task (a worker) is being cancelled: the invoker is closing.
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _run_in_thread(
    running: list[bool], fn: Callable[..., Any], *args: Any
) -> tuple[Any, BaseException | None]:
    # Every exception comes back as a value: StopIteration or GeneratorExit cannot travel
    # through an asyncio future, and must still become the handler's error object.
    try:
        return fn(*args), None
    except BaseException as e:  # noqa: BLE001 - reported as the handler's error
        return None, e
    finally:
        running[0] = False


class Runtime:
    """Calls one handler, sync or async, with or without context, under a timeout."""

    __slots__ = (
        "_executor",
        "_max_threads",
        "clock",
        "handler",
        "is_async",
        "timeout",
        "wants_context",
        "watchdog",
    )

    def __init__(
        self,
        handler: Callable[..., Any],
        *,
        timeout: float,
        clock: Clock,
        max_threads: int,
    ) -> None:
        self.is_async, self.wants_context = call_style(handler)
        self.handler = handler
        self.timeout = timeout
        self.clock = clock
        self.watchdog = Watchdog(clock, timeout)
        self._max_threads = max_threads
        self._executor = None if self.is_async else self._new_executor()

    def _new_executor(self) -> HandlerThreads:
        # Our own pool, sized to the concurrency limit: a handler never waits for a thread
        # while its timeout runs, as it would in a shared default executor.
        return HandlerThreads(self._max_threads)

    def shutdown(self) -> None:
        """Release the handler threads; a thread still running a timed-out handler finishes."""
        self.watchdog.stop()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    def run(self, event_json: str, request_id: str, context: object) -> Awaitable[Attempt]:
        """Run one attempt on a fresh copy of the event: await the response or error JSON.

        Not a coroutine itself, so that an attempt costs one coroutine, not two.
        """
        try:
            event = decode(event_json)
        except (ValueError, RecursionError) as e:
            return _ready(
                runtime_error(
                    "Runtime.UnmarshalError", f"Unable to unmarshal input: {e}", request_id
                )
            )
        args = (event, context) if self.wants_context else (event,)
        if self.is_async:
            return self._run_async(args, request_id)
        return self._run_sync(args, request_id)

    async def _run_async(self, args: tuple[Any, ...], request_id: str) -> Attempt:
        # The handler runs in the worker's task, as a Lambda handler runs in its sandbox's
        # process: asyncio.timeout and TaskGroup inside it see one current task, and no task is
        # created per attempt. At the deadline the watchdog cancels this task, once; a second
        # cancellation means the invoker itself is closing.
        task = asyncio.current_task()
        assert task is not None
        ticket = self.watchdog.watch(None, task)
        try:
            result = await self.handler(*args)
        except asyncio.CancelledError as e:
            if ticket.expired:
                if task.uncancel() > 0:
                    raise
                return self._timed_out(request_id)
            if task.cancelling():
                raise
            return error_object(e, request_id)
        except BaseException as e:  # noqa: BLE001 - a handler fault must never kill a worker
            return fault_of(e, request_id)
        finally:
            self.watchdog.release(ticket)
        if ticket.expired:
            # The handler swallowed the cancellation and returned late: still a timeout.
            if task.uncancel() > 0:
                raise asyncio.CancelledError
            return self._timed_out(request_id)
        return self._result(result, request_id)

    async def _run_sync(self, args: tuple[Any, ...], request_id: str) -> Attempt:
        loop = asyncio.get_running_loop()
        running = [True]
        call = functools.partial(
            _run_in_thread, running, contextvars.copy_context().run, self.handler, *args
        )
        future = loop.run_in_executor(self._executor, call)
        ticket = self.watchdog.watch(future, None)
        try:
            result, error = await future
        except asyncio.CancelledError as e:
            if _cancelling():
                raise  # the invoker itself is closing, whatever the deadline says
            if ticket.expired:
                if running[0]:
                    self._abandon_pool()
                return self._timed_out(request_id)
            return error_object(e, request_id)
        except BaseException as e:  # noqa: BLE001 - a handler fault must never kill a worker
            return fault_of(e, request_id)
        finally:
            self.watchdog.release(ticket)
        if error is not None:
            return fault_of(error, request_id)
        return self._result(result, request_id)

    def _abandon_pool(self) -> None:
        # A timed-out thread cannot be stopped. Like Lambda replacing a sandbox, later attempts
        # get a fresh pool; the old one lets its threads finish and then goes away.
        old = self._executor
        self._executor = self._new_executor()
        if old is not None:
            old.shutdown(wait=False)

    def _result(self, result: object, request_id: str) -> Attempt:
        if result is not None and inspect.isawaitable(result):
            # A sync function returned a coroutine it never awaited; Lambda can't marshal it.
            close = getattr(result, "close", None)
            if close is not None:
                close()
        try:
            return marshal(result), None
        except (TypeError, ValueError, RecursionError) as e:
            return marshal_error(str(e), request_id)

    def _timed_out(self, request_id: str) -> Attempt:
        message = f"Task timed out after {self.timeout:.2f} seconds"
        return fault("Sandbox.Timedout", f"RequestId: {request_id} Error: {message}")


async def _ready(attempt: Attempt) -> Attempt:
    return attempt
