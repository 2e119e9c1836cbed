"""Turning whatever a user passed as a destination into the one callable the invoker calls."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from ._local import InMemoryDeadLetterQueue, InMemoryDestination

__all__ = ["Sender", "as_sender"]

#: What the invoker calls with a record or dead letter.
Sender = Callable[[Any], Awaitable[None] | None]


def as_sender(target: object, role: str) -> Sender | None:
    """Normalise a destination or DLQ to one callable, or raise a clear TypeError."""
    if target is None:
        return None
    if isinstance(target, type):
        msg = f"{role}={target.__name__} is a class: pass an instance, {target.__name__}()"
        raise TypeError(msg)
    dead_letters = role == "dead_letter_queue"
    if dead_letters and isinstance(target, InMemoryDestination):
        msg = f"{role}=InMemoryDestination() keeps records: use InMemoryDeadLetterQueue()"
        raise TypeError(msg)
    if not dead_letters and isinstance(target, InMemoryDeadLetterQueue):
        msg = f"{role}=InMemoryDeadLetterQueue() keeps dead letters: use InMemoryDestination()"
        raise TypeError(msg)
    send = target.send if callable(getattr(type(target), "send", None)) else target  # type: ignore[attr-defined]
    if not callable(send):
        msg = (
            f"{role}={target!r} is not a destination: pass an object with a send() method, or "
            "a function or coroutine function taking one argument"
        )
        raise TypeError(msg)
    try:
        inspect.signature(send).bind(None)
    except TypeError:
        msg = f"{role}={target!r} cannot be called with one argument (the record or message)"
        raise TypeError(msg) from None
    except ValueError:
        pass  # no signature to check (some builtins): trust it
    return send  # type: ignore[no-any-return]
