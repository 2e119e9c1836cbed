"""The SQS calls an `SQSQueue` makes, each run in one of its connection's threads.

Every function here blocks and never raises: a failure comes back as a `Failure` value for
the event loop to decide on. Batch calls take any number of entries and send them in calls
of at most 10 (and, for messages, of at most SQS's 1 MiB a call); entries that failed for a
reason that may pass (throttling, a server error, a dropped connection) are tried again on
their own, with tenacity's backoff, until they succeed, fail for good, or `DeliveryRetry`
says stop. A lone entry goes with the single-entry call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Final, NamedTuple, TypeVar

import attrs
import tenacity

from lambda_destinations.destinations.aws._connection import AwsConnection
from lambda_destinations.destinations.aws._errors import (
    DeliveryRetry,
    Failure,
    failure_from_exception,
)
from lambda_destinations.destinations.aws._services import failures_by_id

from ._batcher import BATCH
from ._messages import MESSAGE_LIMIT, Decoded, decode, size

__all__ = ["COUNTED", "LOST", "Calls", "Received", "lost"]

#: The queue attributes whose sum is the number of messages in the queue.
COUNTED: Final = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)
#: Error codes that say a receipt handle is no longer this process's: its lease is lost.
LOST: Final = frozenset({"ReceiptHandleIsInvalid", "MessageNotInflight"})

# What each call returns per entry.
Result = Failure | None
T = TypeVar("T")


class Received(NamedTuple):
    """One message a receive returned: ``decoded`` is ``None`` if this library did not write it."""

    message_id: str
    receipt: str
    decoded: Decoded | None


def lost(failure: Failure | None) -> bool:
    """Whether *failure* says the receipt handle expired or another receive replaced it."""
    if failure is None:
        return False
    code = failure.code.rsplit(".", 1)[-1]
    if code in LOST:
        return True
    return code == "InvalidParameterValue" and "receipt handle" in failure.message.lower()


class Calls:
    """The queue's calls to SQS, through *connection*'s client for *region*."""

    __slots__ = ("_connection", "_region", "_retry", "queue_url")

    def __init__(
        self, connection: AwsConnection, queue_url: str, region: str, retry: DeliveryRetry
    ) -> None:
        self._connection = connection
        self.queue_url = queue_url
        self._region = region
        self._retry = retry

    def client(self) -> Any:
        """The boto3 SQS client (made on first use, in the calling thread)."""
        return self._connection.client("sqs", self._region)

    # -- batches -----------------------------------------------------------------------------

    def send(self, entries: Sequence[tuple[str, int]]) -> list[Result]:
        """Send messages: (body, delay seconds) each."""

        def one(client: Any, entry: tuple[str, int]) -> None:
            body, delay = entry
            client.send_message(QueueUrl=self.queue_url, MessageBody=body, DelaySeconds=delay)

        def batch(client: Any, numbered: list[tuple[str, tuple[str, int]]]) -> Any:
            return client.send_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": key, "MessageBody": body, "DelaySeconds": delay}
                    for key, (body, delay) in numbered
                ],
            )

        return self._each(entries, one, batch, lambda entry: size(entry[0]))

    def delete(self, receipts: Sequence[str]) -> list[Result]:
        """Delete messages by receipt handle."""

        def one(client: Any, receipt: str) -> None:
            client.delete_message(QueueUrl=self.queue_url, ReceiptHandle=receipt)

        def batch(client: Any, numbered: list[tuple[str, str]]) -> Any:
            return client.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": key, "ReceiptHandle": receipt} for key, receipt in numbered],
            )

        return self._each(receipts, one, batch)

    def change_visibility(self, entries: Sequence[tuple[str, int]]) -> list[Result]:
        """Set messages' visibility timeouts: (receipt handle, seconds from now) each."""

        def one(client: Any, entry: tuple[str, int]) -> None:
            receipt, seconds = entry
            client.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=receipt, VisibilityTimeout=seconds
            )

        def batch(client: Any, numbered: list[tuple[str, tuple[str, int]]]) -> Any:
            return client.change_message_visibility_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": key, "ReceiptHandle": receipt, "VisibilityTimeout": seconds}
                    for key, (receipt, seconds) in numbered
                ],
            )

        return self._each(entries, one, batch)

    def resend(
        self, entries: Sequence[tuple[str, int, tuple[str, ...]]]
    ) -> list[tuple[Result, Result]]:
        """Send each new message, then delete the old ones it replaces: (body, delay, receipts).

        Both in this thread, so that a queue stopping meanwhile cannot leave a replaced
        message behind. Per entry: the send's failure, and the first delete's.
        """
        sent = self.send([(body, delay) for body, delay, _ in entries])
        old = [
            receipt
            for (_, _, receipts), failure in zip(entries, sent, strict=True)
            if failure is None
            for receipt in receipts
        ]
        deleted = iter(self.delete(old) if old else [])
        results: list[tuple[Result, Result]] = []
        for (_, _, receipts), failure in zip(entries, sent, strict=True):
            if failure is not None:
                results.append((failure, None))
                continue
            firsts = [next(deleted) for _ in receipts]
            results.append((None, next((f for f in firsts if f is not None), None)))
        return results

    # -- single calls ------------------------------------------------------------------------

    def receive(self, count: int, wait: int, visibility: int) -> list[Received] | Failure:
        """Receive up to *count* messages, leased for *visibility* seconds."""
        try:
            response = self.client().receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=count,
                WaitTimeSeconds=wait,
                VisibilityTimeout=visibility,
            )
        except Exception as e:  # noqa: BLE001 - the loop backs off and logs it
            return failure_from_exception(e)
        return [
            Received(m["MessageId"], m["ReceiptHandle"], decode(m.get("Body", "")))
            for m in response.get("Messages") or ()
        ]

    def attributes(self) -> dict[str, int] | Failure:
        """The queue's message counts, and its ``MaximumMessageSize``."""
        try:
            response = self.client().get_queue_attributes(
                QueueUrl=self.queue_url, AttributeNames=[*COUNTED, "MaximumMessageSize"]
            )
        except Exception as e:  # noqa: BLE001 - the loop logs it and asks again later
            return failure_from_exception(e)
        found = response.get("Attributes") or {}
        return {name: int(value) for name, value in found.items()}

    # -- retrying ----------------------------------------------------------------------------

    def _each(
        self,
        entries: Sequence[T],
        one: Callable[[Any, T], None],
        batch: Callable[[Any, list[tuple[str, T]]], Any],
        weigh: Callable[[T], int] | None = None,
    ) -> list[Result]:
        # Sends *entries* in calls SQS takes: at most 10 entries, and at most MESSAGE_LIMIT
        # bytes by *weigh*. The batchers make such calls already; a stopping queue's last
        # calls take everything that was left at once.
        results: list[Result] = [None] * len(entries)
        group: list[int] = []
        total = 0
        for i, entry in enumerate(entries):
            weight = 0 if weigh is None else weigh(entry)
            if len(group) == BATCH or (group and total + weight > MESSAGE_LIMIT):
                self._each_of(group, entries, one, batch, results)
                group, total = [], 0
            group.append(i)
            total += weight
        if group:
            self._each_of(group, entries, one, batch, results)
        return results

    def _each_of(
        self,
        todo: list[int],
        entries: Sequence[T],
        one: Callable[[Any, T], None],
        batch: Callable[[Any, list[tuple[str, T]]], Any],
        results: list[Result],
    ) -> None:
        # Sends the entries numbered *todo*, then tries again those whose failure may pass,
        # until none is left or the retry policy stops; each entry's last failure is its result.

        def attempt() -> list[int]:
            nonlocal todo
            try:
                client = self.client()
                if len(todo) == 1:
                    one(client, entries[todo[0]])
                    failed: dict[int, Failure | None] = {}
                else:
                    answer = batch(client, [(str(n), entries[i]) for n, i in enumerate(todo)])
                    failed = dict(zip(todo, failures_by_id(answer, len(todo)), strict=True))
            except Exception as e:  # noqa: BLE001 - the whole call failed: so did each entry
                failed = dict.fromkeys(todo, failure_from_exception(e))
            for i in todo:
                failure = failed.get(i)
                if failure is not None and lost(failure):
                    failure = attrs.evolve(failure, retryable=False)
                results[i] = failure
            todo = [i for i in todo if (f := results[i]) is not None and f.retryable]
            return todo

        tenacity.Retrying(
            stop=self._retry.stop(),
            wait=self._retry.wait,
            retry=tenacity.retry_if_result(bool),
            retry_error_callback=_last_result,
            sleep=time.sleep,
        )(attempt)


def _last_result(state: tenacity.RetryCallState) -> list[int]:
    outcome = state.outcome
    assert outcome is not None
    result: list[int] = outcome.result()
    return result
