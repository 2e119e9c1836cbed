"""In-process functions by ARN, so a chain can mix local functions and real AWS services."""

from __future__ import annotations

from typing import TypeVar

from lambda_destinations._exceptions import ConfigurationTypeError
from lambda_destinations.destinations._local import (
    InvocationTarget,
    LambdaFunctionLike,
    invocation_target,
)

__all__ = ["LocalFunctions"]

F = TypeVar("F", bound=LambdaFunctionLike)


class LocalFunctions:
    """In-process functions (invokers or ``@async_invoke`` functions) by their ARN.

    A Lambda destination whose ARN names a registered function invokes it in this process,
    asynchronously, with the record as its event; any other function ARN is invoked on AWS.
    A function on ``$LATEST`` answers to its unqualified ARN too, as on AWS.
    """

    __slots__ = ("_by_arn",)

    def __init__(self, *functions: LambdaFunctionLike) -> None:
        self._by_arn: dict[str, InvocationTarget] = {}
        for function in functions:
            self.register(function)

    def __repr__(self) -> str:
        return f"LocalFunctions({sorted(self._by_arn)!r})"

    def register(self, function: F) -> F:
        """Add *function* under its ARN and return it (so it also works as a decorator)."""
        target = invocation_target(function)
        if target is None:
            msg = (
                f"LocalFunctions.register({function!r}): pass an AsyncInvoker or an "
                "@async_invoke function"
            )
            raise ConfigurationTypeError(msg)
        arn = target.function_arn
        self._by_arn[arn] = target
        if arn.endswith(":$LATEST"):
            self._by_arn[arn.removesuffix(":$LATEST")] = target
        return function

    def get(self, arn: str) -> InvocationTarget | None:
        """The function registered under *arn*, or ``None``."""
        return self._by_arn.get(arn)

    def __contains__(self, arn: object) -> bool:
        return arn in self._by_arn
