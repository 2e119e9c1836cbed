"""Fuzzing bad input: payloads and settings either work faithfully or fail clearly, nothing else.

A payload is either accepted, and then reaches the DLQ body and the record's requestPayload as
the exact text that was sent (bytes byte for byte; Python values as ``json.dumps`` writes them),
or refused with `InvalidRequestContentError` / `RequestEntityTooLargeError` naming the problem,
with nothing queued and the invoker still working. A setting either builds an invoker that runs
an event to its end, or is refused with a `ConfigurationError` (a `TypeError` for something
that is not a destination) naming the setting. Any other exception fails.

Each example runs on a fresh event loop and `VirtualClock`; a small ``payload_limit`` keeps
the payloads near the limit small.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st
from lambda_destinations import (
    AsyncInvoker,
    ConfigurationError,
    InMemoryDeadLetterQueue,
    InMemoryDestination,
    InvalidRequestContentError,
    InvokeError,
    RequestEntityTooLargeError,
)
from lambda_destinations.testing import VirtualClock

FUZZ = settings(max_examples=200, deadline=None)
LIMIT = 256
#: For nesting: deep documents are bigger than LIMIT.
DEEP_LIMIT = 65_536
#: Nesting depths accepted everywhere, and depths refused everywhere. In between, whether a
#: document parses depends on the recursion limit (which hypothesis raises while it runs a
#: test) and on how deep the stack already is where it is parsed.
SHALLOW, TOO_DEEP = (1, 600), (10_000, 30_000)


# -- running one payload ----------------------------------------------------------------------


@dataclass
class Sent:
    """What became of one payload: the error it raised, or the messages its event produced."""

    error: BaseException | None
    dlq_bodies: list[str]
    record_payloads: list[str]
    record_bytes: list[bytes]
    handler_events: list[Any]
    queued_on_error: tuple[int, int] | None
    follow_up_ended: bool


async def send(payload: object, limit: int) -> Sent:
    """Invoke *payload* on a fresh invoker whose handler fails, then a valid event after it."""
    events: list[Any] = []

    async def handler(event: Any) -> None:
        events.append(event)
        raise RuntimeError("refused on purpose")

    dlq, failed = InMemoryDeadLetterQueue(), InMemoryDestination()
    invoker = AsyncInvoker(
        handler,
        clock=VirtualClock(),
        payload_limit=limit,
        maximum_retry_attempts=0,
        on_failure=failed,
        dead_letter_queue=dlq,
    )
    error: BaseException | None = None
    queued_on_error = None
    async with invoker:
        try:
            await invoker.invoke(payload)
        except InvokeError as e:
            error = e
            queued_on_error = (invoker.pending, invoker.metrics().async_events_received)
        await invoker.join()
        messages = len(dlq.messages)
        follow_up = await invoker.invoke(b"0")
        await invoker.join()
    return Sent(
        error=error,
        dlq_bodies=[m.body for m in dlq.messages[:messages]],
        record_payloads=[r.request_payload_json for r in failed.records[:messages]],
        record_bytes=[r.to_json() for r in failed.records[:messages]],
        handler_events=events[:messages],
        queued_on_error=queued_on_error,
        follow_up_ended=[m.request_id for m in dlq.messages[messages:]] == [follow_up.request_id],
    )


def assert_accepted_verbatim(sent: Sent, text: str) -> None:
    """The event was queued as *text* and reached the DLQ and the record unchanged."""
    event("accepted")
    assert sent.error is None, f"refused: {sent.error!r}"
    assert sent.dlq_bodies == [text]
    assert sent.record_payloads == [text]
    assert text.encode() in sent.record_bytes[0]
    assert sent.handler_events == [json.loads(text)]
    assert sent.follow_up_ended


def assert_refused(sent: Sent, kind: type[InvokeError], *fragments: str) -> None:
    """*kind* was raised with every fragment in its message, nothing queued, invoker fine."""
    event(f"refused: {kind.__name__}")
    assert isinstance(sent.error, kind), f"expected {kind.__name__}, got {sent.error!r}"
    for fragment in fragments:
        assert fragment in str(sent.error)
    assert sent.queued_on_error == (0, 0)
    assert sent.dlq_bodies == []
    assert sent.follow_up_ended


def too_large_message(size: int, limit: int) -> str:
    return f"{size} byte payload is too large for the Event invocation type (limit {limit} bytes)"


def run(payload: object, limit: int = LIMIT) -> Sent:
    return asyncio.run(send(payload, limit))


# -- Python values ----------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),  # NaN and the infinities included
    st.text(max_size=20),
    st.integers(4301, 4400).map(lambda digits: 10**digits),  # past int-to-str digit limit
)
odd_leaves = st.one_of(
    st.sets(st.integers(), max_size=2),
    st.binary(max_size=4),
    st.builds(object),
    st.complex_numbers(max_magnitude=10),
    st.decimals(),
)
#: Keys json.dumps converts (int, float, bool, None) and keys it refuses (tuple, bytes).
keys = st.one_of(
    st.text(max_size=5),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.none(),
    st.tuples(st.integers()),
    st.binary(max_size=3),
)
python_values = st.recursive(
    scalars | odd_leaves,
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(keys, children, max_size=4)
    ),
    max_leaves=12,
)
#: Long strings, ASCII or not (non-ASCII is written as \\u escapes, 6 bytes a character).
huge_strings = st.builds(
    str.__mul__, st.characters(), st.integers(min_value=LIMIT // 8, max_value=200_000)
)
#: A JSON string of exactly n bytes, for n around the limit.
around_the_limit = st.integers(LIMIT - 3, LIMIT + 3).map(lambda n: "x" * (n - 2))


def dumped(value: object) -> str | None:
    """json.dumps of *value* as the library's contract describes it, or None if refused."""
    try:
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return None


def check_python_value(value: object, limit: int) -> None:
    text = dumped(value)
    sent = run(value, limit)
    event("refused: not serialisable" if text is None else "serialisable")
    if text is None:
        assert_refused(sent, InvalidRequestContentError, "payload is not JSON-serialisable (")
    elif len(text) > limit:
        assert_refused(sent, RequestEntityTooLargeError, too_large_message(len(text), limit))
    else:
        assert_accepted_verbatim(sent, text)


#: Bytes at the top level are a JSON document, not a Python value: tested on their own below.
top_level_values = python_values.filter(lambda value: not isinstance(value, bytes))


@FUZZ
@given(value=top_level_values | huge_strings | around_the_limit)
@example(value=float("nan"))
@example(value={"x": float("-inf")})
@example(value={1: "a", "1": "b", None: [], 2.5: True})
@example(value={(1, 2): 3})
@example(value=10**5000)
@example(value="\ud800 lone surrogate")
@example(value="x" * (LIMIT - 2))
@example(value="x" * (LIMIT - 1))
def test_python_values_are_queued_as_json_dumps_text_or_refused_clearly(value):
    """A Python value is queued as its json.dumps text, or refused naming why; nothing else.

    Not serialisable (sets, bytes, NaN, tuple keys, ints past 4,300 digits...):
    InvalidRequestContentError. Serialised past the limit: RequestEntityTooLargeError with
    AWS's message. Otherwise the DLQ body and requestPayload are exactly the json.dumps text.
    """
    check_python_value(value, LIMIT)


def nested_list(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def nested_dict(depth: int) -> Any:
    value: Any = {}
    for _ in range(depth - 1):
        value = {"k": value}
    return value


depths = st.integers(*SHALLOW) | st.integers(*TOO_DEEP)


@settings(max_examples=60, deadline=None)
@given(depth=depths, shape=st.sampled_from([nested_list, nested_dict]))
def test_deeply_nested_python_values_are_accepted_or_refused_clearly(depth, shape):
    """Nesting 600 deep is queued as its json.dumps text; 10,000 deep and more is refused."""
    check_python_value(shape(depth), DEEP_LIMIT)
    if depth >= TOO_DEEP[0]:
        assert dumped(shape(depth)) is None


# -- bytes ------------------------------------------------------------------------------------

#: Values that are JSON, to write out as documents in many layouts.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=10,
)


@st.composite
def documents(draw: st.DrawFn) -> bytes:
    """A JSON document as a client might write it: any spacing, escaped or raw UTF-8."""
    value = draw(json_values)
    text = json.dumps(
        value,
        ensure_ascii=draw(st.booleans()),
        indent=draw(st.none() | st.integers(0, 3)),
        separators=draw(st.none() | st.sampled_from([(",", ":"), (", ", ": "), (" ,", " : ")])),
    )
    padding = st.text(alphabet=" \t\r\n", max_size=3)
    return (draw(padding) + text + draw(padding)).encode()


#: Bytes that are never valid anywhere in UTF-8, or continuation bytes with no lead byte.
invalid_utf8 = st.sampled_from(
    [b"\xff", b"\xfe", b"\xc0\xaf", b"\xf5", b"\x80", b"\xbf", b"\xed\xa0\x80"]
)


@st.composite
def non_utf8_documents(draw: st.DrawFn) -> bytes:
    """A valid document with an invalid UTF-8 sequence inserted somewhere."""
    doc = draw(documents())
    at = draw(st.integers(0, len(doc)))
    return doc[:at] + draw(invalid_utf8) + doc[at:]


@st.composite
def truncated_containers(draw: st.DrawFn) -> bytes:
    """An object or array cut short: never JSON (a bracket stays open or a string unclosed)."""
    value = draw(
        st.lists(json_values, min_size=1, max_size=3)
        | st.dictionaries(st.text(max_size=4), json_values, min_size=1, max_size=3)
    )
    text = json.dumps(value).encode()
    return text[: draw(st.integers(1, len(text) - 1))]


#: NaN and the infinities, which Python's parser accepts and JSON does not.
constants = st.sampled_from(["NaN", "Infinity", "-Infinity"])


@st.composite
def with_constants(draw: st.DrawFn) -> tuple[bytes, str]:
    token = draw(constants)
    template = draw(st.sampled_from(["{}", "[1, {}]", '{{"x": {}}}', '[[{}], "s"]']))
    return template.format(token).encode(), token


Binary = bytes | bytearray | memoryview
BINARY_KINDS: list[Callable[[bytes], Binary]] = [bytes, bytearray, memoryview]


def binary(draw: st.DrawFn, raw: bytes) -> Binary:
    """*raw* as bytes, bytearray or memoryview: all three are accepted the same way."""
    return draw(st.sampled_from(BINARY_KINDS))(raw)


@FUZZ
@given(raw=documents(), data=st.data())
@example(raw=b" {} ", data=None)
@example(raw=b'{"a": 1, "a": 2}', data=None)
@example(raw=b'"\\ud800"', data=None)
@example(raw=b'"' + b"x" * (LIMIT - 2) + b'"', data=None)
@example(raw=b'"' + b"x" * (LIMIT - 1) + b'"', data=None)
@example(raw=b"1" + b"0" * 5000, data=None)
def test_json_documents_as_bytes_are_kept_byte_for_byte_or_refused_for_size(raw, data):
    """A JSON document in bytes is queued byte for byte up to the limit; over it, 413.

    Spacing, escapes, raw UTF-8, duplicate keys and escaped lone surrogates are all kept as
    sent. A number past Python's 4,300-digit limit is refused as invalid content.
    """
    payload = raw if data is None else binary(data.draw, raw)
    sent = run(payload)
    if len(raw) > LIMIT:
        assert_refused(sent, RequestEntityTooLargeError, too_large_message(len(raw), LIMIT))
    elif raw.startswith(b"1" + b"0" * 4300):
        assert_refused(sent, InvalidRequestContentError, "Could not parse request body into json")
    else:
        assert_accepted_verbatim(sent, raw.decode())


@FUZZ
@given(raw=non_utf8_documents())
def test_bytes_that_are_not_utf8_are_refused_naming_utf8(raw):
    """Bytes that are not UTF-8 are refused as not UTF-8 (or over the limit: 413)."""
    sent = run(raw)
    if len(raw) > LIMIT:
        assert_refused(sent, RequestEntityTooLargeError, too_large_message(len(raw), LIMIT))
    else:
        assert_refused(sent, InvalidRequestContentError, "payload is not UTF-8")


@FUZZ
@given(raw=truncated_containers())
def test_truncated_documents_are_refused_as_invalid_json(raw):
    """A document cut short is refused: Could not parse request body into json."""
    sent = run(raw)
    if len(raw) > LIMIT:
        assert_refused(sent, RequestEntityTooLargeError, too_large_message(len(raw), LIMIT))
    else:
        assert_refused(sent, InvalidRequestContentError, "Could not parse request body into json")


@settings(max_examples=30, deadline=None)
@given(case=with_constants())
def test_nan_and_infinity_tokens_are_refused_naming_the_token(case):
    """NaN, Infinity and -Infinity in bytes are refused with the token named."""
    raw, token = case
    assert_refused(
        run(raw),
        InvalidRequestContentError,
        "Could not parse request body into json",
        f"{token} is not valid JSON",
    )


@settings(max_examples=60, deadline=None)
@given(depth=depths)
def test_deeply_nested_documents_are_accepted_or_refused_clearly(depth):
    """Arrays nested 600 deep are kept byte for byte; 10,000 deep and more are refused."""
    raw = b"[" * depth + b"]" * depth
    sent = asyncio.run(send(raw, DEEP_LIMIT))
    if depth <= SHALLOW[1]:
        assert_accepted_verbatim(sent, raw.decode())
    else:
        assert_refused(
            sent, InvalidRequestContentError, "Could not parse request body into json", "recursion"
        )


def is_strict_json(raw: bytes) -> bool:
    """Whether *raw* is a UTF-8 JSON document (no NaN or Infinity), per Python's parser."""

    def refuse(token: str) -> None:
        raise ValueError(token)

    try:
        json.loads(raw.decode(), parse_constant=refuse)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return False
    return True


@FUZZ
@given(raw=st.binary(max_size=LIMIT + 8))
@example(raw=b"")
@example(raw=b"\xef\xbb\xbf{}")  # a UTF-8 byte order mark
@example(raw=b'"\x00"')  # a raw control character in a string
def test_arbitrary_bytes_are_queued_verbatim_only_if_they_are_json(raw):
    """Any bytes: empty is {}; JSON up to the limit is kept verbatim; anything else refused."""
    sent = run(raw)
    if not raw:
        assert_accepted_verbatim(sent, "{}")
    elif len(raw) > LIMIT:
        assert_refused(sent, RequestEntityTooLargeError, too_large_message(len(raw), LIMIT))
    elif is_strict_json(raw):
        assert_accepted_verbatim(sent, raw.decode())
    else:
        assert_refused(sent, InvalidRequestContentError, "request body", "json")


async def test_a_deep_payload_accepted_from_another_thread_runs_or_fails_like_the_runtime(
    invoker_factory,
):
    """The deepest payload a thread can invoke either runs, or fails as the runtime would.

    The caller's thread and the worker parse at different stack depths. A document the worker
    cannot parse is a Runtime.UnmarshalError function error, retried like any other, as in
    Lambda's Python runtime; never an internal error, never lost.
    """
    ok, failed = InMemoryDestination(), InMemoryDestination()

    async def handler(event):
        return "ran"

    invoker: AsyncInvoker = invoker_factory(handler, on_success=ok, on_failure=failed)
    await invoker.start()

    def invoke_deepest() -> str:
        for depth in range(1_000, 0, -1):
            try:
                return invoker.invoke_nowait(b"[" * depth + b"]" * depth).request_id
            except InvalidRequestContentError:
                continue
        raise AssertionError("no depth accepted")

    request_id = await asyncio.to_thread(invoke_deepest)
    await invoker.join()
    (record,) = ok.records + failed.records
    assert record.request_id == request_id
    if record.is_success:
        assert record.response_payload == "ran"
    else:
        assert record.approximate_invoke_count == 3
        assert record.response_payload["errorType"] == "Runtime.UnmarshalError"
        assert record.response_payload["errorMessage"].startswith("Unable to unmarshal input: ")


# -- settings ---------------------------------------------------------------------------------

#: Values of every kind; the numbers stay within float range and the strings are text
#: (other types for the name settings, and integers past float range, are refused with
#: the wrong exception today: see the xfail tests below).
numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(-5, 25_000),
    st.floats(),
    st.timedeltas(),
)
others = st.one_of(
    st.none(),
    st.booleans(),
    st.decimals(),
    st.fractions(),
    st.complex_numbers(max_magnitude=10),
    st.text(max_size=10),
    st.binary(max_size=4),
    st.lists(st.integers(), max_size=2),
    st.builds(object),
    st.just(len),
)
names = st.one_of(
    st.text(max_size=70),
    st.text(alphabet=string.ascii_letters + string.digits + "-_$", min_size=1, max_size=70),
    st.sampled_from(
        ["$LATEST", "live", "7", "007", "us-east-1", "eu-west-3", "123456789012", "x" * 64]
    ),
)
receivers = st.one_of(others, numbers, st.just(lambda record: None), st.builds(InMemoryDestination))

NUMERIC = [
    "maximum_retry_attempts",
    "maximum_event_age_in_seconds",
    "timeout",
    "memory_size",
    "reserved_concurrency",
    "payload_limit",
    "delivery_timeout",
    "drain_timeout",
]
NAMED = ["function_name", "qualifier", "region", "account_id", "throttling", "recursive_loop"]
RECEIVERS = ["on_success", "on_failure", "dead_letter_queue"]
STRATEGY: dict[str, st.SearchStrategy[Any]] = {
    **dict.fromkeys(NUMERIC, numbers | others),
    **dict.fromkeys(NAMED, names),
    **dict.fromkeys(RECEIVERS, receivers),
}


async def runs_one_event(invoker: AsyncInvoker) -> bool:
    """Whether *invoker* takes one event and ends it (b"0" fits any payload limit)."""
    async with invoker:
        await invoker.invoke(b"0")
        await invoker.join(timeout=100_000)
        return invoker.pending == 0 and invoker.metrics().async_events_received == 1


def build(setting: str, value: Any, aws_limits: bool) -> AsyncInvoker:
    options: dict[str, Any] = {setting: value, "aws_limits": aws_limits}
    if setting == "qualifier" and value not in ("$LATEST",) and not str(value).isdigit():
        options["executed_version"] = "3"  # an alias needs the version it resolves to
    return AsyncInvoker(lambda event: event, clock=VirtualClock(), **options)


def check_setting(setting: str, value: Any, aws_limits: bool) -> None:
    refusal: Exception | None = None
    try:
        invoker = build(setting, value, aws_limits)
    except (ConfigurationError, TypeError) as e:
        refusal = e
    if isinstance(refusal, ConfigurationError):
        event("refused: ConfigurationError")
        assert setting in str(refusal)
    elif refusal is not None:
        event("refused: TypeError")
        assert setting in RECEIVERS, f"{setting}={value!r}: {refusal!r}"
        assert f"{setting}=" in str(refusal)
    else:
        event("built")
        assert asyncio.run(runs_one_event(invoker))


@pytest.mark.parametrize("setting", [*NUMERIC, *NAMED, *RECEIVERS])
@settings(max_examples=100, deadline=None)
@given(data=st.data(), aws_limits=st.booleans())
def test_a_fuzzed_setting_builds_a_working_invoker_or_is_refused_naming_it(
    setting, data, aws_limits
):
    """Any value for a setting builds an invoker that ends an event, or is refused by name.

    Refusals are ConfigurationError with the setting in the message; for on_success,
    on_failure and dead_letter_queue, a TypeError naming the role. Never anything else.
    """
    check_setting(setting, data.draw(STRATEGY[setting], label=setting), aws_limits)


@pytest.mark.parametrize("setting", NAMED)
def test_a_name_setting_of_another_type_is_refused_naming_it(setting):
    """function_name, qualifier, region or account_id that is not a str: ConfigurationError."""
    with pytest.raises(ConfigurationError, match=setting):
        build(setting, 123, aws_limits=True)


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("maximum_retry_attempts", 10**400),
        ("maximum_event_age_in_seconds", 10**400),
        ("timeout", 10**400),
        ("memory_size", 10**400),
        ("reserved_concurrency", -(10**400)),
    ],
    ids=lambda v: v if isinstance(v, str) else "10**400",
)
def test_an_integer_too_large_for_a_float_is_refused_naming_the_setting(setting, value):
    """An integer past float range is refused with a ConfigurationError naming the setting."""
    with pytest.raises(ConfigurationError, match=setting):
        build(setting, value, aws_limits=True)


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("timeout", float("nan")),
        ("maximum_event_age_in_seconds", float("nan")),
        ("delivery_timeout", float("nan")),
        ("delivery_timeout", -5),
        ("drain_timeout", float("nan")),
        ("drain_timeout", -1),
    ],
)
def test_a_duration_that_is_nan_or_negative_is_refused(setting, value):
    """NaN or negative durations are nonsense: refused, even with aws_limits=False."""
    with pytest.raises(ConfigurationError, match=setting):
        build(setting, value, aws_limits=False)


def test_fuzzed_settings_cover_every_setting_of_the_constructor():
    """Every keyword of AsyncInvoker is fuzzed above, except seven that are not plain values.

    executed_version is checked with qualifier; retry_wait, clock, metrics_hooks and queue
    take code; aws_limits and lambda_logs are flags. A new setting fails this until it is
    listed.
    """
    fuzzed = {*NUMERIC, *NAMED, *RECEIVERS}
    not_fuzzed = {
        "executed_version",
        "retry_wait",
        "clock",
        "aws_limits",
        "metrics_hooks",
        "lambda_logs",
        "queue",
    }
    parameters = set(inspect.signature(AsyncInvoker).parameters) - {"handler"}
    assert parameters == fuzzed | not_fuzzed
