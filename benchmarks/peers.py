"""The same work through Dramatiq and Celery, the task queues a Python user would reach for.

Each peer runs the no-op handler and, on success, a callback that builds the same AWS-shaped
`ExecutionRecord` the floor builds: Dramatiq through a StubBroker, a Worker and an
``on_success`` callback actor; Celery eagerly (``task_always_eager``) with a ``link``
callback. Both are optional: a peer that cannot be imported or run is reported unavailable.
"""

from __future__ import annotations

import importlib
import json
import threading
import uuid
from time import perf_counter
from types import ModuleType
from typing import Any, Final

from lambda_destinations import ExecutionRecord

from .floor import build_record

__all__ = ["PEERS", "time_celery", "time_dramatiq", "unavailable"]

PEERS: Final = ("dramatiq", "celery")
#: How long a peer may take to deliver every callback before the run counts as failed.
_DEADLINE_SECONDS: Final = 300.0


def unavailable(reason: str) -> dict[str, Any]:
    """The result of a peer that was not measured, and why."""
    return {"available": False, "reason": reason}


def _import(name: str) -> ModuleType:
    # Through importlib, so type checking never depends on whether the bench extra is
    # installed (neither peer ships complete type information).
    return importlib.import_module(name)


def version(name: str) -> str:
    """The installed version of peer *name*; raises ImportError when it is not installed."""
    return str(_import(name).__version__)


def _marshal(result: object) -> str:
    return "null" if result is None else json.dumps(result)


class _Sink:
    """Collects records from any thread and wakes the timer when the last one arrives.

    Waiting on an event rather than polling keeps the measuring thread from competing with
    the peer's worker threads for the GIL.
    """

    def __init__(self, expected: int) -> None:
        self.records: list[ExecutionRecord] = []
        self._expected = expected
        self._lock = threading.Lock()
        self._done = threading.Event()

    def add(self, record: ExecutionRecord) -> None:
        with self._lock:
            self.records.append(record)
            if len(self.records) >= self._expected:
                self._done.set()

    def wait(self, what: str) -> None:
        if not self._done.wait(_DEADLINE_SECONDS) and self._expected:
            msg = (
                f"{what} delivered {len(self.records)} of {self._expected} records in "
                f"{_DEADLINE_SECONDS:g} s"
            )
            raise TimeoutError(msg)


def time_dramatiq(payloads: list[dict[str, Any]]) -> float:
    """Seconds for Dramatiq (StubBroker, default Worker) to deliver every success record."""
    dramatiq = _import("dramatiq")
    stub = _import("dramatiq.brokers.stub")
    broker = stub.StubBroker()
    sink = _Sink(len(payloads))

    def handle(event: object) -> None:
        return None

    def on_success(message: dict[str, Any], result: object) -> None:
        body = json.dumps(message["args"][0])
        sink.add(build_record(message["message_id"], body, _marshal(result)))

    handler = dramatiq.actor(handle, broker=broker, actor_name="bench_handle")
    callback = dramatiq.actor(on_success, broker=broker, actor_name="bench_on_success")
    worker = dramatiq.Worker(broker, worker_timeout=100)
    worker.start()
    try:
        start = perf_counter()
        for payload in payloads:
            handler.send_with_options(args=(payload,), on_success=callback)
        sink.wait("Dramatiq")
        elapsed = perf_counter() - start
    finally:
        worker.stop()
        broker.close()
    return elapsed


def time_celery(payloads: list[dict[str, Any]]) -> float:
    """Seconds for Celery in eager mode to run every task and its ``link`` callback."""
    celery = _import("celery")
    app = celery.Celery("lambda_destinations_bench", set_as_current=False)
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    sink = _Sink(len(payloads))

    def handle(event: object) -> None:
        return None

    def on_success(result: object, request_id: str, body: str) -> None:
        sink.add(build_record(request_id, body, _marshal(result)))

    handler = app.task(name="bench.handle")(handle)
    callback = app.task(name="bench.on_success")(on_success)
    try:
        start = perf_counter()
        for payload in payloads:
            request_id = str(uuid.uuid4())
            link = callback.s(request_id, json.dumps(payload))
            handler.apply_async((payload,), task_id=request_id, link=link)
        sink.wait("Celery")
        elapsed = perf_counter() - start
    finally:
        app.close()
    return elapsed
