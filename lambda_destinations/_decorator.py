"""``@async_invoke``: give a function in application code Lambda's asynchronous invocation."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Generic, TypeVar, overload

from typing_extensions import ParamSpec

from ._closing import DRAIN_TIMEOUT
from ._invoker import AsyncInvoker, InvokeResponse, UnfinishedEvent
from ._payload import NO_PAYLOAD
from ._settings import Duration

__all__ = ["AsyncFunction", "async_invoke"]

P = ParamSpec("P")
R = TypeVar("R")


class AsyncFunction(Generic[P, R]):
    """A function that still runs when called directly, and gains ``invoke()``.

    ``invoke()`` queues an event for the function through its `AsyncInvoker` (``.invoker``)
    and returns at once; calling the function directly bypasses the queue, as in a unit test.
    ``join()`` / ``aclose()`` wait for its events from async code, ``join_sync()`` /
    ``close()`` from sync code.
    ``.options`` holds the keyword options it was decorated with, so a test can build an
    invoker like it (``lambda_destinations.testing.override_invoker`` does).
    """

    __name__: str
    __qualname__: str

    def __init__(
        self,
        fn: Callable[P, R],
        invoker: AsyncInvoker,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        self.__wrapped__ = fn
        self.invoker = invoker
        self.options: Mapping[str, Any] = MappingProxyType(dict(options or {}))
        functools.update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"<AsyncFunction {self.__wrapped__.__qualname__} -> {self.invoker.function_arn}>"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.__wrapped__(*args, **kwargs)

    def invoke(self, payload: object = NO_PAYLOAD) -> InvokeResponse:
        """Queue an event for the function, from async or sync code; see `AsyncInvoker.invoke`."""
        return self.invoker.invoke_nowait(payload)

    def invoke_nowait(self, payload: object = NO_PAYLOAD) -> InvokeResponse:
        """The same as `invoke`; thread-safe."""
        return self.invoker.invoke_nowait(payload)

    async def join(self, *, timeout: Duration | None = None, raise_on_error: bool = False) -> None:
        """Wait until every event queued so far has ended; see `AsyncInvoker.join`."""
        await self.invoker.join(timeout=timeout, raise_on_error=raise_on_error)

    async def aclose(
        self, *, timeout: Duration | None = DRAIN_TIMEOUT
    ) -> tuple[UnfinishedEvent, ...]:
        """Drain and close the function's invoker; see `AsyncInvoker.aclose`."""
        return await self.invoker.aclose(timeout=timeout)

    def join_sync(self, *, timeout: Duration | None = None, raise_on_error: bool = False) -> None:
        """`join` for code with no running event loop; see `AsyncInvoker.join_sync`."""
        self.invoker.join_sync(timeout=timeout, raise_on_error=raise_on_error)

    def close(self, *, timeout: Duration | None = DRAIN_TIMEOUT) -> tuple[UnfinishedEvent, ...]:
        """`aclose` for code with no running event loop; see `AsyncInvoker.close`."""
        return self.invoker.close(timeout=timeout)


@overload
def async_invoke(fn: Callable[P, R], /) -> AsyncFunction[P, R]: ...


@overload
def async_invoke(
    fn: None = None, /, **options: Any
) -> Callable[[Callable[P, R]], AsyncFunction[P, R]]: ...


def async_invoke(
    fn: Callable[P, R] | None = None, /, **options: Any
) -> AsyncFunction[P, R] | Callable[[Callable[P, R]], AsyncFunction[P, R]]:
    """Decorate a handler so ``fn.invoke(event)`` runs it the Lambda asynchronous way.

    Takes the same keyword options as `AsyncInvoker`; bare ``@async_invoke`` uses the
    defaults. The function keeps its signature and can still be called directly.
    """

    def wrap(f: Callable[P, R]) -> AsyncFunction[P, R]:
        return AsyncFunction(f, AsyncInvoker(f, **options), options)

    return wrap if fn is None else wrap(fn)
