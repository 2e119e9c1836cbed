"""Which event loop an invoker runs on, and how calls from other threads reach it.

An invoker binds to the loop of its first use. Code on another thread (a sync web view, a
script with no loop at all) hands its work to that loop, or to the shared background loop,
and waits until it is accepted.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable
from typing import Final

from ._background import background_loop, is_background
from ._exceptions import InvokerClosedError
from ._telemetry import logger

__all__ = ["LoopBinding"]

# How often a thread waiting for its work to be accepted checks that the loop still runs.
_HANDOFF_POLL: Final = 0.05


class LoopBinding:
    """The invoker's event loop: bound on first use, checked on every later one."""

    __slots__ = ("_busy", "_describe", "_on_bind", "loop")

    def __init__(
        self,
        describe: Callable[[], str],
        busy: Callable[[], int],
        on_bind: Callable[[bool], None],
    ) -> None:
        # *describe* names the invoker in messages; *busy* counts its events and deliveries
        # in flight; *on_bind* resets its per-loop state and is told whether the new loop is
        # the background loop.
        self._describe = describe
        self._busy = busy
        self._on_bind = on_bind
        self.loop: asyncio.AbstractEventLoop | None = None

    def elsewhere(self) -> asyncio.AbstractEventLoop | None:
        """The invoker's loop, if it runs in another thread than the caller's loop."""
        own = self.loop
        if own is None or not own.is_running() or own is asyncio.get_running_loop():
            return None
        return own

    def must_hand_off(self, caller: asyncio.AbstractEventLoop | None) -> bool:
        """Whether a call from *caller* (``None``: no loop) must go to another thread's loop."""
        own = self.loop
        return caller is None or (own is not caller and own is not None and own.is_running())

    def bind(self) -> asyncio.AbstractEventLoop:
        """Bind to the running loop, if the invoker may leave the one it had."""
        loop = asyncio.get_running_loop()
        if self.loop is loop:
            return loop
        old = self.loop
        if old is not None and not old.is_closed():
            if old.is_running():
                msg = (
                    f"{self._describe()} is bound to another running event loop; invoke it "
                    "from that loop's thread"
                )
                raise RuntimeError(msg)
            busy = self._busy()
            if busy:
                msg = (
                    f"{self._describe()} is bound to an event loop that is not running but "
                    f"still holds {busy} event(s) or deliveries: run that loop until they end "
                    "(join()), or aclose() the invoker, before using it from another loop"
                )
                raise RuntimeError(msg)
        elif old is not None and self._busy():
            logger.warning("event loop of %s closed with events in flight", self._describe())
        self.loop = loop
        self._on_bind(is_background(loop))
        return loop

    def run_on_loop(
        self,
        accept: Callable[[], Awaitable[None] | None],
        caller: asyncio.AbstractEventLoop | None,
    ) -> None:
        """Run *accept* on the invoker's loop (or the background loop), and await what it returns.

        Called from a thread that is not the loop's: it blocks until *accept* ran there and
        the awaitable it returned (a durable queue's commit) is done, and raises
        `InvokerClosedError` if that loop stops first.
        """
        target = self.loop
        if target is None or not target.is_running():
            target = background_loop()
        if target is caller:
            msg = "internal error: cross-thread invoke targeted the caller's own loop"
            raise RuntimeError(msg)
        accepted: concurrent.futures.Future[None] = concurrent.futures.Future()

        def run() -> None:
            if not accepted.set_running_or_notify_cancel():
                return  # the caller gave up: its loop stopped before this ran
            try:
                if self.loop is not target:
                    self.bind()
                stored = accept()
            except BaseException as e:  # noqa: BLE001 - handed back to the calling thread
                accepted.set_exception(e)
                return
            if stored is None:
                accepted.set_result(None)
            else:
                asyncio.ensure_future(_awaited(stored)).add_done_callback(
                    lambda done: _copy_outcome(done, accepted)
                )

        try:
            target.call_soon_threadsafe(run)
        except RuntimeError:
            msg = f"{self._describe()} accepts no more events: its event loop closed"
            raise InvokerClosedError(msg) from None
        while True:
            try:
                return accepted.result(timeout=_HANDOFF_POLL)
            except TimeoutError:
                if target.is_closed() or not target.is_running():
                    if accepted.cancel():
                        msg = (
                            f"{self._describe()}: its event loop stopped before the event was "
                            "accepted"
                        )
                        raise InvokerClosedError(msg) from None
                    if not accepted.done():
                        msg = (
                            f"{self._describe()}: its event loop stopped before the event was "
                            "known to be stored; it may or may not have been"
                        )
                        raise InvokerClosedError(msg) from None


async def _awaited(stored: Awaitable[None]) -> None:
    await stored


def _copy_outcome(done: asyncio.Future[None], accepted: concurrent.futures.Future[None]) -> None:
    if done.cancelled():
        accepted.set_exception(InvokerClosedError("the invoker closed before the event was stored"))
    elif (error := done.exception()) is not None:
        accepted.set_exception(error)
    else:
        accepted.set_result(None)
