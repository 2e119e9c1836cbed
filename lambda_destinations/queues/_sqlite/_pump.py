"""The loop side of the transactions: what the next one holds, when it runs, what it changed.

One `Pump` runs as a task on the invoker's loop from a queue's start to its stop. It hands
each batch to the writer thread and applies the outcome: the counts and due times of the
file, the events leased (offered to the consumer, or kept leased ahead), outbox items to
deliver, and the callers of the round. Between transactions it sleeps until the next thing
falls due, the next look at the file, or a kick (something new to store).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from lambda_destinations._clock import Clock
from lambda_destinations._exceptions import InvokeError, LambdaDestinationsError
from lambda_destinations._telemetry import logger
from lambda_destinations.queues._protocol import Consumer
from lambda_destinations.queues._timing import failure_backoff

from ._batch import Batch, Outcome
from ._file_view import FileView
from ._held import Leases, OutboxIds
from ._rounds import Batches, Round
from ._waits import SLACK, RetryWaits
from ._writer import Writer

__all__ = ["Pump"]


class Pump:
    """Runs one queue's transactions, one at a time, until cancelled.

    *owner* is the queue, named in log lines. The bookkeeping objects are the queue's: the
    pump reads what the queue's callers added, and updates them from each outcome.
    """

    __slots__ = (
        "_batches",
        "_clock",
        "_consume",
        "_consumer",
        "_failures",
        "_file",
        "_lease_seconds",
        "_leases",
        "_loop",
        "_outbox_ids",
        "_owner",
        "_poll_interval",
        "_task",
        "_waits",
        "_wake",
        "_wall",
        "_writer",
    )

    def __init__(
        self,
        owner: object,
        writer: Writer,
        consumer: Consumer,
        clock: Clock,
        wall: Callable[[], float],
        *,
        batches: Batches,
        file: FileView,
        leases: Leases,
        outbox_ids: OutboxIds,
        waits: RetryWaits,
        consume: bool,
        poll_interval: float,
        lease_seconds: float,
    ) -> None:
        self._owner = owner
        self._writer = writer
        self._consumer = consumer
        self._clock = clock
        self._wall = wall
        self._batches = batches
        self._file = file
        self._leases = leases
        self._outbox_ids = outbox_ids
        self._waits = waits
        self._consume = consume
        self._poll_interval = poll_interval
        self._lease_seconds = lease_seconds
        self._failures = 0
        self._wake: asyncio.Future[None] | None = None
        self._loop = loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._run())

    def kick(self) -> None:
        """Something new to store: run the next transaction now if the pump is idle."""
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    def cancel(self) -> None:
        """Stop after the transaction in hand (which the writer still finishes)."""
        task = self._task
        if not task.done() and not task.get_loop().is_closed():
            task.cancel()
        self._wake = None

    async def _run(self) -> None:
        batches = self._batches
        while True:
            ready = self._next_batch()
            if ready is None:
                await self._idle()
                continue
            batch, round_ = ready
            batches.inflight = ready
            try:
                stored = self._writer.transact(self._loop, batch, round_)
                # Shielded: stop() cancels this task, never a transaction it handed over.
                outcome = await asyncio.shield(stored)
            except Exception as e:  # noqa: BLE001 - logged, and the callers are told
                batches.inflight = None
                self._failed(batch, round_, e)
                await self._back_off()
                continue
            batches.inflight = None
            self._apply(batch, round_, outcome)

    def _want(self) -> int:
        # Due events worth leasing now: what the consumer can take, plus room ahead for take().
        if not self._consume:
            return 0
        return self._consumer.capacity() + self._leases.room()

    def _next_batch(self) -> tuple[Batch, Round] | None:
        # The next transaction to run, or None if there is nothing to do before a timer.
        now = self._wall()
        file = self._file
        filling = self._batches.filling
        if filling is not None:
            gathered = filling[0]
            self._leases.resize(len(gathered.finishes) + len(gathered.reschedules))
        want = self._want()
        if filling is not None and filling[0].puts:
            file.due_at = now
        due_by = self._waits.due_by(now, self._clock.monotonic())
        lease = want > 0 and file.due_at <= due_by
        claim = self._consume and file.outbox_due <= now
        look = not (filling is not None or lease or claim)
        if look and now < file.next_look:
            return None
        if filling is None:
            batch, round_ = Batch(now), Round(self._loop)
        else:
            batch, round_ = filling
            self._batches.filling = None
        batch.now = now
        batch.due_by = due_by
        batch.lease = want if (lease or look) else 0
        batch.lease_seconds = self._lease_seconds
        batch.claim = claim or (look and self._consume)
        batch.look = look
        return batch, round_

    async def _idle(self) -> None:
        clock = self._clock
        file = self._file
        # Wall-clock due times wake a little late (SLACK), so that they are surely due then
        # and no wait is shorter; the process's own retry waits wake exactly, on the
        # monotonic clock.
        now = self._wall()
        delay = file.next_look - now
        if self._consume:
            delay = min(delay, max(0.0, file.outbox_due - now) + SLACK)
            if self._want() > 0:
                delay = min(delay, max(0.0, file.due_at - now) + SLACK)
                delay = min(delay, self._waits.next_due() - clock.monotonic())
        self._wake = wake = self._loop.create_future()
        try:
            async with clock.timeout(max(0.0, delay)):
                await wake
        except TimeoutError:
            pass
        finally:
            self._wake = None

    def _apply(self, batch: Batch, round_: Round, outcome: Outcome) -> None:
        self._failures = 0
        self._file.stored(batch, outcome, self._poll_interval)
        waits = self._waits
        for request_id in outcome.lost_retries:
            waits.forget(request_id)
            logger.warning(
                "%r: event %s's lease ran out before its retry was stored; another worker "
                "owns it now",
                self._owner,
                request_id,
            )
        if outcome.outbox_ids:
            self._outbox_ids.add(outcome.outbox_ids)
        consumer = self._consumer
        if outcome.leased:
            self._leases.accept(outcome.leased, outcome.token, batch.now, consumer, waits)
        if outcome.claimed:
            for record, letter in outcome.claimed.values():
                consumer.redeliver(record, letter)
        round_.settle(outcome.lost)
        # Our own ended events tell the invoker themselves, once delivered; anything else
        # that moved the count (another process, a lost lease) is told here.
        if self._file.pending() or not batch.finishes:
            consumer.pending_changed()

    def _failed(self, batch: Batch, round_: Round, error: Exception) -> None:
        self._failures += 1
        self._file.failed(batch)
        logger.error(
            "%r: a transaction failed (%s: %s); %d accepted event(s) were not stored, and "
            "%d outcome(s) and %d retry wait(s) will run again once their leases run out",
            self._owner,
            type(error).__name__,
            error,
            len(batch.puts),
            len(batch.finishes),
            len(batch.reschedules),
            exc_info=not isinstance(error, LambdaDestinationsError),
        )
        for _, _, state, _ in batch.reschedules:
            self._waits.forget(state.request_id)
        if isinstance(error, LambdaDestinationsError):
            round_.error = error
        else:
            msg = f"{self._owner!r} could not store the event: {type(error).__name__}: {error}"
            round_.error = InvokeError(msg)
        round_.settle()
        self._consumer.pending_changed()

    async def _back_off(self) -> None:
        wait = failure_backoff(self._poll_interval, self._failures)
        self._file.backed_off(self._wall() + wait)
        await self._clock.sleep(wait)
