"""What the invoker answers: ``invoke()``'s 202 with a request id, and unfinished events."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Generator
from typing import Any, Final

from attrs import field, frozen

from .queues import State

__all__ = ["InvokeResponse", "UnfinishedEvent", "new_request_id"]


@frozen
class InvokeResponse:
    """What ``invoke()`` answers at once: AWS's 202 and the request id; never the outcome.

    It can be awaited (giving itself), so ``await invoker.invoke(...)`` in async code and
    ``invoker.invoke(...)`` in sync code both queue the event at the call. With a durable
    queue, awaiting it also waits until the event is stored.
    """

    request_id: str
    status_code: int = 202
    # The queue's pending commit of the event, if it was not stored on return.
    _stored: Awaitable[None] | None = field(default=None, eq=False, repr=False, alias="_stored")

    def __await__(self) -> Generator[Any, None, InvokeResponse]:
        stored = self._stored
        if stored is not None:
            yield from stored.__await__()
        return self


@frozen
class UnfinishedEvent:
    """An accepted event that had not ended when its invoker closed: reported, never dropped."""

    request_id: str
    payload_json: str
    attempts: int
    state: State


def new_request_id() -> str:
    """A random UUID version 4 in its usual text form, as Lambda's request ids are."""
    # Formatting the random bytes directly is less than half the cost of str(uuid.uuid4()).
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


_VARIANT: Final = "89ab"
