"""Write docs/api.md: every public name of the package, its signature and its docstring.

Generated from the code, so the reference cannot drift from it: ``make api`` rewrites the
page, and a test fails when the page in the repository differs from what this prints.
"""

from __future__ import annotations

import enum
import importlib
import inspect
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FunctionType
from typing import Any, Final

#: The public modules, in the order the page presents them, and what each is for.
MODULES: Final = {
    "lambda_destinations": "The invoker, its records, settings, errors and metrics.",
    "lambda_destinations.destinations": "Destinations and dead-letter queues in this process.",
    "lambda_destinations.destinations.aws": (
        "Destinations and dead-letter queues on AWS (the `aws` extra)."
    ),
    "lambda_destinations.queues": "Queue backends: where accepted events wait.",
    "lambda_destinations.testing": "Virtual time and helpers for tests.",
    "lambda_destinations.otel": "Metrics to OpenTelemetry (the `otel` extra).",
    "lambda_destinations.cli": "The `lambda-destinations` command (the `cli` extra).",
}
PAGE: Final = Path(__file__).resolve().parents[1] / "docs" / "api.md"
_PACKAGE: Final = Path(__file__).resolve().parents[1] / "lambda_destinations"

_HEADER = """# API reference

Every public name, by module, with its signature and what its docstring says. Generated from
the code by `make api` (`tools/api_reference.py`); a test keeps it current. The guides say how
the pieces fit: [concepts.md](concepts.md), [testing.md](testing.md), [aws.md](aws.md),
[queues.md](queues.md), [cli.md](cli.md), [decorator.md](decorator.md),
[observability.md](observability.md).
"""


def _docstring(obj: object) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.strip()


# Module paths in evaluated annotations: the names alone read better, and private modules
# are not where a user finds them anyway.
_QUALIFIED = re.compile(
    r"\b(?:lambda_destinations|collections\.abc|typing|datetime|types)(?:\.\w+)*\.(?=\w)"
)
_ADDRESS = re.compile(r"<([\w.]+) object at 0x[0-9a-f]+>")


def _stable(text: str) -> str:
    # Default values print with memory addresses; the page must not change from run to run.
    text = text.replace("<object object at", "<unset object at")
    return _ADDRESS.sub(
        lambda m: "..." if m[1] == "unset" else f"<{m[1].rsplit('.', 1)[-1]}>", text
    )


def _signature(obj: Any, name: str) -> str:
    try:
        signature = inspect.signature(obj, eval_str=True)
    except (TypeError, ValueError, NameError):
        try:
            signature = inspect.signature(obj)
        except (TypeError, ValueError):
            return name
    if isinstance(obj, type):
        signature = signature.replace(return_annotation=inspect.Signature.empty)
    text = _QUALIFIED.sub("", str(signature)).replace("~", "")
    return _stable(f"{name}{text}")


def _protocol_doc(name: str) -> str:
    # A method that implements one of the library's protocols says what the protocol says.
    from lambda_destinations import Clock, DeadLetterQueue, Destination
    from lambda_destinations.queues import Consumer, EventQueue

    for protocol in (EventQueue, Consumer, Clock, Destination, DeadLetterQueue):
        member = protocol.__dict__.get(name)
        if member is not None and _docstring(member):
            return _docstring(member)
    return ""


def _own_doc(owner: type, name: str, member: object) -> str:
    # A member documented only by its base class (object, Protocol, Exception) says nothing
    # about this library: leave it out rather than repeat Python's own text.
    doc = _docstring(member) or _protocol_doc(name)
    for base in owner.__mro__[1:]:
        foreign = base.__module__ in ("builtins", "typing", "enum", "abc")
        if foreign and hasattr(base, name) and inspect.getdoc(getattr(base, name)) == doc:
            return ""
    return doc


def _members(cls: type) -> Iterator[str]:
    for name, member in cls.__dict__.items():
        if name.startswith("_") and name not in ("__call__", "__aenter__", "__await__"):
            continue
        if isinstance(member, property):
            doc = _docstring(member)
            yield f"- `{name}` (property){': ' + _first(doc) if doc else ''}"
        elif isinstance(member, classmethod | staticmethod):
            fn = member.__func__
            doc = _own_doc(cls, name, fn)
            sig = _signature(fn, name).replace("(cls, ", "(").replace("(cls)", "()")
            yield f"- `{sig}`{': ' + _first(doc) if doc else ''}"
        elif inspect.isfunction(member):
            doc = _own_doc(cls, name, member)
            sig = _signature(member, name).replace("(self, ", "(").replace("(self)", "()")
            yield f"- `{sig}`{': ' + _first(doc) if doc else ''}"


def _comment_of(name: str) -> str:
    # The ``#:`` comment above a module-level constant, wherever the package defines it.
    pattern = re.compile(rf"((?:^#: .*\n)+)^{re.escape(name)}\b", re.M)
    for path in sorted(_PACKAGE.rglob("*.py")):
        found = pattern.search(path.read_text(encoding="utf-8"))
        if found:
            return " ".join(line[3:] for line in found[1].splitlines())
    return ""


def _first(doc: str) -> str:
    return " ".join(doc.split("\n\n")[0].split())


def _describe(module_name: str, name: str, obj: object, seen: dict[int, str]) -> list[str]:
    lines = [f"### `{module_name}.{name}`", ""]
    if isinstance(obj, type | FunctionType) and id(obj) in seen:
        return [*lines, f"The same as `{seen[id(obj)]}`.", ""]
    seen[id(obj)] = f"{module_name}.{name}"
    if isinstance(obj, type):
        if issubclass(obj, enum.Enum):
            lines.append(f"`class {name}` ({', '.join(f'`{m.name}`' for m in obj)})")
        elif getattr(obj, "_is_protocol", False):
            lines.append(f"`class {name}` (a protocol: any object with these members fits)")
        else:
            lines.append(f"`class {_signature(obj, name)}`")
        lines.append("")
        doc = _docstring(obj)
        if doc:
            lines += [doc, ""]
        members = list(_members(obj)) if not issubclass(obj, enum.Enum) else []
        if members:
            lines += [*members, ""]
    elif inspect.isfunction(obj) or inspect.isbuiltin(obj):
        lines += [f"`{_signature(obj, name)}`", ""]
        doc = _docstring(obj)
        if doc:
            lines += [doc, ""]
    else:
        shown = _stable(_QUALIFIED.sub("", repr(obj)))
        if len(shown) > 90 or shown.startswith("<"):
            shown = f"a `{type(obj).__module__}.{type(obj).__qualname__}`"
        else:
            shown = f"`{shown}`"
        lines += [f"`{name}`: {shown}", ""]
        comment = _comment_of(name)
        if comment:
            lines += [comment, ""]
    return lines


def render() -> str:
    """The whole page."""
    out = [_HEADER]
    seen: dict[int, str] = {}
    for module_name, summary in MODULES.items():
        module = importlib.import_module(module_name)
        out += [f"## `{module_name}`", "", summary, ""]
        for name in getattr(module, "__all__", ()):
            out += _describe(module_name, name, getattr(module, name), seen)
    return "\n".join(out).rstrip() + "\n"


def main() -> int:
    """Rewrite docs/api.md."""
    PAGE.write_text(render(), encoding="utf-8")
    print(f"wrote {PAGE}")  # noqa: T201 - a command's own output
    return 0


if __name__ == "__main__":
    sys.exit(main())
