"""Resolving a template's intrinsic functions to the values a local run needs.

Parameters (their defaults or ``--parameter-overrides``), pseudo parameters, mappings and
conditions resolve to plain values; ``Ref`` and ``Fn::GetAtt`` of a resource stay a
`ResourceRef`, since the resource does not exist until the stack is deployed. What cannot be
known locally (``Fn::ImportValue``, ``Fn::GetAZs``, ...) is refused with a message naming it and
where it is.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any, Final

from attrs import frozen

from lambda_destinations._exceptions import ConfigurationError

__all__ = ["NO_VALUE", "Resolver", "ResourceRef", "is_intrinsic"]

#: Intrinsics that only CloudFormation can answer, and why.
_UNRESOLVABLE: Final = {
    "Fn::ImportValue": "it reads another stack's exports",
    "Fn::GetAZs": "it lists the availability zones of a region",
    "Fn::Cidr": "it computes address blocks, not a setting of a function",
    "Fn::Transform": "it runs a macro",
    "Fn::Length": "it needs the AWS::LanguageExtensions transform",
    "Fn::ToJsonString": "it needs the AWS::LanguageExtensions transform",
}
_SUB_VARIABLE: Final = re.compile(r"\$\{([^}]*)\}")


class _NoValue:
    __slots__ = ()

    def __repr__(self) -> str:
        return "AWS::NoValue"


#: ``!Ref AWS::NoValue``: the property is left out.
NO_VALUE: Final = _NoValue()


@frozen
class ResourceRef:
    """``!Ref X`` (``attribute`` None) or ``!GetAtt X.Attribute`` of a resource of the template."""

    logical_id: str
    attribute: str | None = None

    def __str__(self) -> str:
        if self.attribute is None:
            return f"!Ref {self.logical_id}"
        return f"!GetAtt {self.logical_id}.{self.attribute}"


def is_intrinsic(value: object) -> bool:
    """Whether *value* is an intrinsic function in its long form (``{"Fn::Sub": ...}``)."""
    if not isinstance(value, dict) or len(value) != 1:
        return False
    (key,) = value
    return isinstance(key, str) and (key in ("Ref", "Condition") or key.startswith("Fn::"))


class Resolver:
    """Resolves values of one template; *where* in each call names the value in errors."""

    def __init__(
        self,
        template: Mapping[str, Any],
        *,
        source: str,
        parameters: Mapping[str, str],
        pseudo: Mapping[str, str],
    ) -> None:
        self._source = source
        self._params = _mapping(template.get("Parameters"), "Parameters", source)
        self._mappings = _mapping(template.get("Mappings"), "Mappings", source)
        self._conditions = _mapping(template.get("Conditions"), "Conditions", source)
        self._resources = _mapping(template.get("Resources"), "Resources", source)
        self._overrides = dict(parameters)
        self._pseudo = dict(pseudo)
        self._decided: dict[str, bool] = {}
        for name in self._overrides:
            if name not in self._params:
                msg = (
                    f"--parameter-overrides {name}=...: {source} has no parameter {name!r}"
                    f"{_known(self._params)}"
                )
                raise ConfigurationError(msg)

    def error(self, where: str, message: str) -> ConfigurationError:
        """A `ConfigurationError` naming the template and the place in it."""
        return ConfigurationError(f"{self._source}: {where}: {message}")

    def resolve(self, value: Any, where: str) -> Any:
        """*value* with every intrinsic resolved; ``AWS::NoValue`` properties left out."""
        if is_intrinsic(value):
            ((name, argument),) = value.items()
            return self._intrinsic(name, argument, where)
        if isinstance(value, dict):
            resolved = {k: self.resolve(v, f"{where}.{k}") for k, v in value.items()}
            return {k: v for k, v in resolved.items() if v is not NO_VALUE}
        if isinstance(value, list):
            items = [self.resolve(v, f"{where}[{i}]") for i, v in enumerate(value)]
            return [v for v in items if v is not NO_VALUE]
        return value

    def condition(self, name: str, where: str) -> bool:
        """The value of the template's condition *name*."""
        if name not in self._decided:
            if name not in self._conditions:
                raise self.error(where, f"no condition {name!r} in Conditions")
            self._decided[name] = self._truth(self._conditions[name], f"Conditions.{name}")
        return self._decided[name]

    # -- the functions --------------------------------------------------------------------

    def _intrinsic(self, name: str, argument: Any, where: str) -> Any:
        if name == "Ref":
            return self._ref(argument, where)
        if name == "Fn::GetAtt":
            return self._get_att(argument, where)
        if name == "Fn::Sub":
            return self._sub(argument, where)
        if name == "Fn::If":
            condition, if_true, if_false = self._arguments(name, argument, 3, where)
            chosen = if_true if self.condition(condition, where) else if_false
            return self.resolve(chosen, where)
        if name in ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Condition"):
            return self._truth({name: argument}, where)
        if name == "Fn::Join":
            delimiter, items = self._arguments(name, argument, 2, where)
            parts = self.resolve(items, where)
            if not isinstance(parts, list):
                raise self.error(where, f"!Join needs a list to join, got {parts!r}")
            return str(delimiter).join(self._text(p, "!Join", where) for p in parts)
        if name == "Fn::Split":
            delimiter, text = self._arguments(name, argument, 2, where)
            return self._text(self.resolve(text, where), "!Split", where).split(str(delimiter))
        if name == "Fn::Select":
            index, items = self._arguments(name, argument, 2, where)
            return self._select(self.resolve(index, where), self.resolve(items, where), where)
        if name == "Fn::FindInMap":
            return self._find_in_map(self.resolve(argument, where), where)
        if name == "Fn::Base64":
            text = self._text(self.resolve(argument, where), "!Base64", where)
            return base64.b64encode(text.encode()).decode()
        short = name.removeprefix("Fn::")
        why = _UNRESOLVABLE.get(name, "this command does not know it")
        raise self.error(
            where,
            f"!{short} cannot be resolved outside CloudFormation ({why}); write the value, or "
            "a !Ref to a parameter and pass it with --parameter-overrides",
        )

    def _ref(self, name: Any, where: str) -> Any:
        if not isinstance(name, str):
            raise self.error(where, f"!Ref takes a name, got {name!r}")
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self._pseudo:
            return self._pseudo[name]
        if name.startswith("AWS::"):
            raise self.error(where, f"!Ref {name} has no value outside CloudFormation")
        if name in self._params:
            return self._parameter(name, where)
        if name in self._resources:
            return ResourceRef(name)
        raise self.error(where, f"!Ref {name}: no parameter or resource of that name")

    def _parameter(self, name: str, where: str) -> Any:
        if name in self._overrides:
            value: Any = self._overrides[name]
        else:
            declared = self._params[name]
            if not isinstance(declared, dict) or "Default" not in declared:
                raise self.error(
                    where,
                    f"parameter {name} has no Default: pass --parameter-overrides {name}=VALUE",
                )
            value = declared["Default"]
        kind = self._params[name].get("Type") if isinstance(self._params[name], dict) else None
        if isinstance(kind, str) and (kind == "CommaDelimitedList" or kind.startswith("List<")):
            return [part.strip() for part in str(value).split(",")]
        return value

    def _get_att(self, argument: Any, where: str) -> ResourceRef:
        if isinstance(argument, str):
            argument = argument.split(".", 1)
        if (
            not isinstance(argument, list)
            or len(argument) != 2
            or not all(isinstance(a, str) for a in argument)
        ):
            raise self.error(where, f"!GetAtt takes Resource.Attribute, got {argument!r}")
        resource, attribute = argument
        if resource not in self._resources:
            raise self.error(where, f"!GetAtt {resource}.{attribute}: no resource {resource!r}")
        return ResourceRef(resource, attribute)

    def _sub(self, argument: Any, where: str) -> Any:
        if isinstance(argument, list) and len(argument) == 2:
            text, variables = argument
            variables = self.resolve(variables, where)
        else:
            text, variables = argument, {}
        if not isinstance(text, str) or not isinstance(variables, dict):
            raise self.error(where, f"!Sub takes a string or [string, {{variables}}]: {argument!r}")
        whole = _SUB_VARIABLE.fullmatch(text)
        if whole is not None and not whole.group(1).startswith("!"):
            # "${Queue.Arn}" alone is a reference, which may stay unresolved.
            return self._sub_variable(whole.group(1), variables, where)

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            value = self._sub_variable(name, variables, where)
            if isinstance(value, ResourceRef):
                raise self.error(
                    where,
                    f"!Sub {text!r} uses {value}, which has no value until the stack is "
                    "deployed; write the ARN, or the reference alone",
                )
            return self._text(value, "!Sub", where)

        return _SUB_VARIABLE.sub(replace, text)

    def _sub_variable(self, name: str, variables: Mapping[str, Any], where: str) -> Any:
        name = name.strip()
        if name in variables:
            return variables[name]
        if "." in name and name.split(".", 1)[0] in self._resources:
            return self._get_att(name, where)
        return self._ref(name, where)

    def _select(self, index: Any, items: Any, where: str) -> Any:
        try:
            position = int(index)
        except (TypeError, ValueError):
            raise self.error(where, f"!Select needs a whole-number index, got {index!r}") from None
        if not isinstance(items, list) or not 0 <= position < len(items):
            raise self.error(where, f"!Select index {position} is not in {items!r}")
        return items[position]

    def _find_in_map(self, argument: Any, where: str) -> Any:
        if not isinstance(argument, list) or len(argument) != 3:
            raise self.error(where, f"!FindInMap takes [map, key, key], got {argument!r}")
        node: Any = self._mappings
        path = []
        for key in argument:
            path.append(str(key))
            if not isinstance(node, dict) or str(key) not in node:
                raise self.error(where, f"!FindInMap: Mappings has no {'.'.join(path)}")
            node = node[str(key)]
        return node

    def _truth(self, value: Any, where: str) -> bool:
        if not is_intrinsic(value):
            raise self.error(
                where, f"a condition must be !Equals, !Not, !And, !Or or !Condition, got {value!r}"
            )
        ((name, argument),) = value.items()
        if name == "Condition":
            return self.condition(argument, where)
        if name == "Fn::Equals":
            left, right = (
                self.resolve(v, where) for v in self._arguments(name, argument, 2, where)
            )
            return bool(_comparable(left) == _comparable(right))
        if name == "Fn::Not":
            (inner,) = self._arguments(name, argument, 1, where)
            return not self._truth(inner, where)
        if name in ("Fn::And", "Fn::Or"):
            if not isinstance(argument, list) or not argument:
                raise self.error(where, f"!{name[4:]} takes a list of conditions")
            truths = (self._truth(v, where) for v in argument)
            return all(truths) if name == "Fn::And" else any(truths)
        raise self.error(where, f"!{name.removeprefix('Fn::')} is not a condition")

    def _arguments(self, name: str, argument: Any, count: int, where: str) -> list[Any]:
        if not isinstance(argument, list) or len(argument) != count:
            short = name.removeprefix("Fn::")
            raise self.error(where, f"!{short} takes a list of {count}, got {argument!r}")
        return argument

    def _text(self, value: Any, function: str, where: str) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.error(where, f"{function} needs text here, got {value}")
        return str(value)


def _comparable(value: Any) -> Any:
    # CloudFormation compares parameter values as strings: !Equals [!Ref Count, 1] holds.
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    return value


def _mapping(value: Any, section: str, source: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        msg = f"{source}: {section} must be a mapping, got {type(value).__name__}"
        raise ConfigurationError(msg)
    return value


def _known(names: Mapping[str, Any]) -> str:
    return f" (it has {', '.join(names)})" if names else " (it declares none)"
