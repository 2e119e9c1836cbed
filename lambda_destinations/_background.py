"""The event loop for code that has none: a Flask view, a script, a management command.

It starts in a daemon thread on first use. At interpreter exit, every invoker bound to it is
closed (drained, as ``aclose()`` does, all at once) before the loop stops, so accepted events
still end. Ctrl-C during that drain stops it: what did not end is reported, and the exit goes on.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
import weakref
from collections.abc import Callable
from typing import Any, Protocol

from ._interrupt import interrupts

__all__ = ["Drainable", "background_loop", "is_background", "register"]


class Drainable(Protocol):
    """What the exit drain needs of an invoker: to close it, draining its events."""

    async def aclose(self) -> Any:
        """Drain the accepted events, then close."""
        ...


_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None
_invokers: weakref.WeakSet[Drainable] = weakref.WeakSet()


def _run(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
    asyncio.set_event_loop(loop)
    loop.call_soon(ready.set)
    try:
        loop.run_forever()
    finally:
        loop.close()


def _at_exit(callback: Callable[[], None]) -> None:
    # Drain before concurrent.futures stops its thread pools at interpreter exit, or sync
    # handlers still queued could not run. threading's own exit hooks run before atexit's,
    # last registered first; concurrent.futures registers its hook when imported, before us.
    register_early = getattr(threading, "_register_atexit", None)
    if register_early is None:
        atexit.register(callback)
    else:
        register_early(callback)


def background_loop() -> asyncio.AbstractEventLoop:
    """The shared background loop, started on first call."""
    global _loop, _thread
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            ready = threading.Event()
            _thread = threading.Thread(
                target=_run, args=(loop, ready), name="lambda_destinations-loop", daemon=True
            )
            _thread.start()
            ready.wait()
            if _loop is None:
                _at_exit(_drain_at_exit)
            _loop = loop
        return _loop


def is_background(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether *loop* is the background loop."""
    return loop is _loop


def register(invoker: Drainable) -> None:
    """Have *invoker* drained when the interpreter exits."""
    _invokers.add(invoker)


async def _close_all() -> None:
    await asyncio.gather(*(invoker.aclose() for invoker in list(_invokers)))


def _drain_at_exit() -> None:
    loop, thread = _loop, _thread
    if loop is None or thread is None or loop.is_closed() or not thread.is_alive():
        return
    with interrupts.watching(at_exit=True):
        drain = asyncio.run_coroutine_threadsafe(_close_all(), loop)
        try:
            drain.result()
        except KeyboardInterrupt:
            # A second Ctrl-C (the first only cut the drain), or one where ours was not in
            # place: the program is over, and raising here would only add a traceback.
            interrupts.interrupt()
            drain.result()
    loop.call_soon_threadsafe(loop.stop)
    thread.join()
