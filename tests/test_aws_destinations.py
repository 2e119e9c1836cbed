"""Destinations and dead-letter queues on AWS services, over HTTP against moto's server.

Each test sends through the adapters with real boto3 clients, receives what arrived (from a
queue, a raw or enveloped SNS subscription, an EventBridge rule's queue, a bucket) and
checks it byte for byte against what Lambda sends.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from datetime import UTC

import pytest
import tenacity
from lambda_destinations import (
    DeadLetterMessage,
    ExecutionRecord,
    InMemoryDeadLetterQueue,
    InMemoryDestination,
)
from lambda_destinations.destinations.aws import (
    AwsConnection,
    AwsDeliveryError,
    AwsDestinations,
    DeliveryRetry,
    EventBridgeDestination,
    dead_letter_queue_from_arn,
    destination_from_arn,
)

from tests.aws import ACCOUNT, REGION

FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:orders:$LATEST"
#: Retries without waiting: the tests that exercise them stay fast on any clock.
QUICK = DeliveryRetry(attempts=2, wait=tenacity.wait_none())


def succeed(event):
    return {"handled": event}


def fail(event):
    raise ValueError("card declined")


class Tee:
    """Keeps each record for the test, then hands it on to the real destination."""

    def __init__(self, destination):
        self.kept = InMemoryDestination()
        self.destination = destination

    def send(self, record):
        self.kept.send(record)
        return self.destination.send(record)


def sent_record(tee: Tee) -> ExecutionRecord:
    (record,) = tee.kept.records
    return record


# -- what each destination receives ------------------------------------------------------


async def test_sqs_destination_receives_the_record_as_the_body_and_no_attributes(
    aws, invoker_factory
):
    """SQS: SendMessage with the record's exact JSON as the body and no message attributes."""
    queue_url, queue_arn = aws.queue("orders-ok")
    tee = Tee(destination_from_arn(queue_arn, endpoint_url=aws.endpoint_url))
    invoker = invoker_factory(succeed, function_name="orders", on_success=tee)
    await invoker.invoke(b'{"id":  1}')
    await invoker.join()

    (message,) = aws.receive(queue_url)
    assert message["Body"].encode() == sent_record(tee).to_json()
    assert "MessageAttributes" not in message
    assert invoker.metrics().destination_delivery_failures == 0


async def test_sns_destination_publishes_the_record_alone(aws, invoker_factory):
    """SNS: Publish with the record as the message; no subject and no message attributes."""
    topic_arn, raw_queue = aws.topic("orders-done", raw=True)
    enveloped_queue = aws.queue("orders-done-envelope")[1]
    aws.client("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=enveloped_queue)
    tee = Tee(destination_from_arn(topic_arn, endpoint_url=aws.endpoint_url))
    invoker = invoker_factory(fail, function_name="orders", on_failure=tee)
    invoker.update_config(maximum_retry_attempts=0)
    await invoker.invoke({"id": 2})
    await invoker.join()

    expected = sent_record(tee).to_json().decode()
    (raw,) = aws.receive(raw_queue)
    assert raw["Body"] == expected
    assert "MessageAttributes" not in raw
    (enveloped,) = aws.receive(
        aws.client("sqs").get_queue_url(QueueName="orders-done-envelope")["QueueUrl"]
    )
    envelope = json.loads(enveloped["Body"])
    assert envelope["Message"] == expected
    assert envelope["TopicArn"] == topic_arn
    assert "Subject" not in envelope
    assert "MessageAttributes" not in envelope


@pytest.mark.parametrize(("handler", "outcome"), [(succeed, "Success"), (fail, "Failure")])
async def test_eventbridge_destination_puts_lambdas_event(aws, invoker_factory, handler, outcome):
    """EventBridge: the whole envelope a rule's target receives, as Lambda puts it.

    Source "lambda", Lambda's detail-type, the record as detail, and resources [bus ARN,
    qualified function ARN].
    """
    bus_arn, queue_url = aws.event_bus("results")
    events = aws.client("events")
    sent = []
    events.meta.events.register(
        "before-parameter-build.events.PutEvents", lambda params, **_: sent.append(params)
    )
    tee = Tee(destination_from_arn(bus_arn, client=events))
    invoker = invoker_factory(
        handler, function_name="orders", on_success=tee, on_failure=tee, maximum_retry_attempts=0
    )
    await invoker.invoke({"id": 3})
    await invoker.join()

    (message,) = aws.receive(queue_url)
    envelope = json.loads(message["Body"])
    record = sent_record(tee)
    assert re.fullmatch(r"[0-9a-f-]{36}", envelope.pop("id"))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", envelope.pop("time"))
    envelope.pop("account", None)  # AWS adds the account; moto's envelope leaves it out
    assert envelope == {
        "version": "0",
        "detail-type": f"Lambda Function Invocation Result - {outcome}",
        "source": "lambda",
        "region": REGION,
        "resources": [bus_arn, FUNCTION_ARN],
        "detail": record.to_dict(),
    }
    # EventBridge parses Detail: the entry sent held the record's exact bytes.
    ((entry,),) = [call["Entries"] for call in sent]
    assert entry["Detail"].encode() == record.to_json()


async def test_eventbridge_source_can_be_aws_lambda(aws, invoker_factory):
    """source="aws.lambda" (what newer AWS docs show) is sent as given and matches a rule."""
    bus_arn, queue_url = aws.event_bus("newer", source="aws.lambda")
    connection = AwsConnection(endpoint_url=aws.endpoint_url)
    destination = EventBridgeDestination(bus_arn, source="aws.lambda", connection=connection)
    invoker = invoker_factory(succeed, function_name="orders", on_success=destination)
    await invoker.invoke({})
    await invoker.join()

    (message,) = aws.receive(queue_url)
    assert json.loads(message["Body"])["source"] == "aws.lambda"


async def test_s3_destination_writes_the_record_under_lambdas_key(
    aws, virtual_clock, invoker_factory
):
    """S3: one object holding the record's JSON, key aws/lambda/async/<name>/Y/M/D/<time>-<uuid>."""
    bucket_arn = aws.bucket("failures")
    tee = Tee(destination_from_arn(bucket_arn, endpoint_url=aws.endpoint_url, role="on_failure"))
    invoker = invoker_factory(
        fail, function_name="orders", on_failure=tee, maximum_retry_attempts=0
    )
    await invoker.invoke({"id": 4})
    await invoker.join()

    ((key, body),) = aws.objects("failures").items()
    record = sent_record(tee)
    at = record.timestamp.astimezone(UTC)
    prefix = f"aws/lambda/async/orders/{at:%Y/%m/%d}/{at:%Y-%m-%dT%H.%M.%S}-"
    assert key.startswith(prefix)
    assert uuid.UUID(key.removeprefix(prefix)).version == 4
    assert body == record.to_json()


async def test_lambda_destination_invokes_a_local_function_that_sends_to_real_sqs(
    aws, invoker_factory
):
    """A Lambda ARN naming a registered local function invokes it with the record's bytes.

    The chain mixes it with a real queue further on.
    """
    queue_url, queue_arn = aws.queue("chain-end")
    destinations = AwsDestinations(endpoint_url=aws.endpoint_url)
    second_tee = Tee(destinations.destination(queue_arn))
    second = invoker_factory(succeed, function_name="audit", on_success=second_tee)
    destinations.local_functions.register(second)
    first_tee = Tee(destinations.destination(f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:audit"))
    first = invoker_factory(succeed, function_name="orders", on_success=first_tee)
    await first.invoke({"id": 5})
    await first.join()
    await second.join()

    first_record = sent_record(first_tee)
    second_record = sent_record(second_tee)
    assert second_record.request_payload_json.encode() == first_record.to_json()
    (message,) = aws.receive(queue_url)
    assert message["Body"].encode() == second_record.to_json()


async def test_lambda_destination_of_a_missing_function_fails_at_delivery(aws, invoker_factory):
    """An unregistered function ARN is invoked on AWS; a missing function fails, counted."""
    destination = destination_from_arn(
        f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:nowhere",
        endpoint_url=aws.endpoint_url,
        retry=QUICK,
    )
    invoker = invoker_factory(succeed, function_name="orders", on_success=destination)
    await invoker.invoke({})
    await invoker.join()
    assert invoker.metrics().destination_delivery_failures == 1


# -- dead-letter queues ------------------------------------------------------------------


async def test_sqs_dead_letter_queue_gets_the_event_and_sqs_form_attributes(aws, invoker_factory):
    """SQS DLQ: the original bytes as the body, the three attributes in SQS's form."""
    queue_url, queue_arn = aws.queue("orders-dlq")
    dlq = dead_letter_queue_from_arn(queue_arn, endpoint_url=aws.endpoint_url)
    invoker = invoker_factory(fail, dead_letter_queue=dlq, maximum_retry_attempts=0)
    response = await invoker.invoke(b'{"id":  6}')
    await invoker.join()

    (message,) = aws.receive(queue_url)
    assert message["Body"] == '{"id":  6}'
    assert message["MessageAttributes"] == {
        "RequestID": {"StringValue": response.request_id, "DataType": "String"},
        "ErrorCode": {"StringValue": "200", "DataType": "Number"},
        "ErrorMessage": {"StringValue": "card declined", "DataType": "String"},
    }


async def test_sns_dead_letter_topic_carries_the_attributes_in_snss_form(aws, invoker_factory):
    """SNS DLQ: the event as the message, the attributes in SNS's form to a subscriber.

    An enveloped subscriber sees {"Type", "Value"}; raw delivery gives SQS attributes.
    """
    topic_arn, raw_queue = aws.topic("orders-dead", raw=True)
    enveloped_url, enveloped_arn = aws.queue("orders-dead-envelope")
    aws.client("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=enveloped_arn)
    dlq = dead_letter_queue_from_arn(topic_arn, endpoint_url=aws.endpoint_url)
    invoker = invoker_factory(fail, dead_letter_queue=dlq, maximum_retry_attempts=0)
    response = await invoker.invoke(b'{"id": 7}')
    await invoker.join()

    (raw,) = aws.receive(raw_queue)
    assert raw["Body"] == '{"id": 7}'
    assert raw["MessageAttributes"]["RequestID"] == {
        "StringValue": response.request_id,
        "DataType": "String",
    }
    (enveloped,) = aws.receive(enveloped_url)
    envelope = json.loads(enveloped["Body"])
    assert envelope["Message"] == '{"id": 7}'
    assert envelope["MessageAttributes"] == {
        "RequestID": {"Type": "String", "Value": response.request_id},
        "ErrorCode": {"Type": "Number", "Value": "200"},
        "ErrorMessage": {"Type": "String", "Value": "card declined"},
    }


# -- failed deliveries ---------------------------------------------------------------------


async def test_a_missing_queue_fails_at_delivery_retried_then_counted_and_logged(
    aws, invoker_factory, caplog
):
    """A missing queue fails at delivery: retried, counted, logged with both request ids.

    Building the adapter called nothing. The log names the event's request id, AWS's error
    code and AWS's request id; the event's outcome and the DLQ are unaffected.
    """
    destination = destination_from_arn(
        f"arn:aws:sqs:{REGION}:{ACCOUNT}:not-created", endpoint_url=aws.endpoint_url, retry=QUICK
    )
    dlq = InMemoryDeadLetterQueue()
    invoker = invoker_factory(
        fail, on_failure=destination, dead_letter_queue=dlq, maximum_retry_attempts=0
    )
    with caplog.at_level(logging.INFO, logger="lambda_destinations"):
        response = await invoker.invoke({})
        await invoker.join()

    metrics = invoker.metrics()
    assert (metrics.destination_delivery_failures, metrics.dead_letter_errors) == (1, 0)
    assert [m.request_id for m in dlq.messages] == [response.request_id]
    retried = [r for r in caplog.records if "retrying" in r.getMessage()]
    assert len(retried) == 1
    assert "AWS.SimpleQueueService.NonExistentQueue" in retried[0].getMessage()
    (failed,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    error = failed.exc_info[1]
    assert isinstance(error, AwsDeliveryError)
    assert (error.request_id, error.error_code, error.attempts) == (
        response.request_id,
        "AWS.SimpleQueueService.NonExistentQueue",
        2,
    )
    assert error.aws_request_id
    assert error.aws_request_id in failed.getMessage()
    assert response.request_id in failed.getMessage()


async def test_a_missing_dead_letter_topic_counts_a_dead_letter_error(aws, invoker_factory):
    """A DLQ send that AWS refuses is counted in DeadLetterErrors, not as a destination failure."""
    dlq = dead_letter_queue_from_arn(
        f"arn:aws:sns:{REGION}:{ACCOUNT}:not-created", endpoint_url=aws.endpoint_url, retry=QUICK
    )
    invoker = invoker_factory(fail, dead_letter_queue=dlq, maximum_retry_attempts=0)
    await invoker.invoke({})
    await invoker.join()
    metrics = invoker.metrics()
    assert (metrics.destination_delivery_failures, metrics.dead_letter_errors) == (0, 1)


@pytest.mark.parametrize(
    ("make_arn", "limit"),
    [
        (lambda aws: aws.queue("big")[1], 1_048_576),
        (lambda aws: aws.event_bus("big")[0], 262_144),
    ],
    ids=["sqs", "eventbridge"],
)
async def test_a_record_too_large_for_the_target_fails_without_a_call(
    aws, invoker_factory, make_arn, limit
):
    """A record over the target's limit fails without a call; one just under it is sent.

    The limits are SQS's 1 MiB and EventBridge's 256 KB; no retry can help, so none is made.
    """
    arn = make_arn(aws)
    calls = []
    client = aws.client(arn.split(":")[2])
    client.meta.events.register("before-send", lambda **kw: calls.append(kw["request"]))
    destination = destination_from_arn(arn, client=client)
    tee = Tee(destination)
    invoker = invoker_factory(lambda event: event, on_success=tee)
    # The record holds the event twice (request and response payload), plus its envelope.
    await invoker.invoke("x" * (limit // 2))
    await invoker.join()
    assert invoker.metrics().destination_delivery_failures == 1
    assert len(sent_record(tee).to_json()) > limit
    assert calls == []

    await invoker.invoke("x" * (limit // 2 - 1000))
    await invoker.join()
    assert len(calls) == 1
    assert invoker.metrics().destination_delivery_failures == 1


# -- batching -------------------------------------------------------------------------------


def record_for(request_id: str, payload: str) -> ExecutionRecord:
    return ExecutionRecord.from_dict(
        {
            "version": "1.0",
            "timestamp": "2025-11-14T18:16:05.568Z",
            "requestContext": {
                "requestId": request_id,
                "functionArn": FUNCTION_ARN,
                "condition": "Success",
                "approximateInvokeCount": 1,
            },
            "requestPayload": payload,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST"},
            "responsePayload": None,
        }
    )


async def send_all(destination, items):
    """Send every item in the same loop turn, as records that fall due together."""
    await asyncio.gather(*(destination.send(item) for item in items))


def count_calls(client) -> list[str]:
    """The name of every call the client makes, with its number of entries if it is a batch."""
    names: list[str] = []

    def seen(model, params, **_):
        entries = params.get("Entries") or params.get("PublishBatchRequestEntries")
        names.append(model.name if entries is None else f"{model.name}:{len(entries)}")

    client.meta.events.register("before-parameter-build", seen)
    return names


async def test_records_due_at_once_go_out_in_batches_of_ten_each_entry_exact(aws):
    """25 records due in one loop turn go out as 3 SendMessageBatch calls, bytes exact."""
    queue_url, queue_arn = aws.queue("batched")
    sqs = aws.client("sqs")
    calls = count_calls(sqs)
    destination = destination_from_arn(queue_arn, client=sqs)
    records = [record_for(f"req-{i}", f"payload {i}") for i in range(25)]
    await send_all(destination, records)

    assert calls == ["SendMessageBatch:10", "SendMessageBatch:10", "SendMessageBatch:5"]
    bodies = {m["Body"].encode() for m in aws.receive(queue_url, 25)}
    assert bodies == {r.to_json() for r in records}


async def test_without_batching_each_record_is_one_send_message(aws):
    """batching=False: one SendMessage per record, exactly what Lambda calls."""
    queue_url, queue_arn = aws.queue("single")
    sqs = aws.client("sqs")
    calls = count_calls(sqs)
    destination = destination_from_arn(queue_arn, client=sqs, batching=False)
    records = [record_for(f"req-{i}", "p") for i in range(3)]
    await send_all(destination, records)
    assert calls == ["SendMessage"] * 3
    assert len(aws.receive(queue_url, 3)) == 3


@pytest.mark.parametrize("service", ["sns", "events"])
async def test_sns_and_eventbridge_batch_too(aws, service):
    """PublishBatch and PutEvents carry up to 10 records per call."""
    if service == "sns":
        arn, queue_url = aws.topic("batched", raw=True)
        expected = ["PublishBatch:10", "PublishBatch:2"]
    else:
        arn, queue_url = aws.event_bus("batched")
        expected = ["PutEvents:10", "PutEvents:2"]
    client = aws.client(service)
    calls = count_calls(client)
    destination = destination_from_arn(arn, client=client)
    records = [record_for(f"req-{i}", "p") for i in range(12)]
    await send_all(destination, records)
    assert calls == expected
    assert len(aws.receive(queue_url, 12)) == 12


async def test_dead_letters_due_at_once_are_batched_with_their_attributes(aws):
    """SQS dead letters batch too; each message keeps its own body and attributes."""
    queue_url, queue_arn = aws.queue("dead-batched")
    sqs = aws.client("sqs")
    calls = count_calls(sqs)
    dlq = dead_letter_queue_from_arn(queue_arn, client=sqs)
    letters = [
        DeadLetterMessage.build(f'{{"n":{i}}}', f"req-{i}", "200", f"e{i}") for i in range(4)
    ]
    await send_all(dlq, letters)
    assert calls == ["SendMessageBatch:4"]
    received = {
        m["Body"]: {k: v["StringValue"] for k, v in m["MessageAttributes"].items()}
        for m in aws.receive(queue_url, 4)
    }
    assert received == {
        f'{{"n":{i}}}': {"RequestID": f"req-{i}", "ErrorCode": "200", "ErrorMessage": f"e{i}"}
        for i in range(4)
    }


async def test_sns_batches_stay_within_256_kib_altogether(aws):
    """PublishBatch entries add up to at most 256 KiB (a topic's default message size)."""
    topic_arn, queue_url = aws.topic("large", raw=True)
    sns = aws.client("sns")
    calls = count_calls(sns)
    destination = destination_from_arn(topic_arn, client=sns)
    records = [record_for(f"req-{i}", "x" * 100_000) for i in range(3)]
    await send_all(destination, records)
    assert calls == ["PublishBatch:2", "Publish"]
    assert len(aws.receive(queue_url, 3)) == 3
