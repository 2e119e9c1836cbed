"""Queue backends: where accepted events wait between attempts.

`EventQueue` is the interface; `MemoryQueue` the default, in this process's memory;
`SQLiteQueue` a file that survives crashes and that processes on one machine share;
`SQSQueue` (in ``lambda_destinations.queues.sqs``, with the ``aws`` extra) an Amazon SQS
queue that processes on many machines share. Every backend stores `EventState` values and
leaves every decision to the invoker, so events are retried, aged and throttled the same way
whatever holds them.
"""

from typing import TYPE_CHECKING, Any

from ._memory import MemoryQueue
from ._protocol import Consumer, DueTimes, EventQueue
from ._sqlite import SQLiteQueue
from ._state import QUEUED, RUNNING, WAITING, EventState, State

if TYPE_CHECKING:
    from .sqs import SQSQueue

__all__ = [
    "QUEUED",
    "RUNNING",
    "WAITING",
    "Consumer",
    "DueTimes",
    "EventQueue",
    "EventState",
    "MemoryQueue",
    "SQLiteQueue",
    "SQSQueue",
    "State",
]


def __getattr__(name: str) -> Any:
    # SQSQueue on first use only: its module belongs to the optional AWS support.
    if name == "SQSQueue":
        from .sqs import SQSQueue

        return SQSQueue
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
