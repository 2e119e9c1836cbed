"""Reading a template, YAML or JSON, with CloudFormation's short-form intrinsic tags.

``!GetAtt Queue.Arn`` becomes ``{"Fn::GetAtt": ["Queue", "Arn"]}``, ``!Ref X`` becomes
``{"Ref": "X"}`` and so on: the long form CloudFormation itself turns them into, so YAML and
JSON templates are resolved by the same code (`_intrinsics`). PyYAML is imported only here,
when a YAML template is read.
"""

from __future__ import annotations

import functools
import json
from typing import Any, Final

from lambda_destinations._exceptions import ConfigurationError

__all__ = ["SHORT_FORMS", "parse_template"]

#: Every short-form tag CloudFormation defines that becomes ``Fn::<name>``.
SHORT_FORMS: Final = (
    "And",
    "Base64",
    "Cidr",
    "Equals",
    "FindInMap",
    "GetAZs",
    "If",
    "ImportValue",
    "Join",
    "Length",
    "Not",
    "Or",
    "Select",
    "Split",
    "Sub",
    "ToJsonString",
    "Transform",
)

CLI_EXTRA: Final = "pip install 'lambda_destinations[cli]'"


def parse_template(text: str, source: str) -> Any:
    """The template's content as plain values with intrinsics in their long form.

    JSON is read as JSON (no YAML parser needed); anything else as YAML. Errors name the line.
    """
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            msg = f"{source} line {e.lineno}: not valid JSON ({e.msg}, column {e.colno})"
            raise ConfigurationError(msg) from None
    try:
        import yaml
    except ImportError:
        msg = f"{source} is YAML, which needs PyYAML: {CLI_EXTRA}"
        raise ConfigurationError(msg) from None
    try:
        return yaml.load(text, Loader=_loader())
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = f" line {mark.line + 1}" if mark is not None else ""
        problem = e.problem or e.context or "not valid YAML"
        msg = f"{source}{line}: {problem}"
        raise ConfigurationError(msg) from None
    except yaml.YAMLError as e:
        msg = f"{source}: not valid YAML ({e})"
        raise ConfigurationError(msg) from None


@functools.cache
def _loader() -> type:
    import yaml

    class CloudFormationLoader(yaml.SafeLoader):
        """PyYAML's safe loader, knowing CloudFormation's short-form tags."""

    def value(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return loader.construct_scalar(node)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node, deep=True)
        return loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]

    def long_form(name: str) -> Any:
        return lambda loader, node: {name: value(loader, node)}

    def get_att(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        given = value(loader, node)
        if isinstance(given, str):
            # !GetAtt Resource.Attribute; attributes may hold dots themselves.
            resource, _, attribute = given.partition(".")
            given = [resource, attribute]
        return {"Fn::GetAtt": given}

    def unknown(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
        tags = ", ".join(f"!{name}" for name in ("Ref", "GetAtt", "Condition", *SHORT_FORMS))
        raise yaml.constructor.ConstructorError(
            None,
            None,
            f"unknown tag !{suffix}: CloudFormation's short forms are {tags}",
            node.start_mark,
        )

    CloudFormationLoader.add_constructor("!Ref", long_form("Ref"))
    CloudFormationLoader.add_constructor("!Condition", long_form("Condition"))
    CloudFormationLoader.add_constructor("!GetAtt", get_att)
    for name in SHORT_FORMS:
        CloudFormationLoader.add_constructor(f"!{name}", long_form(f"Fn::{name}"))
    CloudFormationLoader.add_multi_constructor("!", unknown)
    return CloudFormationLoader
