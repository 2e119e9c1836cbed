"""Where destination ARNs become adapters: a factory, made only when an ARN needs one.

``lambda_destinations.destinations.aws.AwsDestinations`` is the default factory, so only
configs that name AWS targets need boto3.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["DestinationFactory", "aws_destinations", "lazy_factory"]


class DestinationFactory(Protocol):
    """Builds the adapters for destination and dead-letter ARNs (``AwsDestinations`` does)."""

    def destination(self, arn: str, *, role: Any = None) -> Any: ...

    def dead_letter_queue(self, arn: str) -> Any: ...


def aws_destinations() -> DestinationFactory:
    """The default factory: boto3's own configuration (environment, profiles)."""
    from lambda_destinations.destinations.aws import AwsDestinations  # boto3 needed from here on

    return AwsDestinations()


def lazy_factory(destinations: DestinationFactory | None) -> Callable[[], DestinationFactory]:
    """*destinations*, or the default factory made on the first call."""
    made: list[DestinationFactory] = [] if destinations is None else [destinations]

    def factory() -> DestinationFactory:
        if not made:
            made.append(aws_destinations())
        return made[0]

    return factory
