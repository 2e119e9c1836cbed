"""EventInvokeConfig as AWS's Lambda API writes it: Put, Update, Get, Delete and List.

Requests are the JSON of ``PutFunctionEventInvokeConfig`` / ``UpdateFunctionEventInvokeConfig``
(a JSON text or its parsed value, as boto3 takes the parameters); responses have AWS's shape.
``Put`` replaces the whole config (what it leaves out returns to its default), ``Update``
merges. Refusals carry AWS's error code, HTTP status and message. Destination ARNs become
adapters through a factory (``lambda_destinations.destinations.aws.AwsDestinations`` unless
another is given), so only configs that name AWS targets need boto3.
"""

from __future__ import annotations

import json
import re
import time
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, Protocol

from attrs import evolve, frozen

from ._config import EventInvokeConfig
from ._exceptions import ConfigurationError
from ._settings import constraint_violation, whole

if TYPE_CHECKING:
    from ._invoker import AsyncInvoker

__all__ = [
    "DestinationFactory",
    "EventInvokeConfigError",
    "EventInvokeConfigs",
    "FunctionEventInvokeConfig",
    "FunctionName",
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


class EventInvokeConfigError(ConfigurationError):
    """A request AWS's Lambda API refuses; ``aws_error_code`` and ``status_code`` say how."""

    def __init__(self, aws_error_code: str, status_code: int, message: str) -> None:
        super().__init__(message)
        self.aws_error_code = aws_error_code
        self.status_code = status_code

    @classmethod
    def invalid(cls, message: str) -> EventInvokeConfigError:
        """AWS's ``InvalidParameterValueException`` (HTTP 400) with *message*."""
        return cls("InvalidParameterValueException", 400, message)


class DestinationFactory(Protocol):
    """Builds the adapters for destination and dead-letter ARNs (``AwsDestinations`` does)."""

    def destination(self, arn: str, *, role: Any = None) -> Any: ...

    def dead_letter_queue(self, arn: str) -> Any: ...


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


@frozen
class FunctionEventInvokeConfig:
    """An EventInvokeConfig as AWS stores it: only the settings that were given."""

    maximum_retry_attempts: int | None = None
    maximum_event_age_in_seconds: int | None = None
    on_success: str | None = None
    on_failure: str | None = None
    last_modified: float = 0.0

    @classmethod
    def from_request(
        cls, request: Mapping[str, Any], *, merge_into: FunctionEventInvokeConfig | None = None
    ) -> FunctionEventInvokeConfig:
        """The config a Put request sets, or (with *merge_into*) an Update request leaves."""
        if not any(key in request for key in _SETTINGS):
            raise EventInvokeConfigError.invalid(_NO_SETTING)
        config = FunctionEventInvokeConfig() if merge_into is None else merge_into
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
        return evolve(config, **changes, last_modified=time.time())

    def response(self, function_arn: str) -> dict[str, Any]:
        """What Get (and Put, Update) answer: both destinations always, unset numbers left out."""
        body: dict[str, Any] = {"LastModified": self.last_modified, "FunctionArn": function_arn}
        if self.maximum_retry_attempts is not None:
            body["MaximumRetryAttempts"] = self.maximum_retry_attempts
        if self.maximum_event_age_in_seconds is not None:
            body["MaximumEventAgeInSeconds"] = self.maximum_event_age_in_seconds
        body["DestinationConfig"] = {
            "OnSuccess": {} if self.on_success is None else {"Destination": self.on_success},
            "OnFailure": {} if self.on_failure is None else {"Destination": self.on_failure},
        }
        return body

    def check_destinations(self, function_arn: str) -> None:
        """Refuse what AWS refuses: unknown services, S3 on success, the function itself."""
        for role, arn in (("on_success", self.on_success), ("on_failure", self.on_failure)):
            if arn is None:
                continue
            parts = arn.split(":")
            service = parts[2] if len(parts) > 5 and parts[0] == "arn" else None
            if service == "lambda":
                if not _LAMBDA_ARN.fullmatch(arn):
                    raise EventInvokeConfigError.invalid(f"The destination ARN {arn} is invalid.")
                if parts[:7] == function_arn.split(":")[:7]:
                    raise EventInvokeConfigError.invalid(
                        "You can't specify the function as a destination for itself."
                    )
            elif (
                service not in _DESTINATION_SERVICES
                or (service == "s3" and role == "on_success")
                or (service in ("sqs", "sns") and arn.endswith(".fifo"))
            ):
                raise EventInvokeConfigError.invalid(_invalid_destinations(self))

    def invoker_settings(self, factory: Callable[[], DestinationFactory]) -> dict[str, Any]:
        """The `AsyncInvoker.update_config` arguments this config stands for (Put semantics)."""
        defaults = EventInvokeConfig()
        made: DestinationFactory | None = None

        def destination(arn: str | None, role: str) -> Any:
            nonlocal made
            if arn is None:
                return None
            made = factory() if made is None else made
            return made.destination(arn, role=role)

        return {
            "maximum_retry_attempts": _or(
                self.maximum_retry_attempts, defaults.maximum_retry_attempts
            ),
            "maximum_event_age_in_seconds": _or(
                self.maximum_event_age_in_seconds, defaults.maximum_event_age_in_seconds
            ),
            "on_success": destination(self.on_success, "on_success"),
            "on_failure": destination(self.on_failure, "on_failure"),
        }


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


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


def _invalid_destinations(config: FunctionEventInvokeConfig) -> str:
    def member(name: str, arn: str | None) -> str:
        return "null" if arn is None else f"{name}(destination={arn})"

    return (
        "The provided destination config DestinationConfig("
        f"onSuccess={member('OnSuccess', config.on_success)}, "
        f"onFailure={member('OnFailure', config.on_failure)}) is invalid."
    )


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
        raise ConfigurationError(msg)
    return target or None


def aws_destinations() -> DestinationFactory:
    """The default factory: boto3's own configuration (environment, profiles)."""
    from .destinations.aws import AwsDestinations  # boto3 is needed only from here on

    return AwsDestinations()


# -- the invoker's side --------------------------------------------------------------------

_STORED: weakref.WeakKeyDictionary[AsyncInvoker, FunctionEventInvokeConfig] = (
    weakref.WeakKeyDictionary()
)


def invoker_from_put(
    cls: type[AsyncInvoker],
    handler: Callable[..., Any],
    request: object,
    dead_letter_config: object,
    destinations: DestinationFactory | None,
    settings: dict[str, Any],
) -> AsyncInvoker:
    """An invoker for the function a Put request names, configured as the request says."""
    body = parse_request(request)
    name = FunctionName.parse(body.get("FunctionName"), body.get("Qualifier"))
    for key, derived in (("region", name.region), ("account_id", name.account_id)):
        if derived is not None and settings.setdefault(key, derived) != derived:
            msg = f"{key}={settings[key]!r} contradicts the FunctionName {body['FunctionName']!r}"
            raise ConfigurationError(msg)
    settings.setdefault("qualifier", name.qualifier or "$LATEST")
    if name.qualifier is not None and settings["qualifier"] != name.qualifier:
        given = settings["qualifier"]
        msg = f"qualifier={given!r} contradicts the request's qualifier {name.qualifier!r}"
        raise ConfigurationError(msg)
    for key in (
        "maximum_retry_attempts",
        "maximum_event_age_in_seconds",
        "on_success",
        "on_failure",
    ):
        if key in settings:
            msg = f"{key}= is the request's to set: put it in the EventInvokeConfig JSON"
            raise ConfigurationError(msg)
    factory = _cached(destinations)
    target = None if dead_letter_config is None else dead_letter_target(dead_letter_config)
    if target is not None:
        settings["dead_letter_queue"] = factory().dead_letter_queue(target)
    invoker = cls(handler, function_name=name.name, **settings)
    put(invoker, body, factory)
    return invoker


def _cached(destinations: DestinationFactory | None) -> Callable[[], DestinationFactory]:
    made: list[DestinationFactory] = [] if destinations is None else [destinations]

    def factory() -> DestinationFactory:
        if not made:
            made.append(aws_destinations())
        return made[0]

    return factory


def _check_target(invoker: AsyncInvoker, body: Mapping[str, Any]) -> None:
    name = FunctionName.parse(
        body.get("FunctionName", invoker.function_name), body.get("Qualifier")
    )
    qualifier = name.qualifier or "$LATEST"
    if name.name != invoker.function_name or qualifier != invoker.function_arn.split(":")[7]:
        raise EventInvokeConfigError(
            "ResourceNotFoundException",
            404,
            f"Function not found: this invoker is {invoker.function_arn}; the request names "
            f"{name.name}:{qualifier}",
        )


def put(
    invoker: AsyncInvoker,
    request: object,
    destinations: DestinationFactory | Callable[[], DestinationFactory] | None = None,
) -> dict[str, Any]:
    """Replace *invoker*'s config with the Put *request*'s; AWS's response."""
    return _apply(invoker, request, destinations, merge=False)


def update(
    invoker: AsyncInvoker,
    request: object,
    destinations: DestinationFactory | Callable[[], DestinationFactory] | None = None,
) -> dict[str, Any]:
    """Merge the Update *request* into *invoker*'s config; AWS's response."""
    return _apply(invoker, request, destinations, merge=True)


def _apply(
    invoker: AsyncInvoker,
    request: object,
    destinations: DestinationFactory | Callable[[], DestinationFactory] | None,
    *,
    merge: bool,
) -> dict[str, Any]:
    body = parse_request(request)
    _check_target(invoker, body)
    current = _STORED.get(invoker)
    config = FunctionEventInvokeConfig.from_request(body, merge_into=current if merge else None)
    config.check_destinations(invoker.function_arn)
    factory = destinations if callable(destinations) else _cached(destinations)
    settings = config.invoker_settings(factory)
    if merge and current is not None:
        # What the update left alone keeps the object the invoker already has.
        for role in ("on_success", "on_failure"):
            if getattr(config, role) == getattr(current, role):
                settings[role] = getattr(invoker.config, role)
    invoker.update_config(**settings)
    _STORED[invoker] = config
    return config.response(invoker.function_arn)


def get(invoker: AsyncInvoker) -> dict[str, Any]:
    """AWS's Get response for *invoker*, or ``ResourceNotFoundException`` if none was put."""
    config = _STORED.get(invoker)
    if config is None:
        raise EventInvokeConfigError(
            "ResourceNotFoundException",
            404,
            f"The function {invoker.function_arn} doesn't have an EventInvokeConfig",
        )
    return config.response(invoker.function_arn)


def delete(invoker: AsyncInvoker) -> None:
    """Remove *invoker*'s config: retries, age and destinations return to their defaults."""
    get(invoker)
    defaults = EventInvokeConfig()
    invoker.update_config(
        maximum_retry_attempts=defaults.maximum_retry_attempts,
        maximum_event_age_in_seconds=defaults.maximum_event_age_in_seconds,
        on_success=None,
        on_failure=None,
    )
    del _STORED[invoker]


class EventInvokeConfigs:
    """The configs of several invokers, a function's versions and aliases kept apart: List."""

    __slots__ = ("_invokers",)

    def __init__(self, *invokers: AsyncInvoker) -> None:
        self._invokers = invokers

    def list(self, function_name: str) -> dict[str, Any]:
        """AWS's ``ListFunctionEventInvokeConfigs`` response for *function_name*."""
        name = FunctionName.parse(function_name)
        found = [
            _STORED[invoker].response(invoker.function_arn)
            for invoker in self._invokers
            if invoker.function_name == name.name and invoker in _STORED
        ]
        return {"FunctionEventInvokeConfigs": found}
