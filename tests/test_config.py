"""Settings: AWS's names and ranges, the opt-out, and the function's ARNs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from lambda_destinations import (
    AsyncInvoker,
    ConfigurationError,
    ConfigurationTypeError,
    InMemoryDestination,
)


def handler(event, context):
    return context.function_version


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        (
            "maximum_retry_attempts",
            3,
            "Value '3' at 'maximumRetryAttempts' failed to satisfy constraint: Member must have value less than or equal to 2",
        ),
        ("maximum_retry_attempts", -1, "Member must have value greater than or equal to 0"),
        (
            "maximum_event_age_in_seconds",
            59,
            "Value '59' at 'maximumEventAgeInSeconds' failed to satisfy constraint: Member must have value greater than or equal to 60",
        ),
        ("maximum_event_age_in_seconds", 21601, "less than or equal to 21600"),
        ("timeout", 901, "at 'timeout'"),
        ("timeout", 0.5, "greater than or equal to 1"),
        ("memory_size", 64, "at 'memorySize'"),
        ("reserved_concurrency", -1, "reservedConcurrentExecutions"),
    ],
)
def test_out_of_range_settings_are_refused_with_aws_constraint(option, value, message):
    """Out-of-range settings raise ConfigurationError quoting AWS's validation message.

    The type is right, the value is not: a ValueError, not a ConfigurationTypeError.
    """
    with pytest.raises(ConfigurationError, match=message.replace("(", r"\(")) as info:
        AsyncInvoker(handler, **{option: value})
    assert option in str(info.value)
    assert not isinstance(info.value, TypeError)


def test_out_of_range_error_says_how_to_opt_out():
    """The range error names the aws_limits=False opt-out."""
    with pytest.raises(ConfigurationError, match="aws_limits=False"):
        AsyncInvoker(handler, maximum_retry_attempts=5)


def test_aws_limits_false_allows_in_process_values_beyond_aws():
    """With aws_limits=False, more retries, shorter ages and sub-second timeouts are accepted."""
    invoker = AsyncInvoker(
        handler,
        maximum_retry_attempts=10,
        maximum_event_age_in_seconds=0.5,
        timeout=0.01,
        aws_limits=False,
    )
    assert invoker.config.maximum_retry_attempts == 10
    assert invoker.config.maximum_event_age_in_seconds == 0.5


def test_aws_limits_false_still_refuses_nonsense():
    """Even without AWS's limits, negative retries or a zero age are refused."""
    with pytest.raises(ConfigurationError, match="zero or more"):
        AsyncInvoker(handler, maximum_retry_attempts=-1, aws_limits=False)
    with pytest.raises(ConfigurationError, match="positive"):
        AsyncInvoker(handler, maximum_event_age_in_seconds=0, aws_limits=False)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("maximum_retry_attempts", 1.0),
        ("maximum_retry_attempts", True),
        ("maximum_retry_attempts", "2"),
        ("maximum_event_age_in_seconds", None),
        ("timeout", "3"),
        ("memory_size", "128"),
        ("function_name", 5),
        ("retry_wait", 60),
        ("metrics_hooks", [5]),
    ],
)
def test_wrong_types_are_refused(option, value):
    """Settings of the wrong type are refused with their name, as ConfigurationTypeError.

    Like a wrong-typed destination: a TypeError too, and still a ConfigurationError.
    """
    with pytest.raises(ConfigurationTypeError, match=option) as info:
        AsyncInvoker(handler, **{option: value})
    assert isinstance(info.value, TypeError)
    assert isinstance(info.value, ConfigurationError)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("maximum_retry_attempts", "2", "got str '2': pass the number 2, not the string '2'"),
        ("timeout", "3", "got str '3': pass the number 3, not the string '3'"),
        ("maximum_event_age_in_seconds", None, "a number of seconds or a timedelta, got None"),
    ],
)
def test_wrong_type_messages_say_what_to_pass(option, value, message):
    """A number written as a string is named as such; None reads as None, not NoneType."""
    with pytest.raises(ConfigurationTypeError) as info:
        AsyncInvoker(handler, **{option: value})
    assert str(info.value).endswith(message)


def test_durations_accept_timedelta():
    """Durations take seconds or a timedelta."""
    invoker = AsyncInvoker(
        handler, maximum_event_age_in_seconds=timedelta(hours=1), timeout=timedelta(seconds=30)
    )
    assert invoker.config.maximum_event_age_in_seconds == 3600


def test_retry_wait_must_be_a_wait_strategy():
    """A retry_wait that is not callable is refused, naming tenacity."""
    with pytest.raises(ConfigurationError, match="tenacity"):
        AsyncInvoker(handler, retry_wait=60)  # type: ignore[arg-type]


def test_default_arn_uses_documented_region_and_account():
    """Without settings, the ARN uses us-east-1, account 123456789012 and $LATEST."""
    invoker = AsyncInvoker(handler, function_name="orders")
    assert invoker.function_arn == "arn:aws:lambda:us-east-1:123456789012:function:orders:$LATEST"


def test_function_name_defaults_to_the_handlers_name():
    """The function name defaults to the handler's __name__."""
    assert AsyncInvoker(handler).function_name == "handler"
    assert AsyncInvoker(lambda e: e).function_name == "lambda"


async def test_version_qualifier_is_the_executed_version(invoker_factory):
    """A version qualifier appears in the ARN and as executedVersion and function_version."""
    ok = InMemoryDestination()
    invoker = invoker_factory(
        handler,
        function_name="f",
        qualifier="7",
        region="eu-west-1",
        account_id="111122223333",
        on_success=ok,
    )
    await invoker.invoke({})
    await invoker.join()
    d = ok.records[0].to_dict()
    assert (
        d["requestContext"]["functionArn"] == "arn:aws:lambda:eu-west-1:111122223333:function:f:7"
    )
    assert d["responseContext"]["executedVersion"] == "7"
    assert d["responsePayload"] == "7"


async def test_alias_qualifier_executes_the_version_it_resolves_to(invoker_factory):
    """An alias is in the ARN; the version it resolves to is executedVersion."""
    ok = InMemoryDestination()
    invoker = invoker_factory(
        handler, function_name="f", qualifier="live", executed_version="3", on_success=ok
    )
    await invoker.invoke({})
    await invoker.join()
    d = ok.records[0].to_dict()
    assert d["requestContext"]["functionArn"].endswith(":function:f:live")
    assert d["responseContext"]["executedVersion"] == "3"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"qualifier": "live"}, "is an alias: pass executed_version="),
        ({"qualifier": "4", "executed_version": "5"}, "contradicts it"),
        ({"qualifier": "bad qualifier!"}, "neither '\\$LATEST'"),
        ({"function_name": "has space"}, "not a valid Lambda function name"),
        ({"region": "mars"}, "not an AWS region"),
        ({"account_id": "12"}, "must be 12 digits"),
    ],
)
def test_inconsistent_identity_is_refused(options, message):
    """Qualifiers, names, regions and accounts are checked with a message naming the fix."""
    with pytest.raises(ConfigurationError, match=message):
        AsyncInvoker(handler, **options)


def test_retry_wait_class_instead_of_instance_is_refused():
    """Passing a tenacity wait class (no parentheses) is caught, suggesting the instance."""
    import tenacity

    with pytest.raises(ConfigurationError, match=r"wait_exponential\(\)"):
        AsyncInvoker(handler, retry_wait=tenacity.wait_exponential)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("region", "arn"),
    [
        ("cn-north-1", "arn:aws-cn:lambda:cn-north-1:123456789012:function:f:$LATEST"),
        ("us-gov-west-1", "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:f:$LATEST"),
        ("eu-central-1", "arn:aws:lambda:eu-central-1:123456789012:function:f:$LATEST"),
    ],
)
def test_the_arn_partition_follows_the_region(region, arn):
    """China and GovCloud regions get their own ARN partition."""
    assert AsyncInvoker(handler, function_name="f", region=region).function_arn == arn


@pytest.mark.parametrize(
    ("option", "value"), [("timeout", 1.5), ("maximum_event_age_in_seconds", 60.5)]
)
def test_aws_takes_whole_seconds(option, value):
    """With AWS's limits, timeouts and ages are whole seconds, as AWS's API takes them."""
    with pytest.raises(ConfigurationError, match="whole seconds"):
        AsyncInvoker(handler, **{option: value})
    AsyncInvoker(handler, aws_limits=False, **{option: value})


def test_version_zero_does_not_exist():
    """Lambda versions start at 1."""
    with pytest.raises(ConfigurationError, match="neither"):
        AsyncInvoker(handler, qualifier="0")
