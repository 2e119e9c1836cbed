"""Joining and closing an invoker from sync code: its coroutines run on its loop, the caller blocks.

The invoker's loop is the one it runs on (an async application's, in another thread) or, for
code that never had one, the background loop. Called inside a running event loop, these would
block the loop itself: they refuse, saying what to await instead.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from typing import TypeVar

from ._background import background_loop
from ._closing import CLOSED, Lifecycle
from ._exceptions import EventLoopError
from ._interrupt import interrupts
from ._responses import UnfinishedEvent
from ._settings import Duration

__all__ = ["close_sync", "join_sync"]

T = TypeVar("T")


def join_sync(lifecycle: Lifecycle, timeout: Duration | None, raise_on_error: bool) -> None:
    """`AsyncInvoker.join_sync`."""
    _refuse_in_loop("join_sync()", "await invoker.join()")
    loop = lifecycle.binding.loop
    if loop is None or loop.is_running():
        target = loop or background_loop()
    elif lifecycle.busy():
        msg = (
            f"cannot wait for {lifecycle.function_arn}: its event loop is not running, so its "
            f"{len(lifecycle.pending_events())} event(s) cannot end. Join it on that loop "
            "(await invoker.join()) before the loop stops, or close() it."
        )
        raise EventLoopError(msg)
    else:
        return
    future = asyncio.run_coroutine_threadsafe(lifecycle.join(timeout, raise_on_error), target)
    try:
        future.result()
    except KeyboardInterrupt:
        future.cancel()
        raise


def close_sync(lifecycle: Lifecycle, timeout: Duration | None) -> tuple[UnfinishedEvent, ...]:
    """`AsyncInvoker.close`."""
    _refuse_in_loop("close()", "await invoker.aclose()")
    if lifecycle.state == CLOSED:
        return lifecycle.unfinished
    loop = lifecycle.binding.loop
    target = loop if loop is not None and loop.is_running() else background_loop()
    return _wait_cutting_drains(
        lambda: asyncio.run_coroutine_threadsafe(lifecycle.aclose(timeout), target)
    )


def _wait_cutting_drains(start: Callable[[], concurrent.futures.Future[T]]) -> T:
    # Block on a drain running in another thread. Ctrl-C stops it; once it has reported what
    # was left, the KeyboardInterrupt goes on.
    with interrupts.watching():
        future = start()
        try:
            return future.result()
        except KeyboardInterrupt:
            interrupts.interrupt()
            future.result()
            raise


def _refuse_in_loop(call: str, instead: str) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    msg = (
        f"{call} blocks until it is done, which would stop the event loop running here: "
        f"in async code, use {instead} instead"
    )
    raise EventLoopError(msg)
