"""Run a real Lambda handler the asynchronous way: one event succeeds, one fails through retries.

The failing event follows AWS's schedule (attempts at +0 s, +60 s, +180 s) on a virtual clock,
so the three minutes take milliseconds. Run it with ``.venv/bin/python examples/demo.py``;
``make demo`` runs the same handler through the command line (docs/cli.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from datetime import UTC, datetime

from lambda_destinations import (
    AsyncInvoker,
    ExecutionRecord,
    InMemoryDeadLetterQueue,
    InMemoryDestination,
)
from lambda_destinations.testing import VirtualClock

# Python puts this script's folder first on sys.path, so the handler file beside it imports.
from orders import handler


def show(title: str, record: ExecutionRecord) -> None:
    print(f"\n== {title}: {record.condition.value}, {record.approximate_invoke_count} attempt(s)")
    print(json.dumps(record.to_dict(), indent=2))


def log_on(clock: VirtualClock) -> None:
    """Show the library's log lines stamped with virtual time, to see the retry schedule."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("[%(virtual)s] %(levelname)-7s %(message)s"))

    def stamp(record: logging.LogRecord) -> bool:
        record.virtual = f"+{clock.elapsed:>3g} s"
        return True

    handler.addFilter(stamp)
    logger = logging.getLogger("lambda_destinations")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)


async def main() -> None:
    ok, failed, dlq = InMemoryDestination(), InMemoryDestination(), InMemoryDeadLetterQueue()
    clock = VirtualClock(start=datetime(2026, 11, 26, 12, 0, tzinfo=UTC))
    log_on(clock)
    began = time.perf_counter()
    async with AsyncInvoker(
        handler,
        function_name="orders",
        maximum_retry_attempts=2,
        maximum_event_age_in_seconds=21600,
        on_success=ok,
        on_failure=failed,
        dead_letter_queue=dlq,
        clock=clock,
    ) as invoker:
        accepted = await invoker.invoke({"Success": True})
        print(f"invoke -> {accepted.status_code}, request id {accepted.request_id}")
        failing = await invoker.invoke({"Success": False})
        print(f"invoke -> {failing.status_code}, request id {failing.request_id}")
        await invoker.join()
    wall = time.perf_counter() - began

    show("on-success destination", ok.records[0])
    show("on-failure destination", failed.records[0])
    letter = dlq.messages[0]
    print("\n== dead-letter queue message")
    print(f"body: {letter.body}")
    print(json.dumps(letter.message_attributes, indent=2))
    print(f"\n{clock.elapsed:g} s of Lambda time in {wall * 1000:.1f} ms of wall time")
    print(f"metrics: {invoker.metrics().to_cloudwatch()}")


if __name__ == "__main__":
    asyncio.run(main())
