"""Retry, age and throttle decisions: pure functions of an event's state, the config and now.

No event loop and no clock in here: every queue backend asks the same questions and gets the
same answers, which is what makes a durable or distributed queue decide exactly as AWS does.
"""

from __future__ import annotations

import math
from typing import Final

import tenacity
from attrs import frozen

from ._config import EventInvokeConfig
from ._exceptions import ConfigurationError, FunctionError
from ._lineage import MAX_INVOCATIONS, RecursiveLoop
from ._records import Condition
from .queues import EventState

__all__ = [
    "MAX_THROTTLE_BACKOFF",
    "GiveUp",
    "Retry",
    "after_failure",
    "after_throttle",
    "before_attempt",
    "retry_call_state",
    "throttle_backoff",
]

#: AWS retries a throttled event after 1 s, doubling up to 5 minutes.
MAX_THROTTLE_BACKOFF: Final = 300.0


@frozen
class Retry:
    """Run the event again after *delay* seconds, with its state as *state*."""

    delay: float
    state: EventState


@frozen
class GiveUp:
    """End the event on failure with *condition*.

    *broken_wait* holds what a failing ``retry_wait`` raised, so that it can be logged: the
    event then ends with its handler's own error, not the strategy's.
    """

    condition: Condition
    broken_wait: Exception | None = None


_AGE_EXCEEDED: Final = GiveUp(Condition.EVENT_AGE_EXCEEDED)
_EXHAUSTED: Final = GiveUp(Condition.RETRIES_EXHAUSTED)
_RECURSIVE: Final = GiveUp(Condition.RECURSIVE_INVOCATION)
# Retry strategies get a RetryCallState; this owner of theirs is never called.
_RETRYING: Final = tenacity.Retrying()


def before_attempt(
    state: EventState,
    config: EventInvokeConfig,
    now: float,
    recursive_loop: RecursiveLoop = "Terminate",
) -> GiveUp | None:
    """``None`` if the event may run now; `GiveUp` if it may not.

    It may not if running it would be its triggering event's 17th invocation (only with
    ``recursive_loop="Terminate"``, AWS's default), or if it is already too old.
    """
    if state.lineage >= MAX_INVOCATIONS and recursive_loop == "Terminate":
        return _RECURSIVE
    if now - state.accepted_at >= config.maximum_event_age_in_seconds:
        return _AGE_EXCEEDED
    return None


def retry_call_state(state: EventState, now: float) -> tenacity.RetryCallState:
    """Tenacity's view of a failed event, rebuilt from its state (never stored).

    ``attempt_number`` is the attempts so far, ``seconds_since_start`` the event's age,
    ``idle_for`` the retry waits so far, and the outcome the last attempt's `FunctionError`.
    """
    call = tenacity.RetryCallState(_RETRYING, None, (), {})
    call.start_time = state.accepted_at
    call.attempt_number = state.attempts
    outcome = tenacity.Future(state.attempts)
    outcome.set_exception(FunctionError.from_error_object(state.request_id, state.error or "{}"))
    call.outcome = outcome
    call.outcome_timestamp = now
    call.idle_for = state.waited
    return call


def after_failure(state: EventState, config: EventInvokeConfig, now: float) -> Retry | GiveUp:
    """What follows a failed attempt (*state* already counts it and holds its error).

    Retries run out first; then AWS looks ahead: a retry that would start past the maximum
    age is never waited for, the event ends at once with ``EventAgeExceeded``.
    """
    if state.attempts > config.maximum_retry_attempts:
        return _EXHAUSTED
    try:
        delay = float(config.retry_wait(retry_call_state(state, now)))
        if not math.isfinite(delay) or delay < 0:
            msg = f"retry_wait returned {delay!r}; a wait must be a finite number of seconds >= 0"
            raise ConfigurationError(msg)
    except Exception as e:  # noqa: BLE001 - any fault of the strategy is reported, not raised
        return GiveUp(Condition.RETRIES_EXHAUSTED, broken_wait=e)
    if now - state.accepted_at + delay >= config.maximum_event_age_in_seconds:
        return _AGE_EXCEEDED
    return Retry(delay, state._replace(waited=state.waited + delay))


def throttle_backoff(throttles: int) -> float:
    """AWS's wait before trying a throttled event again: 1 s, 2 s, 4 s, ... at most 5 minutes."""
    return min(MAX_THROTTLE_BACKOFF, 2.0 ** min(throttles, 16))


def after_throttle(state: EventState, config: EventInvokeConfig, now: float) -> Retry | GiveUp:
    """What follows finding no free concurrency: back off, still bounded by the maximum age.

    Throttles do not use up retry attempts. The look-ahead is the same as for retries
    (assumption: AWS gives up at once rather than wait past the age).
    """
    delay = throttle_backoff(state.throttles)
    if now - state.accepted_at + delay >= config.maximum_event_age_in_seconds:
        return _AGE_EXCEEDED
    return Retry(delay, state._replace(throttles=state.throttles + 1))
