"""The calls each AWS service takes, single and batched: one `Operation` per target type."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from attrs import frozen

from ._arn import Arn
from ._connection import AwsConnection
from ._errors import Failure

__all__ = [
    "EVENTS_ENTRY_LIMIT",
    "SQS_SNS_MESSAGE_LIMIT",
    "EventsOperation",
    "LambdaOperation",
    "S3Operation",
    "SnsOperation",
    "SqsOperation",
    "failures_by_id",
]

#: SQS and SNS messages: 1 MiB, message attributes included.
SQS_SNS_MESSAGE_LIMIT: Final = 1_048_576
#: An EventBridge ``PutEvents`` entry, as EventBridge counts it (and all entries of a call).
EVENTS_ENTRY_LIMIT: Final = 262_144
#: A Lambda ``Invoke`` with ``InvocationType=Event``.
LAMBDA_EVENT_LIMIT: Final = 1_048_576
#: SNS ``PublishBatch`` at a topic's default maximum message size (256 KiB).
_SNS_BATCH_BYTES: Final = 262_144
_BATCH: Final = 10


def _request_id(response: Any) -> str | None:
    metadata = response.get("ResponseMetadata") or {}
    return metadata.get("RequestId")


def failures_by_id(response: Any, count: int) -> list[Failure | None]:
    """Each entry's failure, or ``None``, from a batch answer about entries given Ids 0, 1, ...

    SQS's and SNS's batch calls list their failed entries by the Id each was given.
    """
    failures: list[Failure | None] = [None] * count
    aws_request_id = _request_id(response)
    for failed in response.get("Failed") or ():
        failures[int(failed["Id"])] = Failure.of_entry(
            failed.get("Code", "Unknown"), failed.get("Message", ""), aws_request_id
        )
    return failures


@frozen
class SqsOperation:
    """``SendMessage`` / ``SendMessageBatch`` to a standard queue; its URL follows from the ARN."""

    arn: Arn
    action: str = "SQS SendMessage"
    max_entries: int = _BATCH
    max_batch_bytes: int = SQS_SNS_MESSAGE_LIMIT

    @property
    def target_arn(self) -> str:
        return self.arn.text

    def client(self, connection: AwsConnection) -> Any:
        return connection.client("sqs", self.arn.region)

    def _url(self, client: Any) -> str:
        return self.arn.queue_url(client.meta.endpoint_url)

    def send_one(self, client: Any, params: dict[str, Any]) -> Failure | None:
        client.send_message(QueueUrl=self._url(client), **params)
        return None

    def send_batch(self, client: Any, entries: Sequence[dict[str, Any]]) -> list[Failure | None]:
        numbered = [{"Id": str(i), **params} for i, params in enumerate(entries)]
        response = client.send_message_batch(QueueUrl=self._url(client), Entries=numbered)
        return failures_by_id(response, len(entries))


@frozen
class SnsOperation:
    """``Publish`` / ``PublishBatch`` to a standard topic."""

    arn: Arn
    action: str = "SNS Publish"
    max_entries: int = _BATCH
    max_batch_bytes: int = _SNS_BATCH_BYTES

    @property
    def target_arn(self) -> str:
        return self.arn.text

    def client(self, connection: AwsConnection) -> Any:
        return connection.client("sns", self.arn.region)

    def send_one(self, client: Any, params: dict[str, Any]) -> Failure | None:
        client.publish(TopicArn=self.arn.text, **params)
        return None

    def send_batch(self, client: Any, entries: Sequence[dict[str, Any]]) -> list[Failure | None]:
        numbered = [{"Id": str(i), **params} for i, params in enumerate(entries)]
        response = client.publish_batch(TopicArn=self.arn.text, PublishBatchRequestEntries=numbered)
        return failures_by_id(response, len(entries))


@frozen
class EventsOperation:
    """``PutEvents`` on an event bus: one entry alone, or up to 10 together."""

    arn: Arn
    action: str = "EventBridge PutEvents"
    max_entries: int = _BATCH
    max_batch_bytes: int = EVENTS_ENTRY_LIMIT

    @property
    def target_arn(self) -> str:
        return self.arn.text

    def client(self, connection: AwsConnection) -> Any:
        return connection.client("events", self.arn.region)

    def send_one(self, client: Any, params: dict[str, Any]) -> Failure | None:
        return self.send_batch(client, [params])[0]

    def send_batch(self, client: Any, entries: Sequence[dict[str, Any]]) -> list[Failure | None]:
        response = client.put_events(Entries=list(entries))
        if not response.get("FailedEntryCount"):
            return [None] * len(entries)
        aws_request_id = _request_id(response)
        # PutEvents answers entry by entry, in the order they were sent.
        return [
            Failure.of_entry(result["ErrorCode"], result.get("ErrorMessage", ""), aws_request_id)
            if result.get("ErrorCode")
            else None
            for result in response["Entries"]
        ]


@frozen
class LambdaOperation:
    """``Invoke`` with ``InvocationType=Event``: Lambda has no batch call."""

    arn: Arn
    action: str = "Lambda Invoke"
    max_entries: int = 1
    max_batch_bytes: int = LAMBDA_EVENT_LIMIT

    @property
    def target_arn(self) -> str:
        return self.arn.text

    def client(self, connection: AwsConnection) -> Any:
        return connection.client("lambda", self.arn.region)

    def send_one(self, client: Any, params: dict[str, Any]) -> Failure | None:
        client.invoke(FunctionName=self.arn.text, InvocationType="Event", **params)
        return None

    def send_batch(self, client: Any, entries: Sequence[dict[str, Any]]) -> list[Failure | None]:
        return [self.send_one(client, params) for params in entries]


@frozen
class S3Operation:
    """``PutObject`` into a bucket: one object per record."""

    arn: Arn
    action: str = "S3 PutObject"
    max_entries: int = 1
    max_batch_bytes: int = 5 * 1024**3

    @property
    def target_arn(self) -> str:
        return self.arn.text

    def client(self, connection: AwsConnection) -> Any:
        return connection.client("s3", self.arn.region)

    def send_one(self, client: Any, params: dict[str, Any]) -> Failure | None:
        client.put_object(Bucket=self.arn.name, **params)
        return None

    def send_batch(self, client: Any, entries: Sequence[dict[str, Any]]) -> list[Failure | None]:
        return [self.send_one(client, params) for params in entries]
