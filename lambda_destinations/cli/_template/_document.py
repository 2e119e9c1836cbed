"""A parsed template: its resources by logical id, which of them are functions, its Globals."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from lambda_destinations._exceptions import ConfigurationError
from lambda_destinations.cli._intrinsics import Resolver

__all__ = ["EVENT_INVOKE_CONFIG", "LAMBDA_FUNCTION", "SAM_FUNCTION", "Template"]

SAM_FUNCTION: Final = "AWS::Serverless::Function"
LAMBDA_FUNCTION: Final = "AWS::Lambda::Function"
EVENT_INVOKE_CONFIG: Final = "AWS::Lambda::EventInvokeConfig"


class Template:
    """One parsed template, and what reading it needs; errors name the template and the place.

    *directory* is the template's folder (code directories are relative to it); with
    *aws_limits* numbers are checked against AWS's ranges.
    """

    def __init__(
        self,
        template: dict[str, Any],
        resolver: Resolver,
        source: str,
        directory: Path,
        aws_limits: bool,
    ) -> None:
        self.resources: dict[str, Any] = template["Resources"]
        self.globals = template.get("Globals") or {}
        self.resolver = resolver
        self.source = source
        self.directory = directory
        self.aws_limits = aws_limits

    def kind(self, logical_id: str) -> str | None:
        """The ``Type`` of a resource, if it has one."""
        resource = self.resources.get(logical_id)
        kind = resource.get("Type") if isinstance(resource, dict) else None
        return kind if isinstance(kind, str) else None

    def pick(self, function: str | None) -> str:
        """The logical id of the function to run: *function*, or the template's only one."""
        functions = [
            name for name in self.resources if self.kind(name) in (SAM_FUNCTION, LAMBDA_FUNCTION)
        ]
        if not functions:
            msg = (
                f"{self.source} defines no Lambda function (no resource of Type {SAM_FUNCTION} "
                f"or {LAMBDA_FUNCTION}): add one, or name the handler as TARGET instead of "
                "--template"
            )
            raise ConfigurationError(msg)
        listed = ", ".join(functions)
        if function is None:
            if len(functions) == 1:
                return functions[0]
            msg = (
                f"{self.source} has {len(functions)} functions ({listed}): "
                "pass --function LOGICAL_ID"
            )
            raise ConfigurationError(msg)
        if function not in self.resources:
            msg = f"{self.source} has no resource {function!r} (its functions: {listed})"
            raise ConfigurationError(msg)
        if function not in functions:
            msg = (
                f"{self.source}: {function} is an {self.kind(function)}, not a function "
                f"(its functions: {listed})"
            )
            raise ConfigurationError(msg)
        return function
