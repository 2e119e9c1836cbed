"""Waiting for an invoker's events, and closing it: join(), aclose()'s drain, the report.

An invoker is open, then closing (it refuses new events and drains the accepted ones), then
closed: its workers and deliveries are stopped, and every event that had not ended is logged
at WARNING and returned, never dropped silently. A drain says what it waits for: one INFO line
when it starts, then one WARNING line every `REPORT_EVERY` seconds (events by state, when the
next retry is due). Ctrl-C stops it at once (`_interrupt`).

Sync code reaches the same through `_blocking`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, Final

from ._binding import LoopBinding
from ._clock import Clock
from ._delivery import Deliveries
from ._exceptions import FunctionError, JoinTimeoutError
from ._interrupt import interrupts
from ._pool import WorkerPool
from ._responses import UnfinishedEvent
from ._runner import Completion
from ._runtime import Runtime
from ._settings import Duration, seconds
from ._telemetry import logger
from .queues import QUEUED, RUNNING, WAITING, DueTimes, EventQueue

__all__ = ["CLOSED", "CLOSING", "DRAIN_TIMEOUT", "OPEN", "REPORT_EVERY", "Lifecycle"]

OPEN, CLOSING, CLOSED = "open", "closing", "closed"
#: Seconds between two of a drain's "still closing" lines, on the invoker's clock and in real
#: time both: a person reads them, and on a virtual clock a 3-minute drain takes milliseconds.
REPORT_EVERY: Final = 10.0
#: Real time for pacing those lines (a module global so that a test can stand in for it).
real_seconds: Callable[[], float] = time.monotonic
# Loop turns aclose() gives cancelled tasks to end before it returns.
_WIND_DOWN_TURNS: Final = 3
# Events a log line names one by one; the rest are counted (each also gets a line of its own
# at close, but one line naming 50,000 events helps nobody).
_LISTED: Final = 20


class _DrainTimeout:
    # The default of aclose(timeout=...): its repr is what help() shows.
    def __repr__(self) -> str:
        return "<the invoker's drain_timeout>"


#: ``aclose(timeout=DRAIN_TIMEOUT)``: wait as long as the invoker's ``drain_timeout`` says.
DRAIN_TIMEOUT: Final[Any] = _DrainTimeout()


class Lifecycle:
    """An invoker's open → closing → closed: its joins, its drain, and its final report."""

    __slots__ = (
        "_abandon_reported",
        "_clock",
        "_closing",
        "_completion",
        "_deliveries",
        "_drain_timeout",
        "_pool",
        "_queue",
        "_runtime",
        "binding",
        "function_arn",
        "state",
        "unfinished",
    )

    def __init__(
        self,
        *,
        function_arn: str,
        clock: Clock,
        binding: LoopBinding,
        queue: EventQueue,
        completion: Completion,
        deliveries: Deliveries,
        runtime: Runtime,
        pool: Callable[[], WorkerPool],
        drain_timeout: float | None,
    ) -> None:
        # *pool* is read when needed: the invoker makes a new one on every loop.
        self.function_arn = function_arn
        self._clock = clock
        self.binding = binding
        self._queue = queue
        self._completion = completion
        self._deliveries = deliveries
        self._runtime = runtime
        self._pool = pool
        self._drain_timeout = drain_timeout
        self.state = OPEN
        #: What had not ended when the invoker closed (or its loop shut down under it).
        self.unfinished: tuple[UnfinishedEvent, ...] = ()
        self._closing: asyncio.Future[None] | None = None
        self._abandon_reported = False

    def rebound(self) -> None:
        """The invoker is on a new loop: a loop shutting down under it is news again."""
        self._abandon_reported = False

    def pending_events(self) -> tuple[UnfinishedEvent, ...]:
        """Every accepted event that has not ended yet, and where it is."""
        # A running event's state is as of before its attempt: the attempt counts already.
        running = [
            UnfinishedEvent(s.request_id, s.body, s.attempts + 1, RUNNING)
            for s in self._pool().running.values()
        ]
        waiting = [
            UnfinishedEvent(s.request_id, s.body, s.attempts, where)
            for s, where in self._queue.snapshot()
        ]
        return (*running, *waiting)

    # -- join -----------------------------------------------------------------------------

    async def join(self, timeout: Duration | None, raise_on_error: bool) -> None:
        """`AsyncInvoker.join`."""
        other = self.binding.elsewhere()
        if other is not None:
            work = self.join(timeout, raise_on_error)
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, other))
            return
        limit = None if timeout is None else seconds("timeout", timeout)
        timer = self._clock.timeout(limit)
        try:
            async with timer:
                await self._join(raise_on_error)
            if not raise_on_error:
                # What this join waited through is not news later.
                self._completion.first_error = None
        except TimeoutError:
            if not timer.expired():
                raise
            pending = self.pending_events()
            listed = "; ".join(
                f"{ev.request_id} ({ev.state}, {ev.attempts} attempt(s), payload {ev.payload_json})"
                for ev in pending
            )
            elsewhere = self._elsewhere(len(pending))
            if elsewhere > 0:
                more = (
                    f"{elsewhere} more that the queue counts and this process does not "
                    "hold (another process runs or holds it, or the queue's service "
                    "keeps its message in flight until its lease runs out)"
                )
                listed = f"{listed}; {more}" if listed else more
            message = (
                f"{len(pending)} event(s) of {self.function_arn} still pending after "
                f"{limit:g} s: {listed or 'none (destination deliveries still running)'}"
            )
            raise JoinTimeoutError(message, pending) from None

    async def _join(self, raise_on_error: bool) -> None:
        completion = self._completion
        while self.state != CLOSED:  # once closed, what did not end was reported
            if raise_on_error and completion.first_error is not None:
                request_id, payload = completion.first_error
                completion.first_error = None
                raise FunctionError.from_error_object(request_id, payload)
            if self._queue.pending():
                if not raise_on_error:
                    await completion.all_done.wait()
                    continue
                loop = asyncio.get_running_loop()
                signal = completion.error_signal = loop.create_future()
                everything = asyncio.ensure_future(completion.all_done.wait())
                try:
                    await asyncio.wait((signal, everything), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    everything.cancel()
                    completion.error_signal = None
            elif self._deliveries.tasks:
                await asyncio.wait(tuple(self._deliveries.tasks))
            else:
                return

    # -- close ----------------------------------------------------------------------------

    async def aclose(self, timeout: Duration | None) -> tuple[UnfinishedEvent, ...]:
        """`AsyncInvoker.aclose`."""
        if self.state == CLOSED:
            return self.unfinished
        binding = self.binding
        other = binding.elsewhere()
        if other is not None:
            work = self.aclose(timeout)
            return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, other))
        if self.state == CLOSING and self._closing is not None:
            await asyncio.shield(self._closing)  # another caller is closing: share its report
            return self.unfinished
        if timeout is DRAIN_TIMEOUT:
            limit = self._drain_timeout
        else:
            limit = None if timeout is None else seconds("timeout", timeout)
        self.state = CLOSING
        self._closing = asyncio.get_running_loop().create_future()
        try:
            loop = binding.loop
            if loop is not None and not loop.is_closed():
                await self._drain(limit)
        finally:
            await self._stop()
        return self.unfinished

    def busy(self) -> bool:
        """Whether events or deliveries are still in flight."""
        return bool(self._queue.pending() or self._deliveries.tasks)

    async def _drain(self, limit: float | None) -> None:
        # Wait until every event has ended, *limit* runs out, or Ctrl-C cuts it short.
        if limit == 0 or not self.busy():
            return
        loop = asyncio.get_running_loop()
        started = self._clock.monotonic()
        cut = _Cut(loop)
        waiting = loop.create_task(self.join(None, False))
        with interrupts.cutting(cut) as armed:
            until = _until(limit, armed)
            reporter: asyncio.Task[None] | None = None
            timer = self._clock.timeout(limit)
            try:
                logger.info(
                    "%s: closing; waiting for %s to end, %s",
                    self.function_arn,
                    self._waiting_for(),
                    until,
                )
                reporter = loop.create_task(self._report(started, until))
                async with timer:
                    await asyncio.wait((waiting, cut.future), return_when=asyncio.FIRST_COMPLETED)
            except TimeoutError:
                if not timer.expired():
                    raise
                self._stopped_waiting(f"its drain timeout ({limit:g} s) ran out", started)
            except BaseException as e:
                # Cancelled, or Ctrl-C's KeyboardInterrupt raised right here (asyncio.run's
                # second one): either way the rest is reported now, on the way out.
                if cut.requested:
                    why = "interrupted (Ctrl-C)"
                elif isinstance(e, asyncio.CancelledError):
                    why = "the drain was cancelled"
                else:
                    why = f"stopped by {type(e).__name__}"
                self._stopped_waiting(why, started)
                raise
            else:
                if not waiting.done():
                    self._stopped_waiting("interrupted (Ctrl-C)", started)
            finally:
                if reporter is not None:
                    reporter.cancel()
                waiting.cancel()
        if waiting.done() and not waiting.cancelled():
            waiting.result()  # a fault of ours in join() is not hidden

    def _stopped_waiting(self, why: str, started: float) -> None:
        left = len(self.pending_events())
        said = f"{left} event(s) will not end, each listed below" if left else "no event is left"
        elsewhere = self._elsewhere(left)
        if elsewhere > 0:
            said += f"; {elsewhere} stay in the shared queue for the processes that run it"
        logger.warning(
            "%s: closing; %s after %.0f s: %s",
            self.function_arn,
            why,
            self._clock.monotonic() - started,
            said,
        )

    def _elsewhere(self, held: int) -> int:
        # What a shared queue counts beyond the *held* events of this process: events run or
        # held by another process, or in flight in the queue's service.
        return self._queue.pending() - held

    async def _report(self, started: float, until: str) -> None:
        clock = self._clock
        last = real_seconds()
        while True:
            await clock.sleep(REPORT_EVERY)
            # A second's slack: the loop may wake a timer a hair before the host clock agrees.
            now = real_seconds()
            if now - last < REPORT_EVERY - 1:
                continue
            last = now
            logger.warning(
                "%s: still closing after %.0f s; waiting for %s to end, %s",
                self.function_arn,
                clock.monotonic() - started,
                self._waiting_for(),
                until,
            )

    def _waiting_for(self) -> str:
        events = self.pending_events()
        due_in = self._queue.next_due_in() if isinstance(self._queue, DueTimes) else None
        said = _waiting_for(events, due_in, self._clock)
        # Said of a shared queue's count, or the wait looks stuck.
        elsewhere = self._elsewhere(len(events))
        if elsewhere <= 0:
            return said
        more = (
            f"{elsewhere} event(s) or outcome(s) in the shared queue, held or run by other "
            "processes (drain_timeout=0, or aclose(timeout=0), closes without waiting for them)"
        )
        return more if not events else f"{said} and {more}"

    async def _stop(self) -> None:
        self.unfinished = self.pending_events()
        pool, deliveries = self._pool(), self._deliveries
        tasks = [*pool.workers, *deliveries.tasks]
        pool.cancel()
        deliveries.cancel()
        self._queue.stop()
        self._runtime.shutdown()
        self.state = CLOSED
        self._completion.all_done.set()
        for ev in self.unfinished:
            logger.warning(
                "%s closed before event %s ended (%s after %d attempt(s)); payload: %s",
                self.function_arn,
                ev.request_id,
                ev.state,
                ev.attempts,
                ev.payload_json,
            )
        # A few turns let the cancelled tasks wind down; a handler that ignores its
        # cancellation is left behind rather than holding aclose() forever.
        for _ in range(_WIND_DOWN_TURNS):
            if all(task.done() for task in tasks):
                break
            await asyncio.sleep(0)
        if self._closing is not None and not self._closing.done():
            self._closing.set_result(None)

    def abandoned(self) -> None:
        """Our tasks are cancelled while the invoker is open: its loop is shutting down.

        That is ``asyncio.run`` returning without ``aclose()``: say which accepted events will
        never end.
        """
        if self.state != OPEN or self._abandon_reported:
            return
        self._abandon_reported = True
        self.unfinished = pending = self.pending_events()
        if pending:
            logger.error(
                "%s: its event loop is shutting down without aclose(); %d accepted event(s) "
                "will not end: %s. Use 'async with AsyncInvoker(...)' or await aclose().",
                self.function_arn,
                len(pending),
                _listed(pending),
            )


class _Cut:
    """Ctrl-C's way into one drain: called from any thread, it wakes the drain on its loop."""

    __slots__ = ("future", "requested")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.future: asyncio.Future[None] = loop.create_future()
        #: Set at once, even before the drain's loop runs again.
        self.requested = False

    def __call__(self) -> None:
        self.requested = True
        with contextlib.suppress(RuntimeError):  # its loop closed: that drain is over anyway
            self.future.get_loop().call_soon_threadsafe(_resolve, self.future)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _until(limit: float | None, armed: bool) -> str:
    bound = (
        "with no time limit (drain_timeout=None)" if limit is None else f"for at most {limit:g} s"
    )
    return f"{bound}; Ctrl-C stops waiting and reports them" if armed else bound


_ORDER: Final = (RUNNING, QUEUED, WAITING)


def _waiting_for(events: Sequence[UnfinishedEvent], due_in: float | None, clock: Clock) -> str:
    counts = Counter(ev.state for ev in events)
    states = ", ".join(f"{counts[state]} {state}" for state in _ORDER if counts[state])
    if due_in is not None:
        at = clock.now() + timedelta(seconds=due_in)
        states += f"; next retry due in {due_in:.0f} s, at {at:%H:%M:%S} UTC"
    if not events:
        return "the destination deliveries in progress"
    return f"{len(events)} event(s) ({states})"


def _listed(events: Sequence[UnfinishedEvent]) -> str:
    named = "; ".join(f"{ev.request_id} ({ev.state}) {ev.payload_json}" for ev in events[:_LISTED])
    more = len(events) - _LISTED
    return f"{named}; and {more} more" if more > 0 else named
