"""Threads for sync handlers that never hold up the interpreter's exit.

``ThreadPoolExecutor`` threads are joined at exit, so one handler stuck past its timeout would
keep the process alive for good. These are daemon threads: by the time the interpreter exits,
every event has been drained or reported, and only abandoned, timed-out handlers are left.
"""

from __future__ import annotations

import concurrent.futures
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

__all__ = ["HandlerThreads"]

T = TypeVar("T")

_Work = tuple["Future[Any]", Callable[..., Any], tuple[Any, ...]]


class HandlerThreads(concurrent.futures.Executor):
    """At most *max_workers* daemon threads, started as work arrives and reused."""

    def __init__(self, max_workers: int, name: str = "lambda_destinations") -> None:
        self._max_workers = max_workers
        self._name = name
        self._work: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        # One permit per thread waiting for work: a new thread starts only when none waits.
        self._idle = threading.Semaphore(0)
        self._threads: list[threading.Thread] = []
        self._closed = False

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        if kwargs:
            msg = "HandlerThreads.submit takes positional arguments only"
            raise TypeError(msg)
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                msg = "cannot schedule new work after shutdown"
                raise RuntimeError(msg)
            self._work.put((future, fn, args))
            if not self._idle.acquire(blocking=False) and len(self._threads) < self._max_workers:
                thread = threading.Thread(
                    target=self._run, name=f"{self._name}_{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
        return future

    def _run(self) -> None:
        work = self._work
        while True:
            item = work.get()
            if item is None:
                return
            future, fn, args = item
            del item
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args)
                except BaseException as e:  # noqa: BLE001 - handed to whoever awaits it
                    future.set_exception(e)
                else:
                    future.set_result(result)
            del future, fn, args
            self._idle.release()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        if cancel_futures:
            while True:
                try:
                    item = self._work.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    item[0].cancel()
        for _ in threads:
            self._work.put(None)
        if wait:
            for thread in threads:
                thread.join()
