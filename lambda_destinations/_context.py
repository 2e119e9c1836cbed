"""The Lambda context object a handler receives as its second argument."""

from __future__ import annotations

import sys
from typing import Any

from attrs import frozen

from ._clock import Clock

__all__ = ["CognitoIdentity", "LambdaContext"]


@frozen
class CognitoIdentity:
    """``context.identity``: the runtime always sets it; both ids are ``None`` for async calls."""

    cognito_identity_id: str | None = None
    cognito_identity_pool_id: str | None = None


_NO_IDENTITY = CognitoIdentity()


class LambdaContext:
    """Every attribute of the Python runtime's context, for one attempt.

    ``get_remaining_time_in_millis()`` counts down to the attempt's timeout on the invoker's
    clock, so it follows virtual time in tests.
    """

    __slots__ = (
        "_clock",
        "_deadline",
        "aws_request_id",
        "client_context",
        "function_name",
        "function_version",
        "identity",
        "invoked_function_arn",
        "log_group_name",
        "log_stream_name",
        "memory_limit_in_mb",
        "tenant_id",
    )

    def __init__(
        self,
        *,
        function_name: str,
        function_version: str,
        invoked_function_arn: str,
        memory_limit_in_mb: str,
        aws_request_id: str,
        log_group_name: str,
        log_stream_name: str,
        deadline: float,
        clock: Clock,
    ) -> None:
        self.function_name = function_name
        self.function_version = function_version
        self.invoked_function_arn = invoked_function_arn
        self.memory_limit_in_mb = memory_limit_in_mb
        self.aws_request_id = aws_request_id
        self.log_group_name = log_group_name
        self.log_stream_name = log_stream_name
        # Asynchronous invocations carry neither a Cognito identity nor a client context.
        self.identity: CognitoIdentity = _NO_IDENTITY
        self.client_context: Any = None
        self.tenant_id: str | None = None
        self._deadline = deadline
        self._clock = clock

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before this attempt times out (never negative)."""
        return max(0, int((self._deadline - self._clock.monotonic()) * 1000))

    def log(self, message: object) -> None:
        """Write *message* to standard output, as the runtime's ``context.log`` does."""
        sys.stdout.write(str(message))

    def w3c(self) -> dict[str, str]:
        """W3C trace-context fields of the invoke; asynchronous invokes carry none."""
        return {}

    def __repr__(self) -> str:
        return (
            f"LambdaContext(aws_request_id={self.aws_request_id!r}, "
            f"invoked_function_arn={self.invoked_function_arn!r})"
        )
