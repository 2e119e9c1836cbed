"""A request's JSON, checked as AWS's Lambda API checks it; refusals carry AWS's messages.

Requests are the JSON of ``PutFunctionEventInvokeConfig`` / ``UpdateFunctionEventInvokeConfig``
(a JSON text or its parsed value, as boto3 takes the parameters). What is wrong with the JSON
itself is a `ConfigurationError`; what AWS would refuse is an `EventInvokeConfigError` with
AWS's code, status and message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

from attrs import frozen

from lambda_destinations._exceptions import ConfigurationError, ConfigurationTypeError
from lambda_destinations._settings import constraint_violation, whole

from ._errors import EventInvokeConfigError

__all__ = [
    "FunctionName",
    "check_destinations",
    "dead_letter_target",
    "parse_request",
    "requested_settings",
]

_SETTINGS: Final = ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")
_REQUEST_KEYS: Final = frozenset({"FunctionName", "Qualifier", *_SETTINGS})
_MEMBERS: Final = {"OnSuccess": "on_success", "OnFailure": "on_failure"}
_NUMBERS: Final = {
    "MaximumRetryAttempts": "maximum_retry_attempts",
    "MaximumEventAgeInSeconds": "maximum_event_age_in_seconds",
}
_FUNCTION_NAME: Final = re.compile(
    r"(?:(?:arn:(?P<partition>aws[a-zA-Z-]*):lambda:(?P<region>[a-z0-9-]+):)?"
    r"(?P<account>\d{12}):function:)?(?P<name>[a-zA-Z0-9_-]{1,64})(?::(?P<qualifier>[$a-zA-Z0-9_-]+))?"
)
_DESTINATION_SERVICES: Final = frozenset({"sqs", "sns", "events", "lambda", "s3"})
_LAMBDA_ARN: Final = re.compile(
    r"arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:function:[a-zA-Z0-9_-]{1,64}(:[$a-zA-Z0-9_-]+)?"
)
_NO_SETTING: Final = "You must specify at least one of error handling or destination setting."


def parse_request(request: object) -> dict[str, Any]:
    """The request as a dict, from JSON text, bytes or a mapping; unknown keys refused."""
    if isinstance(request, str | bytes | bytearray):
        try:
            request = json.loads(request)
        except ValueError as e:
            msg = f"the EventInvokeConfig request is not JSON: {e}"
            raise ConfigurationError(msg) from None
    if not isinstance(request, Mapping):
        msg = f"the EventInvokeConfig request must be a JSON object, got {request!r}"
        raise ConfigurationError(msg)
    unknown = set(request) - _REQUEST_KEYS
    if unknown:
        msg = (
            f"the EventInvokeConfig request has unknown keys {sorted(unknown)}; AWS takes "
            f"{sorted(_REQUEST_KEYS)}"
        )
        raise ConfigurationError(msg)
    return dict(request)


@frozen
class FunctionName:
    """A ``FunctionName`` as the Lambda API takes it: name, partial ARN or ARN, qualified or not."""

    name: str
    qualifier: str | None = None
    region: str | None = None
    account_id: str | None = None

    @classmethod
    def parse(cls, text: object, qualifier: object = None) -> FunctionName:
        """Read *text*; *qualifier* is the request's ``Qualifier``, which must agree with it."""
        if not isinstance(text, str):
            raise EventInvokeConfigError(
                "ValidationException", 400, "FunctionName is required and must be a string."
            )
        found = _FUNCTION_NAME.fullmatch(text)
        if found is None:
            raise EventInvokeConfigError(
                "ValidationException",
                400,
                f"1 validation error detected: Value '{text}' at 'functionName' failed to "
                "satisfy constraint: Member must satisfy regular expression pattern: "
                "(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?"
                "(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?",
            )
        derived = found["qualifier"]
        if qualifier is not None and not isinstance(qualifier, str):
            raise EventInvokeConfigError("ValidationException", 400, "Qualifier must be a string.")
        if derived is not None and qualifier is not None and derived != qualifier:
            raise EventInvokeConfigError.invalid(
                "The derived qualifier from the function name does not match the specified "
                "qualifier."
            )
        return cls(found["name"], derived or qualifier, found["region"], found["account"])


def requested_settings(request: Mapping[str, Any]) -> dict[str, Any]:
    """The settings *request* gives, by their names in the invoker, each checked as AWS does.

    Numbers out of AWS's ranges are refused together, in one message, as AWS lists them.
    """
    if not any(key in request for key in _SETTINGS):
        raise EventInvokeConfigError.invalid(_NO_SETTING)
    changes: dict[str, Any] = {}
    violations = []
    for key, name in _NUMBERS.items():
        if key in request:
            value = _whole(key, request[key])
            violation = constraint_violation(name, value)
            if violation is not None:
                violations.append(violation)
            changes[name] = value
    if violations:
        count = f"{len(violations)} validation error{'s' if len(violations) > 1 else ''}"
        raise EventInvokeConfigError(
            "ValidationException", 400, f"{count} detected: {'; '.join(violations)}"
        )
    destinations = request.get("DestinationConfig")
    if destinations is not None:
        changes.update(_destination_config(destinations))
    return changes


def check_destinations(on_success: str | None, on_failure: str | None, function_arn: str) -> None:
    """Refuse what AWS refuses: unknown services, S3 on success, the function itself.

    AWS's message is kept exact; the error's ``hint`` says why, which AWS does not.
    """
    roles = (("on_success", on_success), ("on_failure", on_failure))
    for role, arn in roles:
        if arn is None:
            continue
        parts = arn.split(":")
        service = _service(arn)
        if service == "lambda":
            if not _LAMBDA_ARN.fullmatch(arn):
                raise EventInvokeConfigError.invalid(
                    f"The destination ARN {arn} is invalid.",
                    f"{role}: a Lambda function ARN is "
                    "arn:aws:lambda:REGION:ACCOUNT:function:NAME, with an optional :VERSION or "
                    ":ALIAS; names take letters, digits, - and _",
                )
            if parts[:7] == function_arn.split(":")[:7]:
                raise EventInvokeConfigError.invalid(
                    "You can't specify the function as a destination for itself."
                )
        elif _unsupported(role, arn, service) is not None:
            reasons = (
                f"{each}: {reason}"
                for each, given in roles
                if given is not None and (reason := _unsupported(each, given, _service(given)))
            )
            raise EventInvokeConfigError.invalid(
                _invalid_destinations(on_success, on_failure), "; ".join(reasons)
            )


def _service(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[2] if len(parts) > 5 and parts[0] == "arn" else None


def _unsupported(role: str, arn: str, service: str | None) -> str | None:
    # Why AWS refuses *arn* as the *role* destination, or None if it takes it.
    if service is None:
        return (
            f"{arn!r} is not an ARN; a destination is the ARN of an SQS queue, SNS topic, "
            "EventBridge event bus, Lambda function or (on failure) S3 bucket"
        )
    if service not in _DESTINATION_SERVICES:
        return (
            f"{service} is not a destination service; AWS sends records only to SQS, SNS, "
            "EventBridge, Lambda and (on failure) S3"
        )
    if service == "s3" and role == "on_success":
        return "an S3 bucket takes on-failure records only; send successes elsewhere"
    if service in ("sqs", "sns") and arn.endswith(".fifo"):
        kind = "queue" if service == "sqs" else "topic"
        return (
            f"a FIFO {kind} (its name ends in .fifo) cannot be a destination; use a standard {kind}"
        )
    return None


def dead_letter_target(config: object) -> str | None:
    """``TargetArn`` of a ``DeadLetterConfig`` (or of a function configuration holding one)."""
    if isinstance(config, str | bytes | bytearray):
        config = json.loads(config)
    if isinstance(config, Mapping) and "DeadLetterConfig" in config:
        config = config["DeadLetterConfig"]
    if not isinstance(config, Mapping) or not set(config) <= {"TargetArn"}:
        msg = (
            f'a DeadLetterConfig is {{"TargetArn": "<SQS queue or SNS topic ARN>"}}, got {config!r}'
        )
        raise ConfigurationError(msg)
    target = config.get("TargetArn")
    if target is not None and not isinstance(target, str):
        msg = f"DeadLetterConfig.TargetArn must be an ARN string, got {target!r}"
        raise ConfigurationTypeError(msg)
    return target or None


def _whole(key: str, value: object) -> int:
    try:
        return whole(key, value)
    except ConfigurationError:
        raise EventInvokeConfigError(
            "ValidationException", 400, f"{key} must be an integer, got {value!r}."
        ) from None


def _destination_config(value: object) -> dict[str, str | None]:
    if not isinstance(value, Mapping) or not set(value) <= set(_MEMBERS):
        raise EventInvokeConfigError(
            "ValidationException",
            400,
            f"DestinationConfig must be an object with OnSuccess and/or OnFailure, got {value!r}.",
        )
    changes: dict[str, str | None] = {}
    for key, name in _MEMBERS.items():
        if key not in value:
            continue
        member = value[key]
        arn = member.get("Destination") if isinstance(member, Mapping) else member
        if arn is not None and not isinstance(arn, str):
            raise EventInvokeConfigError(
                "ValidationException", 400, f"{key}.Destination must be an ARN string."
            )
        changes[name] = arn or None  # AWS takes "" as no destination
    return changes


def _invalid_destinations(on_success: str | None, on_failure: str | None) -> str:
    def member(name: str, arn: str | None) -> str:
        return "null" if arn is None else f"{name}(destination={arn})"

    return (
        "The provided destination config DestinationConfig("
        f"onSuccess={member('OnSuccess', on_success)}, "
        f"onFailure={member('OnFailure', on_failure)}) is invalid."
    )
