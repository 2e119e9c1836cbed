"""The testing toolkit: join variants, record shapes and the pytest plugin's fixtures."""

from __future__ import annotations

import json
from unittest.mock import ANY

import pytest
from lambda_destinations import FunctionError, InMemoryDestination, JoinTimeoutError, async_invoke
from lambda_destinations.testing import (
    REQUEST_ID,
    STACK_TRACE,
    TIMESTAMP,
    VirtualClock,
    assert_record,
    override_invoker,
    record_shape,
)

from . import handlers


async def test_join_raise_on_error_raises_the_first_function_error_at_once(
    invoker_factory, virtual_clock
):
    """join(raise_on_error=True) raises the first failed attempt without waiting for retries."""
    invoker = invoker_factory(handlers.raise_value_error)
    response = await invoker.invoke({})
    with pytest.raises(FunctionError, match="ValueError: Failure from event") as info:
        await invoker.join(raise_on_error=True)
    assert info.value.request_id == response.request_id
    assert virtual_clock.elapsed == 0
    assert any("in raise_value_error" in note for note in info.value.__notes__)


async def test_join_raise_on_error_returns_when_all_succeed(invoker_factory, in_memory_destination):
    """Without errors, join(raise_on_error=True) returns like join()."""
    invoker = invoker_factory(lambda e: e, on_success=in_memory_destination)
    await invoker.invoke({})
    await invoker.join(raise_on_error=True)
    assert len(in_memory_destination.records) == 1


async def test_join_timeout_names_the_pending_events(invoker_factory):
    """join(timeout=...) raises JoinTimeoutError naming each pending event and its state."""
    invoker = invoker_factory(handlers.raise_value_error)
    response = await invoker.invoke({"order": 7})
    with pytest.raises(JoinTimeoutError, match="still pending after 30 s") as info:
        await invoker.join(timeout=30)
    assert response.request_id in str(info.value)
    assert 'waiting to retry, 1 attempt(s), payload {"order": 7}' in str(info.value)
    assert [p.request_id for p in info.value.pending] == [response.request_id]


async def test_assert_record_ignores_volatile_fields(invoker_factory, in_memory_destination):
    """assert_record compares AWS's shape with ids, timestamps and stack traces left out."""
    invoker = invoker_factory(
        handlers.raise_value_error,
        function_name="orders",
        maximum_retry_attempts=0,
        on_failure=in_memory_destination,
    )
    await invoker.invoke({"Success": False})
    await invoker.join()
    assert_record(
        in_memory_destination.records[0],
        {
            "version": "1.0",
            "timestamp": TIMESTAMP,
            "requestContext": {
                "requestId": REQUEST_ID,
                "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:orders:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 1,
            },
            "requestPayload": {"Success": False},
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "responsePayload": {
                "errorMessage": "Failure from event, Success = false, I am failing!",
                "errorType": "ValueError",
                "requestId": REQUEST_ID,
                "stackTrace": STACK_TRACE,
            },
        },
    )


async def test_assert_record_shows_a_diff_on_mismatch(invoker_factory, in_memory_destination):
    """A mismatch raises AssertionError with a line diff naming the differing value."""
    invoker = invoker_factory(lambda e: "ok", on_success=in_memory_destination)
    await invoker.invoke({})
    await invoker.join()
    expected = record_shape(in_memory_destination.records[0]) | {"responsePayload": "not ok"}
    with pytest.raises(
        AssertionError, match=r'(?s)-  "responsePayload": "not ok".*\+  "responsePayload": "ok"'
    ):
        assert_record(in_memory_destination.records[0], expected)


async def test_record_shape_masks_the_request_id_inside_messages(
    invoker_factory, in_memory_destination
):
    """The request id inside a timeout message is masked too; mock.ANY works in expectations.

    No trace of the real request id is left in the shape, and assert_record accepts mock.ANY
    for a whole part of the record while still comparing the rest.
    """
    import asyncio

    async def slow(event):
        await asyncio.sleep(10)

    invoker = invoker_factory(
        slow, timeout=1, maximum_retry_attempts=0, on_failure=in_memory_destination
    )
    response = await invoker.invoke({})
    await invoker.join()
    record = in_memory_destination.records[0]
    shape = record_shape(record)
    assert shape["responsePayload"] == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {REQUEST_ID} Error: Task timed out after 1.00 seconds",
    }
    assert response.request_id not in json.dumps(shape)
    expected = {
        "version": "1.0",
        "timestamp": TIMESTAMP,
        "requestContext": ANY,
        "requestPayload": {},
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        "responsePayload": shape["responsePayload"],
    }
    assert_record(record, expected)
    with pytest.raises(
        AssertionError, match=r"(?s)-.*after 2\.00 seconds.*\+.*after 1\.00 seconds"
    ):
        assert_record(
            record,
            expected
            | {
                "responsePayload": {
                    "errorType": "Sandbox.Timedout",
                    "errorMessage": f"RequestId: {REQUEST_ID} Error: Task timed out after 2.00 seconds",
                }
            },
        )


async def test_invoker_factory_binds_the_virtual_clock(invoker_factory, virtual_clock):
    """Invokers from invoker_factory use the test's virtual clock."""
    invoker = invoker_factory(lambda e: e)
    assert invoker.clock is virtual_clock


def test_plugin_runs_async_tests_without_other_plugins(pytester):
    """Installing the package is enough for `async def` tests and the fixtures to work."""
    pytester.makepyfile(
        """
        async def test_it(invoker_factory, in_memory_destination):
            invoker = invoker_factory(lambda e: 1, on_success=in_memory_destination)
            await invoker.invoke({})
            await invoker.join()
            assert len(in_memory_destination.records) == 1
        """
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:asyncio", "-p", "no:anyio"
    )
    result.assert_outcomes(passed=1)


def test_lambda_context_lets_a_test_call_a_handler_directly(virtual_clock):
    """testing.lambda_context() builds the context a handler expects, on the given clock."""
    from lambda_destinations.testing import lambda_context

    def handler(event, context):
        return context.function_name, context.get_remaining_time_in_millis(), context.aws_request_id

    context = lambda_context(
        function_name="orders", timeout=30, clock=virtual_clock, request_id="r-1"
    )
    assert handler({}, context) == ("orders", 30_000, "r-1")
    assert context.invoked_function_arn == "arn:aws:lambda:us-east-1:123456789012:function:orders"
    virtual_clock.advance(10)
    assert context.get_remaining_time_in_millis() == 20_000


PRODUCTION_FAILURES = InMemoryDestination()


@async_invoke(function_name="refund", maximum_retry_attempts=1, on_failure=PRODUCTION_FAILURES)
def refund(event, context):
    raise ValueError(f"refund {event['id']} refused")


async def test_override_invoker_runs_a_decorated_function_on_other_clock_and_destinations():
    """Inside the block the decorated function's events use the new invoker; after, the old.

    The new invoker keeps the decorator's options (its name, one retry) with the overrides.
    """
    clock, failed = VirtualClock(), InMemoryDestination()
    original = refund.invoker
    with override_invoker(refund, clock=clock, on_failure=failed) as invoker:
        assert refund.invoker is invoker
        await refund.invoke({"id": 7})
        await refund.join()
        await refund.aclose()
    assert refund.invoker is original
    (record,) = failed.records
    assert (record.approximate_invoke_count, clock.elapsed) == (2, 60)
    assert record.request_context.function_arn.endswith(":function:refund:$LATEST")
    assert PRODUCTION_FAILURES.records == []


def test_override_invoker_puts_the_original_back_when_the_block_raises():
    """An exception in the block still restores the decorated function's own invoker."""
    original = refund.invoker
    with pytest.raises(KeyError), override_invoker(refund, clock=VirtualClock()):
        raise KeyError("boom")
    assert refund.invoker is original
    assert refund.options == {
        "function_name": "refund",
        "maximum_retry_attempts": 1,
        "on_failure": PRODUCTION_FAILURES,
    }
