"""The analysis's only contact with the store: aggregation queries that return DataFrames.

A Cambodian year is about three million rows; the queries below reduce them inside the
database (SQLite or PostgreSQL, the same SQLAlchemy Core statements) to one row per URL,
network, local month, source and status group, so that pandas works on hundreds of thousands
of rows instead of millions. Every measurement is classified by the one rule of
:mod:`censorwatch.analysis.rules`, evaluated once per row in SQL, and placed on its local
day with the period's UTC offsets.

Speed. The one full pass over the period is :func:`load_period`. On SQLite it reads one
packed record per measurement and groups them in numpy (:mod:`censorwatch.analysis.fastpass`:
SQLite's sort of a year took most of the analysis's time), for the monthly cells and the
agreement cells at once. Elsewhere, and whenever a store holds something the packed records
cannot carry, it is the portable pair :func:`load_cells` and :func:`load_agreement_cells`,
which group in SQL (on PostgreSQL in one statement each; on a SQLite file split by local
month, read by two threads on their own connections). The fast path is tested equal to the
portable one. Everything else reads only the few domains that need it, through the domain
index.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, and_, case, func, literal_column, not_, select

from censorwatch.analysis import fastpass
from censorwatch.analysis.frames import count_distinct, day_text, max_text, to_days
from censorwatch.analysis.period import Period, _month_end
from censorwatch.analysis.rules import (
    ANOMALY,
    APP_TESTS,
    BLOCKPAGE_COLUMN,
    CONFIRMED,
    FAILURE,
    METHOD_COLUMNS,
    OK,
    PAGE_METHODS,
    STATUS_CODES,
    WEB_TESTS,
    local_day_sql,
    method_sql,
    status_sql,
)
from censorwatch.store.models import MeasurementRow, Network, OoniAggregate, TestlistEntry

log = logging.getLogger(__name__)

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
    BLOCKPAGE_COLUMN,
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


def _unindexed(column: Any) -> Any:
    """``+column``: SQLite's no-op unary plus, the same values (compared as stored, without
    the column's affinity, which for these text columns changes nothing) but no index."""
    return literal_column(f"+{column.table.name}.{column.name}", column.type)


def _scope_where(scope: Scope, dialect: str = "", *, domain_index: bool = False) -> list[Any]:
    """The measurements of a scope that SQL classifies (the full pass's selection).

    ``domain_index`` (on SQLite) writes the country as an expression, so that SQLite cannot
    pick the country/time index and walks the domain index instead (a domain filter
    selects a few thousand rows; the period, millions).
    """
    country, start = _T.probe_cc, _T.measurement_start_time
    if domain_index and dialect == "sqlite":
        country, start = _unindexed(country), _unindexed(start)
    return [
        country == scope.country,
        start >= scope.period.utc_start,
        start < scope.period.utc_end,
        # Raw app documents nobody judged are judged in Python from their test keys.
        not_(and_(_T.test_name.in_(APP_TESTS), _T.anomaly.is_(None))),
    ]


def _classified(
    scope: Scope,
    dialect: str,
    *,
    tests: tuple[str, ...] | None = None,
    domains: list[str] | None = None,
    asns: list[int] | None = None,
    with_method: bool = True,
    domain_index: bool = False,
) -> Any:
    """Per measurement: its keys, local day, status code and method (a subquery)."""
    where = _scope_where(scope, dialect, domain_index=domain_index)
    if tests is not None:
        # As an expression (see _scope_where) when the domain index should be used.
        test_name = (
            _unindexed(_T.test_name) if domain_index and dialect == "sqlite" else _T.test_name
        )
        where.append(test_name.in_(tests))
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


def reads_in_threads(engine: Engine) -> bool:
    """Whether reads go to threads on connections of their own: on a SQLite file (SQLite
    works without the GIL; an in-memory database is one connection's, and PostgreSQL reads
    stay in the one transaction)."""
    url = engine.url
    return engine.dialect.name == "sqlite" and url.database not in (None, "", ":memory:")


def _parallel(
    engine: Engine, conn: Connection, scope: Scope, fn: Callable[[Connection, Scope], pd.DataFrame]
) -> pd.DataFrame:
    """``fn`` over the month chunks: in threads on a SQLite file, else on ``conn`` at once."""
    if not reads_in_threads(engine):
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
    """The one full pass: per source, test, URL, network, local month and status group,
    with anomalous measurements further split by local day and method.

    The sort behind a GROUP BY is what costs on SQLite, so the grouped record is kept
    small (no domain: it is a function of the URL) and nothing needs COUNT(DISTINCT).
    """
    c = _classified(scope, conn.dialect.name, domains=domains).c
    anomalous = c.st.in_((_ANOMALY, _CONFIRMED))
    month = func.substr(c.day, 1, 7).label("month")
    grp = case((anomalous, _ANOMALY), else_=c.st).label("grp")
    aday = case((anomalous, c.day), else_=None).label("aday")
    amethod = case((anomalous, c.method), else_=None).label("amethod")
    stmt = select(
        c.source,
        c.test_name,
        c.input,
        c.probe_asn,
        month,
        grp,
        aday,
        amethod,
        func.count().label("n"),
        _count(c.st == _CONFIRMED).label("n_confirmed"),
        func.max(c.category_code).label("category_code"),
    ).group_by(c.source, c.test_name, c.input, c.probe_asn, month, grp, aday, amethod)
    return pd.read_sql(stmt, conn)


@dataclass
class Cells:
    """What the full pass returns: monthly cells and the anomalous days behind them."""

    #: One row per source, test, URL, network and month (see :func:`load_cells`).
    cells: pd.DataFrame
    #: One row per source, URL, domain, network and local day with an anomaly: ``anomalies``
    #: and ``confirmed`` counts (for distinct anomalous days and agreement).
    anomaly_days: pd.DataFrame


def load_cells(
    conn: Connection,
    scope: Scope,
    engine: Engine | None = None,
    *,
    domains: list[str] | None = None,
) -> Cells:
    """One row per source, test, URL, network and local month: the count of each status and
    method, the first and last local day observed anomalous, and the number of local days
    with an anomaly (``anomaly_days``, per URL); plus the anomalous days themselves.

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


CELL_COLUMNS = [
    *CELL_KEYS,
    "category_code",
    *COUNT_COLUMNS,
    "first_anomaly",
    "last_anomaly",
]
DAY_COLUMNS = [
    "source",
    "input",
    "domain",
    "probe_asn",
    "day",
    "method",
    "anomalies",
    "confirmed",
]


def _domains_of(inputs: pd.Series) -> pd.Series:
    from censorwatch.measurement import domain_of

    mapping = {u: domain_of(u) for u in inputs.dropna().unique()}
    return inputs.map(mapping)


def cells_from_groups(raw: pd.DataFrame) -> Cells:
    """Fold the grouped rows into one row per cell (see :func:`load_cells`).

    ``first_anomaly``/``last_anomaly`` are ``datetime64`` here, for fast aggregation; the
    final tables turn them back into text.
    """
    if raw.empty:
        return Cells(pd.DataFrame(columns=CELL_COLUMNS), pd.DataFrame(columns=DAY_COLUMNS))
    raw = _ints(raw, ["probe_asn", "grp", "n", "n_confirmed"])
    raw["input"] = raw["input"].astype(object).where(raw["input"].notna(), None)
    raw["domain"] = _domains_of(raw["input"])
    anomalous = raw["grp"] == _ANOMALY
    raw[OK] = raw["n"].where(raw["grp"] == _OK, 0)
    raw[FAILURE] = raw["n"].where(raw["grp"] == _FAILURE, 0)
    raw[CONFIRMED] = raw["n_confirmed"].where(anomalous, 0)
    raw[ANOMALY] = (raw["n"] - raw["n_confirmed"]).where(anomalous, 0)
    for method, col in METHOD_COLUMNS.items():
        raw[col] = raw["n"].where(anomalous & (raw["amethod"] == method), 0)
    raw[BLOCKPAGE_COLUMN] = raw["n_confirmed"].where(
        anomalous & raw["amethod"].isin(PAGE_METHODS), 0
    )
    raw["aday"] = to_days(raw["aday"])
    raw = raw.rename(columns={"n": "measurements"})
    for key in ("input", "domain"):
        raw[key] = raw[key].where(raw[key].notna(), "\x00")
    keys = list(CELL_KEYS)
    g = raw.groupby(keys, sort=True)
    out = g[[c for c in COUNT_COLUMNS if c != "anomaly_days"]].sum()
    out["anomaly_days"] = count_distinct(raw, keys, "aday").reindex(out.index, fill_value=0)
    out["category_code"] = max_text(raw, keys, "category_code")
    out["first_anomaly"] = g["aday"].min()
    out["last_anomaly"] = g["aday"].max()
    out = out.reset_index()
    out["anomaly_days"] = out["anomaly_days"].astype("int64")
    for key in ("input", "domain"):
        out[key] = out[key].where(out[key] != "\x00", None)

    days = raw[anomalous & raw["test_name"].isin(WEB_TESTS) & (raw["input"] != "\x00")]
    days = days.assign(
        day=day_text(days["aday"]),
        anomalies=days["measurements"],
        method=days["amethod"].astype(object).where(days["amethod"].notna(), ""),
    )
    days = days.groupby(
        ["source", "input", "domain", "probe_asn", "day", "method"], as_index=False, sort=True
    )[["anomalies", CONFIRMED]].sum()
    days["method"] = days["method"].where(days["method"] != "", None)
    return Cells(out[CELL_COLUMNS], days[DAY_COLUMNS])


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
    ``asns`` limits the read to the networks where ``ours`` measured (volunteers run our
    probe on a few networks; OONI's measurements elsewhere cannot be compared)."""

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
            select(c.input, c.probe_asn, c.day, *cols)
            .where(c.input.is_not(None), c.source.in_((ours, theirs)))
            .group_by(c.input, c.probe_asn, c.day)
            .having(and_(_count(c.source == ours) > 0, _count(c.source == theirs) > 0))
        )
        return pd.read_sql(stmt, c_)

    df = _parallel(engine, conn, scope, query) if engine is not None else query(conn, scope)
    counts = [f"{n}_{k}" for n in ("ours", "theirs") for k in ("n", "judged", "anomalies")]
    columns = ["input", "domain", "probe_asn", "day", *counts]
    if df.empty:
        return pd.DataFrame(columns=columns)
    df = _ints(df, ["probe_asn", *counts])
    df["domain"] = _domains_of(df["input"])
    df = df.sort_values(["input", "probe_asn", "day"], kind="mergesort").reset_index(drop=True)
    return df[columns]


NETWORK_DAY_COLUMNS = ["probe_asn", "day", "measurements"]


def _network_days_frame(df: pd.DataFrame) -> pd.DataFrame:
    if df.empty:
        return pd.DataFrame(columns=NETWORK_DAY_COLUMNS)
    df = _ints(df, ["probe_asn", "measurements"])
    df["day"] = df["day"].astype(object)
    # Summed again: month chunks are cut by stored time, and a time stored in an unusual
    # form can put one network and day in two chunks.
    df = df.groupby(["probe_asn", "day"], as_index=False, sort=True)["measurements"].sum()
    return df[NETWORK_DAY_COLUMNS].reset_index(drop=True)


def load_network_days(conn: Connection, scope: Scope, engine: Engine | None = None) -> pd.DataFrame:
    """Measurements per network and local day (every test, the full pass's selection), by
    ASN and day: the days each network was measured (coverage's ``days``).

    The fast path derives the same table from the rows it already holds
    (:func:`censorwatch.analysis.fastpass.network_days_from_rows`); this narrow query (no
    status rule, no URL) is the portable path's extra cost.
    """

    def query(c_: Connection, chunk: Scope) -> pd.DataFrame:
        day = local_day_sql(chunk.period.offset_segments(), c_.dialect.name).label("day")
        inner = select(_T.probe_asn, day).where(*_scope_where(chunk)).offset(0).subquery("d")
        stmt = select(inner.c.probe_asn, inner.c.day, func.count().label("measurements")).group_by(
            inner.c.probe_asn, inner.c.day
        )
        return pd.read_sql(stmt, c_)

    df = _parallel(engine, conn, scope, query) if engine is not None else query(conn, scope)
    return _network_days_frame(df)


#: ``(ours, theirs, asns) -> table``: see :func:`load_agreement_cells`.
AgreementReader = Callable[[str, str, "list[int] | None"], pd.DataFrame]


@dataclass
class PeriodRead:
    """The full pass over one period: its cells, and its agreement cells when asked for."""

    cells: Cells
    #: The table of :func:`load_agreement_cells` for ``(ours, theirs, asns)``.
    agreement_cells: AgreementReader
    #: The table of :func:`load_network_days` (read when called: the previous period
    #: does not need it).
    network_days: Callable[[], pd.DataFrame]


def load_period(
    conn: Connection, scope: Scope, engine: Engine | None = None, *, fast: bool = True
) -> PeriodRead:
    """The full pass: what :func:`load_cells` returns, and a reader of
    :func:`load_agreement_cells`' table, with the same results on every path.

    On SQLite (unless ``fast`` is False) every measurement is read once as a packed record
    and both come from those rows; otherwise the portable queries run, the agreement one
    only if asked for.
    """

    def portable(ours: str, theirs: str, asns: list[int] | None) -> pd.DataFrame:
        return load_agreement_cells(conn, scope, ours, theirs, asns=asns, engine=engine)

    if fast and conn.dialect.name == "sqlite":
        try:
            rows = fastpass.read_rows(
                conn, scope.country, scope.period, engine, workers=SQLITE_WORKERS
            )
            cells = cells_from_groups(fastpass.groups_from_rows(rows))
        except fastpass.Unsupported as exc:
            log.info("analysis: portable SQL path (%s)", exc)
        else:

            def agreement(ours: str, theirs: str, asns: list[int] | None) -> pd.DataFrame:
                try:
                    return fastpass.agreement_from_rows(rows, ours, theirs, asns)
                except fastpass.Unsupported as exc:
                    log.info("analysis: portable SQL path for the agreement (%s)", exc)
                    return portable(ours, theirs, asns)

            def network_days() -> pd.DataFrame:
                return _network_days_frame(fastpass.network_days_from_rows(rows))

            return PeriodRead(cells, agreement, network_days)

    return PeriodRead(
        load_cells(conn, scope, engine), portable, lambda: load_network_days(conn, scope, engine)
    )


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
    country = _T.probe_cc == scope.country
    if conn.dialect.name == "sqlite":
        # As a plain comparison SQLite walks the country/time index over every measurement
        # of the period (a second, a year); made an expression, the country leaves the test
        # name/time index to find the few app measurements directly.
        country = _T.probe_cc.concat("") == scope.country
    stmt = (
        select(_T.test_name, _T.probe_asn, _T.measurement_start_time, _T.document)
        .where(
            country,
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


DOMAIN_DAY_COLUMNS = [
    "domain",
    "probe_asn",
    "day",
    "measurements",
    "failures",
    "anomalies",
    CONFIRMED,
]


def load_domain_days(
    conn: Connection, scope: Scope, domains: list[str], chunk: int = 400
) -> pd.DataFrame:
    """Per website domain of ``domains`` (the blocked ones), network and local day: its
    web_connectivity measurements, failures, anomalies (confirmed included) and confirmed
    ones, ordered by domain, network and day.

    Read through the domain index like the evidence, so its cost follows the blocked
    domains, not the year; one portable statement on every store (the fast path's rows are
    not needed: a few thousand rows per domain).
    """
    frames = []
    dialect = conn.dialect.name
    for i in range(0, len(domains), chunk):
        part = domains[i : i + chunk]
        c = _classified(
            scope, dialect, tests=WEB_TESTS, domains=part, with_method=False, domain_index=True
        ).c
        stmt = (
            select(
                c.input,
                c.probe_asn,
                c.day,
                func.count().label("measurements"),
                _count(c.st == _FAILURE).label("failures"),
                _count(c.st.in_((_ANOMALY, _CONFIRMED))).label("anomalies"),
                _count(c.st == _CONFIRMED).label(CONFIRMED),
            )
            .where(c.input.is_not(None))
            .group_by(c.input, c.probe_asn, c.day)
        )
        frames.append(pd.read_sql(stmt, conn))
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=DOMAIN_DAY_COLUMNS)
    df = _ints(
        pd.concat(frames, ignore_index=True),
        ["probe_asn", "measurements", "failures", "anomalies", CONFIRMED],
    )
    # The analysis's domain is the URL's host (as in the cells), not the stored column.
    df["domain"] = _domains_of(df["input"])
    df = df[df["domain"].isin(set(domains))]
    if df.empty:
        return pd.DataFrame(columns=DOMAIN_DAY_COLUMNS)
    df["day"] = df["day"].astype(object)
    out = df.groupby(["domain", "probe_asn", "day"], as_index=False, sort=True)[
        ["measurements", "failures", "anomalies", CONFIRMED]
    ].sum()
    return out[DOMAIN_DAY_COLUMNS].reset_index(drop=True)


def load_ooni_totals(conn: Connection, scope: Scope) -> dict[str, int] | None:
    """OONI's own web_connectivity counts for the country over the months the period touches
    (``ingest aggregation``; UTC months, so an approximation at the period's edges), or None
    when none were fetched."""
    t = OoniAggregate.__table__.c
    first = scope.period.start.replace(day=1)
    stmt = select(
        func.count(),
        func.sum(t.measurement_count),
        func.sum(t.ok_count),
        func.sum(t.anomaly_count),
        func.sum(t.confirmed_count),
        func.sum(t.failure_count),
    ).where(
        t.probe_cc == scope.country,
        t.test_name.in_(WEB_TESTS),
        t.time_grain == "month",
        t.axis == "",
        t.period_start >= first,
        t.period_start <= scope.period.end,
    )
    rows, *sums = conn.execute(stmt).one()
    if not rows:
        return None
    keys = ("measurements", OK, ANOMALY, CONFIRMED, FAILURE)
    return {k: int(v or 0) for k, v in zip(keys, sums, strict=True)}


def count_sources(cells: pd.DataFrame) -> dict[str, int]:
    """Measurements per source in loaded cells (to skip queries that cannot match)."""
    if cells.empty:
        return {}
    return {str(k): int(v) for k, v in cells.groupby("source")["measurements"].sum().items()}
