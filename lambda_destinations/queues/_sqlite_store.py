"""The SQLite side of `SQLiteQueue`: the file's schema and one transaction per batch.

Everything here runs in the queue's writer thread, never on the event loop. A `Batch` is what
the loop gathered since the last transaction (accepted events, outcomes, retry waits,
deliveries done, how many events to lease); `Store.transact` writes it all in one
``BEGIN IMMEDIATE`` transaction and answers with an `Outcome`.

Rows stay visible to every process sharing the file: ``visible_at`` is an event's due time
while it waits and its lease's end while a process holds it, so an event held by a process
that died is due again when the lease runs out. Ending an event is a compare-and-set on its
lease token, and its record and dead letter go to the ``outbox`` table in the same
transaction, each claimed in the same way by whoever delivers it.

Each statement works on a whole batch, passed as one JSON parameter (``json_each``), and
answers in one JSON row. The sqlite3 module lets go of the GIL around every step of a
statement, and a busy event loop can keep it for a whole switch interval before giving it
back: ``executemany`` over 1,000 rows took 100x longer beside a busy loop, while one
statement per batch keeps the writer and the loop working side by side.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, Literal

from lambda_destinations._dead_letter import DeadLetterMessage
from lambda_destinations._exceptions import ConfigurationError
from lambda_destinations._records import (
    Condition,
    ExecutionRecord,
    RequestContext,
    ResponseContext,
)

from ._state import EventState

__all__ = ["MINIMUM_SQLITE", "SCHEMA_VERSION", "Batch", "Outcome", "Store", "Synchronous"]

#: How much of a commit reaches the disk before it returns: see docs/queues.md.
Synchronous = Literal["NORMAL", "FULL"]

#: ``PRAGMA user_version`` of a queue file; another value means another layout.
SCHEMA_VERSION: Final = 1
RECORD, DEAD_LETTER = "record", "dead_letter"
# Outbox items claimed per transaction, at most (delivering them is the loop's work).
_CLAIMS_PER_BATCH: Final = 256
# How long a writer waits for another process's transaction before trying again.
_BUSY_TIMEOUT: Final = 30.0
# What SQLite says when the busy timeout ran out.
_LOCKED: Final = ("locked", "busy")
_DEFAULT_TAIL: Final = EventState("", "", 0.0)[3:]
_PROGRESS_FIELDS: Final = EventState._fields[2:]

# ``state`` is the JSON of every EventState field after the body, as Python wrote it: floats
# keep every bit, and fields a later version adds have their defaults when missing.
_SCHEMA: Final = f"""
CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    request_id TEXT NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL,
    visible_at REAL NOT NULL,
    lease INTEGER
);
CREATE INDEX events_by_visible_at ON events (visible_at);
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    target TEXT NOT NULL,
    item TEXT NOT NULL,
    visible_at REAL NOT NULL
);
CREATE INDEX outbox_by_visible_at ON outbox (visible_at);
CREATE TABLE counts (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    events INTEGER NOT NULL,
    outbox INTEGER NOT NULL
);
INSERT INTO counts VALUES (0, 0, 0);
PRAGMA user_version = {SCHEMA_VERSION};
"""

# SQLite 3.35 or newer (RETURNING), with its JSON functions, which every build since 3.38 has.
MINIMUM_SQLITE: Final = (3, 35, 0)
# Rows with text are inserted with placeholders, many rows per statement (parsing a JSON
# parameter costs twice as much for long text); lists of numbers go as one JSON parameter.
_PUT: Final = "INSERT INTO events (request_id, body, state, visible_at)"
_STORE_OUTCOMES: Final = "INSERT INTO outbox (id, request_id, target, item, visible_at)"
_ROWS_PER_INSERT: Final = 4096
# Outbox ids are never used twice: a process that held an item long ago must never delete
# another's new item by its id.
_LAST_OUTBOX_ID: Final = (
    "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'outbox'), 0)"
)
# Which of [seq, lease token] this process still holds.
_HELD: Final = (
    "SELECT json_group_array(events.seq) FROM json_each(?) AS mine "
    "JOIN events ON events.seq = json_extract(mine.value, '$[0]') "
    "AND events.lease = json_extract(mine.value, '$[1]')"
)
_DELETE: Final = "DELETE FROM events WHERE seq IN (SELECT value FROM json_each(?))"
_RETRY: Final = (
    "UPDATE events SET state = json_extract(retry.value, '$[1]'), "
    "visible_at = json_extract(retry.value, '$[2]'), lease = NULL "
    "FROM json_each(?) AS retry WHERE events.seq = json_extract(retry.value, '$[0]')"
)
_RELEASE: Final = (
    "UPDATE events SET lease = NULL, visible_at = ? WHERE (seq, lease) IN "
    "(SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?))"
)
_DELIVERED: Final = "DELETE FROM outbox WHERE id IN (SELECT value FROM json_each(?))"
_DUE: Final = (
    "SELECT json_group_array(json_array(seq, request_id, body, state)) FROM "
    "(SELECT seq, request_id, body, state FROM events WHERE visible_at <= ? "
    "ORDER BY visible_at LIMIT ?)"
)
_LEASE: Final = (
    "UPDATE events SET lease = ?, visible_at = ? WHERE seq IN (SELECT value FROM json_each(?))"
)
_UNCLAIMED: Final = (
    "SELECT json_group_array(json_array(id, request_id, target, item)) FROM "
    "(SELECT id, request_id, target, item FROM outbox WHERE visible_at <= ? "
    "ORDER BY visible_at LIMIT ?)"
)
_CLAIM: Final = "UPDATE outbox SET visible_at = ? WHERE id IN (SELECT value FROM json_each(?))"
_NEXT: Final = "(SELECT min(visible_at) FROM events), (SELECT min(visible_at) FROM outbox)"
_COUNT: Final = (
    "UPDATE counts SET events = events + ?, outbox = outbox + ? WHERE id = 0 "
    f"RETURNING events, outbox, {_NEXT}"
)
_READ: Final = f"SELECT events, outbox, {_NEXT} FROM counts"


class Batch:
    """What the loop hands the writer thread for one transaction; not touched afterwards."""

    __slots__ = (
        "claim",
        "delivered",
        "due_by",
        "finishes",
        "lease",
        "lease_seconds",
        "look",
        "now",
        "puts",
        "releases",
        "reschedules",
        "unclaims",
    )

    def __init__(self, now: float) -> None:
        #: Epoch seconds on the invoker's clock: due times and leases are measured against it.
        self.now = now
        self.puts: list[EventState] = []
        #: (seq, lease token, last state, record, dead letter)
        self.finishes: list[
            tuple[int, int, EventState, ExecutionRecord, DeadLetterMessage | None]
        ] = []
        #: (seq, lease token, new state, due time)
        self.reschedules: list[tuple[int, int, EventState, float]] = []
        #: (seq, lease token): leased here, given back unrun
        self.releases: list[tuple[int, int]] = []
        #: Outbox ids of items delivered
        self.delivered: list[int] = []
        #: Outbox ids of items this process will not deliver after all (it is closing)
        self.unclaims: list[int] = []
        #: Due events to lease, at most, and the time they are due by (now, or a little later
        #: for a retry wait that fell due on the loop's monotonic clock).
        self.lease = 0
        self.due_by = now
        self.lease_seconds = 0.0
        #: Whether to claim outbox items whose claim ran out (their process died).
        self.claim = False
        #: Only look whether another process changed the file: no write unless needed.
        self.look = False

    def writes(self) -> bool:
        """Whether the batch holds anything to store."""
        return bool(
            self.puts
            or self.finishes
            or self.reschedules
            or self.releases
            or self.delivered
            or self.unclaims
        )


class Outcome:
    """What a transaction did, and the file's state right after it."""

    __slots__ = (
        "changed",
        "claimed",
        "events",
        "leased",
        "lost",
        "lost_retries",
        "next_due",
        "outbox",
        "outbox_delta_ours",
        "outbox_due",
        "outbox_ids",
        "token",
    )

    def __init__(self) -> None:
        #: False when a look found nothing new: nothing else here is meaningful then.
        self.changed = True
        #: Leased events, in due order, as (seq, state); all under one `token`.
        self.leased: list[tuple[int, EventState]] = []
        self.token = 0
        #: Request ids whose finish or retry lost its lease (another process had it).
        self.lost: set[str] = set()
        self.lost_retries: list[str] = []
        #: Outbox items claimed for delivery: request id → (record, dead letter).
        self.claimed: dict[str, tuple[ExecutionRecord | None, DeadLetterMessage | None]] = {}
        #: (request id, target, outbox id) of every item stored or claimed here.
        self.outbox_ids: list[tuple[str, str, int]] = []
        #: Unfinished events and undelivered outbox items in the file.
        self.events = 0
        self.outbox = 0
        #: Outbox items this process added or claimed, less those it removed.
        self.outbox_delta_ours = 0
        #: When the next event may be due (or its lease run out), and the next outbox claim.
        self.next_due = math.inf
        self.outbox_due = math.inf


_UNCHANGED: Final = Outcome()
_UNCHANGED.changed = False


class Store:
    """The queue file, through one connection that only the writer thread uses."""

    __slots__ = ("_claim_seconds", "_conn", "_held", "_path", "_synchronous", "_version")

    def __init__(self, path: Path, synchronous: Synchronous) -> None:
        self._path = path
        self._synchronous = synchronous
        self._conn: sqlite3.Connection | None = None
        self._version: int | None = None
        # Leases this store granted and has not seen end: given back when it closes.
        self._held: dict[int, int] = {}
        self._claim_seconds = 0.0

    # -- opening ---------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = self._conn
        if conn is not None:
            return conn
        try:
            conn = sqlite3.connect(
                self._path,
                timeout=_BUSY_TIMEOUT,
                isolation_level=None,
                check_same_thread=False,
                cached_statements=256,
            )
        except sqlite3.Error as e:
            msg = f"SQLiteQueue cannot open {str(self._path)!r}: {e}; pass a writable file path"
            raise ConfigurationError(msg) from e
        try:
            self._prepare(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        where = repr(str(self._path))
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
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            conn.execute("BEGIN IMMEDIATE")
            try:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
                if version == 0 and tables == 0:
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    version = SCHEMA_VERSION
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as e:
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

    # -- transactions ------------------------------------------------------------------------

    def transact(self, batch: Batch) -> Outcome:
        """Write *batch* in one transaction (a look writes nothing unless it must)."""
        conn = self._connect()
        self._claim_seconds = batch.lease_seconds
        if batch.look and not batch.writes():
            # Only if another process changed the file is it read, and only if something
            # there is due is the write lock taken.
            version = conn.execute("PRAGMA data_version").fetchone()[0]
            if version == self._version:
                return _UNCHANGED
            out = Outcome()
            _read_counts(out, conn.execute(_READ).fetchone())
            batch.claim = batch.claim and out.outbox_due <= batch.now
            if not ((batch.lease > 0 and out.next_due <= batch.due_by) or batch.claim):
                self._version = version
                return out
        while True:
            try:
                return self._write(conn, batch)
            except sqlite3.OperationalError as e:
                # The busy timeout ran out under another process's long transaction: the
                # batch is still whole (rolled back), so try it again.
                if not any(word in str(e) for word in _LOCKED):
                    raise

    def close(self, batch: Batch | None) -> None:
        """Store *batch*, give back every lease still held, and close the file."""
        final = batch if batch is not None else Batch(0.0)
        final.releases.extend(self._held.items())
        if self._conn is None and not final.writes():
            return
        conn = self._connect()
        # Outcomes stored now are not delivered by this process: any process may claim them.
        self._claim_seconds = 0.0
        try:
            if final.writes():
                self._write(conn, final)
        finally:
            self._conn = None
            self._held.clear()
            conn.close()

    def _write(self, conn: sqlite3.Connection, batch: Batch) -> Outcome:
        out = Outcome()
        now = batch.now
        held = self._held
        conn.execute("BEGIN IMMEDIATE")
        try:
            if batch.puts:
                rows = [(s[0], s[1], _state_json(s), now) for s in batch.puts]
                _insert(conn, _PUT, rows)
            ended, stored = self._finish(conn, batch, out)
            if batch.reschedules:
                self._reschedule(conn, batch.reschedules, out)
            if batch.releases:
                conn.execute(_RELEASE, (now, _dumps(batch.releases)))
                for seq, _ in batch.releases:
                    held.pop(seq, None)
            if batch.unclaims:
                conn.execute(_CLAIM, (now, _dumps(batch.unclaims)))
            removed = 0
            if batch.delivered:
                removed = conn.execute(_DELIVERED, (_dumps(batch.delivered),)).rowcount
                out.outbox_delta_ours -= len(batch.delivered)
            if batch.lease > 0:
                self._lease(conn, batch, out)
            if batch.claim:
                self._claim(conn, now, out)
            counts = conn.execute(_COUNT, (len(batch.puts) - ended, stored - removed)).fetchall()
            _read_counts(out, counts[0])
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        # What other processes committed before this is in what it read; what they commit
        # from now on shows in data_version, read by the next look.
        self._version = None
        return out

    def _finish(self, conn: sqlite3.Connection, batch: Batch, out: Outcome) -> tuple[int, int]:
        # How many events ended, and how many outbox items that stored.
        finishes = batch.finishes
        if not finishes:
            return 0, 0
        held = self._held
        for seq, _, _, _, _ in finishes:
            held.pop(seq, None)
        won = self._still_held(conn, [(seq, token) for seq, token, _, _, _ in finishes])
        items: list[tuple[int, str, str, str, float]] = []
        ended: list[int] = []
        next_id = conn.execute(_LAST_OUTBOX_ID).fetchall()[0][0] + 1
        until = batch.now + self._claim_seconds
        ids = out.outbox_ids
        for seq, _, state, record, letter in finishes:
            request_id = state.request_id
            if seq not in won:
                out.lost.add(request_id)
                continue
            ended.append(seq)
            items.append((next_id, request_id, RECORD, _record_json(record), until))
            ids.append((request_id, RECORD, next_id))
            next_id += 1
            if letter is not None:
                items.append((next_id, request_id, DEAD_LETTER, _letter_json(letter), until))
                ids.append((request_id, DEAD_LETTER, next_id))
                next_id += 1
        if ended:
            conn.execute(_DELETE, (_dumps(ended),))
            _insert(conn, _STORE_OUTCOMES, items)
            out.outbox_delta_ours += len(items)
        return len(ended), len(items)

    def _reschedule(
        self,
        conn: sqlite3.Connection,
        reschedules: list[tuple[int, int, EventState, float]],
        out: Outcome,
    ) -> None:
        held = self._held
        for seq, _, _, _ in reschedules:
            held.pop(seq, None)
        won = self._still_held(conn, [(seq, token) for seq, token, _, _ in reschedules])
        rows = [[seq, _state_json(state), due] for seq, _, state, due in reschedules if seq in won]
        if rows:
            conn.execute(_RETRY, (_dumps(rows),))
        out.lost_retries = [state.request_id for seq, _, state, _ in reschedules if seq not in won]

    @staticmethod
    def _still_held(conn: sqlite3.Connection, leases: list[tuple[int, int]]) -> set[int]:
        # The compare of compare-and-set: which leases no other process has taken since.
        found = conn.execute(_HELD, (_dumps(leases),)).fetchall()[0][0]
        return set(json.loads(found))

    def _lease(self, conn: sqlite3.Connection, batch: Batch, out: Outcome) -> None:
        due = conn.execute(_DUE, (batch.due_by, batch.lease)).fetchall()[0][0]
        rows = json.loads(due)
        if not rows:
            return
        token = out.token = random.getrandbits(62) + 1
        seqs = [row[0] for row in rows]
        conn.execute(_LEASE, (token, batch.now + batch.lease_seconds, _dumps(seqs)))
        held = self._held
        leased = out.leased
        for seq, request_id, body, state in rows:
            held[seq] = token
            leased.append((seq, _state(request_id, body, state)))

    def _claim(self, conn: sqlite3.Connection, now: float, out: Outcome) -> None:
        found = conn.execute(_UNCLAIMED, (now, _CLAIMS_PER_BATCH)).fetchall()[0][0]
        rows = json.loads(found)
        if not rows:
            return
        conn.execute(_CLAIM, (now + self._claim_seconds, _dumps([row[0] for row in rows])))
        out.outbox_delta_ours += len(rows)
        claimed = out.claimed
        for outbox_id, request_id, target, item in rows:
            out.outbox_ids.append((request_id, target, outbox_id))
            record, letter = claimed.get(request_id, (None, None))
            if target == RECORD:
                record = _record(item)
            else:
                letter = _letter(item)
            claimed[request_id] = (record, letter)


def _read_counts(out: Outcome, row: tuple[Any, ...]) -> None:
    out.events, out.outbox, due, claim = row
    out.next_due = math.inf if due is None else due
    out.outbox_due = math.inf if claim is None else claim


@functools.cache
def _values(head: str, columns: int, rows: int) -> str:
    row = f"({', '.join('?' * columns)})"
    return f"{head} VALUES {', '.join([row] * rows)}"


def _insert(conn: sqlite3.Connection, head: str, rows: list[tuple[Any, ...]]) -> None:
    # Chunks of a power of two rows, so that a few statements cover any batch and stay in
    # the connection's statement cache.
    done, total, columns = 0, len(rows), len(rows[0])
    while done < total:
        size = min(_ROWS_PER_INSERT, 1 << ((total - done).bit_length() - 1))
        chunk = rows[done : done + size]
        conn.execute(_values(head, columns, size), list(itertools.chain.from_iterable(chunk)))
        done += size


_dumps: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _state_json(state: EventState) -> str:
    # Everything after the body: a fresh event has nothing but its acceptance time.
    if state[3:] == _DEFAULT_TAIL:
        return f'{{"accepted_at":{state[2]!r}}}'
    return _dumps(dict(zip(_PROGRESS_FIELDS, state[2:], strict=True)))


def _state(request_id: str, body: str, state: str) -> EventState:
    if state.startswith(_FRESH) and "," not in state:
        return EventState(request_id, body, float(state[len(_FRESH) : -1]))
    return EventState(request_id, body, **json.loads(state))


_FRESH: Final = '{"accepted_at":'
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _record_json(record: ExecutionRecord) -> str:
    # The record's fields, payloads as the text they were: cheaper to write than AWS's JSON,
    # which `_record` gives back byte for byte.
    context = record.request_context
    response = record.response_context
    return _dumps(
        [
            round(record.timestamp.timestamp() * 1000),
            context.request_id,
            context.function_arn,
            context.condition.value,
            context.approximate_invoke_count,
            record.request_payload_json,
            None
            if response is None
            else [response.status_code, response.executed_version, response.function_error],
            record.response_payload_json,
            record.version,
        ]
    )


def _record(item: str) -> ExecutionRecord:
    millis, request_id, arn, condition, count, request, response, payload, version = json.loads(
        item
    )
    return ExecutionRecord(
        _EPOCH + timedelta(milliseconds=millis),
        RequestContext(request_id, arn, Condition(condition), count),
        request,
        None if response is None else ResponseContext(*response),
        payload,
        version,
    )


def _letter_json(letter: DeadLetterMessage) -> str:
    return _dumps({"body": letter.body, "attributes": letter.message_attributes})


def _letter(item: str) -> DeadLetterMessage:
    data = json.loads(item)
    return DeadLetterMessage(data["body"], data["attributes"])
