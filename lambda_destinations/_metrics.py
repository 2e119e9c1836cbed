"""Counters named after Lambda's CloudWatch metrics, kept by each invoker."""

from __future__ import annotations

from typing import Any

from attrs import asdict, frozen

__all__ = ["Counters", "MetricsSnapshot"]

_CLOUDWATCH_NAMES = {
    "async_events_received": "AsyncEventsReceived",
    "async_events_dropped": "AsyncEventsDropped",
    "invocations": "Invocations",
    "errors": "Errors",
    "throttles": "Throttles",
    "destination_delivery_failures": "DestinationDeliveryFailures",
    "dead_letter_errors": "DeadLetterErrors",
    "concurrent_executions": "ConcurrentExecutions",
}


@frozen
class MetricsSnapshot:
    """The invoker's counters at one moment; ``concurrent_executions`` is the current value."""

    async_events_received: int = 0
    async_events_dropped: int = 0
    invocations: int = 0
    errors: int = 0
    throttles: int = 0
    destination_delivery_failures: int = 0
    dead_letter_errors: int = 0
    concurrent_executions: int = 0

    def to_cloudwatch(self) -> dict[str, Any]:
        """The same values under CloudWatch's metric names."""
        return {_CLOUDWATCH_NAMES[k]: v for k, v in asdict(self).items()}


class Counters:
    """Mutable counters the invoker bumps; plain attributes keep the hot path cheap."""

    __slots__ = tuple(_CLOUDWATCH_NAMES)

    def __init__(self) -> None:
        self.async_events_received = 0
        self.async_events_dropped = 0
        self.invocations = 0
        self.errors = 0
        self.throttles = 0
        self.destination_delivery_failures = 0
        self.dead_letter_errors = 0
        self.concurrent_executions = 0

    def reset(self) -> None:
        """Zero the counts; ``concurrent_executions`` is a live gauge and keeps its value."""
        for name in _CLOUDWATCH_NAMES:
            if name != "concurrent_executions":
                setattr(self, name, 0)

    def snapshot(self) -> MetricsSnapshot:
        return MetricsSnapshot(**{name: getattr(self, name) for name in _CLOUDWATCH_NAMES})
