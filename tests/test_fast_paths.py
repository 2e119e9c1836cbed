"""The success path's shortcuts give exactly what the ordinary code they replace gives.

Each shortcut saves a microsecond or so per event (see docs/performance.md); none may change
a value, an error type or an error message.
"""

from __future__ import annotations

import decimal
import json
import math
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from lambda_destinations._clock import SystemClock, monotonic_time, record_time
from lambda_destinations._json import decode, fast_encoder
from lambda_destinations._marshal import marshal
from lambda_destinations.queues import EventState
from lambda_destinations.queues._state import fresh_state
from lambda_destinations.testing import VirtualClock

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=5) | st.integers(), inner, max_size=4)
    ),
    max_leaves=12,
)
ENCODERS = {
    "payload": json.JSONEncoder(allow_nan=False),
    "plain": json.JSONEncoder(),
    "unicode, sorted": json.JSONEncoder(ensure_ascii=False, sort_keys=True),
    "compact": json.JSONEncoder(separators=(",", ":")),
}


def outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    """The value *call* returns, or its exception's type and message."""
    try:
        return "value", call()
    except Exception as e:  # the exception is what is compared
        return type(e).__name__, str(e)


def circular() -> dict[str, Any]:
    value: dict[str, Any] = {"a": [1]}
    value["a"].append(value)
    return value


@pytest.mark.parametrize("name", ENCODERS)
@settings(max_examples=150, deadline=None)
@given(value=JSON_VALUES)
@example(value=math.nan)
@example(value={"k": [math.inf]})
@example(value="é\u2028\x00")
@example(value={1: None, 2.5: True, None: False})
def test_fast_encoder_writes_what_the_encoder_writes(name: str, value: object) -> None:
    """Every value gets the same text, or the same error (NaN refused with allow_nan=False)."""
    encoder = ENCODERS[name]
    fast = fast_encoder(encoder)
    assert outcome(lambda: fast(value)) == outcome(lambda: encoder.encode(value))


@pytest.mark.parametrize(
    "value",
    [circular(), [object()], {"a": {1, 2}}, {(1, 2): 3}],
    ids=["circular", "object", "set", "tuple key"],
)
def test_fast_encoder_raises_the_encoders_own_errors(value: object) -> None:
    """A circular value still gets ``Circular reference detected``, not a RecursionError."""
    encoder = ENCODERS["payload"]
    expected = outcome(lambda: encoder.encode(value))
    assert expected[0] in {"ValueError", "TypeError"}
    assert outcome(lambda: fast_encoder(encoder)(value)) == expected


def test_fast_encoder_is_safe_to_share_between_threads() -> None:
    """Threads encoding one shared value at once never see a false circular reference."""
    encode = fast_encoder(ENCODERS["payload"])
    shared = {"items": [{"n": i, "tags": ["a", "b"]} for i in range(200)]}
    expected = json.dumps(shared)
    errors: list[BaseException] = []

    def encode_often() -> None:
        try:
            for _ in range(200):
                assert encode(shared) == expected
        except BaseException as e:  # reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=encode_often) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_results_with_decimals_marshal_as_before() -> None:
    """A result holding a Decimal takes the fast encoder's error path to the exact text."""
    assert marshal({"price": decimal.Decimal("10.10"), "n": [1]}) == '{"price": 10.10, "n": [1]}'


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(JSON_VALUES.map(json.dumps), st.text(max_size=20)))
@example(text=" {}")
@example(text="{} ")
@example(text="{}\n")
@example(text="{} x")
@example(text="")
@example(text="\ufeff{}")
@example(text="[1,")
@example(text="NaN")
@example(text='"\\ud800"')
def test_decode_reads_what_json_loads_reads(text: str) -> None:
    """Any text gives json.loads's value, or its exception with its message and position."""
    assert outcome(lambda: decode(text)) == outcome(lambda: json.loads(text))


def test_decode_raises_json_loads_recursion_error_for_deep_documents() -> None:
    """A document nested past the recursion limit fails as it does in json.loads."""
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(RecursionError):
        json.loads(deep)
    with pytest.raises(RecursionError):
        decode(deep)


def test_record_stamps_on_real_time_are_now_to_the_millisecond() -> None:
    """Stamps are UTC, whole milliseconds, and follow real time from one millisecond to the next.

    A millisecond of slack either side: the wall clock is read twice, at float precision.
    """
    stamp = record_time(SystemClock())
    slack = timedelta(milliseconds=1)
    seen: set[datetime] = set()
    deadline = time.monotonic() + 0.05
    while time.monotonic() < deadline:
        before = datetime.now(UTC)
        moment = stamp()
        after = datetime.now(UTC)
        assert moment.tzinfo is UTC
        assert moment.microsecond % 1000 == 0
        assert before - slack <= moment <= after + slack
        seen.add(moment)
    assert len(seen) >= 10  # 50 ms of real time: it moved on, never stuck on one stamp


def test_record_stamps_on_another_clock_are_that_clocks_now() -> None:
    """A virtual clock's records carry its time, not the machine's."""
    clock = VirtualClock(start=datetime(2030, 1, 2, 3, 4, 5, 678_901, tzinfo=UTC))
    assert record_time(clock)() == clock.now()
    assert monotonic_time(clock)() == clock.monotonic()


@given(
    request_id=st.text(max_size=8),
    body=st.text(max_size=8),
    accepted_at=st.floats(allow_nan=False),
    lineage=st.integers(min_value=0, max_value=20),
)
def test_fresh_state_is_the_state_the_constructor_builds(
    request_id: str, body: str, accepted_at: float, lineage: int
) -> None:
    """The shortcut for a just-accepted event keeps every default of `EventState`."""
    fresh = fresh_state(request_id, body, accepted_at, lineage)
    assert type(fresh) is EventState
    assert fresh == EventState(request_id, body, accepted_at, lineage=lineage)
