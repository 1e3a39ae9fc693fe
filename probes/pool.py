"""A small thread pool of daemon threads.

``concurrent.futures.ThreadPoolExecutor`` joins its threads when the interpreter exits, so
after Ctrl-C a run would still wait for every hanging connection to time out. Measurements
cut short by Ctrl-C are thrown away anyway; daemon threads let the process leave at once.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class DaemonPool:
    """``submit`` and ``map`` like an executor, on daemon threads started on demand."""

    def __init__(self, max_workers: int, name: str = "pool") -> None:
        self.max_workers = max(1, max_workers)
        self.name = name
        self._tasks: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._lock = threading.Lock()
        self._closed = False

    def _worker(self) -> None:
        while True:
            with self._lock:
                self._idle += 1
            item = self._tasks.get()
            with self._lock:
                self._idle -= 1
            if item is None:
                return
            future, fn, args, kwargs = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # handed to whoever waits on the future
                future.set_exception(exc)

    def submit(self, fn: Callable[..., R], *args: Any, **kwargs: Any) -> Future[R]:
        if self._closed:
            raise RuntimeError(f"{self.name}: pool is shut down")
        future: Future[R] = Future()
        with self._lock:
            start = self._idle == 0 and len(self._threads) < self.max_workers
            if start:
                thread = threading.Thread(
                    target=self._worker, daemon=True, name=f"{self.name}-{len(self._threads)}"
                )
                self._threads.append(thread)
        self._tasks.put((future, fn, args, kwargs))
        if start:
            thread.start()
        return future

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        futures = [self.submit(fn, item) for item in items]
        return [f.result() for f in futures]

    def shutdown(self) -> None:
        """Stop the threads once they finish what they are doing (never waits)."""
        self._closed = True
        for _ in self._threads:
            self._tasks.put(None)
