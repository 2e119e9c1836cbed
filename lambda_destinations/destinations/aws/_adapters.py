"""Destinations and dead-letter queues on AWS services, each sending exactly what Lambda sends.

Building one makes no AWS call: a target that does not exist fails at delivery, is counted
and logged, as on AWS. ``send`` returns an awaitable that the invoker bounds with its
``delivery_timeout``.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from datetime import UTC
from typing import Any, ClassVar, Final

from lambda_destinations._dead_letter import DeadLetterMessage
from lambda_destinations._exceptions import ConfigurationError
from lambda_destinations._records import ExecutionRecord

from ._arn import Arn, destination_config_invalid
from ._channel import Channel, Entry, Operation
from ._connection import AwsConnection
from ._errors import AwsDeliveryError, DeliveryRetry, Failure
from ._registry import LocalFunctions
from ._services import (
    EVENTS_ENTRY_LIMIT,
    LAMBDA_EVENT_LIMIT,
    SQS_SNS_MESSAGE_LIMIT,
    EventsOperation,
    LambdaOperation,
    S3Operation,
    SnsOperation,
    SqsOperation,
)

__all__ = [
    "EventBridgeDestination",
    "LambdaDestination",
    "S3Destination",
    "SnsDeadLetterQueue",
    "SnsDestination",
    "SqsDeadLetterQueue",
    "SqsDestination",
]

#: ``Source`` of the events Lambda puts on an EventBridge bus (as recorded from AWS).
EVENTBRIDGE_SOURCE: Final = "lambda"
_DETAIL_TYPE: Final = "Lambda Function Invocation Result - "


def _attributes_size(attributes: dict[str, dict[str, str]]) -> int:
    # SQS and SNS count each attribute's name, data type and value against the message limit.
    return sum(
        len(name.encode()) + len(value["DataType"].encode()) + len(value["StringValue"].encode())
        for name, value in attributes.items()
    )


class _AwsTarget:
    """What every adapter has: its ARN, and the channel its entries go through."""

    __slots__ = ("_channel", "arn")

    service: ClassVar[str]
    kind: ClassVar[str]

    def __init__(
        self,
        arn: str,
        *,
        connection: AwsConnection | None = None,
        retry: DeliveryRetry | None = None,
        batching: bool = True,
        max_in_flight: int | None = None,
    ) -> None:
        parsed = Arn.parse(arn, type(self).__name__)
        if parsed.service != self.service:
            msg = (
                f"{type(self).__name__}({arn!r}): not {self.kind} ARN; use "
                "destination_from_arn() to pick the adapter for any ARN"
            )
            raise ConfigurationError(msg)
        self._check(parsed)
        self.arn = parsed.text
        connection = AwsConnection() if connection is None else connection
        if max_in_flight is None:
            max_in_flight = connection.max_threads
        if not isinstance(max_in_flight, int) or max_in_flight < 1:
            msg = f"max_in_flight={max_in_flight!r} must be a positive number of calls"
            raise ConfigurationError(msg)
        self._channel = Channel(
            self._operation(parsed),
            connection,
            DeliveryRetry() if retry is None else retry,
            batching=batching,
            max_in_flight=max_in_flight,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.arn!r})"

    def _check(self, arn: Arn) -> None:
        """Refuse what AWS does not support as this kind of target."""

    def _operation(self, arn: Arn) -> Operation:
        raise NotImplementedError

    def _submit(
        self, params: dict[str, Any], size: int, limit: int, request_id: str
    ) -> Awaitable[None]:
        if size > limit:
            failure = Failure.local(
                "RecordTooLarge",
                f"{size} bytes is over the {limit} bytes {self.kind} takes; an S3 "
                "on-failure destination keeps records of any size",
            )
            op = self._channel.operation
            raise AwsDeliveryError(
                action=op.action,
                target_arn=self.arn,
                request_id=request_id,
                failure=failure,
                attempts=0,
            )
        return self._channel.submit(Entry(params, size, request_id))


def _refuse_fifo(arn: Arn, what: str) -> None:
    if arn.is_fifo:
        msg = (
            f"{destination_config_invalid(arn.text, None)} (FIFO {what}s are not supported "
            f"as Lambda destinations or dead-letter queues: use a standard {what})"
        )
        raise ConfigurationError(msg)


class SqsDestination(_AwsTarget):
    """A standard SQS queue: ``SendMessage`` with the record as the body, no attributes."""

    __slots__ = ()
    service = "sqs"
    kind = "an SQS queue"

    def _check(self, arn: Arn) -> None:
        _refuse_fifo(arn, "queue")

    def _operation(self, arn: Arn) -> Operation:
        return SqsOperation(arn)

    def send(self, record: ExecutionRecord, /) -> Awaitable[None]:
        body = record.to_json()
        params = {"MessageBody": body.decode()}
        return self._submit(params, len(body), SQS_SNS_MESSAGE_LIMIT, record.request_id)


class SnsDestination(_AwsTarget):
    """A standard SNS topic: ``Publish`` with the record as the message, nothing else."""

    __slots__ = ()
    service = "sns"
    kind = "an SNS topic"

    def _check(self, arn: Arn) -> None:
        _refuse_fifo(arn, "topic")

    def _operation(self, arn: Arn) -> Operation:
        return SnsOperation(arn)

    def send(self, record: ExecutionRecord, /) -> Awaitable[None]:
        body = record.to_json()
        params = {"Message": body.decode()}
        return self._submit(params, len(body), SQS_SNS_MESSAGE_LIMIT, record.request_id)


class EventBridgeDestination(_AwsTarget):
    """An event bus: ``PutEvents`` with Lambda's ``Source``, ``DetailType`` and ``Resources``.

    ``Source`` is ``"lambda"`` (what AWS was recorded sending; newer AWS docs say
    ``"aws.lambda"``: pass *source* to change it). ``DetailType`` is ``"Lambda Function
    Invocation Result - Success"`` or ``"... - Failure"``; ``Detail`` is the record;
    ``Resources`` are the bus's ARN and the function's qualified ARN.
    """

    __slots__ = ("source",)
    service = "events"
    kind = "an EventBridge event bus"

    def __init__(self, arn: str, *, source: str = EVENTBRIDGE_SOURCE, **options: Any) -> None:
        super().__init__(arn, **options)
        self.source = source

    def _check(self, arn: Arn) -> None:
        if not arn.resource.startswith("event-bus/"):
            msg = f"{destination_config_invalid(arn.text, None)} (not an event bus ARN)"
            raise ConfigurationError(msg)

    def _operation(self, arn: Arn) -> Operation:
        return EventsOperation(arn)

    def send(self, record: ExecutionRecord, /) -> Awaitable[None]:
        detail = record.to_json().decode()
        detail_type = _DETAIL_TYPE + ("Success" if record.is_success else "Failure")
        resources = [self.arn, record.request_context.function_arn]
        params = {
            "Source": self.source,
            "DetailType": detail_type,
            "Detail": detail,
            "Resources": resources,
            "EventBusName": self.arn,
        }
        # EventBridge's own count: Source, DetailType, Detail and each resource, in UTF-8.
        size = sum(len(s.encode()) for s in (self.source, detail_type, detail, *resources))
        return self._submit(params, size, EVENTS_ENTRY_LIMIT, record.request_id)


class S3Destination(_AwsTarget):
    """An S3 bucket (on-failure only): one object per record, holding the record's JSON.

    The key is ``aws/lambda/async/<function-name>/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-<uuid>``,
    dated with the record's timestamp (UTC).
    """

    __slots__ = ()
    service = "s3"
    kind = "an S3 bucket"

    def _operation(self, arn: Arn) -> Operation:
        return S3Operation(arn)

    def send(self, record: ExecutionRecord, /) -> Awaitable[None]:
        if record.is_success:
            msg = (
                f"{destination_config_invalid(self.arn, None)} (S3 buckets are on-failure "
                "destinations only: use on_failure=)"
            )
            raise ConfigurationError(msg)
        body = record.to_json()
        params = {"Key": s3_key(record), "Body": body}
        return self._submit(params, len(body), 5 * 1024**3, record.request_id)


def s3_key(record: ExecutionRecord) -> str:
    """Where Lambda puts *record* in an S3 destination."""
    name = record.request_context.function_arn.split(":")[6]
    at = record.timestamp.astimezone(UTC)
    return f"aws/lambda/async/{name}/{at:%Y/%m/%d}/{at:%Y-%m-%dT%H.%M.%S}-{uuid.uuid4()}"


class LambdaDestination(_AwsTarget):
    """A function: invoked asynchronously with the record as its event, byte for byte.

    If *local_functions* holds an in-process function under this ARN (looked up at each
    delivery), it is invoked here; otherwise the call is ``Invoke`` with ``InvocationType=Event``.
    A function cannot be its own destination: such a delivery fails, as AWS refuses it.
    """

    __slots__ = ("local_functions",)
    service = "lambda"
    kind = "a Lambda function"

    def __init__(
        self, arn: str, *, local_functions: LocalFunctions | None = None, **options: Any
    ) -> None:
        super().__init__(arn, **options)
        self.local_functions = local_functions

    def _check(self, arn: Arn) -> None:
        if not arn.name:
            msg = f"The destination ARN {arn.text} is invalid. (not a function ARN)"
            raise ConfigurationError(msg)

    def _operation(self, arn: Arn) -> Operation:
        return LambdaOperation(arn)

    def send(self, record: ExecutionRecord, /) -> Awaitable[None] | None:
        if _same_function(self.arn, record.request_context.function_arn):
            msg = "You can't specify the function as a destination for itself."
            raise ConfigurationError(f"{msg} ({self.arn})")
        body = record.to_json()
        local = None if self.local_functions is None else self.local_functions.get(self.arn)
        if local is not None:
            local.invoke_nowait(body)
            return None
        return self._submit({"Payload": body}, len(body), LAMBDA_EVENT_LIMIT, record.request_id)


def _same_function(a: str, b: str) -> bool:
    return a.split(":")[:7] == b.split(":")[:7]


class SqsDeadLetterQueue(_AwsTarget):
    """A standard SQS queue as a dead-letter queue: the event, and why it failed.

    The body is the original event; ``RequestID``, ``ErrorCode`` and ``ErrorMessage`` are
    message attributes in SQS's form.
    """

    __slots__ = ()
    service = "sqs"
    kind = "an SQS queue"

    def _check(self, arn: Arn) -> None:
        _refuse_fifo(arn, "queue")

    def _operation(self, arn: Arn) -> Operation:
        return SqsOperation(arn)

    def send(self, message: DeadLetterMessage, /) -> Awaitable[None]:
        attributes = message.message_attributes
        params = {"MessageBody": message.body, "MessageAttributes": attributes}
        size = len(message.body.encode()) + _attributes_size(attributes)
        return self._submit(params, size, SQS_SNS_MESSAGE_LIMIT, message.request_id)


class SnsDeadLetterQueue(_AwsTarget):
    """A standard SNS topic as a dead-letter queue: the event, and why it failed.

    The message is the original event; the three attributes are SNS message attributes (a
    subscriber sees them in SNS's form, ``{"Type": ..., "Value": ...}``, or as SQS attributes
    with raw message delivery).
    """

    __slots__ = ()
    service = "sns"
    kind = "an SNS topic"

    def _check(self, arn: Arn) -> None:
        _refuse_fifo(arn, "topic")

    def _operation(self, arn: Arn) -> Operation:
        return SnsOperation(arn)

    def send(self, message: DeadLetterMessage, /) -> Awaitable[None]:
        attributes = message.message_attributes
        params = {"Message": message.body, "MessageAttributes": attributes}
        size = len(message.body.encode()) + _attributes_size(attributes)
        return self._submit(params, size, SQS_SNS_MESSAGE_LIMIT, message.request_id)
