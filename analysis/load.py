"""The analysis's only contact with the store: aggregation queries that return DataFrames.

A Cambodian year is about three million rows; the queries below reduce them inside the
database (SQLite or PostgreSQL, the same SQLAlchemy Core statements) to one row per URL,
network, local month, source and status group, so that pandas works on hundreds of thousands
of rows instead of millions. Every measurement is classified by the one rule of
:mod:`censorwatch.analysis.rules`, evaluated once per row in SQL, and placed on its local
day with the period's UTC offsets.

Speed. The one full pass over the period (:func:`load_cells`) is split by local month; on a
SQLite file the months are read by two threads on their own connections (SQLite's sorter is
single-threaded and the module releases the GIL while SQLite works), on PostgreSQL in one
statement. Everything else reads only the few domains that need it, through the domain
index.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, and_, case, func, not_, select

from censorwatch.analysis.period import Period, _month_end
from censorwatch.analysis.rules import (
    ANOMALY,
    APP_TESTS,
    CONFIRMED,
    FAILURE,
    METHOD_COLUMNS,
    OK,
    STATUS_CODES,
    WEB_TESTS,
    local_day_sql,
    method_sql,
    status_sql,
)
from censorwatch.store.models import MeasurementRow, Network, TestlistEntry

_T = MeasurementRow.__table__.c
ANOMALOUS = (ANOMALY, CONFIRMED)
_OK, _ANOMALY, _CONFIRMED, _FAILURE = (STATUS_CODES[s] for s in (OK, ANOMALY, CONFIRMED, FAILURE))

#: Keys of :func:`load_cells`' rows.
CELL_KEYS = ("source", "test_name", "input", "domain", "probe_asn", "month")
COUNT_COLUMNS = (
    "measurements",
    OK,
    ANOMALY,
    CONFIRMED,
    FAILURE,
    *METHOD_COLUMNS.values(),
    "anomaly_days",
)
#: Threads reading a SQLite file in parallel (the machines this runs on have two cores).
SQLITE_WORKERS = 2


@dataclass(frozen=True)
class Scope:
    """Which measurements an analysis reads: one country, one period."""

    country: str
    period: Period


def month_chunks(period: Period) -> list[Period]:
    """The period cut at local month boundaries (the unit of parallel reads)."""
    chunks = []
    start = period.start
    while start <= period.end:
        end = min(_month_end(start), period.end)
        chunks.append(Period(start, end, period.timezone))
        start = end + timedelta(days=1)
    return chunks


def _classified(
    scope: Scope,
    dialect: str,
    *,
    tests: tuple[str, ...] | None = None,
    domains: list[str] | None = None,
    asns: list[int] | None = None,
    with_method: bool = True,
) -> Any:
    """Per measurement: its keys, local day, status code and method (a subquery)."""
    where = [
        _T.probe_cc == scope.country,
        _T.measurement_start_time >= scope.period.utc_start,
        _T.measurement_start_time < scope.period.utc_end,
        # Raw app documents nobody judged are judged in Python from their test keys.
        not_(and_(_T.test_name.in_(APP_TESTS), _T.anomaly.is_(None))),
    ]
    if tests is not None:
        where.append(_T.test_name.in_(tests))
    if domains is not None:
        where.append(_T.domain.in_(domains))
    if asns is not None:
        where.append(_T.probe_asn.in_(asns))
    cols = [
        _T.source,
        _T.test_name,
        _T.input,
        _T.domain,
        _T.category_code,
        _T.probe_asn,
        local_day_sql(scope.period.offset_segments(), dialect).label("day"),
        status_sql(STATUS_CODES).label("st"),
    ]
    if with_method:
        cols.append(method_sql(dialect).label("method"))
    return (
        select(*cols)
        .where(*where)
        # OFFSET 0 keeps the database from inlining the subquery into the aggregate, which
        # would evaluate the status CASE once per reference instead of once per row: SQLite
        # then streams it as a co-routine, PostgreSQL treats it as an optimisation fence.
        .offset(0)
        .subquery("classified")
    )


def _count(cond: Any) -> Any:
    return func.sum(case((cond, 1), else_=0))


def _ints(df: pd.DataFrame, columns: tuple[str, ...] | list[str]) -> pd.DataFrame:
    for col in columns:
        df[col] = pd.to_numeric(df[col]).fillna(0).astype("int64")
    return df


def _parallel(
    engine: Engine, conn: Connection, scope: Scope, fn: Callable[[Connection, Scope], pd.DataFrame]
) -> pd.DataFrame:
    """``fn`` over the month chunks: in threads on a SQLite file, else on ``conn`` at once."""
    url = engine.url
    if engine.dialect.name != "sqlite" or url.database in (None, "", ":memory:"):
        return fn(conn, scope)
    chunks = [Scope(scope.country, p) for p in month_chunks(scope.period)]

    def run(chunk: Scope) -> pd.DataFrame:
        with engine.connect() as c:
            return fn(c, chunk)

    with ThreadPoolExecutor(max_workers=SQLITE_WORKERS) as pool:
        frames = list(pool.map(run, chunks))
    frames = [f for f in frames if not f.empty] or frames[:1]
    return pd.concat(frames, ignore_index=True)


def _group_cells(conn: Connection, scope: Scope, domains: list[str] | None = None) -> pd.DataFrame:
    c = _classified(scope, conn.dialect.name, domains=domains).c
    month = func.substr(c.day, 1, 7).label("month")
    grp = case((c.st == _CONFIRMED, _ANOMALY), else_=c.st).label("grp")
    methods = [_count(c.method == method).label(col) for method, col in METHOD_COLUMNS.items()]
    stmt = select(
        c.source,
        c.test_name,
        c.input,
        c.domain,
        c.probe_asn,
        month,
        grp,
        func.max(c.category_code).label("category_code"),
        func.count().label("n"),
        _count(c.st == _CONFIRMED).label("n_confirmed"),
        *methods,
        func.count(func.distinct(c.day)).label("days"),
        func.min(c.day).label("first_day"),
        func.max(c.day).label("last_day"),
    ).group_by(c.source, c.test_name, c.input, c.domain, c.probe_asn, month, grp)
    return pd.read_sql(stmt, conn)


def load_cells(
    conn: Connection,
    scope: Scope,
    engine: Engine | None = None,
    *,
    domains: list[str] | None = None,
) -> pd.DataFrame:
    """One row per source, test, URL, network and local month: the count of each status and
    method, the first and last local day measured and observed anomalous, and the number of
    local days with an anomaly (``anomaly_days``, per URL).

    With ``engine`` (and a SQLite file) the months are read in parallel; ``domains`` limits
    the read to those website domains.
    """
    if domains is not None:
        frames = [
            _group_cells(conn, scope, domains[i : i + 400]) for i in range(0, len(domains), 400)
        ]
        raw = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    elif engine is not None:
        raw = _parallel(engine, conn, scope, _group_cells)
    else:
        raw = _group_cells(conn, scope)
    return cells_from_groups(raw)


def cells_from_groups(raw: pd.DataFrame) -> pd.DataFrame:
    """Fold the per-status-group rows into one row per cell (see :func:`load_cells`)."""
    keys = list(CELL_KEYS)
    columns = [*keys, "category_code", *COUNT_COLUMNS, "first_day", "last_day"]
    columns += ["first_anomaly", "last_anomaly"]
    if raw.empty:
        return pd.DataFrame(columns=columns)
    raw = _ints(raw, ["probe_asn", "grp", "n", "n_confirmed", "days", *METHOD_COLUMNS.values()])
    for key in ("input", "domain"):
        raw[key] = raw[key].astype(object).where(raw[key].notna(), "\x00")
    anomalous = raw["grp"] == _ANOMALY
    raw[OK] = raw["n"].where(raw["grp"] == _OK, 0)
    raw[FAILURE] = raw["n"].where(raw["grp"] == _FAILURE, 0)
    raw[CONFIRMED] = raw["n_confirmed"].where(anomalous, 0)
    raw[ANOMALY] = (raw["n"] - raw["n_confirmed"]).where(anomalous, 0)
    for col in METHOD_COLUMNS.values():
        raw[col] = raw[col].where(anomalous, 0)
    raw["anomaly_days"] = raw["days"].where(anomalous, 0)
    raw["first_anomaly"] = raw["first_day"].where(anomalous)
    raw["last_anomaly"] = raw["last_day"].where(anomalous)
    raw = raw.rename(columns={"n": "measurements"})
    g = raw.groupby(keys, sort=True)
    out = g[list(COUNT_COLUMNS)].sum()
    out["category_code"] = g["category_code"].max()
    out["first_day"] = g["first_day"].min()
    out["last_day"] = g["last_day"].max()
    out["first_anomaly"] = g["first_anomaly"].min()
    out["last_anomaly"] = g["last_anomaly"].max()
    out = out.reset_index()
    for key in ("input", "domain"):
        out[key] = out[key].where(out[key] != "\x00", None)
    return out[columns]


def load_anomaly_days(conn: Connection, scope: Scope, domains: list[str]) -> pd.DataFrame:
    """Per domain and network: distinct local days with an anomaly, for ``domains``.

    The monthly cells count anomalous days per URL; a domain tested under several URLs
    needs this query (through the domain index) so that one day counts once.
    """
    frames = []
    for i in range(0, len(domains), 400):
        c = _classified(
            scope,
            conn.dialect.name,
            tests=WEB_TESTS,
            domains=domains[i : i + 400],
            with_method=False,
        ).c
        stmt = (
            select(
                c.domain,
                c.probe_asn,
                func.count(func.distinct(c.day)).label("anomaly_days"),
            )
            .where(c.st.in_((_ANOMALY, _CONFIRMED)))
            .group_by(c.domain, c.probe_asn)
        )
        frames.append(pd.read_sql(stmt, conn))
    if not frames:
        return pd.DataFrame(columns=["domain", "probe_asn", "anomaly_days"])
    return _ints(pd.concat(frames, ignore_index=True), ("probe_asn", "anomaly_days"))


def load_agreement_cells(
    conn: Connection,
    scope: Scope,
    ours: str,
    theirs: str,
    *,
    asns: list[int] | None = None,
    engine: Engine | None = None,
) -> pd.DataFrame:
    """Per URL, network and local day measured by both ``ours`` and ``theirs``: how many
    measurements each made, how many were judged (not failures) and how many anomalous.
    ``asns`` limits the read to the networks where ``ours`` measured."""

    def query(c_: Connection, chunk: Scope) -> pd.DataFrame:
        c = _classified(chunk, c_.dialect.name, tests=WEB_TESTS, asns=asns, with_method=False).c
        anomalous = c.st.in_((_ANOMALY, _CONFIRMED))
        judged = c.st != _FAILURE
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
        )
        return pd.read_sql(stmt, c_)

    df = _parallel(engine, conn, scope, query) if engine is not None else query(conn, scope)
    counts = [f"{n}_{k}" for n in ("ours", "theirs") for k in ("n", "judged", "anomalies")]
    df = _ints(df, ["probe_asn", *counts])
    return df.sort_values(["input", "probe_asn", "day"], kind="mergesort").reset_index(drop=True)


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


def load_anomalous_measurements(
    conn: Connection, scope: Scope, domains: list[str], chunk: int = 400
) -> pd.DataFrame:
    """The anomalous website measurements of ``domains`` (the blocked ones), to cite as
    evidence. Uses the domain index, so it reads a few thousand rows, not the whole year."""
    columns = [
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
    frames = []
    dialect = conn.dialect.name
    for i in range(0, len(domains), chunk):
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
                _T.domain.in_(domains[i : i + chunk]),
                _T.probe_cc == scope.country,
                _T.measurement_start_time >= scope.period.utc_start,
                _T.measurement_start_time < scope.period.utc_end,
                _T.test_name.in_(WEB_TESTS),
            )
            .offset(0)
            .subquery("m")
        )
        stmt = (
            select(inner)
            .where(inner.c.status.in_(ANOMALOUS))
            .order_by(inner.c.domain, inner.c.measurement_start_time, inner.c.measurement_uid)
        )
        frames.append(pd.read_sql(stmt, conn))
    if not frames:
        return pd.DataFrame(columns=columns)
    df = pd.concat(frames, ignore_index=True)
    df["probe_asn"] = df["probe_asn"].astype("int64")
    return df[columns]


def count_sources(cells: pd.DataFrame) -> dict[str, int]:
    """Measurements per source in loaded cells (to skip queries that cannot match)."""
    if cells.empty:
        return {}
    return {str(k): int(v) for k, v in cells.groupby("source")["measurements"].sum().items()}
