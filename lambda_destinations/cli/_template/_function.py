"""One function resource read into a `FunctionTemplate`: what runs, where, with which settings.

SAM's ``Globals`` are merged in first (SAM's rules); a function that cannot run here (not
Python, a container image, inline code, code on S3) is refused, naming the property.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeGuard

from lambda_destinations._exceptions import ConfigurationError
from lambda_destinations.cli._handler import HandlerSpec
from lambda_destinations.cli._intrinsics import is_intrinsic

from ._document import SAM_FUNCTION, Template
from ._invoke_config import dead_letter_queue, event_invoke_config
from ._model import FunctionTemplate
from ._properties import Properties

__all__ = ["read_function"]


def read_function(template: Template, logical_id: str) -> FunctionTemplate:
    """The settings of the function *logical_id* of *template*."""
    resource = template.resources[logical_id]
    where = f"Resources.{logical_id}"
    condition = resource.get("Condition")
    if isinstance(condition, str) and not template.resolver.condition(condition, where):
        msg = (
            f"{template.source}: {logical_id} is not created: its Condition {condition} is "
            "false (set the parameters it depends on with --parameter-overrides)"
        )
        raise ConfigurationError(msg)
    sam = template.kind(logical_id) == SAM_FUNCTION
    properties = _properties(template, resource, where, sam)
    get = Properties(template, properties, where, logical_id)
    runtime = get.text("Runtime")
    if runtime is not None and not runtime.startswith("python"):
        raise template.resolver.error(
            f"{where}.Properties.Runtime",
            f"{logical_id} runs {runtime}; this command runs Python handlers",
        )
    if get.text("PackageType") == "Image":
        raise template.resolver.error(
            f"{where}.Properties.PackageType",
            "a container image function cannot run here: it needs a .zip package with "
            "a Handler and its code directory",
        )
    handler = get.text("Handler")
    if handler is None:
        raise template.resolver.error(f"{where}.Properties", "the function has no Handler")
    code = _code_directory(template, get, sam)
    environment, unset = get.environment()
    return FunctionTemplate(
        source=template.source,
        logical_id=logical_id,
        function_name=get.text("FunctionName") or logical_id,
        handler=HandlerSpec.from_setting(handler, code),
        environment=environment,
        unset_environment=unset,
        timeout=get.number("Timeout", "timeout"),
        memory_size=get.number("MemorySize", "memory_size"),
        reserved_concurrency=get.number("ReservedConcurrentExecutions", "reserved_concurrency"),
        **event_invoke_config(template, logical_id, get, sam),
        **dead_letter_queue(template, get, sam),
    )


def _properties(
    template: Template, resource: dict[str, Any], where: str, sam: bool
) -> dict[str, Any]:
    properties = resource.get("Properties") or {}
    if not isinstance(properties, dict):
        raise template.resolver.error(f"{where}.Properties", "must be a mapping")
    if not sam:
        return properties
    common = template.globals.get("Function") if isinstance(template.globals, dict) else None
    if not isinstance(common, dict):
        return properties
    return _merge_globals(common, properties)


def _code_directory(template: Template, get: Properties, sam: bool) -> Path:
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
        return template.directory
    if not isinstance(uri, str) or uri.startswith("s3://"):
        raise get.unsupported(
            key, "the code must be a local directory (as before sam package / deploy)"
        )
    directory = (template.directory / uri).resolve()
    if not directory.is_dir():
        raise template.resolver.error(
            f"{get.where}.Properties.{key}", f"{uri} is not a directory next to the template"
        )
    return directory


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
