"""The store on SQLite and on a real PostgreSQL: schema, migrations, idempotent bulk writes."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from censorwatch.measurement import Measurement
from censorwatch.store import (
    current_revision,
    head_revision,
    job_run,
    last_job_runs,
    open_store,
    upgrade,
    write_measurements,
)
from censorwatch.store.codec import decode_document
from censorwatch.store.migrate import revisions
from censorwatch.store.models import FOREIGN_TABLES, Base, MeasurementRow, Network


def make_doc(i: int, **extra) -> dict:
    """A web_connectivity document in OONI's shape (varied from the real v0.4 ones)."""
    doc = {
        "test_name": "web_connectivity",
        "test_version": "0.4.3",
        "report_id": f"20230301T000000Z_webconnectivity_KH_38623_n1_{i // 100:016d}",
        "input": f"https://site{i % 100}.example.org/",
        "measurement_start_time": (datetime(2023, 3, 1) + timedelta(seconds=i)).strftime(
            "%Y-%m-%d %H:%M:%S"
        ),
        "probe_cc": "KH",
        "probe_asn": "AS38623",
        "probe_network_name": "Viettel (Cambodia) Pte., Ltd.",
        "probe_ip": "127.0.0.1",
        "software_name": "ooniprobe-android",
        "software_version": "3.8.0",
        "test_keys": {"blocking": "dns" if i % 3 == 0 else False, "accessible": i % 3 != 0},
    }
    doc.update(extra)
    return doc


def count(store, table=MeasurementRow) -> int:
    with store.session() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(table))


def test_new_store_is_at_head(store) -> None:
    assert current_revision(store) == head_revision()
    assert revisions()[0] == "0001" and revisions()[-1] == head_revision()


def _ours(obj, name, type_, reflected, compare_to) -> bool:
    """Tables other libraries keep in our database (APScheduler's jobs) are not ours to check."""
    return not (type_ == "table" and name in FOREIGN_TABLES)


def _migrated(url: str):
    """A store built by the migrations, revision by revision (as ``censorwatch init`` does)."""
    from censorwatch.store import Store, upgrade

    store = Store(url, migrate=False)
    upgrade(store)
    return store


def test_schema_matches_models(db_url) -> None:
    """The migrations build exactly the tables the models describe."""
    store = _migrated(db_url)
    try:
        with store.engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn, opts={"compare_type": True, "include_object": _ours}
            )
            diffs = compare_metadata(ctx, Base.metadata)
        assert diffs == []
    finally:
        store.close()


def _schema(store) -> dict:
    """Everything the database says about our tables, names of constraints included."""
    with store.engine.connect() as conn:
        insp = sa.inspect(conn)
        out = {}
        for table in sorted(insp.get_table_names()):
            # (Column order aside: columns added by later migrations come last there.)
            cols = sorted(
                (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                for c in insp.get_columns(table)
            )
            out[table] = {
                "columns": cols,
                "pk": insp.get_pk_constraint(table)["constrained_columns"],
                "fks": sorted(
                    (f["name"], tuple(f["constrained_columns"]), f["referred_table"])
                    for f in insp.get_foreign_keys(table)
                ),
                "indexes": sorted(
                    (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                    for i in insp.get_indexes(table)
                ),
                "uniques": sorted(
                    (u["name"], tuple(u["column_names"]))
                    for u in insp.get_unique_constraints(table)
                ),
            }
        version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    return {"tables": out, "version": version}


def test_a_new_store_created_from_the_models_is_the_migrated_one(db_url, tmp_path) -> None:
    """An empty database is created from the models and stamped (no Alembic in a first
    probe run); the result must be exactly what the migrations build."""
    fresh = open_store(db_url)
    try:
        created = _schema(fresh)
        with fresh.engine.begin() as conn:
            names = sa.inspect(conn).get_table_names()
            for table in names:
                conn.execute(
                    sa.text(
                        f'DROP TABLE "{table}" CASCADE'
                        if fresh.dialect == "postgresql"
                        else f'DROP TABLE "{table}"'
                    )
                )
    finally:
        fresh.close()
    migrated = _migrated(db_url)
    try:
        assert _schema(migrated) == created
    finally:
        migrated.close()
    assert created["version"] == [head_revision()]


def test_sqlite_pragmas(sqlite_url) -> None:
    with open_store(sqlite_url) as store, store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_write_is_idempotent(store) -> None:
    docs = [make_doc(i) for i in range(250)]
    with store.engine.begin() as conn:
        first = write_measurements(
            conn, (Measurement.from_document(d) for d in docs), batch_size=64
        )
    assert (first.inserted, first.merged) == (250, 0)
    with store.engine.begin() as conn:
        again = write_measurements(
            conn, (Measurement.from_document(d) for d in docs), batch_size=64
        )
    assert (again.inserted, again.merged) == (0, 250)
    assert count(store) == 250


def test_duplicates_within_one_batch(store) -> None:
    docs = [make_doc(1), make_doc(1), make_doc(2)]
    with store.engine.begin() as conn:
        result = write_measurements(conn, [Measurement.from_document(d) for d in docs])
    assert result.inserted == 2
    assert count(store) == 2


def test_api_row_gains_document_and_keeps_real_uid(store) -> None:
    doc = make_doc(9)
    raw = Measurement.from_document(doc)
    api = Measurement.from_api_record(
        {
            "measurement_uid": "20230301000009.000000_KH_webconnectivity_0123456789abcdef",
            "report_id": doc["report_id"],
            "input": doc["input"],
            "measurement_start_time": "2023-03-01T00:00:09Z",
            "probe_cc": "KH",
            "probe_asn": "AS38623",
            "test_name": "web_connectivity",
            "anomaly": True,
            "confirmed": False,
            "failure": False,
            "measurement_url": "https://api.ooni.io/api/v1/raw_measurement?measurement_uid=x",
        }
    )
    assert api.measurement_key == raw.measurement_key
    with store.engine.begin() as conn:
        write_measurements(conn, [raw])
    with store.engine.begin() as conn:
        result = write_measurements(conn, [api])
    assert (result.inserted, result.merged) == (0, 1)
    with store.session() as s:
        row = s.scalars(sa.select(MeasurementRow)).one()
        assert row.measurement_uid == api.measurement_uid
        assert row.anomaly is True
        assert row.blocking == "dns"
        assert row.document_ref.startswith("https://api.ooni.io/")
        assert decode_document(row.document)["input"] == doc["input"]
    # And the other way round: a raw document after the API row does not undo the real uid.
    with store.engine.begin() as conn:
        write_measurements(conn, [raw])
    with store.session() as s:
        assert s.scalars(sa.select(MeasurementRow.measurement_uid)).one() == api.measurement_uid


@pytest.mark.postgres
def test_postgres_copy_path_is_idempotent(pg_url) -> None:
    from censorwatch.store.bulk import COPY_THRESHOLD

    n = COPY_THRESHOLD + 500
    docs = [make_doc(i, scores={"blocking_general": 0.5}) for i in range(n)]
    with open_store(pg_url) as store:
        with store.engine.begin() as conn:
            first = write_measurements(
                conn, (Measurement.from_document(d) for d in docs), batch_size=n
            )
        with store.engine.begin() as conn:
            again = write_measurements(
                conn, (Measurement.from_document(d) for d in docs), batch_size=n
            )
        assert first.inserted == n and first.merged == 0
        assert again.inserted == 0 and again.merged == n
        assert count(store) == n
        with store.session() as s:
            row = s.scalars(sa.select(MeasurementRow).order_by(MeasurementRow.id).limit(1)).one()
            assert decode_document(row.document)["probe_cc"] == "KH"
            assert row.measurement_start_time == datetime(2023, 3, 1)


def test_networks_are_learned(store) -> None:
    with store.engine.begin() as conn:
        write_measurements(conn, [Measurement.from_document(make_doc(1))])
        write_measurements(
            conn,
            [Measurement.from_document(make_doc(2, probe_asn="AS131178", probe_network_name=None))],
        )
    with store.session() as s:
        nets = {n.asn: n for n in s.scalars(sa.select(Network))}
    assert nets[38623].name == "Viettel (Cambodia) Pte., Ltd."
    assert nets[38623].country_code == "KH"
    assert nets[131178].name is None


def test_failed_transaction_writes_nothing(store) -> None:
    with pytest.raises(RuntimeError), store.engine.begin() as conn:
        write_measurements(conn, [Measurement.from_document(make_doc(i)) for i in range(10)])
        raise RuntimeError("crash half-way")
    assert count(store) == 0


def test_migration_round_trip_keeps_rows(db_url) -> None:
    """An old database (first revision) holding rows upgrades to head without loss."""
    with open_store(db_url, migrate=False) as store:
        assert upgrade(store, revisions()[0]) == "0001"
        with store.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO networks (asn, name, country_code, name_source, updated_at) "
                    "VALUES (38623, 'Metfone', 'KH', 'config', :t)"
                ),
                {"t": datetime(2023, 1, 1)},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO measurements (measurement_key, measurement_uid, source, test_name,"
                    " input, domain, probe_cc, probe_asn, measurement_start_time, anomaly,"
                    " blocking, scores, ingested_at) VALUES ('k1', 'u1', 'ooni',"
                    " 'web_connectivity', 'https://vod.asia/', 'vod.asia', 'KH', 38623, :t,"
                    " true, 'dns', :scores, :t)"
                ),
                {"t": datetime(2023, 1, 2), "scores": json.dumps({"blocking_general": 1.0})},
            )
        assert upgrade(store) == head_revision()
        with store.session() as s:
            row = s.scalars(sa.select(MeasurementRow)).one()
            assert (row.measurement_key, row.domain, row.blocking) == ("k1", "vod.asia", "dns")
            assert row.scores == {"blocking_general": 1.0}
            assert s.get(Network, 38623).name == "Metfone"
        # And the new revision's table is usable.
        with job_run(store, "ingest-ooni") as rec:
            rec.counts["measurements"] = 1
        assert [r.job for r in last_job_runs(store)] == ["ingest-ooni"]


def test_first_use_upgrades_an_old_database(db_url) -> None:
    with open_store(db_url, migrate=False) as store:
        upgrade(store, "0001")
    with open_store(db_url) as store:
        assert current_revision(store) == head_revision()


def test_unknown_newer_revision_is_refused(db_url) -> None:
    from censorwatch.errors import StoreError

    with open_store(db_url) as store, store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(StoreError, match="does not know"):
        open_store(db_url)


def test_job_runs_record_outcomes(store) -> None:
    with job_run(store, "probe") as rec:
        rec.counts["urls"] = 3
    with pytest.raises(ValueError), job_run(store, "analyze"):
        raise ValueError("no data for 2023")
    runs = {r.job: r for r in last_job_runs(store)}
    assert runs["probe"].outcome == "success" and runs["probe"].counts == {"urls": 3}
    assert runs["analyze"].outcome == "failed"
    assert "no data for 2023" in runs["analyze"].error
    assert runs["analyze"].finished_at >= runs["analyze"].started_at
