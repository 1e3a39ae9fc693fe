"""Converting records in worker processes, on machines with more than one core.

A year of Cambodian raw files is about 2.4 million documents; parsing, scrubbing, judging
and compressing them is pure CPU work in Python, so one process uses one core. Here only
that part moves to a pool of worker processes. Reading the input, the order of batches,
their transactions, the cursors saved with them and the quarantine file all stay in the
calling process, so every source behaves exactly as it does in one process: a batch is
written only after every record before it, and a crash loses nothing that was committed.

The pool starts with the ``forkserver`` method where the platform has it (a clean process
that never held the caller's database connections or threads) and ``spawn`` elsewhere.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from censorwatch.fingerprints import FingerprintDB
from censorwatch.measurement import Measurement

from .files import Record

#: Records per task sent to a worker: large enough that the cost of a task (pickling,
#: a pipe round trip) is small beside converting it, small enough to keep workers busy.
CHUNK = 256
#: Tasks in flight per worker: bounds the memory held by records read ahead.
WINDOW_PER_WORKER = 12
#: Upper bound of the automatic worker count (``workers = 0``).
MAX_AUTO_WORKERS = 8


def available_cores() -> int:
    """Cores this process may run on (the affinity mask where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def resolve_workers(workers: int) -> int:
    """``0`` means one worker per available core (at most ``MAX_AUTO_WORKERS``)."""
    if workers < 0:
        raise ValueError("workers must be 0 (one per core) or more")
    if workers == 0:
        return min(available_cores(), MAX_AUTO_WORKERS)
    return workers


@dataclass
class Converted:
    """What a worker made of a chunk of records."""

    measurements: list[Measurement]
    read: int
    verdicts: int = 0
    verdict_errors: int = 0
    #: ``(ref, line, error, text)`` of each record the worker could not use.
    rejected: list[tuple[str, int | None, str, bytes | str | None]] = field(default_factory=list)


class _Rejections:
    """A worker's stand-in for the quarantine file, which only the caller writes."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, int | None, str, bytes | str | None]] = []

    def add(self, ref: str, line: int | None, error: str, text: bytes | str | None) -> None:
        self.entries.append((ref, line, error, text))


_converter: Any = None


def _start_worker(recompute_verdicts: bool, fingerprints: tuple[Any, ...] | None) -> None:
    from censorwatch.fingerprints import FingerprintDB

    from .pipeline import Ingestor

    global _converter
    db = FingerprintDB(*fingerprints) if fingerprints is not None else None
    _converter = Ingestor(
        None,  # type: ignore[arg-type]
        recompute_verdicts=recompute_verdicts,
        fingerprints=db,
    )


def _convert(records: list[Record]) -> Converted:
    from .pipeline import IngestStats

    conv = _converter
    conv.stats = IngestStats()
    conv.quarantine = rejections = _Rejections()
    out = [m for m in map(conv.from_record, records) if m is not None]
    return Converted(
        measurements=out,
        read=len(records),
        verdicts=conv.stats.verdicts,
        verdict_errors=conv.stats.verdict_errors,
        rejected=rejections.entries,
    )


def _chunks(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    chunk: list[Record] = []
    for record in records:
        chunk.append(record)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class ParallelConverter:
    """A pool of workers that convert records, in order, a bounded number ahead."""

    def __init__(
        self,
        workers: int,
        *,
        recompute_verdicts: bool = True,
        fingerprints: FingerprintDB | None = None,
    ) -> None:
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        if context.get_start_method() == "forkserver":
            context.set_forkserver_preload(["censorwatch.ingest.pipeline"])
        self.workers = workers
        rows = (
            None
            if fingerprints is None
            else (fingerprints.fingerprints, fingerprints.versions, fingerprints.sources)
        )
        self._pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_start_worker,
            # The rows, not the database: its search automata are rebuilt in each worker.
            initargs=(recompute_verdicts, rows),
        )

    def convert(self, records: Iterable[Record], chunk: int = CHUNK) -> Iterator[Converted]:
        """The conversions of ``records`` chunk by chunk, in the order of the records."""
        pending: deque[Future[Converted]] = deque()
        window = self.workers * WINDOW_PER_WORKER
        try:
            for part in _chunks(records, chunk):
                pending.append(self._pool.submit(_convert, part))
                if len(pending) >= window:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:  # the caller stopped early (an error, Ctrl-C)
                future.cancel()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
