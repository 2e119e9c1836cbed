"""pytest plugin, registered through the ``pytest11`` entry point: installing is enough.

Fixtures: ``virtual_clock``, ``invoker_factory``, ``override_invoker``,
``in_memory_destination`` and ``in_memory_dlq``. It runs ``async def`` tests that no other
async plugin claims on a fresh event loop.

Whatever runs an ``async def`` test that uses the fixtures (this plugin, pytest-asyncio or
anyio), the test function is wrapped so that, on the test's own loop, once its body returns:
the invokers ``invoker_factory`` made are drained and closed, events that still did not end
fail the test, naming them, and the virtual clock lets go of the loop. A wall-clock guard stops
such a test after ``wall_timeout`` real seconds (virtual time never stops a test that hangs).
A plain ``def`` test's invokers run on the background loop; they are drained, closed and
reported at teardown, and the clock lets go of that loop too.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import math
import threading
from collections.abc import Callable, Coroutine, Generator, Iterator
from typing import Any, Final, NoReturn

import pytest

from ._decorator import AsyncFunction
from ._exceptions import ConfigurationError
from ._invoker import AsyncInvoker, UnfinishedEvent
from .destinations import InMemoryDeadLetterQueue, InMemoryDestination
from .testing import VirtualClock, _swapped_invoker

_OTHER_ASYNC_MARKERS: Final = ("asyncio", "anyio", "trio")
_MARKER: Final = "lambda_destinations"
_WALL_TIMEOUT_INI: Final = "lambda_destinations_wall_timeout"
_DEFAULT_WALL_TIMEOUT: Final = "60"


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


class _Invokers:
    """The invokers one test's factory made, and their closing when the test ends."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.made: list[_FactoryInvoker] = []

    def make(self, handler: Callable[..., Any], /, **options: Any) -> AsyncInvoker:
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
        return all(invoker.closed_by is not None for invoker in self.made)

    def detach_clocks(self) -> None:
        """Let go of every loop the test's virtual clocks drive, for the next test's clock."""
        clocks = {id(c): c for c in (self.clock, *(i.clock for i in self.made))}
        for clock in clocks.values():
            if isinstance(clock, VirtualClock):
                clock.detach()


_INVOKERS = pytest.StashKey[_Invokers]()


# -- configuration ---------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        _WALL_TIMEOUT_INI,
        "real seconds after which lambda_destinations stops an async test using its fixtures "
        f"(0: no limit; default {_DEFAULT_WALL_TIMEOUT})",
        default=_DEFAULT_WALL_TIMEOUT,
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(wall_timeout=SECONDS): stop this async test after SECONDS of real time, "
        "naming the events still in flight (None: no limit)",
    )
    _ini_wall_timeout(config)  # a bad value is refused before any test runs


def _ini_wall_timeout(config: pytest.Config) -> float | None:
    text = str(config.getini(_WALL_TIMEOUT_INI)).strip()
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not seconds >= 0 or math.isinf(seconds):
        msg = f"{_WALL_TIMEOUT_INI} = {text!r}: give a number of seconds, or 0 for no limit"
        raise pytest.UsageError(msg)
    return seconds or None


def _wall_timeout(item: pytest.Item) -> float | None:
    """The test's limit in real seconds: its marker's ``wall_timeout=``, else the ini option."""
    marker = item.get_closest_marker(_MARKER)
    if marker is None or (not marker.args and not marker.kwargs):
        return _ini_wall_timeout(item.config)
    seconds = marker.kwargs.get("wall_timeout", math.nan)
    if marker.args or set(marker.kwargs) != {"wall_timeout"}:
        _bad_marker(marker)
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        _bad_marker(marker)
    if not 0 < seconds < math.inf:
        _bad_marker(marker)
    return float(seconds)


def _bad_marker(marker: pytest.Mark) -> NoReturn:
    given = ", ".join([*map(repr, marker.args), *(f"{k}={v!r}" for k, v in marker.kwargs.items())])
    msg = (
        f"@pytest.mark.{_MARKER}({given}): it takes only wall_timeout=, a positive number of "
        "real seconds or None for no limit"
    )
    raise ConfigurationError(msg)


# -- running async tests ---------------------------------------------------------------------


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
    if "virtual_clock" not in item.fixturenames and item.get_closest_marker(_MARKER) is None:
        return (yield)
    test = item.obj
    wall_timeout = _wall_timeout(item)

    @functools.wraps(test)
    async def guarded(*args: Any, **kwargs: Any) -> None:
        await _run_guarded(item, wall_timeout, test(*args, **kwargs))

    item.obj = guarded
    try:
        return (yield)
    finally:
        item.obj = test


async def _run_guarded(
    item: pytest.Function, wall_timeout: float | None, body: Coroutine[Any, Any, object]
) -> None:
    task = asyncio.current_task()
    if task is None:  # not asyncio (trio through anyio): no invoker runs here either
        await body
        return
    invokers = item.stash.get(_INVOKERS, None)
    guard = _WallGuard(wall_timeout, task)
    failure = None
    try:
        await guard.run(body)
        if invokers is not None:
            unfinished = await guard.run(invokers.close(drain=True))
            if unfinished:
                failure = _unfinished_message(item, unfinished)
    except _Expired:
        pending = invokers.pending() if invokers is not None else []
        failure = _stopped_message(item, wall_timeout, pending)
    finally:
        guard.stop()
        if invokers is not None:
            # After a failure (or the guard), what is still running is logged, not waited for.
            await invokers.close(drain=False)
            invokers.detach_clocks()
    if failure is not None:
        pytest.fail(failure, pytrace=False)


class _Expired(Exception):
    """The wall-clock guard stopped the test."""


class _WallGuard:
    """Cancels the test's task after so many real seconds, from a timer thread.

    The test's loop runs on virtual time, so none of its own timers can measure real time.
    """

    def __init__(self, seconds: float | None, task: asyncio.Task[Any]) -> None:
        self.fired = False
        self._task = task
        self._loop = task.get_loop()
        self._armed = seconds is not None
        self._timer: threading.Timer | None = None
        if seconds is not None:
            self._timer = threading.Timer(seconds, self._from_timer_thread)
            self._timer.daemon = True
            self._timer.start()

    def _from_timer_thread(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed: the test is over
            self._loop.call_soon_threadsafe(self._fire)

    def _fire(self) -> None:
        # Runs on the loop's thread, so the task is suspended inside `run`, or already done.
        if self._armed:
            self._armed = False
            self.fired = True
            self._task.cancel()

    async def run(self, step: Coroutine[Any, Any, Any]) -> Any:
        try:
            result = await step
        except asyncio.CancelledError:
            if not self.fired:
                raise
            self._task.uncancel()
            raise _Expired from None
        if self.fired:  # the test swallowed the cancellation, then ended
            self._task.uncancel()
            raise _Expired
        return result

    def stop(self) -> None:
        self._armed = False
        if self._timer is not None:
            self._timer.cancel()


def _stopped_message(
    item: pytest.Item,
    seconds: float | None,
    pending: list[tuple[AsyncInvoker, UnfinishedEvent]],
    *,
    stopped: str = "was stopped",
) -> str:
    if pending:
        events = f"events still in flight: {_listed(pending)}"
    else:
        events = (
            "no event of the invokers invoker_factory made was in flight: the test itself "
            "waits for something that never comes (real I/O, an event nobody sets)"
        )
    return (
        f"{item.name} {stopped} after {seconds:g} s of real time (its wall_timeout; virtual "
        f"time only skips waits on timers); {events}. To allow longer, use "
        f"@pytest.mark.{_MARKER}(wall_timeout=SECONDS) or the {_WALL_TIMEOUT_INI} ini option "
        "(0: no limit)."
    )


def _listed(events: list[tuple[AsyncInvoker, UnfinishedEvent]]) -> str:
    return "; ".join(
        f"{invoker.function_name} {ev.request_id} ({ev.state}, {ev.attempts} attempt(s), "
        f"payload {ev.payload_json})"
        for invoker, ev in events
    )


def _unfinished_message(
    item: pytest.Item, unfinished: list[tuple[AsyncInvoker, UnfinishedEvent]]
) -> str:
    return (
        f"{len(unfinished)} event(s) of {item.name} had not ended when the test did, and did not "
        f"end while invoker_factory closed its invokers: {_listed(unfinished)}. join() the "
        "invokers before the test ends, and look at what keeps these events from ending "
        "(drain_timeout=, a handler waiting on real I/O)."
    )


def _close_after_sync_test(
    item: pytest.Item, invokers: _Invokers, wall_timeout: float | None
) -> None:
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
                message = _stopped_message(item, wall_timeout, pending, stopped=stopped)
                pytest.fail(message, pytrace=False)
            if unfinished:
                pytest.fail(_unfinished_message(item, unfinished), pytrace=False)
    finally:
        invokers.detach_clocks()


# -- fixtures --------------------------------------------------------------------------------


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
    invokers = _Invokers(virtual_clock)
    request.node.stash[_INVOKERS] = invokers
    yield invokers.make
    _close_after_sync_test(request.node, invokers, _wall_timeout(request.node))


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
            options = {**function.options, "clock": virtual_clock, **overrides}
            invoker = invoker_factory(function.__wrapped__, **options)
            stack.enter_context(_swapped_invoker(function, invoker))
            return invoker

        yield override
