"""A function's event invoke config and dead-letter queue, as the template writes them.

The config is ``EventInvokeConfig`` on a SAM function or a standalone
``AWS::Lambda::EventInvokeConfig`` naming the function; AWS allows one per qualifier, and the
command runs ``$LATEST``'s. The dead-letter queue is ``DeadLetterQueue`` (SAM) or
``DeadLetterConfig``.
"""

from __future__ import annotations

from typing import Any

from lambda_destinations._exceptions import ConfigurationError
from lambda_destinations.cli._intrinsics import ResourceRef

from ._destinations import destination
from ._document import EVENT_INVOKE_CONFIG, Template
from ._properties import Properties

__all__ = ["dead_letter_queue", "event_invoke_config"]


def event_invoke_config(
    template: Template, logical_id: str, get: Properties, sam: bool
) -> dict[str, Any]:
    """The `FunctionTemplate` fields the function's event invoke config sets."""
    configs: list[tuple[str, str, dict[str, Any]]] = []
    if sam and get.value("EventInvokeConfig") is not None:
        config = get.value("EventInvokeConfig")
        if not isinstance(config, dict):
            raise get.unsupported("EventInvokeConfig", "it must be a mapping")
        configs.append(("$LATEST", f"{get.where}.Properties.EventInvokeConfig", config))
    for name, resource in template.resources.items():
        if template.kind(name) != EVENT_INVOKE_CONFIG:
            continue
        where = f"Resources.{name}.Properties"
        props = resource.get("Properties") or {}
        if not isinstance(props, dict):
            raise template.resolver.error(where, "must be a mapping")
        target = template.resolver.resolve(props.get("FunctionName"), f"{where}.FunctionName")
        if target == ResourceRef(logical_id) or target == get.text("FunctionName"):
            props = template.resolver.resolve(props, where)
            configs.append((str(props.get("Qualifier", "$LATEST")), where, props))
    if not configs:
        return {}
    latest = [c for c in configs if c[0] == "$LATEST"]
    if len(latest) > 1 or (not latest and len(configs) > 1):
        places = ", ".join(c[1] for c in (latest or configs))
        msg = (
            f"{template.source}: {logical_id} has several event invoke configs ({places}); "
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
        raise template.resolver.error(f"{where}.DestinationConfig", "must be a mapping")
    for key, role in (("OnSuccess", "on_success"), ("OnFailure", "on_failure")):
        entry = destinations.get(key)
        if entry is None:
            continue
        place = f"{where}.DestinationConfig.{key}"
        if not isinstance(entry, dict):
            raise template.resolver.error(place, "must be a mapping with a Destination")
        auto = f"{logical_id}EventInvokeConfig{key}" if sam else None
        out[role] = destination(template, role, entry.get("Destination"), place, entry, auto)
    return out


def dead_letter_queue(template: Template, get: Properties, sam: bool) -> dict[str, Any]:
    """The `FunctionTemplate` field the function's dead-letter queue sets, if it has one."""
    key = "DeadLetterQueue" if sam else "DeadLetterConfig"
    config = get.value(key)
    if config is None:
        return {}
    place = f"{get.where}.Properties.{key}"
    if not isinstance(config, dict) or config.get("TargetArn") is None:
        raise template.resolver.error(place, "needs a TargetArn (an SQS queue or SNS topic)")
    if sam and config.get("Type") not in ("SQS", "SNS"):
        raise template.resolver.error(
            f"{place}.Type", f"must be SQS or SNS, got {config.get('Type')!r}"
        )
    target = destination(template, "dead_letter_queue", config["TargetArn"], place, {}, None)
    return {"dead_letter_queue": target}
