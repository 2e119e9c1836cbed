"""How an EventInvokeConfig request is refused: AWS's error code, HTTP status and message."""

from __future__ import annotations

from lambda_destinations._exceptions import ConfigurationError

__all__ = ["EventInvokeConfigError"]


class EventInvokeConfigError(ConfigurationError):
    """A request AWS's Lambda API refuses; ``aws_error_code`` and ``status_code`` say how."""

    def __init__(self, aws_error_code: str, status_code: int, message: str) -> None:
        super().__init__(message)
        self.aws_error_code = aws_error_code
        self.status_code = status_code

    @classmethod
    def invalid(cls, message: str) -> EventInvokeConfigError:
        """AWS's ``InvalidParameterValueException`` (HTTP 400) with *message*."""
        return cls("InvalidParameterValueException", 400, message)
