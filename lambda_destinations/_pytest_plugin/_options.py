"""The plugin's settings: the ``lambda_destinations`` marker and the wall-clock limit option."""

from __future__ import annotations

import math
from typing import Final, NoReturn

import pytest

from lambda_destinations._exceptions import ConfigurationError

__all__ = ["MARKER", "WALL_TIMEOUT_INI", "pytest_addoption", "pytest_configure", "wall_timeout"]

MARKER: Final = "lambda_destinations"
WALL_TIMEOUT_INI: Final = "lambda_destinations_wall_timeout"
_DEFAULT_WALL_TIMEOUT: Final = "60"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        WALL_TIMEOUT_INI,
        "real seconds after which lambda_destinations stops an async test using its fixtures "
        f"(0: no limit; default {_DEFAULT_WALL_TIMEOUT})",
        default=_DEFAULT_WALL_TIMEOUT,
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(wall_timeout=SECONDS): stop this async test after SECONDS of real time, "
        "naming the events still in flight (None: no limit)",
    )
    _ini_wall_timeout(config)  # a bad value is refused before any test runs


def wall_timeout(item: pytest.Item) -> float | None:
    """The test's limit in real seconds: its marker's ``wall_timeout=``, else the ini option."""
    marker = item.get_closest_marker(MARKER)
    if marker is None or (not marker.args and not marker.kwargs):
        return _ini_wall_timeout(item.config)
    seconds = marker.kwargs.get("wall_timeout", math.nan)
    if marker.args or set(marker.kwargs) != {"wall_timeout"}:
        _bad_marker(marker)
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        _bad_marker(marker)
    if not 0 < seconds < math.inf:
        _bad_marker(marker)
    return float(seconds)


def _ini_wall_timeout(config: pytest.Config) -> float | None:
    text = str(config.getini(WALL_TIMEOUT_INI)).strip()
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not seconds >= 0 or math.isinf(seconds):
        msg = f"{WALL_TIMEOUT_INI} = {text!r}: give a number of seconds, or 0 for no limit"
        raise pytest.UsageError(msg)
    return seconds or None


def _bad_marker(marker: pytest.Mark) -> NoReturn:
    given = ", ".join([*map(repr, marker.args), *(f"{k}={v!r}" for k, v in marker.kwargs.items())])
    msg = (
        f"@pytest.mark.{MARKER}({given}): it takes only wall_timeout=, a positive number of "
        "real seconds or None for no limit"
    )
    raise ConfigurationError(msg)
