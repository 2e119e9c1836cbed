"""The SQLite side of `SQLiteQueue`: one transaction per batch, in the writer thread.

Everything here runs in the queue's writer thread, never on the event loop. `Store.transact`
writes a whole `Batch` in one ``BEGIN IMMEDIATE`` transaction and answers with an `Outcome`;
a batch that is only a look reads nothing unless another process changed the file.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import random
import sqlite3
from pathlib import Path
from typing import Any, Final

from lambda_destinations.queues._state import EventState

from . import _rows as rows
from . import _schema as sql
from ._batch import UNCHANGED, Batch, Outcome
from ._opening import open_queue_file
from ._schema import DEAD_LETTER, RECORD, Synchronous

__all__ = ["Store"]

# Outbox items claimed per transaction, at most (delivering them is the loop's work).
_CLAIMS_PER_BATCH: Final = 256
# What SQLite says when the busy timeout ran out.
_LOCKED: Final = ("locked", "busy")
_ROWS_PER_INSERT: Final = 4096


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

    def _connect(self) -> sqlite3.Connection:
        conn = self._conn
        if conn is None:
            conn = self._conn = open_queue_file(self._path, self._synchronous)
        return conn

    def transact(self, batch: Batch) -> Outcome:
        """Write *batch* in one transaction (a look writes nothing unless it must)."""
        conn = self._connect()
        self._claim_seconds = batch.lease_seconds
        if batch.look and not batch.writes():
            # Only if another process changed the file is it read, and only if something
            # there is due is the write lock taken.
            version = conn.execute("PRAGMA data_version").fetchone()[0]
            if version == self._version:
                return UNCHANGED
            out = Outcome()
            _read_counts(out, conn.execute(sql.READ).fetchone())
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

    def close(self, final: Batch) -> None:
        """Store *final*, give back every lease still held, and close the file."""
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
                puts = [(s[0], s[1], rows.state_json(s), now) for s in batch.puts]
                _insert(conn, sql.PUT, puts)
            ended, stored = self._finish(conn, batch, out)
            if batch.reschedules:
                self._reschedule(conn, batch.reschedules, out)
            if batch.releases:
                conn.execute(sql.RELEASE, (now, rows.dumps(batch.releases)))
                for seq, _ in batch.releases:
                    held.pop(seq, None)
            if batch.unclaims:
                conn.execute(sql.CLAIM, (now, rows.dumps(batch.unclaims)))
            removed = 0
            if batch.delivered:
                removed = conn.execute(sql.DELIVERED, (rows.dumps(batch.delivered),)).rowcount
                out.outbox_delta_ours -= len(batch.delivered)
            if batch.lease > 0:
                self._lease(conn, batch, out)
            if batch.claim:
                self._claim(conn, now, out)
            counts = conn.execute(sql.COUNT, (len(batch.puts) - ended, stored - removed)).fetchall()
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
        next_id = conn.execute(sql.LAST_OUTBOX_ID).fetchall()[0][0] + 1
        until = batch.now + self._claim_seconds
        ids = out.outbox_ids
        for seq, _, state, record, letter in finishes:
            request_id = state.request_id
            if seq not in won:
                out.lost.add(request_id)
                continue
            ended.append(seq)
            items.append((next_id, request_id, RECORD, rows.record_json(record), until))
            ids.append((request_id, RECORD, next_id))
            next_id += 1
            if letter is not None:
                items.append((next_id, request_id, DEAD_LETTER, rows.letter_json(letter), until))
                ids.append((request_id, DEAD_LETTER, next_id))
                next_id += 1
        if ended:
            conn.execute(sql.DELETE, (rows.dumps(ended),))
            _insert(conn, sql.STORE_OUTCOMES, items)
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
        retries = [
            [seq, rows.state_json(state), due] for seq, _, state, due in reschedules if seq in won
        ]
        if retries:
            conn.execute(sql.RETRY, (rows.dumps(retries),))
        out.lost_retries = [state.request_id for seq, _, state, _ in reschedules if seq not in won]

    @staticmethod
    def _still_held(conn: sqlite3.Connection, leases: list[tuple[int, int]]) -> set[int]:
        # The compare of compare-and-set: which leases no other process has taken since.
        found = conn.execute(sql.HELD, (rows.dumps(leases),)).fetchall()[0][0]
        return set(json.loads(found))

    def _lease(self, conn: sqlite3.Connection, batch: Batch, out: Outcome) -> None:
        due = conn.execute(sql.DUE, (batch.due_by, batch.lease)).fetchall()[0][0]
        found = json.loads(due)
        if not found:
            return
        token = out.token = random.getrandbits(62) + 1
        seqs = [row[0] for row in found]
        conn.execute(sql.LEASE, (token, batch.now + batch.lease_seconds, rows.dumps(seqs)))
        held = self._held
        leased = out.leased
        for seq, request_id, body, state in found:
            held[seq] = token
            leased.append((seq, rows.state_from_row(request_id, body, state)))

    def _claim(self, conn: sqlite3.Connection, now: float, out: Outcome) -> None:
        found = conn.execute(sql.UNCLAIMED, (now, _CLAIMS_PER_BATCH)).fetchall()[0][0]
        items = json.loads(found)
        if not items:
            return
        conn.execute(sql.CLAIM, (now + self._claim_seconds, rows.dumps([i[0] for i in items])))
        out.outbox_delta_ours += len(items)
        claimed = out.claimed
        for outbox_id, request_id, target, item in items:
            out.outbox_ids.append((request_id, target, outbox_id))
            record, letter = claimed.get(request_id, (None, None))
            if target == RECORD:
                record = rows.record_from_item(item)
            else:
                letter = rows.letter_from_item(item)
            claimed[request_id] = (record, letter)


def _read_counts(out: Outcome, row: tuple[Any, ...]) -> None:
    out.events, out.outbox, due, claim = row
    out.next_due = math.inf if due is None else due
    out.outbox_due = math.inf if claim is None else claim


@functools.cache
def _values(head: str, columns: int, count: int) -> str:
    row = f"({', '.join('?' * columns)})"
    return f"{head} VALUES {', '.join([row] * count)}"


def _insert(conn: sqlite3.Connection, head: str, items: list[tuple[Any, ...]]) -> None:
    # Chunks of a power of two rows, so that a few statements cover any batch and stay in
    # the connection's statement cache.
    done, total, columns = 0, len(items), len(items[0])
    while done < total:
        size = min(_ROWS_PER_INSERT, 1 << ((total - done).bit_length() - 1))
        chunk = items[done : done + size]
        conn.execute(_values(head, columns, size), list(itertools.chain.from_iterable(chunk)))
        done += size
