"""A progress bar on a terminal, silence elsewhere (cron and systemd keep the summary line)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .pipeline import IngestStats


class IngestProgress:
    """Shows what an ingest has done: pages or files/bytes, measurements, rate."""

    def __init__(self, label: str, unit: str, total: float | None, enabled: bool) -> None:
        self.label = label
        self.unit = unit
        self._progress: Any = None
        self._task: Any = None
        self.total = total
        self.enabled = enabled

    def start(self) -> None:
        if not self.enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        amount = DownloadColumn() if self.unit == "bytes" else MofNCompleteColumn()
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            amount,
            TextColumn("{task.fields[unit]}"),
            TextColumn("{task.fields[measurements]:,} measurements ({task.fields[rate]:,.0f}/s)"),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(
            self.label,
            total=self.total,
            unit="" if self.unit == "bytes" else self.unit,
            measurements=0,
            rate=0.0,
            note="",
        )

    def update(self, stats: IngestStats, note: str | None = None) -> None:
        if self._progress is None:
            return
        done = {"bytes": stats.bytes, "pages": stats.pages, "files": stats.files}.get(self.unit, 0)
        fields: dict[str, Any] = {"measurements": stats.stored, "rate": stats.rate}
        if note is not None:
            fields["note"] = note
        self._progress.update(self._task, completed=done, **fields)

    def set_total(self, total: float | None) -> None:
        if self._progress is not None:
            self._progress.update(self._task, total=total)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


@contextmanager
def progress_bar(
    label: str, unit: str, total: float | None = None, *, quiet: bool = False
) -> Iterator[IngestProgress]:
    """A bar only when stderr is a terminal and the user did not ask for quiet."""
    bar = IngestProgress(label, unit, total, enabled=sys.stderr.isatty() and not quiet)
    bar.start()
    try:
        yield bar
    finally:
        bar.stop()
