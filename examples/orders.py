"""A Lambda handler, unmodified: it would run on AWS as it runs here."""

from __future__ import annotations

from typing import Any


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if not event.get("Success"):
        raise ValueError("Failure from event, Success = false, I am failing!")
    return {"ok": True, "request": context.aws_request_id}
