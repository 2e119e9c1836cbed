"""Handlers run as Lambda's Python runtime runs them: call styles, results, error objects."""

from __future__ import annotations

import asyncio
import contextvars
import decimal
import linecache
import os
import re
import threading

import pytest
from lambda_destinations import (
    AsyncInvoker,
    Condition,
    ConfigurationError,
    ConfigurationTypeError,
    InMemoryDestination,
    LambdaContext,
)

from . import handlers
from .scripts import run_script


async def run_once(invoker_factory, handler, payload=None, **options):
    from lambda_destinations import InMemoryDestination

    ok, failed = InMemoryDestination(), InMemoryDestination()
    options.setdefault("maximum_retry_attempts", 0)
    invoker = invoker_factory(handler, on_success=ok, on_failure=failed, **options)
    await invoker.invoke({} if payload is None else payload)
    await invoker.join()
    (record,) = ok.records + failed.records
    return record


async def test_exception_becomes_the_runtime_error_object(invoker_factory):
    """An exception gives errorMessage, errorType, requestId, stackTrace in that order."""
    record = await run_once(invoker_factory, handlers.raise_value_error)
    payload = record.response_payload
    assert list(payload) == ["errorMessage", "errorType", "requestId", "stackTrace"]
    assert payload["errorMessage"] == "Failure from event, Success = false, I am failing!"
    assert payload["errorType"] == "ValueError"
    assert payload["requestId"] == record.request_id
    assert record.to_dict()["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }


async def test_stack_trace_holds_only_the_handlers_frames(invoker_factory):
    """StackTrace is traceback.format_list of the handler's frames, none of the library's."""
    record = await run_once(invoker_factory, handlers.raise_value_error)
    trace = record.response_payload["stackTrace"]
    assert len(trace) == 2
    assert re.fullmatch(
        r'  File ".*tests/handlers\.py", line \d+, in raise_value_error\n    helper\(event\)\n',
        trace[0],
    )
    assert "in helper\n    raise ValueError(" in trace[1]
    assert not any("lambda_destinations" in frame for frame in trace)


_SITE_PACKAGES_HANDLER = """\
def handler(event, context):
    check(event)


def check(event):
    raise RuntimeError("refused: " + event["order"])


async def async_handler(event, context):
    check(event)
"""


@pytest.mark.parametrize(("name", "line"), [("handler", 2), ("async_handler", 10)])
async def test_a_handler_in_the_interpreters_own_site_packages_keeps_its_frames(
    invoker_factory, monkeypatch, name, line
):
    """A handler under the standard library's folder keeps its frames in the stack trace.

    Docker's Python images install packages in site-packages beside the standard library
    (/usr/local/lib/python3.X/site-packages); only this library's leading frames are dropped.
    """
    path = os.path.join(os.path.dirname(contextvars.__file__), "site-packages", "shop", "orders.py")
    source_lines = _SITE_PACKAGES_HANDLER.splitlines(keepends=True)
    # The file does not exist: linecache serves its source, as it would from the real file.
    monkeypatch.setitem(linecache.cache, path, (0, None, source_lines, path))
    namespace: dict[str, object] = {}
    exec(compile(_SITE_PACKAGES_HANDLER, path, "exec"), namespace)
    record = await run_once(invoker_factory, namespace[name], {"order": "o-1"})
    assert record.response_payload["stackTrace"] == [
        f'  File "{path}", line {line}, in {name}\n    check(event)\n',
        f'  File "{path}", line 6, in check\n    raise RuntimeError("refused: " + event["order"])\n',
    ]


async def test_async_handler_errors_have_the_same_shape(invoker_factory):
    """An async handler's exception gives the same error object with its own frames."""
    record = await run_once(invoker_factory, handlers.async_raise)
    payload = record.response_payload
    assert (payload["errorType"], payload["errorMessage"]) == ("TypeError", "async failure")
    assert len(payload["stackTrace"]) == 1
    assert "in async_raise" in payload["stackTrace"][0]


async def test_error_object_uses_pythons_default_json_separators(invoker_factory):
    """The runtime serialises its error object with ', ' and ': ' and the record keeps that text."""
    record = await run_once(invoker_factory, handlers.raise_value_error)
    assert record.response_payload_json.startswith('{"errorMessage": "Failure from event')
    assert b'"responsePayload":{"errorMessage": "Failure' in record.to_json()


async def test_async_handler_timeout_is_sandbox_timedout(invoker_factory, virtual_clock):
    """A handler running past its timeout ends with Sandbox.Timedout after exactly the timeout."""
    record = await run_once(invoker_factory, handlers.sleep_async, {"seconds": 10}, timeout=3)
    assert record.response_payload == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {record.request_id} Error: Task timed out after 3.00 seconds",
    }
    assert virtual_clock.elapsed == 3


async def test_timeouts_are_retried_like_any_function_error(invoker_factory, virtual_clock):
    """A timeout is a function error: retried at +60 s and +120 s more."""
    record = await run_once(
        invoker_factory, handlers.sleep_async, {"seconds": 10}, timeout=1, maximum_retry_attempts=2
    )
    assert (record.condition, record.approximate_invoke_count) == (Condition.RETRIES_EXHAUSTED, 3)
    assert virtual_clock.elapsed == 1 + 60 + 1 + 120 + 1


async def test_sync_handler_timeout_fires_while_it_blocks_a_thread(invoker_factory):
    """A sync handler that blocks past its timeout still gets Sandbox.Timedout."""
    record = await run_once(
        invoker_factory, handlers.sleep_forever_sync, {"seconds": 1.5}, timeout=1
    )
    assert record.response_payload["errorType"] == "Sandbox.Timedout"
    assert record.response_payload["errorMessage"].endswith("Task timed out after 1.00 seconds")


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (None, "Runtime exited without providing a reason"),
        (0, "Runtime exited without providing a reason"),
        (3, "Runtime exited with error: exit status 3"),
        ("bye", "Runtime exited with error: exit status 1"),
    ],
)
async def test_sys_exit_is_runtime_exit_error(invoker_factory, code, reason):
    """sys.exit in a handler gives Runtime.ExitError and never stops the invoker."""
    record = await run_once(invoker_factory, handlers.exit_handler, {"code": code})
    assert record.response_payload == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {record.request_id} Error: {reason}",
    }


async def test_async_sys_exit_is_caught_too(invoker_factory):
    """SystemExit from an async handler is a function error, not the end of the process."""

    async def leave(event):
        raise SystemExit(2)

    record = await run_once(invoker_factory, leave)
    assert record.response_payload["errorType"] == "Runtime.ExitError"


async def test_unserialisable_result_is_a_marshal_error(invoker_factory):
    """A non-JSON return value is a Runtime.MarshalError function error."""
    record = await run_once(invoker_factory, lambda event: {1, 2})
    assert record.condition is Condition.RETRIES_EXHAUSTED
    payload = record.response_payload
    assert payload["errorType"] == "Runtime.MarshalError"
    assert (
        payload["errorMessage"]
        == "Unable to marshal response: Object of type set is not JSON serializable"
    )
    assert payload["stackTrace"] == []


async def test_non_finite_float_result_is_a_marshal_error(invoker_factory):
    """NaN cannot be sent as JSON: Runtime.MarshalError."""
    record = await run_once(invoker_factory, lambda event: float("nan"))
    assert record.response_payload["errorType"] == "Runtime.MarshalError"


async def test_decimal_results_are_marshalled_as_their_exact_text(invoker_factory):
    """Decimals (DynamoDB's numbers) marshal as JSON numbers written exactly, as in the runtime."""
    record = await run_once(
        invoker_factory,
        lambda event: {"price": decimal.Decimal("1.50"), "n": [decimal.Decimal("7")]},
    )
    assert record.response_payload_json == '{"price": 1.50, "n": [7]}'
    assert record.response_payload == {"price": 1.5, "n": [7]}


async def test_decimal_nan_is_a_marshal_error(invoker_factory):
    """A NaN Decimal cannot be sent as JSON: Runtime.MarshalError."""
    record = await run_once(invoker_factory, lambda event: [decimal.Decimal("NaN")])
    assert record.response_payload["errorType"] == "Runtime.MarshalError"


async def test_unawaited_coroutine_result_is_a_marshal_error(invoker_factory):
    """A sync handler returning a coroutine gets a MarshalError and no 'never awaited' warning."""

    async def inner():
        return 1

    record = await run_once(invoker_factory, lambda event: inner())
    assert record.response_payload["errorType"] == "Runtime.MarshalError"
    assert "coroutine" in record.response_payload["errorMessage"]


async def test_none_result_is_json_null(invoker_factory):
    """A handler returning None gives responsePayload null."""
    record = await run_once(invoker_factory, lambda event: None)
    assert record.to_dict()["responsePayload"] is None
    assert record.condition is Condition.SUCCESS


@pytest.mark.parametrize(
    "kind", ["sync2", "sync1", "async2", "async1", "object", "async_object", "varargs"]
)
async def test_every_call_style_runs(invoker_factory, kind):
    """Sync or async, (event, context) or (event), functions or callable objects all run."""

    class Obj:
        def __call__(self, event, context):
            return ["object", context.aws_request_id == record_id[0]]

    class AsyncObj:
        async def __call__(self, event):
            return "async_object"

    async def async2(event, context):
        return ["async2", isinstance(context, LambdaContext)]

    async def async1(event):
        return "async1"

    handlers_by_kind = {
        "sync2": lambda event, context: ["sync2", isinstance(context, LambdaContext)],
        "sync1": lambda event: "sync1",
        "async2": async2,
        "async1": async1,
        "object": Obj(),
        "async_object": AsyncObj(),
        "varargs": lambda *args: len(args),
    }
    record_id: list[str] = [""]
    from lambda_destinations import InMemoryDestination

    ok = InMemoryDestination()
    invoker = invoker_factory(handlers_by_kind[kind], on_success=ok)
    record_id[0] = (await invoker.invoke({})).request_id
    await invoker.join()
    expected = {
        "sync2": ["sync2", True],
        "sync1": "sync1",
        "async2": ["async2", True],
        "async1": "async1",
        "object": ["object", True],
        "async_object": "async_object",
        "varargs": 2,
    }[kind]
    assert ok.records[0].response_payload == expected


async def test_sync_handlers_run_off_the_event_loop(invoker_factory):
    """A sync handler runs in a worker thread, never on the loop's thread."""
    threads = []
    await run_once(invoker_factory, lambda event: threads.append(threading.current_thread()))
    assert threads
    assert threads[0] is not threading.main_thread()


async def test_context_has_every_runtime_attribute(invoker_factory):
    """The context carries every attribute of the Python runtime's context object."""
    seen: dict[str, object] = {}

    def handler(event, context):
        seen.update(
            function_name=context.function_name,
            function_version=context.function_version,
            invoked_function_arn=context.invoked_function_arn,
            memory_limit_in_mb=context.memory_limit_in_mb,
            aws_request_id=context.aws_request_id,
            log_group_name=context.log_group_name,
            log_stream_name=context.log_stream_name,
            identity=(
                context.identity.cognito_identity_id,
                context.identity.cognito_identity_pool_id,
            ),
            w3c=context.w3c(),
            client_context=context.client_context,
            tenant_id=context.tenant_id,
            remaining=context.get_remaining_time_in_millis(),
        )

    record = await run_once(
        invoker_factory, handler, function_name="orders", memory_size=512, timeout=30
    )
    stream = str(seen.pop("log_stream_name"))
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", stream)
    assert seen == {
        "function_name": "orders",
        "function_version": "$LATEST",
        "invoked_function_arn": "arn:aws:lambda:us-east-1:123456789012:function:orders",
        "memory_limit_in_mb": "512",
        "aws_request_id": record.request_id,
        "log_group_name": "/aws/lambda/orders",
        "identity": (None, None),
        "w3c": {},
        "client_context": None,
        "tenant_id": None,
        "remaining": 30_000,
    }


async def test_remaining_time_follows_the_virtual_clock(invoker_factory):
    """get_remaining_time_in_millis() counts down with the invoker's clock."""
    record = await run_once(invoker_factory, handlers.sleep_async, {"seconds": 1.25}, timeout=3)
    assert record.response_payload == 1750


def test_handler_that_is_not_callable_is_refused():
    """A non-callable handler raises ConfigurationTypeError (a TypeError) naming it."""
    with pytest.raises(ConfigurationTypeError, match="handler must be callable, got int 5"):
        AsyncInvoker(5)  # type: ignore[arg-type]


def test_handler_named_by_a_string_says_to_pass_the_function_or_use_the_cli():
    """A Lambda-style "module.function" string: pass the function, or run it by name."""
    with pytest.raises(ConfigurationTypeError) as info:
        AsyncInvoker("handler.main")  # type: ignore[arg-type]
    message = str(info.value)
    assert message.startswith("handler must be callable, got str 'handler.main': ")
    assert "pass the function itself" in message
    assert message.endswith("lambda-destinations invoke handler.main")


def test_handler_without_arguments_is_refused():
    """A handler that cannot take the event is refused at construction."""
    with pytest.raises(ConfigurationError, match="takes no positional argument"):
        AsyncInvoker(lambda: None)


def _three(event, context, order):
    return order


class _ThreeArgs:
    def __call__(self, event, context, order):
        return order


def _three_and_more(event, context, order, *rest):
    return order


def _keyword(event, context, *, order):
    return order


async def _three_async(event, context, order):
    return order


@pytest.mark.parametrize(
    ("handler", "problem"),
    [
        (_three, "requires 3 positional arguments"),
        (_three_and_more, "requires 3 positional arguments"),
        (_three_async, "requires 3 positional arguments"),
        (lambda a, b, c, d: None, "requires 4 positional arguments"),
        (_keyword, "requires the keyword argument 'order'"),
    ],
)
def test_handler_needing_arguments_lambda_never_passes_is_refused(handler, problem):
    """A handler needing more than (event, context) would fail every attempt: refused at once."""
    with pytest.raises(ConfigurationTypeError, match=re.escape(problem)):
        AsyncInvoker(handler)


@pytest.mark.parametrize(
    ("handler", "name"),
    [
        (_three, "tests.test_runtime._three"),
        (lambda a, b, c: None, "tests.test_runtime.<lambda>"),
        (_ThreeArgs().__call__, "tests.test_runtime._ThreeArgs.__call__"),
        (_ThreeArgs(), "tests.test_runtime._ThreeArgs instance"),
    ],
    ids=["function", "lambda", "method", "callable-object"],
)
def test_a_refused_handler_is_named_by_its_qualified_name_not_its_repr(handler, name):
    """The message names module.qualname, as the code reads; no memory address."""
    with pytest.raises(ConfigurationTypeError) as info:
        AsyncInvoker(handler)
    assert str(info.value).startswith(f"handler {name} requires 3 positional arguments")
    assert " at 0x" not in str(info.value)


@pytest.mark.parametrize(
    "handler",
    [
        lambda event, context, order="o-1": order,
        lambda event, context=None, *rest: "ran",
        lambda event, *rest, order="o-1": order,
        lambda *args, **kwargs: "ran",
    ],
    ids=["default", "default-and-varargs", "varargs-and-keyword-default", "varargs-only"],
)
async def test_handler_with_defaults_or_varargs_for_the_rest_runs(invoker_factory, handler):
    """Extra parameters with defaults, or *args, are fine: Lambda's two arguments fill them."""
    record = await run_once(invoker_factory, handler)
    assert record.condition is Condition.SUCCESS


_scope: contextvars.ContextVar[str] = contextvars.ContextVar("scope", default="unset")


async def test_a_sync_handler_runs_in_a_fresh_copy_of_the_callers_context_at_each_attempt(
    invoker_factory,
):
    """A sync handler sees the caller's context variables; what it sets is gone next attempt.

    Every attempt, retries included, starts from a copy of the context of the code whose
    invoke() started the worker, as each Lambda invocation starts without the last one's
    request-scoped state; the caller's own context never changes.
    """
    seen = []

    def handler(event):
        seen.append(_scope.get())
        _scope.set(f"set by event {event['n']}")
        raise RuntimeError("fail, to be retried")

    token = _scope.set("set by the caller")
    try:
        # One slot, so one thread runs every attempt: a context left on it would show.
        invoker = invoker_factory(handler, reserved_concurrency=1, maximum_retry_attempts=2)
        await invoker.invoke({"n": 1})
        await invoker.invoke({"n": 2})
        await invoker.join()
        assert _scope.get() == "set by the caller"
    finally:
        _scope.reset(token)
    assert seen == ["set by the caller"] * 6


async def test_context_variables_an_async_handler_sets_stay_in_its_worker(invoker_factory):
    """An async handler runs in its worker's task: the next event on that worker sees its vars.

    Like module state in a warm Lambda sandbox; the invoking code never sees them.
    """
    seen = []

    async def handler(event):
        seen.append(_scope.get())
        _scope.set(f"set by event {event['n']}")

    invoker = invoker_factory(handler, reserved_concurrency=1)
    await invoker.invoke({"n": 1})
    await invoker.invoke({"n": 2})
    await invoker.join()
    assert seen == ["unset", "set by event 1"]
    assert _scope.get() == "unset"


async def test_handler_cancelling_itself_is_a_function_error(invoker_factory):
    """A CancelledError raised by the handler itself is a function error, not a shutdown."""

    async def cancel(event):
        raise asyncio.CancelledError

    record = await run_once(invoker_factory, cancel)
    assert record.response_payload["errorType"] == "CancelledError"


async def test_handler_swallowing_the_timeout_is_still_timed_out(invoker_factory, virtual_clock):
    """A handler that catches the cancellation and returns late still ends as Sandbox.Timedout."""

    async def stubborn(event):
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            await asyncio.sleep(1)
        return "late"

    record = await run_once(invoker_factory, stubborn, timeout=2)
    assert record.response_payload["errorType"] == "Sandbox.Timedout"
    assert virtual_clock.elapsed == 3


async def test_many_timeouts_and_successes_interleave_on_shared_workers(invoker_factory):
    """Timed-out attempts never disturb later attempts on the same worker."""
    from lambda_destinations import InMemoryDestination

    ok, failed = InMemoryDestination(), InMemoryDestination()

    async def handler(event):
        await asyncio.sleep(event["sleep"])
        return event["sleep"]

    invoker = invoker_factory(
        handler,
        timeout=2,
        maximum_retry_attempts=0,
        reserved_concurrency=2,
        on_success=ok,
        on_failure=failed,
    )
    for i in range(20):
        await invoker.invoke({"sleep": 3 if i % 3 == 0 else 1})
    await invoker.join()
    assert len(ok.records) == 13
    assert len(failed.records) == 7
    assert all(r.response_payload["errorType"] == "Sandbox.Timedout" for r in failed.records)


@pytest.mark.parametrize("error", [StopIteration("done"), GeneratorExit()])
async def test_sync_handler_raising_generator_signals_is_a_function_error(invoker_factory, error):
    """StopIteration or GeneratorExit from a sync handler is its error object, nothing else."""

    def handler(event):
        raise error

    record = await run_once(invoker_factory, handler)
    assert record.response_payload["errorType"] == type(error).__name__
    assert record.condition is Condition.RETRIES_EXHAUSTED


def test_a_handler_thread_stuck_after_its_timeout_does_not_hold_up_exit(tmp_path):
    """A sync handler blocked for good after its timeout never keeps the interpreter alive."""
    result = run_script(
        tmp_path,
        """
        import asyncio, threading
        from lambda_destinations import AsyncInvoker

        def stuck(event, context):
            threading.Event().wait()

        async def main():
            async with AsyncInvoker(stuck, timeout=1, maximum_retry_attempts=0) as invoker:
                await invoker.invoke({})
            print("closed")

        asyncio.run(main())
        """,
    )
    assert (result.returncode, result.stdout.strip()) == (0, "closed"), result.stderr


async def test_exception_with_a_broken_str_still_gives_an_error_object(invoker_factory):
    """An exception whose __str__ raises is still the handler's error, retried as usual."""

    class Weird(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no str for you")

    def handler(event):
        raise Weird

    record = await run_once(invoker_factory, handler)
    assert record.response_payload["errorType"] == "Weird"
    assert record.response_payload["errorMessage"] == "<exception str() failed: Weird>"


async def test_context_log_writes_to_standard_output(invoker_factory, capsys):
    """context.log() writes the message to stdout, as the runtime's does."""

    def handler(event, context):
        context.log("hello from the handler\n")

    await run_once(invoker_factory, handler)
    assert "hello from the handler\n" in capsys.readouterr().out


# -- asyncio's own tools inside handlers -------------------------------------------------------


async def test_a_handler_may_use_asyncio_timeout(invoker_factory, in_memory_destination):
    """asyncio.timeout inside a handler times out the handler's own await, nothing else."""

    async def handler(event):
        try:
            async with asyncio.timeout(0.5):
                await asyncio.sleep(1)
        except TimeoutError:
            return "fallback"
        return "fast"

    invoker = invoker_factory(handler, reserved_concurrency=1, on_success=in_memory_destination)
    await invoker.invoke({})
    await invoker.invoke({})
    await invoker.join(timeout=60)
    assert [r.response_payload for r in in_memory_destination.records] == ["fallback"] * 2


async def test_a_handler_may_use_a_task_group(invoker_factory, in_memory_destination):
    """A TaskGroup whose child fails gives the handler's ExceptionGroup as a function error."""

    async def child(n: int) -> None:
        await asyncio.sleep(n)
        raise ValueError(f"child {n}")

    async def handler(event):
        async with asyncio.TaskGroup() as group:
            group.create_task(child(1))
            group.create_task(asyncio.sleep(5))

    failed = InMemoryDestination()
    invoker = invoker_factory(
        handler, reserved_concurrency=1, maximum_retry_attempts=0, on_failure=failed
    )
    await invoker.invoke({})
    await invoker.invoke({})
    await invoker.join(timeout=60)
    assert [r.response_payload["errorType"] for r in failed.records] == ["ExceptionGroup"] * 2
