"""How an event rides in an SQS message: one header line with its state, then its body.

A message is the header, a line feed, and the body. The header is compact ASCII JSON: a marker
with the format's version, every `EventState` field but the body (defaults left out), and,
when the event must not run before a given time, ``not_before`` (epoch seconds). The body is
the event's JSON text exactly as the caller sent it: the console shows the payload as is.

SQS carries only some Unicode characters as text (#x9, #xA, #xD, #x20 to #xD7FF, #xE000 to
#xFFFD, #x10000 to #x10FFFF). The header is ASCII; a body holding anything else (U+FFFE and
U+FFFF are valid JSON text) goes base64-encoded, with ``"encoding":"base64"`` in the header,
and decodes to the same text, byte for byte.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from typing import Any, Final, NamedTuple

from lambda_destinations.destinations.aws._services import SQS_SNS_MESSAGE_LIMIT
from lambda_destinations.queues._state import EventState

__all__ = [
    "MAX_DELAY",
    "MAX_VISIBILITY",
    "MESSAGE_LIMIT",
    "STATE_ROOM",
    "Decoded",
    "base64_needed",
    "decode",
    "delay_seconds",
    "encode",
    "fitted",
    "size",
]

#: SQS's largest message, attributes included (also the most one batch call may carry).
MESSAGE_LIMIT: Final = SQS_SNS_MESSAGE_LIMIT
#: Bytes of every message kept for the state a retry adds (count, wait, last error).
STATE_ROOM: Final = 1024
#: SQS's longest ``DelaySeconds``.
MAX_DELAY: Final = 900
#: SQS's longest visibility timeout.
MAX_VISIBILITY: Final = 43_200

_MARKER: Final = "lambda_destinations"
_VERSION: Final = 1
_HEAD: Final = f'{{"{_MARKER}":{_VERSION},'
# The fields written only when they differ from their defaults: all but the first three.
_OPTIONAL: Final = tuple(EventState._field_defaults.items())
_NOT_SQS_TEXT: Final = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_dumps: Final = json.JSONEncoder(separators=(",", ":")).encode
# What an error's type and message shrink to, in turn, when a retry's state would not fit.
_SHORTER: Final = (256, 32, 0)


class Decoded(NamedTuple):
    """A message this library wrote: the event's state, and when it may run at the earliest."""

    state: EventState
    not_before: float | None


def encode(state: EventState, not_before: float | None = None) -> str:
    """The message text for *state*; *not_before* in epoch seconds, or ``None``."""
    header: dict[str, Any] = {"request_id": state.request_id, "accepted_at": state.accepted_at}
    for (name, default), value in zip(_OPTIONAL, state[3:], strict=True):
        if value != default:
            header[name] = value
    if not_before is not None:
        header["not_before"] = not_before
    body = state.body
    if base64_needed(body):
        header["encoding"] = "base64"
        body = base64.b64encode(body.encode()).decode("ascii")
    return f"{_HEAD}{_dumps(header)[1:]}\n{body}"


def size(message: str) -> int:
    """Bytes SQS counts for *message* (UTF-8)."""
    return len(message) if message.isascii() else len(message.encode())


def base64_needed(body: str) -> bool:
    """Whether SQS cannot carry *body* as text, so that it goes base64-encoded."""
    return not body.isascii() and _NOT_SQS_TEXT.search(body) is not None


def decode(text: str) -> Decoded | None:
    """The state a message carries, or ``None`` if this library did not write it."""
    head, newline, body = text.partition("\n")
    if not newline or not head.startswith("{"):
        return None
    try:
        header = json.loads(head)
        if header.pop(_MARKER) != _VERSION:
            return None
        not_before = header.pop("not_before", None)
        if header.pop("encoding", None) == "base64":
            body = base64.b64decode(body, validate=True).decode()
        state = EventState(header.pop("request_id"), body, **header)
    except (ValueError, TypeError, KeyError, AttributeError, binascii.Error):
        return None
    if not isinstance(state.request_id, str) or not isinstance(state.accepted_at, int | float):
        return None
    if not_before is not None and not isinstance(not_before, int | float):
        return None
    return Decoded(state, None if not_before is None else float(not_before))


def fitted(state: EventState, not_before: float | None, limit: int) -> tuple[EventState, str]:
    """*state* and its message, its last error shortened if the whole would exceed *limit*.

    Only a retry's state grows (its last error object can be large); ``invoke()`` refused
    events that leave less than `STATE_ROOM` bytes for it, so a short error always fits.
    """
    message = encode(state, not_before)
    if size(message) <= limit or state.error is None:
        return state, message
    for length in _SHORTER:
        shorter = state._replace(
            error=_short_error(state.error, length), error_message=state.error_message[:length]
        )
        message = encode(shorter, not_before)
        if size(message) <= limit:
            break
    return shorter, message


def _short_error(error: str, length: int) -> str:
    # The error object's type and the start of its message; the stack trace is dropped.
    try:
        found = json.loads(error)
    except ValueError:
        found = {}
    if not isinstance(found, dict):
        found = {}
    short = {
        "errorMessage": str(found.get("errorMessage", ""))[:length],
        "errorType": str(found.get("errorType", ""))[:length],
    }
    return json.dumps(short)


def delay_seconds(delay: float) -> int:
    """SQS's ``DelaySeconds`` for a wait of *delay* seconds: whole seconds, at most 900.

    Never longer than the wait: the message carries its not-before time, and the process that
    receives it early waits out the rest.
    """
    return min(MAX_DELAY, max(0, math.floor(delay)))
