"""The record of pipeline job runs (probe, ingest-ooni, analyze, report, ...).

Each run is written when it starts and updated when it ends, in transactions of its own, so a
crash leaves a visible ``running`` row and ``censorwatch status`` can say what last happened.

A run is recorded once even when two layers record it: the scheduler's ``probe`` job records
its run and then calls ``probe run``, which records ``probe`` too. Within one thread, a
``job_run`` of a job that is already being recorded joins the outer record (same row, same
counts) instead of writing a second row; the outer one writes the outcome.
"""

from __future__ import annotations

import contextlib
import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from censorwatch.measurement import utcnow

if TYPE_CHECKING:
    from censorwatch.store.engine import Store
    from censorwatch.store.models import JobRun

# The models (SQLAlchemy's ORM) are imported when a run is recorded, not with this module:
# every stage's command imports ``job_run``, and ``censorwatch <stage> --help`` must not pay
# for the ORM (issue #15).


@dataclass
class JobRecord:
    """Counts a running job reports, saved with its outcome."""

    id: int
    counts: dict[str, Any] = field(default_factory=dict)


_active = threading.local()


@contextlib.contextmanager
def job_run(store: Store, job: str) -> Iterator[JobRecord]:
    """Record a run of ``job``: ``success`` on return, ``failed``/``interrupted`` on error."""
    from censorwatch.store.models import JobRun

    records: dict[tuple[str, str], JobRecord] = _active.__dict__.setdefault("records", {})
    key = (store.url, job)
    outer = records.get(key)
    if outer is not None:
        yield outer  # nested: the outer job_run records this same run
        return
    with store.session() as s:
        row = JobRun(job=job, started_at=utcnow(), outcome="running")
        s.add(row)
        s.flush()
        record = JobRecord(id=row.id)
    outcome, error = "success", None
    records[key] = record
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
        records.pop(key, None)
        with store.session() as s:
            row = s.get(JobRun, record.id)
            if row is not None:
                row.finished_at = utcnow()
                row.outcome = outcome
                row.counts = dict(record.counts) or None
                row.error = error


def last_job_runs(store: Store) -> list[JobRun]:
    """The most recent run of each job, by job name."""
    from sqlalchemy import func, select

    from censorwatch.store.models import JobRun

    with store.session() as s:
        latest = select(JobRun.job, func.max(JobRun.id).label("id")).group_by(JobRun.job).subquery()
        rows = s.scalars(
            select(JobRun).join(latest, JobRun.id == latest.c.id).order_by(JobRun.job)
        ).all()
        return list(rows)
