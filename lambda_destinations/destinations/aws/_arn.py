"""ARNs of destinations and dead-letter queues: parsed, checked and turned into names and URLs.

Nothing here calls AWS: a queue's URL follows from its ARN and the SQS endpoint, so building
an adapter for a queue that does not exist yet succeeds, and the delivery fails, as on AWS.
"""

from __future__ import annotations

import re
from typing import Final

from attrs import frozen

from lambda_destinations._exceptions import ConfigurationError, ConfigurationTypeError

__all__ = ["Arn", "destination_config_invalid"]

_ARN: Final = re.compile(
    r"arn:(?P<partition>aws[a-zA-Z-]*):(?P<service>[a-z0-9-]+):(?P<region>[a-z0-9-]*):"
    r"(?P<account>\d{12})?:(?P<resource>.+)"
)

_ROLE_MEMBERS: Final = {"on_success": "onSuccess", "on_failure": "onFailure"}


def destination_config_invalid(on_success: str | None, on_failure: str | None) -> str:
    """AWS's message for a destination config it refuses, both members written as AWS does."""

    def member(name: str, arn: str | None) -> str:
        if arn is None:
            return "null"
        return f"{name[0].upper()}{name[1:]}(destination={arn})"

    return (
        "The provided destination config DestinationConfig("
        f"onSuccess={member('onSuccess', on_success)}, "
        f"onFailure={member('onFailure', on_failure)}) is invalid."
    )


@frozen
class Arn:
    """An ARN split into AWS's fields: ``arn:partition:service:region:account:resource``."""

    text: str
    partition: str
    service: str
    region: str
    account: str
    resource: str

    @classmethod
    def parse(cls, text: object, role: str) -> Arn:
        """Split *text*, or raise `ConfigurationError` saying what an ARN looks like."""
        if not isinstance(text, str):
            msg = f"{role}: the ARN must be a string, got {type(text).__name__} {text!r}"
            raise ConfigurationTypeError(msg)
        found = _ARN.fullmatch(text)
        if found is None:
            msg = (
                f"{role}: {text!r} is not an ARN; pass one such as "
                "'arn:aws:sqs:us-east-1:123456789012:my-queue'"
            )
            raise ConfigurationError(msg)
        return cls(text, **found.groupdict(default=""))

    @property
    def name(self) -> str:
        """The resource's own name: queue, topic, bus, bucket or function."""
        if self.service == "events":
            return self.resource.removeprefix("event-bus/")
        if self.service == "lambda":
            return self.resource.split(":")[1] if self.resource.startswith("function:") else ""
        return self.resource

    @property
    def is_fifo(self) -> bool:
        """A FIFO queue or topic: AWS names them ``*.fifo``."""
        return self.service in ("sqs", "sns") and self.resource.endswith(".fifo")

    def queue_url(self, endpoint_url: str) -> str:
        """The SQS queue URL of this ARN at *endpoint_url* (``https://sqs.<region>...``)."""
        return f"{endpoint_url.rstrip('/')}/{self.account}/{self.resource}"


def role_member(role: str | None) -> str:
    """AWS's member name for a library role: ``on_success`` is ``onSuccess``."""
    return _ROLE_MEMBERS.get(role or "on_success", "onSuccess")
