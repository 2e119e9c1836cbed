"""Running ``async def`` tests: on a fresh loop when no other plugin does, and guarded.

Whatever runs an ``async def`` test that uses the fixtures (this plugin, pytest-asyncio or
anyio), the test function is wrapped so that, on the test's own loop, once its body returns,
the invokers ``invoker_factory`` made are drained and closed, events that still did not end
fail the test, and the virtual clock lets go of the loop; the wall-clock guard stops it after
``wall_timeout`` real seconds.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Coroutine, Generator
from typing import Any, Final

import pytest

from ._guard import Expired, WallGuard
from ._invokers import INVOKERS
from ._messages import stopped_message, unfinished_message
from ._options import MARKER, wall_timeout

__all__ = ["pytest_pyfunc_call", "pytest_runtest_call"]

_OTHER_ASYNC_MARKERS: Final = ("asyncio", "anyio", "trio")


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
        runner.run(fn(**kwargs))
    return True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    # Wrapping the test function itself, before any runner reads it, puts the closing and the
    # guard on the test's own loop under every runner: pytest-asyncio and anyio included.
    if not (isinstance(item, pytest.Function) and inspect.iscoroutinefunction(item.obj)):
        return (yield)
    if "virtual_clock" not in item.fixturenames and item.get_closest_marker(MARKER) is None:
        return (yield)
    test = item.obj
    seconds = wall_timeout(item)

    @functools.wraps(test)
    async def guarded(*args: Any, **kwargs: Any) -> None:
        await _run_guarded(item, seconds, test(*args, **kwargs))

    item.obj = guarded
    try:
        return (yield)
    finally:
        item.obj = test


async def _run_guarded(
    item: pytest.Function, seconds: float | None, body: Coroutine[Any, Any, object]
) -> None:
    task = asyncio.current_task()
    if task is None:  # not asyncio (trio through anyio): no invoker runs here either
        await body
        return
    invokers = item.stash.get(INVOKERS, None)
    guard = WallGuard(seconds, task)
    failure = None
    try:
        await guard.run(body)
        if invokers is not None:
            unfinished = await guard.run(invokers.close(drain=True))
            if unfinished:
                failure = unfinished_message(item, unfinished)
    except Expired:
        pending = invokers.pending() if invokers is not None else []
        failure = stopped_message(item, seconds, pending)
    finally:
        guard.stop()
        if invokers is not None:
            # After a failure (or the guard), what is still running is logged, not waited for.
            await invokers.close(drain=False)
            invokers.detach_clocks()
    if failure is not None:
        pytest.fail(failure, pytrace=False)
