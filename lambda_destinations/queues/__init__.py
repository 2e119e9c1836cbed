"""Queue backends: where accepted events wait between attempts.

`EventQueue` is the interface; `MemoryQueue` the default, in this process's memory;
`SQLiteQueue` a file that survives crashes and that processes on one machine share. Every
backend stores `EventState` values and leaves every decision to the invoker, so events are
retried, aged and throttled the same way whatever holds them.
"""

from ._memory import MemoryQueue
from ._protocol import Consumer, DueTimes, EventQueue
from ._sqlite import SQLiteQueue
from ._state import QUEUED, RUNNING, WAITING, EventState, State

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
    "State",
]
