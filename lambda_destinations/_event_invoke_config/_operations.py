"""Put, Update, Get, Delete and List on invokers, and the config each invoker was put.

An invoker runs one function qualifier, so the config stored per invoker is AWS's config per
qualifier; List gathers those of a function's versions and aliases. Put replaces the whole
config (what it leaves out returns to its default), Update merges.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from lambda_destinations._config import EventInvokeConfig
from lambda_destinations._exceptions import ConfigurationError

from ._destinations import DestinationFactory, lazy_factory
from ._errors import EventInvokeConfigError
from ._request import FunctionName, dead_letter_target, parse_request
from ._stored import FunctionEventInvokeConfig
from ._target import ConfiguredFunction

__all__ = ["EventInvokeConfigs", "delete", "get", "invoker_from_put", "put", "update"]

F = TypeVar("F", bound=ConfiguredFunction)

_STORED: weakref.WeakKeyDictionary[ConfiguredFunction, FunctionEventInvokeConfig] = (
    weakref.WeakKeyDictionary()
)


def invoker_from_put(
    cls: Callable[..., F],
    handler: Callable[..., Any],
    request: object,
    dead_letter_config: object,
    destinations: DestinationFactory | None,
    settings: dict[str, Any],
) -> F:
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
    factory = lazy_factory(destinations)
    target = None if dead_letter_config is None else dead_letter_target(dead_letter_config)
    if target is not None:
        settings["dead_letter_queue"] = factory().dead_letter_queue(target)
    invoker = cls(handler, function_name=name.name, **settings)
    put(invoker, body, factory)
    return invoker


def put(
    invoker: ConfiguredFunction,
    request: object,
    destinations: DestinationFactory | Callable[[], DestinationFactory] | None = None,
) -> dict[str, Any]:
    """Replace *invoker*'s config with the Put *request*'s; AWS's response."""
    return _apply(invoker, request, destinations, merge=False)


def update(
    invoker: ConfiguredFunction,
    request: object,
    destinations: DestinationFactory | Callable[[], DestinationFactory] | None = None,
) -> dict[str, Any]:
    """Merge the Update *request* into *invoker*'s config; AWS's response."""
    return _apply(invoker, request, destinations, merge=True)


def get(invoker: ConfiguredFunction) -> dict[str, Any]:
    """AWS's Get response for *invoker*, or ``ResourceNotFoundException`` if none was put."""
    config = _STORED.get(invoker)
    if config is None:
        raise EventInvokeConfigError(
            "ResourceNotFoundException",
            404,
            f"The function {invoker.function_arn} doesn't have an EventInvokeConfig",
        )
    return config.response(invoker.function_arn)


def delete(invoker: ConfiguredFunction) -> None:
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

    def __init__(self, *invokers: ConfiguredFunction) -> None:
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


def _apply(
    invoker: ConfiguredFunction,
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
    factory = destinations if callable(destinations) else lazy_factory(destinations)
    settings = config.invoker_settings(factory)
    if merge and current is not None:
        # What the update left alone keeps the object the invoker already has.
        for role in ("on_success", "on_failure"):
            if getattr(config, role) == getattr(current, role):
                settings[role] = getattr(invoker.config, role)
    invoker.update_config(**settings)
    _STORED[invoker] = config
    return config.response(invoker.function_arn)


def _check_target(invoker: ConfiguredFunction, body: Mapping[str, Any]) -> None:
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
