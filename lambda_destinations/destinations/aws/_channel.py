"""Sending entries to one target: batched when many are due at once, retried one by one.

Each adapter sends through a `Channel`. An entry due now joins the channel's pending line; at
the next turn of the event loop everything pending goes out, in batches of up to the
service's limit (``SendMessageBatch``, ``PublishBatch``, ``PutEvents``: 10 entries) while at
most ``max_in_flight`` calls run. A lone entry goes out with the single-entry call
(``SendMessage``, ``Publish``), so a quiet function sends exactly what Lambda sends. Under
load the calls in flight hold the line back and the batches fill up by themselves.

An entry that a batch did not get through (a failed entry of the response, or the whole call
failing) is retried on its own with the single-entry call, with tenacity's backoff, until it
is accepted, its failure turns out permanent, or `DeliveryRetry` says stop.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from collections.abc import Awaitable, Sequence
from typing import Any, Protocol

import tenacity
from attrs import frozen

from lambda_destinations._exceptions import LambdaDestinationsError
from lambda_destinations._telemetry import logger

from ._connection import AwsConnection
from ._errors import AwsDeliveryError, DeliveryRetry, Failure, failure_from_exception

__all__ = ["Channel", "Entry", "Operation"]


@frozen
class Entry:
    """One record or dead letter, as the service's batch API takes an entry (without its Id)."""

    params: dict[str, Any]
    #: Bytes the service counts against its message and batch limits.
    size: int
    #: The invocation's request id, for logs and errors.
    request_id: str


class Operation(Protocol):
    """How one target's calls are made; implemented once per service."""

    @property
    def target_arn(self) -> str: ...

    @property
    def action(self) -> str:
        """The single-entry call, as logs name it: ``"SQS SendMessage"``."""
        ...

    @property
    def max_entries(self) -> int:
        """Entries per batch call; 1 when the service has no batch API."""
        ...

    @property
    def max_batch_bytes(self) -> int:
        """What all entries of one batch may add up to."""
        ...

    def client(self, connection: AwsConnection) -> Any:
        """The boto3 client this target is reached with (called in a worker thread)."""
        ...

    def send_one(self, client: Any, params: dict[str, Any]) -> Failure | None:
        """Send one entry with the single-entry call: its failure, ``None``, or boto3's error."""
        ...

    def send_batch(self, client: Any, entries: Sequence[dict[str, Any]]) -> list[Failure | None]:
        """Send a batch; per entry, its failure or ``None``. Raise when the call failed."""
        ...


class _Refused(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.code)
        self.failure = failure


def _retryable(error: BaseException) -> bool:
    return isinstance(error, _Refused) and error.failure.retryable


class _Lane:
    """A channel's pending entries and calls in flight on one event loop."""

    __slots__ = ("in_flight", "loop", "pending", "scheduled", "tasks")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pending: deque[tuple[Entry, asyncio.Future[Failure | None]]] = deque()
        self.in_flight = 0
        self.scheduled = False
        self.tasks: set[asyncio.Task[None]] = set()


class Channel:
    """Batches, sends and retries the entries of one target (one adapter)."""

    __slots__ = ("_lanes", "batching", "connection", "max_in_flight", "operation", "retry")

    def __init__(
        self,
        operation: Operation,
        connection: AwsConnection,
        retry: DeliveryRetry,
        *,
        batching: bool,
        max_in_flight: int,
    ) -> None:
        self.operation = operation
        self.connection = connection
        self.retry = retry
        self.batching = batching and operation.max_entries > 1
        self.max_in_flight = max_in_flight
        self._lanes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Lane] = (
            weakref.WeakKeyDictionary()
        )

    def submit(self, entry: Entry) -> Awaitable[None]:
        """Queue *entry* now; the awaitable ends when AWS accepted it, or raises why not.

        Raises `AwsDeliveryError` once every attempt failed. Must be called on an event loop
        (the invoker calls destinations on its own).
        """
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            msg = (
                f"{self.operation.action} to {self.operation.target_arn}: send() runs on an "
                "event loop, as the invoker calls it; from sync code, call it inside a "
                "coroutine run with asyncio.run()"
            )
            raise LambdaDestinationsError(msg) from None
        lane = self._lanes.get(loop)
        if lane is None:
            lane = self._lanes[loop] = _Lane(loop)
        first: asyncio.Future[Failure | None] = loop.create_future()
        lane.pending.append((entry, first))
        self._schedule(lane)
        return self._deliver(entry, first)

    async def _deliver(self, entry: Entry, first: asyncio.Future[Failure | None]) -> None:
        retrying = tenacity.AsyncRetrying(
            stop=self.retry.stop(),
            wait=self.retry.wait,
            retry=tenacity.retry_if_exception(_retryable),
            before_sleep=lambda state: self._log_retry(entry, state),
            reraise=True,
        )
        attempts = 0
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    failure = await (first if attempts == 1 else self._single(entry))
                    if failure is not None:
                        raise _Refused(failure)
        except _Refused as refused:
            raise AwsDeliveryError(
                action=self.operation.action,
                target_arn=self.operation.target_arn,
                request_id=entry.request_id,
                failure=refused.failure,
                attempts=attempts,
            ) from None

    def _log_retry(self, entry: Entry, state: tenacity.RetryCallState) -> None:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        if isinstance(error, _Refused):
            logger.info(
                "%s to %s for event %s: attempt %d failed with %s (AWS request id %s); retrying",
                self.operation.action,
                self.operation.target_arn,
                entry.request_id,
                state.attempt_number,
                error.failure.code,
                error.failure.aws_request_id,
            )

    def _schedule(self, lane: _Lane) -> None:
        if not lane.scheduled and lane.in_flight < self.max_in_flight:
            lane.scheduled = True
            lane.loop.call_soon(self._pump, lane)

    def _pump(self, lane: _Lane) -> None:
        lane.scheduled = False
        while lane.in_flight < self.max_in_flight:
            batch = self._take(lane)
            if not batch:
                return
            lane.in_flight += 1
            task = lane.loop.create_task(self._send(lane, batch))
            lane.tasks.add(task)
            task.add_done_callback(lane.tasks.discard)

    def _take(self, lane: _Lane) -> list[tuple[Entry, asyncio.Future[Failure | None]]]:
        limit = self.operation.max_entries if self.batching else 1
        batch: list[tuple[Entry, asyncio.Future[Failure | None]]] = []
        total = 0
        pending = lane.pending
        while pending and len(batch) < limit:
            entry, first = pending[0]
            if first.done():  # cut off by the delivery timeout before it was sent
                pending.popleft()
                continue
            if batch and total + entry.size > self.operation.max_batch_bytes:
                break
            pending.popleft()
            batch.append((entry, first))
            total += entry.size
        return batch

    async def _send(
        self, lane: _Lane, batch: list[tuple[Entry, asyncio.Future[Failure | None]]]
    ) -> None:
        try:
            if len(batch) == 1:
                failures = [await self._single(batch[0][0])]
            else:
                failures = await self._batch([entry for entry, _ in batch])
        finally:
            lane.in_flight -= 1
            if lane.pending:
                self._schedule(lane)
        for (_, first), failure in zip(batch, failures, strict=True):
            if not first.done():
                first.set_result(failure)

    async def _single(self, entry: Entry) -> Failure | None:
        return await self.connection.call(self._call_single, entry.params)

    async def _batch(self, entries: list[Entry]) -> list[Failure | None]:
        return await self.connection.call(self._call_batch, [e.params for e in entries])

    def _call_single(self, params: dict[str, Any]) -> Failure | None:
        # In a worker thread: every error becomes a value, decided on by the loop.
        try:
            return self.operation.send_one(self.operation.client(self.connection), params)
        except Exception as e:  # noqa: BLE001 - whatever boto3 raised is this entry's failure
            return failure_from_exception(e)

    def _call_batch(self, entries: list[dict[str, Any]]) -> list[Failure | None]:
        try:
            return self.operation.send_batch(self.operation.client(self.connection), entries)
        except Exception as e:  # noqa: BLE001 - the whole call failed: so did every entry
            failure = failure_from_exception(e)
            return [failure] * len(entries)
