"""What the operations need of an invoker: its name and ARN, its config, and a way to change it.

A protocol rather than `AsyncInvoker` itself, so that this package never imports the invoker
(which imports this package to build invokers from a Put request).
"""

from __future__ import annotations

from typing import Any, Protocol

from lambda_destinations._config import EventInvokeConfig

__all__ = ["ConfiguredFunction"]


class ConfiguredFunction(Protocol):
    """A function whose event invoke config can be read and changed: an `AsyncInvoker`."""

    @property
    def function_name(self) -> str:
        """The function's name, as in its ARN."""

    @property
    def function_arn(self) -> str:
        """The qualified function ARN (version or alias in its eighth field)."""

    @property
    def config(self) -> EventInvokeConfig:
        """The current retry, age and destination settings."""

    def update_config(
        self,
        *,
        maximum_retry_attempts: Any = ...,
        maximum_event_age_in_seconds: Any = ...,
        retry_wait: Any = ...,
        on_success: Any = ...,
        on_failure: Any = ...,
        dead_letter_queue: Any = ...,
    ) -> EventInvokeConfig:
        """Change some settings, keeping the others."""
