"""The AWS adapters without a server: ARNs, failure decisions, the event loop, imports.

Which ARNs they take and refuse, how failed entries are retried, that boto3 never holds up
the event loop, and that the core import never loads boto3.
"""

from __future__ import annotations

import asyncio
import socket
import threading

import pytest
import tenacity
from lambda_destinations import ConfigurationError, ExecutionRecord, LambdaDestinationsError
from lambda_destinations.destinations.aws import (
    AwsConnection,
    AwsDeliveryError,
    DeliveryRetry,
    EventBridgeDestination,
    LambdaDestination,
    S3Destination,
    SnsDeadLetterQueue,
    SnsDestination,
    SqsDeadLetterQueue,
    SqsDestination,
    dead_letter_queue_from_arn,
    destination_from_arn,
)
from lambda_destinations.destinations.aws._channel import Channel, Entry
from lambda_destinations.destinations.aws._errors import Failure, failure_from_exception

from tests.scripts import run_script

ACCOUNT = "123456789012"
QUEUE = f"arn:aws:sqs:us-east-1:{ACCOUNT}:orders"
FUNCTION_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:orders:$LATEST"


def record() -> ExecutionRecord:
    return ExecutionRecord.from_dict(
        {
            "version": "1.0",
            "timestamp": "2025-11-14T18:16:05.568Z",
            "requestContext": {
                "requestId": "req-1",
                "functionArn": FUNCTION_ARN,
                "condition": "Success",
                "approximateInvokeCount": 1,
            },
            "requestPayload": {},
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST"},
            "responsePayload": None,
        }
    )


# -- which adapter, and what is refused --------------------------------------------------


@pytest.mark.parametrize(
    ("arn", "kind"),
    [
        (QUEUE, SqsDestination),
        (f"arn:aws:sns:us-east-1:{ACCOUNT}:done", SnsDestination),
        (f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/default", EventBridgeDestination),
        (f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:audit", LambdaDestination),
        (f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:audit:prod", LambdaDestination),
        ("arn:aws:s3:::failures", S3Destination),
    ],
)
def test_destination_from_arn_picks_the_adapter_of_the_arns_service(arn, kind):
    """Each supported service's ARN gets its adapter, built without any AWS call."""
    destination = destination_from_arn(arn, endpoint_url="http://127.0.0.1:9")
    assert type(destination) is kind
    assert destination.arn == arn
    assert repr(destination) == f"{kind.__name__}({arn!r})"


@pytest.mark.parametrize(
    ("arn", "kind"),
    [(QUEUE, SqsDeadLetterQueue), (f"arn:aws:sns:us-east-1:{ACCOUNT}:dead", SnsDeadLetterQueue)],
)
def test_dead_letter_queue_from_arn_takes_sqs_and_sns(arn, kind):
    """A dead-letter queue is an SQS queue or an SNS topic."""
    assert type(dead_letter_queue_from_arn(arn)) is kind


@pytest.mark.parametrize(
    ("arn", "role", "message"),
    [
        (
            f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/t",
            None,
            "The provided destination config DestinationConfig(onSuccess=OnSuccess("
            f"destination=arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/t), onFailure=null) "
            "is invalid.",
        ),
        (
            f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/s",
            "on_failure",
            "The provided destination config DestinationConfig(onSuccess=null, onFailure="
            f"OnFailure(destination=arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/s)) is invalid.",
        ),
        (
            "arn:aws:s3:::records",
            "on_success",
            "The provided destination config DestinationConfig(onSuccess=OnSuccess("
            "destination=arn:aws:s3:::records), onFailure=null) is invalid.",
        ),
        (
            f"{QUEUE}.fifo",
            None,
            "The provided destination config DestinationConfig(onSuccess=OnSuccess("
            f"destination={QUEUE}.fifo), onFailure=null) is invalid.",
        ),
        (
            f"arn:aws:sns:us-east-1:{ACCOUNT}:done.fifo",
            None,
            "The provided destination config DestinationConfig(onSuccess=OnSuccess("
            f"destination=arn:aws:sns:us-east-1:{ACCOUNT}:done.fifo), onFailure=null) "
            "is invalid.",
        ),
    ],
    ids=["unsupported", "unsupported-on-failure", "s3-on-success", "fifo-queue", "fifo-topic"],
)
def test_destinations_aws_refuses_carry_awss_message(arn, role, message):
    """Unsupported services, FIFO targets and S3 on success are refused with AWS's message.

    The message is PutFunctionEventInvokeConfig's for an invalid destination config.
    """
    with pytest.raises(ConfigurationError) as refused:
        destination_from_arn(arn, role=role)
    assert str(refused.value).startswith(message)


@pytest.mark.parametrize(
    "arn",
    [f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:f", f"{QUEUE}.fifo", "arn:aws:s3:::b"],
)
def test_a_dead_letter_queue_is_a_standard_queue_or_topic(arn):
    """Anything but a standard SQS queue or SNS topic is refused as a dead-letter queue."""
    with pytest.raises(ConfigurationError, match="is invalid for DeadLetterConfig"):
        dead_letter_queue_from_arn(arn)


@pytest.mark.parametrize("arn", ["orders", "arn:aws:sqs:us-east-1:12345:orders"])
def test_something_that_is_not_an_arn_is_refused_with_an_example(arn):
    """A malformed ARN says what an ARN looks like."""
    with pytest.raises(ConfigurationError, match="arn:aws:sqs:us-east-1:123456789012:my-queue"):
        destination_from_arn(arn)


def test_a_client_of_another_service_is_refused():
    """client= must be a client of the ARN's service."""
    boto3 = pytest.importorskip("boto3")
    sns = boto3.client("sns", region_name="us-east-1")
    with pytest.raises(ConfigurationError, match=r"a 'sns' client; a 'sqs' ARN needs"):
        destination_from_arn(QUEUE, client=sns)


def test_an_s3_destination_refuses_a_success_record():
    """S3 takes failures only: a success record sent to it is a failed delivery."""
    destination = destination_from_arn("arn:aws:s3:::b")
    with pytest.raises(ConfigurationError, match="on-failure destinations only"):
        destination.send(record())


def test_a_lambda_destination_refuses_its_own_function():
    """A function cannot be its own destination: AWS's message, at delivery."""
    destination = destination_from_arn(f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:orders")
    with pytest.raises(ConfigurationError, match="You can't specify the function as a destination"):
        destination.send(record())


# -- failures, batches and retries ---------------------------------------------------------


class FakeService:
    """An Operation answering from a script, for the partial failures moto never produces."""

    target_arn = QUEUE
    action = "SQS SendMessage"
    max_entries = 10
    max_batch_bytes = 1_048_576

    def __init__(self, batch_answers, single_answers):
        self.batch_answers = list(batch_answers)
        self.single_answers = list(single_answers)
        self.calls: list[tuple[str, list]] = []

    def client(self, connection):
        return None

    def send_one(self, client, params):
        self.calls.append(("one", [params["n"]]))
        answer = self.single_answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def send_batch(self, client, entries):
        self.calls.append(("batch", [e["n"] for e in entries]))
        answer = self.batch_answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def channel(service: FakeService, attempts: int = 3) -> Channel:
    retry = DeliveryRetry(attempts=attempts, wait=tenacity.wait_none())
    return Channel(service, AwsConnection(), retry, batching=True, max_in_flight=2)


def entries(n: int) -> list[Entry]:
    return [Entry({"n": i}, 10, f"req-{i}") for i in range(n)]


async def test_per_entry_failures_of_a_batch_are_retried_one_by_one():
    """A batch's failed entries are retried alone; the accepted ones are not sent again.

    A throttled entry succeeds on its own; a permanent refusal fails at once.
    """
    throttled = Failure.of_entry("ThrottlingException", "slow down", "aws-1")
    invalid = Failure.of_entry("InvalidMessageContents", "bad", "aws-1")
    service = FakeService([[None, throttled, invalid]], [None])
    ch = channel(service)
    results = await asyncio.gather(*(ch.submit(e) for e in entries(3)), return_exceptions=True)

    assert service.calls == [("batch", [0, 1, 2]), ("one", [1])]
    assert results[:2] == [None, None]
    error = results[2]
    assert isinstance(error, AwsDeliveryError)
    assert (error.error_code, error.attempts, error.aws_request_id) == (
        "InvalidMessageContents",
        1,
        "aws-1",
    )


async def test_a_whole_batch_that_fails_is_retried_entry_by_entry_up_to_the_limit():
    """A call that fails as a whole fails every entry; each is retried alone, within limits.

    After a connection error each entry gets at most attempts - 1 single sends, then is
    reported with its last error.
    """
    service = FakeService([ConnectionError("reset")], [None, OSError("down"), OSError("down")])
    ch = channel(service, attempts=3)
    results = await asyncio.gather(*(ch.submit(e) for e in entries(2)), return_exceptions=True)

    assert service.calls == [("batch", [0, 1]), ("one", [0]), ("one", [1]), ("one", [1])]
    assert results[0] is None
    assert isinstance(results[1], AwsDeliveryError)
    assert (results[1].error_code, results[1].attempts) == ("OSError", 3)


def test_botocore_errors_are_classified_by_code_and_status():
    """Transient AWS errors are retried, a malformed request and missing credentials not.

    Throttling, access denied, a missing queue and 5xx are retried. AWS's request id is kept.
    """
    botocore = pytest.importorskip("botocore.exceptions")

    def client_error(code, status):
        response = {
            "Error": {"Code": code, "Message": "m"},
            "ResponseMetadata": {"RequestId": "aws-req", "HTTPStatusCode": status},
        }
        return botocore.ClientError(response, "SendMessage")

    assert failure_from_exception(client_error("ThrottlingException", 400)).retryable
    assert failure_from_exception(client_error("AccessDenied", 403)).retryable
    assert failure_from_exception(
        client_error("AWS.SimpleQueueService.NonExistentQueue", 400)
    ).retryable
    assert failure_from_exception(client_error("InternalError", 500)).retryable
    for code in ("InvalidParameterValue", "ValidationException", "InvalidMessageContents"):
        invalid = failure_from_exception(client_error(code, 400))
        assert (invalid.retryable, invalid.aws_request_id) == (False, "aws-req")
    assert not failure_from_exception(botocore.NoCredentialsError()).retryable


def test_sending_outside_an_event_loop_says_how_to_send():
    """send() needs an event loop; without one the error says where to call it."""
    destination = destination_from_arn(QUEUE)
    with pytest.raises(LambdaDestinationsError, match="send\\(\\) runs on an event loop"):
        destination.send(record())


def test_delivery_retry_refuses_nonsense():
    """Attempts must be 1 or more; the deadline zero or more seconds."""
    with pytest.raises(ConfigurationError, match="1 or more attempts"):
        DeliveryRetry(attempts=0)
    with pytest.raises(ConfigurationError, match="zero or more seconds"):
        DeliveryRetry(deadline=-1)


async def send(destination, item):
    await (destination.submit(item) if isinstance(destination, Channel) else destination.send(item))


# -- boto3 and the event loop --------------------------------------------------------------


async def test_a_call_in_flight_never_blocks_the_event_loop():
    """While boto3 waits on an endpoint that never answers, the event loop keeps turning."""
    pytest.importorskip("boto3")
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    try:
        endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
        destination = destination_from_arn(QUEUE, endpoint_url=endpoint)
        started = threading.Event()
        connection = destination._channel.connection
        real_client = connection.client

        def client(service, region):
            started.set()
            return real_client(service, region)

        connection.client = client  # type: ignore[method-assign]
        delivery = asyncio.ensure_future(send(destination, record()))
        turns = 0
        while not started.is_set() or turns < 100:
            await asyncio.sleep(0)
            turns += 1
            assert turns < 10_000_000
        assert not delivery.done()
        delivery.cancel()
    finally:
        silent.close()


def test_importing_the_library_does_not_load_boto3(tmp_path):
    """Importing lambda_destinations loads neither boto3 nor botocore.

    Nor does building an AWS adapter: boto3 loads on the adapter's first call.
    """
    result = run_script(
        tmp_path,
        """
        import sys
        import lambda_destinations
        assert "boto3" not in sys.modules and "botocore" not in sys.modules, "core import"
        from lambda_destinations.destinations.aws import destination_from_arn
        destination_from_arn("arn:aws:sqs:us-east-1:123456789012:q")
        assert "boto3" not in sys.modules and "botocore" not in sys.modules, "adapter"
        print("ok")
        """,
    )
    assert result.stdout.strip() == "ok", result.stderr


async def test_no_attempt_starts_after_the_retry_deadline():
    """DeliveryRetry's deadline stops the retries even when attempts remain."""
    service = FakeService([], [ConnectionError("reset"), None])
    retry = DeliveryRetry(attempts=3, deadline=0, wait=tenacity.wait_none())
    ch = Channel(service, AwsConnection(), retry, batching=True, max_in_flight=1)
    (result,) = await asyncio.gather(ch.submit(entries(1)[0]), return_exceptions=True)
    assert isinstance(result, AwsDeliveryError)
    assert result.attempts == 1
    assert service.calls == [("one", [0])]


async def test_an_entry_cut_off_while_it_waited_is_never_sent():
    """A delivery cancelled (by the delivery timeout) before its turn leaves no call behind."""
    release = threading.Event()

    class Slow(FakeService):
        def send_one(self, client, params):
            if params["n"] == 0:
                release.wait(30)
            return super().send_one(client, params)

    service = Slow([], [None, None, None])
    ch = Channel(service, AwsConnection(), DeliveryRetry(), batching=True, max_in_flight=1)
    first, second = entries(2)
    sending = asyncio.ensure_future(send(ch, first))
    await asyncio.sleep(0)
    waiting = asyncio.ensure_future(send(ch, second))
    await asyncio.sleep(0)
    waiting.cancel()
    release.set()
    await sending
    await send(ch, Entry({"n": 2}, 10, "req-2"))  # sent after the cut-off one would have been
    assert service.calls == [("one", [0]), ("one", [2])]


def test_batch_answers_are_matched_to_their_entries():
    """SendMessageBatch / PublishBatch failures are matched by Id, PutEvents' by position."""
    from lambda_destinations.destinations.aws._arn import Arn
    from lambda_destinations.destinations.aws._services import EventsOperation, failures_by_id

    answer = {
        "Failed": [{"Id": "2", "Code": "InternalError", "Message": "m"}],
        "ResponseMetadata": {"RequestId": "aws-7"},
    }
    assert failures_by_id(answer, 3) == [None, None, Failure("InternalError", "m", "aws-7", True)]

    class PutEventsAnswer:
        """Stands in for the events client: PutEvents' answer with its second entry failed."""

        def put_events(self, Entries):
            return {
                "FailedEntryCount": 1,
                "Entries": [
                    {"EventId": "e1"},
                    {"ErrorCode": "ThrottlingException", "ErrorMessage": "slow"},
                ],
                "ResponseMetadata": {"RequestId": "aws-8"},
            }

    bus = Arn.parse(f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/b", "test")
    failures = EventsOperation(bus).send_batch(PutEventsAnswer(), [{}, {}])
    assert failures == [None, Failure("ThrottlingException", "slow", "aws-8", True)]
