"""Recursive loop detection: an event's 17th invocation is stopped, as AWS does by default.

The count travels with the triggering event: through ``invoke()`` called from inside a
running handler (sync or async), and through an invoker used as another's destination.
"""

from __future__ import annotations

from typing import Any

import pytest
from lambda_destinations import (
    AsyncInvoker,
    Condition,
    ConfigurationError,
    InMemoryDeadLetterQueue,
    InMemoryDestination,
)
from lambda_destinations.testing import REQUEST_ID, TIMESTAMP, VirtualClock, assert_record

RECURSION_MESSAGE = (
    "Lambda has detected your function being invoked in a recursive loop with other AWS "
    "resources and stopped your function's invocation."
)


def self_invoking(style: str, runs: list[int], limit: int = 40) -> tuple[Any, list[AsyncInvoker]]:
    """A handler that invokes its own function again with n + 1, up to *limit*."""
    me: list[AsyncInvoker] = []

    def sync_handler(event: dict[str, int]) -> None:
        runs.append(event["n"])
        if event["n"] < limit:
            me[0].invoke({"n": event["n"] + 1})

    async def async_handler(event: dict[str, int]) -> None:
        runs.append(event["n"])
        if event["n"] < limit:
            await me[0].invoke({"n": event["n"] + 1})

    return (sync_handler if style == "sync" else async_handler), me


@pytest.mark.parametrize("style", ["sync", "async"])
async def test_a_function_invoking_itself_is_stopped_at_the_17th_invocation(style):
    """invoke() from inside the handler: 16 invocations run; the 17th event goes to failure.

    The stopped event never runs: its record has condition RecursiveInvocationDetected, count
    0 and no response keys; the DLQ gets it with ErrorCode 400 and AWS's message; the metric
    RecursiveInvocationsDropped counts it (and AsyncEventsDropped, as any dropped event).
    """
    runs: list[int] = []
    handler, me = self_invoking(style, runs)
    failed, dlq = InMemoryDestination(), InMemoryDeadLetterQueue()
    clock = VirtualClock()
    invoker = AsyncInvoker(
        handler, function_name="loop", clock=clock, on_failure=failed, dead_letter_queue=dlq
    )
    me.append(invoker)
    async with invoker:
        await invoker.invoke({"n": 1})
        await invoker.join(timeout=60)
    assert runs == list(range(1, 17))
    (record,) = failed.records
    assert_record(
        record,
        {
            "version": "1.0",
            "timestamp": TIMESTAMP,
            "requestContext": {
                "requestId": REQUEST_ID,
                "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:loop:$LATEST",
                "condition": "RecursiveInvocationDetected",
                "approximateInvokeCount": 0,
            },
            "requestPayload": {"n": 17},
        },
    )
    (letter,) = dlq.messages
    assert (letter.event, letter.error_code, letter.error_message) == (
        {"n": 17},
        "400",
        RECURSION_MESSAGE,
    )
    metrics = invoker.metrics()
    assert (metrics.recursive_invocations_dropped, metrics.async_events_dropped) == (1, 1)
    assert metrics.to_cloudwatch()["RecursiveInvocationsDropped"] == 1
    assert metrics.invocations == 16


async def test_allow_lets_the_loop_run_on():
    """recursive_loop="Allow": nothing is stopped; the handler's own limit ends the loop."""
    runs: list[int] = []
    handler, me = self_invoking("async", runs, limit=25)
    failed = InMemoryDestination()
    invoker = AsyncInvoker(handler, clock=VirtualClock(), on_failure=failed, recursive_loop="Allow")
    me.append(invoker)
    async with invoker:
        await invoker.invoke({"n": 1})
        await invoker.join(timeout=60)
    assert runs == list(range(1, 26))
    assert failed.records == []
    assert invoker.metrics().recursive_invocations_dropped == 0


async def test_two_functions_chained_as_each_others_destination_are_stopped():
    """A's on_success is B and B's is A: records bounce until the 17th invocation is stopped.

    Each record becomes the next function's event (AWS's Lambda destination); the count
    goes on through both functions, so A and B together run 16 times.
    """
    clock = VirtualClock()
    runs: list[str] = []
    stopped = InMemoryDestination()

    def named(name: str) -> Any:
        def handler(event: dict[str, Any]) -> str:
            runs.append(name)
            return name

        handler.__name__ = name
        return handler

    a = AsyncInvoker(named("a"), clock=clock, on_failure=stopped)
    b = AsyncInvoker(named("b"), clock=clock, on_success=a, on_failure=stopped)
    a.update_config(on_success=b)
    async with a, b:
        await a.invoke({"start": True})
        for _ in range(40):  # each function's join covers its events; the chain hops between
            await a.join(timeout=60)
            await b.join(timeout=60)
    assert runs == ["a", "b"] * 8
    (record,) = stopped.records
    assert record.condition is Condition.RECURSIVE_INVOCATION
    assert record.request_context.function_arn.endswith(":function:a:$LATEST")
    assert (
        a.metrics().recursive_invocations_dropped + b.metrics().recursive_invocations_dropped == 1
    )


async def test_a_new_invoke_from_outside_starts_a_fresh_count():
    """After a loop was stopped, the caller's next invoke runs normally: nothing leaked."""
    runs: list[int] = []
    handler, me = self_invoking("async", runs)
    failed = InMemoryDestination()
    invoker = AsyncInvoker(handler, clock=VirtualClock(), on_failure=failed)
    me.append(invoker)
    async with invoker:
        await invoker.invoke({"n": 1})
        await invoker.join(timeout=60)
        runs.clear()
        await invoker.invoke({"n": 30})
        await invoker.join(timeout=60)
    assert runs == list(range(30, 41))
    assert len(failed.records) == 1


def test_recursive_loop_takes_aws_two_values():
    """Anything but "Terminate" or "Allow" is refused, naming both."""
    with pytest.raises(ConfigurationError, match=r"'Terminate'.*'Allow'"):
        AsyncInvoker(lambda e: e, recursive_loop="terminate")  # type: ignore[arg-type]
