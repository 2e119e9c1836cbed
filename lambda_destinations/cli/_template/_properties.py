"""A function's properties, resolved one at a time, with errors naming the property."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lambda_destinations._exceptions import ConfigurationError
from lambda_destinations._settings import check_range
from lambda_destinations.cli._intrinsics import NO_VALUE, ResourceRef

from ._document import Template

__all__ = ["Properties"]


class Properties:
    """The ``Properties`` of the function *logical_id* at *where*, read through *template*."""

    def __init__(
        self, template: Template, properties: dict[str, Any], where: str, logical_id: str
    ) -> None:
        self.template = template
        self.properties = properties
        self.where = where
        self.logical_id = logical_id

    def raw(self, key: str) -> Any:
        """The property as written, intrinsic functions unresolved."""
        return self.properties.get(key)

    def value(self, key: str) -> Any:
        """The property resolved, or ``None`` (also for ``AWS::NoValue``)."""
        value = self.template.resolver.resolve(self.raw(key), f"{self.where}.Properties.{key}")
        return None if value is NO_VALUE else value

    def text(self, key: str) -> str | None:
        """The property resolved to text, or ``None``; anything else is refused."""
        value = self.value(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.unsupported(key, f"it must be text here, got {value}")
        return value

    def number(
        self,
        key: str,
        setting: str,
        within: Mapping[str, Any] | None = None,
        where: str | None = None,
    ) -> int | None:
        """A whole number in the range of the invoker's *setting* (from *within*, if given)."""
        place = f"{where or self.where + '.Properties'}.{key}"
        value = self.value(key) if within is None else within.get(key)
        if value is None or value is NO_VALUE:
            return None
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)  # a parameter's value is text, as CloudFormation passes it
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.template.resolver.error(place, f"must be a whole number, got {value!r}")
        try:
            check_range(setting, value, self.template.aws_limits)
        except ConfigurationError as e:
            raise self.template.resolver.error(place, str(e)) from None
        return value

    def environment(self) -> tuple[dict[str, str], dict[str, str]]:
        """The variables to set, and those with no value before deployment (and why)."""
        config = self.value("Environment")
        variables = config.get("Variables") if isinstance(config, dict) else None
        if not isinstance(variables, dict):
            return {}, {}
        known: dict[str, str] = {}
        unknown: dict[str, str] = {}
        for name, value in variables.items():
            if isinstance(value, ResourceRef):
                unknown[str(name)] = str(value)
            elif isinstance(value, bool):
                known[str(name)] = str(value).lower()
            elif isinstance(value, str | int | float):
                known[str(name)] = str(value)
            else:
                raise self.unsupported(f"Environment.Variables.{name}", "it must be text")
        return known, unknown

    def unsupported(self, key: str, why: str) -> ConfigurationError:
        """The error for a property this command cannot run, saying *why*."""
        return self.template.resolver.error(
            f"{self.where}.Properties.{key}", f"not supported by this command: {why}"
        )
