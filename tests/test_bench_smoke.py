"""The benchmarks run end to end on a tiny N and write every figure they promise.

Only shape is checked, never speed: timings on a shared machine would make the suite flaky.
"""

from __future__ import annotations

import json

from benchmarks import peers, run
from benchmarks.run import main

THROUGHPUT_KEYS = {"events", "library", "floor", "ratio_to_floor"}


def test_benchmarks_run_with_a_tiny_n_and_write_the_expected_results(tmp_path, capsys):
    """A run without peers writes latest.json and latest.md and prints the table."""
    flags = ["--n", "200", "--latency-n", "50", "--repeats", "1", "--no-peers", "--quiet"]
    flags += ["--aws-n", "30"]
    assert main([*flags, "--output-dir", str(tmp_path)]) == 0

    results = json.loads((tmp_path / "latest.json").read_text())
    assert set(results) == {
        "meta",
        "throughput",
        "peers",
        "sync_handler",
        "failure_mix",
        "memory",
        "latency",
        "backlog",
        "aws",
        "sqs_queue",
        "durable",
        "targets",
    }
    assert results["meta"]["options"] == {
        "n": 200,
        "peer_n": 20,
        "durable_n": 40,
        "latency_n": 50,
        "repeats": 1,
        "peers": False,
        "aws_n": 30,
        "aws": True,
    }
    assert set(results["throughput"]) >= THROUGHPUT_KEYS | {"target_ratio_to_floor", "met"}
    assert set(results["sync_handler"]) >= THROUGHPUT_KEYS | {"ratio_to_async"}
    for side in ("library", "floor"):
        assert results["throughput"][side]["events_per_second"] > 0
        assert set(results["latency"][side]) == {"p50_us", "p99_us", "mean_us"}
        assert "bytes_per_event" in results["memory"][side]
    assert results["failure_mix"]["failing_events"] == 20
    assert results["failure_mix"]["invocations"] == 200 + 2 * 20
    assert results["failure_mix"]["virtual_seconds"] >= 180
    assert set(results["failure_mix"]) >= {"events_per_wall_second", "ratio_to_all_success"}
    assert set(results["latency"]) >= {"p50_ratio_to_floor", "p99_ratio_to_floor"}
    assert set(results["memory"]) >= {"ratio_to_floor", "met"}
    assert results["backlog"]["events"] == 200
    assert set(results["backlog"]) >= {"max_latency_ms", "longest_gc_pause_ms"}
    assert results["peers"]["library"]["events_per_second"] > 0
    for peer in ("dramatiq", "celery"):
        assert results["peers"][peer] == {"available": False, "reason": "excluded with --no-peers"}
    assert [t["met"] for t in results["targets"]][1:3] == [None, None]
    targets = {
        key: t
        for t in results["targets"]
        for key in ("SQS API calls per record", "through the SQS queue", "persist-queue")
        if key in t["name"]
    }
    aws = results["aws"]
    if aws["available"]:  # moto[server] and boto3 are in the tests extra
        assert aws["records"] == 30
        assert aws["single"]["api_calls"] == 30  # one SendMessage per record, counted
        assert 0 < aws["batching"]["api_calls"] <= 30
        for mode in ("batching", "single"):
            assert aws[mode]["records_per_second"] > 0
        assert targets["SQS API calls per record"]["met"] is aws["met"]
    else:
        assert "not installed" in aws["reason"]
    through_sqs = results["sqs_queue"]
    if through_sqs["available"]:
        assert through_sqs["events"] == 30
        assert through_sqs["events_per_second"] > 0
        calls = through_sqs["calls_by_operation"]
        assert calls["SendMessageBatch"] + calls.get("SendMessage", 0) >= 3  # 30 sent
        assert through_sqs["calls_per_event"] == through_sqs["api_calls"] / 30
        assert targets["through the SQS queue"]["met"] is through_sqs["met"]
    else:
        assert "not installed" in through_sqs["reason"]
    durable = results["durable"]
    assert durable["events"] == 40
    for side in ("memory", "sqlite_normal", "sqlite_full"):
        assert durable[side]["events_per_second"] > 0
    for level in ("NORMAL", "FULL"):
        assert set(durable["commit_latency"][level]) == {"p50_us", "p99_us"}
    assert set(durable) >= {"ratio_to_memory", "full_to_normal", "met"}
    assert durable["persist_queue"] == {"available": False, "reason": "excluded with --no-peers"}
    assert targets["persist-queue"]["met"] is None

    table = (tmp_path / "latest.md").read_text()
    assert "| Async no-op handler, N=200 |" in table
    assert "| Loop latency, worst, while 200 queued events run |" in table
    assert "unavailable: excluded with --no-peers" in table
    if results["aws"]["available"]:
        assert "| SQS API calls per record, N=30 | " in table
        assert "| SQS API calls per successful event, SQS queue, N=30 | " in table
    else:
        assert "| Records to SQS on moto | | unavailable: " in table
    assert "| SQLite queue, synchronous=NORMAL, N=40 |" in table
    assert table in capsys.readouterr().out
    assert not list(tmp_path.glob("*.tmp"))


def test_a_peer_that_is_missing_or_breaks_is_reported_unavailable(monkeypatch):
    """Neither a missing nor a failing peer stops the run; each says why it was not measured."""

    def version(name):
        if name == "celery":
            raise ImportError("No module named 'celery'")
        return "0.0"

    def broken(payloads):
        raise RuntimeError("broker down")

    monkeypatch.setattr(peers, "version", version)
    monkeypatch.setitem(run.PEER_TIMERS, "dramatiq", broken)
    result = run.compare_peers(20, 1, enabled=True, progress=lambda message: None)

    assert result["dramatiq"] == {"available": False, "reason": "failed: RuntimeError: broker down"}
    assert result["celery"]["available"] is False
    assert "not installed" in result["celery"]["reason"]
    assert result["library"]["events_per_second"] > 0
