"""The queue file's layout and every SQL statement run on it.

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

from typing import Final, Literal

__all__ = [
    "CLAIM",
    "COUNT",
    "DEAD_LETTER",
    "DELETE",
    "DELIVERED",
    "DUE",
    "HELD",
    "LAST_OUTBOX_ID",
    "LEASE",
    "MINIMUM_SQLITE",
    "PUT",
    "READ",
    "RECORD",
    "RELEASE",
    "RETRY",
    "SCHEMA",
    "SCHEMA_VERSION",
    "STORE_OUTCOMES",
    "UNCLAIMED",
    "Synchronous",
]

#: How much of a commit reaches the disk before it returns: see docs/queues.md.
Synchronous = Literal["NORMAL", "FULL"]

#: ``PRAGMA user_version`` of a queue file; another value means another layout.
SCHEMA_VERSION: Final = 1
# SQLite 3.35 or newer (RETURNING), with its JSON functions, which every build since 3.38 has.
MINIMUM_SQLITE: Final = (3, 35, 0)
# The ``target`` of an outbox item: the record, or the dead letter.
RECORD, DEAD_LETTER = "record", "dead_letter"

# ``state`` is the JSON of every EventState field after the body, as Python wrote it: floats
# keep every bit, and fields a later version adds have their defaults when missing.
SCHEMA: Final = f"""
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

# Rows with text are inserted with placeholders, many rows per statement (parsing a JSON
# parameter costs twice as much for long text); lists of numbers go as one JSON parameter.
PUT: Final = "INSERT INTO events (request_id, body, state, visible_at)"
STORE_OUTCOMES: Final = "INSERT INTO outbox (id, request_id, target, item, visible_at)"
# Outbox ids are never used twice: a process that held an item long ago must never delete
# another's new item by its id.
LAST_OUTBOX_ID: Final = (
    "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'outbox'), 0)"
)
# Which of [seq, lease token] this process still holds.
HELD: Final = (
    "SELECT json_group_array(events.seq) FROM json_each(?) AS mine "
    "JOIN events ON events.seq = json_extract(mine.value, '$[0]') "
    "AND events.lease = json_extract(mine.value, '$[1]')"
)
DELETE: Final = "DELETE FROM events WHERE seq IN (SELECT value FROM json_each(?))"
RETRY: Final = (
    "UPDATE events SET state = json_extract(retry.value, '$[1]'), "
    "visible_at = json_extract(retry.value, '$[2]'), lease = NULL "
    "FROM json_each(?) AS retry WHERE events.seq = json_extract(retry.value, '$[0]')"
)
RELEASE: Final = (
    "UPDATE events SET lease = NULL, visible_at = ? WHERE (seq, lease) IN "
    "(SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?))"
)
DELIVERED: Final = "DELETE FROM outbox WHERE id IN (SELECT value FROM json_each(?))"
DUE: Final = (
    "SELECT json_group_array(json_array(seq, request_id, body, state)) FROM "
    "(SELECT seq, request_id, body, state FROM events WHERE visible_at <= ? "
    "ORDER BY visible_at LIMIT ?)"
)
LEASE: Final = (
    "UPDATE events SET lease = ?, visible_at = ? WHERE seq IN (SELECT value FROM json_each(?))"
)
UNCLAIMED: Final = (
    "SELECT json_group_array(json_array(id, request_id, target, item)) FROM "
    "(SELECT id, request_id, target, item FROM outbox WHERE visible_at <= ? "
    "ORDER BY visible_at LIMIT ?)"
)
CLAIM: Final = "UPDATE outbox SET visible_at = ? WHERE id IN (SELECT value FROM json_each(?))"
_NEXT: Final = "(SELECT min(visible_at) FROM events), (SELECT min(visible_at) FROM outbox)"
COUNT: Final = (
    "UPDATE counts SET events = events + ?, outbox = outbox + ? WHERE id = 0 "
    f"RETURNING events, outbox, {_NEXT}"
)
READ: Final = f"SELECT events, outbox, {_NEXT} FROM counts"
