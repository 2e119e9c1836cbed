"""How values are written in the queue file's rows, and read back.

An event's progress (every `EventState` field after its body) and the outbox's records and
dead letters are JSON text. Floats keep every bit, a fresh event's state is written and read
without a JSON parser (most events end at their first attempt), and a record is kept as its
fields, payloads as the text they were, which gives AWS's JSON back byte for byte.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Final

from lambda_destinations._dead_letter import DeadLetterMessage
from lambda_destinations._records import (
    Condition,
    ExecutionRecord,
    RequestContext,
    ResponseContext,
)
from lambda_destinations.queues._state import EventState

__all__ = [
    "dumps",
    "letter_from_item",
    "letter_json",
    "record_from_item",
    "record_json",
    "state_from_row",
    "state_json",
]

_DEFAULT_TAIL: Final = EventState("", "", 0.0)[3:]
_PROGRESS_FIELDS: Final = EventState._fields[2:]
_FRESH: Final = '{"accepted_at":'
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

#: Compact JSON, text as it is (no ``\\u`` escapes).
dumps: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def state_json(state: EventState) -> str:
    """The ``state`` column of *state*."""
    # Everything after the body: a fresh event has nothing but its acceptance time.
    if state[3:] == _DEFAULT_TAIL:
        return f'{{"accepted_at":{state[2]!r}}}'
    return dumps(dict(zip(_PROGRESS_FIELDS, state[2:], strict=True)))


def state_from_row(request_id: str, body: str, state: str) -> EventState:
    """The `EventState` of an events row."""
    if state.startswith(_FRESH) and "," not in state:
        return EventState(request_id, body, float(state[len(_FRESH) : -1]))
    return EventState(request_id, body, **json.loads(state))


def record_json(record: ExecutionRecord) -> str:
    """The outbox ``item`` of *record*."""
    # The record's fields, payloads as the text they were: cheaper to write than AWS's JSON,
    # which `record_from_item` gives back byte for byte.
    context = record.request_context
    response = record.response_context
    return dumps(
        [
            round(record.timestamp.timestamp() * 1000),
            context.request_id,
            context.function_arn,
            context.condition.value,
            context.approximate_invoke_count,
            record.request_payload_json,
            None
            if response is None
            else [response.status_code, response.executed_version, response.function_error],
            record.response_payload_json,
            record.version,
        ]
    )


def record_from_item(item: str) -> ExecutionRecord:
    """The record an outbox ``item`` holds."""
    millis, request_id, arn, condition, count, request, response, payload, version = json.loads(
        item
    )
    return ExecutionRecord(
        _EPOCH + timedelta(milliseconds=millis),
        RequestContext(request_id, arn, Condition(condition), count),
        request,
        None if response is None else ResponseContext(*response),
        payload,
        version,
    )


def letter_json(letter: DeadLetterMessage) -> str:
    """The outbox ``item`` of a dead letter."""
    return dumps({"body": letter.body, "attributes": letter.message_attributes})


def letter_from_item(item: str) -> DeadLetterMessage:
    """The dead letter an outbox ``item`` holds."""
    data = json.loads(item)
    return DeadLetterMessage(data["body"], data["attributes"])
