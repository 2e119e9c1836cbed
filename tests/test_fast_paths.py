"""The success path's shortcuts give exactly what the ordinary code they replace gives.

Each shortcut saves a microsecond or so per event (see docs/performance.md); none may change
a value, an error type or an error message.
"""

from __future__ import annotations

import decimal
import json
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
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
    """A dict that holds itself, inside a list."""
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


def test_an_encoding_error_runs_user_code_once_and_chains_nothing() -> None:
    """A value the encoder refuses calls ``default`` as often as before, with a bare error.

    Only a circular value takes the second, ordinary pass; its ``ValueError`` carries no
    trace of the fast pass's ``RecursionError``.
    """
    calls: list[object] = []

    def default(o: object) -> object:
        calls.append(o)
        raise TypeError(f"no {type(o).__name__}")

    refused = object()
    with pytest.raises(TypeError, match="no object") as refusal:
        fast_encoder(json.JSONEncoder(default=default))({"a": [1, refused]})
    assert calls == [refused]
    assert refusal.value.__context__ is None

    with pytest.raises(ValueError, match="Circular reference detected") as loop:
        fast_encoder(json.JSONEncoder())(circular())
    assert loop.value.__context__ is None


def test_a_subclassed_encoder_keeps_its_own_methods() -> None:
    """An encoder subclass may override ``encode``: it is then used as it is."""

    class Upper(json.JSONEncoder):
        def encode(self, o: object) -> str:
            return super().encode(o).upper()

    assert fast_encoder(Upper())({"a": "b"}) == '{"A": "B"}'


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


@pytest.mark.parametrize("value", [b'{"a": 1}', bytearray(b"[1]"), None, 12])
def test_decode_takes_what_json_loads_takes(value: Any) -> None:
    """Bytes are read as json.loads reads them; what is not text fails with its message."""
    assert outcome(lambda: decode(value)) == outcome(lambda: json.loads(value))


def test_decode_raises_json_loads_recursion_error_for_deep_documents() -> None:
    """A document nested past the recursion limit fails as it does in json.loads."""
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(RecursionError):
        json.loads(deep)
    with pytest.raises(RecursionError):
        decode(deep)


def test_record_stamps_on_real_time_are_now_to_the_millisecond() -> None:
    """Stamps are UTC, whole milliseconds, and between the real times read around them.

    The lower bound is the first reading floored to its millisecond, as the stamp is floored.
    """
    stamp = record_time(SystemClock())
    seen: set[datetime] = set()
    deadline = time.monotonic() + 10
    while len(seen) < 10 and time.monotonic() < deadline:
        before = datetime.now(UTC)
        moment = stamp()
        after = datetime.now(UTC)
        assert moment.tzinfo is UTC
        assert moment.microsecond % 1000 == 0
        assert before.replace(microsecond=before.microsecond // 1000 * 1000) <= moment <= after
        seen.add(moment)
    assert len(seen) == 10  # it follows real time from one millisecond to the next


def test_record_stamps_on_another_clock_are_that_clocks_now() -> None:
    """A virtual clock's records carry its time, not the machine's."""
    clock = VirtualClock(start=datetime(2030, 1, 2, 3, 4, 5, 678_901, tzinfo=UTC))
    assert record_time(clock)() == clock.now()
    assert monotonic_time(clock)() == clock.monotonic()


@settings(deadline=None)
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
