"""Turning whatever a user passed as a destination into the one callable the invoker calls."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from lambda_destinations._exceptions import ConfigurationError, ConfigurationTypeError

from ._local import (
    InMemoryDeadLetterQueue,
    InMemoryDestination,
    InvokerDestination,
    invocation_target,
)

__all__ = ["Sender", "ThreadedSender", "as_sender"]


class ThreadedSender:
    """A plain-function receiver, to be run in a worker thread, never on the loop.

    A plain function may block (an HTTP call, a file write): run on the event loop it would
    hold up every event and delivery, and no timeout could stop it.
    """

    __slots__ = ("send",)

    def __init__(self, send: Callable[[Any], object]) -> None:
        self.send = send

    def __repr__(self) -> str:
        return f"ThreadedSender({self.send!r})"


#: What the invoker calls with a record or dead letter, on the loop or in a thread.
Sender = Callable[[Any], Awaitable[None] | None] | ThreadedSender


def as_sender(target: object, role: str, *, owner: object = None) -> Sender | None:
    """Normalise a destination or DLQ to what the invoker calls, or raise `ConfigurationError`.

    A destination object's ``send`` and a coroutine function are called on the event loop (a
    ``send`` must not block: it returns an awaitable for slow work). A plain function comes
    back as a `ThreadedSender`: it may block, so it runs in a worker thread.

    An invoker or ``@async_invoke`` function is a Lambda function destination, as a function
    ARN is on AWS: it is chained to with `InvokerDestination`, unless it is *owner* itself.
    """
    if target is None:
        return None
    if isinstance(target, str) and target.startswith("arn:"):
        raise ConfigurationTypeError(_arn_hint(target, role))
    if isinstance(target, type):
        msg = f"{role}={target.__name__} is a class: pass an instance, {target.__name__}()"
        raise ConfigurationTypeError(msg)
    dead_letters = role == "dead_letter_queue"
    if dead_letters and isinstance(target, InMemoryDestination):
        msg = f"{role}=InMemoryDestination() keeps records: use InMemoryDeadLetterQueue()"
        raise ConfigurationTypeError(msg)
    if not dead_letters and isinstance(target, InMemoryDeadLetterQueue):
        msg = f"{role}=InMemoryDeadLetterQueue() keeps dead letters: use InMemoryDestination()"
        raise ConfigurationTypeError(msg)
    has_send = callable(getattr(type(target), "send", None))
    if isinstance(target, InvokerDestination):
        _check_chain(target, target.target, role, owner)
    elif not has_send and (invoker := invocation_target(target)) is not None:
        _check_chain(target, invoker, role, owner)
        target, has_send = InvokerDestination(invoker), True
    send = target.send if has_send else target  # type: ignore[attr-defined]
    if not callable(send):
        msg = (
            f"{role}={target!r} is not a destination: pass an object with a send() method, or "
            f"a function or coroutine function taking one argument{_chain_hint(role)}"
        )
        raise ConfigurationTypeError(msg)
    try:
        inspect.signature(send).bind(None)
    except TypeError:
        msg = (
            f"{role}={target!r} cannot be called with one argument (the record or message)"
            f"{_chain_hint(role)}"
        )
        raise ConfigurationTypeError(msg) from None
    except ValueError:
        pass  # no signature to check (some builtins): trust it
    if has_send or _is_coroutine_function(send):
        return send  # type: ignore[no-any-return]
    return ThreadedSender(send)


def _arn_hint(arn: str, role: str) -> str:
    dead_letters = role == "dead_letter_queue"
    factory = "dead_letter_queue_from_arn" if dead_letters else "destination_from_arn"
    return (
        f"{role}={arn!r} is an ARN, not a destination: pass {factory}({arn!r}) from "
        "lambda_destinations.destinations.aws (the aws extra), which sends to it as Lambda does"
    )


def _is_coroutine_function(send: object) -> bool:
    return inspect.iscoroutinefunction(send) or inspect.iscoroutinefunction(
        getattr(send, "__call__", None)  # noqa: B004 - async __call__ of a callable object
    )


def _chain_hint(role: str) -> str:
    if role == "dead_letter_queue":
        return ""
    return (
        "; to invoke another function with the record as its event, pass its AsyncInvoker "
        "or @async_invoke function"
    )


def _check_chain(target: object, invoker: object, role: str, owner: object) -> None:
    if role == "dead_letter_queue":
        msg = (
            f"{role}={target!r} invokes a function: a dead-letter queue keeps the failed "
            "event, and on AWS is an SQS queue or SNS topic. Pass InMemoryDeadLetterQueue() or "
            "a callable taking the DeadLetterMessage, or chain with on_failure= instead"
        )
        raise ConfigurationTypeError(msg)
    if owner is not None and invoker is owner:
        msg = (
            f"{role}: You can't specify the function as a destination for itself. "
            "Chain to a different AsyncInvoker."
        )
        raise ConfigurationError(msg)
