"""invoke(): answers 202 at once, validates like AWS, and queues the payload byte for byte."""

from __future__ import annotations

import json
import uuid

import pytest
from lambda_destinations import (
    InMemoryDestination,
    InvalidRequestContentError,
    InvokerClosedError,
    RequestEntityTooLargeError,
)


def echo(event, context):
    return event


async def test_invoke_answers_202_with_a_request_id_before_the_handler_runs(invoker_factory):
    """invoke() returns status 202 and a UUID request id; the handler has not run yet."""
    ran = []
    invoker = invoker_factory(lambda event: ran.append(event))
    response = await invoker.invoke({"a": 1})
    assert response.status_code == 202
    assert str(uuid.UUID(response.request_id)) == response.request_id
    assert ran == []
    await invoker.join()
    assert ran == [{"a": 1}]


async def test_each_invoke_gets_its_own_request_id(invoker_factory):
    """Request ids are unique per event."""
    invoker = invoker_factory(echo)
    ids = {invoker.invoke_nowait({}).request_id for _ in range(100)}
    assert len(ids) == 100


async def test_no_payload_is_treated_as_empty_object(invoker_factory, in_memory_destination):
    """An invoke with no payload (or empty bytes) queues {} as AWS does."""
    invoker = invoker_factory(echo, on_success=in_memory_destination)
    await invoker.invoke()
    await invoker.invoke(b"")
    await invoker.join()
    assert [r.request_payload for r in in_memory_destination.records] == [{}, {}]


async def test_none_is_the_json_null_payload(invoker_factory, in_memory_destination):
    """invoke(None) sends JSON null, unlike invoke() without a payload."""
    invoker = invoker_factory(echo, on_success=in_memory_destination)
    await invoker.invoke(None)
    await invoker.join()
    assert in_memory_destination.records[0].request_payload_json == "null"


async def test_bytes_payload_is_kept_byte_for_byte(invoker_factory, in_memory_dlq):
    """A bytes payload reaches the DLQ body and the record exactly as sent."""
    raw = b'{ "b":2,\n  "a": [1, 2.50, "\\u00e9"] }'

    def fail(event):
        raise RuntimeError("no")

    failed = InMemoryDestination()
    invoker = invoker_factory(
        fail, maximum_retry_attempts=0, dead_letter_queue=in_memory_dlq, on_failure=failed
    )
    await invoker.invoke(raw)
    await invoker.join()
    assert in_memory_dlq.messages[0].body.encode() == raw
    assert raw.decode() in failed.records[0].to_json().decode()


async def test_python_values_are_sent_as_json_dumps_sends_them(
    invoker_factory, in_memory_destination
):
    """A Python value is serialised like json.dumps; the handler receives the JSON copy."""
    seen = []
    invoker = invoker_factory(lambda e: seen.append(e), on_success=in_memory_destination)
    await invoker.invoke({"t": (1, 2), 3: "x"})
    await invoker.join()
    assert seen == [{"t": [1, 2], "3": "x"}]
    assert in_memory_destination.records[0].request_payload_json == json.dumps(
        {"t": [1, 2], "3": "x"}
    )


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ({1, 2}, "not JSON-serialisable"),
        ({"x": object()}, "not JSON-serialisable"),
        (float("nan"), "not JSON-serialisable"),
        ({"x": float("inf")}, "not JSON-serialisable"),
        ({(1, 2): 3}, "not JSON-serialisable"),
        (b"{not json", "Could not parse request body into json"),
        (b"NaN", "Could not parse request body into json"),
        (b"\xff\xfe{}", "not UTF-8"),
    ],
)
async def test_non_json_payloads_are_refused_and_nothing_is_queued(
    invoker_factory, payload, problem
):
    """Non-JSON payloads raise InvalidRequestContentError (AWS's 400) and queue nothing."""
    invoker = invoker_factory(echo)
    with pytest.raises(InvalidRequestContentError, match=problem) as info:
        await invoker.invoke(payload)
    assert info.value.status_code == 400
    assert info.value.aws_error_code == "InvalidRequestContentException"
    assert invoker.pending == 0
    assert invoker.metrics().async_events_received == 0


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        (
            b"{not json",
            "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        ),
        (b'{"total": NaN}', "NaN is not valid JSON"),
        (
            b"\xff\xfe{}",
            "payload is not UTF-8 ('utf-8' codec can't decode byte 0xff in position 0: "
            "invalid start byte)",
        ),
    ],
    ids=["syntax", "nan", "not-utf8"],
)
async def test_invalid_json_is_refused_with_aws_two_fixed_prefixes(
    invoker_factory, payload, detail
):
    """Invalid JSON is refused with AWS's two fixed prefixes, then the parser's detail.

    The detail is Python's parser message here; AWS's comes from its Java parser.
    """
    invoker = invoker_factory(echo)
    with pytest.raises(InvalidRequestContentError) as info:
        await invoker.invoke(payload)
    assert str(info.value) == (
        "Could not parse request body into json: Could not parse payload into json: " + detail
    )


async def test_payload_over_the_limit_is_refused_with_aws_message(invoker_factory):
    """Over the size limit: RequestEntityTooLargeError (413) worded as AWS words it."""
    invoker = invoker_factory(echo)
    big = b'"' + b"x" * 1_048_575 + b'"'
    with pytest.raises(RequestEntityTooLargeError) as info:
        await invoker.invoke(big)
    assert str(info.value) == (
        "1048577 byte payload is too large for the Event invocation type (limit 1048576 bytes)"
    )
    assert info.value.status_code == 413
    assert invoker.pending == 0


async def test_payload_exactly_at_the_limit_is_accepted(invoker_factory):
    """A payload of exactly the limit is accepted; one byte more is not."""
    invoker = invoker_factory(echo, payload_limit=262_144)
    await invoker.invoke("x" * (262_144 - 2))
    with pytest.raises(
        RequestEntityTooLargeError, match=r"262145 byte payload .* \(limit 262144 bytes\)"
    ):
        await invoker.invoke("x" * (262_144 - 1))


async def test_invoke_on_a_closed_invoker_raises(invoker_factory):
    """After aclose(), invoke() raises InvokerClosedError saying what to do."""
    invoker = invoker_factory(echo)
    await invoker.aclose()
    with pytest.raises(InvokerClosedError, match="closed and accepts no more events"):
        await invoker.invoke({})


async def test_invoke_nowait_from_sync_code_on_the_loop(invoker_factory, in_memory_destination):
    """invoke_nowait() queues from a plain function running on the loop's thread."""
    invoker = invoker_factory(echo, on_success=in_memory_destination)

    def sync_caller():
        return invoker.invoke_nowait({"from": "sync"})

    response = sync_caller()
    await invoker.join()
    assert in_memory_destination.records[0].request_id == response.request_id


def test_request_ids_are_random_uuid4s():
    """Request ids are version-4, RFC 4122 UUIDs in canonical text form, and unique."""
    from lambda_destinations._invoker import new_request_id

    ids = [new_request_id() for _ in range(10_000)]
    assert len(set(ids)) == 10_000
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)


async def test_a_str_holding_a_json_document_warns_and_is_sent_as_a_string(invoker_factory):
    """invoke(json.dumps(event)) warns: the handler would get text, not the document."""
    from lambda_destinations import InMemoryDestination, PayloadWarning

    ok = InMemoryDestination()
    invoker = invoker_factory(echo, on_success=ok)
    with pytest.warns(PayloadWarning, match="bytes") as caught:
        invoker.invoke(json.dumps({"orderId": 1}))
    assert caught[0].filename == __file__
    await invoker.join()
    assert ok.records[0].request_payload == '{"orderId": 1}'


async def test_plain_strings_do_not_warn(invoker_factory):
    """A str that is not a JSON document is an ordinary JSON string payload."""
    import warnings

    invoker = invoker_factory(echo)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        invoker.invoke("hello")
        invoker.invoke("[not json")


def test_invoke_queues_without_await_and_its_response_can_be_awaited():
    """invoke() queues at the call; its response is awaitable, for async and sync code alike."""
    import asyncio

    from lambda_destinations import AsyncInvoker, InMemoryDestination

    ok = InMemoryDestination()

    async def main() -> None:
        async with AsyncInvoker(echo, on_success=ok) as invoker:
            first = invoker.invoke({"n": 1})
            second = await invoker.invoke({"n": 2})
            assert (await first) is first
            assert second.status_code == 202

    asyncio.run(main())
    assert sorted(r.request_payload["n"] for r in ok.records) == [1, 2]
