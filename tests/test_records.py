"""Execution records: AWS's keys, order, bytes and parsing."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lambda_destinations import Condition, ExecutionRecord, RequestContext, ResponseContext

ARN = "arn:aws:lambda:us-east-2:123456789012:function:my-function:$LATEST"
MOMENT = datetime(2019, 11, 14, 18, 16, 5, 568_123, tzinfo=UTC)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=12,
)


def failure_record() -> ExecutionRecord:
    return ExecutionRecord(
        MOMENT,
        RequestContext("e4b46cbf-b738-xmpl-8880-a18cdf61200e", ARN, Condition.RETRIES_EXHAUSTED, 3),
        '{"ORDER_IDS": ["9e07af03-ce31-4ff3-xmpl-36dce652cb4f"]}',
        ResponseContext(200, "$LATEST", "Unhandled"),
        '{"errorMessage": "RequestId: e4b46cbf-b738-xmpl-8880-a18cdf61200e Process exited before completing request"}',
    )


def test_to_dict_matches_aws_example_key_for_key():
    """to_dict() reproduces the record of AWS's documentation, keys in AWS's order."""
    d = failure_record().to_dict()
    assert d == {
        "version": "1.0",
        "timestamp": "2019-11-14T18:16:05.568Z",
        "requestContext": {
            "requestId": "e4b46cbf-b738-xmpl-8880-a18cdf61200e",
            "functionArn": ARN,
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
            "errorMessage": "RequestId: e4b46cbf-b738-xmpl-8880-a18cdf61200e Process exited before completing request"
        },
    }
    assert list(d) == [
        "version",
        "timestamp",
        "requestContext",
        "requestPayload",
        "responseContext",
        "responsePayload",
    ]
    assert list(d["requestContext"]) == [
        "requestId",
        "functionArn",
        "condition",
        "approximateInvokeCount",
    ]
    assert list(d["responseContext"]) == ["statusCode", "executedVersion", "functionError"]


def test_to_json_is_a_compact_envelope_with_payloads_spliced_verbatim():
    """to_json() has no spaces in the envelope and keeps each payload's text as produced."""
    raw = failure_record().to_json()
    assert raw.startswith(
        b'{"version":"1.0","timestamp":"2019-11-14T18:16:05.568Z","requestContext":{'
    )
    assert b'"requestPayload":{"ORDER_IDS": ["9e07af03-ce31-4ff3-xmpl-36dce652cb4f"]},' in raw
    assert (
        b'"responseContext":{"statusCode":200,"executedVersion":"$LATEST","functionError":"Unhandled"}'
        in raw
    )
    assert json.loads(raw) == failure_record().to_dict()


def test_success_response_context_has_no_function_error_key():
    """A success record's responseContext is exactly statusCode and executedVersion."""
    record = ExecutionRecord(
        MOMENT, RequestContext("r", ARN, Condition.SUCCESS, 1), "{}", ResponseContext(), "null"
    )
    assert record.to_dict()["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert record.to_dict()["responsePayload"] is None
    assert record.to_json().endswith(b',"responsePayload":null}')


def test_record_without_attempt_has_no_response_keys():
    """ZeroReservedConcurrency records carry neither responseContext nor responsePayload."""
    record = ExecutionRecord(
        MOMENT, RequestContext("r", ARN, Condition.ZERO_RESERVED_CONCURRENCY, 0), "{}"
    )
    assert list(record.to_dict()) == ["version", "timestamp", "requestContext", "requestPayload"]
    assert b"response" not in record.to_json()


@pytest.mark.parametrize(
    ("micros", "text"),
    [
        (0, "00:00:00.000Z"),
        (999, "00:00:00.000Z"),
        (1000, "00:00:00.001Z"),
        (999_999, "00:00:00.999Z"),
    ],
)
def test_timestamp_has_exactly_three_millisecond_digits(micros, text):
    """Timestamps are UTC with three millisecond digits (truncated) and a Z."""
    record = ExecutionRecord(
        datetime(2020, 1, 2, tzinfo=UTC).replace(microsecond=micros),
        RequestContext("r", ARN, Condition.SUCCESS, 1),
        "{}",
    )
    assert record.to_dict()["timestamp"] == f"2020-01-02T{text}"


def test_from_json_reads_a_record_as_aws_sends_it():
    """from_json() parses AWS's bytes into an equal record."""
    record = failure_record()
    assert ExecutionRecord.from_json(record.to_json()) == record
    assert ExecutionRecord.from_dict(record.to_dict()).condition is Condition.RETRIES_EXHAUSTED


def test_from_dict_names_what_is_wrong():
    """A dict that is not a record is refused with a message saying so."""
    with pytest.raises(ValueError, match="not a Lambda invocation record"):
        ExecutionRecord.from_dict({"version": "1.0"})


def test_payload_properties_are_fresh_copies():
    """Mutating request_payload never changes the record."""
    record = failure_record()
    record.request_payload["ORDER_IDS"].clear()
    assert record.request_payload["ORDER_IDS"] == ["9e07af03-ce31-4ff3-xmpl-36dce652cb4f"]


def test_equality_ignores_payload_spacing():
    """Records are equal when their payloads are equal JSON, whatever the whitespace."""
    a = ExecutionRecord(
        MOMENT, RequestContext("r", ARN, Condition.SUCCESS, 1), '{"a": 1}', ResponseContext(), "1"
    )
    b = ExecutionRecord(
        MOMENT, RequestContext("r", ARN, Condition.SUCCESS, 1), '{"a":1}', ResponseContext(), "1"
    )
    assert a == b


@given(
    request=json_values,
    response=json_values,
    count=st.integers(0, 3),
    condition=st.sampled_from(Condition),
)
def test_round_trip_through_aws_json(request, response, count, condition):
    """Any record survives to_json() then from_json() unchanged."""
    has_response = condition is not Condition.ZERO_RESERVED_CONCURRENCY
    record = ExecutionRecord(
        MOMENT.replace(microsecond=568_000),
        RequestContext("id", ARN, condition, count),
        json.dumps(request),
        ResponseContext(200, "$LATEST", None if condition is Condition.SUCCESS else "Unhandled")
        if has_response
        else None,
        json.dumps(response) if has_response else None,
    )
    again = ExecutionRecord.from_json(record.to_json())
    assert again == record
    assert again.to_dict() == record.to_dict()


def test_from_json_keeps_aws_bytes_exactly():
    """A record read from AWS's bytes writes back exactly the same bytes."""
    aws = (
        b'{"version":"1.0","timestamp":"2019-11-24T23:08:25.651Z","requestContext":'
        b'{"requestId":"c2a6f2ae-7dbb-4d22-8782-d0485c9877e2","functionArn":'
        b'"arn:aws:lambda:us-east-1:123456789012:function:event-destinations:$LATEST",'
        b'"condition":"Success","approximateInvokeCount":1},"requestPayload":'
        b'{"Success":true,"responsePayload":"a key inside the event"},"responseContext":'
        b'{"statusCode":200,"executedVersion":"$LATEST"},"responsePayload":{"ok": [1, 2]}}'
    )
    record = ExecutionRecord.from_json(aws)
    assert record.to_json() == aws
    assert record.request_payload == {"Success": True, "responsePayload": "a key inside the event"}
    assert record.response_payload == {"ok": [1, 2]}


@given(request=json_values, response=json_values)
def test_from_json_round_trips_bytes_of_any_payload(request, response):
    """Any record's AWS bytes survive from_json() then to_json() unchanged."""
    record = ExecutionRecord(
        MOMENT.replace(microsecond=0),
        RequestContext("id", ARN, Condition.RETRIES_EXHAUSTED, 3),
        json.dumps(request, separators=(",", ":")),
        ResponseContext(200, "$LATEST", "Unhandled"),
        json.dumps(response),
    )
    raw = record.to_json()
    assert ExecutionRecord.from_json(raw).to_json() == raw
