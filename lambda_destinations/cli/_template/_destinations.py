"""A destination or dead-letter queue as the template writes it, mapped to what it names.

A literal ARN is used as it is; a reference to a resource of the template (or to a queue or
topic SAM creates) has an ARN only once deployed, so the command needs it from the user. A
``Ref`` that gives a resource's name or URL rather than its ARN is refused, saying what to
write instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from lambda_destinations.cli._intrinsics import NO_VALUE, ResourceRef

from ._document import LAMBDA_FUNCTION, SAM_FUNCTION, Template
from ._model import TemplateDestination

__all__ = ["destination"]

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


def destination(
    template: Template,
    role: str,
    value: Any,
    where: str,
    entry: Mapping[str, Any],
    auto: str | None,
) -> TemplateDestination | None:
    """The destination *value* at *where* names for *role* (``None``: no destination).

    *entry* is the mapping holding it (its ``Type``); *auto* the logical id prefix of the
    queue or topic SAM creates when a SAM function's destination has a type and no ARN.
    """
    kind = entry.get("Type")
    if kind is not None and kind not in _DESTINATION_TYPES:
        raise template.resolver.error(
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
        raise template.resolver.error(where, "has no Destination ARN")
    if isinstance(value, ResourceRef):
        return _resource_destination(template, role, value, where)
    if isinstance(value, str) and value.startswith("arn:"):
        return TemplateDestination(role, value, _arn_name(value), arn=value)
    raise template.resolver.error(where, f"a destination must be an ARN, got {value!r}")


def _resource_destination(
    template: Template, role: str, ref: ResourceRef, where: str
) -> TemplateDestination:
    kind = template.kind(ref.logical_id) or "resource"
    if ref.attribute is None and kind in _REF_IS_NOT_AN_ARN:
        raise template.resolver.error(
            where,
            f"{ref} gives {_REF_IS_NOT_AN_ARN[kind]}, not an ARN: write "
            f"!GetAtt {ref.logical_id}.Arn",
        )
    if ref.attribute is not None and ref.attribute not in _ARN_ATTRIBUTES:
        raise template.resolver.error(
            where, f"{ref} is not an ARN: write !GetAtt {ref.logical_id}.Arn"
        )
    return TemplateDestination(role, str(ref), ref.logical_id, resource=ref.logical_id)


def _arn_name(arn: str) -> str:
    # The resource's own name: a queue, topic or function name, or an event bus's.
    resource = arn.split(":", 5)[-1]
    for separator in (":", "/"):
        if separator in resource:
            kind, _, rest = resource.partition(separator)
            if kind in ("function", "event-bus"):
                resource = rest.split(":", 1)[0]
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in resource) or "destination"
