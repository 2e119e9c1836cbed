"""@async_invoke: application functions gain Lambda's asynchronous invocation."""

from __future__ import annotations

import re
from collections.abc import Coroutine
from typing import Any, assert_type

import pytest
from lambda_destinations import (
    AsyncFunction,
    AsyncInvoker,
    ConfigurationTypeError,
    InMemoryDestination,
    InvokerClosedError,
    async_invoke,
)
from lambda_destinations.testing import VirtualClock, override_invoker

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


def test_invoking_a_closed_decorated_function_says_what_applies_to_it():
    """The invoker's advice, create a new invoker, does not fit a decorated function.

    The message says to close it once, at the end, and names override_invoker for tests.
    """

    @async_invoke
    def handler(event):
        return event

    handler.close()
    with pytest.raises(InvokerClosedError) as info:
        handler.invoke({})
    message = str(info.value)
    assert "create a new invoker" not in message
    assert "handler.close() or aclose() ran" in message
    assert message.endswith("lambda_destinations.testing.override_invoker(handler)")


def test_a_function_name_given_as_the_argument_says_to_use_function_name():
    """@async_invoke("orders") reads as naming the function: the keyword is function_name=."""
    with pytest.raises(ConfigurationTypeError) as info:
        async_invoke("orders")  # type: ignore[call-overload]
    assert str(info.value) == (
        "async_invoke('orders'): the function's name is a keyword option: write "
        "@async_invoke(function_name='orders')"
    )
    assert isinstance(info.value, TypeError)


@pytest.mark.parametrize(
    ("option", "suggested"),
    [
        ("retries", "maximum_retry_attempts"),
        ("max_age", "maximum_event_age_in_seconds"),
        ("concurrency", "reserved_concurrency"),
        ("timout", "timeout"),
        ("on_sucess", "on_success"),
    ],
)
def test_an_unknown_option_is_refused_when_the_decorator_is_built(option, suggested):
    """async_invoke(retries=1) fails at once, not when applied, naming the nearest option."""
    with pytest.raises(ConfigurationTypeError) as info:
        async_invoke(**{option: 1})
    assert str(info.value) == (
        f"async_invoke() got an unknown keyword {option!r}: did you mean {suggested}=?"
    )


def test_an_unknown_option_with_no_near_name_lists_them_all():
    """With nothing close, the message lists every keyword AsyncInvoker takes."""
    with pytest.raises(ConfigurationTypeError, match="keyword options: function_name, "):
        async_invoke(colour="red")


def test_override_invoker_refuses_an_unknown_option_too():
    """The testing helper takes the same options, checked the same way."""
    with (
        pytest.raises(
            ConfigurationTypeError, match=re.escape("did you mean reserved_concurrency=?")
        ),
        override_invoker(send_email, concurrency=1),
    ):
        pass


def test_type_checkers_see_the_wrapped_signature():
    """Mypy (run by make test) sees the original parameters and return type through ParamSpec."""
    result = send_email({"to": "c@example.com"})
    assert_type(result, str)
    pending = assert_type(bare({"n": 3}), Coroutine[Any, Any, int])
    pending.close()
