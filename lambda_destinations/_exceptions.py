"""Every error this library raises on purpose.

Errors a caller of ``invoke()`` can cause carry the name and HTTP status AWS would answer with, so
code that handles them can be moved to boto3 unchanged in spirit.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "ConfigurationError",
    "ConfigurationTypeError",
    "EventLoopError",
    "FunctionError",
    "InvalidRequestContentError",
    "InvokeError",
    "InvokerClosedError",
    "JoinTimeoutError",
    "LambdaDestinationsError",
    "PayloadWarning",
    "RequestEntityTooLargeError",
]


class LambdaDestinationsError(Exception):
    """Base class of every error raised by lambda_destinations."""


class PayloadWarning(UserWarning):
    """A payload that is valid but almost certainly not what the caller meant."""


class ConfigurationError(LambdaDestinationsError, ValueError):
    """A setting is invalid: out of AWS's range, of the wrong type, or inconsistent."""


class ConfigurationTypeError(ConfigurationError, TypeError):
    """A setting is not the kind of object it must be, such as a destination of the wrong shape.

    Also a `TypeError`, what such a mistake raises in plain Python.
    """


class InvokeError(LambdaDestinationsError):
    """``invoke()`` refused the event; nothing was queued.

    ``aws_error_code`` and ``status_code`` are what AWS's Invoke API answers in the same case.
    """

    aws_error_code: str = "ServiceException"
    status_code: int = 500


class InvalidRequestContentError(InvokeError, ValueError):
    """The payload is not a JSON document (AWS: ``InvalidRequestContentException``, 400)."""

    aws_error_code = "InvalidRequestContentException"
    status_code = 400


class RequestEntityTooLargeError(InvokeError, ValueError):
    """The payload is over the size limit (AWS: ``RequestEntityTooLargeException``, 413)."""

    aws_error_code = "RequestEntityTooLargeException"
    status_code = 413


class InvokerClosedError(InvokeError, RuntimeError):
    """The invoker is closing or closed and accepts no more events."""

    aws_error_code = "ResourceConflictException"
    status_code = 409


class EventLoopError(LambdaDestinationsError, RuntimeError):
    """A call that cannot work on the event loop it was made from, or with the invoker's loop.

    A blocking call such as ``join_sync()`` or ``close()`` made inside a running event loop
    (await ``join()`` or ``aclose()`` there instead), or a wait for events whose loop no
    longer runs.
    """


class FunctionError(LambdaDestinationsError):
    """An attempt of the handler failed; carries the runtime's error object.

    Retry wait strategies see it as the outcome of the failed attempt, and the testing toolkit
    raises it when a test asked to fail on the first unexpected error.
    """

    def __init__(self, request_id: str, error_type: str, error_message: str, payload_json: str):
        super().__init__(f"{error_type}: {error_message} (request {request_id})")
        self.request_id = request_id
        self.error_type = error_type
        self.error_message = error_message
        self.payload_json = payload_json

    @classmethod
    def from_error_object(cls, request_id: str, payload_json: str) -> FunctionError:
        """Build from the runtime's error object; its stack trace is kept in the message."""
        error = json.loads(payload_json)
        trace = "".join(error.get("stackTrace") or ())
        self = cls(
            request_id, error.get("errorType", ""), error.get("errorMessage", ""), payload_json
        )
        if trace:
            self.add_note("Handler traceback (most recent call last):\n" + trace.rstrip())
        return self


class JoinTimeoutError(LambdaDestinationsError, TimeoutError):
    """``join(timeout=...)`` ran out of time; ``pending`` names the events still in flight."""

    def __init__(self, message: str, pending: tuple[Any, ...]) -> None:
        super().__init__(message)
        self.pending = pending
