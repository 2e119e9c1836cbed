"""What the command takes from a template: one function's settings, and its destinations."""

from __future__ import annotations

from collections.abc import Mapping

from attrs import frozen

from lambda_destinations.cli._handler import HandlerSpec

__all__ = ["FunctionTemplate", "TemplateDestination"]


@frozen
class TemplateDestination:
    """A destination or DLQ as the template writes it.

    ``arn`` is set for a literal ARN; ``resource`` for a resource of the template (or one SAM
    creates), which has an ARN only once deployed. ``name`` names its local file.
    """

    role: str
    written: str
    name: str
    arn: str | None = None
    resource: str | None = None


@frozen
class FunctionTemplate:
    """What the command needs of one function of a template."""

    source: str
    logical_id: str
    function_name: str
    handler: HandlerSpec
    environment: Mapping[str, str]
    unset_environment: Mapping[str, str]
    timeout: int | None = None
    memory_size: int | None = None
    reserved_concurrency: int | None = None
    maximum_retry_attempts: int | None = None
    maximum_event_age_in_seconds: int | None = None
    on_success: TemplateDestination | None = None
    on_failure: TemplateDestination | None = None
    dead_letter_queue: TemplateDestination | None = None
