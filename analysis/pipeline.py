"""``analyze()``: read the store once, apply the rules, return an :class:`AnalysisResult`.

This is the only module of the analysis that both reads the store and calls the rules; the
rules themselves (verdicts, domains, coverage, changes, agreement, apps) are pure functions
of DataFrames. The reads happen in one read transaction, except that on a SQLite file the
chunks of the big pass (weeks on the fast path, months on the portable one, see
:func:`censorwatch.analysis.load.load_period`) are read by two threads on connections of
their own (each chunk is then one consistent snapshot; run the analysis when no ingest is
writing to the period, as the scheduler does, for numbers that are exactly reproducible).
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from censorwatch.analysis.agreement import (
    Agreement,
    both_anomalous_cells,
    both_anomalous_days,
    compare_sources,
)
from censorwatch.analysis.answers import blocking_answers
from censorwatch.analysis.apps import app_table, judged_app_cells
from censorwatch.analysis.changes import Changes, compare_periods
from censorwatch.analysis.coverage import compute_coverage
from censorwatch.analysis.domains import (
    add_day_counts,
    anomaly_days_per_domain,
    category_table,
    domain_month_table,
    domain_network_month_table,
    domain_network_table,
    domain_table,
    network_table,
    still_blocked,
    url_table,
    web_cells,
)
from censorwatch.analysis.events import Event, load_events
from censorwatch.analysis.evidence import pick_evidence
from censorwatch.analysis.frames import day_text
from censorwatch.analysis.load import (
    Scope,
    count_sources,
    iter_unjudged_apps,
    load_anomalous_measurements,
    load_cells,
    load_domain_days,
    load_networks,
    load_ooni_totals,
    load_period,
    load_testlist,
    reads_in_threads,
)
from censorwatch.analysis.method import describe_method
from censorwatch.analysis.network_sites import network_sites_table
from censorwatch.analysis.period import Period
from censorwatch.analysis.result import AnalysisResult
from censorwatch.analysis.verdicts import BLOCKED_VERDICTS, VERDICTS, Thresholds, judge_domains
from censorwatch.config import AnalysisSettings
from censorwatch.fingerprints import FingerprintDB, default_fingerprints
from censorwatch.measurement import SOURCE_OONI, SOURCE_PROBE
from censorwatch.store import Store
from censorwatch.store.models import MeasurementRow

log = logging.getLogger(__name__)

AGREEMENT_INPUT_COLUMNS = [
    "input",
    "domain",
    "probe_asn",
    "day",
    *(f"{n}_{k}" for n in ("ours", "theirs") for k in ("n", "judged", "anomalies")),
]


@dataclass
class _Judged:
    cells: pd.DataFrame
    app_cells: pd.DataFrame
    web: pd.DataFrame
    per_network: pd.DataFrame
    verdicts: pd.DataFrame
    agreement: Agreement
    #: URL/network/day cells where both our probe and OONI observed an anomaly.
    both_anomalous: pd.DataFrame
    #: Measurements per network and local day (``probe_asn, day, measurements``; a network
    #: and day twice when apps were judged here too), for coverage's days; None when not read.
    network_days: pd.DataFrame | None = None


def _judge(
    conn: Connection,
    engine: Engine,
    scope: Scope,
    t: Thresholds,
    *,
    with_agreement: bool = True,
    with_network_days: bool = True,
) -> _Judged:
    """Verdicts of one period. ``with_agreement=False`` skips the agreement summary and
    ``with_network_days=False`` the networks' days (neither is needed for the previous
    period: the verdicts' agreement days come from the full pass)."""
    read = load_period(conn, scope, engine)
    loaded = read.cells
    cells = loaded.cells
    app_cells = judged_app_cells(iter_unjudged_apps(conn, scope), scope.period)
    web = web_cells(cells)
    sources = count_sources(web)
    if with_agreement and sources.get(SOURCE_PROBE) and sources.get(SOURCE_OONI):
        ours = web[web["source"] == SOURCE_PROBE]
        asns = sorted(int(x) for x in ours["probe_asn"].unique())
        table = read.agreement_cells(SOURCE_PROBE, SOURCE_OONI, asns)
    else:
        table = pd.DataFrame(columns=AGREEMENT_INPUT_COLUMNS)
    agreement = compare_sources(table)
    days = anomaly_days_per_domain(loaded.anomaly_days)
    both = both_anomalous_days(loaded.anomaly_days, SOURCE_PROBE, SOURCE_OONI)
    per_network = domain_network_table(web, days, both)
    verdicts = judge_domains(per_network, t)
    cells_both = both_anomalous_cells(loaded.anomaly_days, SOURCE_PROBE, SOURCE_OONI)
    network_days = None
    if with_network_days:
        parts = [read.network_days()]
        if not app_cells.empty:
            parts.append(app_cells[["probe_asn", "day", "measurements"]])
        network_days = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    return _Judged(
        cells, app_cells, web, per_network, verdicts, agreement, cells_both, network_days
    )


def judged_with_other_fingerprints(store: Store, scope: Scope, fingerprints: FingerprintDB) -> int:
    """Rows of the scope that the verdict engine judged with other fingerprint sets than
    ``fingerprints`` (``censorwatch rejudge`` brings them up to date)."""
    t = MeasurementRow.__table__.c
    query = sa.select(sa.func.count()).where(
        t.probe_cc == scope.country,
        t.measurement_start_time >= scope.period.utc_start,
        t.measurement_start_time < scope.period.utc_end,
        t.verdict_version.is_not(None),
        t.document.is_not(None),
        sa.or_(
            t.verdict_fingerprints_hash.is_(None),
            t.verdict_fingerprints_hash != fingerprints.hash,
        ),
    )
    with store.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def _ordered(domains: pd.DataFrame) -> pd.DataFrame:
    rank = {v: i for i, v in enumerate(VERDICTS)}
    out = domains.assign(_r=domains["verdict"].map(rank))
    out = out.sort_values(["_r", "domain"], kind="mergesort").drop(columns="_r")
    return out.reset_index(drop=True)


def analyze(
    store: Store,
    country: str,
    period: Period,
    settings: AnalysisSettings | None = None,
    *,
    compare_previous: bool = True,
    fingerprints: FingerprintDB | None = None,
) -> AnalysisResult:
    """The full analysis of ``country`` over ``period`` with the ``[analysis]`` settings.

    ``fingerprints`` are the sets the verdict engine uses (None: the default ones); the
    method names them and counts the period's rows that other sets judged.
    """
    settings = settings or AnalysisSettings()
    t = Thresholds.from_settings(settings)
    events = load_events(settings.events_path, period)
    country = country.upper()
    scope = Scope(country, period)
    # On a SQLite file the evidence read (random reads through the domain index, without the
    # GIL) runs in a thread while the rest is read and judged.
    pool = ThreadPoolExecutor(max_workers=1) if reads_in_threads(store.engine) else None
    try:
        return _analyze(
            store,
            country,
            period,
            t,
            events,
            scope,
            pool,
            compare_previous,
            fingerprints if fingerprints is not None else default_fingerprints(),
        )
    finally:
        if pool is not None:
            pool.shutdown(wait=True)


def _analyze(
    store: Store,
    country: str,
    period: Period,
    t: Thresholds,
    events: list[Event],
    scope: Scope,
    pool: ThreadPoolExecutor | None,
    compare_previous: bool,
    fingerprints: FingerprintDB,
) -> AnalysisResult:
    """:func:`analyze` proper; ``pool`` (a SQLite file) takes the evidence read."""
    pending: Future[pd.DataFrame] | None = None
    pending_days: Future[pd.DataFrame] | None = None
    with store.engine.connect() as conn, conn.begin():
        now = _judge(conn, store.engine, scope, t)
        names_df = load_networks(conn)
        names = {
            int(a): str(n) for a, n in zip(names_df["asn"], names_df["name"], strict=True) if n
        }
        testlist = load_testlist(conn, period)
        ooni_reported = load_ooni_totals(conn, scope)
        web = now.web
        dns_domains = sorted(
            set(web.loc[(web["m_dns"] > 0) | (web["confirmed"] > 0), "domain"].astype(str))
        )
        answers = blocking_answers(conn, scope, t, fingerprints, names, dns_domains)
        blocked_names = sorted(
            now.verdicts.loc[now.verdicts["verdict"].isin(BLOCKED_VERDICTS), "domain"]
        )
        blocked_any = bool(blocked_names)
        if pool is not None:

            def evidence() -> pd.DataFrame:
                with store.engine.connect() as c:
                    return load_anomalous_measurements(c, scope, blocked_names)

            def blocked_days() -> pd.DataFrame:
                with store.engine.connect() as c:
                    return load_domain_days(c, scope, blocked_names)

            pending = pool.submit(evidence)
            # Queued behind the evidence on the same reader thread: the same kind of reads.
            pending_days = pool.submit(blocked_days)
        else:
            anomalous = load_anomalous_measurements(conn, scope, blocked_names)
            domain_days = load_domain_days(conn, scope, blocked_names)
        window = (
            web_cells(
                load_cells(
                    conn, Scope(country, period.tail(t.still_blocked_days)), domains=blocked_names
                ).cells
            )
            if blocked_any
            else pd.DataFrame()
        )
        previous = (
            _judge(
                conn,
                store.engine,
                Scope(country, period.previous()),
                t,
                with_agreement=False,
                with_network_days=False,
            ).verdicts
            if compare_previous
            else None
        )

    urls = url_table(now.web, testlist)
    still = still_blocked(window, now.verdicts, t)
    if pending_days is not None:
        domain_days = pending_days.result()
    domains = _ordered(
        add_day_counts(domain_table(now.verdicts, now.per_network, urls, still), domain_days)
    )
    all_cells = pd.concat(
        [c for c in (now.cells, now.app_cells.assign(source=SOURCE_OONI)) if not c.empty]
        or [now.cells],
        ignore_index=True,
    )
    coverage = compute_coverage(
        all_cells, period, names, testlist, ooni_reported, network_days=now.network_days
    )
    if previous is not None:
        prev_urls_categories = domains[["domain", "category_code"]]
        prev = previous.merge(prev_urls_categories, on="domain", how="left")
        changes = compare_periods(domains, prev, period.previous())
    else:
        changes = compare_periods(domains, None, period.previous())
    if pending is not None:
        anomalous = pending.result()
    domain_networks = now.per_network.assign(
        first_anomaly=day_text(now.per_network["first_anomaly"]),
        last_anomaly=day_text(now.per_network["last_anomaly"]),
    )
    return AnalysisResult(
        country=country,
        period=period,
        method=describe_method(
            t,
            period,
            country,
            fingerprints,
            judged_with_other_fingerprints(store, scope, fingerprints),
        ),
        coverage=coverage,
        domains=domains,
        domain_days=domain_days,
        urls=urls,
        domain_networks=domain_networks,
        domain_months=domain_month_table(now.web),
        domain_network_months=domain_network_month_table(now.web),
        categories=category_table(domains),
        networks=network_table(now.per_network, domains, names),
        apps=app_table(now.cells, now.app_cells, names, t),
        apps_by_network=app_table(now.cells, now.app_cells, names, t, by_month=False),
        changes=changes,
        agreement=now.agreement,
        evidence=pick_evidence(anomalous, domains, now.both_anomalous),
        events=events,
        network_names=names,
        blocking_answers=answers,
        network_sites=network_sites_table(domain_networks, domains, answers),
    )


__all__ = ["Changes", "analyze"]
