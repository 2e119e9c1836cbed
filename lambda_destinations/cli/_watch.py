"""Following each event through the invoker's public surfaces: metrics hooks and destinations.

The ``AsyncEventsReceived`` data point says when an event was accepted, ``AsyncEventAge`` when
each attempt started (the event's age then: +0 s, +60 s, +180 s on AWS's schedule), ``Errors``
that the attempt failed; the record that reaches a destination says how the event ended. The
command's destinations are wrapped so every record is seen, then passed on unchanged.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from attrs import define, field

from lambda_destinations import Clock, ExecutionRecord, Metric

__all__ = ["Attempt", "EventTrace", "Watch"]


@define
class Attempt:
    """One attempt: when it started (seconds after the event was accepted) and if it failed."""

    at: float
    failed: bool = False


@define
class EventTrace:
    """What happened to one event, as far as it went."""

    request_id: str
    accepted: float
    number: int = 0
    attempts: list[Attempt] = field(factory=list)
    record: ExecutionRecord | None = None
    #: Seconds after acceptance when its record was handed to a destination.
    ended: float | None = None


class Watch:
    """Collects an `EventTrace` per event; `hook` is a metrics hook, `wrap` a destination."""

    def __init__(self, clock: Clock, on_end: Callable[[EventTrace], None] | None = None) -> None:
        self._clock = clock
        self._on_end = on_end
        self.traces: dict[str, EventTrace] = {}
        #: Records and dead letters each target took without raising, by role.
        self.delivered: dict[str, int] = {}
        self.first_failure: Callable[[], None] | None = None

    def hook(self, metric: Metric) -> None:
        """The metrics hook: acceptance, attempt starts and errors, per request id."""
        request_id = metric.request_id
        if request_id is None:
            return
        if metric.name == "AsyncEventsReceived":
            self.traces[request_id] = EventTrace(request_id, self._clock.monotonic())
            return
        trace = self.traces.get(request_id)
        if trace is None:
            return
        if metric.name == "AsyncEventAge":
            trace.attempts.append(Attempt(metric.value / 1000))
        elif metric.name == "Errors" and trace.attempts:
            trace.attempts[-1].failed = True
            if self.first_failure is not None:
                self.first_failure()
                self.first_failure = None

    def numbered(self, request_id: str, number: int) -> None:
        """The command's number for the event the invoker accepted as *request_id*."""
        self.traces[request_id].number = number

    def wrap(self, inner: Any | None, role: str) -> Callable[[ExecutionRecord], Any]:
        """A destination that notes each record, then hands it to *inner* (if any)."""
        send = None if inner is None else inner.send

        async def observed(record: ExecutionRecord) -> None:
            self._ended(record)
            if send is not None:
                await _completed(send(record))
                self.delivered[role] = self.delivered.get(role, 0) + 1

        return observed

    def wrap_dead_letters(self, inner: Any, role: str) -> Callable[[Any], Any]:
        """A dead-letter queue that counts the messages *inner* took."""
        send = inner.send

        async def observed(message: Any) -> None:
            await _completed(send(message))
            self.delivered[role] = self.delivered.get(role, 0) + 1

        return observed

    def _ended(self, record: ExecutionRecord) -> None:
        trace = self.traces.get(record.request_id)
        if trace is None or trace.record is not None:
            return  # at-least-once delivery may repeat a record: the first one counts
        trace.record = record
        trace.ended = self._clock.monotonic() - trace.accepted
        if self._on_end is not None:
            self._on_end(trace)


async def _completed(result: object) -> None:
    if inspect.isawaitable(result):
        await result
