"""A virtual clock that makes the event loop's time virtual and skips idle waits.

Attached to a running asyncio selector loop, it replaces the loop's ``time()`` and wraps its
selector: whenever the loop would block waiting for a timer, and no thread started through
``run_in_executor`` is busy, virtual time jumps straight to that timer. Every timer-based wait
in the loop is therefore virtual: the invoker's retry waits and timeouts, and a handler's own
``asyncio.sleep`` or ``asyncio.timeout``. While a thread is busy (a sync handler), time stands
still unless a timer falls due after as long in real time, so the handler's timeout still fires.

Timers already scheduled when the clock attaches (or detaches) keep the delay they had left:
their deadlines move from one time line to the other.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import selectors
import weakref
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final

__all__ = ["VirtualClock"]

_ATTR = "_lambda_destinations_virtual_clock"
_MISSING: Final = object()
# How often detach() checks that a loop in another thread still runs while it waits for it.
_DETACH_POLL: Final = 0.1


class VirtualClock:
    """A `Clock` on virtual time that advances by itself whenever all work waits on time.

    Pass it as ``clock=`` to every invoker of a test. *start* is the wall-clock time that
    record timestamps begin at (default: the real time when the clock is made). It drives the
    loop it is first used on until `detach` gives the loop its real time back.
    """

    def __init__(self, start: datetime | None = None) -> None:
        if start is None:
            start = datetime.now(UTC)
        elif start.tzinfo is None:
            msg = f"start={start!r} must be timezone-aware, e.g. datetime(..., tzinfo=UTC)"
            raise ValueError(msg)
        self._start = start.astimezone(UTC)
        # Virtual time starts at zero so that whole seconds stay exact in floating point.
        self._now = 0.0
        self._threads = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loops: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()

    def __repr__(self) -> str:
        return f"VirtualClock(now={self.now().isoformat()!r}, elapsed={self.elapsed:g} s)"

    @property
    def elapsed(self) -> float:
        """Virtual seconds since the clock was made."""
        return self._now

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._now)

    def monotonic(self) -> float:
        self._attach_to_running_loop()
        return self._now

    async def sleep(self, seconds: float) -> None:
        self._attach_to_running_loop()
        await asyncio.sleep(seconds)

    def timeout(self, seconds: float | None) -> asyncio.Timeout:
        self._attach_to_running_loop()
        return asyncio.timeout(seconds)

    def advance(self, seconds: float) -> None:
        """Move virtual time forward by hand; timers now due fire at the loop's next turn."""
        if seconds < 0:
            msg = f"a clock cannot go back: advance({seconds!r})"
            raise ValueError(msg)
        self._now += seconds

    # -- driving the loop -------------------------------------------------------------------

    def _attach_to_running_loop(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if loop is not self._loop:
            self.attach(loop)

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Make *loop*'s time this clock's time. Done for you on the clock's first use.

        Timers the loop already holds keep the delay they had left, now in virtual seconds:
        an ``asyncio.timeout(5)`` entered before still expires 5 s after it was entered.
        """
        owner = getattr(loop, _ATTR, None)
        if owner is not None and owner.clock is self:
            self._loop = loop
            return
        if owner is not None:
            msg = (
                "another VirtualClock already drives this event loop: give every invoker of "
                "a test the same clock, or detach() the other clock first"
            )
            raise RuntimeError(msg)
        selector = getattr(loop, "_selector", None)
        if not isinstance(selector, selectors.BaseSelector):
            msg = (
                f"VirtualClock needs asyncio's selector event loop, not {type(loop).__name__} "
                "(uvloop and the Windows proactor loop are not supported)"
            )
            raise RuntimeError(msg)
        real_select = selector.select
        real_run_in_executor = loop.run_in_executor

        def select(timeout: float | None = None) -> list[Any]:
            if timeout is not None and timeout <= 0:
                return real_select(timeout)
            ready = real_select(0)
            if ready:
                return ready
            if self._threads:
                # A handler is running in a thread. Time stands still while it works, but a
                # timer due meanwhile (its timeout) fires after as long in real time.
                ready = real_select(timeout)
                if not ready and timeout is not None:
                    self._now += timeout
                return ready
            if timeout is None:
                return real_select(None)  # no timer at all: the loop really waits for I/O
            self._now += timeout
            return []

        def run_in_executor(executor: Any, func: Callable[..., Any], *args: Any) -> Any:
            future = real_run_in_executor(executor, func, *args)
            self._threads += 1
            future.add_done_callback(self._thread_done)
            return future

        # The loop and its selector are plain Python objects; their methods are looked up
        # per call, so instance attributes take over for this loop alone. What was there
        # before is kept, for detach() to put back.
        attachment = _Attachment(
            self, ((selector, "select"), (loop, "time"), (loop, "run_in_executor"))
        )
        _shift_timers(loop, self._now - loop.time())
        selector.select = select  # type: ignore[method-assign]
        loop.time = self._loop_time  # type: ignore[method-assign]
        loop.run_in_executor = run_in_executor  # type: ignore[method-assign, assignment]
        setattr(loop, _ATTR, attachment)
        self._loop = loop
        self._loops.add(loop)

    def detach(self) -> None:
        """Give every loop this clock drives its real time back; the clock can attach again.

        Timers still pending keep the delay they had left, now in real seconds. A loop running
        in another thread (the background loop of sync code) is restored from its own thread.
        The pytest fixtures do this when a test ends, so the next test's clock can drive the
        same loop.
        """
        for loop in list(self._loops):
            if loop.is_closed():
                continue
            if loop.is_running() and not _runs_here(loop):
                _call_in_loop_thread(loop, functools.partial(self._release, loop))
            else:
                self._release(loop)
        self._loops.clear()
        self._loop = None

    def _release(self, loop: asyncio.AbstractEventLoop) -> None:
        attachment = getattr(loop, _ATTR, None)
        if attachment is None or attachment.clock is not self:
            return
        attachment.restore()
        delattr(loop, _ATTR)
        _shift_timers(loop, loop.time() - self._now)

    def _loop_time(self) -> float:
        return self._now

    def _thread_done(self, _: object) -> None:
        self._threads -= 1


class _Attachment:
    """Which clock drives a loop, and the attributes it replaced there, to put back."""

    __slots__ = ("clock", "saved")

    def __init__(self, clock: VirtualClock, replaced: tuple[tuple[object, str], ...]) -> None:
        self.clock = clock
        self.saved = tuple((obj, name, vars(obj).get(name, _MISSING)) for obj, name in replaced)

    def restore(self) -> None:
        for obj, name, value in self.saved:
            if value is _MISSING:
                vars(obj).pop(name, None)  # the class's own method shows through again
            else:
                setattr(obj, name, value)


def _shift_timers(loop: asyncio.AbstractEventLoop, by: float) -> None:
    # Moving every deadline by the same amount keeps the heap's order, so it stays a heap.
    # An asyncio.timeout() holds its deadline too, which when() reports: it moves along.
    for handle in getattr(loop, "_scheduled", ()):
        old = handle.when()
        handle._when = old + by
        owner = getattr(handle._callback, "__self__", None)
        if isinstance(owner, asyncio.Timeout) and owner.when() == old:
            owner._when = old + by  # type: ignore[attr-defined]


def _runs_here(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def _call_in_loop_thread(loop: asyncio.AbstractEventLoop, fn: Callable[[], None]) -> None:
    # Patching a loop while its thread is inside select() would race with it.
    done: concurrent.futures.Future[None] = concurrent.futures.Future()

    def run() -> None:
        if not done.set_running_or_notify_cancel():
            return
        try:
            fn()
        except BaseException as e:  # noqa: BLE001 - handed back to the waiting thread
            done.set_exception(e)
        else:
            done.set_result(None)

    loop.call_soon_threadsafe(run)
    while True:
        try:
            done.result(timeout=_DETACH_POLL)
        except TimeoutError:
            if not loop.is_running() and done.cancel():
                fn()  # the loop stopped first: nothing runs it any more, do it from here
                return
        else:
            return
