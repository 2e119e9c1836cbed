"""Running one attempt of a handler the way Lambda's Python runtime does.

A handler's result is marshalled with ``json.dumps`` as the runtime does; every way an attempt
can fail becomes the runtime's error object (``errorMessage``, ``errorType``, ...).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import decimal
import functools
import inspect
import json
import os
import re
import traceback
from collections import deque
from collections.abc import Callable
from types import CodeType, TracebackType
from typing import Any, Final

from ._clock import Clock
from ._exceptions import ConfigurationError
from ._threads import HandlerThreads

__all__ = ["Attempt", "Runtime", "call_style"]

# Leading frames of these packages are the library's, or the machinery's that calls the
# handler, not the handler's. Each package by its own folder and contextvars by its own file:
# the standard library's top folder also holds site-packages in many installs (Docker's Python
# images), where a handler's own code lives.
_HIDDEN_PACKAGE_DIRS: Final = tuple(
    os.path.dirname(m) + os.sep for m in (__file__, asyncio.__file__, concurrent.futures.__file__)
)
_HIDDEN_FILES: Final = frozenset({contextvars.__file__})

# (response JSON text, error message). The error message is None when the attempt succeeded.
Attempt = tuple[str, str | None]


def call_style(handler: object) -> tuple[bool, bool]:
    """Return ``(is_async, wants_context)`` for *handler*, or raise `ConfigurationError`."""
    if not callable(handler):
        msg = (
            f"handler must be callable, got {type(handler).__name__} {handler!r}: pass a "
            "function taking (event, context) or (event)"
        )
        raise ConfigurationError(msg)
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
                f"handler {handler!r} requires the keyword argument {p.name!r}, which Lambda "
                "never passes: give it a default, or take only (event, context)"
            )
            raise ConfigurationError(msg)
    if required > 2:
        msg = (
            f"handler {handler!r} requires {required} positional arguments: Lambda passes only "
            "(event, context); give the others defaults"
        )
        raise ConfigurationError(msg)
    if varargs:
        return is_async, True
    if positional == 0:
        msg = (
            f"handler {handler!r} takes no positional argument: a Lambda handler takes "
            "(event, context) or (event)"
        )
        raise ConfigurationError(msg)
    return is_async, positional >= 2


def _not_serializable(o: object) -> TypeError:
    return TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


class _HasDecimal(Exception):
    pass


def _plain_default(o: object) -> object:
    if isinstance(o, decimal.Decimal):
        raise _HasDecimal
    raise _not_serializable(o)


# One encoder for every result: json.dumps would build a new one per call for these options.
_encode_result = json.JSONEncoder(default=_plain_default, allow_nan=False).encode
_DECIMAL_MARK: Final = "\x00lambda_destinations.decimal:"
_placeholder = re.compile(r'"\\u0000lambda_destinations\.decimal:(\d+)\\u0000"')


def _marshal_with_decimals(result: object) -> str:
    # The runtime writes a Decimal (DynamoDB's numbers) as its exact text. The standard
    # encoder cannot emit raw text, so each Decimal becomes a placeholder string, swapped after.
    decimals: list[str] = []

    def default(o: object) -> object:
        if isinstance(o, decimal.Decimal):
            if not o.is_finite():
                return float(o)  # NaN or Infinity: refused, as no JSON can hold them
            decimals.append(str(o))
            return f"{_DECIMAL_MARK}{len(decimals) - 1}\x00"
        raise _not_serializable(o)

    text = json.JSONEncoder(default=default, allow_nan=False).encode(result)
    return _placeholder.sub(lambda m: decimals[int(m[1])], text)


def _marshal(result: object) -> str:
    if result is None:
        return "null"
    try:
        return _encode_result(result)
    except _HasDecimal:
        return _marshal_with_decimals(result)


# Formatting a frame reads and parses its source line; the same failing line formats the same.
_FRAME_CACHE_SIZE: Final = 4096
_frame_cache: dict[tuple[CodeType, int], str] = {}


def _format_frame(tb: TracebackType) -> str:
    key = (tb.tb_frame.f_code, tb.tb_lasti)
    text = _frame_cache.get(key)
    if text is None:
        text = traceback.format_list(traceback.extract_tb(tb, limit=1))[0]
        if len(_frame_cache) >= _FRAME_CACHE_SIZE:
            _frame_cache.clear()
        _frame_cache[key] = text
    return text


def _is_hidden(filename: str) -> bool:
    return filename.startswith(_HIDDEN_PACKAGE_DIRS) or filename in _HIDDEN_FILES


def _handler_frames(exc: BaseException) -> list[str]:
    tb = exc.__traceback__
    while tb is not None and _is_hidden(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    frames = []
    while tb is not None:
        frames.append(_format_frame(tb))
        tb = tb.tb_next
    return frames


def error_object(exc: BaseException, request_id: str) -> Attempt:
    """The runtime's object for an unhandled exception, in the runtime's key order."""
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ must not hide the error itself
        message = f"<exception str() failed: {type(exc).__name__}>"
    payload = {
        "errorMessage": message,
        "errorType": type(exc).__name__,
        "requestId": request_id,
        "stackTrace": _handler_frames(exc),
    }
    return json.dumps(payload), message


def _fault(error_type: str, message: str) -> Attempt:
    return json.dumps({"errorType": error_type, "errorMessage": message}), message


def _exit_reason(exc: SystemExit) -> str:
    code = exc.code
    if code is None or code == 0:
        return "Runtime exited without providing a reason"
    # A non-integer code is printed and the process exits with status 1, as in CPython.
    status = code if isinstance(code, int) else 1
    return f"Runtime exited with error: exit status {status}"


def _runtime_error(error_type: str, message: str, request_id: str) -> Attempt:
    # The runtime's own faults: its error object, with no handler frames.
    payload = {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": request_id,
        "stackTrace": [],
    }
    return json.dumps(payload), message


def _marshal_error(detail: str, request_id: str) -> Attempt:
    return _runtime_error(
        "Runtime.MarshalError", f"Unable to marshal response: {detail}", request_id
    )


class _Ticket:
    """One running attempt's deadline, watched by the `Watchdog`."""

    __slots__ = ("deadline", "done", "expired", "generation", "handler", "waker")

    def __init__(
        self,
        deadline: float,
        waker: asyncio.Future[Any] | None,
        handler: asyncio.Task[Any] | None,
        generation: int,
    ) -> None:
        self.deadline = deadline
        self.waker = waker
        self.handler = handler
        self.generation = generation
        self.done = False
        self.expired = False


class Watchdog:
    """Ends attempts that outlive the timeout, with one task instead of a timer per attempt.

    Every attempt of a function shares one timeout, so deadlines fall in the order attempts
    start: a FIFO of tickets is enough, and starting an attempt never re-arms anything. At the
    deadline it cancels what the attempt waits on: the worker task running an async handler,
    or the future of a sync handler's thread. When the last running attempt ends, the watchdog
    stops until the next one: a timer left for a finished attempt would keep the loop busy, and
    move a virtual clock on to that deadline once everything else is idle.
    """

    __slots__ = (
        "_clock",
        "_generation",
        "_idle_check",
        "_running",
        "_task",
        "_tickets",
        "_timeout",
        "_wake",
    )

    def __init__(self, clock: Clock, timeout: float) -> None:
        self._clock = clock
        self._timeout = timeout
        self._tickets: deque[_Ticket] = deque()
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Future[None] | None = None
        # Attempts watched and not yet released, counted per generation: stop() starts a new one.
        self._running = 0
        self._generation = 0
        self._idle_check = False

    def watch(self, waker: asyncio.Future[Any] | None, task: asyncio.Task[Any] | None) -> _Ticket:
        """Cancel *waker* or *task* if the attempt is not done by its deadline.

        Pass the ticket to `release` when the attempt ends, however it ends.
        """
        ticket = _Ticket(self._clock.monotonic() + self._timeout, waker, task, self._generation)
        self._running += 1
        tickets = self._tickets
        while tickets and tickets[0].done:
            tickets.popleft()
        tickets.append(ticket)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        elif self._wake is not None and not self._wake.done():
            self._wake.set_result(None)
        return ticket

    def release(self, ticket: _Ticket) -> None:
        """The attempt of *ticket* ended; with none left running, stop watching until the next."""
        if ticket.done:
            return
        ticket.done = True
        if ticket.generation != self._generation:
            return  # watched before a stop(), which forgot it
        self._running -= 1
        if self._running == 0 and not self._idle_check:
            # Checked a loop turn later: a worker with a backlog starts its next attempt at
            # once, and the watchdog then keeps running rather than stopping and starting.
            self._idle_check = True
            asyncio.get_running_loop().call_soon(self._stop_if_idle)

    def _stop_if_idle(self) -> None:
        self._idle_check = False
        if self._running == 0:
            self.stop()

    def stop(self) -> None:
        """Forget every ticket and stop watching (the invoker closed or changed loops)."""
        task = self._task
        if task is not None and not task.done() and not task.get_loop().is_closed():
            task.cancel()
        self._task = None
        self._wake = None
        self._tickets.clear()
        self._running = 0
        self._generation += 1

    async def _run(self) -> None:
        tickets, clock = self._tickets, self._clock
        while True:
            while tickets and tickets[0].done:
                tickets.popleft()
            if not tickets:
                self._wake = asyncio.get_running_loop().create_future()
                await self._wake
                continue
            ticket = tickets[0]
            delay = ticket.deadline - clock.monotonic()
            if delay > 0:
                await clock.sleep(delay)
                continue
            tickets.popleft()
            ticket.expired = True
            if ticket.waker is not None:
                ticket.waker.cancel()
            if ticket.handler is not None:
                ticket.handler.cancel()


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

    async def run(self, event_json: str, request_id: str, context: object) -> Attempt:
        """Run one attempt on a fresh copy of the event; return the response or error JSON."""
        try:
            event = json.loads(event_json)
        except (ValueError, RecursionError) as e:
            return _runtime_error(
                "Runtime.UnmarshalError", f"Unable to unmarshal input: {e}", request_id
            )
        args = (event, context) if self.wants_context else (event,)
        if self.is_async:
            return await self._run_async(args, request_id)
        return await self._run_sync(args, request_id)

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
            return _fault_of(e, request_id)
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
            return _fault_of(e, request_id)
        finally:
            self.watchdog.release(ticket)
        if error is not None:
            return _fault_of(error, request_id)
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
            return _marshal(result), None
        except (TypeError, ValueError, RecursionError) as e:
            return _marshal_error(str(e), request_id)

    def _timed_out(self, request_id: str) -> Attempt:
        message = f"Task timed out after {self.timeout:.2f} seconds"
        return _fault("Sandbox.Timedout", f"RequestId: {request_id} Error: {message}")


def _fault_of(error: BaseException, request_id: str) -> Attempt:
    if isinstance(error, SystemExit):
        reason = _exit_reason(error)
        return _fault("Runtime.ExitError", f"RequestId: {request_id} Error: {reason}")
    return error_object(error, request_id)
