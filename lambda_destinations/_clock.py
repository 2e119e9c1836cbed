"""The one source of time for the library: timestamps, ages, deadlines and waits.

Everything time-related goes through a ``Clock`` so that ``lambda_destinations.testing`` can swap
in a virtual clock and run a six-hour schedule in milliseconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol, runtime_checkable

__all__ = ["Clock", "SystemClock", "monotonic_time", "record_time", "wall_time"]


@runtime_checkable
class Clock(Protocol):
    """What the invoker needs from time.

    ``monotonic()`` measures ages and deadlines; ``now()`` stamps records; ``sleep()`` and
    ``timeout()`` are every wait the library makes.
    """

    def now(self) -> datetime:
        """Current UTC wall-clock time, timezone-aware."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait *seconds* on this clock."""
        ...

    def timeout(self, seconds: float | None) -> asyncio.Timeout:
        """Cancel the enclosed block after *seconds* on this clock, raising ``TimeoutError``."""
        ...


class SystemClock:
    """Real time: the event loop's monotonic clock and the system's wall clock."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "SystemClock()"

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def timeout(self, seconds: float | None) -> asyncio.Timeout:
        return asyncio.timeout(seconds)


def wall_time(clock: Clock) -> Callable[[], float]:
    """Epoch seconds on *clock*: what an event's age is measured in, in any process."""
    if type(clock) is SystemClock:
        return time.time
    return lambda: clock.now().timestamp()


def monotonic_time(clock: Clock) -> Callable[[], float]:
    """*clock*'s monotonic time as a plain function: ``time.monotonic`` itself on real time."""
    if type(clock) is SystemClock:
        return time.monotonic
    return clock.monotonic


def record_time(clock: Clock) -> Callable[[], datetime]:
    """Now on *clock*: what an execution record is stamped with (the record keeps milliseconds).

    On real time, floored to the millisecond here, and every record of one millisecond shares
    one ``datetime``, built once: stamping is on the success path of every event. Any other
    clock's ``now`` is used as it is.
    """
    if type(clock) is SystemClock:
        return _MillisecondStamps().now
    return clock.now


class _MillisecondStamps:
    __slots__ = ("_last",)

    def __init__(self) -> None:
        # (the millisecond since the epoch, its datetime): one value, never torn in two.
        self._last = (-1, _EPOCH)

    def now(self) -> datetime:
        # Whole nanoseconds, floored as datetime.now() floors them: the same millisecond.
        millisecond = time.time_ns() // 1_000_000
        last = self._last
        if last[0] == millisecond:
            return last[1]
        moment = _EPOCH + timedelta(milliseconds=millisecond)
        self._last = (millisecond, moment)
        return moment


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
