"""The queue's writer thread: every transaction on the file runs there, one at a time."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable

# Imported now, not on first use: importing it registers the interpreter-exit hook that stops
# its threads, and that hook must run after the background loop's drain (exit hooks run last
# registered first), or a script's last events could not be committed at exit.
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ._batch import Batch, Outcome
from ._rounds import Round
from ._schema import Synchronous
from ._store import Store

__all__ = ["Writer"]


class Writer:
    """One thread and one `Store` for one start of the queue, until the last batch is stored."""

    __slots__ = ("_executor", "_store")

    def __init__(self, path: Path, synchronous: Synchronous) -> None:
        # A store (and connection) per start: the last one may still be closing in its thread.
        self._store = Store(path, synchronous)
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="lambda_destinations-sqlite"
        )

    def transact(
        self, loop: asyncio.AbstractEventLoop, batch: Batch, round_: Round
    ) -> asyncio.Future[Outcome]:
        """Store *batch* in the thread; its outcome, awaitable on *loop*."""
        return loop.run_in_executor(self._executor, _transact, self._store, batch, round_)

    def close(
        self, final: Batch, then: Callable[[concurrent.futures.Future[None]], object]
    ) -> None:
        """Store *final*, give back the leases still held and close; then call *then*.

        *then* runs in the writer thread (or here, at interpreter exit) with the future of
        the closing, which holds its exception if it failed.
        """
        executor, store = self._executor, self._store
        try:
            closing = executor.submit(store.close, final)
        except RuntimeError:
            # The interpreter is exiting and its thread pools are gone: store the last batch
            # from here, the one thing left to do.
            closing = concurrent.futures.Future()
            try:
                store.close(final)
            except BaseException as e:  # noqa: BLE001 - reported by the callback
                closing.set_exception(e)
            else:
                closing.set_result(None)
        closing.add_done_callback(then)
        executor.shutdown(wait=False)


def _transact(store: Store, batch: Batch, round_: Round) -> Outcome:
    # In the writer thread. The outcome is kept on the round too, for stop() to settle it
    # when the loop is gone.
    try:
        outcome = store.transact(batch)
    except BaseException as e:
        round_.outcome = e
        raise
    round_.outcome = outcome
    return outcome
