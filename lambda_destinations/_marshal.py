"""Turning a handler's result into JSON text the way Lambda's Python runtime does.

The runtime marshals with ``json.dumps`` and writes a ``Decimal`` (DynamoDB's numbers) as its
exact text; anything else it cannot encode is a ``Runtime.MarshalError``.
"""

from __future__ import annotations

import decimal
import json
import re
from typing import Final

from ._json import fast_encoder

__all__ = ["marshal"]


def _not_serializable(o: object) -> TypeError:
    return TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


class _HasDecimal(Exception):
    pass


def _plain_default(o: object) -> object:
    if isinstance(o, decimal.Decimal):
        raise _HasDecimal
    raise _not_serializable(o)


# One encoder for every result: json.dumps would build a new one per call for these options.
_encode_result = fast_encoder(json.JSONEncoder(default=_plain_default, allow_nan=False))
_DECIMAL_MARK: Final = "\x00lambda_destinations.decimal:"
_placeholder = re.compile(r'"\\u0000lambda_destinations\.decimal:(\d+)\\u0000"')


def _marshal_with_decimals(result: object) -> str:
    # The runtime writes a Decimal (DynamoDB's numbers) as its exact text. The standard
    # encoder cannot emit raw text, so each Decimal becomes a placeholder string, swapped after.
    decimals: list[str] = []

    def default(o: object) -> object:
        if isinstance(o, decimal.Decimal):
            if not o.is_finite():
                return float(o)  # NaN or Infinity: refused, as no JSON can hold them
            decimals.append(str(o))
            return f"{_DECIMAL_MARK}{len(decimals) - 1}\x00"
        raise _not_serializable(o)

    text = json.JSONEncoder(default=default, allow_nan=False).encode(result)
    return _placeholder.sub(lambda m: decimals[int(m[1])], text)


def marshal(result: object) -> str:
    """The result as JSON text; raises ``TypeError``/``ValueError`` if it cannot be."""
    if result is None:
        return "null"
    try:
        return _encode_result(result)
    except _HasDecimal:
        return _marshal_with_decimals(result)
