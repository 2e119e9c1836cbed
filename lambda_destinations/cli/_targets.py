"""Where records and dead letters go: standard output, a JSON Lines file, or an AWS ARN.

``-`` writes one JSON document a line to standard output; a ``.jsonl`` path appends to that
file (`JsonLinesDestination` for records); an ARN is sent through the AWS adapters of
``lambda_destinations.destinations.aws``, imported only when an ARN is given, so the command
works without boto3 until then.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, Final, Literal

from attrs import frozen

from lambda_destinations import (
    ConfigurationError,
    DeadLetterMessage,
    ExecutionRecord,
    JsonLinesDestination,
)

__all__ = ["AWS_EXTRA", "AwsOptions", "Target", "dead_letter_json", "open_target", "parse_target"]

AWS_EXTRA: Final = "pip install 'lambda_destinations[aws]'"
_FILE_SUFFIXES: Final = (".jsonl", ".ndjson")

Kind = Literal["stdout", "file", "arn"]


@frozen
class Target:
    """One place records or dead letters go, and where the choice came from (for messages)."""

    kind: Kind
    value: str
    origin: str
    #: Why it is here, when it is not what the user typed (a template's destination).
    note: str = ""

    def __str__(self) -> str:
        return "standard output" if self.kind == "stdout" else self.value


@frozen
class AwsOptions:
    """How AWS adapters reach AWS: ``--endpoint-url`` and ``--region``, else boto3's settings."""

    endpoint_url: str | None = None
    region: str | None = None

    def client_settings(self) -> dict[str, str]:
        settings = {}
        if self.endpoint_url is not None:
            settings["endpoint_url"] = self.endpoint_url
        if self.region is not None:
            settings["region_name"] = self.region
        return settings


def parse_target(text: str, origin: str) -> Target:
    """``-``, a ``.jsonl`` path or an ARN; anything else is refused saying which forms exist."""
    if text == "-":
        return Target("stdout", "-", origin)
    if text.startswith("arn:"):
        if text.count(":") < 5:
            msg = f"{origin} {text!r} is not a complete ARN (arn:aws:SERVICE:REGION:ACCOUNT:NAME)"
            raise ConfigurationError(msg)
        return Target("arn", text, origin)
    if text.endswith(_FILE_SUFFIXES):
        return Target("file", text, origin)
    msg = (
        f"{origin} {text!r}: pass - (standard output), a .jsonl file path, or an ARN "
        "(arn:aws:sqs:..., arn:aws:sns:..., ...)"
    )
    raise ConfigurationError(msg)


def dead_letter_json(message: DeadLetterMessage) -> bytes:
    """A dead letter as one JSON line, in SQS's message shape (``Body``, ``MessageAttributes``)."""
    document = {"Body": message.body, "MessageAttributes": message.message_attributes}
    return json.dumps(document, separators=(",", ":")).encode()


class _Lines:
    """Writes one JSON document a line to a binary stream, flushed so pipes see it at once."""

    __slots__ = ("_encode", "_stream")

    def __init__(self, stream: BinaryIO, encode: Callable[[Any], bytes]) -> None:
        self._stream = stream
        self._encode = encode

    def send(self, item: Any, /) -> None:
        self._stream.write(self._encode(item) + b"\n")
        self._stream.flush()


class _DeadLetterFile:
    """Appends each dead letter to a JSON Lines file, as `JsonLinesDestination` does records."""

    __slots__ = ("path",)

    def __init__(self, path: Path) -> None:
        self.path = path

    def send(self, message: DeadLetterMessage, /) -> None:
        with self.path.open("ab") as f:
            f.write(dead_letter_json(message) + b"\n")


def _record_json(record: ExecutionRecord) -> bytes:
    return record.to_json()


def open_target(
    target: Target, *, dead_letters: bool, stdout: BinaryIO, cwd: Path, aws: AwsOptions
) -> Any:
    """The destination object for *target*: its ``send`` takes a record (or a dead letter)."""
    if target.kind == "stdout":
        return _Lines(stdout, dead_letter_json if dead_letters else _record_json)
    if target.kind == "file":
        path = cwd / target.value
        if not path.parent.is_dir():
            msg = f"{target.origin} {target.value}: the directory {path.parent} does not exist"
            raise ConfigurationError(msg)
        return _DeadLetterFile(path) if dead_letters else JsonLinesDestination(path)
    factory = "dead_letter_queue_from_arn" if dead_letters else "destination_from_arn"
    build = _aws_factory(factory, target)
    try:
        return build(target.value, **aws.client_settings())
    except ImportError as e:  # adapters that import boto3 only when one is built
        raise _needs_aws_extra(target, e) from None
    except ValueError as e:  # ConfigurationError: an ARN AWS would refuse, say
        msg = f"{target.origin} {target.value}: {e}"
        raise ConfigurationError(msg) from None


def _aws_factory(name: str, target: Target) -> Callable[..., Any]:
    try:
        module = importlib.import_module("lambda_destinations.destinations.aws")
    except ImportError as e:
        raise _needs_aws_extra(target, e) from None
    factory: Callable[..., Any] = getattr(module, name)
    return factory


def _needs_aws_extra(target: Target, error: ImportError) -> ConfigurationError:
    return ConfigurationError(
        f"{target.origin} {target.value}: sending to AWS needs the aws extra ({error}): {AWS_EXTRA}"
    )
