"""The floor: the least any in-process asynchronous invoker must do per event.

A bare ``asyncio.Queue`` drained by worker tasks. Per event it does what the AWS model cannot
skip, and nothing else: serialise the payload (the record carries its JSON), mint a request
id, queue, hand the handler a fresh copy of the event, marshal the result, stamp the time, and
build the AWS-shaped `ExecutionRecord` for the destination. No retries, no timeouts, no
metrics, no validation: whatever the library costs beyond this is its own overhead.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, Final

from lambda_destinations import Condition, ExecutionRecord, RequestContext, ResponseContext

__all__ = ["DEFAULT_WORKERS", "FLOOR_ARN", "Floor", "build_record"]

FLOOR_ARN: Final = "arn:aws:lambda:us-east-1:123456789012:function:floor:$LATEST"
#: AWS's default account concurrency, which the invoker also uses when none is reserved:
#: the floor runs as many workers so both schedule the same number of tasks.
DEFAULT_WORKERS: Final = 1000

_OK: Final = ResponseContext(200, "$LATEST")

AsyncHandler = Callable[[Any], Awaitable[object]]
SyncHandler = Callable[[Any], object]
Sink = Callable[[ExecutionRecord], object]


def build_record(request_id: str, body: str, response: str) -> ExecutionRecord:
    """The success record Lambda sends to an ``on_success`` destination."""
    return ExecutionRecord(
        datetime.now(UTC),
        RequestContext(request_id, FLOOR_ARN, Condition.SUCCESS, 1),
        body,
        _OK,
        response,
    )


def _marshal(result: object) -> str:
    return "null" if result is None else json.dumps(result)


class Floor:
    """A bare queue and workers around one handler, delivering success records to *sink*.

    Pass *async_handler* for a coroutine function, or *sync_handler* to run a plain function
    in a thread pool of *workers* threads, as the invoker does.
    """

    def __init__(
        self,
        sink: Sink,
        *,
        async_handler: AsyncHandler | None = None,
        sync_handler: SyncHandler | None = None,
        workers: int = DEFAULT_WORKERS,
    ) -> None:
        if (async_handler is None) == (sync_handler is None):
            msg = "pass exactly one of async_handler and sync_handler"
            raise TypeError(msg)
        self._sink = sink
        self._async_handler = async_handler
        self._sync_handler = sync_handler
        self._workers = workers
        self._queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._executor = None if sync_handler is None else ThreadPoolExecutor(max_workers=workers)

    def start(self) -> None:
        """Start the workers on the running loop."""
        loop = asyncio.get_running_loop()
        work = self._work_async if self._async_handler is not None else self._work_sync
        self._tasks = [loop.create_task(work()) for _ in range(self._workers)]

    def invoke_nowait(self, payload: object) -> str:
        """Queue *payload* and return its request id."""
        request_id = str(uuid.uuid4())
        self._queue.put_nowait((request_id, json.dumps(payload)))
        return request_id

    async def join(self) -> None:
        """Wait until every queued event has been delivered."""
        await self._queue.join()

    async def aclose(self) -> None:
        """Stop the workers and the threads."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    async def _work_async(self) -> None:
        assert self._async_handler is not None
        handler, queue, sink = self._async_handler, self._queue, self._sink
        while True:
            request_id, body = await queue.get()
            result = await handler(json.loads(body))
            sink(build_record(request_id, body, _marshal(result)))
            queue.task_done()

    async def _work_sync(self) -> None:
        assert self._sync_handler is not None
        handler, queue, sink = self._sync_handler, self._queue, self._sink
        loop = asyncio.get_running_loop()
        while True:
            request_id, body = await queue.get()
            result = await loop.run_in_executor(self._executor, handler, json.loads(body))
            sink(build_record(request_id, body, _marshal(result)))
            queue.task_done()
