"""Picking the adapter for an ARN, as AWS's destination and dead-letter settings take them."""

from __future__ import annotations

from typing import Any, Literal

from lambda_destinations._exceptions import ConfigurationError

from ._adapters import (
    EventBridgeDestination,
    LambdaDestination,
    S3Destination,
    SnsDeadLetterQueue,
    SnsDestination,
    SqsDeadLetterQueue,
    SqsDestination,
)
from ._arn import Arn, destination_config_invalid
from ._connection import DEFAULT_MAX_THREADS, AwsConnection
from ._errors import DeliveryRetry
from ._registry import LocalFunctions

__all__ = ["AwsDestinations", "Role", "dead_letter_queue_from_arn", "destination_from_arn"]

Role = Literal["on_success", "on_failure"]

AwsDestination = (
    SqsDestination | SnsDestination | EventBridgeDestination | LambdaDestination | S3Destination
)
AwsDeadLetterQueue = SqsDeadLetterQueue | SnsDeadLetterQueue

_DESTINATIONS: dict[str, type[Any]] = {
    "sqs": SqsDestination,
    "sns": SnsDestination,
    "events": EventBridgeDestination,
    "lambda": LambdaDestination,
    "s3": S3Destination,
}
_DEAD_LETTER_QUEUES: dict[str, type[Any]] = {"sqs": SqsDeadLetterQueue, "sns": SnsDeadLetterQueue}


class AwsDestinations:
    """Builds adapters that share one `AwsConnection` (clients and threads) and settings.

    *session*, *clients*, *endpoint_url*, *region_name*, *botocore_config* and *max_threads*
    configure the connection (see `AwsConnection`); or pass *connection* itself. *retry* is
    how failed deliveries are tried again; *batching* sends records that are due at once in
    batches where the service allows it; *local_functions* holds the in-process functions
    that Lambda ARNs may name.
    """

    def __init__(
        self,
        *,
        session: Any = None,
        clients: dict[str, Any] | None = None,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        botocore_config: Any = None,
        max_threads: int = DEFAULT_MAX_THREADS,
        connection: AwsConnection | None = None,
        retry: DeliveryRetry | None = None,
        batching: bool = True,
        local_functions: LocalFunctions | None = None,
    ) -> None:
        if connection is None:
            connection = AwsConnection(
                session=session,
                clients=clients,
                endpoint_url=endpoint_url,
                region_name=region_name,
                botocore_config=botocore_config,
                max_threads=max_threads,
            )
        self.connection = connection
        self.retry = DeliveryRetry() if retry is None else retry
        self.batching = batching
        self.local_functions = LocalFunctions() if local_functions is None else local_functions

    def __repr__(self) -> str:
        return f"AwsDestinations({self.connection!r})"

    def destination(self, arn: str, *, role: Role | None = None) -> AwsDestination:
        """The destination adapter for *arn*; *role* lets the on-success-only checks apply.

        Refuses, with AWS's message, services that cannot be destinations, FIFO queues and
        topics, and an S3 bucket as an on-success destination.
        """
        parsed = Arn.parse(arn, role or "destination")
        on_success, on_failure = (None, arn) if role == "on_failure" else (arn, None)
        kind = _DESTINATIONS.get(parsed.service)
        if kind is None or (kind is S3Destination and role == "on_success"):
            why = "" if kind is None else " (an S3 bucket is an on-failure destination only)"
            msg = f"{destination_config_invalid(on_success, on_failure)}{why}"
            raise ConfigurationError(msg)
        options: dict[str, Any] = {
            "connection": self.connection,
            "retry": self.retry,
            "batching": self.batching,
        }
        if kind is LambdaDestination:
            options["local_functions"] = self.local_functions
        return kind(arn, **options)  # type: ignore[no-any-return]

    def dead_letter_queue(self, arn: str) -> AwsDeadLetterQueue:
        """The dead-letter queue adapter for *arn*: a standard SQS queue or SNS topic."""
        parsed = Arn.parse(arn, "dead_letter_queue")
        kind = _DEAD_LETTER_QUEUES.get(parsed.service)
        if kind is None or parsed.is_fifo:
            msg = (
                f"The provided target arn {arn} is invalid for DeadLetterConfig: a "
                "dead-letter queue is a standard SQS queue or SNS topic"
            )
            raise ConfigurationError(msg)
        return kind(  # type: ignore[no-any-return]
            arn, connection=self.connection, retry=self.retry, batching=self.batching
        )


def destination_from_arn(
    arn: str, *, role: Role | None = None, client: Any = None, **settings: Any
) -> AwsDestination:
    """The destination for *arn*: SQS, SNS, EventBridge, Lambda or S3 (on-failure only).

    *client* is a boto3 client for the ARN's service; the other keywords are
    `AwsDestinations`'s (``session``, ``endpoint_url``, ``region_name``, ``retry``,
    ``batching``, ``local_functions``, ...). Building it calls no AWS API.
    """
    return _factory(arn, client, settings).destination(arn, role=role)


def dead_letter_queue_from_arn(
    arn: str, *, client: Any = None, **settings: Any
) -> AwsDeadLetterQueue:
    """The dead-letter queue for *arn*: a standard SQS queue or SNS topic.

    Keywords as for `destination_from_arn`. Building it calls no AWS API.
    """
    return _factory(arn, client, settings).dead_letter_queue(arn)


def _factory(arn: str, client: Any, settings: dict[str, Any]) -> AwsDestinations:
    if client is not None:
        service = Arn.parse(arn, "destination").service
        settings = {**settings, "clients": {**settings.get("clients", {}), service: client}}
    return AwsDestinations(**settings)
