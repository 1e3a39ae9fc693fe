"""The record of pipeline job runs (probe, ingest-ooni, analyze, report, ...).

Each run is written when it starts and updated when it ends, in transactions of its own, so a
crash leaves a visible ``running`` row and ``censorwatch status`` can say what last happened.
"""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from censorwatch.measurement import utcnow
from censorwatch.store.models import JobRun

if TYPE_CHECKING:
    from censorwatch.store.engine import Store


@dataclass
class JobRecord:
    """Counts a running job reports, saved with its outcome."""

    id: int
    counts: dict[str, Any] = field(default_factory=dict)


@contextlib.contextmanager
def job_run(store: Store, job: str) -> Iterator[JobRecord]:
    """Record a run of ``job``: ``success`` on return, ``failed``/``interrupted`` on error."""
    with store.session() as s:
        row = JobRun(job=job, started_at=utcnow(), outcome="running")
        s.add(row)
        s.flush()
        record = JobRecord(id=row.id)
    outcome, error = "success", None
    try:
        yield record
    except KeyboardInterrupt:
        outcome, error = "interrupted", "interrupted by the user"
        raise
    except BaseException as exc:
        outcome = "failed"
        error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        raise
    finally:
        with store.session() as s:
            row = s.get(JobRun, record.id)
            if row is not None:
                row.finished_at = utcnow()
                row.outcome = outcome
                row.counts = dict(record.counts) or None
                row.error = error


def last_job_runs(store: Store) -> list[JobRun]:
    """The most recent run of each job, by job name."""
    with store.session() as s:
        latest = select(JobRun.job, func.max(JobRun.id).label("id")).group_by(JobRun.job).subquery()
        rows = s.scalars(
            select(JobRun).join(latest, JobRun.id == latest.c.id).order_by(JobRun.job)
        ).all()
        return list(rows)
