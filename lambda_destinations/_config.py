"""The event invoke configuration: retries, maximum event age and destinations.

What AWS's ``PutFunctionEventInvokeConfig`` holds, with the retry schedule as a tenacity wait
strategy. Checked against AWS's ranges through the settings table (`_settings.LIMITS`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, TypeAlias

import tenacity
from attrs import evolve, frozen

from ._exceptions import ConfigurationTypeError
from ._settings import Duration, check_range, seconds, whole

__all__ = ["AWS_RETRY_WAIT", "Duration", "EventInvokeConfig", "RetryWait", "check_retry_wait"]

#: A tenacity wait strategy, or any callable taking tenacity's ``RetryCallState``.
RetryWait: TypeAlias = Callable[[tenacity.RetryCallState], float]

#: AWS's schedule for function errors: about 1 minute, then about 2 more minutes.
AWS_RETRY_WAIT: Final[RetryWait] = tenacity.wait_chain(
    tenacity.wait_fixed(60), tenacity.wait_fixed(120)
)


def check_retry_wait(retry_wait: object) -> RetryWait:
    """*retry_wait* if it can be a wait strategy; a `ConfigurationTypeError` saying why not."""
    if isinstance(retry_wait, type):
        msg = (
            f"retry_wait={retry_wait.__name__} is a class: pass an instance, such as "
            f"{retry_wait.__name__}()"
        )
        raise ConfigurationTypeError(msg)
    if not callable(retry_wait):
        msg = (
            f"retry_wait={retry_wait!r} is not a wait strategy: pass a tenacity wait "
            "(e.g. tenacity.wait_exponential()) or a callable taking a RetryCallState"
        )
        raise ConfigurationTypeError(msg)
    return retry_wait


@frozen
class EventInvokeConfig:
    """The settings AWS's ``PutFunctionEventInvokeConfig`` holds, as the invoker uses them.

    Read it from ``AsyncInvoker.config``; change it with ``AsyncInvoker.update_config()``.
    """

    maximum_retry_attempts: int = 2
    maximum_event_age_in_seconds: float = 21600.0
    retry_wait: RetryWait = AWS_RETRY_WAIT
    on_success: object | None = None
    on_failure: object | None = None

    def updated(self, aws_limits: bool, **changes: Any) -> EventInvokeConfig:
        """A copy with *changes* checked against AWS's ranges (destinations as given)."""
        if "maximum_retry_attempts" in changes:
            retries = whole("maximum_retry_attempts", changes["maximum_retry_attempts"])
            check_range("maximum_retry_attempts", retries, aws_limits)
            changes["maximum_retry_attempts"] = retries
        if "maximum_event_age_in_seconds" in changes:
            age = seconds("maximum_event_age_in_seconds", changes["maximum_event_age_in_seconds"])
            check_range("maximum_event_age_in_seconds", age, aws_limits)
            changes["maximum_event_age_in_seconds"] = age
        if "retry_wait" in changes:
            changes["retry_wait"] = check_retry_wait(changes["retry_wait"])
        return evolve(self, **changes)
