"""JSON on the hot path: the standard library's C encoder and scanner, called directly.

Every accepted event is encoded once and decoded once per attempt. ``JSONEncoder.encode``
builds a new C encoder per call and ``json.loads`` wraps the C scanner in three Python calls;
calling the C parts directly roughly halves that cost. Results and errors stay exactly the
standard library's: anything unusual (an error, leading whitespace, trailing data) takes the
ordinary path, which then gives the answer or raises its own exception.
"""

from __future__ import annotations

import json
import json.encoder
from collections.abc import Callable
from typing import Any, Final

__all__ = ["decode", "fast_encoder"]

# Not in typeshed: the scanner every JSONDecoder builds, and the C encoder's factory.
_scan: Final[Callable[[str, int], tuple[Any, int]]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_make_encoder: Final[Callable[..., Callable[[object, int], Any]] | None] = getattr(
    json.encoder, "c_make_encoder", None
)


def decode(text: str) -> Any:
    """``json.loads(text)``: the same value, or the same exception."""
    try:
        value, end = _scan(text, 0)
    except StopIteration:
        return json.loads(text)  # not JSON at its start: json.loads says why
    if end != len(text):
        return json.loads(text)  # trailing whitespace is allowed, anything else is not
    return value


def fast_encoder(encoder: json.JSONEncoder) -> Callable[[object], str]:
    """``encoder.encode`` with one C encoder built once, for an encoder with ``indent=None``.

    The fast encoder skips the circular-reference check, which needs a dict shared by the
    call: shared between threads, it could see another call's objects. Any error re-runs
    the ordinary encoder, so a circular value still gets its usual ``ValueError``.
    """
    make = _make_encoder
    if make is None or encoder.indent is not None:
        return encoder.encode  # no C encoder here (another Python implementation)
    quote: Callable[[str], str] = (
        json.encoder.encode_basestring_ascii
        if encoder.ensure_ascii
        else json.encoder.encode_basestring
    )
    chunks = make(
        None,
        encoder.default,
        quote,
        None,
        encoder.key_separator,
        encoder.item_separator,
        encoder.sort_keys,
        encoder.skipkeys,
        encoder.allow_nan,
    )
    careful = encoder.encode

    def encode(value: object) -> str:
        if type(value) is str:
            return quote(value)
        try:
            return "".join(chunks(value, 0))
        except Exception:  # noqa: BLE001 - re-run for the ordinary encoder's own error
            return careful(value)

    return encode
