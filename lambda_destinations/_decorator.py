"""``@async_invoke``: give a function in application code Lambda's asynchronous invocation."""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final, Generic, TypeVar, overload

from typing_extensions import ParamSpec

from ._closing import DRAIN_TIMEOUT
from ._exceptions import ConfigurationTypeError, InvokerClosedError
from ._invoker import AsyncInvoker, InvokeResponse, UnfinishedEvent
from ._payload import NO_PAYLOAD
from ._settings import Duration

__all__ = ["AsyncFunction", "async_invoke", "check_options"]

P = ParamSpec("P")
R = TypeVar("R")

#: Names people reach for (the command line's flags, other libraries' words) and AWS's.
_ALIASES: Final = {
    "retries": "maximum_retry_attempts",
    "max_retries": "maximum_retry_attempts",
    "retry_attempts": "maximum_retry_attempts",
    "max_age": "maximum_event_age_in_seconds",
    "max_event_age": "maximum_event_age_in_seconds",
    "maximum_event_age": "maximum_event_age_in_seconds",
    "concurrency": "reserved_concurrency",
    "max_concurrency": "reserved_concurrency",
    "reserved_concurrent_executions": "reserved_concurrency",
    "memory": "memory_size",
    "dlq": "dead_letter_queue",
    "name": "function_name",
    "on_error": "on_failure",
}


@functools.cache
def _invoker_options() -> tuple[str, ...]:
    parameters = inspect.signature(AsyncInvoker).parameters.values()
    return tuple(p.name for p in parameters if p.kind is p.KEYWORD_ONLY)


def check_options(options: Mapping[str, object], where: str) -> None:
    """Refuse a keyword `AsyncInvoker` does not take, naming the nearest one it does.

    Raises `ConfigurationTypeError`, as Python's own unexpected-keyword error is a TypeError.
    """
    valid = _invoker_options()
    for name in options:
        if name in valid:
            continue
        nearest = _ALIASES.get(name) or next(
            iter(difflib.get_close_matches(name, valid, n=1)), None
        )
        if nearest is not None:
            hint = f"did you mean {nearest}=?"
        else:
            hint = f"it takes AsyncInvoker's keyword options: {', '.join(valid)}"
        msg = f"{where} got an unknown keyword {name!r}: {hint}"
        raise ConfigurationTypeError(msg)


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
        return self.invoke_nowait(payload)

    def invoke_nowait(self, payload: object = NO_PAYLOAD) -> InvokeResponse:
        """The same as `invoke`; thread-safe."""
        try:
            return self.invoker.invoke_nowait(payload)
        except InvokerClosedError:
            # The invoker's own advice, a new invoker, does not apply: the function keeps its.
            name = self.__wrapped__.__name__
            msg = (
                f"{self!r} is closed ({name}.close() or aclose() ran) and accepts no more "
                f"events: close a decorated function once, when the application stops "
                "invoking it; a test that closes it should give it a fresh invoker with "
                f"lambda_destinations.testing.override_invoker({name})"
            )
            raise InvokerClosedError(msg) from None

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
    defaults. The function keeps its signature and can still be called directly. An unknown
    option, or a function name given without ``function_name=``, is refused at once with a
    `ConfigurationTypeError`.
    """
    if isinstance(fn, str):
        msg = (
            f"async_invoke({fn!r}): the function's name is a keyword option: write "
            f"@async_invoke(function_name={fn!r})"
        )
        raise ConfigurationTypeError(msg)
    check_options(options, "async_invoke()")

    def wrap(f: Callable[P, R]) -> AsyncFunction[P, R]:
        return AsyncFunction(f, AsyncInvoker(f, **options), options)

    return wrap if fn is None else wrap(fn)
