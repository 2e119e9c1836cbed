"""What the command shows people, on standard error: progress, a timeline and a summary.

rich draws the progress bar (only when standard error is a terminal) and colours what it
writes when it can; piped, the same lines come out as plain text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Final

from attrs import frozen
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from lambda_destinations import Condition, MetricsSnapshot

from ._watch import EventTrace

__all__ = ["ProgressBar", "RunReport", "seconds", "summary", "timeline"]

#: Fewer events than this end too soon for a bar to tell anything (on virtual time).
PROGRESS_MIN_EVENTS: Final = 10
#: The timeline draws at most this many events, so a big run stays readable.
TIMELINE_MAX_EVENTS: Final = 50
_LABEL: Final = 8
_AXIS_MIN: Final = 20
_SHOWN_FAILURES: Final = 10


def seconds(value: float) -> str:
    """Seconds for people: whole when whole, else to the millisecond."""
    rounded = round(value, 3)
    return f"{rounded:g}" if rounded < 1e6 else f"{rounded:.0f}"


class ProgressBar:
    """A bar of ended events on standard error; does nothing when it is not wanted."""

    def __init__(self, console: Console, total: int, *, enabled: bool) -> None:
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        if enabled and console.is_terminal:
            self._progress = Progress(
                TextColumn("events"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[failed]} failed"),
                TimeElapsedColumn(),
                console=console,
            )
            self._task = self._progress.add_task("events", total=total, failed=0)
        self._failed = 0

    @contextmanager
    def shown(self) -> Iterator[None]:
        """Draw the bar for the length of the block."""
        if self._progress is None:
            yield
            return
        with self._progress:
            yield

    def advance(self, trace: EventTrace) -> None:
        """One more event ended."""
        if self._progress is None or self._task is None:
            return
        if trace.record is not None and not trace.record.is_success:
            self._failed += 1
        self._progress.update(self._task, advance=1, failed=self._failed)


@frozen
class RunReport:
    """Everything the summary says about a run."""

    function_name: str
    traces: Sequence[EventTrace]
    metrics: MetricsSnapshot
    delivered: dict[str, int]
    targets: dict[str, str]
    unfinished: int
    virtual_seconds: float | None
    wall_seconds: float
    #: Ctrl-C stopped the run before every event ended.
    interrupted: bool = False


def summary(console: Console, report: RunReport) -> None:
    """The closing summary: outcomes, attempts, deliveries, failures, time."""
    ended = [t.record for t in report.traces if t.record is not None]
    succeeded = sum(r.is_success for r in ended)
    failed = Counter(r.condition.value for r in ended if not r.is_success)
    failures = ", ".join(f"{condition} {n}" for condition, n in sorted(failed.items()))
    line = Text(f"summary: {report.function_name}, {len(report.traces)} event(s): ")
    line.append(f"{succeeded} succeeded", style="green")
    line.append(", ")
    line.append(f"{sum(failed.values())} failed", style="red" if failed else "")
    if failures:
        line.append(f" ({failures})")
    if report.unfinished:
        line.append(f", {report.unfinished} unfinished", style="yellow")
    console.print(line)
    m = report.metrics
    console.print(
        f"  attempts: {m.invocations} ({m.errors} function error(s), {m.throttles} throttle(s))"
    )
    for role, label, noun in (
        ("on_success", "on-success", "record"),
        ("on_failure", "on-failure", "record"),
        ("dead_letter_queue", "dead-letter queue", "message"),
    ):
        if role in report.targets:
            count = report.delivered.get(role, 0)
            console.print(f"  {label}: {count} {noun}(s) to {report.targets[role]}")
        elif role == "dead_letter_queue":
            console.print(f"  {label}: none configured")
    console.print(
        f"  delivery failures: {m.destination_delivery_failures} to destinations, "
        f"{m.dead_letter_errors} to the dead-letter queue"
    )
    if report.virtual_seconds is None:
        console.print(f"  time: {seconds(report.wall_seconds)} s")
    else:
        console.print(
            f"  time: {seconds(report.virtual_seconds)} s virtual, "
            f"{seconds(report.wall_seconds)} s wall"
        )
    _failed_events(console, report.traces)


def _failed_events(console: Console, traces: Sequence[EventTrace]) -> None:
    failed = [t for t in traces if t.record is not None and not t.record.is_success]
    for trace in failed[:_SHOWN_FAILURES]:
        record = trace.record
        assert record is not None
        error = record.response_payload
        reason = ""
        if isinstance(error, dict) and "errorType" in error:
            reason = f": {error.get('errorType')}: {error.get('errorMessage', '')}"
        console.print(
            f"  failed: #{trace.number} {trace.request_id} {record.condition.value} after "
            f"{record.approximate_invoke_count} attempt(s){reason}",
            style="red",
            markup=False,
            highlight=False,
        )
    if len(failed) > _SHOWN_FAILURES:
        console.print(f"  ... and {len(failed) - _SHOWN_FAILURES} more failed event(s)")


def timeline(console: Console, traces: Sequence[EventTrace], *, virtual: bool) -> None:
    """Each event's attempts and waits on one time axis, then how it ended.

    ``✓`` is an attempt that succeeded, ``✗`` one that failed, ``─`` the wait before the next;
    the axis is seconds after the event was accepted, the same scale for every event.
    """
    shown = list(traces[:TIMELINE_MAX_EVENTS])
    span = max([_end(t) for t in shown] + [0.0])
    outcome_width = max([len(_outcome(t)) for t in shown] + [0])
    axis = max(_AXIS_MIN, console.width - _LABEL - outcome_width - 3)
    scale = (axis - 1) / span if span > 0 else 0.0
    kind = "virtual" if virtual else "real"
    console.print(
        f"timeline: seconds after each event was accepted ({kind} time); "
        "✓ attempt succeeded, ✗ attempt failed, ─ waiting to retry"
    )
    marks = sorted({a.at for t in shown for a in t.attempts} | {0.0, span})
    console.print(Text(" " * _LABEL) + _ticks(marks, scale, axis))
    for trace in shown:
        row = Text(f"#{trace.number}".ljust(_LABEL))
        row.append_text(_row(trace, scale, axis))
        row.append(" " + _outcome(trace), style=_style(trace))
        console.print(row, no_wrap=True, overflow="ellipsis")
    if len(traces) > len(shown):
        console.print(f"... {len(traces) - len(shown)} more event(s) not drawn")


def _end(trace: EventTrace) -> float:
    last = trace.attempts[-1].at if trace.attempts else 0.0
    return max(last, trace.ended or 0.0)


def _ticks(marks: Sequence[float], scale: float, axis: int) -> Text:
    line = [" "] * (axis + 12)
    free = 0
    shown: set[str] = set()
    for mark in marks:
        column = round(mark * scale)
        label = f"+{seconds(mark)} s"
        if column < free or column + len(label) > len(line) or label in shown:
            continue
        line[column : column + len(label)] = label
        free = column + len(label) + 1
        shown.add(label)
    return Text("".join(line).rstrip())


def _row(trace: EventTrace, scale: float, axis: int) -> Text:
    cells: list[tuple[str, str]] = [(" ", "")] * axis
    previous: int | None = None
    for attempt in trace.attempts:
        column = min(axis - 1, round(attempt.at * scale))
        if previous is not None:
            for between in range(previous + 1, column):
                cells[between] = ("─", "dim")
        cells[column] = ("✗", "red") if attempt.failed else ("✓", "green")
        previous = column
    row = Text()
    for char, style in cells:
        row.append(char, style=style)
    return row


def _outcome(trace: EventTrace) -> str:
    record = trace.record
    if record is None:
        return "unfinished"
    at = f" at +{seconds(trace.ended or 0.0)} s"
    return f"{record.condition.value}, {record.approximate_invoke_count} attempt(s){at}"


def _style(trace: EventTrace) -> str:
    if trace.record is None:
        return "yellow"
    return "green" if trace.record.condition is Condition.SUCCESS else "red"
