"""How many events an SQS queue holds, as far as one process can tell.

SQS counts a queue's messages only approximately, and only when asked (``GetQueueAttributes``:
visible, in flight and delayed). A `QueueCount` keeps the last answer and adjusts it by what
this process did since: each event it sent adds one, each event it ended takes one away. No
send or delete of this process runs while SQS counts, so the two never overlap. Where it
cannot tell (a message it did not send), it asks SQS again before it says zero, so that
``join()`` does not return while events are left.
"""

from __future__ import annotations

from typing import Final

__all__ = ["QueueCount"]

# Request ids of sent messages remembered at most (about 100 bytes each).
_MAX_REMEMBERED: Final = 100_000


class QueueCount:
    """The queue's events: SQS's last count, plus sends and less ends since."""

    __slots__ = ("_base", "_counted", "_ended", "_ended_at", "_marks", "_sent", "_sent_at", "stale")

    def __init__(self) -> None:
        self._base = 0
        self._sent = self._sent_at = 0
        self._ended = self._ended_at = 0
        # Request ids of messages this process sent that it has not received back since: they
        # are counted (in SQS's answer, or as sent since).
        self._counted: set[str] = set()
        # Bumped whenever this process learned of an event the count may miss.
        self._marks = 0
        #: Whether only a new answer from SQS can say the queue is empty.
        self.stale = True

    def reset(self) -> None:
        """Nothing known yet (a new start)."""
        self.__init__()  # type: ignore[misc]

    def value(self) -> int:
        """The estimate: at least 1 while `stale`."""
        estimate = self._base + self._sent - self._sent_at - (self._ended - self._ended_at)
        return max(estimate, 1 if self.stale else 0)

    def asking(self) -> int:
        """SQS is asked to count now: what to pass to `answered` with its answer."""
        return self._marks

    def answered(self, token: int, total: int, unended: int) -> None:
        """SQS counted *total* messages, *unended* of which this process ended already.

        Nothing was sent or deleted here while SQS counted.
        """
        self._base = max(0, total - unended)
        self._sent_at = self._sent
        self._ended_at = self._ended
        if token == self._marks:
            self.stale = False
        if not self._base or len(self._counted) > _MAX_REMEMBERED:
            # Another process received those (the queue is empty), or it holds too many to
            # remember: receiving one later only makes the count ask SQS again.
            self._counted.clear()

    def sent(self, request_id: str, *, received: bool = False) -> None:
        """A new event was sent from here (and *received* here already, before the answer)."""
        self._sent += 1
        if not received:
            self._counted.add(request_id)

    def received(self, request_id: str) -> bool:
        """A message was received: whether it is counted (this process sent it, it says so)."""
        if request_id in self._counted:
            self._counted.discard(request_id)
            return True
        self._mark()
        return False

    def given_back(self, request_id: str, counted: bool) -> None:
        """A received message goes back to the queue (released, or re-sent for a retry)."""
        if counted:
            self._counted.add(request_id)

    def ended(self, counted: bool) -> None:
        """An event received here ended (its message is deleted soon)."""
        if counted:
            self._ended += 1
        else:
            self._mark()

    def _mark(self) -> None:
        self._marks += 1
        self.stale = True
