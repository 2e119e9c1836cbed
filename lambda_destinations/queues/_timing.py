"""Timing the durable queue backends share: running leased-ahead events, backing off failures."""

from __future__ import annotations

from typing import Final

__all__ = ["ahead_grace", "failure_backoff"]

_AHEAD_SHARE: Final = 0.1
_AHEAD_GRACE_MAX: Final = 5.0
_FAILURE_BACKOFF_MAX: Final = 10.0


def ahead_grace(lease_seconds: float) -> float:
    """How long an event leased ahead of need may wait to run: a tenth of its lease, 5 s at most.

    What is left of the lease then still covers the function's timeout.
    """
    return min(_AHEAD_GRACE_MAX, lease_seconds * _AHEAD_SHARE)


def failure_backoff(poll_interval: float, failures: int) -> float:
    """The wait after *failures* failed calls in a row: *poll_interval*, doubling, 10 s at most."""
    return min(_FAILURE_BACKOFF_MAX, poll_interval * 2.0 ** (failures - 1))
