"""The retry, age and throttle decisions, as pure functions: no loop, no clock, no invoker."""

from __future__ import annotations

import json

import tenacity
from hypothesis import given
from hypothesis import strategies as st
from lambda_destinations import AWS_RETRY_WAIT, Condition, EventInvokeConfig, FunctionError
from lambda_destinations._policy import (
    MAX_THROTTLE_BACKOFF,
    GiveUp,
    Retry,
    after_failure,
    after_throttle,
    before_attempt,
    retry_call_state,
    throttle_backoff,
)
from lambda_destinations.queues import EventState

T0 = 1_700_000_000.0
ERROR = json.dumps({"errorMessage": "down", "errorType": "RuntimeError", "stackTrace": []})


def failed(attempts: int, *, waited: float = 0.0) -> EventState:
    """An event accepted at T0 whose *attempts* attempts all failed."""
    return EventState("id", "{}", T0, attempts, ERROR, "down", waited)


def config(**changes: object) -> EventInvokeConfig:
    return EventInvokeConfig().updated(True, **changes)


def test_a_fresh_event_may_run_until_its_maximum_age():
    """before_attempt: run (None) while younger than the maximum age; EventAgeExceeded at it."""
    fresh = EventState("id", "{}", T0)
    assert before_attempt(fresh, config(), T0 + 21599) is None
    assert before_attempt(fresh, config(), T0 + 21600) == GiveUp(Condition.EVENT_AGE_EXCEEDED)


def test_aws_schedule_retries_after_60_then_120_seconds_then_gives_up():
    """After attempt 1: retry in 60 s; after 2: in 120 s; after 3: RetriesExhausted."""
    first = after_failure(failed(1), config(), T0)
    assert first == Retry(60.0, failed(1, waited=60.0))
    second = after_failure(failed(2, waited=60.0), config(), T0 + 60)
    assert second == Retry(120.0, failed(2, waited=180.0))
    assert after_failure(failed(3, waited=180.0), config(), T0 + 180) == GiveUp(
        Condition.RETRIES_EXHAUSTED
    )


def test_aws_looks_ahead_max_age_60_gives_up_after_the_first_failure():
    """Recorded on AWS: max age 60 s, the first failure ends it (count 1), no waiting."""
    assert after_failure(failed(1), config(maximum_event_age_in_seconds=60), T0) == GiveUp(
        Condition.EVENT_AGE_EXCEEDED
    )


def test_aws_looks_ahead_max_age_90_allows_one_retry():
    """Recorded on AWS: max age 90 s, one retry at +60 s, then EventAgeExceeded (count 2)."""
    cfg = config(maximum_event_age_in_seconds=90)
    assert after_failure(failed(1), cfg, T0) == Retry(60.0, failed(1, waited=60.0))
    assert after_failure(failed(2, waited=60.0), cfg, T0 + 60) == GiveUp(
        Condition.EVENT_AGE_EXCEEDED
    )


def test_zero_retries_give_up_after_the_first_attempt():
    """MaximumRetryAttempts 0: RetriesExhausted at once."""
    assert after_failure(failed(1), config(maximum_retry_attempts=0), T0) == GiveUp(
        Condition.RETRIES_EXHAUSTED
    )


def test_a_custom_tenacity_wait_sees_the_state_rebuilt_from_the_event():
    """A strategy gets attempt number, age, waits so far and the FunctionError as outcome."""
    seen: list[tuple[int, float, float, str]] = []

    def wait(call: tenacity.RetryCallState) -> float:
        error = call.outcome.exception() if call.outcome else None
        assert isinstance(error, FunctionError)
        seen.append(
            (call.attempt_number, call.seconds_since_start or 0, call.idle_for, error.error_type)
        )
        return 7.0

    decision = after_failure(failed(2, waited=7.0), config(retry_wait=wait), T0 + 30)
    assert decision == Retry(7.0, failed(2, waited=14.0))
    assert seen == [(2, 30.0, 7.0, "RuntimeError")]


def test_tenacity_exponential_wait_follows_the_attempt_number():
    """wait_exponential(multiplier=10): 10 s after attempt 1, 20 s after attempt 2."""
    cfg = config(retry_wait=tenacity.wait_exponential(multiplier=10))
    assert after_failure(failed(1), cfg, T0) == Retry(10.0, failed(1, waited=10.0))
    assert after_failure(failed(2, waited=10.0), cfg, T0 + 10) == Retry(
        20.0, failed(2, waited=30.0)
    )


def test_a_broken_wait_gives_up_with_what_it_raised():
    """A strategy that raises, or answers NaN or a negative wait, ends the event; it is kept."""

    def broken(call: tenacity.RetryCallState) -> float:
        raise KeyError("oops")

    decision = after_failure(failed(1), config(retry_wait=broken), T0)
    assert isinstance(decision, GiveUp)
    assert decision.condition is Condition.RETRIES_EXHAUSTED
    assert isinstance(decision.broken_wait, KeyError)
    for bad in (float("nan"), -1.0):
        decision = after_failure(failed(1), config(retry_wait=lambda call, b=bad: b), T0)
        assert isinstance(decision, GiveUp)
        assert decision.broken_wait is not None


def test_the_default_wait_is_aws_schedule():
    """AWS_RETRY_WAIT is the schedule the default config uses."""
    assert config().retry_wait is AWS_RETRY_WAIT
    assert AWS_RETRY_WAIT(retry_call_state(failed(1), T0)) == 60
    assert AWS_RETRY_WAIT(retry_call_state(failed(2), T0)) == 120


def test_a_throttled_event_backs_off_1_2_4_seconds_and_keeps_its_attempts():
    """after_throttle: 1 s, 2 s, 4 s, ...; attempts untouched, throttles counted."""
    state = EventState("id", "{}", T0)
    delays = []
    for _ in range(4):
        decision = after_throttle(state, config(), T0)
        assert isinstance(decision, Retry)
        delays.append(decision.delay)
        state = decision.state
    assert delays == [1, 2, 4, 8]
    assert (state.attempts, state.throttles) == (0, 4)


def test_throttle_backoffs_never_pass_the_maximum_age():
    """A backoff that would end past the maximum age gives up at once (EventAgeExceeded)."""
    state = EventState("id", "{}", T0, throttles=3)  # next backoff: 8 s
    assert after_throttle(state, config(maximum_event_age_in_seconds=60), T0 + 52) == GiveUp(
        Condition.EVENT_AGE_EXCEEDED
    )
    assert isinstance(
        after_throttle(state, config(maximum_event_age_in_seconds=60), T0 + 51), Retry
    )


@given(st.integers(min_value=0, max_value=10_000))
def test_throttle_backoff_grows_to_five_minutes_and_stays_there(throttles):
    """Every backoff is 2**n seconds, capped at 300 s, and never shrinks."""
    delay = throttle_backoff(throttles)
    assert delay == min(MAX_THROTTLE_BACKOFF, 2.0**throttles if throttles < 16 else 1e9)
    assert throttle_backoff(throttles + 1) >= delay
