"""The plugin's fixtures: a virtual clock, invokers on it, and in-memory receivers."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from lambda_destinations._decorator import AsyncFunction, check_options
from lambda_destinations._invoker import AsyncInvoker
from lambda_destinations.destinations import InMemoryDeadLetterQueue, InMemoryDestination
from lambda_destinations.testing import VirtualClock, _swapped_invoker

from ._invokers import INVOKERS, Invokers, close_after_sync_test
from ._options import wall_timeout

__all__ = [
    "in_memory_destination",
    "in_memory_dlq",
    "invoker_factory",
    "override_invoker",
    "virtual_clock",
]


@pytest.fixture
def virtual_clock() -> Iterator[VirtualClock]:
    """A fresh `VirtualClock` for this test; it lets go of its event loops when the test ends."""
    clock = VirtualClock()
    yield clock
    clock.detach()


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
) -> Iterator[Callable[..., AsyncInvoker]]:
    """Make `AsyncInvoker` objects on the test's virtual clock; they are closed after the test.

    Takes the same arguments as `AsyncInvoker`; ``clock=`` defaults to ``virtual_clock``.
    When the test ends, each invoker the test did not close itself is drained (instant on
    virtual time) and closed; events that still did not end fail the test, naming them.
    """
    invokers = Invokers(virtual_clock)
    request.node.stash[INVOKERS] = invokers
    yield invokers.make
    close_after_sync_test(request.node, invokers, wall_timeout(request.node))


@pytest.fixture
def override_invoker(
    virtual_clock: VirtualClock, invoker_factory: Callable[..., AsyncInvoker]
) -> Iterator[Callable[..., AsyncInvoker]]:
    """Put a function decorated with ``@async_invoke`` on the test's clock until the test ends.

    ``override_invoker(function, **overrides)`` gives *function* a new invoker, made by
    ``invoker_factory`` with the options it was decorated with updated with *overrides* and
    ``clock=`` defaulting to ``virtual_clock``, and returns it. The original invoker is put
    back when the test ends; the new one is closed and reported like the factory's others.
    """
    with contextlib.ExitStack() as stack:

        def override(function: AsyncFunction[..., Any], /, **overrides: Any) -> AsyncInvoker:
            check_options(overrides, "override_invoker()")
            options = {**function.options, "clock": virtual_clock, **overrides}
            invoker = invoker_factory(function.__wrapped__, **options)
            stack.enter_context(_swapped_invoker(function, invoker))
            return invoker

        yield override
