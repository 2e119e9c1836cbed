"""`SQLiteQueue`: the `EventQueue` protocol on a SQLite file, as the event loop sees it.

The queue's methods only gather what is asked of it into the batch of the next transaction
and answer from what the loop knows of the file; the `Pump` runs the transactions, and the
`Writer` thread does the SQLite work.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import math
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from lambda_destinations._clock import Clock, wall_time
from lambda_destinations._dead_letter import DeadLetterMessage
from lambda_destinations._exceptions import InvokeError
from lambda_destinations._records import ExecutionRecord
from lambda_destinations._telemetry import logger
from lambda_destinations.queues._protocol import Consumer
from lambda_destinations.queues._state import QUEUED, WAITING, EventState, State

from ._batch import Batch
from ._file_view import FileView
from ._held import Leases, OutboxIds
from ._options import check_positive, check_sqlite, checked_path, checked_synchronous
from ._pump import Pump
from ._rounds import Batches, Round
from ._schema import Synchronous
from ._waits import RetryWaits
from ._writer import Writer

__all__ = ["SQLiteQueue"]


class SQLiteQueue:
    """Accepted events in the SQLite file at *path*: they survive crashes, processes share them.

    *synchronous* is SQLite's durability setting: ``"NORMAL"`` (the default) survives a crash
    or kill of the process; ``"FULL"`` also survives the machine losing power, at the cost of
    a disk flush per commit (figures in docs/queues.md). *lease_seconds* overrides how long a
    process holds an event it runs (default: what the invoker asks, the function's timeout
    plus 30 s); an event held by a process that died runs again after that long.
    *poll_interval* is how often an idle process looks for events other processes added.
    With ``consume=False`` the process only adds events (a web front end): worker processes
    run them.

    ``pending`` counts the unfinished events of the whole file (and outcomes another process
    left undelivered), so ``join()`` waits until the file is drained; ``pending_events()``
    lists only what this process holds or scheduled.
    """

    __slots__ = (
        "_batches",
        "_clock",
        "_consume",
        "_file",
        "_lease_override",
        "_leases",
        "_loop",
        "_outbox_ids",
        "_path",
        "_poll_interval",
        "_pump",
        "_synchronous",
        "_waits",
        "_wall",
        "_writer",
    )

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Synchronous = "NORMAL",
        lease_seconds: float | None = None,
        poll_interval: float = 0.1,
        consume: bool = True,
    ) -> None:
        check_sqlite()
        self._path = checked_path(path)
        self._synchronous: Synchronous = checked_synchronous(synchronous)
        if lease_seconds is not None:
            check_positive("lease_seconds", lease_seconds)
        check_positive("poll_interval", poll_interval)
        self._lease_override = lease_seconds
        self._poll_interval = float(poll_interval)
        self._consume = bool(consume)
        # Set by start(): the writer thread and the pump run from start() to stop().
        self._writer: Writer | None = None
        self._pump: Pump | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._clock: Clock | None = None
        self._wall: Callable[[], float] = time.time
        self._batches = Batches()
        self._file = FileView()
        self._leases = Leases()
        self._outbox_ids = OutboxIds()
        self._waits = RetryWaits()

    def __repr__(self) -> str:
        return (
            f"<SQLiteQueue {str(self._path)!r} synchronous={self._synchronous}, "
            f"{self.pending()} pending>"
        )

    @property
    def path(self) -> Path:
        """The queue file."""
        return self._path

    @property
    def synchronous(self) -> Synchronous:
        """The durability setting: ``"NORMAL"`` or ``"FULL"``."""
        return self._synchronous

    # -- the EventQueue protocol -------------------------------------------------------------

    def start(self, consumer: Consumer, clock: Clock, lease_seconds: float) -> None:
        self.stop()
        self._loop = asyncio.get_running_loop()
        self._clock = clock
        self._wall = wall_time(clock)
        lease = self._lease_override if self._lease_override is not None else lease_seconds
        self._leases.start(lease, consumer.capacity())
        self._file.restart()
        self._waits.reset()
        # What an earlier start kept to deliver is the outbox's again, for whoever claims it.
        self._outbox_ids.clear()
        self._writer = writer = Writer(self._path, self._synchronous)
        self._pump = Pump(
            self,
            writer,
            consumer,
            clock,
            self._wall,
            batches=self._batches,
            file=self._file,
            leases=self._leases,
            outbox_ids=self._outbox_ids,
            waits=self._waits,
            consume=self._consume,
            poll_interval=self._poll_interval,
            lease_seconds=lease,
        )
        # Until the first look at the file, pending() cannot say it is empty.
        consumer.pending_changed()

    def put(self, state: EventState, /) -> Round:
        batch, round_ = self._filling()
        batch.puts.append(state)
        self._file.unstored += 1
        self._kick()
        return round_

    def take(self) -> EventState | None:
        leases = self._leases
        if leases.has_ahead():
            now = self._wall()
            state = leases.take_ahead(now, self._give_back)
            if state is not None:
                if leases.running_low() and self._file.due_at <= now:
                    self._kick()
                return state
        if self._file.due_at <= self._wall():
            self._kick()
        return None

    def reschedule(self, state: EventState, delay: float, /) -> asyncio.Future[None] | None:
        lease = self._leases.pop(state.request_id)
        if lease is None or self._writer is None:
            self._not_held(state, "retry")
            return None
        batch, round_ = self._filling()
        delay = max(0.0, delay)
        due = self._wall() + delay
        batch.reschedules.append((lease[0], lease[1], state, due))
        self._file.due_at = min(self._file.due_at, due)
        clock = self._clock
        assert clock is not None
        self._waits.add(state, clock.monotonic() + delay, due)
        self._kick()
        return round_.done

    def finish(
        self,
        state: EventState,
        record: ExecutionRecord,
        dead_letter: DeadLetterMessage | None,
        /,
    ) -> asyncio.Future[bool] | bool:
        lease = self._leases.pop(state.request_id)
        if lease is None or self._writer is None:
            self._not_held(state, "outcome")
            return False
        batch, round_ = self._filling()
        batch.finishes.append((lease[0], lease[1], state, record, dead_letter))
        self._kick()
        stored = self._own_loop().create_future()
        round_.finished.append((stored, state.request_id))
        return stored

    def delivered(self, request_id: str, target: str, /) -> None:
        outbox_id = self._outbox_ids.pop(request_id, target)
        if outbox_id is None or self._writer is None:
            return  # not kept here, or stopped: the outbox delivers it again later
        batch, _ = self._filling()
        batch.delivered.append(outbox_id)
        self._kick()

    def pending(self) -> int:
        return self._file.pending()

    def snapshot(self) -> Iterable[tuple[EventState, State]]:
        listed: list[tuple[EventState, State]] = [(s, QUEUED) for s in self._batches.unstored()]
        listed += [(s, QUEUED) for s in self._leases.ahead()]
        if self._waits and self._clock is not None:
            listed += [(s, WAITING) for s in self._waits.waiting(self._clock.monotonic())]
        return listed

    def stop(self) -> None:
        pump, self._pump = self._pump, None
        if pump is not None:
            pump.cancel()
        writer, self._writer = self._writer, None
        if writer is None:
            return
        final, rounds = self._last_batch()
        writer.close(final, lambda done: self._after_close(done, rounds))
        self._file.unstored = 0

    # -- gathering the next transaction ---------------------------------------------------------

    def _filling(self) -> tuple[Batch, Round]:
        # The batch the next transaction stores, and the round its callers await.
        filling = self._batches.filling
        if filling is not None:
            return filling
        if self._loop is None or self._writer is None:
            msg = f"{self!r} is not started: an invoker starts it when it binds to its loop"
            raise InvokeError(msg)
        return self._batches.open(self._loop)

    def _kick(self) -> None:
        pump = self._pump
        if pump is not None:
            pump.kick()

    def _give_back(self, lease: tuple[int, int]) -> None:
        # Leased ahead too long ago to run now: given back, due at once for any process.
        batch, _ = self._filling()
        batch.releases.append(lease)
        self._file.due_at = -math.inf

    def _own_loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        assert loop is not None
        return loop

    def _not_held(self, state: EventState, what: str) -> None:
        logger.warning(
            "%r: event %s is not leased here (the queue stopped, or its lease was given "
            "back); its %s is not stored here, and the event runs again wherever it is due",
            self,
            state.request_id,
            what,
        )

    # -- stopping ---------------------------------------------------------------------------------

    def _last_batch(self) -> tuple[Batch, list[Round]]:
        # What is left to store when the queue stops, and the rounds still awaited. Events
        # leased ahead are given back, and so are the leases of attempts the close cut off
        # (the store knows those); deliveries it cut off go back to the outbox for whoever
        # starts next.
        final, rounds = self._batches.last()
        final.now = self._wall()
        final.releases.extend(self._leases.give_back())
        final.unclaims.extend(self._outbox_ids.give_back())
        return final, rounds

    def _after_close(self, closing: concurrent.futures.Future[None], rounds: list[Round]) -> None:
        # In the writer thread, after the last batch: wake whoever still awaits a round.
        error = closing.exception()
        if error is not None:
            logger.error("%r: storing the last batch failed: %r", self, error)
        loop = self._loop
        if loop is None or not rounds:
            return

        def settle() -> None:
            for round_ in rounds:
                failed = error if round_.outcome is None else round_.outcome
                if isinstance(failed, BaseException):
                    msg = f"{self!r} could not store the event: {failed!r}"
                    round_.error = InvokeError(msg)
                round_.settle()

        # A closed loop has nobody left to wake.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle)
