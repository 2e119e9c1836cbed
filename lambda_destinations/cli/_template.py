"""One function of a SAM or CloudFormation template, as the command runs it.

Reads the settings an asynchronous invoke depends on: the handler and its code directory,
``Timeout``, ``MemorySize``, ``ReservedConcurrentExecutions``, the event invoke config
(``EventInvokeConfig`` on a SAM function or a standalone ``AWS::Lambda::EventInvokeConfig``),
the dead-letter queue (``DeadLetterQueue`` / ``DeadLetterConfig``), ``Environment`` variables and
SAM's ``Globals``. Numbers are checked against AWS's ranges by the library's own table, so a
template value out of range gets the message the library gives.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, TypeGuard

from attrs import frozen

from lambda_destinations._exceptions import ConfigurationError
from lambda_destinations._settings import check_range

from ._handler import HandlerSpec
from ._intrinsics import NO_VALUE, Resolver, ResourceRef, is_intrinsic
from ._yaml import parse_template

__all__ = ["FunctionTemplate", "TemplateDestination", "read_template"]

SAM_FUNCTION: Final = "AWS::Serverless::Function"
LAMBDA_FUNCTION: Final = "AWS::Lambda::Function"
EVENT_INVOKE_CONFIG: Final = "AWS::Lambda::EventInvokeConfig"

#: Resources whose ``Ref`` is not their ARN, and what it is instead.
_REF_IS_NOT_AN_ARN: Final = {
    "AWS::SQS::Queue": "the queue's URL",
    "AWS::S3::Bucket": "the bucket's name",
    "AWS::Events::EventBus": "the bus's name",
    SAM_FUNCTION: "the function's name",
    LAMBDA_FUNCTION: "the function's name",
}
_ARN_ATTRIBUTES: Final = ("Arn", "TopicArn")
#: SAM creates a queue or topic for a destination of these types written without an ARN.
_SAM_AUTO_CREATED: Final = {"SQS": "Queue", "SNS": "Topic"}
_DESTINATION_TYPES: Final = ("SQS", "SNS", "Lambda", "EventBridge", "S3")


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
    template = parse_template(text, source)
    if not isinstance(template, dict) or not isinstance(template.get("Resources"), dict):
        msg = f"{source} is not a CloudFormation or SAM template: it has no Resources mapping"
        raise ConfigurationError(msg)
    resolver = Resolver(template, source=source, parameters=parameters, pseudo=pseudo)
    reader = _Reader(template, resolver, source, path.parent.resolve(), aws_limits)
    return reader.function(reader.pick(function))


class _Reader:
    """Reads one function of a parsed template; errors name the template and the place."""

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
        resource = self.resources.get(logical_id)
        kind = resource.get("Type") if isinstance(resource, dict) else None
        return kind if isinstance(kind, str) else None

    def pick(self, function: str | None) -> str:
        functions = [
            name for name in self.resources if self.kind(name) in (SAM_FUNCTION, LAMBDA_FUNCTION)
        ]
        listed = ", ".join(functions) or "none"
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

    def function(self, logical_id: str) -> FunctionTemplate:
        resource = self.resources[logical_id]
        where = f"Resources.{logical_id}"
        condition = resource.get("Condition")
        if isinstance(condition, str) and not self.resolver.condition(condition, where):
            msg = (
                f"{self.source}: {logical_id} is not created: its Condition {condition} is "
                "false (set the parameters it depends on with --parameter-overrides)"
            )
            raise ConfigurationError(msg)
        sam = self.kind(logical_id) == SAM_FUNCTION
        properties = self._properties(resource, where, sam)
        get = _Properties(self, properties, where, logical_id)
        runtime = get.text("Runtime")
        if runtime is not None and not runtime.startswith("python"):
            raise self.resolver.error(
                f"{where}.Properties.Runtime",
                f"{logical_id} runs {runtime}; this command runs Python handlers",
            )
        if get.text("PackageType") == "Image":
            raise self.resolver.error(
                f"{where}.Properties.PackageType",
                "a container image function cannot run here: it needs a .zip package with "
                "a Handler and its code directory",
            )
        handler = get.text("Handler")
        if handler is None:
            raise self.resolver.error(f"{where}.Properties", "the function has no Handler")
        code = self._code_directory(get, sam)
        environment, unset = get.environment()
        return FunctionTemplate(
            source=self.source,
            logical_id=logical_id,
            function_name=get.text("FunctionName") or logical_id,
            handler=HandlerSpec.from_setting(handler, code),
            environment=environment,
            unset_environment=unset,
            timeout=get.number("Timeout", "timeout"),
            memory_size=get.number("MemorySize", "memory_size"),
            reserved_concurrency=get.number("ReservedConcurrentExecutions", "reserved_concurrency"),
            **self._event_invoke_config(logical_id, get, sam),
            **self._dead_letter_queue(get, sam),
        )

    def _properties(self, resource: dict[str, Any], where: str, sam: bool) -> dict[str, Any]:
        properties = resource.get("Properties") or {}
        if not isinstance(properties, dict):
            raise self.resolver.error(f"{where}.Properties", "must be a mapping")
        if not sam:
            return properties
        common = self.globals.get("Function") if isinstance(self.globals, dict) else None
        if not isinstance(common, dict):
            return properties
        return _merge_globals(common, properties)

    def _code_directory(self, get: _Properties, sam: bool) -> Path:
        if sam:
            if get.raw("InlineCode") is not None:
                raise get.unsupported("InlineCode", "put the code in a file and set CodeUri")
            uri = get.value("CodeUri")
            key = "CodeUri"
        else:
            uri = get.value("Code")
            key = "Code"
            if isinstance(uri, dict) and "ZipFile" in uri:
                raise get.unsupported("Code.ZipFile", "put the code in a file and set Code")
        if uri is None:
            return self.directory
        if not isinstance(uri, str) or uri.startswith("s3://"):
            raise get.unsupported(
                key, "the code must be a local directory (as before sam package / deploy)"
            )
        directory = (self.directory / uri).resolve()
        if not directory.is_dir():
            raise self.resolver.error(
                f"{get.where}.Properties.{key}", f"{uri} is not a directory next to the template"
            )
        return directory

    def _event_invoke_config(self, logical_id: str, get: _Properties, sam: bool) -> dict[str, Any]:
        configs: list[tuple[str, str, dict[str, Any]]] = []
        if sam and get.value("EventInvokeConfig") is not None:
            config = get.value("EventInvokeConfig")
            if not isinstance(config, dict):
                raise get.unsupported("EventInvokeConfig", "it must be a mapping")
            configs.append(("$LATEST", f"{get.where}.Properties.EventInvokeConfig", config))
        for name, resource in self.resources.items():
            if self.kind(name) != EVENT_INVOKE_CONFIG:
                continue
            where = f"Resources.{name}.Properties"
            props = resource.get("Properties") or {}
            if not isinstance(props, dict):
                raise self.resolver.error(where, "must be a mapping")
            target = self.resolver.resolve(props.get("FunctionName"), f"{where}.FunctionName")
            if target == ResourceRef(logical_id) or target == get.text("FunctionName"):
                props = self.resolver.resolve(props, where)
                configs.append((str(props.get("Qualifier", "$LATEST")), where, props))
        if not configs:
            return {}
        latest = [c for c in configs if c[0] == "$LATEST"]
        if len(latest) > 1 or (not latest and len(configs) > 1):
            places = ", ".join(c[1] for c in (latest or configs))
            msg = (
                f"{self.source}: {logical_id} has several event invoke configs ({places}); "
                "AWS allows one per qualifier: keep one"
            )
            raise ConfigurationError(msg)
        _, where, config = (latest or configs)[0]
        out: dict[str, Any] = {
            "maximum_retry_attempts": get.number(
                "MaximumRetryAttempts", "maximum_retry_attempts", config, where
            ),
            "maximum_event_age_in_seconds": get.number(
                "MaximumEventAgeInSeconds", "maximum_event_age_in_seconds", config, where
            ),
        }
        destinations = config.get("DestinationConfig") or {}
        if not isinstance(destinations, dict):
            raise self.resolver.error(f"{where}.DestinationConfig", "must be a mapping")
        for key, role in (("OnSuccess", "on_success"), ("OnFailure", "on_failure")):
            entry = destinations.get(key)
            if entry is None:
                continue
            place = f"{where}.DestinationConfig.{key}"
            if not isinstance(entry, dict):
                raise self.resolver.error(place, "must be a mapping with a Destination")
            auto = f"{logical_id}EventInvokeConfig{key}" if sam else None
            out[role] = self._destination(role, entry.get("Destination"), place, entry, auto)
        return out

    def _dead_letter_queue(self, get: _Properties, sam: bool) -> dict[str, Any]:
        key = "DeadLetterQueue" if sam else "DeadLetterConfig"
        config = get.value(key)
        if config is None:
            return {}
        place = f"{get.where}.Properties.{key}"
        if not isinstance(config, dict) or config.get("TargetArn") is None:
            raise self.resolver.error(place, "needs a TargetArn (an SQS queue or SNS topic)")
        if sam and config.get("Type") not in ("SQS", "SNS"):
            raise self.resolver.error(
                f"{place}.Type", f"must be SQS or SNS, got {config.get('Type')!r}"
            )
        target = self._destination("dead_letter_queue", config["TargetArn"], place, {}, None)
        return {"dead_letter_queue": target}

    def _destination(
        self,
        role: str,
        value: Any,
        where: str,
        entry: Mapping[str, Any],
        auto: str | None,
    ) -> TemplateDestination | None:
        kind = entry.get("Type")
        if kind is not None and kind not in _DESTINATION_TYPES:
            raise self.resolver.error(
                f"{where}.Type", f"'Type: {kind}' must be one of {', '.join(_DESTINATION_TYPES)}"
            )
        if value is None or value is NO_VALUE:
            if auto is not None and kind in _SAM_AUTO_CREATED:
                logical = auto + _SAM_AUTO_CREATED[kind]
                return TemplateDestination(
                    role,
                    f"the {kind} {_SAM_AUTO_CREATED[kind].lower()} SAM creates",
                    logical,
                    resource=logical,
                )
            if not entry:
                return None
            raise self.resolver.error(where, "has no Destination ARN")
        if isinstance(value, ResourceRef):
            return self._resource_destination(role, value, where)
        if isinstance(value, str) and value.startswith("arn:"):
            return TemplateDestination(role, value, _arn_name(value), arn=value)
        raise self.resolver.error(where, f"a destination must be an ARN, got {value!r}")

    def _resource_destination(self, role: str, ref: ResourceRef, where: str) -> TemplateDestination:
        kind = self.kind(ref.logical_id) or "resource"
        if ref.attribute is None and kind in _REF_IS_NOT_AN_ARN:
            raise self.resolver.error(
                where,
                f"{ref} gives {_REF_IS_NOT_AN_ARN[kind]}, not an ARN: write "
                f"!GetAtt {ref.logical_id}.Arn",
            )
        if ref.attribute is not None and ref.attribute not in _ARN_ATTRIBUTES:
            raise self.resolver.error(
                where, f"{ref} is not an ARN: write !GetAtt {ref.logical_id}.Arn"
            )
        return TemplateDestination(role, str(ref), ref.logical_id, resource=ref.logical_id)


class _Properties:
    """A function's properties, resolved one at a time with errors naming the property."""

    def __init__(
        self, reader: _Reader, properties: dict[str, Any], where: str, logical_id: str
    ) -> None:
        self.reader = reader
        self.properties = properties
        self.where = where
        self.logical_id = logical_id

    def raw(self, key: str) -> Any:
        return self.properties.get(key)

    def value(self, key: str) -> Any:
        value = self.reader.resolver.resolve(self.raw(key), f"{self.where}.Properties.{key}")
        return None if value is NO_VALUE else value

    def text(self, key: str) -> str | None:
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
        place = f"{where or self.where + '.Properties'}.{key}"
        value = self.value(key) if within is None else within.get(key)
        if value is None or value is NO_VALUE:
            return None
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)  # a parameter's value is text, as CloudFormation passes it
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.reader.resolver.error(place, f"must be a whole number, got {value!r}")
        try:
            check_range(setting, value, self.reader.aws_limits)
        except ConfigurationError as e:
            raise self.reader.resolver.error(place, str(e)) from None
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
        return self.reader.resolver.error(
            f"{self.where}.Properties.{key}", f"not supported by this command: {why}"
        )


def _merge_globals(common: Mapping[str, Any], own: Mapping[str, Any]) -> dict[str, Any]:
    # SAM's rules: maps merge key by key, lists add up, anything else the function's wins.
    merged = dict(common)
    for key, value in own.items():
        base = merged.get(key)
        if _is_map(base) and _is_map(value):
            merged[key] = _merge_globals(base, value)
        elif isinstance(base, list) and isinstance(value, list):
            merged[key] = base + value
        else:
            merged[key] = value
    return merged


def _is_map(value: Any) -> TypeGuard[dict[str, Any]]:
    return isinstance(value, dict) and not is_intrinsic(value)


def _arn_name(arn: str) -> str:
    # The resource's own name: a queue, topic or function name, or an event bus's.
    resource = arn.split(":", 5)[-1]
    for separator in (":", "/"):
        if separator in resource:
            kind, _, rest = resource.partition(separator)
            if kind in ("function", "event-bus"):
                resource = rest.split(":", 1)[0]
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in resource) or "destination"
