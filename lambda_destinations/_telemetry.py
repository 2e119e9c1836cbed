"""What an invoker reports about itself: CloudWatch's counters, hooks, Lambda's log lines.

`Telemetry` only counts, which is all the hot path pays for when nobody listens.
`ReportingTelemetry` also hands every data point to the metrics hooks and writes Lambda's
START / END / REPORT lines; the invoker picks one of the two once, at construction.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

from ._clock import Clock
from ._exceptions import ConfigurationTypeError
from ._metrics import Counters, Metric, MetricsHook

__all__ = ["ReportingTelemetry", "Telemetry", "logger", "runtime_logger", "telemetry_for"]

logger = logging.getLogger("lambda_destinations")
#: Lambda's own START / END / REPORT lines, when ``lambda_logs=True``.
runtime_logger = logging.getLogger("lambda_destinations.runtime")


class Telemetry:
    """The counters behind ``AsyncInvoker.metrics()``, one method per thing that happens."""

    __slots__ = ("counters",)

    def __init__(self) -> None:
        self.counters = Counters()

    def received(self, request_id: str) -> None:
        """An event was accepted (``AsyncEventsReceived``)."""
        self.counters.async_events_received += 1

    def throttled(self, request_id: str) -> None:
        """An event fell due and found no free concurrency (``Throttles``)."""
        self.counters.throttles += 1

    def attempt_started(self, request_id: str, age: float) -> None:
        """An attempt starts; *age* is the event's in seconds (``AsyncEventAge``)."""
        counters = self.counters
        counters.invocations += 1
        counters.concurrent_executions += 1
        counters.observe_age(age)

    def attempt_ended(self, request_id: str, started: float) -> None:
        """The attempt that started at *started* (the clock's monotonic time) is over."""
        self.counters.concurrent_executions -= 1

    def attempt_failed(self, request_id: str) -> None:
        """The attempt ended in a function error (``Errors``)."""
        self.counters.errors += 1

    def dropped(self, request_id: str) -> None:
        """The event ended without a successful run (``AsyncEventsDropped``)."""
        self.counters.async_events_dropped += 1

    def recursion_stopped(self, request_id: str) -> None:
        """Recursive loop detection stopped the event (``RecursiveInvocationsDropped``)."""
        self.counters.recursive_invocations_dropped += 1

    def delivery_failed(self, dead_letter: bool, request_id: str) -> None:
        """A send failed (``DeadLetterErrors`` or ``DestinationDeliveryFailures``)."""
        if dead_letter:
            self.counters.dead_letter_errors += 1
        else:
            self.counters.destination_delivery_failures += 1


class ReportingTelemetry(Telemetry):
    """`Telemetry` that also calls the metrics hooks and writes Lambda's log lines."""

    __slots__ = ("_clock", "_function_name", "_hooks", "_lambda_logs", "_memory", "_version")

    def __init__(
        self,
        hooks: Sequence[MetricsHook],
        *,
        lambda_logs: bool,
        clock: Clock,
        function_name: str,
        executed_version: str,
        memory_size: int,
    ) -> None:
        super().__init__()
        self._hooks = tuple(hooks)
        self._lambda_logs = lambda_logs
        self._clock = clock
        self._function_name = function_name
        self._version = executed_version
        self._memory = memory_size

    def _emit(self, name: str, value: float, unit: str, request_id: str | None) -> None:
        metric = Metric(name, value, unit, self._function_name, request_id)
        for hook in self._hooks:
            try:
                hook(metric)
            except BaseException:  # a hook never affects an event, whatever it raises
                logger.exception("metrics hook %r failed on %s", hook, name)

    def received(self, request_id: str) -> None:
        super().received(request_id)
        self._emit("AsyncEventsReceived", 1, "Count", request_id)

    def throttled(self, request_id: str) -> None:
        super().throttled(request_id)
        self._emit("Throttles", 1, "Count", request_id)

    def attempt_started(self, request_id: str, age: float) -> None:
        super().attempt_started(request_id, age)
        if self._hooks:
            self._emit("AsyncEventAge", age * 1000, "Milliseconds", request_id)
            self._emit("Invocations", 1, "Count", request_id)
            self._concurrency()
        if self._lambda_logs:
            runtime_logger.info("START RequestId: %s Version: %s", request_id, self._version)

    def _concurrency(self) -> None:
        self._emit("ConcurrentExecutions", self.counters.concurrent_executions, "Count", None)

    def attempt_ended(self, request_id: str, started: float) -> None:
        super().attempt_ended(request_id, started)
        if self._hooks:
            self._concurrency()
        duration_ms = (self._clock.monotonic() - started) * 1000
        if self._hooks:
            self._emit("Duration", duration_ms, "Milliseconds", request_id)
        if self._lambda_logs:
            runtime_logger.info("END RequestId: %s", request_id)
            runtime_logger.info(
                "REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %d ms\t"
                "Memory Size: %s MB",
                request_id,
                duration_ms,
                math.ceil(duration_ms),
                self._memory,
            )

    def attempt_failed(self, request_id: str) -> None:
        super().attempt_failed(request_id)
        self._emit("Errors", 1, "Count", request_id)

    def dropped(self, request_id: str) -> None:
        super().dropped(request_id)
        self._emit("AsyncEventsDropped", 1, "Count", request_id)

    def recursion_stopped(self, request_id: str) -> None:
        super().recursion_stopped(request_id)
        self._emit("RecursiveInvocationsDropped", 1, "Count", request_id)

    def delivery_failed(self, dead_letter: bool, request_id: str) -> None:
        super().delivery_failed(dead_letter, request_id)
        name = "DeadLetterErrors" if dead_letter else "DestinationDeliveryFailures"
        self._emit(name, 1, "Count", request_id)


def telemetry_for(
    metrics_hooks: Sequence[MetricsHook],
    *,
    lambda_logs: bool,
    clock: Clock,
    function_name: str,
    executed_version: str,
    memory_size: int,
) -> Telemetry:
    """An invoker's telemetry: counting only, unless hooks or Lambda's log lines want more."""
    hooks = tuple(metrics_hooks)
    for hook in hooks:
        if not callable(hook):
            msg = f"metrics_hooks holds {hook!r}, which is not callable: pass functions"
            raise ConfigurationTypeError(msg)
    if not hooks and not lambda_logs:
        return Telemetry()
    return ReportingTelemetry(
        hooks,
        lambda_logs=lambda_logs,
        clock=clock,
        function_name=function_name,
        executed_version=executed_version,
        memory_size=memory_size,
    )
