"""Gathering one kind of SQS call on the event loop into batch calls of up to 10 entries.

An entry added now goes out at the next turn of the loop together with everything added
meanwhile, while at most ``max_in_flight`` calls of the kind run: under load the calls in
flight hold the line back and the batches fill up by themselves; a lone entry goes alone.
Each entry's callback is told its result on the loop.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from typing import Final, Generic, TypeVar

__all__ = ["BATCH", "Batcher"]

#: Entries per batch call (SendMessageBatch, DeleteMessageBatch, ...).
BATCH: Final = 10

I = TypeVar("I")  # noqa: E741 - an entry, as the call takes it
R = TypeVar("R")  # its result


class Batcher(Generic[I, R]):
    """Entries waiting for one kind of call, sent in batches by *run* (in a thread).

    *start* runs ``run(entries)`` in a thread and answers its future on the loop; *broken*
    turns an exception *run* raised (a bug: calls return failures as values) into each
    entry's result. *refuse*, if given, looks at each entry (and its size) as it is about to
    go out: a result it returns is the entry's, and the entry is not sent.
    """

    __slots__ = (
        "_broken",
        "_in_flight",
        "_loop",
        "_max_bytes",
        "_max_in_flight",
        "_paused",
        "_pending",
        "_refuse",
        "_run",
        "_scheduled",
        "_start",
    )

    def __init__(
        self,
        run: Callable[[list[I]], Sequence[R]],
        start: Callable[[Callable[[list[I]], Sequence[R]], list[I]], asyncio.Future[Sequence[R]]],
        loop: asyncio.AbstractEventLoop,
        broken: Callable[[BaseException], R],
        *,
        max_in_flight: int,
        max_bytes: int | None = None,
        refuse: Callable[[I, int], R | None] | None = None,
    ) -> None:
        self._run = run
        self._refuse = refuse
        self._broken = broken
        self._start = start
        self._loop = loop
        self._max_in_flight = max_in_flight
        self._max_bytes = max_bytes
        self._pending: deque[tuple[I, int, Callable[[R], None]]] = deque()
        self._in_flight = 0
        self._scheduled = False
        self._paused = False

    @property
    def in_flight(self) -> int:
        """Calls running now."""
        return self._in_flight

    def pause(self) -> None:
        """Start no call until `resume` (entries added meanwhile wait)."""
        self._paused = True

    def resume(self) -> None:
        """Send what waited while paused."""
        self._paused = False
        if self._pending and not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush)

    def __len__(self) -> int:
        """Entries not sent yet."""
        return len(self._pending)

    def add(self, entry: I, done: Callable[[R], None], size: int = 0) -> None:
        """Send *entry* soon; *done* gets its result. *size* counts against ``max_bytes``."""
        self._pending.append((entry, size, done))
        if not self._scheduled and self._in_flight < self._max_in_flight:
            self._scheduled = True
            self._loop.call_soon(self._flush)

    def drain(self) -> list[tuple[I, Callable[[R], None]]]:
        """Take every entry not sent yet (the queue is stopping and sends them itself)."""
        left = [(entry, done) for entry, _, done in self._pending]
        self._pending.clear()
        return left

    def _flush(self) -> None:
        self._scheduled = False
        pending = self._pending
        while pending and self._in_flight < self._max_in_flight and not self._paused:
            entries: list[I] = []
            callbacks: list[Callable[[R], None]] = []
            total = 0
            limit = self._max_bytes
            refuse = self._refuse
            while pending and len(entries) < BATCH:
                entry, size, done = pending[0]
                if limit is not None and entries and total + size > limit:
                    break
                pending.popleft()
                refused = None if refuse is None else refuse(entry, size)
                if refused is not None:
                    done(refused)
                    continue
                entries.append(entry)
                callbacks.append(done)
                total += size
            if not entries:
                continue
            self._in_flight += 1
            future = self._start(self._run, entries)
            future.add_done_callback(lambda f, c=callbacks: self._finished(f, c))  # type: ignore[misc]

    def _finished(
        self, future: asyncio.Future[Sequence[R]], callbacks: list[Callable[[R], None]]
    ) -> None:
        self._in_flight -= 1
        if self._pending and not self._scheduled and not self._paused:
            self._scheduled = True
            self._loop.call_soon(self._flush)
        if future.cancelled():
            return
        error = future.exception()
        results = future.result() if error is None else [self._broken(error)] * len(callbacks)
        for done, result in zip(callbacks, results, strict=True):
            done(result)
