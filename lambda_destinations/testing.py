"""Tools for testing handlers and destination flows: virtual time, fast and exact.

``VirtualClock`` runs AWS's real retry schedule (attempts at +0 s, +60 s, +180 s) and a
six-hour maximum event age in milliseconds of wall time::

    clock = VirtualClock()
    async with AsyncInvoker(handler, clock=clock, on_failure=failed) as invoker:
        await invoker.invoke({"Success": False})
    assert clock.elapsed == 180

``record_shape()`` and ``assert_record()`` compare records with AWS's shape while ignoring what
changes from run to run (request ids, timestamps, and by default stack traces).
``override_invoker()`` puts a function decorated with ``@async_invoke`` on a test's clock and
destinations for the length of a ``with`` block.
"""

from __future__ import annotations

import contextlib
import difflib
import json
from collections.abc import Iterator, Mapping
from typing import Any, Final

from ._clock import Clock, SystemClock
from ._context import LambdaContext
from ._decorator import AsyncFunction, check_options
from ._identity import DEFAULT_ACCOUNT_ID, DEFAULT_REGION, FunctionIdentity
from ._invoker import AsyncInvoker
from ._records import ExecutionRecord
from ._responses import new_request_id
from ._virtual_clock import VirtualClock

__all__ = [
    "REQUEST_ID",
    "STACK_TRACE",
    "TIMESTAMP",
    "VirtualClock",
    "assert_record",
    "lambda_context",
    "override_invoker",
    "record_shape",
]

#: What `record_shape` puts where a record holds its request id.
REQUEST_ID: Final = "<request-id>"
#: What `record_shape` puts for the record's timestamp.
TIMESTAMP: Final = "<timestamp>"
#: What `record_shape` puts for a stack trace (unless asked to keep it).
STACK_TRACE: Final = "<stack-trace>"


def lambda_context(
    *,
    function_name: str = "function",
    request_id: str | None = None,
    timeout: float = 3,
    memory_size: int = 128,
    qualifier: str = "$LATEST",
    executed_version: str | None = None,
    region: str = DEFAULT_REGION,
    account_id: str = DEFAULT_ACCOUNT_ID,
    clock: Clock | None = None,
) -> LambdaContext:
    """A context like the invoker gives a handler, to call a handler directly in a test.

    Its remaining time counts down from *timeout* on *clock* (default: real time), starting now.
    """
    identity = FunctionIdentity.build(
        function_name, qualifier, executed_version, region, account_id
    )
    clock = SystemClock() if clock is None else clock
    return LambdaContext(
        function_name=identity.function_name,
        function_version=identity.executed_version,
        invoked_function_arn=identity.invoked_function_arn,
        memory_limit_in_mb=str(memory_size),
        aws_request_id=new_request_id() if request_id is None else request_id,
        log_group_name=f"/aws/lambda/{identity.function_name}",
        log_stream_name=f"{clock.now():%Y/%m/%d}/[{identity.executed_version}]{'0' * 32}",
        deadline=clock.monotonic() + timeout,
        clock=clock,
    )


def record_shape(record: ExecutionRecord | Mapping[str, Any], *, stack_trace: bool = False) -> Any:
    """The record's AWS JSON value with request ids, the timestamp and stack traces replaced.

    Every occurrence of the request id, also inside error messages such as
    ``RequestId: ... Error: Task timed out``, becomes `REQUEST_ID`; the timestamp becomes
    `TIMESTAMP`; ``stackTrace`` becomes `STACK_TRACE` unless *stack_trace* is true.
    """
    data = record.to_dict() if isinstance(record, ExecutionRecord) else dict(record)
    request_id = data["requestContext"]["requestId"]
    text = json.dumps(data).replace(json.dumps(request_id)[1:-1], REQUEST_ID)
    shaped = json.loads(text)
    shaped["timestamp"] = TIMESTAMP
    payload = shaped.get("responsePayload")
    if not stack_trace and isinstance(payload, dict) and "stackTrace" in payload:
        payload["stackTrace"] = STACK_TRACE
    return shaped


def _same_in_order(actual: Any, expected: Any) -> bool:
    # Equal values with keys in the same order at every depth, as AWS's bytes would be.
    if isinstance(actual, dict) and isinstance(expected, Mapping):
        return list(actual) == list(expected) and all(
            _same_in_order(actual[k], expected[k]) for k in actual
        )
    if isinstance(actual, list) and isinstance(expected, list):
        return len(actual) == len(expected) and all(map(_same_in_order, actual, expected))
    return bool(expected == actual)


def assert_record(
    record: ExecutionRecord | Mapping[str, Any],
    expected: Mapping[str, Any],
    *,
    stack_trace: bool = False,
) -> None:
    """Assert that *record* has exactly the AWS shape *expected*, volatile fields aside.

    Write *expected* as AWS's JSON with `REQUEST_ID`, `TIMESTAMP` and `STACK_TRACE` in place
    of the volatile values (``unittest.mock.ANY`` works anywhere too). Key order counts, as it
    does in AWS's bytes. On a mismatch the error shows a line diff.
    """
    actual = record_shape(record, stack_trace=stack_trace)
    if _same_in_order(actual, expected):
        return
    want = json.dumps(expected, indent=2, default=repr).splitlines()
    got = json.dumps(actual, indent=2).splitlines()
    diff = "\n".join(difflib.unified_diff(want, got, "expected", "actual", lineterm=""))
    msg = f"record differs from the expected AWS shape:\n{diff}"
    raise AssertionError(msg)


@contextlib.contextmanager
def override_invoker(
    function: AsyncFunction[..., Any], /, **overrides: Any
) -> Iterator[AsyncInvoker]:
    """Run *function*'s events on a new invoker inside the block; put the original back after.

    *function* is decorated with ``@async_invoke`` (at import time, say, with the application's
    destinations and the real clock). The new invoker takes the options it was decorated with,
    updated with *overrides*: ``clock=VirtualClock()``, ``on_failure=InMemoryDestination()``,
    and any other `AsyncInvoker` option. ``function.invoke()``, ``.join()`` and ``.aclose()``
    use it until the block ends. The block does not close it: join it inside the block. (The
    pytest fixture of the same name also closes it, and uses the test's virtual clock.)
    """
    check_options(overrides, "override_invoker()")
    invoker = AsyncInvoker(function.__wrapped__, **{**function.options, **overrides})
    with _swapped_invoker(function, invoker):
        yield invoker


@contextlib.contextmanager
def _swapped_invoker(function: AsyncFunction[..., Any], invoker: AsyncInvoker) -> Iterator[None]:
    """Make *invoker* the one *function* uses until the block ends; the pytest plugin uses it."""
    original = function.invoker
    function.invoker = invoker
    try:
        yield
    finally:
        function.invoker = original
