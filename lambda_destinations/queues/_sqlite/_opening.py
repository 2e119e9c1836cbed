"""Opening the queue file: a connection in write-ahead-log mode, on a file of this layout.

A new (empty) file gets the schema; any other file must carry this version's
``user_version``. Each refusal says which file and what to pass instead.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Final

import tenacity

from lambda_destinations._exceptions import ConfigurationError

from ._schema import SCHEMA, SCHEMA_VERSION, Synchronous

__all__ = ["open_queue_file"]

# How long a writer waits for another process's transaction before trying again.
_BUSY_TIMEOUT: Final = 30.0


def _locked(error: BaseException) -> bool:
    return isinstance(error, sqlite3.OperationalError) and "locked" in str(error)


# Two connections opening one new file at once: while one switches it to write-ahead logging,
# the other can be told "database is locked" at once, without SQLite's busy wait. Tried again.
_OPENING_RACE: Final = tenacity.Retrying(
    retry=tenacity.retry_if_exception(_locked),
    wait=tenacity.wait_exponential(multiplier=0.01, max=1),
    stop=tenacity.stop_after_delay(_BUSY_TIMEOUT),
    reraise=True,
)


def open_queue_file(path: Path, synchronous: Synchronous) -> sqlite3.Connection:
    """A connection to *path* for the writer thread (made there, used only there)."""
    try:
        conn = sqlite3.connect(
            path,
            timeout=_BUSY_TIMEOUT,
            isolation_level=None,
            check_same_thread=False,
            cached_statements=256,
        )
    except sqlite3.Error as e:
        msg = f"SQLiteQueue cannot open {str(path)!r}: {e}; pass a writable file path"
        raise ConfigurationError(msg) from e
    try:
        _OPENING_RACE(_prepare, conn, path, synchronous)
    except sqlite3.OperationalError as e:
        conn.close()
        msg = (
            f"SQLiteQueue cannot use {str(path)!r}: it stayed locked for {_BUSY_TIMEOUT:g} s "
            f"({e}); check which process holds it"
        )
        raise ConfigurationError(msg) from e
    except BaseException:
        conn.close()
        raise
    return conn


def _prepare(conn: sqlite3.Connection, path: Path, synchronous: Synchronous) -> None:
    where = repr(str(path))
    try:
        conn.execute("SELECT json_extract('[1]', '$[0]')")
    except sqlite3.OperationalError as e:
        msg = (
            f"SQLiteQueue needs SQLite's JSON functions, which this Python's SQLite "
            f"{sqlite3.sqlite_version} lacks ({e}): use a build of SQLite 3.38 or newer"
        )
        raise ConfigurationError(msg) from e
    try:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if version == 0 and tables == 0:
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                version = SCHEMA_VERSION
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    except sqlite3.DatabaseError as e:
        if _locked(e):
            raise  # tried again by the caller
        msg = f"SQLiteQueue cannot use {where}: {e}; pass a new file or a queue file"
        raise ConfigurationError(msg) from e
    if version != SCHEMA_VERSION:
        msg = (
            f"{where} is not a queue file of this version of lambda_destinations "
            f"(user_version {version}, expected {SCHEMA_VERSION}): pass a new file"
        )
        raise ConfigurationError(msg)
    if str(mode).lower() != "wal":
        msg = (
            f"SQLiteQueue needs write-ahead logging, which {where} refused (journal mode "
            f"{mode!r}); put the file on a local disk"
        )
        raise ConfigurationError(msg)
