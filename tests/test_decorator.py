"""@async_invoke: application functions gain Lambda's asynchronous invocation."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, assert_type

import pytest
from lambda_destinations import (
    AsyncFunction,
    AsyncInvoker,
    InMemoryDestination,
    InvokerClosedError,
    async_invoke,
)
from lambda_destinations.testing import VirtualClock

received = InMemoryDestination()


@async_invoke(function_name="send_email", on_success=received, clock=VirtualClock())
def send_email(event: dict[str, str], context: object = None) -> str:
    """Pretend to send an email."""
    return f"sent to {event['to']}"


@async_invoke
async def bare(event: dict[str, int]) -> int:
    return event["n"] * 2


def test_decorated_function_can_still_be_called_directly():
    """Calling the function runs it synchronously, bypassing the queue."""
    assert send_email({"to": "a@example.com"}) == "sent to a@example.com"


def test_decorated_function_keeps_its_metadata():
    """The wrapper keeps name, docstring and exposes its invoker."""
    assert send_email.__name__ == "send_email"
    assert send_email.__doc__ == "Pretend to send an email."
    assert isinstance(send_email, AsyncFunction)
    assert isinstance(send_email.invoker, AsyncInvoker)
    assert send_email.invoker.function_name == "send_email"


async def test_invoke_queues_through_the_invoker():
    """fn.invoke(event) answers 202 and the record reaches the configured destination."""
    received.clear()
    response = await send_email.invoke({"to": "b@example.com"})
    assert response.status_code == 202
    await send_email.join()
    assert received.records[0].response_payload == "sent to b@example.com"
    assert received.records[0].request_id == response.request_id


async def test_bare_decorator_uses_defaults():
    """@async_invoke without arguments uses the function's name and AWS defaults."""
    assert bare.invoker.function_arn.endswith(":function:bare:$LATEST")
    assert await bare({"n": 2}) == 4
    await bare.invoke({"n": 1})
    await bare.join()
    assert bare.invoker.metrics().invocations == 1


def test_a_decorated_function_is_joined_and_closed_from_sync_code():
    """join_sync() and close() wait for a decorated function's events from code with no loop."""
    done = InMemoryDestination()

    @async_invoke(on_success=done)
    def double(event):
        return event["n"] * 2

    for n in range(3):
        double.invoke({"n": n})
    double.join_sync(timeout=30)
    assert sorted(r.response_payload for r in done.records) == [0, 2, 4]
    assert double.close() == ()
    with pytest.raises(InvokerClosedError):
        double.invoke({})


def test_type_checkers_see_the_wrapped_signature():
    """Mypy (run by make test) sees the original parameters and return type through ParamSpec."""
    result = send_email({"to": "c@example.com"})
    assert_type(result, str)
    pending = assert_type(bare({"n": 3}), Coroutine[Any, Any, int])
    pending.close()
