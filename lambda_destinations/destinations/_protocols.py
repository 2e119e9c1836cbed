"""What a destination and a dead-letter queue are.

A destination is anything with a ``send(record)`` method, or a plain function or coroutine
function taking the record. ``send`` may return an awaitable; the invoker then awaits it in a
task of its own, bounded by its delivery timeout, so a slow destination never holds up an event.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeAlias, runtime_checkable

from lambda_destinations._dead_letter import DeadLetterMessage
from lambda_destinations._records import ExecutionRecord

from ._local import LambdaFunctionLike

__all__ = [
    "DeadLetterQueue",
    "DeadLetterQueueLike",
    "Destination",
    "DestinationLike",
]


@runtime_checkable
class Destination(Protocol):
    """Receives the `ExecutionRecord` of each event that ends (on success or on failure)."""

    def send(self, record: ExecutionRecord, /) -> Awaitable[None] | None:
        """Deliver *record*; raise to report a failed delivery."""
        ...


@runtime_checkable
class DeadLetterQueue(Protocol):
    """Receives a `DeadLetterMessage` for each event that finally fails."""

    def send(self, message: DeadLetterMessage, /) -> Awaitable[None] | None:
        """Deliver *message*; raise to report a failed send."""
        ...


#: What ``on_success=`` / ``on_failure=`` accept: an invoker or ``@async_invoke`` function is
#: a Lambda function destination.
DestinationLike: TypeAlias = (
    Destination | LambdaFunctionLike | Callable[[ExecutionRecord], Awaitable[None] | None]
)
#: What ``dead_letter_queue=`` accepts.
DeadLetterQueueLike: TypeAlias = (
    DeadLetterQueue | Callable[[DeadLetterMessage], Awaitable[None] | None]
)
