"""An EventInvokeConfig as AWS stores it for one function qualifier, and the views of it.

AWS keeps only the settings a request gave: its answers (Put, Update, Get, List) leave out
the numbers never set, and the invoker runs with the defaults in their place.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from attrs import evolve, frozen

from lambda_destinations._config import EventInvokeConfig

from ._destinations import DestinationFactory
from ._request import check_destinations, requested_settings

__all__ = ["FunctionEventInvokeConfig"]


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
        changes = requested_settings(request)
        config = FunctionEventInvokeConfig() if merge_into is None else merge_into
        return evolve(config, **changes, last_modified=time.time())

    def check_destinations(self, function_arn: str) -> None:
        """Refuse what AWS refuses: unknown services, S3 on success, the function itself."""
        check_destinations(self.on_success, self.on_failure, function_arn)

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
