"""The calls a queue makes as it stops, in a thread the interpreter waits for at exit.

When a queue stops, what it had not sent yet (accepted events, retries, deletes) goes out,
and every message it held goes back to the queue at once (visibility 0), for any process to
receive: an event cut off mid-attempt or mid-delivery runs again, one waiting here waits
again wherever it is received. These calls must reach SQS even when the process is exiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable

from lambda_destinations._telemetry import logger
from lambda_destinations.destinations.aws._errors import Failure

from ._calls import Calls

__all__ = ["Left", "in_own_thread", "last_calls"]

Sent = Callable[[Failure | None], None]
Resent = Callable[[tuple[Failure | None, Failure | None]], None]


class Left:
    """What a stopping queue had not sent yet, and the leases it gives back."""

    __slots__ = ("changes", "deletes", "puts", "resends")

    def __init__(
        self,
        puts: list[tuple[tuple[str, int], Sent]],
        resends: list[tuple[tuple[str, int, tuple[str, ...]], Resent]],
        deletes: list[str],
        changes: list[tuple[str, int]],
    ) -> None:
        self.puts = puts
        self.resends = resends
        self.deletes = deletes
        self.changes = changes

    def __bool__(self) -> bool:
        return bool(self.puts or self.resends or self.deletes or self.changes)


def last_calls(
    calls: Calls, left: Left, loop: asyncio.AbstractEventLoop | None, owner: object
) -> None:
    """Make *left*'s calls in a thread of their own; their callbacks are told on *loop*."""
    puts, resends = left.puts, left.resends

    def last() -> None:
        sent = calls.send([entry for entry, _ in puts]) if puts else []
        resent = calls.resend([entry for entry, _ in resends]) if resends else []
        if left.deletes:
            calls.delete(left.deletes)
        if left.changes:
            calls.change_visibility(left.changes)
        if loop is None:
            return

        def settle() -> None:
            for (_, done), answer in zip(puts, sent, strict=True):
                done(answer)
            for (_, redone), twice in zip(resends, resent, strict=True):
                redone(twice)

        with contextlib.suppress(RuntimeError):  # a closed loop has nobody to wake
            loop.call_soon_threadsafe(settle)

    in_own_thread(last, owner)


def in_own_thread(work: Callable[[], object], owner: object) -> None:
    """Run *work* in a thread the interpreter waits for at exit; *owner* names it in logs."""

    def run() -> None:
        try:
            work()
        except Exception:  # noqa: BLE001 - logged: a thread has nobody else to tell
            logger.exception("%r: the calls made as it stopped failed", owner)

    try:
        threading.Thread(target=run, name="lambda_destinations-sqs-stop").start()
    except RuntimeError:
        run()  # the interpreter is past starting threads: do it here, the last thing left
