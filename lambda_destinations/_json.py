"""JSON on the hot path: the standard library's C encoder and scanner, called directly.

Every accepted event is encoded once and decoded once per attempt. ``JSONEncoder.encode``
builds a new C encoder per call and ``json.loads`` wraps the C scanner in three Python calls;
calling the C parts directly roughly halves that cost. Results and errors stay exactly the
standard library's: text the scanner does not take whole (not JSON at its start, leading or
trailing data) and a value the encoder recurses on without end go the ordinary way, which
then gives the answer or raises its own exception.

One difference cannot be helped on Python 3.11, where C recursion and Python frames share a
counter: with json's Python layers skipped, a document nested within a frame or two of the
recursion limit can parse here and fail in ``json.loads``. Where that limit falls already
depends on how deep the stack is at the call.
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
    if type(text) is not str:
        return json.loads(text)  # bytes, or not text at all: json.loads knows what to do
    try:
        value, end = _scan(text, 0)
    except StopIteration:
        return json.loads(text)  # not JSON at its start: json.loads says why
    if end != len(text):
        return json.loads(text)  # trailing whitespace is allowed, anything else is not
    return value


def fast_encoder(encoder: json.JSONEncoder) -> Callable[[object], str]:
    """``encoder.encode`` with one C encoder built once, for an encoder with ``indent=None``.

    The fast encoder skips the circular-reference check, which needs a dict of its own per
    call: one shared between threads could see another call's objects. A circular value then
    recurses until it raises ``RecursionError``, and only then does the ordinary encoder run
    again, for its own error (``Circular reference detected``). Any other error is the one
    the ordinary encoder raises: up to a back reference, both do the same work in the same
    order, so on such an error user code (``default``, a dict subclass's ``items``) runs
    only as often as before.
    """
    make = _make_encoder
    if make is None or type(encoder) is not json.JSONEncoder or encoder.indent is not None:
        # No C encoder (another Python implementation), a subclass with methods of its own,
        # or indented output, which the C encoder does not write.
        return encoder.encode
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
        except RecursionError:
            pass  # circular, or too deep: outside the handler, so that no error chains to it
        return careful(value)

    return encode
