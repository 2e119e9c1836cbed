"""The human-readable side of the results: one Markdown table, pasted as is into the docs.

Plain ASCII throughout, so the table prints on any terminal and diffs cleanly.
"""

from __future__ import annotations

from typing import Any

__all__ = ["render"]

_HEADER = (
    "| Benchmark | lambda_destinations | Reference | Ratio | Target | Met |",
    "|---|---:|---:|---:|---|---|",
)


def _rate(value: float, unit: str = "ev/s") -> str:
    return f"{value:,.0f} {unit}"


def _met(met: bool | None) -> str:
    return "-" if met is None else ("yes" if met else "**no**")


def _peer_row(name: str, peer: dict[str, Any], section: dict[str, Any]) -> str:
    target = f">= {section['target_speedup']:g}x faster"
    events = f"N={section['events']:,}"
    if not peer["available"]:
        reason = " ".join(str(peer["reason"]).replace("|", "/").split())
        return f"| Same work vs {name}, {events} | | unavailable: {reason} | | {target} | - |"
    mode = " (eager)" if name == "Celery" else ""
    return (
        f"| Same work vs {name} {peer['version']}{mode}, {events} "
        f"| {_rate(section['library']['events_per_second'])} "
        f"| {_rate(peer['events_per_second'])} "
        f"| {peer['library_speedup']:.3g}x faster | {target} | {_met(peer['met'])} |"
    )


def _aws_rows(section: dict[str, Any]) -> list[str]:
    if not section["available"]:
        reason = " ".join(str(section["reason"]).replace("|", "/").split())
        return [f"| Records to SQS on moto | | unavailable: {reason} | | - | - |"]
    n = section["records"]
    batched, single = section["batching"], section["single"]
    target = f"<= {section['target_calls_per_record']:g} calls/record"
    return [
        f"| Records to SQS on moto, batched, N={n:,} "
        f"| {_rate(batched['records_per_second'], 'rec/s')} "
        f"| one SendMessage each: {_rate(single['records_per_second'], 'rec/s')} "
        f"| {section['speedup']:.3g}x | - | - |",
        f"| SQS API calls per record, N={n:,} | {batched['calls_per_record']:.3g} "
        f"| one SendMessage each: {single['calls_per_record']:.3g} "
        f"| {batched['calls_per_record'] / single['calls_per_record']:.3g}x | {target} "
        f"| {_met(section['met'])} |",
    ]


def _sqs_queue_rows(section: dict[str, Any]) -> list[str]:
    if not section["available"]:
        reason = " ".join(str(section["reason"]).replace("|", "/").split())
        return [f"| Events through an SQS queue on moto | | unavailable: {reason} | | - | - |"]
    n = section["events"]
    ops = ", ".join(f"{name} {count}" for name, count in section["calls_by_operation"].items())
    return [
        f"| SQS queue on moto, accept -> success record, N={n:,} "
        f"| {_rate(section['events_per_second'])} | - | - | - | - |",
        f"| SQS API calls per successful event, SQS queue, N={n:,} "
        f"| {section['worst_calls_per_event']:.3g} | {ops} | - "
        f"| <= {section['target_calls_per_event']:g} calls/event | {_met(section['met'])} |",
    ]


def _durable_rows(durable: dict[str, Any]) -> list[str]:
    n = durable["events"]
    normal = durable["sqlite_normal"]["events_per_second"]
    full = durable["sqlite_full"]["events_per_second"]
    memory = durable["memory"]["events_per_second"]
    latency = durable["commit_latency"]
    target = f">= {durable['target_events_per_second']:,} ev/s"
    rows = [
        f"| SQLite queue, synchronous=NORMAL, N={n:,} | {_rate(normal)} "
        f"| memory queue: {_rate(memory)} | {durable['ratio_to_memory']:.3g}x memory "
        f"| {target} | {_met(durable['met'])} |",
        f"| SQLite queue, synchronous=FULL, N={n:,} | {_rate(full)} "
        f"| NORMAL: {_rate(normal)} | {durable['full_to_normal']:.3g}x NORMAL | - | - |",
    ]
    for p in ("p50", "p99"):
        slow, fast = latency["FULL"][f"{p}_us"], latency["NORMAL"][f"{p}_us"]
        rows.append(
            f"| await invoke() until committed, {p}, {latency['events']:,} sequential, FULL "
            f"| {slow:,.0f} us | NORMAL: {fast:,.0f} us | {slow / fast:.3g}x NORMAL | - | - |"
        )
    pq = durable["persist_queue"]
    if not pq["available"]:
        reason = " ".join(str(pq["reason"]).replace("|", "/").split())
        rows.append(
            f"| Same put/get/ack vs persist-queue SQLiteAckQueue | | unavailable: {reason} "
            f"| | >= {durable['target_persist_queue_speedup']:g}x faster | - |"
        )
        return rows
    for level, shipped in (("normal", ""), ("full", ", as shipped")):
        found = pq[level]
        target = (
            f">= {durable['target_persist_queue_speedup']:g}x faster" if level == "normal" else "-"
        )
        met = _met(pq["met"]) if level == "normal" else "-"
        rows.append(
            f"| Same put/get/ack vs persist-queue {pq['version']} SQLiteAckQueue, "
            f"both {level.upper()}{shipped}, N={pq['events']:,} "
            f"| {_rate(found['sqlite_queue']['events_per_second'])} "
            f"| {_rate(found['persist_queue']['events_per_second'])} "
            f"| {found['speedup']:.3g}x faster | {target} | {met} |"
        )
    return rows


def render(results: dict[str, Any]) -> str:
    """The results as a Markdown section: a context line, the table, and how to read it."""
    meta = results["meta"]
    tp = results["throughput"]
    peers = results["peers"]
    sync = results["sync_handler"]
    mix = results["failure_mix"]
    mem = results["memory"]
    lat = results["latency"]
    backlog = results["backlog"]
    n = tp["events"]
    rows = [
        f"| Async no-op handler, N={n:,} | {_rate(tp['library']['events_per_second'])} "
        f"| floor: {_rate(tp['floor']['events_per_second'])} "
        f"| {tp['ratio_to_floor']:.3g}x floor | >= {tp['target_ratio_to_floor']:g}x floor "
        f"| {_met(tp['met'])} |",
        _peer_row("Dramatiq", peers["dramatiq"], peers),
        _peer_row("Celery", peers["celery"], peers),
        f"| Sync handler in threads, N={sync['events']:,} "
        f"| {_rate(sync['library']['events_per_second'])} "
        f"| floor: {_rate(sync['floor']['events_per_second'])} "
        f"| {sync['ratio_to_floor']:.3g}x floor | - | - |",
        f"| 10% fail through 2 retries (60 s, 120 s), virtual clock, N={mix['events']:,} "
        f"| {_rate(mix['events_per_wall_second'], 'ev/wall-s')} "
        f"| all succeed: {_rate(tp['library']['events_per_second'])} "
        f"| {mix['ratio_to_all_success']:.3g}x | - | - |",
        f"| Memory per queued event beyond its payload, N={mem['events']:,} "
        f"| {mem['library']['bytes_per_event']:,.0f} B "
        f"| floor: {mem['floor']['bytes_per_event']:,.0f} B "
        f"| {mem['ratio_to_floor']:.3g}x floor | < {mem['target_bytes_per_event']:,} B "
        f"| {_met(mem['met'])} |",
    ]
    for p in ("p50", "p99"):
        rows.append(
            f"| Latency invoke() -> destination, {p}, {lat['events']:,} sequential events "
            f"| {lat['library'][f'{p}_us']:,.1f} us | floor: {lat['floor'][f'{p}_us']:,.1f} us "
            f"| {lat[f'{p}_ratio_to_floor']:.3g}x floor | - | - |"
        )
    rows.append(
        f"| Loop latency, worst, while {backlog['events']:,} queued events run "
        f"| {backlog['max_latency_ms']:,.1f} ms "
        f"| longest GC pause: {backlog['longest_gc_pause_ms']:,.1f} ms | - | - | - |"
    )
    rows.extend(_aws_rows(results["aws"]))
    rows += _sqs_queue_rows(results["sqs_queue"])
    rows += _durable_rows(results["durable"])
    context = (
        f"Measured {meta['timestamp']} with lambda_destinations {meta['library_version']} on "
        f"{meta['implementation']} {meta['python']}, {meta['platform']}, "
        f"{meta['cpu_count']} CPU(s); best of {meta['options']['repeats']} run(s) for "
        f"throughput; run took {meta['duration_seconds']:.0f} s."
    )
    legend = (
        "Ratios compare figures measured in the same run. Throughput ratios: higher is "
        "better; memory and latency ratios: lower is better. The floor is a bare "
        "asyncio.Queue with worker tasks building the same ExecutionRecord. SQS figures are "
        "bounded by the local moto server, which both modes share; the SQS queue's calls "
        "per event count every call of the worst run, idle long polls and the calls made "
        "at stop included. The SQLite rows "
        "run accept to success record through a file in a temporary folder; persist-queue "
        "puts, gets, builds the same record and acks, with a commit per operation."
    )
    return "\n".join([context, "", *_HEADER, *rows, "", legend, ""])
