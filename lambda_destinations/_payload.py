"""Turning what a caller passes to ``invoke()`` into the JSON text Lambda would queue."""

from __future__ import annotations

import inspect
import json
import os
import warnings
from typing import Any, Final

from ._exceptions import InvalidRequestContentError, PayloadWarning, RequestEntityTooLargeError
from ._json import fast_encoder

__all__ = ["DEFAULT_PAYLOAD_LIMIT", "NO_PAYLOAD", "encode_payload"]

_HERE: Final = os.path.dirname(__file__) + os.sep

#: AWS's asynchronous payload limit since October 2025 (it was 262,144 bytes before).
DEFAULT_PAYLOAD_LIMIT: Final = 1_048_576


class _NoPayload:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_PAYLOAD"


#: Default of ``invoke()``: like AWS, an invoke without a payload queues ``{}``.
NO_PAYLOAD: Final = _NoPayload()


def _reject_constant(name: str) -> Any:
    msg = f"{name} is not valid JSON"
    raise ValueError(msg)


def _too_large(size: int, limit: int) -> RequestEntityTooLargeError:
    return RequestEntityTooLargeError(
        f"{size} byte payload is too large for the Event invocation type (limit {limit} bytes)"
    )


# AWS's refusal of a body that is not JSON: two fixed prefixes, then its parser's detail.
_UNPARSABLE: Final = "Could not parse request body into json: Could not parse payload into json: "


# One encoder for every payload: json.dumps would build a new one per call for allow_nan=False.
_encode = fast_encoder(json.JSONEncoder(allow_nan=False))
_BINARY = (bytes, bytearray, memoryview)


def _warn_if_document(payload: str) -> None:
    # boto3 habit: Payload=json.dumps(event). Here that sends a JSON *string*.
    if payload.lstrip()[:1] not in ("{", "["):
        return
    try:
        json.loads(payload)
    except (ValueError, RecursionError):
        return
    warnings.warn(
        "invoke() got a str holding a JSON document: it is sent as one JSON string, so the "
        "handler receives text, not the document. Pass the value itself, or the document as "
        "bytes (payload.encode()) to send it as is.",
        PayloadWarning,
        stacklevel=_outside_the_library(),
    )


def _outside_the_library() -> int:
    # The stack level of the first frame that is not ours: the caller's line gets the warning.
    level, frame = 1, inspect.currentframe()
    while frame is not None and frame.f_code.co_filename.startswith(_HERE):
        level, frame = level + 1, frame.f_back
    return level - 1


def encode_payload(payload: object, limit: int) -> str:
    """Return the JSON text to queue, or raise an `InvokeError` naming the problem.

    Python values are serialised the way ``json.dumps`` does for boto3 callers; ``bytes`` must
    already hold a UTF-8 JSON document and are kept byte for byte.
    """
    if payload is NO_PAYLOAD:
        return "{}"
    if isinstance(payload, _BINARY):
        raw = bytes(payload)
        if not raw:
            return "{}"
        if len(raw) > limit:
            raise _too_large(len(raw), limit)
        try:
            text = raw.decode()
            json.loads(text, parse_constant=_reject_constant)
        except UnicodeDecodeError as e:
            msg = f"{_UNPARSABLE}payload is not UTF-8 ({e})"
            raise InvalidRequestContentError(msg) from None
        except (ValueError, RecursionError) as e:
            msg = f"{_UNPARSABLE}{e}"
            raise InvalidRequestContentError(msg) from None
        return text
    if isinstance(payload, str):
        _warn_if_document(payload)
    try:
        # ensure_ascii keeps the text ASCII, so its length is its size in bytes.
        text = _encode(payload)
    except (TypeError, ValueError, RecursionError) as e:
        msg = (
            f"payload is not JSON-serialisable ({e}); pass dicts, lists, str, int, float, bool "
            "or None, or bytes holding a JSON document"
        )
        raise InvalidRequestContentError(msg) from None
    if len(text) > limit:
        raise _too_large(len(text), limit)
    return text
