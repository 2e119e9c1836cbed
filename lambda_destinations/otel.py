"""Forward an invoker's metrics to OpenTelemetry (``pip install lambda_destinations[otel]``).

``OpenTelemetryMetrics`` is a metrics hook: pass it in ``metrics_hooks=``. Counts become
counters, ``AsyncEventAge`` and ``Duration`` histograms (milliseconds), and
``ConcurrentExecutions`` a gauge, all under CloudWatch's names with a ``FunctionName``
attribute, the dimension CloudWatch uses. (OpenTelemetry names are case-insensitive: its SDK
exports them lowercased.)
"""

from __future__ import annotations

from typing import Any

from ._metrics import Metric

__all__ = ["OpenTelemetryMetrics"]

_COUNTS = (
    "AsyncEventsReceived",
    "AsyncEventsDropped",
    "Invocations",
    "Errors",
    "Throttles",
    "DestinationDeliveryFailures",
    "DeadLetterErrors",
    "RecursiveInvocationsDropped",
)
_HISTOGRAMS = ("AsyncEventAge", "Duration")


class OpenTelemetryMetrics:
    """A metrics hook recording every data point on an OpenTelemetry meter.

    *meter_provider* defaults to OpenTelemetry's global provider.
    """

    def __init__(self, meter_provider: Any = None, *, meter_name: str = "lambda_destinations"):
        try:
            from opentelemetry import metrics
        except ImportError as e:
            msg = (
                "OpenTelemetryMetrics needs opentelemetry-api: "
                "pip install 'lambda_destinations[otel]'"
            )
            raise ImportError(msg) from e
        provider = meter_provider if meter_provider is not None else metrics.get_meter_provider()
        meter = provider.get_meter(meter_name)
        self._add = {name: meter.create_counter(name, unit="1").add for name in _COUNTS}
        self._record = {
            name: meter.create_histogram(name, unit="ms").record for name in _HISTOGRAMS
        }
        self._set = meter.create_gauge("ConcurrentExecutions", unit="1").set

    def __repr__(self) -> str:
        return "OpenTelemetryMetrics()"

    def __call__(self, metric: Metric) -> None:
        attributes = {"FunctionName": metric.function_name}
        name = metric.name
        if name in self._add:
            self._add[name](metric.value, attributes)
        elif name in self._record:
            self._record[name](metric.value, attributes)
        elif name == "ConcurrentExecutions":
            self._set(metric.value, attributes)
