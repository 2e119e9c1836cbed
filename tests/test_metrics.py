"""Metrics under CloudWatch's names, hooks to forward them, and Lambda-style log lines."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import pytest
from lambda_destinations import ConfigurationError, Metric, MetricsSnapshot
from lambda_destinations.otel import OpenTelemetryMetrics


def fail(event):
    raise RuntimeError("no")


async def test_event_age_statistics_follow_the_retry_schedule(invoker_factory):
    """AsyncEventAge is measured per attempt from acceptance: 0, 60 000 and 180 000 ms."""
    invoker = invoker_factory(fail)
    await invoker.invoke({})
    await invoker.join()
    ages = invoker.metrics().async_event_age_ms
    assert (ages.sample_count, ages.minimum, ages.maximum, ages.sum) == (3, 0, 180_000, 240_000)
    assert ages.average == 80_000
    assert invoker.metrics().to_cloudwatch()["AsyncEventAge"] == 180_000


async def test_reset_metrics_keeps_concurrent_executions_live(invoker_factory):
    """reset_metrics() zeroes the counts, not ConcurrentExecutions, which is a live gauge.

    Reset while 3 attempts run, the snapshot holds nothing but concurrent_executions == 3;
    once they end, the gauge is back at 0 (not -3) and every count is still 0.
    """
    release = asyncio.Event()
    all_running = asyncio.Event()
    running = 0

    async def handler(event):
        nonlocal running
        running += 1
        if running == 3:
            all_running.set()
        await release.wait()

    invoker = invoker_factory(handler)
    for _ in range(3):
        await invoker.invoke({})
    await all_running.wait()
    assert invoker.metrics().concurrent_executions == 3
    invoker.reset_metrics()
    assert invoker.metrics() == MetricsSnapshot(concurrent_executions=3)
    release.set()
    await invoker.join()
    assert invoker.metrics() == MetricsSnapshot()


async def test_hooks_receive_every_data_point_in_order(invoker_factory):
    """A plain callable hook sees each metric as it happens, with function name and request id."""
    seen: list[Metric] = []
    invoker = invoker_factory(
        fail, function_name="orders", maximum_retry_attempts=1, metrics_hooks=[seen.append]
    )
    response = await invoker.invoke({})
    await invoker.join()
    names = [m.name for m in seen]
    assert names == [
        "AsyncEventsReceived",
        "AsyncEventAge", "Invocations", "ConcurrentExecutions", "ConcurrentExecutions",
        "Duration", "Errors",
        "AsyncEventAge", "Invocations", "ConcurrentExecutions", "ConcurrentExecutions",
        "Duration", "Errors",
        "AsyncEventsDropped",
    ]  # fmt: skip
    assert {m.function_name for m in seen} == {"orders"}
    assert {m.request_id for m in seen if m.name != "ConcurrentExecutions"} == {response.request_id}
    assert [m.value for m in seen if m.name == "ConcurrentExecutions"] == [1, 0, 1, 0]
    ages = [m.value for m in seen if m.name == "AsyncEventAge"]
    assert ages == [0, 60_000]
    assert next(m for m in seen if m.name == "AsyncEventAge").unit == "Milliseconds"


async def test_throttles_and_delivery_failures_reach_hooks(invoker_factory):
    """Throttled events and failed deliveries are forwarded as they are counted."""
    seen: list[str] = []

    def broken(record):
        raise OSError("down")

    invoker = invoker_factory(
        fail,
        reserved_concurrency=0,
        on_failure=broken,
        dead_letter_queue=broken,
        metrics_hooks=[lambda m: seen.append(m.name)],
    )
    await invoker.invoke({})
    await invoker.join()
    # The two plain-function receivers run in worker threads: their failures are counted
    # when each thread is done, after the drop, in either order.
    assert seen[:3] == ["AsyncEventsReceived", "Throttles", "AsyncEventsDropped"]
    assert sorted(seen[3:]) == ["DeadLetterErrors", "DestinationDeliveryFailures"]


async def test_a_failing_hook_changes_nothing(invoker_factory, in_memory_destination, caplog):
    """A hook that raises is logged; the event and the other hooks go on."""
    seen: list[str] = []

    def broken(metric):
        raise ValueError("hook bug")

    invoker = invoker_factory(
        lambda e: e,
        on_success=in_memory_destination,
        metrics_hooks=[broken, lambda m: seen.append(m.name)],
    )
    with caplog.at_level(logging.ERROR, logger="lambda_destinations"):
        await invoker.invoke({})
        await invoker.join()
    assert len(in_memory_destination.records) == 1
    assert "Invocations" in seen
    assert "hook bug" in caplog.text


def test_hooks_must_be_callable():
    """A hook that is not callable is refused."""
    from lambda_destinations import AsyncInvoker

    with pytest.raises(ConfigurationError, match="not callable"):
        AsyncInvoker(fail, metrics_hooks=["nope"])  # type: ignore[list-item]


async def test_lambda_logs_write_start_end_report_lines(invoker_factory, caplog):
    """lambda_logs=True writes START, END and REPORT lines in Lambda's format per attempt."""
    import asyncio

    async def work(event):
        await asyncio.sleep(0.25)

    invoker = invoker_factory(work, lambda_logs=True, memory_size=256)
    with caplog.at_level(logging.INFO, logger="lambda_destinations.runtime"):
        response = await invoker.invoke({})
        await invoker.join()
    rid = response.request_id
    lines = [r.getMessage() for r in caplog.records if r.name == "lambda_destinations.runtime"]
    assert lines[0] == f"START RequestId: {rid} Version: $LATEST"
    assert lines[1] == f"END RequestId: {rid}"
    assert (
        lines[2]
        == f"REPORT RequestId: {rid}\tDuration: 250.00 ms\tBilled Duration: 250 ms\tMemory Size: 256 MB"
    )


async def test_no_lambda_log_lines_by_default(invoker_factory, caplog):
    """Without lambda_logs, nothing is written to the runtime logger."""
    invoker = invoker_factory(lambda e: e)
    with caplog.at_level(logging.DEBUG):
        await invoker.invoke({})
        await invoker.join()
    assert not [r for r in caplog.records if r.name == "lambda_destinations.runtime"]


async def test_attempt_outcomes_are_logged_at_debug_and_final_failures_at_warning(
    invoker_factory, caplog
):
    """One DEBUG line per attempt outcome and one WARNING per final failure, with the request id."""
    invoker = invoker_factory(fail, maximum_retry_attempts=1)
    ok = invoker_factory(lambda e: e)
    with caplog.at_level(logging.DEBUG, logger="lambda_destinations"):
        failed_id = (await invoker.invoke({})).request_id
        ok_id = (await ok.invoke({})).request_id
        await invoker.join()
        await ok.join()
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    warning = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum(failed_id in line for line in debug) == 2
    assert sum(ok_id in line for line in debug) == 1
    assert len(warning) == 1
    assert re.search(f"event {failed_id} .* RetriesExhausted after 2 attempt", warning[0])


async def test_open_telemetry_adapter_records_with_cloudwatch_names(invoker_factory):
    """The OpenTelemetry hook feeds counters, histograms and a gauge, read back from the SDK."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    invoker = invoker_factory(
        fail, function_name="orders", metrics_hooks=[OpenTelemetryMetrics(provider)]
    )
    await invoker.invoke({})
    await invoker.invoke({})
    await invoker.join()
    points = otel_points(reader)
    assert points["asynceventsreceived"].value == 2
    assert points["invocations"].value == 6
    assert points["errors"].value == 6
    assert points["asynceventsdropped"].value == 2
    assert points["asynceventage"].count == 6
    assert points["asynceventage"].max == 180_000
    assert dict(points["invocations"].attributes) == {"FunctionName": "orders"}
    assert points["concurrentexecutions"].value == 0


async def test_open_telemetry_gauge_follows_live_concurrency_and_duration_is_recorded(
    invoker_factory,
):
    """The OpenTelemetry gauge holds the running attempts' count; each Duration is a data point.

    Read from inside the second of two concurrent attempts, ConcurrentExecutions is 2; after
    both end it is 0. Each attempt sleeps 250 virtual ms, so the Duration histogram holds two
    points of exactly 250 ms.
    """
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    gauge_while_running: list[float] = []

    async def handler(event):
        if event["n"] == 2:
            gauge_while_running.append(otel_points(reader)["concurrentexecutions"].value)
        await asyncio.sleep(0.25)

    invoker = invoker_factory(handler, metrics_hooks=[OpenTelemetryMetrics(provider)])
    await invoker.invoke({"n": 1})
    await invoker.invoke({"n": 2})
    await invoker.join()
    assert gauge_while_running == [2]
    points = otel_points(reader)
    assert points["concurrentexecutions"].value == 0
    duration = points["duration"]
    assert (duration.count, duration.sum, duration.min, duration.max) == (2, 500, 250, 250)


def otel_points(reader: Any) -> dict[str, Any]:
    """The first data point of each metric *reader* collected, by lowercased name."""
    data = reader.get_metrics_data()
    assert data is not None
    # OpenTelemetry instrument names are case-insensitive; its SDK reports them lowercased.
    return {
        metric.name.lower(): metric.data.data_points[0]
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
    }
