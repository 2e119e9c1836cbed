"""EventInvokeConfig as AWS's Lambda API writes it: Put replaces, Update merges, Get answers.

Requests are the exact JSON of PutFunctionEventInvokeConfig / UpdateFunctionEventInvokeConfig;
refusals carry AWS's code, status and message. Building adapters calls no AWS API, so only
the last test needs the moto server.
"""

from __future__ import annotations

import json

import pytest
from lambda_destinations import (
    AsyncInvoker,
    ConfigurationError,
    EventInvokeConfigError,
    EventInvokeConfigs,
)
from lambda_destinations.destinations.aws import (
    AwsDestinations,
    EventBridgeDestination,
    S3Destination,
    SnsDeadLetterQueue,
    SqsDeadLetterQueue,
    SqsDestination,
)

ACCOUNT = "123456789012"
PREFIX = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function"
QUEUE = f"arn:aws:sqs:us-east-1:{ACCOUNT}:orders-done"
BUS = f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/results"
TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:orders-dlq"

pytest.importorskip("boto3")


def handler(event):
    return event


@pytest.fixture
def destinations():
    return AwsDestinations(endpoint_url="http://127.0.0.1:9")


def make(request, destinations, **settings) -> AsyncInvoker:
    return AsyncInvoker.from_event_invoke_config(
        handler, request, destinations=destinations, **settings
    )


def without_time(response):
    assert isinstance(response.pop("LastModified"), float)
    return response


def test_put_json_configures_the_invoker_and_get_answers_in_awss_shape(destinations):
    """The Put request names the function and sets retries, age and both destinations."""
    request = json.dumps(
        {
            "FunctionName": "orders",
            "MaximumRetryAttempts": 1,
            "MaximumEventAgeInSeconds": 3600,
            "DestinationConfig": {
                "OnSuccess": {"Destination": QUEUE},
                "OnFailure": {"Destination": BUS},
            },
        }
    )
    invoker = make(request, destinations)

    config = invoker.config
    assert (config.maximum_retry_attempts, config.maximum_event_age_in_seconds) == (1, 3600)
    assert isinstance(config.on_success, SqsDestination)
    assert config.on_success.arn == QUEUE
    assert isinstance(config.on_failure, EventBridgeDestination)
    assert invoker.function_arn == f"{PREFIX}:orders:$LATEST"
    assert without_time(invoker.get_event_invoke_config()) == {
        "FunctionArn": f"{PREFIX}:orders:$LATEST",
        "MaximumRetryAttempts": 1,
        "MaximumEventAgeInSeconds": 3600,
        "DestinationConfig": {
            "OnSuccess": {"Destination": QUEUE},
            "OnFailure": {"Destination": BUS},
        },
    }


def test_put_replaces_omitted_settings_return_to_their_defaults(destinations):
    """A second Put with only the age drops retries and destinations; Get leaves unset ones out."""
    invoker = make(
        {
            "FunctionName": "orders",
            "MaximumRetryAttempts": 0,
            "DestinationConfig": {"OnSuccess": {"Destination": QUEUE}},
        },
        destinations,
    )
    response = invoker.put_event_invoke_config(
        {"FunctionName": "orders", "MaximumEventAgeInSeconds": 60}, destinations=destinations
    )
    assert without_time(response) == {
        "FunctionArn": f"{PREFIX}:orders:$LATEST",
        "MaximumEventAgeInSeconds": 60,
        "DestinationConfig": {"OnSuccess": {}, "OnFailure": {}},
    }
    config = invoker.config
    assert (config.maximum_retry_attempts, config.on_success, config.on_failure) == (2, None, None)


def test_update_merges_and_keeps_what_it_does_not_name(destinations):
    """Update changes only the settings it holds; an untouched destination stays the same object."""
    invoker = make(
        {
            "FunctionName": "orders",
            "MaximumRetryAttempts": 1,
            "DestinationConfig": {"OnSuccess": {"Destination": QUEUE}},
        },
        destinations,
    )
    before = invoker.config.on_success
    response = invoker.update_event_invoke_config(
        {
            "FunctionName": "orders",
            "DestinationConfig": {"OnFailure": {"Destination": "arn:aws:s3:::failed"}},
        },
        destinations=destinations,
    )
    assert without_time(response) == {
        "FunctionArn": f"{PREFIX}:orders:$LATEST",
        "MaximumRetryAttempts": 1,
        "DestinationConfig": {
            "OnSuccess": {"Destination": QUEUE},
            "OnFailure": {"Destination": "arn:aws:s3:::failed"},
        },
    }
    assert invoker.config.on_success is before
    assert isinstance(invoker.config.on_failure, S3Destination)
    assert invoker.config.maximum_retry_attempts == 1


def test_get_and_delete_without_a_config_are_not_found(destinations):
    """Get before any Put is ResourceNotFoundException (404) with AWS's message; Delete too."""
    invoker = AsyncInvoker(handler, function_name="orders", qualifier="3")
    with pytest.raises(EventInvokeConfigError) as missing:
        invoker.get_event_invoke_config()
    assert (missing.value.aws_error_code, missing.value.status_code) == (
        "ResourceNotFoundException",
        404,
    )
    assert str(missing.value) == f"The function {PREFIX}:orders:3 doesn't have an EventInvokeConfig"
    with pytest.raises(EventInvokeConfigError, match="doesn't have an EventInvokeConfig"):
        invoker.delete_event_invoke_config()


def test_delete_returns_every_setting_to_its_default(destinations):
    """After Delete the invoker retries twice, keeps events 6 h, and has no destinations."""
    invoker = make(
        {
            "FunctionName": "orders",
            "MaximumRetryAttempts": 0,
            "DestinationConfig": {"OnFailure": {"Destination": QUEUE}},
        },
        destinations,
    )
    invoker.delete_event_invoke_config()
    config = invoker.config
    assert (config.maximum_retry_attempts, config.maximum_event_age_in_seconds) == (2, 21600)
    assert config.on_failure is None
    with pytest.raises(EventInvokeConfigError):
        invoker.get_event_invoke_config()


@pytest.mark.parametrize(
    ("request_json", "code", "message"),
    [
        (
            {"FunctionName": "orders"},
            "InvalidParameterValueException",
            "You must specify at least one of error handling or destination setting.",
        ),
        (
            {
                "FunctionName": "orders",
                "DestinationConfig": {"OnSuccess": {"Destination": f"{PREFIX}:orders"}},
            },
            "InvalidParameterValueException",
            "You can't specify the function as a destination for itself.",
        ),
        (
            {
                "FunctionName": "orders",
                "DestinationConfig": {"OnFailure": {"Destination": f"{PREFIX}:bad name"}},
            },
            "InvalidParameterValueException",
            f"The destination ARN {PREFIX}:bad name is invalid.",
        ),
        (
            {
                "FunctionName": "orders",
                "DestinationConfig": {
                    "OnSuccess": {"Destination": f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/t"}
                },
            },
            "InvalidParameterValueException",
            f"The provided destination config DestinationConfig(onSuccess=OnSuccess(destination=arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/t), onFailure=null) is invalid.",
        ),
        (
            {
                "FunctionName": "orders",
                "DestinationConfig": {
                    "OnSuccess": {"Destination": "arn:aws:s3:::b"},
                    "OnFailure": {"Destination": QUEUE},
                },
            },
            "InvalidParameterValueException",
            f"The provided destination config DestinationConfig(onSuccess=OnSuccess(destination=arn:aws:s3:::b), onFailure=OnFailure(destination={QUEUE})) is invalid.",
        ),
        (
            {
                "FunctionName": "orders",
                "DestinationConfig": {"OnFailure": {"Destination": f"{QUEUE}.fifo"}},
            },
            "InvalidParameterValueException",
            f"The provided destination config DestinationConfig(onSuccess=null, onFailure=OnFailure(destination={QUEUE}.fifo)) is invalid.",
        ),
        (
            {"FunctionName": "orders:prod", "Qualifier": "blue", "MaximumRetryAttempts": 1},
            "InvalidParameterValueException",
            "The derived qualifier from the function name does not match the specified qualifier.",
        ),
        (
            {"FunctionName": "orders", "MaximumRetryAttempts": 3},
            "ValidationException",
            "1 validation error detected: Value '3' at 'maximumRetryAttempts' failed to satisfy constraint: Member must have value less than or equal to 2",
        ),
        (
            {"FunctionName": "orders", "MaximumRetryAttempts": -1, "MaximumEventAgeInSeconds": 59},
            "ValidationException",
            "2 validation errors detected: Value '-1' at 'maximumRetryAttempts' failed to satisfy constraint: Member must have value greater than or equal to 0; Value '59' at 'maximumEventAgeInSeconds' failed to satisfy constraint: Member must have value greater than or equal to 60",
        ),
    ],
    ids=[
        "no-setting",
        "itself",
        "bad-lambda-arn",
        "unsupported",
        "s3-on-success",
        "fifo",
        "qualifier",
        "retries",
        "both-ranges",
    ],
)
def test_refusals_carry_awss_code_and_message(destinations, request_json, code, message):
    """Each request AWS refuses is refused here with AWS's error code and exact message."""
    with pytest.raises(EventInvokeConfigError) as refused:
        make(request_json, destinations)
    assert (refused.value.aws_error_code, refused.value.status_code) == (code, 400)
    assert str(refused.value) == message
    assert refused.value.aws_message == message


@pytest.mark.parametrize(
    ("destinations_json", "hint"),
    [
        (
            {"OnSuccess": {"Destination": f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/t"}},
            "on_success: dynamodb is not a destination service; AWS sends records only to SQS, "
            "SNS, EventBridge, Lambda and (on failure) S3",
        ),
        (
            {"OnFailure": {"Destination": f"{QUEUE}.fifo"}},
            "on_failure: a FIFO queue (its name ends in .fifo) cannot be a destination; use a "
            "standard queue",
        ),
        (
            {
                "OnSuccess": {"Destination": "arn:aws:s3:::b"},
                "OnFailure": {"Destination": "not-an-arn"},
            },
            "on_success: an S3 bucket takes on-failure records only; send successes elsewhere; "
            "on_failure: 'not-an-arn' is not an ARN; a destination is the ARN of an SQS queue, "
            "SNS topic, EventBridge event bus, Lambda function or (on failure) S3 bucket",
        ),
        (
            {"OnFailure": {"Destination": f"{PREFIX}:bad name"}},
            "on_failure: a Lambda function ARN is arn:aws:lambda:REGION:ACCOUNT:function:NAME, "
            "with an optional :VERSION or :ALIAS; names take letters, digits, - and _",
        ),
    ],
    ids=["unsupported-service", "fifo", "both", "bad-lambda-arn"],
)
def test_refused_destinations_say_why_beside_awss_exact_message(
    destinations, destinations_json, hint
):
    """AWS gives no reason for these; the hint does, as an attribute and a traceback note.

    str() stays AWS's message byte for byte, as boto3 shows it.
    """
    request = {"FunctionName": "orders", "DestinationConfig": destinations_json}
    with pytest.raises(EventInvokeConfigError) as refused:
        make(request, destinations)
    error = refused.value
    assert str(error) == error.aws_message
    assert error.aws_message.endswith(" is invalid.")
    assert error.hint == hint
    assert error.__notes__ == [hint]


def test_refusals_with_a_reason_of_their_own_carry_no_hint(destinations):
    """AWS's message already says what is wrong: no hint and no note are added."""
    with pytest.raises(EventInvokeConfigError) as refused:
        make({"FunctionName": "orders"}, destinations)
    assert refused.value.hint is None
    assert not hasattr(refused.value, "__notes__")


def test_a_refused_update_changes_nothing(destinations):
    """An Update AWS refuses leaves the invoker's config as it was."""
    invoker = make({"FunctionName": "orders", "MaximumRetryAttempts": 1}, destinations)
    before = invoker.get_event_invoke_config()
    with pytest.raises(EventInvokeConfigError):
        invoker.update_event_invoke_config({"MaximumEventAgeInSeconds": 10})
    assert invoker.get_event_invoke_config() == before
    assert invoker.config.maximum_event_age_in_seconds == 21600


def test_configs_per_qualifier_are_kept_apart_and_listed(destinations):
    """A version and an alias of one function have configs of their own; List shows both."""
    version = make({"FunctionName": f"{PREFIX}:orders:1", "MaximumRetryAttempts": 0}, destinations)
    alias = make(
        {"FunctionName": "orders", "Qualifier": "prod", "MaximumEventAgeInSeconds": 120},
        destinations,
        executed_version="1",
    )
    other = make({"FunctionName": "billing", "MaximumRetryAttempts": 1}, destinations)
    assert (version.config.maximum_retry_attempts, alias.config.maximum_retry_attempts) == (0, 2)

    listed = EventInvokeConfigs(version, alias, other).list("orders")
    assert [without_time(c) for c in listed["FunctionEventInvokeConfigs"]] == [
        {
            "FunctionArn": f"{PREFIX}:orders:1",
            "MaximumRetryAttempts": 0,
            "DestinationConfig": {"OnSuccess": {}, "OnFailure": {}},
        },
        {
            "FunctionArn": f"{PREFIX}:orders:prod",
            "MaximumEventAgeInSeconds": 120,
            "DestinationConfig": {"OnSuccess": {}, "OnFailure": {}},
        },
    ]
    with pytest.raises(EventInvokeConfigError, match="Function not found"):
        version.put_event_invoke_config({"FunctionName": "orders:prod", "MaximumRetryAttempts": 1})


@pytest.mark.parametrize(
    ("dead_letter_config", "kind"),
    [
        ({"TargetArn": QUEUE}, SqsDeadLetterQueue),
        (json.dumps({"DeadLetterConfig": {"TargetArn": TOPIC}}), SnsDeadLetterQueue),
    ],
)
def test_a_functions_dead_letter_config_sets_the_dead_letter_queue(
    destinations, dead_letter_config, kind
):
    """DeadLetterConfig (alone, or in a function configuration) becomes the DLQ adapter."""
    invoker = make(
        {"FunctionName": "orders", "MaximumRetryAttempts": 0},
        destinations,
        dead_letter_config=dead_letter_config,
    )
    assert type(invoker.dead_letter_queue) is kind


def test_requests_that_are_not_put_json_are_refused_saying_why():
    """Unknown keys, non-JSON and settings passed beside the request are configuration errors."""
    with pytest.raises(ConfigurationError, match="unknown keys \\['MaxRetries'\\]"):
        AsyncInvoker.from_event_invoke_config(handler, {"FunctionName": "f", "MaxRetries": 1})
    with pytest.raises(ConfigurationError, match="not JSON"):
        AsyncInvoker.from_event_invoke_config(handler, "{nope")
    with pytest.raises(ConfigurationError, match="the request's to set"):
        AsyncInvoker.from_event_invoke_config(
            handler, {"FunctionName": "f", "MaximumRetryAttempts": 1}, maximum_retry_attempts=0
        )


async def test_a_config_from_json_delivers_to_real_aws(aws, virtual_clock):
    """End to end: Put JSON and DeadLetterConfig ARNs deliver the record and the dead letter."""
    queue_url, queue_arn = aws.queue("from-json")
    dlq_url, dlq_arn = aws.queue("from-json-dlq")

    def fail(event):
        raise RuntimeError("no")

    invoker = AsyncInvoker.from_event_invoke_config(
        fail,
        {
            "FunctionName": "orders",
            "MaximumRetryAttempts": 0,
            "DestinationConfig": {"OnFailure": {"Destination": queue_arn}},
        },
        dead_letter_config={"TargetArn": dlq_arn},
        destinations=AwsDestinations(endpoint_url=aws.endpoint_url),
        clock=virtual_clock,
    )
    async with invoker:
        response = await invoker.invoke(b'{"n": 1}')
        await invoker.join()
    (record,) = aws.receive(queue_url)
    assert json.loads(record["Body"])["requestContext"]["requestId"] == response.request_id
    (letter,) = aws.receive(dlq_url)
    assert letter["Body"] == '{"n": 1}'
