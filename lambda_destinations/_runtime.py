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
import traceback
from collections.abc import Callable
from typing import Any, Final

from ._clock import Clock
from ._exceptions import ConfigurationError

__all__ = ["Attempt", "Runtime", "call_style"]

# Frames in these folders are the library's or asyncio's, not the handler's.
_HIDDEN_FRAME_DIRS: Final = tuple(
    os.path.dirname(m) + os.sep
    for m in (__file__, asyncio.__file__, concurrent.futures.__file__, contextvars.__file__)
)

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
    positional = 0
    for p in params:
        if p.kind is p.VAR_POSITIONAL:
            return is_async, True
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            positional += 1
    if positional == 0:
        msg = (
            f"handler {handler!r} takes no positional argument: a Lambda handler takes "
            "(event, context) or (event)"
        )
        raise ConfigurationError(msg)
    return is_async, positional >= 2


def _decimal_default(o: object) -> object:
    # The runtime's own encoder: Decimals (e.g. from DynamoDB) become floats.
    if isinstance(o, decimal.Decimal):
        return float(o)
    msg = f"{o!r} is not JSON serializable"
    raise TypeError(msg)


def _marshal(result: object) -> str:
    if result is None:
        return "null"
    return json.dumps(result, default=_decimal_default, allow_nan=False)


def _handler_frames(exc: BaseException) -> list[str]:
    frames = traceback.extract_tb(exc.__traceback__)
    for i, frame in enumerate(frames):
        if not frame.filename.startswith(_HIDDEN_FRAME_DIRS):
            return traceback.format_list(frames[i:])
    return []


def error_object(exc: BaseException, request_id: str) -> Attempt:
    """The runtime's object for an unhandled exception, in the runtime's key order."""
    message = str(exc)
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


def _marshal_error(detail: str, request_id: str) -> Attempt:
    message = f"Unable to marshal response: {detail}"
    payload = {
        "errorMessage": message,
        "errorType": "Runtime.MarshalError",
        "requestId": request_id,
        "stackTrace": [],
    }
    return json.dumps(payload), message


class Runtime:
    """Calls one handler, sync or async, with or without context, under a timeout."""

    __slots__ = ("_executor", "clock", "handler", "is_async", "timeout", "wants_context")

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
        # Our own pool, sized to the concurrency limit: a handler never waits for a thread
        # while its timeout runs, as it would in a shared default executor.
        self._executor: concurrent.futures.ThreadPoolExecutor | None = (
            None
            if self.is_async
            else concurrent.futures.ThreadPoolExecutor(
                max_workers=max_threads, thread_name_prefix="lambda_destinations"
            )
        )

    def shutdown(self) -> None:
        """Release the handler threads; a thread still running a timed-out handler finishes."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    async def run(self, event_json: str, request_id: str, context: object) -> Attempt:
        """Run one attempt on a fresh copy of the event; return the response or error JSON."""
        event = json.loads(event_json)
        args = (event, context) if self.wants_context else (event,)
        timer = self.clock.timeout(self.timeout)
        try:
            async with timer:
                if self.is_async:
                    result = await self.handler(*args)
                else:
                    loop = asyncio.get_running_loop()
                    call = functools.partial(contextvars.copy_context().run, self.handler, *args)
                    result = await loop.run_in_executor(self._executor, call)
        except TimeoutError as e:
            if timer.expired():
                message = f"Task timed out after {self.timeout:.2f} seconds"
                return _fault("Sandbox.Timedout", f"RequestId: {request_id} Error: {message}")
            return error_object(e, request_id)
        except SystemExit as e:
            return _fault("Runtime.ExitError", f"RequestId: {request_id} Error: {_exit_reason(e)}")
        except asyncio.CancelledError as e:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # the invoker itself is being cancelled, not the handler's doing
            return error_object(e, request_id)
        except BaseException as e:  # noqa: BLE001 - a handler fault must never kill a worker
            return error_object(e, request_id)
        if inspect.isawaitable(result):
            # A sync function returned a coroutine it never awaited; Lambda can't marshal it.
            close = getattr(result, "close", None)
            if close is not None:
                close()
        try:
            return _marshal(result), None
        except (TypeError, ValueError, RecursionError) as e:
            return _marshal_error(str(e), request_id)
