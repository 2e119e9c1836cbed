"""Counters named after Lambda's CloudWatch metrics, and hooks to forward them.

Each invoker keeps plain integer counters (cheap on the hot path) and, when hooks are
configured, hands every data point to them as a `Metric` so they can be forwarded elsewhere
(OpenTelemetry, StatsD, a test list).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final, TypeAlias

from attrs import asdict, frozen

__all__ = ["Counters", "Metric", "MetricsHook", "MetricsSnapshot", "Statistics"]

_CLOUDWATCH_NAMES: Final = {
    "async_events_received": "AsyncEventsReceived",
    "async_events_dropped": "AsyncEventsDropped",
    "invocations": "Invocations",
    "errors": "Errors",
    "throttles": "Throttles",
    "destination_delivery_failures": "DestinationDeliveryFailures",
    "dead_letter_errors": "DeadLetterErrors",
    "recursive_invocations_dropped": "RecursiveInvocationsDropped",
    "concurrent_executions": "ConcurrentExecutions",
}


@frozen
class Metric:
    """One CloudWatch-style data point: ``AsyncEventAge`` = 60000.0 Milliseconds, say."""

    name: str
    value: float
    unit: str
    function_name: str
    request_id: str | None = None


#: A plain callable per data point is a hook.
MetricsHook: TypeAlias = Callable[[Metric], object]


@frozen
class Statistics:
    """CloudWatch's statistics of a distribution: sample count, sum, minimum, maximum."""

    sample_count: int = 0
    sum: float = 0.0
    minimum: float = 0.0
    maximum: float = 0.0

    @property
    def average(self) -> float:
        """The sum over the sample count (0 with no samples)."""
        return self.sum / self.sample_count if self.sample_count else 0.0


@frozen
class MetricsSnapshot:
    """The invoker's counters at one moment; ``concurrent_executions`` is the current value.

    ``async_event_age_ms`` is the age of events when each attempt started, in milliseconds.
    """

    async_events_received: int = 0
    async_events_dropped: int = 0
    invocations: int = 0
    errors: int = 0
    throttles: int = 0
    destination_delivery_failures: int = 0
    dead_letter_errors: int = 0
    recursive_invocations_dropped: int = 0
    concurrent_executions: int = 0
    async_event_age_ms: Statistics = Statistics()

    def to_cloudwatch(self) -> dict[str, Any]:
        """The counts under CloudWatch's metric names (``AsyncEventAge`` as its maximum)."""
        values = asdict(self, recurse=False)
        counts = {_CLOUDWATCH_NAMES[k]: v for k, v in values.items() if k in _CLOUDWATCH_NAMES}
        return counts | {"AsyncEventAge": self.async_event_age_ms.maximum}


class Counters:
    """Mutable counters the invoker bumps; plain attributes keep the hot path cheap."""

    __slots__ = (*_CLOUDWATCH_NAMES, "age_count", "age_max", "age_min", "age_sum")

    def __init__(self) -> None:
        self.async_events_received = 0
        self.async_events_dropped = 0
        self.invocations = 0
        self.errors = 0
        self.throttles = 0
        self.destination_delivery_failures = 0
        self.dead_letter_errors = 0
        self.recursive_invocations_dropped = 0
        self.concurrent_executions = 0
        self.age_count = 0
        self.age_sum = 0.0
        self.age_max = 0.0
        self.age_min = math.inf

    def observe_age(self, seconds: float) -> None:
        self.age_count += 1
        self.age_sum += seconds
        if seconds > self.age_max:
            self.age_max = seconds
        if seconds < self.age_min:
            self.age_min = seconds

    def reset(self) -> None:
        """Zero the counts; ``concurrent_executions`` is a live gauge and keeps its value."""
        running = self.concurrent_executions
        Counters.__init__(self)
        self.concurrent_executions = running

    def snapshot(self) -> MetricsSnapshot:
        ages = Statistics(
            self.age_count,
            self.age_sum * 1000,
            0.0 if not self.age_count else self.age_min * 1000,
            self.age_max * 1000,
        )
        counts = {name: getattr(self, name) for name in _CLOUDWATCH_NAMES}
        return MetricsSnapshot(**counts, async_event_age_ms=ages)
