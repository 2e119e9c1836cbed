"""The runtime's error objects: what a failed attempt answers, in the runtime's shapes.

An unhandled exception becomes ``errorMessage``, ``errorType``, ``requestId`` and the handler's
own stack frames; the runtime's own faults (timeouts, exits, marshal and unmarshal errors)
have shapes of their own.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import json
import os
import traceback
from types import CodeType, TracebackType
from typing import Final

__all__ = [
    "Attempt",
    "error_object",
    "fault",
    "fault_of",
    "marshal_error",
    "runtime_error",
]

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


def fault(error_type: str, message: str) -> Attempt:
    return json.dumps({"errorType": error_type, "errorMessage": message}), message


def _exit_reason(exc: SystemExit) -> str:
    code = exc.code
    if code is None or code == 0:
        return "Runtime exited without providing a reason"
    # A non-integer code is printed and the process exits with status 1, as in CPython.
    status = code if isinstance(code, int) else 1
    return f"Runtime exited with error: exit status {status}"


def runtime_error(error_type: str, message: str, request_id: str) -> Attempt:
    # The runtime's own faults: its error object, with no handler frames.
    payload = {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": request_id,
        "stackTrace": [],
    }
    return json.dumps(payload), message


def marshal_error(detail: str, request_id: str) -> Attempt:
    return runtime_error(
        "Runtime.MarshalError", f"Unable to marshal response: {detail}", request_id
    )


def fault_of(error: BaseException, request_id: str) -> Attempt:
    if isinstance(error, SystemExit):
        reason = _exit_reason(error)
        return fault("Runtime.ExitError", f"RequestId: {request_id} Error: {reason}")
    return error_object(error, request_id)
