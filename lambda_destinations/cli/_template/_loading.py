"""Reading a template file: its text, parsed as YAML or JSON, and the function it runs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from lambda_destinations._exceptions import ConfigurationError
from lambda_destinations.cli._intrinsics import Resolver
from lambda_destinations.cli._yaml import parse_template

from ._document import Template
from ._function import read_function
from ._model import FunctionTemplate

__all__ = ["read_template"]


def read_template(
    path: Path,
    function: str | None,
    *,
    parameters: Mapping[str, str],
    pseudo: Mapping[str, str],
    aws_limits: bool,
) -> FunctionTemplate:
    """Read *function* (a logical id; may be omitted when the template has one function)."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        msg = f"--template {source}: cannot read it ({e.strerror or e}); check the path"
        raise ConfigurationError(msg) from None
    parsed = parse_template(text, source)
    if not isinstance(parsed, dict) or not isinstance(parsed.get("Resources"), dict):
        msg = f"{source} is not a CloudFormation or SAM template: it has no Resources mapping"
        raise ConfigurationError(msg)
    resolver = Resolver(parsed, source=source, parameters=parameters, pseudo=pseudo)
    template = Template(parsed, resolver, source, path.parent.resolve(), aws_limits)
    return read_function(template, template.pick(function))
