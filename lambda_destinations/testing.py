"""Tools for testing handlers and destination flows: virtual time, fast and exact.

``VirtualClock`` runs AWS's real retry schedule (attempts at +0 s, +60 s, +180 s) and a
six-hour maximum event age in milliseconds of wall time::

    clock = VirtualClock()
    async with AsyncInvoker(handler, clock=clock, on_failure=failed) as invoker:
        await invoker.invoke({"Success": False})
    assert clock.elapsed == 180
"""

from __future__ import annotations

from ._virtual_clock import VirtualClock

__all__ = ["VirtualClock"]
