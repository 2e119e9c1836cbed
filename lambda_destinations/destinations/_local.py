"""Destinations that live in this process: in memory, a JSON-lines file, another invoker."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Awaitable
from pathlib import Path
from typing import Generic, Protocol, TypeVar, runtime_checkable

from lambda_destinations._dead_letter import DeadLetterMessage
from lambda_destinations._exceptions import ConfigurationTypeError
from lambda_destinations._records import ExecutionRecord
from lambda_destinations._threads import HandlerThreads

__all__ = [
    "InMemoryDeadLetterQueue",
    "InMemoryDestination",
    "InvocationTarget",
    "InvokerDestination",
    "JsonLinesDestination",
    "LambdaFunctionLike",
    "WithInvoker",
    "invocation_target",
]

T = TypeVar("T")


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
        """The records received so far, in delivery order."""
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
        """The dead letters received so far, in delivery order."""
        return self._items

    def send(self, message: DeadLetterMessage, /) -> None:
        self._append(message)

    async def wait_for(
        self, count: int = 1, *, timeout: float | None = None
    ) -> list[DeadLetterMessage]:
        """Wait until *count* messages arrived and return the first *count*."""
        return await self._wait(count, timeout)


@runtime_checkable
class InvocationTarget(Protocol):
    """A function that a record can be sent to as its event: an `AsyncInvoker` is one."""

    @property
    def function_arn(self) -> str:
        """The qualified ARN of the function, as records carry it."""
        ...

    def invoke_nowait(self, payload: bytes, /) -> object:
        """Queue *payload*, a JSON document, as one asynchronous invocation."""
        ...


@runtime_checkable
class WithInvoker(Protocol):
    """A function whose invocations go through an invoker: an ``@async_invoke`` function."""

    @property
    def invoker(self) -> InvocationTarget: ...


#: What stands for a Lambda function as a destination, as a function ARN does on AWS.
LambdaFunctionLike = InvocationTarget | WithInvoker


def invocation_target(target: object) -> InvocationTarget | None:
    """The invoker *target* stands for, if it is an invoker or an ``@async_invoke`` function."""
    if isinstance(target, InvocationTarget):
        return target
    if isinstance(target, WithInvoker) and isinstance(target.invoker, InvocationTarget):
        return target.invoker
    return None


class InvokerDestination:
    """Lambda-to-Lambda chaining: invokes another invoker asynchronously with the record.

    The target, an `AsyncInvoker` or an ``@async_invoke`` function, receives the record's AWS
    JSON as its event, byte for byte, exactly as a Lambda function destination does. Passing
    the invoker or function itself as ``on_success=`` / ``on_failure=`` does the same. An
    invoker cannot be its own destination.
    """

    __slots__ = ("target",)

    def __init__(self, target: LambdaFunctionLike) -> None:
        invoker = invocation_target(target)
        if invoker is None:
            msg = (
                f"InvokerDestination({target!r}): pass an AsyncInvoker or an @async_invoke "
                "function, the function to invoke with each record"
            )
            raise ConfigurationTypeError(msg)
        self.target = invoker

    def __repr__(self) -> str:
        return f"InvokerDestination({self.target.function_arn!r})"

    def send(self, record: ExecutionRecord, /) -> None:
        self.target.invoke_nowait(record.to_json())


class JsonLinesDestination:
    """Appends each record's AWS JSON as one line of a file (JSON Lines).

    Writing to a file blocks: called on an event loop, ``send`` hands the line to a writer
    thread of its own and returns the awaitable of that write. One writer keeps lines whole
    and in order; a daemon thread, so a write still queued at interpreter exit still runs.
    """

    __slots__ = ("_lock", "_writer", "path")

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._writer: HandlerThreads | None = None

    def __repr__(self) -> str:
        return f"JsonLinesDestination({str(self.path)!r})"

    def send(self, record: ExecutionRecord, /) -> Awaitable[None] | None:
        line = record.to_json() + b"\n"
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._append(line)  # no loop to keep free: write now
            return None
        with self._lock:
            if self._writer is None:
                self._writer = HandlerThreads(1, name="lambda_destinations-jsonl")
            writer = self._writer
        return loop.run_in_executor(writer, self._append, line)

    def _append(self, line: bytes) -> None:
        with self._lock, self.path.open("ab") as f:
            f.write(line)

    def read(self) -> list[ExecutionRecord]:
        """Every record written so far, parsed back."""
        if not self.path.exists():
            return []
        with self.path.open("rb") as f:
            return [ExecutionRecord.from_json(line) for line in f if line.strip()]
