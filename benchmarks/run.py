"""Run every benchmark in one process, then write ``latest.json`` and ``latest.md``.

``python -m benchmarks --help`` lists the flags; ``make bench`` installs the peers and runs it.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from time import perf_counter
from typing import Any, Final

from . import aws, durable, loop, peers, report, scenarios, sqs_queue

__all__ = ["PEER_TIMERS", "RESULTS_DIR", "compare_peers", "main", "run"]

RESULTS_DIR: Final = Path(__file__).resolve().parent / "results"

TARGET_RATIO_TO_FLOOR: Final = 0.5
TARGET_PEER_SPEEDUP: Final = 10.0
TARGET_BYTES_PER_EVENT: Final = 1024

PEER_TIMERS: Final = {"dramatiq": peers.time_dramatiq, "celery": peers.time_celery}


def _at_least(low: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text.replace("_", ""))
        if value < low:
            msg = f"must be at least {low}, got {value}"
            raise argparse.ArgumentTypeError(msg)
        return value

    return parse


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line; see ``--help``."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=(
            "Benchmark lambda_destinations against a bare-asyncio floor, against Dramatiq "
            "and Celery, and its SQLite queue against persist-queue, in one run; print and "
            "save the ratios."
        ),
    )
    parser.add_argument(
        "--n",
        type=_at_least(1),
        default=100_000,
        help="events for throughput, sync, failure-mix and memory runs (default: 100000)",
    )
    parser.add_argument(
        "--peer-n",
        type=_at_least(1),
        default=None,
        help="events for the Dramatiq and Celery comparison (default: N/10)",
    )
    parser.add_argument(
        "--durable-n",
        type=_at_least(1),
        default=None,
        help="events for the SQLite queue runs (default: N/5; persist-queue gets --peer-n/2)",
    )
    parser.add_argument(
        "--latency-n",
        type=_at_least(2),
        default=2000,
        help="sequential events for the latency percentiles (default: 2000)",
    )
    parser.add_argument(
        "--repeats",
        type=_at_least(1),
        default=3,
        help="runs per throughput figure; the best counts (default: 3)",
    )
    parser.add_argument(
        "--no-peers",
        action="store_true",
        help="skip Dramatiq and Celery (reported as unavailable)",
    )
    parser.add_argument(
        "--aws-n",
        type=_at_least(1),
        default=2000,
        help=(
            "records delivered to SQS on a local moto server, per mode, and events run "
            "through an SQS queue there (default: 2000)"
        ),
    )
    parser.add_argument(
        "--no-aws",
        action="store_true",
        help="skip the SQS delivery and SQS queue benchmarks (reported as unavailable)",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=RESULTS_DIR,
        help=f"where latest.json and latest.md go (default: {RESULTS_DIR})",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return parser.parse_args(argv)


def compare_peers(
    n: int, repeats: int, *, enabled: bool, progress: scenarios.Progress
) -> dict[str, Any]:
    """Library and peers on the same events, interleaved run by run; best run of each."""
    payloads = scenarios.make_payloads(n)
    outcome: dict[str, Any] = {}
    versions: dict[str, str] = {}
    for name in peers.PEERS:
        if not enabled:
            outcome[name] = peers.unavailable("excluded with --no-peers")
            continue
        try:
            versions[name] = peers.version(name)
        except ImportError as e:
            outcome[name] = peers.unavailable(f"not installed ({e}); run `make bench`")
        except Exception as e:
            outcome[name] = peers.unavailable(f"cannot be imported: {type(e).__name__}: {e}")
    timings: dict[str, list[float]] = {name: [] for name in versions}
    library: list[float] = []
    for i in range(repeats):
        progress(f"peers, run {i + 1}/{repeats}: lambda_destinations")
        library.append(scenarios.time_library(payloads))
        for name in list(timings):
            progress(f"peers, run {i + 1}/{repeats}: {name}")
            try:
                timings[name].append(PEER_TIMERS[name](payloads))
            except Exception as e:
                # A peer that breaks is a finding to report, not a reason to lose the run.
                outcome[name] = peers.unavailable(f"failed: {type(e).__name__}: {e}")
                del timings[name]
    library_rate = n / min(library)
    for name, seconds in timings.items():
        rate = n / min(seconds)
        speedup = library_rate / rate
        outcome[name] = {
            "available": True,
            "version": versions[name],
            "seconds": min(seconds),
            "events_per_second": rate,
            "library_speedup": speedup,
            "met": speedup >= TARGET_PEER_SPEEDUP,
        }
    return {
        "events": n,
        "repeats": repeats,
        "target_speedup": TARGET_PEER_SPEEDUP,
        "library": {"seconds": min(library), "events_per_second": library_rate},
        **{name: outcome[name] for name in peers.PEERS},
    }


def _targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    pq = results["durable"]["persist_queue"]

    def peer(name: str) -> dict[str, Any]:
        found = results["peers"][name]
        return {
            "name": f"at least {TARGET_PEER_SPEEDUP:g}x faster than {name}",
            "value": found.get("library_speedup"),
            "met": found.get("met"),
        }

    return [
        {
            "name": f"throughput at least {TARGET_RATIO_TO_FLOOR:g}x the floor",
            "value": results["throughput"]["ratio_to_floor"],
            "met": results["throughput"]["met"],
        },
        peer("dramatiq"),
        peer("celery"),
        {
            "name": f"under {TARGET_BYTES_PER_EVENT} bytes per queued event",
            "value": results["memory"]["library"]["bytes_per_event"],
            "met": results["memory"]["met"],
        },
        {
            "name": f"at most {aws.TARGET_CALLS_PER_RECORD:g} SQS API calls per record under load",
            "value": results["aws"].get("batching", {}).get("calls_per_record"),
            "met": results["aws"].get("met"),
        },
        {
            "name": (
                f"at most {sqs_queue.TARGET_CALLS_PER_EVENT:g} SQS API calls per successful "
                "event through the SQS queue"
            ),
            "value": results["sqs_queue"].get("worst_calls_per_event"),
            "met": results["sqs_queue"].get("met"),
        },
        {
            "name": f"SQLite queue at least {durable.TARGET_EVENTS_PER_SECOND:,} events/s (NORMAL)",
            "value": results["durable"]["sqlite_normal"]["events_per_second"],
            "met": results["durable"]["met"],
        },
        {
            "name": (
                f"SQLite queue at least {durable.TARGET_PERSIST_QUEUE_SPEEDUP:g}x persist-queue "
                "(both NORMAL)"
            ),
            "value": pq["normal"]["speedup"] if pq["available"] else None,
            "met": pq.get("met"),
        },
    ]


def run(args: argparse.Namespace, progress: scenarios.Progress) -> dict[str, Any]:
    """Every benchmark, in one process; returns the results as a JSON-ready dict."""
    started = perf_counter()
    peer_n = args.peer_n if args.peer_n is not None else max(1, args.n // 10)

    throughput = scenarios.compare_throughput(args.n, args.repeats, sync=False, progress=progress)
    throughput["target_ratio_to_floor"] = TARGET_RATIO_TO_FLOOR
    throughput["met"] = throughput["ratio_to_floor"] >= TARGET_RATIO_TO_FLOOR
    all_success_rate = throughput["library"]["events_per_second"]

    sync = scenarios.compare_throughput(args.n, args.repeats, sync=True, progress=progress)
    sync["ratio_to_async"] = sync["library"]["events_per_second"] / all_success_rate

    mix = scenarios.failure_mix(args.n, args.repeats, progress=progress)
    mix["ratio_to_all_success"] = mix["events_per_wall_second"] / all_success_rate

    latency = scenarios.compare_latency(args.latency_n, progress=progress)

    progress(f"loop latency under a backlog of {args.n:,} events")
    backlog = loop.backlog_latency(args.n)

    memory = scenarios.memory_per_event(args.n, progress=progress)
    memory["ratio_to_floor"] = (
        memory["library"]["bytes_per_event"] / memory["floor"]["bytes_per_event"]
    )
    memory["target_bytes_per_event"] = TARGET_BYTES_PER_EVENT
    memory["met"] = memory["library"]["bytes_per_event"] < TARGET_BYTES_PER_EVENT

    delivery = aws.aws_delivery(
        args.aws_n, args.repeats, enabled=not args.no_aws, progress=progress
    )

    through_sqs = sqs_queue.sqs_queue(
        args.aws_n, args.repeats, enabled=not args.no_aws, progress=progress
    )

    durable_n = args.durable_n if args.durable_n is not None else max(1, args.n // 5)
    durable_results = durable.compare_durable(
        durable_n,
        max(1, peer_n // 2),
        min(500, args.latency_n),
        args.repeats,
        peers_enabled=not args.no_peers,
        progress=progress,
    )

    # Last, so importing and running the peers cannot disturb the library's own figures.
    peer_results = compare_peers(peer_n, args.repeats, enabled=not args.no_peers, progress=progress)

    results: dict[str, Any] = {
        "meta": {
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "library_version": importlib.metadata.version("lambda_destinations"),
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "platform": platform.platform(terse=True),
            "cpu_count": os.cpu_count(),
            "options": {
                "n": args.n,
                "peer_n": peer_n,
                "durable_n": durable_n,
                "latency_n": args.latency_n,
                "repeats": args.repeats,
                "peers": not args.no_peers,
                "aws_n": args.aws_n,
                "aws": not args.no_aws,
            },
            "duration_seconds": perf_counter() - started,
        },
        "throughput": throughput,
        "peers": peer_results,
        "sync_handler": sync,
        "failure_mix": mix,
        "memory": memory,
        "latency": latency,
        "backlog": backlog,
        "aws": delivery,
        "sqs_queue": through_sqs,
        "durable": durable_results,
    }
    results["targets"] = _targets(results)
    return results


def _write(path: Path, text: str) -> None:
    # Through a temporary file, so a run that dies midway never leaves half a result behind.
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def main(argv: Sequence[str] | None = None) -> int:
    """Run, save ``latest.json`` and ``latest.md`` under ``--output-dir``, print the table."""
    args = parse_args(argv)
    begun = perf_counter()

    def progress(message: str) -> None:
        if not args.quiet:
            print(f"[{perf_counter() - begun:6.1f} s] {message}", file=sys.stderr, flush=True)

    results = run(args, progress)
    table = report.render(results)
    out: Path = args.output_dir
    out.mkdir(parents=True, exist_ok=True)
    _write(out / "latest.json", json.dumps(results, indent=2) + "\n")
    _write(out / "latest.md", table)
    print(table)
    print(f"Saved {out / 'latest.json'} and {out / 'latest.md'}")
    return 0
