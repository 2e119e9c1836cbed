"""How an EventInvokeConfig request is refused: AWS's error code, HTTP status and message."""

from __future__ import annotations

from lambda_destinations._exceptions import ConfigurationError

__all__ = ["EventInvokeConfigError"]


class EventInvokeConfigError(ConfigurationError):
    """A request AWS's Lambda API refuses; ``aws_error_code`` and ``status_code`` say how.

    ``str(error)`` and ``aws_message`` are AWS's message, byte for byte, as boto3 would show
    it. Where AWS gives no reason, ``hint`` says what is wrong and what to do; it is also
    added as a note, so a traceback shows it below the message.
    """

    def __init__(
        self, aws_error_code: str, status_code: int, message: str, hint: str | None = None
    ) -> None:
        super().__init__(message)
        self.aws_error_code = aws_error_code
        self.status_code = status_code
        self.aws_message = message
        self.hint = hint
        if hint is not None:
            self.add_note(hint)

    @classmethod
    def invalid(cls, message: str, hint: str | None = None) -> EventInvokeConfigError:
        """AWS's ``InvalidParameterValueException`` (HTTP 400) with *message*."""
        return cls("InvalidParameterValueException", 400, message, hint)
