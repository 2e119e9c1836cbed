"""Transactions as the event loop sees them: the batch being filled, and who awaits it.

Everything the loop asks of the queue between two transactions goes into one `Batch`; the
callers await its `Round`, which the outcome of the transaction settles.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator

from lambda_destinations._exceptions import LambdaDestinationsError
from lambda_destinations.queues._state import EventState

from ._batch import Batch, Outcome

__all__ = ["Batches", "Round"]


class Round:
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


class Batches:
    """The batch the next transaction will store, and the one the writer thread has now."""

    __slots__ = ("filling", "inflight")

    def __init__(self) -> None:
        #: What the next transaction will store, and the round its callers await.
        self.filling: tuple[Batch, Round] | None = None
        #: The transaction the writer thread is running.
        self.inflight: tuple[Batch, Round] | None = None

    def open(self, loop: asyncio.AbstractEventLoop) -> tuple[Batch, Round]:
        """Begin the batch to fill, with its round on *loop*."""
        filling = self.filling = (Batch(0.0), Round(loop))
        return filling

    def unstored(self) -> list[EventState]:
        """Accepted events not committed yet: in the writer's hands, then in the filling."""
        unstored: list[EventState] = []
        if self.inflight is not None:
            unstored += self.inflight[0].puts
        if self.filling is not None:
            unstored += self.filling[0].puts
        return unstored

    def last(self) -> tuple[Batch, list[Round]]:
        """What is left to store when the queue stops, and the rounds still awaited.

        Both are let go of here. The finishes of those rounds are cancelled: nothing is
        delivered from this start any more, the outbox has whatever was stored.
        """
        if self.filling is None:
            final, rounds = Batch(0.0), []
        else:
            final, rounds = self.filling[0], [self.filling[1]]
        self.filling = None
        if self.inflight is not None:
            rounds.append(self.inflight[1])
            self.inflight = None
        for round_ in rounds:
            for future, _ in round_.finished:
                future.cancel()  # not delivered here: the outbox has what was stored
        return final, rounds
