"""What the store holds, for ``censorwatch status`` (a stable JSON shape scripts can read)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from censorwatch.store import Store, current_revision, head_revision, last_job_runs
from censorwatch.store.models import (
    IngestState,
    MeasurementRow,
    Network,
    ProbeRun,
    ReportEdition,
    TestlistEntry,
)


def _iso(value: Any) -> str | None:
    return value.isoformat(timespec="seconds") + "Z" if value is not None else None


def store_status(store: Store) -> dict[str, Any]:
    """One JSON-ready summary of the store.

    Keys (a contract for scripts; add, never rename): ``database``, ``dialect``,
    ``schema_revision``, ``schema_head``, ``measurements`` (total), ``by_source``,
    ``by_test_name``, ``first_measurement``, ``last_measurement``, ``testlist_entries``,
    ``testlists`` (active entries per list), ``networks``, ``probe_runs``,
    ``report_editions``, ``ingest_state`` and ``jobs`` (the last run of each job).
    """
    with store.session() as s:
        total = s.scalar(select(func.count()).select_from(MeasurementRow)) or 0
        by_source = dict(
            s.execute(
                select(MeasurementRow.source, func.count())
                .group_by(MeasurementRow.source)
                .order_by(MeasurementRow.source)
            ).all()
        )
        by_test = dict(
            s.execute(
                select(MeasurementRow.test_name, func.count())
                .group_by(MeasurementRow.test_name)
                .order_by(MeasurementRow.test_name)
            ).all()
        )
        first, last = s.execute(
            select(
                func.min(MeasurementRow.measurement_start_time),
                func.max(MeasurementRow.measurement_start_time),
            )
        ).one()
        entries = (
            s.scalar(
                select(func.count())
                .select_from(TestlistEntry)
                .where(TestlistEntry.removed_at.is_(None))
            )
            or 0
        )
        per_list = dict(
            s.execute(
                select(TestlistEntry.list_name, func.count())
                .where(TestlistEntry.removed_at.is_(None))
                .group_by(TestlistEntry.list_name)
                .order_by(TestlistEntry.list_name)
            ).all()
        )
        networks = s.scalar(select(func.count()).select_from(Network)) or 0
        probe_runs = s.scalar(select(func.count()).select_from(ProbeRun)) or 0
        editions = s.scalar(select(func.count()).select_from(ReportEdition)) or 0
        ingest = [
            {
                "source": st.source,
                "watermark": _iso(st.watermark),
                "updated_at": _iso(st.updated_at),
            }
            for st in s.scalars(select(IngestState).order_by(IngestState.source))
        ]
    jobs = [
        {
            "job": run.job,
            "started_at": _iso(run.started_at),
            "finished_at": _iso(run.finished_at),
            "outcome": run.outcome,
            "duration_seconds": (
                round((run.finished_at - run.started_at).total_seconds(), 3)
                if run.finished_at
                else None
            ),
            "counts": run.counts or {},
            "error": run.error,
        }
        for run in last_job_runs(store)
    ]
    return {
        "database": store.display_url,
        "dialect": store.dialect,
        "schema_revision": current_revision(store),
        "schema_head": head_revision(),
        "measurements": int(total),
        "by_source": {k: int(v) for k, v in by_source.items()},
        "by_test_name": {k: int(v) for k, v in by_test.items()},
        "first_measurement": _iso(first),
        "last_measurement": _iso(last),
        "testlist_entries": int(entries),
        "testlists": {k: int(v) for k, v in per_list.items()},
        "networks": int(networks),
        "probe_runs": int(probe_runs),
        "report_editions": int(editions),
        "ingest_state": ingest,
        "jobs": jobs,
    }
