"""The events to invoke with: ``--event`` documents and ``--events`` JSON Lines files.

Every event is read and checked before the first one is invoked, so a malformed line stops the
command with its line number instead of after half the events ran. Events are kept as the
bytes the user wrote: the handler and the records see them exactly, as AWS forwards them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, Final

from attrs import frozen

from lambda_destinations._exceptions import ConfigurationError, InvokeError
from lambda_destinations._payload import DEFAULT_PAYLOAD_LIMIT, encode_payload

__all__ = ["Event", "read_events"]

_LINE_BREAKS: Final = re.compile(rb"[\r\n]+[ \t]*")
_EVENT_FORMS: Final = "pass a JSON document, @file.json, or - for standard input"


@frozen
class Event:
    """One event to invoke: its JSON document as bytes, and where it was written."""

    body: bytes
    source: str


def read_events(
    event_args: Sequence[str], events_file: str | None, stdin: BinaryIO, cwd: Path
) -> list[Event]:
    """The events of ``--event`` (each one document) then ``--events`` (one a line).

    With neither, one empty event ``{}``, as AWS queues for an invoke without a payload.
    Raises `ConfigurationError` naming the argument or file line that is wrong.
    """
    if sum(arg == "-" for arg in event_args) + (events_file == "-") > 1:
        msg = "standard input (-) can be read only once: use it for one --event or --events"
        raise ConfigurationError(msg)
    events = [_one_event(arg, i, stdin, cwd) for i, arg in enumerate(event_args, 1)]
    if events_file is not None:
        events += _events_file(events_file, stdin, cwd)
    if not event_args and events_file is None:
        events.append(Event(b"{}", "the default event"))
    return events


def _one_event(arg: str, number: int, stdin: BinaryIO, cwd: Path) -> Event:
    label = f"--event #{number}"
    if arg == "-":
        source = f"{label} (standard input)"
        body = stdin.read()
    elif arg.startswith("@"):
        source = f"{label} ({arg[1:]})"
        body = _read_file(arg[1:], label, cwd)
    else:
        source = label
        body = arg.encode()
    try:
        _check_json(body)
    except ValueError as e:
        msg = f"{source} is not JSON ({e}): {_EVENT_FORMS}"
        raise ConfigurationError(msg) from None
    return _checked(Event(_one_line(body), source))


def _one_line(body: bytes) -> bytes:
    # A record is one line of JSON Lines, and it holds the event as written: line breaks
    # (and the indentation after them) go. In JSON they can only be whitespace between
    # tokens, never part of a value, so the event stays the same document.
    return _LINE_BREAKS.sub(b"", body.strip())


def _events_file(name: str, stdin: BinaryIO, cwd: Path) -> list[Event]:
    shown = "standard input" if name == "-" else name
    data = stdin.read() if name == "-" else _read_file(name, "--events", cwd)
    events = []
    for number, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        source = f"{shown} line {number}"
        try:
            _check_json(line)
        except ValueError as e:
            msg = (
                f"{source} is not JSON ({e}): each line of an events file is one JSON "
                "document; fix or remove that line"
            )
            raise ConfigurationError(msg) from None
        events.append(_checked(Event(line.strip(), source)))
    if not events:
        msg = f"--events {shown} holds no event: write one JSON document a line"
        raise ConfigurationError(msg)
    return events


def _read_file(name: str, label: str, cwd: Path) -> bytes:
    try:
        return (cwd / name).read_bytes()
    except OSError as e:
        msg = f"{label}: cannot read {name} ({e.strerror or e}); check the path"
        raise ConfigurationError(msg) from None


def _reject_constant(name: str) -> None:
    msg = f"{name} is not valid JSON"
    raise ValueError(msg)


def _check_json(body: bytes) -> None:
    try:
        text = body.decode()
    except UnicodeDecodeError as e:
        msg = f"not UTF-8: {e.reason} at byte {e.start}"
        raise ValueError(msg) from None
    if not text.strip():
        msg = "empty"
        raise ValueError(msg)
    try:
        json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        where = f"column {e.colno}" if e.lineno == 1 else f"line {e.lineno} column {e.colno}"
        msg = f"{e.msg} at {where}"
        raise ValueError(msg) from None
    except RecursionError:
        msg = "nested too deeply"
        raise ValueError(msg) from None


def _checked(event: Event) -> Event:
    # The library's own check at invoke time: the same size limit and message as AWS's.
    try:
        encode_payload(event.body, DEFAULT_PAYLOAD_LIMIT)
    except InvokeError as e:
        msg = f"{event.source}: {e}"
        raise ConfigurationError(msg) from None
    return event
