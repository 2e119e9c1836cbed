"""Where records and dead letters go: the protocols and the destinations that ship.

A destination is anything with a ``send(record)`` method, or a plain function or coroutine
function taking the record. ``send`` may return an awaitable; the invoker then awaits it in a
task of its own, bounded by its delivery timeout, so a slow destination never holds up an event.
"""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeAlias, TypeVar, runtime_checkable

from ._dead_letter import DeadLetterMessage
from ._records import ExecutionRecord

if TYPE_CHECKING:
    from ._invoker import AsyncInvoker

__all__ = [
    "DeadLetterQueue",
    "DeadLetterQueueLike",
    "Destination",
    "DestinationLike",
    "InMemoryDeadLetterQueue",
    "InMemoryDestination",
    "InvokerDestination",
    "JsonLinesDestination",
]

T = TypeVar("T")


@runtime_checkable
class Destination(Protocol):
    """Receives the `ExecutionRecord` of each event that ends (on success or on failure)."""

    def send(self, record: ExecutionRecord, /) -> Awaitable[None] | None:
        """Deliver *record*; raise to report a failed delivery."""
        ...


@runtime_checkable
class DeadLetterQueue(Protocol):
    """Receives a `DeadLetterMessage` for each event that finally fails."""

    def send(self, message: DeadLetterMessage, /) -> Awaitable[None] | None:
        """Deliver *message*; raise to report a failed send."""
        ...


#: What ``on_success=`` / ``on_failure=`` accept.
DestinationLike: TypeAlias = Destination | Callable[[ExecutionRecord], Awaitable[None] | None]
#: What ``dead_letter_queue=`` accepts.
DeadLetterQueueLike: TypeAlias = (
    DeadLetterQueue | Callable[[DeadLetterMessage], Awaitable[None] | None]
)


class _Collector(Generic[T]):
    """A list that tests can await until it holds enough items."""

    __slots__ = ("_items", "_waiters")

    def __init__(self) -> None:
        self._items: list[T] = []
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    def _append(self, item: T) -> None:
        self._items.append(item)
        if self._waiters:
            n = len(self._items)
            still = []
            for count, fut in self._waiters:
                if n >= count:
                    if not fut.done():
                        fut.set_result(None)
                else:
                    still.append((count, fut))
            self._waiters = still

    async def _wait(self, count: int, timeout: float | None) -> list[T]:
        if len(self._items) < count:
            fut = asyncio.get_running_loop().create_future()
            self._waiters.append((count, fut))
            try:
                async with asyncio.timeout(timeout):
                    await fut
            except TimeoutError:
                msg = (
                    f"{type(self).__name__} holds {len(self._items)} item(s) after "
                    f"{timeout} s; {count} were awaited"
                )
                raise TimeoutError(msg) from None
        return self._items[:count]

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        """Forget everything received so far."""
        self._items.clear()


class InMemoryDestination(_Collector[ExecutionRecord]):
    """Keeps every record it receives in ``records``, in delivery order."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"InMemoryDestination(<{len(self._items)} records>)"

    @property
    def records(self) -> list[ExecutionRecord]:
        return self._items

    def send(self, record: ExecutionRecord, /) -> None:
        self._append(record)

    async def wait_for(
        self, count: int = 1, *, timeout: float | None = None
    ) -> list[ExecutionRecord]:
        """Wait until *count* records arrived and return the first *count*."""
        return await self._wait(count, timeout)


class InMemoryDeadLetterQueue(_Collector[DeadLetterMessage]):
    """Keeps every dead-letter message it receives in ``messages``, in delivery order."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"InMemoryDeadLetterQueue(<{len(self._items)} messages>)"

    @property
    def messages(self) -> list[DeadLetterMessage]:
        return self._items

    def send(self, message: DeadLetterMessage, /) -> None:
        self._append(message)

    async def wait_for(
        self, count: int = 1, *, timeout: float | None = None
    ) -> list[DeadLetterMessage]:
        """Wait until *count* messages arrived and return the first *count*."""
        return await self._wait(count, timeout)


class InvokerDestination:
    """Lambda-to-Lambda chaining: invokes another invoker asynchronously with the record.

    The target receives the record's AWS JSON as its event, exactly as a Lambda function
    destination does. An invoker cannot be its own destination.
    """

    __slots__ = ("target",)

    def __init__(self, target: AsyncInvoker) -> None:
        self.target = target

    def __repr__(self) -> str:
        return f"InvokerDestination({self.target.function_arn!r})"

    def send(self, record: ExecutionRecord, /) -> None:
        self.target.invoke_nowait(record.to_json())


class JsonLinesDestination:
    """Appends each record's AWS JSON as one line of a file (JSON Lines).

    Writes are small and appended in one call, so lines from one process never interleave.
    """

    __slots__ = ("path",)

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"JsonLinesDestination({str(self.path)!r})"

    def send(self, record: ExecutionRecord, /) -> None:
        with self.path.open("ab") as f:
            f.write(record.to_json() + b"\n")

    def read(self) -> list[ExecutionRecord]:
        """Every record written so far, parsed back."""
        if not self.path.exists():
            return []
        with self.path.open("rb") as f:
            return [ExecutionRecord.from_json(line) for line in f if line.strip()]


def as_sender(target: object, role: str) -> Callable[[Any], Awaitable[None] | None] | None:
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
