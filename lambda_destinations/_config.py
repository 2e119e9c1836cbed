"""Settings: AWS's names, AWS's ranges, and the retry schedule.

Out-of-range values are refused with AWS's own constraint, unless the invoker was built with
``aws_limits=False`` for in-process use beyond what AWS allows.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Final, TypeAlias

import tenacity
from attrs import frozen

from ._exceptions import ConfigurationError

__all__ = [
    "AWS_RETRY_WAIT",
    "DEFAULT_ACCOUNT_ID",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_REGION",
    "Duration",
    "EventInvokeConfig",
    "FunctionIdentity",
    "RetryWait",
]

Duration: TypeAlias = float | timedelta
#: A tenacity wait strategy, or any callable taking tenacity's ``RetryCallState``.
RetryWait: TypeAlias = Callable[[tenacity.RetryCallState], float]

#: AWS's schedule for function errors: about 1 minute, then about 2 more minutes.
AWS_RETRY_WAIT: Final[RetryWait] = tenacity.wait_chain(
    tenacity.wait_fixed(60), tenacity.wait_fixed(120)
)
#: The account and region AWS documents in its examples; also moto's defaults.
DEFAULT_ACCOUNT_ID: Final = "123456789012"
DEFAULT_REGION: Final = "us-east-1"
#: AWS's default account concurrency limit, used when no reserved concurrency is set.
DEFAULT_CONCURRENCY: Final = 1000

_OPT_OUT = "Pass aws_limits=False to go beyond AWS's limits in process."
_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_VERSION = re.compile(r"[1-9][0-9]{0,19}")
_ALIAS = re.compile(r"(?!^[0-9]+$)[a-zA-Z0-9_-]{1,128}")
_REGION = re.compile(r"[a-z]{2}(-gov)?-[a-z]+-\d")
_ACCOUNT = re.compile(r"\d{12}")


def seconds(name: str, value: object) -> float:
    """A duration in seconds from a number or a timedelta; never NaN."""
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
    msg = f"{name} must be a number of seconds or a timedelta, got {type(value).__name__}"
    raise ConfigurationError(msg)


def at_least(name: str, value: float, low: float, *, inclusive: bool) -> None:
    """Check a setting that has no AWS range, only a floor."""
    if value < low or (value == low and not inclusive):
        relation = "at least" if inclusive else "more than"
        msg = f"{name}={value!r} must be {relation} {low:g} seconds"
        raise ConfigurationError(msg)


def text(name: str, value: object) -> str:
    """A setting that must be a string."""
    if isinstance(value, str):
        return value
    msg = f"{name} must be a string, got {type(value).__name__} {value!r}"
    raise ConfigurationError(msg)


def _aws_number(value: float) -> str:
    # AWS writes the offending value as given: integers whole, other numbers shortest.
    return str(value) if isinstance(value, int) else f"{value:g}"


def whole(name: str, value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    msg = f"{name} must be an integer, got {type(value).__name__} {value!r}"
    raise ConfigurationError(msg)


def in_range(
    name: str, value: float, low: float, high: float | None, aws_name: str, aws_limits: bool
) -> None:
    """Check *value* against AWS's range, or only against sanity when limits are off.

    With AWS's limits every one of these settings is a whole number, as AWS's API takes it.
    """
    if not aws_limits:
        if value < 0 or (value == 0 and low > 0):
            msg = f"{name}={value!r} must be {'positive' if low > 0 else 'zero or more'}"
            raise ConfigurationError(msg)
        return
    if value < low or (high is not None and value > high):
        bound = (
            f"greater than or equal to {low:g}"
            if value < low
            else f"less than or equal to {high:g}"
        )
        msg = (
            f'{name}={value!r} is out of range: AWS says "1 validation error detected: Value '
            f"'{_aws_number(value)}' at '{aws_name}' failed to satisfy constraint: Member must "
            f'have value {bound}". {_OPT_OUT}'
        )
        raise ConfigurationError(msg)
    if isinstance(value, float) and not value.is_integer():
        msg = f"{name}={value!r}: AWS takes whole seconds here. {_OPT_OUT}"
        raise ConfigurationError(msg)


@frozen
class EventInvokeConfig:
    """The settings AWS's ``PutFunctionEventInvokeConfig`` holds, as the invoker uses them.

    Read it from ``AsyncInvoker.config``; change it with ``AsyncInvoker.update_config()``.
    """

    maximum_retry_attempts: int
    maximum_event_age_in_seconds: float
    retry_wait: RetryWait
    on_success: object | None
    on_failure: object | None


@frozen
class FunctionIdentity:
    """Names and ARNs of the function an invoker stands for, derived once."""

    function_name: str
    qualifier: str
    executed_version: str
    region: str
    account_id: str

    @classmethod
    def build(
        cls,
        function_name: str,
        qualifier: str,
        executed_version: str | None,
        region: str,
        account_id: str,
    ) -> FunctionIdentity:
        function_name = text("function_name", function_name)
        qualifier = text("qualifier", qualifier)
        region = text("region", region)
        account_id = text("account_id", account_id)
        if executed_version is not None:
            executed_version = text("executed_version", executed_version)
        if not _NAME.fullmatch(function_name):
            msg = (
                f"function_name={function_name!r} is not a valid Lambda function name: use 1 "
                "to 64 letters, digits, hyphens or underscores"
            )
            raise ConfigurationError(msg)
        if not _REGION.fullmatch(region):
            msg = f"region={region!r} is not an AWS region name such as 'us-east-1'"
            raise ConfigurationError(msg)
        if not _ACCOUNT.fullmatch(account_id):
            msg = f"account_id={account_id!r} must be 12 digits, such as {DEFAULT_ACCOUNT_ID!r}"
            raise ConfigurationError(msg)
        if qualifier == "$LATEST" or _VERSION.fullmatch(qualifier):
            if executed_version not in (None, qualifier):
                msg = (
                    f"qualifier={qualifier!r} is a version, so it is the executed version; "
                    f"executed_version={executed_version!r} contradicts it: leave it out"
                )
                raise ConfigurationError(msg)
            executed_version = qualifier
        elif _ALIAS.fullmatch(qualifier):
            if executed_version is None or not (
                executed_version == "$LATEST" or _VERSION.fullmatch(executed_version)
            ):
                msg = (
                    f"qualifier={qualifier!r} is an alias: pass executed_version= with the "
                    "version it resolves to ('$LATEST' or a version number such as '3')"
                )
                raise ConfigurationError(msg)
        else:
            msg = (
                f"qualifier={qualifier!r} is neither '$LATEST', a version number nor an alias "
                "name (letters, digits, hyphens, underscores; not all digits)"
            )
            raise ConfigurationError(msg)
        return cls(function_name, qualifier, executed_version, region, account_id)

    @property
    def partition(self) -> str:
        """AWS's partition of the region: ``aws``, ``aws-cn`` or ``aws-us-gov``."""
        if self.region.startswith("cn-"):
            return "aws-cn"
        if self.region.startswith("us-gov-"):
            return "aws-us-gov"
        return "aws"

    @property
    def unqualified_arn(self) -> str:
        return (
            f"arn:{self.partition}:lambda:{self.region}:{self.account_id}:function:"
            f"{self.function_name}"
        )

    @property
    def function_arn(self) -> str:
        """The qualified ARN records carry, even when invoked by bare name."""
        return f"{self.unqualified_arn}:{self.qualifier}"

    @property
    def invoked_function_arn(self) -> str:
        """The ARN the caller used: bare for ``$LATEST``, qualified for a version or alias."""
        if self.qualifier == "$LATEST":
            return self.unqualified_arn
        return self.function_arn
