"""pytest plugin, registered through the ``pytest11`` entry point: installing is enough.

It runs ``async def`` tests that no other async plugin claimed on a fresh event loop, and
provides fixtures: ``virtual_clock``, ``invoker_factory``, ``in_memory_destination`` and
``in_memory_dlq``. Invokers made by ``invoker_factory`` are bound to the test's virtual clock
and closed on the test's loop when the test ends.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

import pytest

from ._invoker import AsyncInvoker
from .destinations import InMemoryDeadLetterQueue, InMemoryDestination
from .testing import VirtualClock

_OPEN_INVOKERS = pytest.StashKey[list[AsyncInvoker]]()
_OTHER_ASYNC_MARKERS = ("asyncio", "anyio", "trio")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "lambda_destinations: run this async test on lambda_destinations' own loop runner",
    )


@pytest.hookimpl
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    fn = pyfuncitem.obj
    if not inspect.iscoroutinefunction(fn):
        return None
    if any(pyfuncitem.get_closest_marker(m) for m in _OTHER_ASYNC_MARKERS):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}
    with asyncio.Runner() as runner:
        try:
            runner.run(fn(**kwargs))
        finally:
            invokers = pyfuncitem.stash.get(_OPEN_INVOKERS, [])
            if invokers:
                runner.run(_close_all(invokers))
    return True


async def _close_all(invokers: list[AsyncInvoker]) -> None:
    for invoker in invokers:
        await invoker.aclose(timeout=0)


@pytest.fixture
def virtual_clock() -> VirtualClock:
    """A fresh `VirtualClock` for this test."""
    return VirtualClock()


@pytest.fixture
def in_memory_destination() -> InMemoryDestination:
    """An empty `InMemoryDestination`."""
    return InMemoryDestination()


@pytest.fixture
def in_memory_dlq() -> InMemoryDeadLetterQueue:
    """An empty `InMemoryDeadLetterQueue`."""
    return InMemoryDeadLetterQueue()


@pytest.fixture
def invoker_factory(
    request: pytest.FixtureRequest, virtual_clock: VirtualClock
) -> Callable[..., AsyncInvoker]:
    """Make `AsyncInvoker` objects on the test's virtual clock; they are closed after the test.

    Takes the same arguments as `AsyncInvoker`; ``clock=`` defaults to ``virtual_clock``.
    """
    made: list[AsyncInvoker] = []
    request.node.stash[_OPEN_INVOKERS] = made

    def make(handler: Callable[..., Any], /, **options: Any) -> AsyncInvoker:
        options.setdefault("clock", virtual_clock)
        invoker = AsyncInvoker(handler, **options)
        made.append(invoker)
        return invoker

    return make
