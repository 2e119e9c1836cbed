"""What a test fails with: events left unfinished, or a test the wall-clock guard stopped."""

from __future__ import annotations

import pytest

from lambda_destinations._invoker import AsyncInvoker, UnfinishedEvent

from ._options import MARKER, WALL_TIMEOUT_INI

__all__ = ["stopped_message", "unfinished_message"]


def stopped_message(
    item: pytest.Item,
    seconds: float | None,
    pending: list[tuple[AsyncInvoker, UnfinishedEvent]],
    *,
    stopped: str = "was stopped",
) -> str:
    """*item* was stopped after *seconds* of real time, with *pending* events in flight."""
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
        f"@pytest.mark.{MARKER}(wall_timeout=SECONDS) or the {WALL_TIMEOUT_INI} ini option "
        "(0: no limit)."
    )


def unfinished_message(
    item: pytest.Item, unfinished: list[tuple[AsyncInvoker, UnfinishedEvent]]
) -> str:
    """*item* ended with *unfinished* events that its invokers' drain did not end either."""
    return (
        f"{len(unfinished)} event(s) of {item.name} had not ended when the test did, and did not "
        f"end while invoker_factory closed its invokers: {_listed(unfinished)}. join() the "
        "invokers before the test ends, and look at what keeps these events from ending "
        "(drain_timeout=, a handler waiting on real I/O)."
    )


def _listed(events: list[tuple[AsyncInvoker, UnfinishedEvent]]) -> str:
    return "; ".join(
        f"{invoker.function_name} {ev.request_id} ({ev.state}, {ev.attempts} attempt(s), "
        f"payload {ev.payload_json})"
        for invoker, ev in events
    )
