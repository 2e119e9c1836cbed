"""The command's exit statuses: what a shell script can test for."""

from __future__ import annotations

from typing import Final

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE"]

#: Every event succeeded.
EXIT_OK: Final = 0
#: At least one event ended in failure.
EXIT_FAILED: Final = 1
#: A usage, handler or configuration error: nothing (more) ran.
EXIT_USAGE: Final = 2
#: Ctrl-C: 128 + SIGINT, as shells report it.
EXIT_INTERRUPTED: Final = 130
