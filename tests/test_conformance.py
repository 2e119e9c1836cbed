"""AWS conformance suite: what AWS was recorded to do, reproduced scenario by scenario.

Each test replays one behaviour of ``../shared/spec/aws-async.md`` (the source of truth) and
checks the exact record a destination receives, as AWS's JSON: every key, in AWS's order, at
every level. Virtual time starts at the moment of AWS's documented example record
(2019-11-14T18:16:05.568Z), so timestamps are exact too: ``+60 s`` is ``18:17:05.568Z``.

Tests are grouped by the spec's sections. Where AWS's behaviour is UNKNOWN, the docstring names
the assumption of ``docs/assumptions.md`` that the test relies on.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from lambda_destinations import (
    AsyncInvoker,
    DeadLetterMessage,
    ExecutionRecord,
    InMemoryDeadLetterQueue,
    InMemoryDestination,
    InvokerDestination,
    InvokeResponse,
    Statistics,
)
from lambda_destinations.testing import (
    REQUEST_ID,
    STACK_TRACE,
    TIMESTAMP,
    VirtualClock,
    assert_record,
)

#: The timestamp of AWS's documented example record; virtual time starts here.
START = datetime(2019, 11, 14, 18, 16, 5, 568_000, tzinfo=UTC)
ACCOUNT = "123456789012"


@pytest.fixture
def virtual_clock() -> VirtualClock:
    """The plugin's clock, started at AWS's example timestamp so record timestamps are exact."""
    return VirtualClock(start=START)


def arn(name: str, qualifier: str = "$LATEST", region: str = "us-east-1") -> str:
    return f"arn:aws:lambda:{region}:{ACCOUNT}:function:{name}:{qualifier}"


def assert_aws_record(
    record: ExecutionRecord,
    expected: dict[str, Any],
    *,
    request_id: str,
    stack_trace: bool = False,
) -> None:
    """*record* is exactly *expected*: AWS's JSON with its real timestamp, keys in order.

    ``requestId`` values are written as `REQUEST_ID` and must be *request_id*; the timestamp is
    compared as written; `assert_record` checks key order at every level.
    """
    assert record.request_id == request_id
    assert record.to_dict()["timestamp"] == expected["timestamp"]
    assert_record(record, {**expected, "timestamp": TIMESTAMP}, stack_trace=stack_trace)


def unhandled(error_type: str, message: str) -> dict[str, Any]:
    """The Python runtime's error object for an exception, stack trace masked (spec §5)."""
    return {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": REQUEST_ID,
        "stackTrace": STACK_TRACE,
    }


FAILED_RESPONSE = {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
OK_RESPONSE = {"statusCode": 200, "executedVersion": "$LATEST"}


def failing(clock: VirtualClock, attempts: list[tuple[float, str]]) -> Callable[..., Any]:
    """An async handler that records (virtual time, request id) and always raises."""

    async def my_function(event, context):
        attempts.append((clock.elapsed, context.aws_request_id))
        raise ValueError("order service unavailable")

    return my_function


# -- §1 Invoke (InvocationType=Event) ---------------------------------------------------------


async def test_invoke_only_enqueues_and_no_payload_runs_as_an_empty_object(
    invoker_factory, in_memory_destination
):
    """§1: invoke answers 202 with a request id at once; an invoke with no payload runs as {}."""
    seen: list[object] = []

    async def my_function(event, context):
        seen.append(event)
        return "ok"

    invoker = invoker_factory(my_function, on_success=in_memory_destination)
    response = await invoker.invoke()
    assert response == InvokeResponse(request_id=response.request_id, status_code=202)
    assert seen == []
    await invoker.join()
    assert seen == [{}]
    assert_aws_record(
        in_memory_destination.records[0],
        {
            "version": "1.0",
            "timestamp": "2019-11-14T18:16:05.568Z",
            "requestContext": {
                "requestId": REQUEST_ID,
                "functionArn": arn("my_function"),
                "condition": "Success",
                "approximateInvokeCount": 1,
            },
            "requestPayload": {},
            "responseContext": OK_RESPONSE,
            "responsePayload": "ok",
        },
        request_id=response.request_id,
    )


# -- §2 Retries and event age -----------------------------------------------------------------


async def test_retries_exhausted_after_zero_retries(
    invoker_factory, virtual_clock, in_memory_destination
):
    """§2/§3: MaximumRetryAttempts 0 gives RetriesExhausted with approximateInvokeCount 1, at once."""
    attempts: list[tuple[float, str]] = []
    invoker = invoker_factory(
        failing(virtual_clock, attempts),
        maximum_retry_attempts=0,
        on_failure=in_memory_destination,
    )
    response = await invoker.invoke({"orderId": 17})
    await invoker.join()
    assert [t for t, _ in attempts] == [0]
    assert_aws_record(
        in_memory_destination.records[0],
        {
            "version": "1.0",
            "timestamp": "2019-11-14T18:16:05.568Z",
            "requestContext": {
                "requestId": REQUEST_ID,
                "functionArn": arn("my_function"),
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 1,
            },
            "requestPayload": {"orderId": 17},
            "responseContext": FAILED_RESPONSE,
            "responsePayload": unhandled("ValueError", "order service unavailable"),
        },
        request_id=response.request_id,
    )


async def test_retries_exhausted_after_two_retries(
    invoker_factory, virtual_clock, in_memory_destination
):
    """§2/§3: the default two retries give RetriesExhausted with count 3, decided at +180 s."""
    attempts: list[tuple[float, str]] = []
    invoker = invoker_factory(failing(virtual_clock, attempts), on_failure=in_memory_destination)
    response = await invoker.invoke({"orderId": 17})
    await invoker.join()
    assert len(attempts) == 3
    assert_aws_record(
        in_memory_destination.records[0],
        {
            "version": "1.0",
            "timestamp": "2019-11-14T18:19:05.568Z",
            "requestContext": {
                "requestId": REQUEST_ID,
                "functionArn": arn("my_function"),
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 3,
            },
            "requestPayload": {"orderId": 17},
            "responseContext": FAILED_RESPONSE,
            "responsePayload": unhandled("ValueError", "order service unavailable"),
        },
        request_id=response.request_id,
    )


async def test_default_schedule_retries_after_1_minute_then_2_more_minutes(
    invoker_factory, virtual_clock
):
    """§2: a function error is retried about 1 minute later, then about 2 minutes after that."""
    attempts: list[tuple[float, str]] = []
    invoker = invoker_factory(failing(virtual_clock, attempts))
    await invoker.invoke({})
    await invoker.join()
    assert [t for t, _ in attempts] == [0, 60, 180]
    assert virtual_clock.now() == START + timedelta(seconds=180)


async def test_every_attempt_and_the_error_object_carry_the_invokes_request_id(
    invoker_factory, virtual_clock, in_memory_destination, in_memory_dlq
):
    """§2/§5: the same request id on every attempt, in the error object and in the DLQ message."""
    attempts: list[tuple[float, str]] = []
    invoker = invoker_factory(
        failing(virtual_clock, attempts),
        on_failure=in_memory_destination,
        dead_letter_queue=in_memory_dlq,
    )
    response = await invoker.invoke({})
    other = await invoker.invoke({})
    await invoker.join()
    mine = [rid for _, rid in attempts if rid == response.request_id]
    assert mine == [response.request_id] * 3
    assert {rid for _, rid in attempts} == {response.request_id, other.request_id}
    by_id = {r.request_id: r for r in in_memory_destination.records}
    assert by_id[response.request_id].response_payload["requestId"] == response.request_id
    letters = {m.request_id for m in in_memory_dlq.messages}
    assert letters == {response.request_id, other.request_id}


async def test_max_age_60_gives_event_age_exceeded_right_after_the_first_failure(
    invoker_factory, virtual_clock, in_memory_destination
):
    """§2 (recorded on AWS): retries 2, max age 60 s -> EventAgeExceeded, count 1, no waiting."""
    attempts: list[tuple[float, str]] = []
    invoker = invoker_factory(
        failing(virtual_clock, attempts),
        maximum_retry_attempts=2,
        maximum_event_age_in_seconds=60,
        on_failure=in_memory_destination,
    )
    response = await invoker.invoke({"message": "retry-msg"})
    await invoker.join()
    assert [t for t, _ in attempts] == [0]
    assert virtual_clock.elapsed == 0
    assert_aws_record(
        in_memory_destination.records[0],
        {
            "version": "1.0",
            "timestamp": "2019-11-14T18:16:05.568Z",
            "requestContext": {
                "requestId": REQUEST_ID,
                "functionArn": arn("my_function"),
                "condition": "EventAgeExceeded",
                "approximateInvokeCount": 1,
            },
            "requestPayload": {"message": "retry-msg"},
            "responseContext": FAILED_RESPONSE,
            "responsePayload": unhandled("ValueError", "order service unavailable"),
        },
        request_id=response.request_id,
    )


async def test_max_age_90_allows_one_retry_then_event_age_exceeded(
    invoker_factory, virtual_clock, in_memory_destination, in_memory_dlq
):
    """§2 (recorded on AWS): retries 2, max age 90 s -> one retry, then EventAgeExceeded, count 2.

    §3/§4: the record keeps the last attempt's response, and the DLQ fires on this final failure
    too, with ErrorCode 200 and the last error message (assumption 6).
    """
    attempts: list[tuple[float, str]] = []
    invoker = invoker_factory(
        failing(virtual_clock, attempts),
        maximum_retry_attempts=2,
        maximum_event_age_in_seconds=90,
        on_failure=in_memory_destination,
        dead_letter_queue=in_memory_dlq,
    )
    response = await invoker.invoke({"message": "retry-msg"})
    await invoker.join()
    assert [t for t, _ in attempts] == [0, 60]
    assert_aws_record(
        in_memory_destination.records[0],
        {
            "version": "1.0",
            "timestamp": "2019-11-14T18:17:05.568Z",
            "requestContext": {
                "requestId": REQUEST_ID,
                "functionArn": arn("my_function"),
                "condition": "EventAgeExceeded",
                "approximateInvokeCount": 2,
            },
            "requestPayload": {"message": "retry-msg"},
            "responseContext": FAILED_RESPONSE,
            "responsePayload": unhandled("ValueError", "order service unavailable"),
        },
        request_id=response.request_id,
    )
    assert in_memory_dlq.messages == [
        DeadLetterMessage.build(
            '{"message": "retry-msg"}', response.request_id, "200", "order service unavailable"
        )
    ]


async def blocker_or_fail(event, context):
    """Runs 100 s for the blocker event; any other event fails at once."""
    if event.get("blocker"):
        await asyncio.sleep(100)
        return "done"
    raise ValueError("order service unavailable")


async def test_throttled_waiting_does_not_consume_retry_attempts(
    invoker_factory, in_memory_destination
):
    """§2: throttles are not function errors; all three attempts still run.

    The only slot is busy for 100 s. The event is throttled and retried after 1, 2, 4, ...,
    64 s (AWS's backoff), so it first runs at +127 s; it fails at +127, +187 and +307 s:
    RetriesExhausted with count 3.
    """
    invoker = invoker_factory(
        blocker_or_fail,
        function_name="my-function",
        reserved_concurrency=1,
        timeout=900,
        on_failure=in_memory_destination,
    )
    await invoker.invoke({"blocker": True})
    response = await invoker.invoke({"orderId": 17})
    await invoker.join()
    assert invoker.metrics().throttles == 7  # tries at +0, +1, +3, +7, +15, +31 and +63 s
    assert_aws_record(
        in_memory_destination.records[0],
        {
            "version": "1.0",
            "timestamp": "2019-11-14T18:21:12.568Z",
            "requestContext": {
                "requestId": REQUEST_ID,
                "functionArn": arn("my-function"),
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 3,
            },
            "requestPayload": {"orderId": 17},
            "responseContext": FAILED_RESPONSE,
            "responsePayload": unhandled("ValueError", "order service unavailable"),
        },
        request_id=response.request_id,
    )


async def test_event_age_counts_from_queueing_across_the_queue_wait(
    invoker_factory, in_memory_destination
):
    """§2: age is measured from acceptance, throttle backoffs included, and AWS looks ahead.

    Max age 150 s: the event first runs at +127 s after backing off while the slot was busy,
    and fails; a retry 60 s later would start at age 187 s, so it ends at once with
    EventAgeExceeded, count 1.
    """
    invoker = invoker_factory(
        blocker_or_fail,
        function_name="my-function",
        reserved_concurrency=1,
        timeout=900,
        maximum_event_age_in_seconds=150,
        on_failure=in_memory_destination,
    )
    await invoker.invoke({"blocker": True})
    response = await invoker.invoke({"orderId": 17})
    await invoker.join()
    assert_aws_record(
        in_memory_destination.records[0],
        {
            "version": "1.0",
            "timestamp": "2019-11-14T18:18:12.568Z",
            "requestContext": {
                "requestId": REQUEST_ID,
                "functionArn": arn("my-function"),
                "condition": "EventAgeExceeded",
                "approximateInvokeCount": 1,
            },
            "requestPayload": {"orderId": 17},
            "responseContext": FAILED_RESPONSE,
            "responsePayload": unhandled("ValueError", "order service unavailable"),
        },
        request_id=response.request_id,
    )


async def test_zero_reserved_concurrency_never_runs_and_has_no_response_keys(
    invoker_factory, in_memory_destination, in_memory_dlq
):
    """§2/§3: reserved concurrency 0 -> ZeroReservedConcurrency, count 0, no response keys.

    The event goes straight to on-failure and the DLQ, without retries; the DLQ's ErrorCode
    and ErrorMessage for an event that never ran follow assumption 5.
    """
    ran: list[object] = []
    invoker = invoker_factory(
        ran.append,
        function_name="my-function",
        reserved_concurrency=0,
        on_failure=in_memory_destination,
        dead_letter_queue=in_memory_dlq,
    )
    response = await invoker.invoke(b'{"orderId":17}')
    await invoker.join()
    assert ran == []
    assert invoker.metrics().invocations == 0
    assert_aws_record(
        in_memory_destination.records[0],
        {
            "version": "1.0",
            "timestamp": "2019-11-14T18:16:05.568Z",
            "requestContext": {
                "requestId": REQUEST_ID,
                "functionArn": arn("my-function"),
                "condition": "ZeroReservedConcurrency",
                "approximateInvokeCount": 0,
            },
            "requestPayload": {"orderId": 17},
        },
        request_id=response.request_id,
    )
    assert in_memory_dlq.messages == [
        DeadLetterMessage.build('{"orderId":17}', response.request_id, "429", "Rate Exceeded.")
    ]


async def test_success_on_a_retry_counts_every_attempt_that_ran(
    invoker_factory, virtual_clock, in_memory_destination
):
    """§2/§3: an event that fails once and then succeeds gives Success with count 2 at +60 s."""
    attempts: list[float] = []

    async def my_function(event, context):
        attempts.append(virtual_clock.elapsed)
        if len(attempts) == 1:
            raise ConnectionError("database not ready")
        return {"charged": event["orderId"]}

    invoker = invoker_factory(my_function, on_success=in_memory_destination)
    response = await invoker.invoke({"orderId": 17})
    await invoker.join()
    assert attempts == [0, 60]
    assert_aws_record(
        in_memory_destination.records[0],
        {
            "version": "1.0",
            "timestamp": "2019-11-14T18:17:05.568Z",
            "requestContext": {
                "requestId": REQUEST_ID,
                "functionArn": arn("my_function"),
                "condition": "Success",
                "approximateInvokeCount": 2,
            },
            "requestPayload": {"orderId": 17},
            "responseContext": OK_RESPONSE,
            "responsePayload": {"charged": 17},
        },
        request_id=response.request_id,
    )


# -- §3 The invocation record -----------------------------------------------------------------


async def test_success_record_is_aws_json_key_for_key_and_byte_for_byte(
    invoker_factory, in_memory_destination
):
    """§3: a success record has no functionError; its JSON envelope is compact, keys in order."""

    async def my_function(event, context):
        return "ok"

    invoker = invoker_factory(
        my_function, function_name="my-function", on_success=in_memory_destination
    )
    response = await invoker.invoke(b'{"ORDER_IDS":["9e07af03-ce31-4ff3-xmpl-36dce652cb4f"]}')
    await invoker.join()
    record = in_memory_destination.records[0]
    assert_aws_record(
        record,
        {
            "version": "1.0",
            "timestamp": "2019-11-14T18:16:05.568Z",
            "requestContext": {
                "requestId": REQUEST_ID,
                "functionArn": arn("my-function"),
                "condition": "Success",
                "approximateInvokeCount": 1,
            },
            "requestPayload": {"ORDER_IDS": ["9e07af03-ce31-4ff3-xmpl-36dce652cb4f"]},
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST"},
            "responsePayload": "ok",
        },
        request_id=response.request_id,
    )
    aws_bytes = (
        '{"version":"1.0","timestamp":"2019-11-14T18:16:05.568Z",'
        f'"requestContext":{{"requestId":"{response.request_id}",'
        '"functionArn":"arn:aws:lambda:us-east-1:123456789012:function:my-function:$LATEST",'
        '"condition":"Success","approximateInvokeCount":1},'
        '"requestPayload":{"ORDER_IDS":["9e07af03-ce31-4ff3-xmpl-36dce652cb4f"]},'
        '"responseContext":{"statusCode":200,"executedVersion":"$LATEST"},'
        '"responsePayload":"ok"}'
    )
    assert record.to_json() == aws_bytes.encode()


async def test_reproduces_the_documented_failure_record(in_memory_destination):
    """§3: AWS's example record, reproduced: my-function in us-east-2, RetriesExhausted, count 3.

    The clock starts 180 s before the example's timestamp so the third attempt's failure lands
    on it. The process exits in the handler, which the Python runtime reports as
    Runtime.ExitError (§5); the example's own message came from another runtime.
    """
    clock = VirtualClock(start=START - timedelta(seconds=180))

    def handler(event, context):
        sys.exit()

    async with AsyncInvoker(
        handler,
        function_name="my-function",
        region="us-east-2",
        clock=clock,
        on_failure=in_memory_destination,
    ) as invoker:
        response = await invoker.invoke({"ORDER_IDS": ["9e07af03-ce31-4ff3-xmpl-36dce652cb4f"]})
    assert_aws_record(
        in_memory_destination.records[0],
        {
            "version": "1.0",
            "timestamp": "2019-11-14T18:16:05.568Z",
            "requestContext": {
                "requestId": REQUEST_ID,
                "functionArn": "arn:aws:lambda:us-east-2:123456789012:function:my-function:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 3,
            },
            "requestPayload": {"ORDER_IDS": ["9e07af03-ce31-4ff3-xmpl-36dce652cb4f"]},
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "responsePayload": {
                "errorType": "Runtime.ExitError",
                "errorMessage": f"RequestId: {REQUEST_ID} Error: Runtime exited without providing a reason",
            },
        },
        request_id=response.request_id,
    )


async def test_timestamp_is_utc_with_exactly_three_millisecond_digits(in_memory_destination):
    """§3: timestamps are UTC, YYYY-MM-DDTHH:MM:SS.mmmZ, even on a whole second or a new day."""
    clock = VirtualClock(start=datetime(2024, 2, 29, 23, 59, 58, tzinfo=UTC))

    async def my_function(event, context):
        await asyncio.sleep(event["seconds"])
        return event["seconds"]

    async with AsyncInvoker(my_function, clock=clock, on_success=in_memory_destination) as inv:
        for seconds in (0, 1.5, 2.25):
            await inv.invoke({"seconds": seconds})
    stamps = sorted(r.to_dict()["timestamp"] for r in in_memory_destination.records)
    assert stamps == [
        "2024-02-29T23:59:58.000Z",
        "2024-02-29T23:59:59.500Z",
        "2024-03-01T00:00:00.250Z",
    ]


async def test_function_arn_is_qualified_even_for_the_bare_name(
    invoker_factory, in_memory_destination
):
    """§3: functionArn is always …:function:NAME:$LATEST when the caller used the bare name."""

    async def process_order(event, context):
        return context.invoked_function_arn

    named = invoker_factory(process_order, function_name="orders", on_success=in_memory_destination)
    default = invoker_factory(process_order, on_success=in_memory_destination)
    first = await named.invoke({})
    await named.join()
    second = await default.invoke({})
    await default.join()
    expected = [
        (first, "orders"),
        (second, "process_order"),
    ]
    for record, (response, name) in zip(in_memory_destination.records, expected, strict=True):
        assert_aws_record(
            record,
            {
                "version": "1.0",
                "timestamp": "2019-11-14T18:16:05.568Z",
                "requestContext": {
                    "requestId": REQUEST_ID,
                    "functionArn": arn(name),
                    "condition": "Success",
                    "approximateInvokeCount": 1,
                },
                "requestPayload": {},
                "responseContext": OK_RESPONSE,
                # The handler saw the ARN the caller used: the bare one (assumption 14).
                "responsePayload": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}",
            },
            request_id=response.request_id,
        )


async def test_alias_record_names_the_alias_and_the_version_it_executed(
    invoker_factory, in_memory_destination
):
    """§3: functionArn carries the alias; executedVersion is the version the alias points to."""

    async def my_function(event, context):
        raise KeyError("sku")

    invoker = invoker_factory(
        my_function,
        function_name="my-function",
        qualifier="live",
        executed_version="3",
        maximum_retry_attempts=0,
        on_failure=in_memory_destination,
    )
    response = await invoker.invoke({})
    await invoker.join()
    assert_aws_record(
        in_memory_destination.records[0],
        {
            "version": "1.0",
            "timestamp": "2019-11-14T18:16:05.568Z",
            "requestContext": {
                "requestId": REQUEST_ID,
                "functionArn": arn("my-function", "live"),
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 1,
            },
            "requestPayload": {},
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "3",
                "functionError": "Unhandled",
            },
            "responsePayload": unhandled("KeyError", "'sku'"),
        },
        request_id=response.request_id,
    )


def reversed_keys(value: dict[str, Any]) -> dict[str, Any]:
    return dict(reversed(value.items()))


@pytest.mark.parametrize("key", ["requestContext", "responseContext", "responsePayload"])
async def test_assert_record_rejects_nested_keys_out_of_aws_order(
    invoker_factory, in_memory_destination, key
):
    """§3: key order is AWS's at every level: a reordered nested object does not match."""

    async def my_function(event, context):
        raise ValueError("order service unavailable")

    invoker = invoker_factory(
        my_function, maximum_retry_attempts=0, on_failure=in_memory_destination
    )
    await invoker.invoke({})
    await invoker.join()
    expected: dict[str, Any] = {
        "version": "1.0",
        "timestamp": TIMESTAMP,
        "requestContext": {
            "requestId": REQUEST_ID,
            "functionArn": arn("my_function"),
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 1,
        },
        "requestPayload": {},
        "responseContext": FAILED_RESPONSE,
        "responsePayload": unhandled("ValueError", "order service unavailable"),
    }
    record = in_memory_destination.records[0]
    assert_record(record, expected)
    reordered = {**expected, key: reversed_keys(expected[key])}
    with pytest.raises(AssertionError, match="record differs from the expected AWS shape"):
        assert_record(record, reordered)


# -- §4 Destinations and the dead-letter queue ------------------------------------------------


async def test_dlq_body_is_the_event_byte_for_byte_with_three_attributes(
    invoker_factory, in_memory_dlq
):
    """§4: the DLQ gets the event exactly as sent, plus RequestID, ErrorCode 200, ErrorMessage."""
    body = b'{ "ORDER_IDS" :[ "9e07af03-ce31-4ff3-xmpl-36dce652cb4f" ,"b"],\n\t"n":  1.50 }'

    async def my_function(event, context):
        raise ValueError(f"{len(event['ORDER_IDS'])} orders could not be charged")

    invoker = invoker_factory(
        my_function, maximum_retry_attempts=0, dead_letter_queue=in_memory_dlq
    )
    response = await invoker.invoke(body)
    await invoker.join()
    assert in_memory_dlq.messages == [
        DeadLetterMessage(
            body=body.decode(),
            message_attributes={
                "RequestID": {"DataType": "String", "StringValue": response.request_id},
                "ErrorCode": {"DataType": "Number", "StringValue": "200"},
                "ErrorMessage": {
                    "DataType": "String",
                    "StringValue": "2 orders could not be charged",
                },
            },
        )
    ]
    assert in_memory_dlq.messages[0].body.encode() == body


async def test_on_failure_and_dlq_both_receive_their_message(invoker_factory, virtual_clock):
    """§4: with both configured, on-failure gets the record and the DLQ the event, once each."""
    ok, failed, dlq = InMemoryDestination(), InMemoryDestination(), InMemoryDeadLetterQueue()
    attempts: list[tuple[float, str]] = []
    invoker = invoker_factory(
        failing(virtual_clock, attempts),
        function_name="my-function",
        maximum_retry_attempts=1,
        on_success=ok,
        on_failure=failed,
        dead_letter_queue=dlq,
    )
    response = await invoker.invoke({"orderId": 17})
    await invoker.join()
    assert ok.records == []
    assert_aws_record(
        failed.records[0],
        {
            "version": "1.0",
            "timestamp": "2019-11-14T18:17:05.568Z",
            "requestContext": {
                "requestId": REQUEST_ID,
                "functionArn": arn("my-function"),
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 2,
            },
            "requestPayload": {"orderId": 17},
            "responseContext": FAILED_RESPONSE,
            "responsePayload": unhandled("ValueError", "order service unavailable"),
        },
        request_id=response.request_id,
    )
    assert len(failed.records) == 1
    assert dlq.messages == [
        DeadLetterMessage.build(
            '{"orderId": 17}', response.request_id, "200", "order service unavailable"
        )
    ]


async def test_only_on_failure_configured_records_the_failure_and_nothing_else(
    invoker_factory, virtual_clock, in_memory_destination
):
    """§4: an on-failure destination alone receives the final failure; no DLQ error is counted."""
    attempts: list[tuple[float, str]] = []
    invoker = invoker_factory(
        failing(virtual_clock, attempts),
        function_name="my-function",
        maximum_retry_attempts=0,
        on_failure=in_memory_destination,
    )
    response = await invoker.invoke({"orderId": 17})
    await invoker.join()
    assert_aws_record(
        in_memory_destination.records[0],
        {
            "version": "1.0",
            "timestamp": "2019-11-14T18:16:05.568Z",
            "requestContext": {
                "requestId": REQUEST_ID,
                "functionArn": arn("my-function"),
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 1,
            },
            "requestPayload": {"orderId": 17},
            "responseContext": FAILED_RESPONSE,
            "responsePayload": unhandled("ValueError", "order service unavailable"),
        },
        request_id=response.request_id,
    )
    metrics = invoker.metrics()
    assert (metrics.async_events_dropped, metrics.dead_letter_errors) == (1, 0)
    assert metrics.destination_delivery_failures == 0


async def test_only_dlq_configured_receives_one_message_at_the_final_failure(
    invoker_factory, virtual_clock
):
    """§4: a DLQ alone fires once, on the final failure (+180 s), not on each failed attempt."""
    attempts: list[tuple[float, str]] = []
    received: list[tuple[float, DeadLetterMessage]] = []
    invoker = invoker_factory(
        failing(virtual_clock, attempts),
        dead_letter_queue=lambda message: received.append((virtual_clock.elapsed, message)),
    )
    response = await invoker.invoke({"orderId": 17})
    await invoker.join()
    assert len(attempts) == 3
    assert received == [
        (
            180,
            DeadLetterMessage(
                body='{"orderId": 17}',
                message_attributes={
                    "RequestID": {"DataType": "String", "StringValue": response.request_id},
                    "ErrorCode": {"DataType": "Number", "StringValue": "200"},
                    "ErrorMessage": {
                        "DataType": "String",
                        "StringValue": "order service unavailable",
                    },
                },
            ),
        )
    ]


async def test_configuring_destinations_keeps_an_existing_dlq(
    invoker_factory, virtual_clock, in_memory_destination, in_memory_dlq
):
    """§4: adding an on-failure destination later leaves the DLQ in place: both receive."""
    attempts: list[tuple[float, str]] = []
    invoker = invoker_factory(
        failing(virtual_clock, attempts),
        maximum_retry_attempts=0,
        dead_letter_queue=in_memory_dlq,
    )
    invoker.update_config(on_failure=in_memory_destination)
    response = await invoker.invoke({"orderId": 17})
    await invoker.join()
    assert invoker.dead_letter_queue is in_memory_dlq
    assert [r.request_id for r in in_memory_destination.records] == [response.request_id]
    assert in_memory_dlq.messages == [
        DeadLetterMessage.build(
            '{"orderId": 17}', response.request_id, "200", "order service unavailable"
        )
    ]


async def test_success_reaches_only_the_on_success_destination(invoker_factory):
    """§4: a success goes to on-success; on-failure and the DLQ receive nothing."""
    ok, failed, dlq = InMemoryDestination(), InMemoryDestination(), InMemoryDeadLetterQueue()

    async def my_function(event, context):
        return None

    invoker = invoker_factory(
        my_function,
        function_name="my-function",
        on_success=ok,
        on_failure=failed,
        dead_letter_queue=dlq,
    )
    response = await invoker.invoke({"orderId": 17})
    await invoker.join()
    assert (failed.records, dlq.messages) == ([], [])
    assert_aws_record(
        ok.records[0],
        {
            "version": "1.0",
            "timestamp": "2019-11-14T18:16:05.568Z",
            "requestContext": {
                "requestId": REQUEST_ID,
                "functionArn": arn("my-function"),
                "condition": "Success",
                "approximateInvokeCount": 1,
            },
            "requestPayload": {"orderId": 17},
            "responseContext": OK_RESPONSE,
            "responsePayload": None,
        },
        request_id=response.request_id,
    )


async def test_lambda_destination_is_invoked_with_the_record_as_its_event(
    invoker_factory, in_memory_destination
):
    """§4: a Lambda destination is invoked asynchronously with the record as its event."""

    async def charge(event, context):
        await asyncio.sleep(10)

    async def notify(event, context):
        return event["requestContext"]["condition"]

    downstream = invoker_factory(notify, on_success=in_memory_destination)
    upstream = invoker_factory(
        charge, timeout=1, maximum_retry_attempts=0, on_failure=InvokerDestination(downstream)
    )
    response = await upstream.invoke({"orderId": 17})
    await upstream.join()
    await downstream.join()
    (record,) = in_memory_destination.records
    upstream_id = response.request_id
    assert record.request_id != upstream_id
    assert_aws_record(
        record,
        {
            "version": "1.0",
            "timestamp": "2019-11-14T18:16:06.568Z",
            "requestContext": {
                "requestId": REQUEST_ID,
                "functionArn": arn("notify"),
                "condition": "Success",
                "approximateInvokeCount": 1,
            },
            "requestPayload": {
                "version": "1.0",
                "timestamp": "2019-11-14T18:16:06.568Z",
                "requestContext": {
                    "requestId": upstream_id,
                    "functionArn": arn("charge"),
                    "condition": "RetriesExhausted",
                    "approximateInvokeCount": 1,
                },
                "requestPayload": {"orderId": 17},
                "responseContext": FAILED_RESPONSE,
                "responsePayload": {
                    "errorType": "Sandbox.Timedout",
                    "errorMessage": f"RequestId: {upstream_id} Error: Task timed out after 1.00 seconds",
                },
            },
            "responseContext": OK_RESPONSE,
            "responsePayload": "RetriesExhausted",
        },
        request_id=record.request_id,
    )


# -- §5 The Python runtime: errors --------------------------------------------------------------


def charge_card(event, context):
    validate_order(event)


def validate_order(event):
    raise ValueError("order has no items")


async def test_unhandled_exception_error_object_with_the_handlers_stack_trace(
    invoker_factory, in_memory_destination
):
    """§5: errorMessage, errorType, requestId, stackTrace in order; the handler's frames only."""
    invoker = invoker_factory(
        charge_card, maximum_retry_attempts=0, on_failure=in_memory_destination
    )
    response = await invoker.invoke({"items": []})
    await invoker.join()
    charge_line = charge_card.__code__.co_firstlineno + 1
    validate_line = validate_order.__code__.co_firstlineno + 1
    assert_aws_record(
        in_memory_destination.records[0],
        {
            "version": "1.0",
            "timestamp": "2019-11-14T18:16:05.568Z",
            "requestContext": {
                "requestId": REQUEST_ID,
                "functionArn": arn("charge_card"),
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 1,
            },
            "requestPayload": {"items": []},
            "responseContext": FAILED_RESPONSE,
            "responsePayload": {
                "errorMessage": "order has no items",
                "errorType": "ValueError",
                "requestId": REQUEST_ID,
                "stackTrace": [
                    f'  File "{__file__}", line {charge_line}, in charge_card\n'
                    "    validate_order(event)\n",
                    f'  File "{__file__}", line {validate_line}, in validate_order\n'
                    '    raise ValueError("order has no items")\n',
                ],
            },
        },
        request_id=response.request_id,
        stack_trace=True,
    )


async def test_timeout_is_sandbox_timedout_and_retried_like_any_function_error(
    invoker_factory, virtual_clock, in_memory_destination
):
    """§5: past the default 3 s timeout -> Sandbox.Timedout; retried 60 s and 120 s after failing.

    Attempts run 0-3 s, 63-66 s and 186-189 s, so the record is decided at +189 s.
    """
    starts: list[float] = []

    async def my_function(event, context):
        starts.append(virtual_clock.elapsed)
        await asyncio.sleep(10)

    invoker = invoker_factory(my_function, on_failure=in_memory_destination)
    response = await invoker.invoke({})
    await invoker.join()
    assert starts == [0, 63, 186]
    assert_aws_record(
        in_memory_destination.records[0],
        {
            "version": "1.0",
            "timestamp": "2019-11-14T18:19:14.568Z",
            "requestContext": {
                "requestId": REQUEST_ID,
                "functionArn": arn("my_function"),
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 3,
            },
            "requestPayload": {},
            "responseContext": FAILED_RESPONSE,
            "responsePayload": {
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"RequestId: {REQUEST_ID} Error: Task timed out after 3.00 seconds",
            },
        },
        request_id=response.request_id,
    )


async def test_unserialisable_result_is_a_marshal_error_naming_the_type(
    invoker_factory, in_memory_destination
):
    """§5: a non-JSON result is Runtime.MarshalError, worded as the Python runtime words it."""

    async def my_function(event, context):
        return {1}

    invoker = invoker_factory(
        my_function, maximum_retry_attempts=0, on_failure=in_memory_destination
    )
    response = await invoker.invoke({})
    await invoker.join()
    assert_aws_record(
        in_memory_destination.records[0],
        {
            "version": "1.0",
            "timestamp": "2019-11-14T18:16:05.568Z",
            "requestContext": {
                "requestId": REQUEST_ID,
                "functionArn": arn("my_function"),
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 1,
            },
            "requestPayload": {},
            "responseContext": FAILED_RESPONSE,
            "responsePayload": {
                "errorMessage": "Unable to marshal response: Object of type set is not JSON serializable",
                "errorType": "Runtime.MarshalError",
                "requestId": REQUEST_ID,
                "stackTrace": [],
            },
        },
        request_id=response.request_id,
        stack_trace=True,
    )


# -- §6 Metrics -------------------------------------------------------------------------------


async def test_metrics_count_events_attempts_ages_and_drops_like_cloudwatch(
    invoker_factory, virtual_clock
):
    """§6: AsyncEventsReceived once per event; Invocations, Errors and AsyncEventAge per attempt.

    Attempts start at ages 0 s and 60 s (max age 90 s ends the event after the second), and
    AsyncEventsDropped is counted once, after the DLQ and on-failure sends.
    """
    seen_at_send: list[tuple[str, int]] = []
    attempts: list[tuple[float, str]] = []
    invoker: AsyncInvoker = invoker_factory(failing(virtual_clock, attempts))

    class Observer:
        # An object's send is called on the loop as the send starts (a plain function would
        # run later, in a worker thread), so it sees the count as of that moment.
        def __init__(self, name: str) -> None:
            self.name = name

        def send(self, item: ExecutionRecord | DeadLetterMessage) -> None:
            seen_at_send.append((self.name, invoker.metrics().async_events_dropped))

    invoker.update_config(
        maximum_event_age_in_seconds=90,
        on_failure=Observer("on_failure"),
        dead_letter_queue=Observer("dlq"),
    )
    await invoker.invoke({})
    await invoker.join()
    assert sorted(seen_at_send) == [("dlq", 0), ("on_failure", 0)]
    metrics = invoker.metrics()
    assert metrics.to_cloudwatch() == {
        "AsyncEventsReceived": 1,
        "AsyncEventsDropped": 1,
        "Invocations": 2,
        "Errors": 2,
        "Throttles": 0,
        "DestinationDeliveryFailures": 0,
        "DeadLetterErrors": 0,
        "RecursiveInvocationsDropped": 0,
        "ConcurrentExecutions": 0,
        "AsyncEventAge": 60_000.0,
    }
    assert metrics.async_event_age_ms == Statistics(
        sample_count=2, sum=60_000.0, minimum=0.0, maximum=60_000.0
    )


# -- §7 EventInvokeConfig updates while events are in flight ----------------------------------


async def test_queued_and_waiting_events_follow_the_config_current_at_each_decision(
    invoker_factory, virtual_clock
):
    """§7 (LocalStack's AWS-validated scenario): updating the config never strands events.

    With one slot, a 30 s blocker runs while a failing and a succeeding event are queued, and a
    failed event waits for its retry. At +10 s the destinations are replaced and retries cut to
    1. Everything still completes, each record going where the config points when it is
    decided (assumption 23): nothing reaches the old destinations.
    """
    old_ok, old_failed = InMemoryDestination(), InMemoryDestination()
    new_ok, new_failed = InMemoryDestination(), InMemoryDestination()
    runs: list[tuple[float, str]] = []

    async def my_function(event, context):
        runs.append((virtual_clock.elapsed, event["name"]))
        if event["name"] == "blocker":
            await asyncio.sleep(30)
            return "blocked"
        if event["name"].startswith("fails"):
            raise ValueError(f"{event['name']} failed")
        return "ok"

    invoker = invoker_factory(
        my_function,
        function_name="my-function",
        reserved_concurrency=1,
        timeout=60,
        on_success=old_ok,
        on_failure=old_failed,
        throttling="fifo",  # events stay queued behind the blocker, to be updated there
    )
    waiting = await invoker.invoke({"name": "fails-early"})
    await asyncio.sleep(0)
    blocker = await invoker.invoke({"name": "blocker"})
    queued_failure = await invoker.invoke({"name": "fails-queued"})
    queued_success = await invoker.invoke({"name": "succeeds-queued"})
    await asyncio.sleep(10)
    assert invoker.pending == 4
    invoker.update_config(on_success=new_ok, on_failure=new_failed, maximum_retry_attempts=1)
    await invoker.join()

    assert (old_ok.records, old_failed.records) == ([], [])
    assert runs == [
        (0, "fails-early"),
        (0, "blocker"),
        (30, "fails-queued"),
        (30, "succeeds-queued"),
        (60, "fails-early"),
        (90, "fails-queued"),
    ]
    outcomes = {
        r.request_id: (r.to_dict()["timestamp"], r.condition.value, r.approximate_invoke_count)
        for r in new_ok.records + new_failed.records
    }
    assert outcomes == {
        waiting.request_id: ("2019-11-14T18:17:05.568Z", "RetriesExhausted", 2),
        blocker.request_id: ("2019-11-14T18:16:35.568Z", "Success", 1),
        queued_failure.request_id: ("2019-11-14T18:17:35.568Z", "RetriesExhausted", 2),
        queued_success.request_id: ("2019-11-14T18:16:35.568Z", "Success", 1),
    }
    assert_aws_record(
        next(r for r in new_failed.records if r.request_id == waiting.request_id),
        {
            "version": "1.0",
            "timestamp": "2019-11-14T18:17:05.568Z",
            "requestContext": {
                "requestId": REQUEST_ID,
                "functionArn": arn("my-function"),
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 2,
            },
            "requestPayload": {"name": "fails-early"},
            "responseContext": FAILED_RESPONSE,
            "responsePayload": unhandled("ValueError", "fails-early failed"),
        },
        request_id=waiting.request_id,
    )


async def test_lowering_the_max_age_ends_a_waiting_event_when_its_retry_comes(
    invoker_factory, virtual_clock, in_memory_destination
):
    """§7/§2: a waiting event is judged by the max age current when its retry is due.

    It fails at +0 s and waits for its retry at +60 s; at +10 s the maximum age is lowered to
    60 s, so at +60 s it is too old: EventAgeExceeded with count 1 and the last response.
    """
    attempts: list[tuple[float, str]] = []
    invoker = invoker_factory(
        failing(virtual_clock, attempts),
        function_name="my-function",
        on_failure=in_memory_destination,
    )
    response = await invoker.invoke({"orderId": 17})
    await asyncio.sleep(10)
    invoker.update_config(maximum_event_age_in_seconds=60)
    await invoker.join()
    assert [t for t, _ in attempts] == [0]
    assert_aws_record(
        in_memory_destination.records[0],
        {
            "version": "1.0",
            "timestamp": "2019-11-14T18:17:05.568Z",
            "requestContext": {
                "requestId": REQUEST_ID,
                "functionArn": arn("my-function"),
                "condition": "EventAgeExceeded",
                "approximateInvokeCount": 1,
            },
            "requestPayload": {"orderId": 17},
            "responseContext": FAILED_RESPONSE,
            "responsePayload": unhandled("ValueError", "order service unavailable"),
        },
        request_id=response.request_id,
    )
