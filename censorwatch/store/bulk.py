"""Idempotent bulk writes of measurements: re-running any ingest or import never duplicates.

Every row is keyed by ``measurement_key`` (see :mod:`censorwatch.measurement`). A batch is
written in two moves inside the caller's transaction:

1. ``INSERT ... ON CONFLICT (measurement_key) DO NOTHING RETURNING`` adds what is new;
2. rows that already existed are *merged*: a column the store lacks is filled from the new
   copy (``COALESCE(new, old)``), so an API metadata row seen first gains its full document
   when the raw file arrives later, and a derived uid gives way to OONI's real one.

On PostgreSQL, batches of :data:`COPY_THRESHOLD` rows or more go through ``COPY`` into a
temporary staging table and one statement does both moves, which is several times faster
than parameter binding for the hundreds of thousands of rows of a monthly ingest.

On SQLite the same two moves run as plain DB-API ``executemany`` calls (the loop is in C): the
keys of the batch that already exist are looked up first, the others are inserted, the known
ones merged. Binding through SQLAlchemy's compiler costs more per row than the whole insert,
and a year of OONI data is three million rows.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, case, func, text, update
from sqlalchemy.dialects import sqlite

from censorwatch.measurement import Measurement, is_derived_uid, utcnow
from censorwatch.store.codec import encode_document
from censorwatch.store.models import JSONOrJSONB, MeasurementRow, Network

COPY_THRESHOLD = 1000
DEFAULT_BATCH = 5000

_TABLE = MeasurementRow.__table__
#: Columns written from a Measurement (``id`` is the database's, ``ingested_at`` the batch's).
COLUMNS: tuple[str, ...] = (
    "measurement_key",
    "measurement_uid",
    "source",
    "test_name",
    "test_version",
    "input",
    "domain",
    "category_code",
    "probe_cc",
    "probe_asn",
    "probe_network_name",
    "report_id",
    "software_name",
    "software_version",
    "measurement_start_time",
    "anomaly",
    "confirmed",
    "failure",
    "blocking",
    "accessible",
    "verdict_blocking",
    "verdict_confirmed",
    "verdict_fingerprint",
    "verdict_version",
    "verdict_fingerprints_hash",
    "scores",
    "document",
    "document_ref",
    "probe_run_id",
    "ingested_at",
)
#: Columns that a later copy of the same measurement may fill in when the store lacks them.
MERGED: tuple[str, ...] = (
    "test_version",
    "category_code",
    "probe_network_name",
    "software_name",
    "software_version",
    "anomaly",
    "confirmed",
    "failure",
    "blocking",
    "accessible",
    "verdict_blocking",
    "verdict_confirmed",
    "verdict_fingerprint",
    "verdict_version",
    "verdict_fingerprints_hash",
    "scores",
    "document",
    "document_ref",
    "probe_run_id",
)


@dataclass
class WriteResult:
    """What a bulk write did: ``inserted`` new rows, ``merged`` rows that already existed."""

    inserted: int = 0
    merged: int = 0

    @property
    def seen(self) -> int:
        return self.inserted + self.merged

    def __iadd__(self, other: WriteResult) -> WriteResult:
        self.inserted += other.inserted
        self.merged += other.merged
        return self


#: Row values are lists in COLUMNS order: a few million rows a year go through here, and
#: building one dict per row, then a list from it, cost more than SQLite's insert.
_AT = {name: i for i, name in enumerate(COLUMNS)}
_AT_KEY = _AT["measurement_key"]
_AT_UID = _AT["measurement_uid"]
_AT_DOCUMENT = _AT["document"]
_AT_RUN = _AT["probe_run_id"]
_AT_START = _AT["measurement_start_time"]
_AT_INGESTED = _AT["ingested_at"]
_AT_SCORES = _AT["scores"]
_MERGED_AT = tuple(_AT[c] for c in MERGED)
_FROM_MEASUREMENT = operator.attrgetter(*COLUMNS[:_AT_RUN])
assert COLUMNS[_AT_RUN:] == ("probe_run_id", "ingested_at")


def _as_row(m: Measurement, now: datetime, probe_run_id: int | None) -> list[Any]:
    v = list(_FROM_MEASUREMENT(m))
    doc = v[_AT_DOCUMENT]
    # Ingest may hand over a document already encoded (bytes from encode_document): it then
    # does not keep thousands of parsed documents alive per batch, which costs more in
    # garbage-collector passes over them than their encoding does.
    if doc is not None and not isinstance(doc, bytes):
        v[_AT_DOCUMENT] = encode_document(doc)
    v.append(probe_run_id)
    v.append(now)
    return v


def _as_sqlite_row(m: Measurement, ingested: str, probe_run_id: int | None) -> list[Any]:
    """A row's values as SQLAlchemy would store them on SQLite (same text for times, JSON).

    Built in one pass, ready to bind: an API ingest writes three million of these a year,
    and a second copy of each row to convert it cost a twentieth of the whole write.
    """
    v = list(_FROM_MEASUREMENT(m))
    v[_AT_START] = v[_AT_START].isoformat(" ", "microseconds")
    doc = v[_AT_DOCUMENT]
    if doc is not None and not isinstance(doc, bytes):
        v[_AT_DOCUMENT] = encode_document(doc)
    if v[_AT_SCORES] is not None:
        v[_AT_SCORES] = orjson.dumps(v[_AT_SCORES]).decode("utf-8")
    v.append(probe_run_id)
    v.append(ingested)
    return v


def _dedupe(rows: list[list[Any]]) -> list[list[Any]]:
    """One row per key within a batch, later copies filling what earlier ones lacked."""
    by_key: dict[str, list[Any]] = {}
    for row in rows:
        key = row[_AT_KEY]
        old = by_key.get(key)
        if old is None:
            by_key[key] = row
            continue
        for i in _MERGED_AT:
            if row[i] is not None:
                old[i] = row[i]
        if not is_derived_uid(row[_AT_UID]):
            old[_AT_UID] = row[_AT_UID]
    return list(by_key.values()) if len(by_key) < len(rows) else rows


def _batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(items)
    while batch := list(itertools.islice(it, size)):
        yield batch


def write_measurements(
    conn: Connection,
    measurements: Iterable[Measurement],
    *,
    probe_run_id: int | None = None,
    batch_size: int = DEFAULT_BATCH,
) -> WriteResult:
    """Insert new measurements and merge known ones, in the caller's transaction.

    ``measurements`` may be any iterable (a generator over a huge file is fine): it is
    consumed in batches of ``batch_size``, so memory stays flat.
    """
    result = WriteResult()
    for batch in _batched(measurements, batch_size):
        now = utcnow()
        if conn.dialect.name == "sqlite":
            stamp = now.isoformat(" ", "microseconds")
            rows = _dedupe([_as_sqlite_row(m, stamp, probe_run_id) for m in batch])
        else:
            rows = _dedupe([_as_row(m, now, probe_run_id) for m in batch])
        # A measurement repeated within the batch is merged into its first copy: count it as
        # known, so that read = new + already known (+ quarantined) in every summary.
        result.merged += len(batch) - len(rows)
        if conn.dialect.name == "postgresql" and len(rows) >= COPY_THRESHOLD:
            result += _write_pg_copy(conn, rows)
        elif conn.dialect.name == "sqlite":
            result += _write_sqlite(conn, rows)
        else:
            result += _write_rows(conn, rows)
        _upsert_networks(conn, batch, now)
    return result


def _insert_stmt(conn: Connection) -> Any:
    dialect = conn.dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(_TABLE)
    if dialect == "sqlite":
        return sqlite.insert(_TABLE)
    raise NotImplementedError(f"bulk writes are not implemented for {dialect}")


def _write_rows(conn: Connection, values: list[list[Any]]) -> WriteResult:
    if not values:
        return WriteResult()
    rows = [dict(zip(COLUMNS, v, strict=True)) for v in values]
    stmt = (
        _insert_stmt(conn)
        .on_conflict_do_nothing(index_elements=["measurement_key"])
        .returning(_TABLE.c.measurement_key)
    )
    inserted = {r[0] for r in conn.execute(stmt, rows)}
    existing = [r for r in rows if r["measurement_key"] not in inserted]
    if existing:
        c = _TABLE.c
        merge = (
            update(_TABLE)
            .where(c.measurement_key == bindparam("b_measurement_key"))
            .values(
                {
                    col: func.coalesce(bindparam(f"b_{col}", type_=_bind_type(c[col])), c[col])
                    for col in MERGED
                }
                | {
                    "measurement_uid": case(
                        (bindparam("b_uid_real"), bindparam("b_measurement_uid")),
                        else_=c.measurement_uid,
                    )
                }
            )
        )
        params = [
            {f"b_{col}": r[col] for col in (*MERGED, "measurement_key", "measurement_uid")}
            | {"b_uid_real": not is_derived_uid(r["measurement_uid"])}
            for r in existing
        ]
        conn.execute(merge, params)
    return WriteResult(inserted=len(inserted), merged=len(existing))


def _bind_type(column: Any) -> Any:
    """The column's type, except that a missing JSON value binds as SQL NULL, not JSON null.

    Otherwise ``COALESCE(new, old)`` would see JSON ``null`` as a value and wipe OONI's scores
    when a copy without them (a raw document) arrives after the API row.
    """
    if column.name == "scores":
        return JSONOrJSONB(none_as_null=True)
    return column.type


SQLITE_BULK_CACHE_KIB = 65536
#: From this many rows in one write on, the writing connection gets the large cache.
SQLITE_BULK_CACHE_MIN_ROWS = 500
_SQLITE_CHUNK = 500  # host parameters per IN (...) lookup, well under SQLite's limit
_SQLITE_INSERT = (
    f"INSERT INTO measurements ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})"
    " ON CONFLICT (measurement_key) DO NOTHING"
)
_SQLITE_KNOWN_ONE = "SELECT 1 FROM measurements WHERE measurement_key = ?"
_SQLITE_MERGE = (
    "UPDATE measurements SET "
    + ", ".join(f"{c} = COALESCE(?, {c})" for c in MERGED)
    + ", measurement_uid = CASE WHEN ? THEN ? ELSE measurement_uid END"
    + " WHERE measurement_key = ?"
)


def _sqlite_merge_values(r: list[Any]) -> list[Any]:
    """The merge statement's parameters for a row of :func:`_as_sqlite_row`."""
    v = [r[i] for i in _MERGED_AT]
    uid = r[_AT_UID]
    v += (not is_derived_uid(uid), uid, r[_AT_KEY])
    return v


def _write_sqlite(conn: Connection, rows: list[list[Any]]) -> WriteResult:
    if not rows:
        return WriteResult()
    raw = conn.connection.dbapi_connection
    assert raw is not None
    cur = raw.cursor()
    try:
        # SQLite's default page cache is 2 MB: once the unique index of measurement keys
        # (random hashes) outgrows it, every insert re-reads index pages (about 20% of an API
        # ingest). Only the writing connection gets the larger cache, not the analysis' readers,
        # and only for an ingest's large batches: a probe writes batches of 25, and a 64 MB
        # cache would fill with the pages of every document it wrote (its memory budget is
        # 80 MiB in all).
        if len(rows) >= SQLITE_BULK_CACHE_MIN_ROWS:
            cur.execute(f"PRAGMA cache_size = -{SQLITE_BULK_CACHE_KIB}")
        # A fresh batch (the bulk of any ingest) is inserted before any lookup: ON CONFLICT DO
        # NOTHING skips what is known and the row count says how many were new; if some were
        # known, every row of the batch is merged (for a row just inserted the merge writes
        # the values it has, COALESCE(new, new): the same result as merging the known ones
        # only). A batch whose first key is known is most likely all known (a rerun, the
        # overlap of an incremental run): its keys are looked up first, as a failed insert
        # costs more than a lookup.
        cur.execute(_SQLITE_KNOWN_ONE, (rows[0][_AT_KEY],))
        if cur.fetchone() is None:
            cur.executemany(_SQLITE_INSERT, rows)
            inserted = cur.rowcount
            if inserted < len(rows):
                cur.executemany(_SQLITE_MERGE, [_sqlite_merge_values(r) for r in rows])
            return WriteResult(inserted=inserted, merged=len(rows) - inserted)
        keys = [r[_AT_KEY] for r in rows]
        known: set[str] = set()
        for i in range(0, len(keys), _SQLITE_CHUNK):
            chunk = keys[i : i + _SQLITE_CHUNK]
            marks = ", ".join("?" for _ in chunk)
            cur.execute(
                f"SELECT measurement_key FROM measurements WHERE measurement_key IN ({marks})",
                chunk,
            )
            known.update(k for (k,) in cur.fetchall())
        new = [r for r in rows if r[_AT_KEY] not in known]
        old = [r for r in rows if r[_AT_KEY] in known]
        inserted = 0
        if new:
            cur.executemany(_SQLITE_INSERT, new)
            inserted = cur.rowcount
            if inserted < len(new):
                # Another writer added some of them since the lookup: merge those too (for
                # the rows just inserted the merge changes nothing).
                old = old + new
        if old:
            cur.executemany(_SQLITE_MERGE, [_sqlite_merge_values(r) for r in old])
        return WriteResult(inserted=inserted, merged=len(rows) - inserted)
    finally:
        cur.close()


_STAGE = "_cw_measurements_stage"


def _write_pg_copy(conn: Connection, rows: list[list[Any]]) -> WriteResult:
    """COPY the batch into a temporary table, then insert-or-merge in one statement."""
    cols = ", ".join(COLUMNS)
    conn.execute(
        text(
            f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} ON COMMIT DELETE ROWS AS "
            f"SELECT {cols}, true AS uid_real FROM measurements WITH NO DATA"
        )
    )
    conn.execute(text(f"TRUNCATE {_STAGE}"))
    raw = conn.connection.dbapi_connection
    assert raw is not None
    with raw.cursor() as cur, cur.copy(f"COPY {_STAGE} ({cols}, uid_real) FROM STDIN") as copy:
        for r in rows:
            scores = r[_AT_SCORES]
            if scores is not None:
                r = r.copy()
                r[_AT_SCORES] = orjson.dumps(scores).decode("utf-8")
            copy.write_row((*r, not is_derived_uid(r[_AT_UID])))
    sets = ", ".join(f"{c} = COALESCE(s.{c}, m.{c})" for c in MERGED)
    counts = conn.execute(
        text(
            f"WITH ins AS ("
            f"  INSERT INTO measurements ({cols}) SELECT {cols} FROM {_STAGE}"
            f"  ON CONFLICT (measurement_key) DO NOTHING RETURNING 1"
            f"), upd AS ("
            f"  UPDATE measurements m SET {sets},"
            f"    measurement_uid = CASE WHEN s.uid_real THEN s.measurement_uid"
            f"                           ELSE m.measurement_uid END"
            f"  FROM {_STAGE} s WHERE m.measurement_key = s.measurement_key RETURNING 1"
            f") SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM upd)"
        )
    ).one()
    # Both sub-statements see the same snapshot: the UPDATE touches only rows that existed.
    return WriteResult(inserted=int(counts[0]), merged=int(counts[1]))


def _upsert_networks(conn: Connection, batch: list[Measurement], now: datetime) -> None:
    """Remember ASN -> network name and country from what the measurements say."""
    seen: dict[int, dict[str, Any]] = {}
    for m in batch:
        if m.probe_asn and (m.probe_asn not in seen or m.probe_network_name):
            seen[m.probe_asn] = {
                "asn": m.probe_asn,
                "name": m.probe_network_name,
                "country_code": m.probe_cc,
                "name_source": "measurement" if m.probe_network_name else None,
                "updated_at": now,
            }
    if not seen:
        return
    table = Network.__table__
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        ins = postgresql.insert(table)
    else:
        ins = sqlite.insert(table)
    stmt = ins.on_conflict_do_update(
        index_elements=["asn"],
        set_={
            "name": func.coalesce(ins.excluded.name, table.c.name),
            "country_code": func.coalesce(ins.excluded.country_code, table.c.country_code),
            "name_source": func.coalesce(ins.excluded.name_source, table.c.name_source),
            "updated_at": ins.excluded.updated_at,
        },
    )
    conn.execute(stmt, sorted(seen.values(), key=lambda r: r["asn"]))
