"""Run a list of URLs concurrently, politely, and stop cleanly.

* ``concurrency`` measurements at a time (default 32) on a fixed set of daemon threads: a
  site that hangs holds one thread for one timeout while the others go on; once a URL's own
  network steps are done, waiting for its controls (test helper, DoH) and judging it happen
  on a second pool (at most 2 x concurrency waiting), so a slow helper does not hold a slot;
* a per-host rate limit (``probe.per_host_rate`` requests a second) so several URLs of the
  same site are not fired at once;
* results are handed to the caller on the main thread as they come, so they can be stored
  (and are kept) even if the run is interrupted;
* Ctrl-C stops at once: no new URL is started, measurements in flight are dropped, and what
  was measured before stays measured;
* a rich progress bar on a terminal.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from censorwatch.probes.measure import Prober, Result
from censorwatch.probes.pool import DaemonPool

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    url: str
    category_code: str | None = None


@dataclass
class RunStats:
    """What became of the URLs of a run: ``measured + failed + skipped == planned``.

    * ``measured``: stored with a verdict;
    * ``failed``: stored as a failure (``test_keys.x_failure`` says why; never as blocking):
      the measurement raised, or nothing answered (no control and no site);
    * ``skipped``: not stored: never started, or still in flight when the run was
      interrupted (Ctrl-C, SIGTERM, the scheduler's shutdown).
    """

    planned: int = 0
    started: int = 0
    measured: int = 0
    failed: int = 0
    anomalies: int = 0
    confirmed: int = 0
    interrupted: bool = False
    #: Why the failed URLs failed, by reason (for the one-line diagnosis of a run).
    failures: dict[str, int] = field(default_factory=dict)

    @property
    def skipped(self) -> int:
        return self.planned - self.measured - self.failed

    @property
    def stored(self) -> int:
        return self.measured + self.failed

    @property
    def errors(self) -> int:  # the name before failures were stored
        return self.failed


class HostRateLimiter:
    """At most ``rate`` measurement starts a second per host name."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, host: str, stop: threading.Event) -> bool:
        """Wait for ``host``'s turn; False when the run is being stopped."""
        if self.interval <= 0:
            return not stop.is_set()
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next.get(host, 0.0))
            self._next[host] = slot + self.interval
        delay = slot - time.monotonic()
        if delay > 0:
            return not stop.wait(delay)
        return not stop.is_set()


def run_targets(
    prober: Prober,
    targets: Sequence[Target],
    *,
    concurrency: int,
    per_host_rate: float,
    on_result: Callable[[Result], None],
    on_failure: Callable[[Target, BaseException], Result | None] | None = None,
    show_progress: bool = False,
    stop: threading.Event | None = None,
) -> RunStats:
    """Measure every target; ``on_result`` runs on the calling thread for each result.

    Every URL that is started ends as exactly one call of ``on_result``: its measurement, or
    (when measuring raised) the failure ``on_failure`` makes of it. The run ends when every
    started URL has come back, including those still waiting for their controls on the
    finishing pool. ``stop`` (the caller's, e.g. the scheduler's shutdown) is only read,
    never set: setting it would stop the caller too.
    """
    halt = threading.Event()  # ours: set to stop the workers, whatever the reason
    stats = RunStats(planned=len(targets))
    todo: queue.SimpleQueue[Target | None] = queue.SimpleQueue()
    for target in targets:
        todo.put(target)
    workers = max(1, min(concurrency, len(targets) or 1))
    for _ in range(workers):
        todo.put(None)
    done: queue.SimpleQueue[tuple[str, Result | BaseException, Target]] = queue.SimpleQueue()
    limiter = HostRateLimiter(per_host_rate)
    counter_lock = threading.Lock()
    started_count = [0]

    # Measurements whose network steps are done wait for their controls here, so a slow test
    # helper does not hold a probing slot. At most 2 x concurrency URLs are between their
    # start and the moment the calling thread has taken their result: a permit is released
    # only then, so results never pile up in memory when storing is slower than measuring.
    waiting = threading.BoundedSemaphore(workers * 2)
    # A prober that says what a started URL waits for (its control futures) is finished when
    # they are done, on a few threads, instead of by a thread that blocks on them: a run holds
    # fewer threads (memory). ``finish_deadline`` seconds after ``start`` it is finished anyway
    # (its own timeouts then record the control as timed out).
    waits_for = getattr(prober, "waits_for", None)
    deadline_after = float(getattr(prober, "finish_deadline", 0.0) or 0.0)
    finisher = DaemonPool(4 if waits_for else workers * 2, name="probe-finish")
    parked: dict[int, tuple[float, Any, Target]] = {}
    left: dict[int, int] = {}
    park_lock = threading.Lock()
    keys = itertools.count()

    def finish(started: Any, target: Target) -> None:
        try:
            done.put(("ok", prober.finish(started), target))
        except BaseException as exc:  # whatever happens, the URL comes back exactly once
            done.put(("error", exc, target))

    def release(key: int) -> None:
        """Hand a parked URL to the finishing pool (once, whoever calls first)."""
        with park_lock:
            item = parked.pop(key, None)
            left.pop(key, None)
        if item is None:
            return
        _deadline, started, target = item
        try:
            finisher.submit(finish, started, target)
        except RuntimeError:  # never expected (the pool closes after the run): no loss
            finish(started, target)

    def park(started: Any, target: Target) -> None:
        futures = [f for f in waits_for(started) if f is not None] if waits_for else []
        release_now = not futures
        key = next(keys)
        with park_lock:
            parked[key] = (time.monotonic() + deadline_after, started, target)
            left[key] = len(futures)
        if release_now:
            release(key)
            return

        def one_done(_future: Any, key: int = key) -> None:
            with park_lock:
                if key not in left:
                    return
                left[key] -= 1
                ready = left[key] <= 0
            if ready:
                release(key)

        for future in futures:
            future.add_done_callback(one_done)

    def release_overdue() -> None:
        if not deadline_after:
            return
        now = time.monotonic()
        with park_lock:
            overdue = [k for k, (deadline, _s, _t) in parked.items() if deadline <= now]
        for key in overdue:
            release(key)

    def worker() -> None:
        while not halt.is_set():
            target = todo.get()
            if target is None:
                return
            host = (urlsplit(target.url).hostname or "").lower()
            if not limiter.wait(host, halt):
                return
            while not waiting.acquire(timeout=0.2):
                if halt.is_set():
                    return
            if halt.is_set():
                waiting.release()
                return
            with counter_lock:
                started_count[0] += 1
            try:
                started = prober.start(target.url, target.category_code)
            except BaseException as exc:  # a bug on one URL must not end the run
                done.put(("error", exc, target))
                continue
            park(started, target)

    threads = [
        threading.Thread(target=worker, daemon=True, name=f"probe-{i}") for i in range(workers)
    ]
    for t in threads:
        t.start()
    progress = _Progress(len(targets)) if show_progress else None
    returned = 0
    try:
        while True:
            if stop is not None and stop.is_set() and not halt.is_set():
                halt.set()
                stats.interrupted = True
            with counter_lock:
                in_flight = started_count[0] - returned
            if in_flight == 0 and (returned == len(targets) or halt.is_set()):
                break
            release_overdue()
            try:
                kind, value, target = done.get(timeout=0.2)
            except queue.Empty:
                if in_flight == 0 and not any(t.is_alive() for t in threads) and done.empty():
                    # Every worker left and every URL they started came back.
                    with counter_lock:
                        if started_count[0] == returned:
                            break
                if stats.interrupted:
                    break  # stopped from outside: what is in flight is dropped, as Ctrl-C
                continue
            returned += 1
            waiting.release()
            if kind == "error":
                assert isinstance(value, BaseException)
                log.warning("%s: not measured (%s: %s)", target.url, type(value).__name__, value)
                made = on_failure(target, value) if on_failure is not None else None
                if made is None:
                    stats.failed += 1
                    reason = f"{type(value).__name__}: {value}"
                    stats.failures[reason] = stats.failures.get(reason, 0) + 1
                    if progress:
                        progress.advance(stats)
                    continue
                value = made
            assert not isinstance(value, BaseException)
            on_result(value)
            failure = getattr(value, "failure", None)
            if failure:
                stats.failed += 1
                stats.failures[failure] = stats.failures.get(failure, 0) + 1
            else:
                stats.measured += 1
                stats.anomalies += int(value.verdict.anomaly)
                stats.confirmed += int(value.verdict.confirmed)
            if progress:
                progress.advance(stats)
    except KeyboardInterrupt:
        stats.interrupted = True
    finally:
        halt.set()
        with counter_lock:
            stats.started = started_count[0]
        finisher.shutdown()
        if progress:
            progress.close()
    return stats


class _Progress:
    def __init__(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("[bold]probing[/bold]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[anomalies]} anomalies"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            transient=False,
            console=Console(stderr=True),
        )
        self.task = self.progress.add_task("probe", total=total, anomalies=0)
        self.progress.start()

    def advance(self, stats: RunStats) -> None:
        self.progress.update(self.task, advance=1, anomalies=stats.anomalies)

    def close(self) -> None:
        self.progress.stop()
