"""What the store holds, for ``censorwatch status`` (a stable JSON shape scripts can read)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, DateTime, column, func, select, table

from censorwatch.store.migrate import current_revision, head_revision

if TYPE_CHECKING:
    from censorwatch.store.engine import Store

# The tables as SQLAlchemy Core sees them, with only the columns read here: ``status`` runs on
# every look at a store and must start fast, and the ORM models (censorwatch.store.models)
# cost about 0.1 s of imports and class building (issue #15). The names are the models';
# tests/test_cli_startup.py checks the counts against rows written through the models.
_measurements = table(
    "measurements",
    column("source"),
    column("test_name"),
    column("measurement_start_time", DateTime),
)
_testlist_entries = table("testlist_entries", column("list_name"), column("removed_at"))
_networks = table("networks")
_probe_runs = table("probe_runs")
_report_editions = table("report_editions")
_ingest_state = table(
    "ingest_state", column("source"), column("watermark", DateTime), column("updated_at", DateTime)
)
_job_runs = table(
    "job_runs",
    column("id"),
    column("job"),
    column("started_at", DateTime),
    column("finished_at", DateTime),
    column("outcome"),
    column("counts", JSON),
    column("error"),
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
    m, t = _measurements.c, _testlist_entries.c
    with store.engine.connect() as conn:
        total = conn.scalar(select(func.count()).select_from(_measurements)) or 0
        by_source = dict(
            conn.execute(select(m.source, func.count()).group_by(m.source).order_by(m.source)).all()
        )
        by_test = dict(
            conn.execute(
                select(m.test_name, func.count()).group_by(m.test_name).order_by(m.test_name)
            ).all()
        )
        first, last = conn.execute(
            select(func.min(m.measurement_start_time), func.max(m.measurement_start_time))
        ).one()
        entries = (
            conn.scalar(
                select(func.count()).select_from(_testlist_entries).where(t.removed_at.is_(None))
            )
            or 0
        )
        per_list = dict(
            conn.execute(
                select(t.list_name, func.count())
                .where(t.removed_at.is_(None))
                .group_by(t.list_name)
                .order_by(t.list_name)
            ).all()
        )
        networks = conn.scalar(select(func.count()).select_from(_networks)) or 0
        probe_runs = conn.scalar(select(func.count()).select_from(_probe_runs)) or 0
        editions = conn.scalar(select(func.count()).select_from(_report_editions)) or 0
        ingest = [
            {
                "source": st.source,
                "watermark": _iso(st.watermark),
                "updated_at": _iso(st.updated_at),
            }
            for st in conn.execute(select(_ingest_state).order_by(_ingest_state.c.source))
        ]
        # The most recent run of each job (censorwatch.store.jobs.last_job_runs, in Core).
        j = _job_runs.c
        latest = select(j.job, func.max(j.id).label("id")).group_by(j.job).subquery()
        runs = conn.execute(
            select(_job_runs)
            .select_from(_job_runs.join(latest, j.id == latest.c.id))
            .order_by(j.job)
        ).all()
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
        for run in runs
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
