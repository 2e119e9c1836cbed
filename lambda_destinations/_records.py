"""AWS's invocation record: what destinations receive when an event ends.

Payloads are kept as the JSON text the caller and the handler produced, and spliced into
``to_json()`` unchanged, the way Lambda forwards them; the parsed values are properties.
Building a record on the hot path therefore parses and copies nothing.
"""

from __future__ import annotations

import enum
import json
from datetime import UTC, datetime
from typing import Any

from attrs import evolve, field, frozen

__all__ = ["Condition", "ExecutionRecord", "RequestContext", "ResponseContext"]

_COMPACT = (",", ":")


class Condition(enum.Enum):
    """Why an event ended: AWS's ``requestContext.condition``."""

    SUCCESS = "Success"
    RETRIES_EXHAUSTED = "RetriesExhausted"
    EVENT_AGE_EXCEEDED = "EventAgeExceeded"
    ZERO_RESERVED_CONCURRENCY = "ZeroReservedConcurrency"
    #: Stopped by recursive loop detection (the name AWS uses is not documented: an assumption).
    RECURSIVE_INVOCATION = "RecursiveInvocationDetected"

    def __repr__(self) -> str:
        return f"Condition.{self.name}"


def format_timestamp(moment: datetime) -> str:
    """AWS's record timestamp: UTC, exactly three millisecond digits, ``Z``."""
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def parse_timestamp(text: str) -> datetime:
    """Inverse of `format_timestamp`; accepts any ISO 8601 form AWS might send."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _to_milliseconds(moment: datetime) -> datetime:
    # AWS's records carry milliseconds; keeping no more makes a record equal to its JSON.
    extra = moment.microsecond % 1000
    return moment.replace(microsecond=moment.microsecond - extra) if extra else moment


@frozen
class RequestContext:
    """``requestContext``: which request, which function, how it ended, how many attempts ran."""

    request_id: str
    function_arn: str
    condition: Condition
    approximate_invoke_count: int

    def to_dict(self) -> dict[str, Any]:
        """AWS's ``requestContext`` object, in AWS's key order."""
        return {
            "requestId": self.request_id,
            "functionArn": self.function_arn,
            "condition": self.condition.value,
            "approximateInvokeCount": self.approximate_invoke_count,
        }


@frozen
class ResponseContext:
    """``responseContext`` of the last attempt; ``function_error`` is ``"Unhandled"`` on errors."""

    status_code: int = 200
    executed_version: str = "$LATEST"
    function_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """AWS's ``responseContext`` object; ``functionError`` only on errors."""
        d: dict[str, Any] = {
            "statusCode": self.status_code,
            "executedVersion": self.executed_version,
        }
        if self.function_error is not None:
            d["functionError"] = self.function_error
        return d


_scanner = json.JSONDecoder()


def _raw_value(text: str, key: str, start: int) -> tuple[str, int] | None:
    # The exact text of a top-level value. In AWS's key order the first match of the key
    # after *start* is the top-level one: the values before it hold no unescaped quotes.
    at = text.find(key, start)
    if at < 0:
        return None
    begin = at + len(key)
    while begin < len(text) and text[begin] in " \t\r\n":
        begin += 1
    try:
        _, end = _scanner.raw_decode(text, begin)
    except ValueError:
        return None
    return text[begin:end], end


def _same_json(text: str | None) -> Any:
    # Two records are equal when their payloads are equal JSON values, whatever the spacing.
    return None if text is None else json.loads(text)


@frozen
class ExecutionRecord:
    """One event's end, exactly as Lambda sends it to a destination.

    ``to_dict()`` and ``to_json()`` give AWS's keys in AWS's order; ``from_dict()`` and
    ``from_json()`` read a record that real AWS delivered (for example from an SQS queue).
    ``response_context`` is ``None`` when no attempt ran (``ZeroReservedConcurrency``): the
    record then has no response keys at all.
    """

    timestamp: datetime = field(converter=_to_milliseconds)
    request_context: RequestContext
    request_payload_json: str = field(eq=_same_json, repr=False)
    response_context: ResponseContext | None = None
    response_payload_json: str | None = field(default=None, eq=_same_json, repr=False)
    version: str = "1.0"

    @property
    def request_id(self) -> str:
        """``requestContext.requestId``."""
        return self.request_context.request_id

    @property
    def condition(self) -> Condition:
        """``requestContext.condition``: why the event ended."""
        return self.request_context.condition

    @property
    def approximate_invoke_count(self) -> int:
        """``requestContext.approximateInvokeCount``: the attempts that ran."""
        return self.request_context.approximate_invoke_count

    @property
    def request_payload(self) -> Any:
        """The event, as a fresh JSON value (a new copy on every access)."""
        return json.loads(self.request_payload_json)

    @property
    def response_payload(self) -> Any:
        """The handler's result or the runtime's error object; ``None`` when no attempt ran."""
        if self.response_payload_json is None:
            return None
        return json.loads(self.response_payload_json)

    @property
    def is_success(self) -> bool:
        """Whether the event ended with ``Success`` (it goes to on-success)."""
        return self.request_context.condition is Condition.SUCCESS

    def __repr__(self) -> str:
        return (
            f"ExecutionRecord(request_id={self.request_id!r}, "
            f"condition={self.condition!r}, "
            f"approximate_invoke_count={self.approximate_invoke_count}, "
            f"timestamp={format_timestamp(self.timestamp)!r}, "
            f"request_payload={self.request_payload_json}, "
            f"response_payload={self.response_payload_json})"
        )

    def to_dict(self) -> dict[str, Any]:
        """The record as AWS's JSON value, keys in AWS's order."""
        d: dict[str, Any] = {
            "version": self.version,
            "timestamp": format_timestamp(self.timestamp),
            "requestContext": self.request_context.to_dict(),
            "requestPayload": self.request_payload,
        }
        if self.response_context is not None:
            d["responseContext"] = self.response_context.to_dict()
            d["responsePayload"] = self.response_payload
        return d

    def to_json(self) -> bytes:
        """AWS's bytes: a compact envelope with both payloads spliced in as they were produced."""
        envelope = json.dumps(
            {
                "version": self.version,
                "timestamp": format_timestamp(self.timestamp),
                "requestContext": self.request_context.to_dict(),
            },
            separators=_COMPACT,
        )
        parts = [envelope[:-1], ',"requestPayload":', self.request_payload_json]
        if self.response_context is not None:
            parts += [
                ',"responseContext":',
                json.dumps(self.response_context.to_dict(), separators=_COMPACT),
                ',"responsePayload":',
                "null" if self.response_payload_json is None else self.response_payload_json,
            ]
        parts.append("}")
        return "".join(parts).encode()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExecutionRecord:
        """Read a record from its JSON value, as delivered by AWS or by `to_dict()`."""
        try:
            rc = data["requestContext"]
            request_context = RequestContext(
                request_id=rc["requestId"],
                function_arn=rc["functionArn"],
                condition=Condition(rc["condition"]),
                approximate_invoke_count=int(rc["approximateInvokeCount"]),
            )
            response_context = None
            response_json = None
            if "responseContext" in data:
                resp = data["responseContext"]
                response_context = ResponseContext(
                    status_code=int(resp["statusCode"]),
                    executed_version=resp["executedVersion"],
                    function_error=resp.get("functionError"),
                )
                response_json = json.dumps(data.get("responsePayload"))
            return cls(
                timestamp=parse_timestamp(data["timestamp"]),
                request_context=request_context,
                request_payload_json=json.dumps(data.get("requestPayload")),
                response_context=response_context,
                response_payload_json=response_json,
                version=data.get("version", "1.0"),
            )
        except (KeyError, TypeError, ValueError) as e:
            msg = f"not a Lambda invocation record ({type(e).__name__}: {e}); expected AWS's keys"
            raise ValueError(msg) from e

    @classmethod
    def from_json(cls, data: str | bytes) -> ExecutionRecord:
        """Read a record from AWS's JSON text, e.g. an SQS message body.

        The payloads keep their text exactly, so ``to_json()`` gives the same bytes back.
        """
        text = data.decode() if isinstance(data, bytes | bytearray) else data
        record = cls.from_dict(json.loads(text))
        request_json = _raw_value(text, '"requestPayload":', 0)
        if request_json is None:
            return record
        response_json = None
        if record.response_context is not None:
            response_json = _raw_value(text, '"responsePayload":', request_json[1])
            if response_json is None:
                return record
        return evolve(
            record,
            request_payload_json=request_json[0],
            response_payload_json=None if response_json is None else response_json[0],
        )
