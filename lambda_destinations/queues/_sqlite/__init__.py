"""A durable queue backend: accepted events in a SQLite file, shared by processes on one machine.

Events survive a crash or ``kill -9`` of any process using the file: an invoker started on it
resumes them, and any number of processes on the machine share the work. The event loop never
touches SQLite: what it asks of the queue is gathered into batches, and one writer thread
commits each batch in one transaction (group commit), then hands back what it leased. See
docs/queues.md for the guarantees.

On the event loop:

- ``_queue``: `SQLiteQueue`, the `EventQueue` protocol; it gathers requests into batches.
- ``_rounds``: the batch being filled, and the `Round` its callers await.
- ``_pump``: runs one transaction after another and applies each outcome.
- ``_file_view``: the file's counts and due times as the last transaction read them.
- ``_held``: the leases this process holds, events leased ahead, outbox items to deliver.
- ``_waits``: the retry waits this process stored, timed on its monotonic clock.
- ``_options``: the checks of the queue's arguments.

Between the two, ``_batch``: a `Batch` goes to the writer thread, an `Outcome` comes back.

In the writer thread:

- ``_writer``: the thread, and the last batch stored when the queue stops.
- ``_store``: one transaction per batch.
- ``_opening``: opening the file and checking its layout.
- ``_schema``: the tables and every SQL statement; ``_rows``: how values are written in them.
"""

from ._queue import SQLiteQueue

__all__ = ["SQLiteQueue"]
