"""Settings: AWS's names and ranges in one table, checked the way AWS's API checks them.

Usable without an invoker: the command line and EventInvokeConfig JSON validate through the
same table. Out-of-range values are refused with AWS's own constraint message, unless the
invoker was built with ``aws_limits=False`` for in-process use beyond what AWS allows.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Final, Literal, TypeAlias

from attrs import frozen

from ._exceptions import ConfigurationError, ConfigurationTypeError
from ._lineage import RecursiveLoop

__all__ = [
    "DEFAULT_CONCURRENCY",
    "LIMITS",
    "Duration",
    "FunctionSettings",
    "Limit",
    "Throttling",
    "at_least",
    "check_range",
    "constraint_violation",
    "seconds",
    "text",
    "whole",
]

#: A duration: seconds as a number, or a ``timedelta``.
Duration: TypeAlias = float | timedelta
#: How an event that finds no free concurrency waits: AWS's backoff, or in line (FIFO).
Throttling: TypeAlias = Literal["backoff", "fifo"]

#: AWS's default account concurrency limit, used when no reserved concurrency is set.
DEFAULT_CONCURRENCY: Final = 1000

_OPT_OUT = "Pass aws_limits=False to go beyond AWS's limits in process."


@frozen
class Limit:
    """AWS's range for one setting, and the member name AWS's validation error uses."""

    low: float
    high: float | None
    aws_name: str
    #: Checked even with ``aws_limits=False``: the setting makes no sense outside the range.
    always: bool = False


#: Every range AWS enforces on the settings this library takes, by the library's name.
LIMITS: Final = {
    "maximum_retry_attempts": Limit(0, 2, "maximumRetryAttempts"),
    "maximum_event_age_in_seconds": Limit(60, 21600, "maximumEventAgeInSeconds"),
    "timeout": Limit(1, 900, "timeout"),
    "memory_size": Limit(128, 10240, "memorySize"),
    "reserved_concurrency": Limit(0, None, "reservedConcurrentExecutions", always=True),
}


def seconds(name: str, value: object) -> float:
    """A duration in seconds from a number or a timedelta; never NaN.

    Anything else is a `ConfigurationTypeError`.
    """
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            result = float(value)
        except OverflowError:
            msg = f"{name}={value!r} is too large to be a number of seconds"
            raise ConfigurationError(msg) from None
        if math.isnan(result):
            msg = f"{name} is NaN: pass a number of seconds"
            raise ConfigurationError(msg)
        return result
    msg = (
        f"{name} must be a number of seconds or a timedelta, got {_kind(value)}"
        f"{_number_in_text(value)}"
    )
    raise ConfigurationTypeError(msg)


def at_least(name: str, value: float, low: float, *, inclusive: bool) -> None:
    """Check a setting that has no AWS range, only a floor."""
    if value < low or (value == low and not inclusive):
        relation = "at least" if inclusive else "more than"
        msg = f"{name}={value!r} must be {relation} {low:g} seconds"
        raise ConfigurationError(msg)


def text(name: str, value: object) -> str:
    """A setting that must be a string; anything else is a `ConfigurationTypeError`."""
    if isinstance(value, str):
        return value
    msg = f"{name} must be a string, got {_kind(value)}"
    raise ConfigurationTypeError(msg)


def whole(name: str, value: object) -> int:
    """A setting that must be an integer (not a bool); else a `ConfigurationTypeError`."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    msg = f"{name} must be an integer, got {_kind(value)}{_number_in_text(value)}"
    raise ConfigurationTypeError(msg)


def _kind(value: object) -> str:
    return "None" if value is None else f"{type(value).__name__} {value!r}"


def _number_in_text(value: object) -> str:
    # "3" from a config file or an environment variable: say to convert it.
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return ""
        if math.isfinite(number):
            return f": pass the number {value.strip()}, not the string {value!r}"
    return ""


def _aws_number(value: float) -> str:
    # AWS writes the offending value as given: integers whole, other numbers shortest.
    return str(value) if isinstance(value, int) else f"{value:g}"


def constraint_violation(name: str, value: float) -> str | None:
    """AWS's words for *value* outside the range of *name* (`LIMITS`), or ``None`` if inside.

    One clause of a ``ValidationException``: ``Value '3' at 'maximumRetryAttempts' failed to
    satisfy constraint: Member must have value less than or equal to 2``.
    """
    limit = LIMITS[name]
    low, high = limit.low, limit.high
    if value < low:
        bound = f"greater than or equal to {low:g}"
    elif high is not None and value > high:
        bound = f"less than or equal to {high:g}"
    else:
        return None
    return (
        f"Value '{_aws_number(value)}' at '{limit.aws_name}' failed to satisfy constraint: "
        f"Member must have value {bound}"
    )


def check_range(name: str, value: float, aws_limits: bool) -> None:
    """Check *value* against AWS's range for *name* (`LIMITS`), or only sanity without limits.

    With AWS's limits every one of these settings is a whole number, as AWS's API takes it.
    """
    limit = LIMITS[name]
    low = limit.low
    if not (aws_limits or limit.always):
        if value < 0 or (value == 0 and low > 0):
            msg = f"{name}={value!r} must be {'positive' if low > 0 else 'zero or more'}"
            raise ConfigurationError(msg)
        return
    violation = constraint_violation(name, value)
    if violation is not None:
        msg = (
            f'{name}={value!r} is out of range: AWS says "1 validation error detected: '
            f'{violation}". {_OPT_OUT}'
        )
        raise ConfigurationError(msg)
    if isinstance(value, float) and not value.is_integer():
        msg = f"{name}={value!r}: AWS takes whole seconds here. {_OPT_OUT}"
        raise ConfigurationError(msg)


@frozen
class FunctionSettings:
    """How the function runs and how the invoker treats it: every setting checked once.

    ``retry`` and ``age`` settings, which AWS keeps in the EventInvokeConfig, are in
    `EventInvokeConfig`; these are the function's own settings and the library's.
    """

    timeout: float = 3.0
    memory_size: int = 128
    #: ``None``: no reserved concurrency, AWS's account limit applies.
    reserved_concurrency: int | None = None
    payload_limit: int = 1_048_576
    delivery_timeout: float = 30.0
    drain_timeout: float | None = None
    throttling: Throttling = "backoff"
    aws_limits: bool = True
    recursive_loop: RecursiveLoop = "Terminate"

    @classmethod
    def build(
        cls,
        *,
        timeout: Duration = 3,
        memory_size: int = 128,
        reserved_concurrency: int | None = None,
        payload_limit: int = 1_048_576,
        delivery_timeout: Duration = 30,
        drain_timeout: Duration | None = None,
        throttling: Throttling = "backoff",
        aws_limits: bool = True,
        recursive_loop: RecursiveLoop = "Terminate",
    ) -> FunctionSettings:
        """Check every value; raise `ConfigurationError` naming the first one that is wrong."""
        timeout_s = seconds("timeout", timeout)
        check_range("timeout", timeout_s, aws_limits)
        memory = whole("memory_size", memory_size)
        check_range("memory_size", memory, aws_limits)
        if reserved_concurrency is not None:
            reserved_concurrency = whole("reserved_concurrency", reserved_concurrency)
            check_range("reserved_concurrency", reserved_concurrency, aws_limits)
        limit = whole("payload_limit", payload_limit)
        if limit <= 0:
            msg = f"payload_limit={payload_limit!r} must be a positive number of bytes"
            raise ConfigurationError(msg)
        delivery = seconds("delivery_timeout", delivery_timeout)
        at_least("delivery_timeout", delivery, 0, inclusive=False)
        drain = None if drain_timeout is None else seconds("drain_timeout", drain_timeout)
        if drain is not None:
            at_least("drain_timeout", drain, 0, inclusive=True)
        if throttling not in ("backoff", "fifo"):
            msg = (
                f"throttling={throttling!r} is not a throttling mode: pass 'backoff' (AWS: an "
                "event that finds no free concurrency is retried after 1 s, 2 s, ... up to 5 "
                "minutes) or 'fifo' (it waits in line for the next free slot)"
            )
            raise ConfigurationError(msg)
        if recursive_loop not in ("Terminate", "Allow"):
            msg = (
                f"recursive_loop={recursive_loop!r} is not AWS's RecursiveLoop setting: pass "
                "'Terminate' (stop an event's 17th invocation, AWS's default) or 'Allow'"
            )
            raise ConfigurationError(msg)
        return cls(
            timeout_s,
            memory,
            reserved_concurrency,
            limit,
            delivery,
            drain,
            throttling,
            aws_limits,
            recursive_loop,
        )

    @property
    def concurrency(self) -> int:
        """How many attempts may run at once."""
        if self.reserved_concurrency is None:
            return DEFAULT_CONCURRENCY
        return self.reserved_concurrency
