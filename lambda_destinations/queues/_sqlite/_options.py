"""The checks of `SQLiteQueue`'s arguments: each refusal names what to pass instead."""

from __future__ import annotations

import math
import os
import sqlite3
from pathlib import Path
from typing import get_args

from lambda_destinations._exceptions import ConfigurationError, ConfigurationTypeError

from ._schema import MINIMUM_SQLITE, Synchronous

__all__ = ["check_positive", "check_sqlite", "checked_path", "checked_synchronous"]


def check_sqlite() -> None:
    """Refuse a Python whose SQLite is older than the queue needs."""
    if sqlite3.sqlite_version_info < MINIMUM_SQLITE:
        msg = (
            f"SQLiteQueue needs SQLite {'.'.join(map(str, MINIMUM_SQLITE))} or newer; this "
            f"Python uses {sqlite3.sqlite_version}: use a Python built with a newer SQLite"
        )
        raise ConfigurationError(msg)


def checked_path(path: str | os.PathLike[str]) -> Path:
    """The absolute path of the queue file, in a folder that exists."""
    text = os.fspath(path)
    if not isinstance(text, str) or text in ("", ":memory:") or text.startswith("file:"):
        msg = (
            f"SQLiteQueue({path!r}) needs the path of a file on a local disk (an in-memory "
            "database lives and dies with one connection: use MemoryQueue instead)"
        )
        raise ConfigurationError(msg)
    resolved = Path(text).expanduser().absolute()
    if not resolved.parent.is_dir():
        msg = f"SQLiteQueue({text!r}): the folder {str(resolved.parent)!r} does not exist"
        raise ConfigurationError(msg)
    return resolved


def checked_synchronous(synchronous: Synchronous) -> Synchronous:
    """*synchronous*, if it is a durability the queue offers."""
    if synchronous not in get_args(Synchronous):
        msg = (
            f"synchronous={synchronous!r} is not a durability SQLiteQueue offers: pass "
            "'NORMAL' (survives a process crash) or 'FULL' (also survives power loss)"
        )
        raise ConfigurationError(msg)
    return synchronous


def check_positive(name: str, value: float) -> None:
    """Refuse a *value* of seconds that is not a finite number above 0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"{name}={value!r} must be a number of seconds"
        raise ConfigurationTypeError(msg)
    if not math.isfinite(value) or value <= 0:
        msg = f"{name}={value!r} must be a finite number of seconds above 0"
        raise ConfigurationError(msg)
