"""The analysis's only contact with the store: aggregation queries that return DataFrames.

A Cambodian year is about three million rows; the queries below reduce them inside the
database (SQLite or PostgreSQL, the same SQLAlchemy Core statements) to one row per URL,
network, month and source, plus a few narrower tables, so that pandas works on thousands of
rows instead of millions. Every measurement is classified by the one rule of
:mod:`censorwatch.analysis.rules`, evaluated in SQL, and placed on its local day with the
period's UTC offsets.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, and_, case, func, not_, select

from censorwatch.analysis.period import Period
from censorwatch.analysis.rules import (
    ANOMALY,
    APP_TESTS,
    CONFIRMED,
    FAILURE,
    METHOD_COLUMNS,
    OK,
    WEB_TESTS,
    local_day_sql,
    method_sql,
    status_sql,
)
from censorwatch.store.models import MeasurementRow, Network, TestlistEntry

_T = MeasurementRow.__table__.c
ANOMALOUS = (ANOMALY, CONFIRMED)

#: Columns of :func:`load_cells`, in order.
CELL_KEYS = ("source", "test_name", "input", "domain", "probe_asn", "month")
COUNT_COLUMNS = ("measurements", OK, ANOMALY, CONFIRMED, FAILURE, *METHOD_COLUMNS.values())


@dataclass(frozen=True)
class Scope:
    """Which measurements an analysis reads: one country, one period."""

    country: str
    period: Period


def _classified(scope: Scope, dialect: str, *, tests: tuple[str, ...] | None = None) -> Any:
    """Per measurement: its keys, local day, status and method (a subquery, never fetched)."""
    where = [
        _T.probe_cc == scope.country,
        _T.measurement_start_time >= scope.period.utc_start,
        _T.measurement_start_time < scope.period.utc_end,
        # Raw app documents nobody judged are judged in Python from their test keys.
        not_(and_(_T.test_name.in_(APP_TESTS), _T.anomaly.is_(None))),
    ]
    if tests is not None:
        where.append(_T.test_name.in_(tests))
    return (
        select(
            _T.source,
            _T.test_name,
            _T.input,
            _T.domain,
            _T.category_code,
            _T.probe_asn,
            local_day_sql(scope.period.offset_segments(), dialect).label("day"),
            status_sql().label("status"),
            method_sql(dialect).label("method"),
        )
        .where(*where)
        .subquery("classified")
    )


def _count(cond: Any) -> Any:
    return func.sum(case((cond, 1), else_=0))


def _ints(df: pd.DataFrame, columns: tuple[str, ...] | list[str]) -> pd.DataFrame:
    for col in columns:
        df[col] = pd.to_numeric(df[col]).fillna(0).astype("int64")
    return df


def load_cells(conn: Connection, scope: Scope) -> pd.DataFrame:
    """One row per source, test, URL, network and local month, with the counts of each status
    and method, the first and last local day measured and observed anomalous."""
    c = _classified(scope, conn.dialect.name).c
    anomalous = c.status.in_(ANOMALOUS)
    month = func.substr(c.day, 1, 7).label("month")
    methods = [
        _count(and_(anomalous, c.method == method)).label(col)
        for method, col in METHOD_COLUMNS.items()
    ]
    stmt = (
        select(
            c.source,
            c.test_name,
            c.input,
            c.domain,
            c.probe_asn,
            month,
            func.max(c.category_code).label("category_code"),
            func.count().label("measurements"),
            _count(c.status == OK).label(OK),
            _count(c.status == ANOMALY).label(ANOMALY),
            _count(c.status == CONFIRMED).label(CONFIRMED),
            _count(c.status == FAILURE).label(FAILURE),
            *methods,
            func.min(c.day).label("first_day"),
            func.max(c.day).label("last_day"),
            func.min(case((anomalous, c.day), else_=None)).label("first_anomaly"),
            func.max(case((anomalous, c.day), else_=None)).label("last_anomaly"),
        )
        .group_by(c.source, c.test_name, c.input, c.domain, c.probe_asn, month)
        .order_by(c.source, c.test_name, c.input, c.domain, c.probe_asn, month)
    )
    df = pd.read_sql(stmt, conn)
    return _ints(df, (*COUNT_COLUMNS, "probe_asn"))


def load_domain_network_days(conn: Connection, scope: Scope) -> pd.DataFrame:
    """Per website domain and network: distinct local days measured and days anomalous.

    Distinct days cannot be summed from the monthly cells (two URLs of one domain on the
    same day are one day), hence this second, narrower query.
    """
    c = _classified(scope, conn.dialect.name, tests=WEB_TESTS).c
    anomalous = c.status.in_(ANOMALOUS)
    stmt = (
        select(
            c.domain,
            c.probe_asn,
            func.count(func.distinct(c.day)).label("days"),
            func.count(func.distinct(case((anomalous, c.day), else_=None))).label("anomaly_days"),
        )
        .where(c.domain.is_not(None))
        .group_by(c.domain, c.probe_asn)
        .order_by(c.domain, c.probe_asn)
    )
    df = pd.read_sql(stmt, conn)
    return _ints(df, ("probe_asn", "days", "anomaly_days"))


def load_agreement_cells(conn: Connection, scope: Scope, ours: str, theirs: str) -> pd.DataFrame:
    """Per URL, network and local day measured by both ``ours`` and ``theirs``: how many
    measurements each made, how many were judged (not failures) and how many anomalous."""
    c = _classified(scope, conn.dialect.name, tests=WEB_TESTS).c
    anomalous = c.status.in_(ANOMALOUS)
    judged = c.status != FAILURE
    cols = []
    for name, src in (("ours", ours), ("theirs", theirs)):
        cols += [
            _count(c.source == src).label(f"{name}_n"),
            _count(and_(c.source == src, judged)).label(f"{name}_judged"),
            _count(and_(c.source == src, anomalous)).label(f"{name}_anomalies"),
        ]
    stmt = (
        select(c.input, c.domain, c.probe_asn, c.day, *cols)
        .where(c.input.is_not(None), c.source.in_((ours, theirs)))
        .group_by(c.input, c.domain, c.probe_asn, c.day)
        .having(and_(_count(c.source == ours) > 0, _count(c.source == theirs) > 0))
        .order_by(c.input, c.domain, c.probe_asn, c.day)
    )
    df = pd.read_sql(stmt, conn)
    counts = [f"{n}_{k}" for n in ("ours", "theirs") for k in ("n", "judged", "anomalies")]
    return _ints(df, ["probe_asn", *counts])


def load_networks(conn: Connection) -> pd.DataFrame:
    """ASN -> network (ISP) name and country, as the store knows them."""
    t = Network.__table__.c
    stmt = select(t.asn, t.name, t.country_code).order_by(t.asn)
    return pd.read_sql(stmt, conn)


def load_testlist(conn: Connection, period: Period) -> pd.DataFrame:
    """Test-list URLs that were on a list during the period (not removed before it began)."""
    t = TestlistEntry.__table__.c
    stmt = (
        select(t.list_name, t.url, t.category_code, t.status)
        .where(t.first_seen_at < period.utc_end)
        .where((t.removed_at.is_(None)) | (t.removed_at >= period.utc_start))
        .order_by(t.list_name, t.url)
    )
    return pd.read_sql(stmt, conn)


@dataclass(frozen=True)
class UnjudgedApp:
    """An app-test measurement no pipeline judged: the analysis judges its document."""

    test_name: str
    probe_asn: int
    measurement_start_time: datetime
    document: bytes | None


def iter_unjudged_apps(conn: Connection, scope: Scope) -> Iterator[UnjudgedApp]:
    """App measurements with NULL flags (raw OONI files), streamed with their documents."""
    stmt = (
        select(_T.test_name, _T.probe_asn, _T.measurement_start_time, _T.document)
        .where(
            _T.probe_cc == scope.country,
            _T.measurement_start_time >= scope.period.utc_start,
            _T.measurement_start_time < scope.period.utc_end,
            _T.test_name.in_(APP_TESTS),
            _T.anomaly.is_(None),
        )
        .order_by(_T.measurement_start_time, _T.id)
    )
    for row in conn.execution_options(yield_per=500).execute(stmt):
        yield UnjudgedApp(row[0], int(row[1]), row[2], row[3])


def count_sources(cells: pd.DataFrame) -> dict[str, int]:
    """Measurements per source in loaded cells (to skip queries that cannot match)."""
    if cells.empty:
        return {}
    return {str(k): int(v) for k, v in cells.groupby("source")["measurements"].sum().items()}


__all__ = [
    "CELL_KEYS",
    "COUNT_COLUMNS",
    "Scope",
    "UnjudgedApp",
    "count_sources",
    "iter_unjudged_apps",
    "load_agreement_cells",
    "load_cells",
    "load_domain_network_days",
    "load_networks",
    "load_testlist",
]


def load_anomalous_measurements(
    conn: Connection, scope: Scope, domains: list[str], chunk: int = 400
) -> pd.DataFrame:
    """The anomalous website measurements of ``domains`` (the blocked ones), to cite as
    evidence. Uses the domain index, so it reads a few thousand rows, not the whole year."""
    frames = []
    dialect = conn.dialect.name
    for i in range(0, len(domains), chunk):
        part = domains[i : i + chunk]
        inner = (
            select(
                _T.domain,
                _T.input,
                _T.probe_asn,
                _T.source,
                _T.measurement_uid,
                _T.report_id,
                _T.measurement_start_time,
                local_day_sql(scope.period.offset_segments(), dialect).label("day"),
                status_sql().label("status"),
            )
            .where(
                _T.domain.in_(part),
                _T.probe_cc == scope.country,
                _T.measurement_start_time >= scope.period.utc_start,
                _T.measurement_start_time < scope.period.utc_end,
                _T.test_name.in_(WEB_TESTS),
            )
            .subquery("m")
        )
        stmt = (
            select(inner)
            .where(inner.c.status.in_(ANOMALOUS))
            .order_by(inner.c.domain, inner.c.measurement_start_time, inner.c.measurement_uid)
        )
        frames.append(pd.read_sql(stmt, conn))
    if not frames:
        return pd.DataFrame(
            columns=[
                "domain",
                "input",
                "probe_asn",
                "source",
                "measurement_uid",
                "report_id",
                "measurement_start_time",
                "day",
                "status",
            ]
        )
    df = pd.concat(frames, ignore_index=True)
    df["probe_asn"] = df["probe_asn"].astype("int64")
    return df
