"""The invokers ``invoker_factory`` made for one test, and their closing when it ends.

An ``async def`` test's invokers are closed on the test's own loop (``_async_tests``); a plain
``def`` test's run on the background loop and are closed here, at the fixture's teardown.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from lambda_destinations._invoker import AsyncInvoker, UnfinishedEvent
from lambda_destinations.testing import VirtualClock

from ._messages import stopped_message, unfinished_message

__all__ = ["INVOKERS", "Invokers", "close_after_sync_test"]


class _FactoryInvoker(AsyncInvoker):
    """An `AsyncInvoker` that remembers who closed it: the test itself, or the fixture.

    What the test's own ``aclose()`` reported is the test's to check; the fixture reports only
    what it finds unfinished when it closes the rest.
    """

    closed_by: str | None = None

    async def aclose(self, **options: Any) -> tuple[UnfinishedEvent, ...]:
        if self.closed_by is None:
            self.closed_by = "test"
        return await super().aclose(**options)


class Invokers:
    """The invokers one test's factory made, and their closing when the test ends."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.made: list[_FactoryInvoker] = []

    def make(self, handler: Callable[..., Any], /, **options: Any) -> AsyncInvoker:
        """A new invoker on the test's clock (unless *options* name another)."""
        options.setdefault("clock", self.clock)
        invoker = _FactoryInvoker(handler, **options)
        self.made.append(invoker)
        return invoker

    def pending(self) -> list[tuple[AsyncInvoker, UnfinishedEvent]]:
        """The events in flight on the invokers the test did not close itself."""
        return [
            (invoker, ev)
            for invoker in self.made
            if invoker.closed_by != "test"
            for ev in invoker.pending_events()
        ]

    async def close(self, *, drain: bool) -> list[tuple[AsyncInvoker, UnfinishedEvent]]:
        """Close the invokers still open; return the events that did not end.

        Draining waits as ``aclose()`` does (the invoker's ``drain_timeout``), on the invoker's
        clock: at once on virtual time. Without, events in flight are reported as they are.
        """
        unfinished: list[tuple[AsyncInvoker, UnfinishedEvent]] = []
        for invoker in self.made:
            if invoker.closed_by == "test":
                continue
            invoker.closed_by = "fixture"
            report = await invoker.aclose(**({} if drain else {"timeout": 0}))
            unfinished.extend((invoker, ev) for ev in report)
        return unfinished

    def all_closed(self) -> bool:
        """Whether every invoker was closed, by the test or the fixture."""
        return all(invoker.closed_by is not None for invoker in self.made)

    def detach_clocks(self) -> None:
        """Let go of every loop the test's virtual clocks drive, for the next test's clock."""
        clocks = {id(c): c for c in (self.clock, *(i.clock for i in self.made))}
        for clock in clocks.values():
            if isinstance(clock, VirtualClock):
                clock.detach()


#: Where a test's `Invokers` are kept, for the hooks that run the test to find them.
INVOKERS = pytest.StashKey[Invokers]()


def close_after_sync_test(
    item: pytest.Item, invokers: Invokers, wall_timeout: float | None
) -> None:
    """Drain and close a plain ``def`` test's invokers; fail it if events did not end."""

    # A plain def test's invokers run on the background loop; closing from here hands each
    # aclose() over to that loop. This thread's own loop runs on real time, so wait_for is a
    # real-time bound.
    async def close() -> list[tuple[AsyncInvoker, UnfinishedEvent]]:
        return await asyncio.wait_for(invokers.close(drain=True), wall_timeout)

    try:
        if not invokers.all_closed():
            try:
                unfinished = asyncio.run(close())
            except TimeoutError:
                pending = invokers.pending()
                asyncio.run(invokers.close(drain=False))
                stopped = "had the drain of its invokers at teardown stopped"
                message = stopped_message(item, wall_timeout, pending, stopped=stopped)
                pytest.fail(message, pytrace=False)
            if unfinished:
                pytest.fail(unfinished_message(item, unfinished), pytrace=False)
    finally:
        invokers.detach_clocks()
