"""The queue file as the event loop last saw it: how much is in it, and when it is due."""

from __future__ import annotations

import math

from ._batch import Batch, Outcome

__all__ = ["FileView"]


class FileView:
    """What the last transaction read, and what the loop added since.

    ``pending()`` counts the unfinished events of the whole file, the outbox items no process
    here will deliver, and the events accepted here and not committed yet.
    """

    __slots__ = (
        "due_at",
        "events",
        "known",
        "next_look",
        "ours",
        "outbox",
        "outbox_due",
        "unstored",
    )

    def __init__(self) -> None:
        # Whether any transaction read the file since the queue started.
        self.known = False
        self.events = 0
        self.outbox = 0
        # Outbox items this process stored or claimed and has not removed.
        self.ours = 0
        # Accepted here, not committed yet.
        self.unstored = 0
        # When the next event may be due, the next outbox item may be claimed, and the next
        # look at the file for what other processes did.
        self.due_at = -math.inf
        self.outbox_due = -math.inf
        self.next_look = -math.inf

    def restart(self) -> None:
        """A new start: nothing is known, everything may be due at once."""
        self.known = False
        self.due_at = self.outbox_due = self.next_look = -math.inf
        # What an earlier start kept to deliver is the outbox's again, for whoever claims it.
        self.ours = 0

    def pending(self) -> int:
        """Unfinished events and undelivered outcomes of the file, as far as known."""
        if not self.known:
            return 1 + self.unstored
        return self.events + max(0, self.outbox - self.ours) + self.unstored

    def stored(self, batch: Batch, outcome: Outcome, poll_interval: float) -> None:
        """*batch* was committed, with *outcome*; the next look is *poll_interval* away."""
        now = batch.now
        self.unstored -= len(batch.puts)
        self.next_look = now + poll_interval
        if not outcome.changed:
            return
        self.known = True
        self.events = outcome.events
        self.outbox = outcome.outbox
        self.ours += outcome.outbox_delta_ours
        self.due_at = outcome.next_due
        self.outbox_due = outcome.outbox_due
        # Asked for and found nothing though something looked due: wait for the next
        # look rather than ask again at once (never a busy loop on the writer).
        if batch.lease and not outcome.leased and self.due_at <= batch.due_by:
            self.due_at = self.next_look
        if batch.claim and not outcome.claimed and self.outbox_due <= now:
            self.outbox_due = self.next_look

    def failed(self, batch: Batch) -> None:
        """*batch* was not committed: its accepted events are not the file's."""
        self.unstored -= len(batch.puts)
        self.known = True

    def backed_off(self, until: float) -> None:
        """After a failure, nothing is asked of the file before *until*."""
        self.next_look = until
        self.due_at = self.outbox_due = math.inf
