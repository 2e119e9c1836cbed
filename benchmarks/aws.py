"""Records delivered to SQS on a local moto server: records per second and API calls per record.

The same invoker and SQS destination run twice, with batching (``SendMessageBatch``, up to 10
records a call) and without (one ``SendMessage`` per record, what Lambda itself calls). API
calls are counted by a botocore ``before-send`` hook on the client: every HTTP request that
leaves, retries included, is one call. The server is a moto subprocess on 127.0.0.1, started
and stopped here; its speed bounds both figures alike, so compare them side by side. moto's
SendMessage slows down as its queue grows (it scans the queue on each call), so a thread
purges the queue while the records arrive: the figures measure sending, not moto's scans.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from time import perf_counter
from typing import Any, Final

from lambda_destinations import AsyncInvoker

from .scenarios import Progress, quiet_library_logs

__all__ = ["CREDENTIALS", "TARGET_CALLS_PER_RECORD", "aws_delivery", "moto_server", "unavailable"]

#: Under load, batches of 10 where possible: at most 0.2 API calls per record.
TARGET_CALLS_PER_RECORD: Final = 0.2
_REGION: Final = "us-east-1"
_ACCOUNT: Final = "123456789012"
CREDENTIALS: Final = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": _REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
_START_DEADLINE: Final = 30.0


def unavailable(reason: str) -> dict[str, Any]:
    """The section's figures when it did not run, and why."""
    return {"available": False, "reason": reason}


def missing() -> dict[str, Any] | None:
    """The result of a benchmark that cannot run here for want of boto3 or moto, or ``None``."""
    try:
        import boto3  # noqa: F401 - only whether it is there
        import moto.server  # noqa: F401
    except ImportError as e:
        return unavailable(f"not installed ({e}); pip install -e '.[tests]'")
    return None


@contextlib.contextmanager
def fake_credentials() -> Iterator[None]:
    """Moto's fake credentials in the environment for the block; what was there, after."""
    saved = {name: os.environ.get(name) for name in CREDENTIALS}
    os.environ.update(CREDENTIALS)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """A moto server on a free 127.0.0.1 port, for the length of the block; its URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # The purging thread empties the queue more often than AWS's once a minute.
        env={
            **os.environ,
            **CREDENTIALS,
            "MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR": "false",
        },
    )
    url = f"http://127.0.0.1:{port}"
    try:
        end = time.monotonic() + _START_DEADLINE
        while True:
            try:
                with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):
                    break
            except (urllib.error.URLError, OSError):
                if process.poll() is not None or time.monotonic() > end:
                    raise RuntimeError("moto's server did not start") from None
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=_START_DEADLINE)


async def _noop(event: object) -> None:
    return None


@contextlib.contextmanager
def _purging(client: Any, queue_url: str) -> Iterator[None]:
    stop = threading.Event()

    def purge() -> None:
        while not stop.wait(0.1):
            client.purge_queue(QueueUrl=queue_url)

    thread = threading.Thread(target=purge, name="bench-purge", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _one_run(url: str, n: int, *, batching: bool, queue_name: str) -> dict[str, float]:
    import boto3
    from lambda_destinations.destinations.aws import AwsConnection, SqsDestination

    connection = AwsConnection(endpoint_url=url, region_name=_REGION)
    client = connection.client("sqs", _REGION)
    queue_url = client.create_queue(QueueName=queue_name)["QueueUrl"]
    calls = accepted = 0

    def count(**_: Any) -> None:
        nonlocal calls
        calls += 1

    def took(parsed: Any, **_: Any) -> None:
        nonlocal accepted
        accepted += len(parsed["Successful"]) if "Successful" in parsed else 1

    client.meta.events.register("before-send.sqs", count)
    client.meta.events.register("after-call.sqs.SendMessage", took)
    client.meta.events.register("after-call.sqs.SendMessageBatch", took)
    destination = SqsDestination(
        f"arn:aws:sqs:{_REGION}:{_ACCOUNT}:{queue_name}", connection=connection, batching=batching
    )
    purger = boto3.client("sqs", endpoint_url=url, region_name=_REGION)

    async def deliver() -> tuple[float, int]:
        async with AsyncInvoker(
            _noop, function_name="bench", on_success=destination, delivery_timeout=600
        ) as invoker:
            started = perf_counter()
            for i in range(n):
                invoker.invoke({"i": i})
            await invoker.join()
            elapsed = perf_counter() - started
            return elapsed, invoker.metrics().destination_delivery_failures

    with _purging(purger, queue_url):
        seconds, failures = asyncio.run(deliver())
    connection.close()
    if failures or accepted != n:
        msg = f"{n} records sent, {accepted} accepted by SQS, {failures} failed deliveries"
        raise RuntimeError(msg)
    return {
        "seconds": seconds,
        "records_per_second": n / seconds,
        "api_calls": calls,
        "calls_per_record": calls / n,
    }


def aws_delivery(n: int, repeats: int, *, enabled: bool, progress: Progress) -> dict[str, Any]:
    """Batching and single sends to SQS on moto, best of *repeats* each, side by side."""
    if not enabled:
        return unavailable("excluded with --no-aws")
    not_here = missing()
    if not_here is not None:
        return not_here
    with fake_credentials(), moto_server() as url, quiet_library_logs():
        modes: dict[str, dict[str, float]] = {}
        for mode, batching in (("batching", True), ("single", False)):
            runs = []
            for i in range(repeats):
                progress(f"AWS: {n:,} records to SQS on moto, {mode}, run {i + 1}/{repeats}")
                runs.append(_one_run(url, n, batching=batching, queue_name=f"{mode}-{i}"))
            modes[mode] = min(runs, key=lambda run: run["seconds"])
    batched = modes["batching"]
    return {
        "available": True,
        "records": n,
        "repeats": repeats,
        "batching": batched,
        "single": modes["single"],
        "speedup": batched["records_per_second"] / modes["single"]["records_per_second"],
        "target_calls_per_record": TARGET_CALLS_PER_RECORD,
        "met": batched["calls_per_record"] <= TARGET_CALLS_PER_RECORD,
    }
