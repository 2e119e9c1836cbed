"""Destinations and the dead-letter queue: who receives what, and faults that change nothing."""

from __future__ import annotations

import ast
import asyncio
import inspect
import logging
import re
import threading
from pathlib import Path

import lambda_destinations.destinations
import pytest
from lambda_destinations import (
    AsyncFunction,
    AsyncInvoker,
    Condition,
    ConfigurationError,
    DeadLetterMessage,
    ExecutionRecord,
    InMemoryDeadLetterQueue,
    InMemoryDestination,
    InvokerDestination,
    JsonLinesDestination,
    async_invoke,
)


def fail(event, context):
    raise ValueError("x" * event.get("size", 1))


def succeed(event):
    return {"ok": True}


async def test_on_failure_and_dlq_both_fire_independently(invoker_factory):
    """A final failure reaches on-failure (the record) and the DLQ (the event) once each."""
    ok, failed, dlq = InMemoryDestination(), InMemoryDestination(), InMemoryDeadLetterQueue()
    invoker = invoker_factory(fail, on_success=ok, on_failure=failed, dead_letter_queue=dlq)
    response = await invoker.invoke({"size": 3})
    await invoker.join()
    assert ok.records == []
    assert [r.request_id for r in failed.records] == [response.request_id]
    assert [m.request_id for m in dlq.messages] == [response.request_id]


async def test_dlq_message_has_the_original_body_and_three_attributes(
    invoker_factory, in_memory_dlq
):
    """The DLQ gets the event as sent, with RequestID, ErrorCode and ErrorMessage in SQS form."""
    invoker = invoker_factory(fail, dead_letter_queue=in_memory_dlq, maximum_retry_attempts=0)
    response = await invoker.invoke(b'{"size":  3}')
    await invoker.join()
    (message,) = in_memory_dlq.messages
    assert message == DeadLetterMessage(
        body='{"size":  3}',
        message_attributes={
            "RequestID": {"DataType": "String", "StringValue": response.request_id},
            "ErrorCode": {"DataType": "Number", "StringValue": "200"},
            "ErrorMessage": {"DataType": "String", "StringValue": "xxx"},
        },
    )
    assert message.event == {"size": 3}


async def test_dlq_error_message_keeps_the_first_kilobyte(invoker_factory, in_memory_dlq):
    """ErrorMessage holds the first 1 KB of the error message."""
    invoker = invoker_factory(fail, dead_letter_queue=in_memory_dlq, maximum_retry_attempts=0)
    await invoker.invoke({"size": 5000})
    await invoker.join()
    assert in_memory_dlq.messages[0].error_message == "x" * 1024


def test_dlq_error_message_is_never_cut_inside_a_character():
    """Cutting at 1 KB of UTF-8 never leaves half a multi-byte character."""
    message = DeadLetterMessage.build("{}", "id", "200", "é" * 1000)
    assert message.error_message == "é" * 512


async def test_only_on_failure_configured(invoker_factory, in_memory_destination):
    """With only on-failure, failures are recorded and nothing else is needed."""
    invoker = invoker_factory(fail, on_failure=in_memory_destination, maximum_retry_attempts=0)
    await invoker.invoke({})
    await invoker.join()
    assert len(in_memory_destination.records) == 1


async def test_only_dlq_configured(invoker_factory, in_memory_dlq):
    """With only a DLQ, failures reach it and successes go nowhere."""
    invoker = invoker_factory(fail, dead_letter_queue=in_memory_dlq, maximum_retry_attempts=0)
    await invoker.invoke({})
    await invoker.join()
    assert len(in_memory_dlq.messages) == 1


async def test_successes_never_reach_failure_destinations(invoker_factory):
    """On-success gets successes only; on-failure and the DLQ stay empty."""
    ok, failed, dlq = InMemoryDestination(), InMemoryDestination(), InMemoryDeadLetterQueue()
    invoker = invoker_factory(succeed, on_success=ok, on_failure=failed, dead_letter_queue=dlq)
    await invoker.invoke({})
    await invoker.join()
    assert [r.condition for r in ok.records] == [Condition.SUCCESS]
    assert failed.records == []
    assert dlq.messages == []


async def test_zero_reserved_concurrency_goes_straight_to_failure(
    invoker_factory, in_memory_destination, in_memory_dlq
):
    """reserved_concurrency=0: never run, ZeroReservedConcurrency with count 0, no response keys."""
    ran: list[object] = []
    invoker = invoker_factory(
        ran.append,
        reserved_concurrency=0,
        on_failure=in_memory_destination,
        dead_letter_queue=in_memory_dlq,
    )
    response = await invoker.invoke({"a": 1})
    await invoker.join()
    assert ran == []
    (record,) = in_memory_destination.records
    assert record.to_dict()["requestContext"] == {
        "requestId": response.request_id,
        "functionArn": invoker.function_arn,
        "condition": "ZeroReservedConcurrency",
        "approximateInvokeCount": 0,
    }
    assert list(record.to_dict()) == ["version", "timestamp", "requestContext", "requestPayload"]
    assert in_memory_dlq.messages[0].body == '{"a": 1}'


async def test_plain_functions_and_coroutine_functions_are_destinations(invoker_factory):
    """Any function or coroutine function taking the record works as a destination."""
    got: list[tuple[str, ExecutionRecord]] = []

    async def async_dest(record):
        await asyncio.sleep(1)
        got.append(("async", record))

    invoker = invoker_factory(succeed, on_success=lambda r: got.append(("sync", r)))
    failing = invoker_factory(fail, on_failure=async_dest, maximum_retry_attempts=0)
    await invoker.invoke({})
    await failing.invoke({})
    await invoker.join()
    await failing.join()
    assert sorted(kind for kind, _ in got) == ["async", "sync"]


async def test_raising_destination_changes_nothing_else(invoker_factory, caplog):
    """A destination that raises is logged and counted; other destinations still receive."""

    def broken(record):
        raise ConnectionError("queue is down")

    dlq = InMemoryDeadLetterQueue()
    invoker = invoker_factory(
        fail, on_failure=broken, dead_letter_queue=dlq, maximum_retry_attempts=0
    )
    with caplog.at_level(logging.ERROR, logger="lambda_destinations"):
        await invoker.invoke({})
        await invoker.join()
    assert len(dlq.messages) == 1
    assert invoker.metrics().destination_delivery_failures == 1
    assert invoker.metrics().dead_letter_errors == 0
    assert "queue is down" in caplog.text
    await invoker.invoke({})
    await invoker.join()
    assert len(dlq.messages) == 2


async def test_failing_dlq_is_counted_as_dead_letter_error(invoker_factory):
    """A DLQ send that raises counts in dead_letter_errors; on-failure still receives."""

    async def broken(message):
        raise OSError("no dlq")

    failed = InMemoryDestination()
    invoker = invoker_factory(
        fail, on_failure=failed, dead_letter_queue=broken, maximum_retry_attempts=0
    )
    await invoker.invoke({})
    await invoker.join()
    assert len(failed.records) == 1
    assert invoker.metrics().dead_letter_errors == 1


async def test_hanging_destination_is_cut_off_by_the_delivery_timeout(
    invoker_factory, virtual_clock
):
    """A destination that never returns is abandoned after delivery_timeout and counted."""

    async def hang(record):
        await asyncio.Event().wait()

    ok = InMemoryDestination()
    hanging = invoker_factory(succeed, on_success=hang, delivery_timeout=5)
    healthy = invoker_factory(succeed, on_success=ok)
    await hanging.invoke({})
    await healthy.invoke({})
    await healthy.join()
    assert len(ok.records) == 1
    # A join() bounded far beyond the delivery timeout fails, rather than hangs, if it is not applied.
    await hanging.join(timeout=600)
    assert virtual_clock.elapsed == 5
    assert hanging.metrics().destination_delivery_failures == 1


@pytest.mark.parametrize("role", ["on_success", "on_failure", "dead_letter_queue"])
async def test_a_receiver_ignoring_its_cancellation_still_ends_its_delivery_at_the_timeout(
    invoker_factory, virtual_clock, role
):
    """A receiver that swallows the delivery timeout's cancellation cannot hold the delivery.

    It runs in a task of its own: join() returns at the 5 s delivery_timeout, not 200 s later
    when the receiver finally returns, and the delivery counts as failed
    (DestinationDeliveryFailures, or DeadLetterErrors for the DLQ) although the receiver
    itself never raised.
    """
    returned = asyncio.Event()

    async def stubborn(item):
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await asyncio.sleep(200)  # goes on as if it had not been cancelled
        returned.set()

    handler = succeed if role == "on_success" else fail
    invoker = invoker_factory(
        handler, maximum_retry_attempts=0, delivery_timeout=5, **{role: stubborn}
    )
    await invoker.invoke({})
    await invoker.join(timeout=600)
    assert virtual_clock.elapsed == 5
    metrics = invoker.metrics()
    failures = (metrics.destination_delivery_failures, metrics.dead_letter_errors)
    assert failures == ((0, 1) if role == "dead_letter_queue" else (1, 0))
    await returned.wait()  # the abandoned receiver runs on by itself, to its own end
    assert virtual_clock.elapsed == 205
    assert invoker.metrics() == metrics


async def test_invoker_destination_chains_to_another_function(invoker_factory):
    """Lambda-to-Lambda: the record becomes the next function's event, as AWS JSON."""
    received = InMemoryDestination()
    downstream = invoker_factory(
        lambda event: event["requestContext"]["condition"], on_success=received
    )
    upstream = invoker_factory(
        fail, on_failure=InvokerDestination(downstream), maximum_retry_attempts=0
    )
    await upstream.invoke({})
    await upstream.join()
    await downstream.join()
    (record,) = received.records
    assert record.response_payload == "RetriesExhausted"
    assert record.request_payload["requestContext"]["functionArn"] == upstream.function_arn


async def test_chained_function_receives_the_records_exact_aws_bytes(invoker_factory):
    """InvokerDestination sends record.to_json() as is: the next event's text is those bytes.

    The first payload's spacing and number text survive only if nothing re-encodes the record.
    """
    sent: list[ExecutionRecord] = []
    received = InMemoryDestination()
    downstream = invoker_factory(lambda event: None, on_success=received)
    chain = InvokerDestination(downstream)

    def tee(record):
        sent.append(record)
        chain.send(record)

    upstream = invoker_factory(succeed, on_success=tee)
    await upstream.invoke(b'{"order":  "o-1", "total": 1.50, "note": "caf\\u00e9"}')
    await upstream.join()
    await downstream.join()
    (first,) = sent
    (chained,) = received.records
    assert chained.request_payload_json == first.to_json().decode()
    assert '"requestPayload":{"order":  "o-1", "total": 1.50,' in chained.request_payload_json


def condition_of(event):
    return event["requestContext"]["condition"]


@pytest.mark.parametrize("kind", ["invoker", "decorated"])
async def test_an_invoker_or_decorated_function_is_a_lambda_destination(invoker_factory, kind):
    """Passing the next function itself chains to it, as a function ARN does on AWS."""
    received = InMemoryDestination()
    downstream = invoker_factory(condition_of, on_success=received)
    target = downstream if kind == "invoker" else AsyncFunction(condition_of, downstream)
    upstream = invoker_factory(fail, on_failure=target, maximum_retry_attempts=0)
    await upstream.invoke({})
    await upstream.join()
    await downstream.join()
    (record,) = received.records
    assert record.response_payload == "RetriesExhausted"
    assert record.request_payload["requestContext"]["functionArn"] == upstream.function_arn
    assert upstream.config.on_failure is target


def test_type_checkers_accept_an_invoker_or_decorated_function_as_a_destination():
    """Mypy (run by make test) accepts an invoker or @async_invoke function as a destination."""
    downstream = AsyncInvoker(succeed)
    decorated = async_invoke(succeed)
    upstream = AsyncInvoker(fail, on_success=downstream, on_failure=decorated)
    assert upstream.config.on_success is downstream
    assert upstream.config.on_failure is decorated
    assert InvokerDestination(decorated).target is decorated.invoker


@pytest.mark.parametrize("kind", ["InvokerDestination", "invoker", "decorated"])
async def test_an_invoker_cannot_be_its_own_destination(invoker_factory, kind):
    """Configuring an invoker as its own destination, in any form, fails with AWS's message."""
    invoker = invoker_factory(succeed)
    target = {
        "InvokerDestination": InvokerDestination(invoker),
        "invoker": invoker,
        "decorated": AsyncFunction(succeed, invoker),
    }[kind]
    for role in ("on_success", "on_failure"):
        with pytest.raises(ConfigurationError) as info:
            invoker.update_config(**{role: target})
        assert str(info.value) == (
            f"{role}: You can't specify the function as a destination for itself. "
            "Chain to a different AsyncInvoker."
        )
    assert (invoker.config.on_success, invoker.config.on_failure) == (None, None)


@pytest.mark.parametrize("kind", ["InvokerDestination", "invoker", "decorated"])
async def test_an_invoker_is_not_a_dead_letter_queue(invoker_factory, kind):
    """A dead-letter queue keeps the failed event: an invoker is refused, pointing at on_failure."""
    other = invoker_factory(succeed)
    target = {
        "InvokerDestination": InvokerDestination(other),
        "invoker": other,
        "decorated": AsyncFunction(succeed, other),
    }[kind]
    with pytest.raises(ConfigurationError, match="chain with on_failure= instead") as info:
        invoker_factory(fail, dead_letter_queue=target)
    assert isinstance(info.value, TypeError)


def test_non_destination_is_refused_with_a_clear_error():
    """Something that is not a destination: ConfigurationError (also a TypeError) naming the role.

    The message says how to chain to another function, the usual intent of such a mistake.
    """
    with pytest.raises(ConfigurationError, match="on_failure=42 is not a destination") as info:
        AsyncInvoker(succeed, on_failure=42)  # type: ignore[arg-type]
    assert isinstance(info.value, TypeError)
    assert "pass its AsyncInvoker or @async_invoke function" in str(info.value)


def test_destinations_import_no_invoker_module():
    """The destinations package knows invokers only by a Protocol, never by importing them."""
    package = Path(lambda_destinations.destinations.__file__).parent
    imported = set()
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
    assert imported
    assert not imported & {"lambda_destinations._invoker", "lambda_destinations._decorator"}


def test_invoker_destination_of_something_else_is_refused():
    """InvokerDestination() of something that is not an invoker says what to pass."""
    with pytest.raises(ConfigurationError, match="pass an AsyncInvoker or an @async_invoke"):
        InvokerDestination(succeed)  # type: ignore[arg-type]


async def test_json_lines_destination_writes_aws_json(invoker_factory, tmp_path):
    """JsonLinesDestination appends one AWS JSON record per line, readable back."""
    path = tmp_path / "records.jsonl"
    dest = JsonLinesDestination(path)
    invoker = invoker_factory(succeed, on_success=dest)
    first = await invoker.invoke({"n": 1})
    second = await invoker.invoke({"n": 2})
    await invoker.join()
    lines = path.read_bytes().splitlines()
    assert len(lines) == 2
    assert [r.request_id for r in dest.read()] == [first.request_id, second.request_id]
    assert lines[0].startswith(b'{"version":"1.0","timestamp":"')


async def test_a_json_lines_file_in_a_missing_directory_fails_its_deliveries_naming_the_file(
    invoker_factory, tmp_path, caplog
):
    """A JSON-lines path whose folder does not exist: each delivery fails, and says which file.

    Not refused when built: an application's production path need not exist where its tests
    run, with the destination overridden.
    """
    path = tmp_path / "nodir" / "ok.jsonl"
    invoker = invoker_factory(succeed, on_success=JsonLinesDestination(path))
    with caplog.at_level(logging.ERROR, logger="lambda_destinations"):
        response = await invoker.invoke({})
        await invoker.join()
    assert invoker.metrics().destination_delivery_failures == 1
    (line,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert line.startswith(f"on_success delivery of event {response.request_id} failed: ")
    assert f"FileNotFoundError: [Errno 2] No such file or directory: '{path}'" in line


async def test_in_memory_destination_can_be_awaited(invoker_factory, in_memory_destination):
    """wait_for(n) returns once n records arrived, and times out naming the count."""
    invoker = invoker_factory(succeed, on_success=in_memory_destination)
    for _ in range(3):
        await invoker.invoke({})
    records = await in_memory_destination.wait_for(3, timeout=10)
    assert len(records) == 3
    with pytest.raises(TimeoutError, match="holds 3 item"):
        await in_memory_destination.wait_for(4, timeout=10)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"on_success": InMemoryDestination},
            "is a class: pass an instance, InMemoryDestination()",
        ),
        ({"on_failure": lambda: None}, "cannot be called with one argument"),
        ({"dead_letter_queue": InMemoryDestination()}, "use InMemoryDeadLetterQueue()"),
        ({"on_success": InMemoryDeadLetterQueue()}, "use InMemoryDestination()"),
        (
            {"on_success": "arn:aws:sqs:us-east-1:123456789012:q"},
            "on_success='arn:aws:sqs:us-east-1:123456789012:q' is an ARN, not a destination: "
            "pass destination_from_arn('arn:aws:sqs:us-east-1:123456789012:q') from "
            "lambda_destinations.destinations.aws",
        ),
        (
            {"dead_letter_queue": "arn:aws:sqs:us-east-1:123456789012:dlq"},
            "pass dead_letter_queue_from_arn('arn:aws:sqs:us-east-1:123456789012:dlq') from "
            "lambda_destinations.destinations.aws",
        ),
    ],
    ids=["class", "no-argument", "destination-as-dlq", "dlq-as-destination", "arn", "dlq-arn"],
)
def test_destination_mistakes_are_caught_when_configured(options, message):
    """Common mistakes with destinations fail at configuration, saying what to pass instead.

    The error is a ConfigurationError, and a TypeError too, as such mistakes are in Python.
    """
    with pytest.raises(ConfigurationError, match=re.escape(message)) as info:
        AsyncInvoker(succeed, **options)
    assert isinstance(info.value, TypeError)


def test_update_config_without_settings_is_refused_like_aws():
    """update_config() with nothing to change answers with AWS's message."""
    invoker = AsyncInvoker(succeed)
    with pytest.raises(ConfigurationError, match="You must specify at least one of error handling"):
        invoker.update_config()


# -- where receivers run ----------------------------------------------------------------------


async def test_a_blocking_plain_function_receiver_holds_up_neither_the_loop_nor_others(
    virtual_clock,
):
    """A plain function runs in a worker thread: while one blocks, the next record arrives.

    The first event's receiver blocks until the test lets it go; the second event's record
    is delivered meanwhile, and the loop keeps running the test's own code.
    """
    gate, second_arrived = threading.Event(), threading.Event()
    received: list[int] = []

    def receiver(record: ExecutionRecord) -> None:
        n = record.request_payload["n"]
        if n == 1:
            assert gate.wait(30), "never released"
        else:
            second_arrived.set()
        received.append(n)

    invoker = AsyncInvoker(lambda e: e, clock=virtual_clock, on_success=receiver)
    async with invoker:
        await invoker.invoke({"n": 1})
        await invoker.invoke({"n": 2})
        assert await asyncio.to_thread(second_arrived.wait, 30)
        assert received == [2]
        gate.set()
        await invoker.join()
    assert sorted(received) == [1, 2]
    assert invoker.metrics().destination_delivery_failures == 0


async def test_a_plain_function_receiver_past_the_delivery_timeout_is_a_failed_delivery(
    caplog,
):
    """Blocked past ``delivery_timeout``, the send counts as failed; join() does not wait on."""
    gate = threading.Event()

    def stuck(record: ExecutionRecord) -> None:
        gate.wait(30)

    invoker = AsyncInvoker(lambda e: e, on_success=stuck, delivery_timeout=0.2)
    try:
        async with invoker:
            response = await invoker.invoke({})
            await invoker.join(timeout=30)
            assert invoker.metrics().destination_delivery_failures == 1
    finally:
        gate.set()
    assert f"on_success delivery of event {response.request_id} failed" in caplog.text


async def test_a_destination_objects_send_is_called_on_the_loop(virtual_clock):
    """An object's ``send`` runs on the event loop's thread (it may return an awaitable)."""
    threads: list[threading.Thread] = []

    class Recorder:
        def send(self, record: ExecutionRecord) -> None:
            threads.append(threading.current_thread())

    async with AsyncInvoker(lambda e: e, clock=virtual_clock, on_success=Recorder()) as invoker:
        await invoker.invoke({})
    assert threads == [threading.current_thread()]


async def test_json_lines_destination_writes_in_a_thread_and_keeps_lines_whole(tmp_path):
    """On a loop, send() returns the awaitable of a write done elsewhere; 200 lines stay whole."""
    out = JsonLinesDestination(tmp_path / "records.jsonl")
    ok = InMemoryDestination()
    big = "x" * 20_000  # longer than one write buffer: a torn write would show
    async with AsyncInvoker(lambda e: e, on_success=ok) as invoker:
        for n in range(200):
            await invoker.invoke({"n": n, "pad": big})
    pending = [out.send(record) for record in ok.records]
    writes = [p for p in pending if p is not None and inspect.isawaitable(p)]
    assert len(writes) == len(pending)
    await asyncio.gather(*writes)
    assert sorted(r.request_payload["n"] for r in out.read()) == list(range(200))
