"""Recursive loop detection: how many functions the triggering event has passed through.

AWS carries a lineage counter with each event (in the X-Ray trace header its SDKs pass on)
and, by default, stops an invocation that the same event would make for the 17th time. Here
the counter travels in a context variable: set while a handler runs and while its event's
record is delivered, read by ``invoke()``. So an ``invoke()`` from inside a handler, and an
invoker used as another's destination, both carry it on.
"""

from __future__ import annotations

import contextvars
from typing import Final, Literal, TypeAlias

__all__ = ["LINEAGE", "MAX_INVOCATIONS", "RecursiveLoop"]

#: ``PutFunctionRecursionConfig``'s ``RecursiveLoop``: stop loops (AWS's default) or allow them.
RecursiveLoop: TypeAlias = Literal["Terminate", "Allow"]

#: Invocations one triggering event may cause before AWS stops the next one.
MAX_INVOCATIONS: Final = 16

#: Invocations the triggering event of the running code has caused so far (0 outside any).
LINEAGE: Final[contextvars.ContextVar[int]] = contextvars.ContextVar(
    "lambda_destinations_lineage", default=0
)
