"""The message a dead-letter queue receives: the original event plus why it failed."""

from __future__ import annotations

import json
from typing import Any

from attrs import frozen

__all__ = ["DeadLetterMessage"]

# AWS keeps the first 1 KB of the error message in the ErrorMessage attribute.
_ERROR_MESSAGE_LIMIT = 1024


def _attribute(data_type: str, value: str) -> dict[str, str]:
    return {"DataType": data_type, "StringValue": value}


@frozen
class DeadLetterMessage:
    """What Lambda sends to a DLQ (SQS ``SendMessage`` / SNS ``Publish``) on a final failure.

    ``body`` is the event exactly as the caller sent it (not the record).
    ``message_attributes`` is in SQS's ``{"DataType": ..., "StringValue": ...}`` form with
    ``RequestID``, ``ErrorCode`` and ``ErrorMessage``.
    """

    body: str
    message_attributes: dict[str, dict[str, str]]

    @classmethod
    def build(
        cls, body: str, request_id: str, error_code: str, error_message: str
    ) -> DeadLetterMessage:
        """Build the message; *error_message* is cut to its first 1 KB of UTF-8."""
        cut = error_message.encode()[:_ERROR_MESSAGE_LIMIT].decode(errors="ignore")
        return cls(
            body=body,
            message_attributes={
                "RequestID": _attribute("String", request_id),
                "ErrorCode": _attribute("Number", error_code),
                "ErrorMessage": _attribute("String", cut),
            },
        )

    @property
    def request_id(self) -> str:
        """The ``RequestID`` attribute: the failed invocation's request id."""
        return self.message_attributes["RequestID"]["StringValue"]

    @property
    def error_code(self) -> str:
        """The ``ErrorCode`` attribute: ``"200"`` after a function error."""
        return self.message_attributes["ErrorCode"]["StringValue"]

    @property
    def error_message(self) -> str:
        """The ``ErrorMessage`` attribute: the first 1 KB of the error message."""
        return self.message_attributes["ErrorMessage"]["StringValue"]

    @property
    def event(self) -> Any:
        """The body parsed as JSON: the event the handler received."""
        return json.loads(self.body)
