"""Where records and dead letters go: the protocols and the destinations that ship.

A destination is anything with a ``send(record)`` method, or a plain function or coroutine
function taking the record. ``send`` may return an awaitable; the invoker then awaits it in a
task of its own, bounded by its delivery timeout, so a slow destination never holds up an event.
Destinations on real AWS services are in ``lambda_destinations.destinations.aws``.
"""

from ._local import (
    InMemoryDeadLetterQueue,
    InMemoryDestination,
    InvocationTarget,
    InvokerDestination,
    JsonLinesDestination,
    LambdaFunctionLike,
)
from ._protocols import DeadLetterQueue, DeadLetterQueueLike, Destination, DestinationLike

__all__ = [
    "DeadLetterQueue",
    "DeadLetterQueueLike",
    "Destination",
    "DestinationLike",
    "InMemoryDeadLetterQueue",
    "InMemoryDestination",
    "InvocationTarget",
    "InvokerDestination",
    "JsonLinesDestination",
    "LambdaFunctionLike",
]
