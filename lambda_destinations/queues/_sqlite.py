"""A durable queue backend: accepted events in a SQLite file, shared by processes on one machine.

Events survive a crash or ``kill -9`` of any process using the file: an invoker started on it
resumes them, and any number of processes on the machine share the work. The event loop never
touches SQLite: what it asks of the queue is gathered into batches, and one writer thread
commits each batch in one transaction (group commit), then hands back what it leased. See
docs/queues.md for the guarantees.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import math
import os
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable

# Imported now, not on first use: importing it registers the interpreter-exit hook that stops
# its threads, and that hook must run after the background loop's drain (exit hooks run last
# registered first), or a script's last events could not be committed at exit.
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final, get_args

from lambda_destinations._clock import Clock, wall_time
from lambda_destinations._dead_letter import DeadLetterMessage
from lambda_destinations._exceptions import (
    ConfigurationError,
    InvokeError,
    LambdaDestinationsError,
)
from lambda_destinations._records import ExecutionRecord
from lambda_destinations._telemetry import logger

from ._protocol import Consumer
from ._sqlite_store import MINIMUM_SQLITE, Batch, Outcome, Store, Synchronous
from ._sqlite_waits import SLACK, RetryWaits
from ._state import QUEUED, WAITING, EventState, State

__all__ = ["SQLiteQueue"]

# Events leased ahead of need, for take() to serve without waiting: at least as many as the
# consumer can run at once, within these bounds...
_AHEAD_MIN: Final = 32
_AHEAD_MIN_MAX: Final = 256
# ...and under load as many as the last transaction ended, up to this: workers then run one
# batch while the writer commits the one before.
_AHEAD_MAX: Final = 4096
# An event leased ahead is run only within this part of its lease (at most 5 s), so what is
# left of the lease still covers the function's timeout.
_AHEAD_SHARE: Final = 0.1
_AHEAD_GRACE_MAX: Final = 5.0
# Waits after a failed transaction, doubling from the poll interval up to this.
_FAILURE_BACKOFF_MAX: Final = 10.0


class _Round:
    """One transaction as the loop sees it: awaited by whoever gave it something to store.

    Awaiting the round itself (what ``put`` returns) raises if the transaction failed;
    ``done`` (what ``reschedule`` returns) never does. Each finish gets a future of its own,
    ``True`` once its end is stored and ``False`` if its lease was lost.
    """

    __slots__ = ("done", "error", "finished", "outcome")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.done: asyncio.Future[None] = loop.create_future()
        #: Set when the transaction failed: what ``await invoke()`` raises.
        self.error: LambdaDestinationsError | None = None
        #: (future, request id) of each finish in the round.
        self.finished: list[tuple[asyncio.Future[bool], str]] = []
        #: Written by the writer thread, for a round that stop() settles.
        self.outcome: Outcome | BaseException | None = None

    def __await__(self) -> Generator[object, None, None]:
        yield from self.done.__await__()
        error = self.error
        if error is not None:
            raise type(error)(str(error)) from error

    def settle(self, lost: set[str] | None = None) -> None:
        """Wake the waiters; finishes named in *lost* answer ``False``.

        With *lost* ``None`` the round was not stored here (it failed, or the queue stopped):
        each finish is cancelled, and the outbox or an expired lease takes it from there.
        """
        for future, request_id in self.finished:
            if future.done():
                continue
            if lost is None:
                future.cancel()
            else:
                future.set_result(request_id not in lost)
        if not self.done.done():
            self.done.set_result(None)


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
        "_ahead",
        "_ahead_min",
        "_ahead_target",
        "_batch",
        "_clock",
        "_consume",
        "_consumer",
        "_due_at",
        "_events",
        "_executor",
        "_failures",
        "_grace",
        "_inflight",
        "_known",
        "_lease_override",
        "_lease_seconds",
        "_leases",
        "_loop",
        "_next_look",
        "_ours",
        "_outbox",
        "_outbox_due",
        "_outbox_ids",
        "_path",
        "_poll_interval",
        "_pump",
        "_round",
        "_store",
        "_synchronous",
        "_unstored",
        "_waits",
        "_wake",
        "_wall",
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
        if sqlite3.sqlite_version_info < MINIMUM_SQLITE:
            msg = (
                f"SQLiteQueue needs SQLite {'.'.join(map(str, MINIMUM_SQLITE))} or newer; this "
                f"Python uses {sqlite3.sqlite_version}: use a Python built with a newer SQLite"
            )
            raise ConfigurationError(msg)
        self._path = _checked_path(path)
        if synchronous not in get_args(Synchronous):
            msg = (
                f"synchronous={synchronous!r} is not a durability SQLiteQueue offers: pass "
                "'NORMAL' (survives a process crash) or 'FULL' (also survives power loss)"
            )
            raise ConfigurationError(msg)
        self._synchronous: Synchronous = synchronous
        if lease_seconds is not None:
            _check_positive("lease_seconds", lease_seconds)
        _check_positive("poll_interval", poll_interval)
        self._lease_override = lease_seconds
        self._poll_interval = float(poll_interval)
        self._consume = bool(consume)
        self._store = Store(self._path, synchronous)
        self._executor: ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._consumer: Consumer | None = None
        self._clock: Clock | None = None
        self._wall: Callable[[], float] = time.time
        self._pump: asyncio.Task[None] | None = None
        self._wake: asyncio.Future[None] | None = None
        self._lease_seconds = 0.0
        self._grace = 0.0
        self._ahead_min = self._ahead_target = _AHEAD_MIN
        # What the next transaction will store, and the round its callers await.
        self._batch: Batch | None = None
        self._round: _Round | None = None
        self._inflight: tuple[Batch, _Round] | None = None
        # Leased here: request id → (seq, lease token).
        self._leases: dict[str, tuple[int, int]] = {}
        # Leased ahead, not offered: (state, when leased).
        self._ahead: deque[tuple[EventState, float]] = deque()
        # Outbox items stored or claimed here: (request id, target) → outbox id.
        self._outbox_ids: dict[tuple[str, str], int] = {}
        self._waits = RetryWaits()
        # The file as of the last transaction: unfinished events, outbox items, and how many
        # of those items this process stored or claimed and has not removed.
        self._known = False
        self._events = 0
        self._outbox = 0
        self._ours = 0
        self._unstored = 0
        self._due_at = -math.inf
        self._outbox_due = -math.inf
        self._next_look = -math.inf
        self._failures = 0

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
        loop = asyncio.get_running_loop()
        # A store (and connection) per start: the last one may still be closing in its thread.
        self._store = Store(self._path, self._synchronous)
        self._loop = loop
        self._consumer = consumer
        self._clock = clock
        self._wall = wall_time(clock)
        lease = self._lease_override if self._lease_override is not None else lease_seconds
        self._lease_seconds = lease
        self._grace = min(_AHEAD_GRACE_MAX, lease * _AHEAD_SHARE)
        self._ahead_min = min(_AHEAD_MIN_MAX, max(_AHEAD_MIN, consumer.capacity()))
        self._ahead_target = self._ahead_min
        self._known = False
        self._due_at = self._outbox_due = self._next_look = -math.inf
        self._waits.reset()
        self._failures = 0
        # What an earlier start kept to deliver is the outbox's again, for whoever claims it.
        self._ours = 0
        self._outbox_ids.clear()
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="lambda_destinations-sqlite"
        )
        self._pump = loop.create_task(self._run())
        # Until the first look at the file, pending() cannot say it is empty.
        consumer.pending_changed()

    def put(self, state: EventState, /) -> _Round:
        batch = self._batch
        if batch is None:
            batch = self._open_batch()
        batch.puts.append(state)
        self._unstored += 1
        self._kick()
        round_ = self._round
        assert round_ is not None
        return round_

    def take(self) -> EventState | None:
        ahead = self._ahead
        if ahead:
            now = self._wall()
            while ahead:
                state, leased_at = ahead.popleft()
                if now - leased_at <= self._grace:
                    if len(ahead) < self._ahead_target // 2 and self._due_at <= now:
                        self._kick()
                    return state
                self._release(state)
        if self._due_at <= self._wall():
            self._kick()
        return None

    def reschedule(self, state: EventState, delay: float, /) -> asyncio.Future[None] | None:
        lease = self._leases.pop(state.request_id, None)
        if lease is None or self._executor is None:
            self._not_held(state, "retry")
            return None
        batch = self._batch
        if batch is None:
            batch = self._open_batch()
        delay = max(0.0, delay)
        due = self._wall() + delay
        batch.reschedules.append((lease[0], lease[1], state, due))
        self._due_at = min(self._due_at, due)
        clock = self._clock
        assert clock is not None
        self._waits.add(state, clock.monotonic() + delay, due)
        self._kick()
        round_ = self._round
        assert round_ is not None
        return round_.done

    def finish(
        self,
        state: EventState,
        record: ExecutionRecord,
        dead_letter: DeadLetterMessage | None,
        /,
    ) -> asyncio.Future[bool] | bool:
        lease = self._leases.pop(state.request_id, None)
        if lease is None or self._executor is None:
            self._not_held(state, "outcome")
            return False
        batch = self._batch
        if batch is None:
            batch = self._open_batch()
        batch.finishes.append((lease[0], lease[1], state, record, dead_letter))
        self._kick()
        round_ = self._round
        assert round_ is not None
        stored = self._own_loop().create_future()
        round_.finished.append((stored, state.request_id))
        return stored

    def delivered(self, request_id: str, target: str, /) -> None:
        outbox_id = self._outbox_ids.pop((request_id, target), None)
        if outbox_id is None or self._executor is None:
            return  # not kept here, or stopped: the outbox delivers it again later
        batch = self._batch
        if batch is None:
            batch = self._open_batch()
        batch.delivered.append(outbox_id)
        self._kick()

    def pending(self) -> int:
        if not self._known:
            return 1 + self._unstored
        return self._events + max(0, self._outbox - self._ours) + self._unstored

    def snapshot(self) -> Iterable[tuple[EventState, State]]:
        unstored: list[EventState] = []
        if self._inflight is not None:
            unstored += self._inflight[0].puts
        if self._batch is not None:
            unstored += self._batch.puts
        listed: list[tuple[EventState, State]] = [(s, QUEUED) for s in unstored]
        listed += [(s, QUEUED) for s, _ in self._ahead]
        if self._waits and self._clock is not None:
            listed += [(s, WAITING) for s in self._waits.waiting(self._clock.monotonic())]
        return listed

    def stop(self) -> None:
        pump, self._pump = self._pump, None
        if pump is not None and not pump.done() and not pump.get_loop().is_closed():
            pump.cancel()
        self._wake = None
        executor, self._executor = self._executor, None
        if executor is None:
            return
        final, rounds = self._last_batch()
        try:
            closing = executor.submit(self._store.close, final)
        except RuntimeError:
            # The interpreter is exiting and its thread pools are gone: store the last batch
            # from here, the one thing left to do.
            closing = concurrent.futures.Future()
            try:
                self._store.close(final)
            except BaseException as e:  # noqa: BLE001 - reported by _after_close
                closing.set_exception(e)
            else:
                closing.set_result(None)
        closing.add_done_callback(lambda done: self._after_close(done, rounds))
        executor.shutdown(wait=False)
        self._consumer = None
        self._unstored = 0

    def _last_batch(self) -> tuple[Batch, list[_Round]]:
        # What is left to store when the queue stops, and the rounds still awaited. Events
        # leased ahead are given back, and so are the leases of attempts the close cut off
        # (the store knows those); deliveries it cut off go back to the outbox for whoever
        # starts next.
        final = self._batch if self._batch is not None else Batch(0.0)
        rounds = [] if self._round is None else [self._round]
        self._batch = self._round = None
        final.now = self._wall()
        for state, _ in self._ahead:
            lease = self._leases.pop(state.request_id, None)
            if lease is not None:
                final.releases.append(lease)
        self._ahead.clear()
        self._leases.clear()
        final.unclaims.extend(self._outbox_ids.values())
        self._outbox_ids.clear()
        if self._inflight is not None:
            rounds.append(self._inflight[1])
            self._inflight = None
        for round_ in rounds:
            for future, _ in round_.finished:
                future.cancel()  # not delivered here: the outbox has what was stored
        return final, rounds

    # -- collecting -----------------------------------------------------------------------------

    def _open_batch(self) -> Batch:
        if self._loop is None or self._executor is None:
            msg = f"{self!r} is not started: an invoker starts it when it binds to its loop"
            raise InvokeError(msg)
        batch = self._batch = Batch(0.0)
        self._round = _Round(self._loop)
        return batch

    def _kick(self) -> None:
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    def _release(self, state: EventState) -> None:
        # Leased ahead too long ago to run now: given back, due at once for any process.
        lease = self._leases.pop(state.request_id, None)
        if lease is None:
            return
        batch = self._batch
        if batch is None:
            batch = self._open_batch()
        batch.releases.append(lease)
        self._due_at = -math.inf

    def _not_held(self, state: EventState, what: str) -> None:
        logger.warning(
            "%r: event %s is not leased here (the queue stopped, or its lease was given "
            "back); its %s is not stored here, and the event runs again wherever it is due",
            self,
            state.request_id,
            what,
        )

    # -- the pump: one transaction at a time, in the writer thread ----------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            ready = self._next_batch()
            if ready is None:
                await self._idle()
                continue
            batch, round_ = ready
            self._inflight = ready
            try:
                stored = loop.run_in_executor(
                    self._executor, self._transact, self._store, batch, round_
                )
                # Shielded: stop() cancels this task, never a transaction it handed over.
                outcome = await asyncio.shield(stored)
            except Exception as e:  # noqa: BLE001 - logged, and the callers are told
                self._inflight = None
                self._failed(batch, round_, e)
                await self._back_off()
                continue
            self._inflight = None
            self._apply(batch, round_, outcome)

    @staticmethod
    def _transact(store: Store, batch: Batch, round_: _Round) -> Outcome:
        # In the writer thread. The outcome is kept on the round too, for stop() to settle it
        # when the loop is gone.
        try:
            outcome = store.transact(batch)
        except BaseException as e:
            round_.outcome = e
            raise
        round_.outcome = outcome
        return outcome

    def _want(self) -> int:
        # Due events worth leasing now: what the consumer can take, plus room ahead for take().
        consumer = self._consumer
        if not self._consume or consumer is None:
            return 0
        return consumer.capacity() + max(0, self._ahead_target - len(self._ahead))

    def _next_batch(self) -> tuple[Batch, _Round] | None:
        # The next transaction to run, or None if there is nothing to do before a timer.
        now = self._wall()
        batch, round_ = self._batch, self._round
        if batch is not None:
            ended = len(batch.finishes) + len(batch.reschedules)
            self._ahead_target = min(_AHEAD_MAX, max(self._ahead_min, ended))
        want = self._want()
        if batch is not None and batch.puts:
            self._due_at = now
        clock = self._clock
        assert clock is not None
        due_by = self._waits.due_by(now, clock.monotonic())
        lease = want > 0 and self._due_at <= due_by
        claim = self._consume and self._outbox_due <= now
        look = not (batch is not None or lease or claim)
        if look and now < self._next_look:
            return None
        if batch is None or round_ is None:
            batch, round_ = Batch(now), _Round(self._own_loop())
        else:
            self._batch = self._round = None
        batch.now = now
        batch.due_by = due_by
        batch.lease = want if (lease or look) else 0
        batch.lease_seconds = self._lease_seconds
        batch.claim = claim or (look and self._consume)
        batch.look = look
        return batch, round_

    def _own_loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        assert loop is not None
        return loop

    async def _idle(self) -> None:
        clock = self._clock
        assert clock is not None
        # Wall-clock due times wake a little late (SLACK), so that they are surely due then
        # and no wait is shorter; the process's own retry waits wake exactly, on the
        # monotonic clock.
        now = self._wall()
        delay = self._next_look - now
        if self._consume:
            delay = min(delay, max(0.0, self._outbox_due - now) + SLACK)
            if self._want() > 0:
                delay = min(delay, max(0.0, self._due_at - now) + SLACK)
                delay = min(delay, self._waits.next_due() - clock.monotonic())
        self._wake = wake = self._own_loop().create_future()
        try:
            async with clock.timeout(max(0.0, delay)):
                await wake
        except TimeoutError:
            pass
        finally:
            self._wake = None

    def _apply(self, batch: Batch, round_: _Round, outcome: Outcome) -> None:
        now = batch.now
        self._failures = 0
        self._unstored -= len(batch.puts)
        self._next_look = now + self._poll_interval
        if outcome.changed:
            self._known = True
            self._events = outcome.events
            self._outbox = outcome.outbox
            self._ours += outcome.outbox_delta_ours
            self._due_at = outcome.next_due
            self._outbox_due = outcome.outbox_due
            # Asked for and found nothing though something looked due: wait for the next
            # look rather than ask again at once (never a busy loop on the writer).
            if batch.lease and not outcome.leased and self._due_at <= batch.due_by:
                self._due_at = self._next_look
            if batch.claim and not outcome.claimed and self._outbox_due <= now:
                self._outbox_due = self._next_look
        waits = self._waits
        for request_id in outcome.lost_retries:
            waits.forget(request_id)
            logger.warning(
                "%r: event %s's lease ran out before its retry was stored; another worker "
                "owns it now",
                self,
                request_id,
            )
        if outcome.outbox_ids:
            outbox_ids = self._outbox_ids
            for request_id, target, outbox_id in outcome.outbox_ids:
                outbox_ids[request_id, target] = outbox_id
        consumer = self._consumer
        if outcome.leased and consumer is not None:
            leases, ahead, token = self._leases, self._ahead, outcome.token
            # Offered while the consumer has a free worker: the rest wait here, leased ahead,
            # for take() as workers free up. A process holds only what it runs soon, so a
            # busy one never throttles what another process could run: it is not offered.
            offering = True
            offer = consumer.offer
            room = consumer.capacity
            for seq, state in outcome.leased:
                request_id = state.request_id
                renewed = request_id in leases
                leases[request_id] = (seq, token)
                if renewed:
                    # Its lease ran out while it ran (or waited) here, and no other process
                    # took it: the new lease is this process's renewal, not a second run.
                    continue
                if waits:
                    waits.forget(request_id)
                if offering and room() > 0 and offer(state):
                    continue
                offering = False
                ahead.append((state, now))
        if outcome.claimed and consumer is not None:
            for record, letter in outcome.claimed.values():
                consumer.redeliver(record, letter)
        round_.settle(outcome.lost)
        # Our own ended events tell the invoker themselves, once delivered; anything else
        # that moved the count (another process, a lost lease) is told here.
        if consumer is not None and (self.pending() or not batch.finishes):
            consumer.pending_changed()

    def _failed(self, batch: Batch, round_: _Round, error: Exception) -> None:
        self._failures += 1
        self._unstored -= len(batch.puts)
        self._known = True
        finishes = [f[2].request_id for f in batch.finishes]
        logger.error(
            "%r: a transaction failed (%s: %s); %d accepted event(s) were not stored, and "
            "%d outcome(s) and %d retry wait(s) will run again once their leases run out",
            self,
            type(error).__name__,
            error,
            len(batch.puts),
            len(finishes),
            len(batch.reschedules),
            exc_info=not isinstance(error, LambdaDestinationsError),
        )
        for _, _, state, _ in batch.reschedules:
            self._waits.forget(state.request_id)
        if isinstance(error, LambdaDestinationsError):
            round_.error = error
        else:
            msg = f"{self!r} could not store the event: {type(error).__name__}: {error}"
            round_.error = InvokeError(msg)
        round_.settle()
        consumer = self._consumer
        if consumer is not None:
            consumer.pending_changed()

    async def _back_off(self) -> None:
        clock = self._clock
        assert clock is not None
        wait = min(_FAILURE_BACKOFF_MAX, self._poll_interval * 2 ** (self._failures - 1))
        self._next_look = self._wall() + wait
        self._due_at = self._outbox_due = math.inf
        await clock.sleep(wait)

    def _after_close(self, closing: concurrent.futures.Future[None], rounds: list[_Round]) -> None:
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


def _checked_path(path: str | os.PathLike[str]) -> Path:
    text = os.fspath(path)
    if not isinstance(text, str) or text in ("", ":memory:") or text.startswith("file:"):
        msg = (
            f"SQLiteQueue({path!r}) needs the path of a file on a local disk (an in-memory "
            "database lives and dies with one connection: use MemoryQueue instead)"
        )
        raise ConfigurationError(msg)
    resolved = Path(text).expanduser().absolute()
    if not resolved.parent.is_dir():
        msg = f"SQLiteQueue({text!r}): the folder {str(resolved.parent)!r} does not exist"
        raise ConfigurationError(msg)
    return resolved


def _check_positive(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"{name}={value!r} must be a number of seconds"
        raise ConfigurationError(msg)
    if not math.isfinite(value) or value <= 0:
        msg = f"{name}={value!r} must be a finite number of seconds above 0"
        raise ConfigurationError(msg)
