"""Why a delivery to AWS failed, whether trying again can help, and how often we try.

A delivery is retried when AWS may accept it later: throttling, a server error, a broken
connection, and also access denied or a missing target (a policy or a queue that is still
being created). A record that is too large, a malformed request or missing credentials
cannot get better by waiting and fails at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import tenacity
from attrs import field, frozen

from lambda_destinations._exceptions import ConfigurationError, LambdaDestinationsError

__all__ = ["AwsDeliveryError", "DeliveryRetry", "Failure", "failure_from_exception"]

# Error codes that describe the request itself: sending it again gives the same answer.
_PERMANENT: Final = frozenset(
    {
        "InvalidParameterValue",
        "InvalidParameterValueException",
        "InvalidParameter",
        "InvalidParameterException",
        "InvalidMessageContents",
        "InvalidAttributeValue",
        "MissingParameter",
        "ValidationError",
        "ValidationException",
        "InvalidRequestContentException",
        "RequestEntityTooLargeException",
        "RequestTooLarge",
        "KeyTooLongError",
        "EntityTooLarge",
        "UnsupportedOperation",
        "AWS.SimpleQueueService.UnsupportedOperation",
        "BatchRequestTooLong",
        "TooManyEntriesInBatchRequest",
    }
)
# botocore's own errors that no retry can fix: the client is not configured to send at all.
_CONFIGURATION: Final = frozenset(
    {"NoCredentialsError", "PartialCredentialsError", "NoRegionError", "ParamValidationError"}
)


class AwsDeliveryError(LambdaDestinationsError):
    """A record or dead letter that AWS did not accept, after every attempt.

    The invoker counts it (``DestinationDeliveryFailures`` or ``DeadLetterErrors``) and logs
    it; the message carries the event's request id, AWS's error code and AWS's request id.
    """

    def __init__(
        self,
        *,
        action: str,
        target_arn: str,
        request_id: str,
        failure: Failure,
        attempts: int,
    ) -> None:
        self.action = action
        self.target_arn = target_arn
        self.request_id = request_id
        self.error_code = failure.code
        self.aws_request_id = failure.aws_request_id
        self.attempts = attempts
        super().__init__(
            f"{action} to {target_arn} for event {request_id} failed after {attempts} "
            f"attempt(s): {failure.code}: {failure.message} "
            f"(AWS request id {failure.aws_request_id or 'none'})"
        )


@frozen
class Failure:
    """One entry that AWS refused, or a call that did not get through."""

    code: str
    message: str
    aws_request_id: str | None = None
    retryable: bool = True

    @classmethod
    def of_entry(cls, code: str, message: str, aws_request_id: str | None) -> Failure:
        """A failed entry of a batch response (SendMessageBatch, PublishBatch, PutEvents)."""
        return cls(code, message, aws_request_id, code not in _PERMANENT)

    @classmethod
    def local(cls, code: str, message: str) -> Failure:
        """A refusal decided here, before any call: no AWS request id, never retried."""
        return cls(code, message, None, retryable=False)


def failure_from_exception(error: BaseException) -> Failure:
    """What a boto3 call raised, as a `Failure`; unknown errors are treated as transient."""
    response: Any = getattr(error, "response", None)
    if isinstance(response, dict):
        details = response.get("Error") or {}
        metadata = response.get("ResponseMetadata") or {}
        code = str(details.get("Code") or type(error).__name__)
        status = metadata.get("HTTPStatusCode")
        retryable = code not in _PERMANENT or (isinstance(status, int) and status >= 500)
        message = str(details.get("Message") or error)
        return Failure(code, message, metadata.get("RequestId"), retryable)
    name = type(error).__name__
    retryable = name not in _CONFIGURATION and not isinstance(error, ConfigurationError)
    return Failure(name, str(error), None, retryable)


def _backoff() -> Callable[[tenacity.RetryCallState], float]:
    return tenacity.wait_exponential(multiplier=0.2, max=2.0) + tenacity.wait_random(0, 0.2)


@frozen
class DeliveryRetry:
    """How a failed delivery is tried again: *attempts* in all, within *deadline* seconds.

    The defaults (3 attempts, 0.2 s then 0.4 s of backoff with jitter, at most 2 s, and no new
    attempt after 15 s) fit inside the invoker's default ``delivery_timeout`` of 30 s together
    with the client timeouts of the clients this package creates (connect 3 s, read 5 s).
    """

    attempts: int = 3
    deadline: float = 15.0
    wait: Callable[[tenacity.RetryCallState], float] = field(factory=_backoff)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.attempts, int) or self.attempts < 1:
            msg = f"DeliveryRetry(attempts={self.attempts!r}): pass 1 or more attempts in all"
            raise ConfigurationError(msg)
        if self.deadline < 0:
            msg = f"DeliveryRetry(deadline={self.deadline!r}) must be zero or more seconds"
            raise ConfigurationError(msg)

    def stop(self) -> tenacity.stop.stop_base:
        """Stop after *attempts*, or once *deadline* seconds have passed since the first."""
        return tenacity.stop_after_attempt(self.attempts) | tenacity.stop_after_delay(self.deadline)
