"""The checks of an `SQSQueue`'s arguments, each refusal naming what to pass instead."""

from __future__ import annotations

import math
import re
from typing import Final
from urllib.parse import urlsplit

from lambda_destinations._exceptions import ConfigurationError

__all__ = ["check_count", "check_seconds", "checked_url", "region"]

_QUEUE_URL_REGION: Final = re.compile(
    r"^(?:sqs[.-](?P<a>[a-z0-9-]+)\.(?:amazonaws\.com|api\.aws)|(?P<b>[a-z0-9-]+)\.queue\.amazonaws\.com)"
)


def checked_url(queue_url: object) -> str:
    """*queue_url* if it is a standard queue's URL; else `ConfigurationError`."""
    if not isinstance(queue_url, str):
        msg = f"queue_url={queue_url!r} must be the queue's URL, as CreateQueue answers it"
        raise ConfigurationError(msg)
    parts = urlsplit(queue_url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/") == "":
        msg = (
            f"queue_url={queue_url!r} is not a queue URL: pass the URL CreateQueue or "
            "GetQueueUrl answer, such as https://sqs.us-east-1.amazonaws.com/123456789012/orders"
        )
        raise ConfigurationError(msg)
    if parts.path.rstrip("/").endswith(".fifo"):
        msg = (
            f"{queue_url} is a FIFO queue; SQSQueue needs a standard queue (a FIFO queue "
            "takes no delay per message, which retry waits need): create one without .fifo"
        )
        raise ConfigurationError(msg)
    return queue_url


def region(queue_url: str) -> str:
    """The region in an AWS queue URL; empty for another endpoint's (moto, LocalStack)."""
    found = _QUEUE_URL_REGION.match(urlsplit(queue_url).netloc)
    if found is None:
        return ""
    return found.group("a") or found.group("b") or ""


def check_seconds(
    name: str, value: object, low: float, high: float, *, above: bool = False
) -> None:
    """Refuse *value* unless it is a finite number of seconds within the bounds."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"{name}={value!r} must be a number of seconds"
        raise ConfigurationError(msg)
    too_low = value <= low if above else value < low
    if not math.isfinite(value) or too_low or value > high:
        bounds = f"above {low:g}" if above else f"from {low:g}"
        upper = "" if high == math.inf else f" to {high:g}"
        msg = f"{name}={value!r} must be a finite number of seconds {bounds}{upper}"
        raise ConfigurationError(msg)


def check_count(name: str, value: object, low: int) -> None:
    """Refuse *value* unless it is a whole number, *low* or more."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        msg = f"{name}={value!r} must be a whole number, {low} or more"
        raise ConfigurationError(msg)
