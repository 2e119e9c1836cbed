"""The SQS queue backend on a local moto server: SQS API calls per successful event, events/s.

N events are accepted (``invoke_nowait``) and run to their success record through one invoker
on an `SQSQueue`, on the system clock with the queue's defaults (long polls of 20 s, receives
of 10, batched sends and deletes). Every call its client makes is counted by a botocore
``before-call`` hook (the client does not retry by itself; the queue's retries are calls
too): the initial count of the queue, sends,
receives (empty long polls too), lease extensions and deletes, up to the moment the queue
is empty again, including the calls the queue makes as it stops. The figure is calls per
successful event; the server is a moto subprocess on 127.0.0.1, so events/s is moto's speed
as much as the library's.
"""

from __future__ import annotations

import asyncio
import time
from time import perf_counter
from typing import Any, Final

from lambda_destinations import AsyncInvoker, InMemoryDestination

from . import aws
from .scenarios import Progress, noop, quiet_library_logs

__all__ = ["TARGET_CALLS_PER_EVENT", "sqs_queue"]

#: SQS API calls per successful event, accept to record, under load.
TARGET_CALLS_PER_EVENT: Final = 0.5
_REGION: Final = "us-east-1"
_EMPTY_DEADLINE: Final = 120.0


def _one_run(url: str, n: int, queue_name: str) -> dict[str, Any]:
    from lambda_destinations.destinations.aws import AwsConnection
    from lambda_destinations.queues.sqs import SQSQueue

    # A client as SQSQueue makes its own (botocore's retries off), with the counting hook.
    connection = AwsConnection(endpoint_url=url, region_name=_REGION)
    client = connection.client("sqs", _REGION)
    queue_url = client.create_queue(QueueName=queue_name)["QueueUrl"]
    calls: dict[str, int] = {}

    def count(model: Any, **_: Any) -> None:
        calls[model.name] = calls.get(model.name, 0) + 1

    client.meta.events.register("before-call.sqs", count)
    ok = InMemoryDestination()

    async def run() -> float:
        invoker = AsyncInvoker(
            noop, function_name="bench", queue=SQSQueue(queue_url, client=client), on_success=ok
        )
        async with invoker:
            started = perf_counter()
            for i in range(n):
                invoker.invoke_nowait({"i": i})
            await invoker.join()
            return perf_counter() - started

    seconds = asyncio.run(run())
    _wait_empty(client, queue_url)  # the deletes sent as the queue stopped are counted too
    connection.close()
    total = sum(calls.values())
    if len({r.request_id for r in ok.records}) != n:
        msg = f"SQS queue: {n} events accepted, {len(ok)} success records"
        raise RuntimeError(msg)
    return {
        "seconds": seconds,
        "events_per_second": n / seconds,
        "api_calls": total,
        "calls_per_event": total / n,
        "calls_by_operation": dict(sorted(calls.items())),
    }


def _wait_empty(client: Any, queue_url: str) -> None:
    # Read with a call the hook does not see: a client of its own.
    import boto3
    from lambda_destinations.queues.sqs._calls import COUNTED

    reader = boto3.client("sqs", endpoint_url=client.meta.endpoint_url, region_name=_REGION)
    end = time.monotonic() + _EMPTY_DEADLINE
    while time.monotonic() < end:
        found = reader.get_queue_attributes(QueueUrl=queue_url, AttributeNames=list(COUNTED))
        if not sum(int(v) for v in found["Attributes"].values()):
            return
        time.sleep(0.1)
    msg = f"the queue still held messages {_EMPTY_DEADLINE:g} s after the run"
    raise RuntimeError(msg)


def sqs_queue(n: int, repeats: int, *, enabled: bool, progress: Progress) -> dict[str, Any]:
    """*n* events through an `SQSQueue` on moto, best of *repeats* runs (fewest seconds)."""
    if not enabled:
        return aws.unavailable("excluded with --no-aws")
    not_here = aws.missing()
    if not_here is not None:
        return not_here
    with aws.fake_credentials(), aws.moto_server() as url, quiet_library_logs():
        runs = []
        for i in range(repeats):
            progress(f"AWS: {n:,} events through an SQS queue on moto, run {i + 1}/{repeats}")
            runs.append(_one_run(url, n, f"events-{i}"))
    best = min(runs, key=lambda run: run["seconds"])
    worst_calls = max(run["calls_per_event"] for run in runs)
    return {
        "available": True,
        "events": n,
        "repeats": repeats,
        **best,
        "worst_calls_per_event": worst_calls,
        "target_calls_per_event": TARGET_CALLS_PER_EVENT,
        "met": worst_calls <= TARGET_CALLS_PER_EVENT,
    }
