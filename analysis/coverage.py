"""Coverage: how much was measured, when, where and by whom.

A blocking count means little without the effort behind it: the report shows measurements
per month, network, test and source, how much of the test list was tested, and the busiest
and quietest months, so that a drop in blocked sites can be told apart from a drop in
testing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from censorwatch.analysis.period import Period
from censorwatch.analysis.rules import ANOMALY, CONFIRMED, FAILURE, OK, WEB_TESTS

STATUS_COLUMNS = ["measurements", OK, ANOMALY, CONFIRMED, FAILURE]


@dataclass
class Coverage:
    """Measurement effort over the period (counts are measurements; months are local)."""

    measurements: int
    urls_tested: int
    domains_tested: int
    testlist_urls: int
    testlist_urls_tested: int
    #: month, measurements, ok, anomaly, confirmed, failure (every month of the period).
    by_month: pd.DataFrame
    #: asn, name, measurements, ok, anomaly, confirmed, failure, days, first_day, last_day
    #: per network (days: distinct local days with a measurement; first/last: YYYY-MM-DD).
    by_network: pd.DataFrame
    #: test_name, counts.
    by_test: pd.DataFrame
    #: source, counts.
    by_source: pd.DataFrame
    #: month, source, counts.
    by_month_source: pd.DataFrame
    #: month, asn, name, counts.
    by_network_month: pd.DataFrame
    busiest_month: str | None
    quietest_month: str | None
    #: OONI's own web_connectivity counts for the months of the period (``ingest
    #: aggregation``), when fetched: measurements, ok, anomaly, confirmed, failure.
    ooni_reported: dict[str, int] | None = None
    #: Stored OONI web_connectivity measurements / OONI's count (None without OONI's counts).
    #: Well below 1 means ingest is incomplete: with only OONI's anomalous measurements
    #: stored (the API ingest's default) every rate would be wrong.
    ooni_completeness: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "measurements": self.measurements,
            "urls_tested": self.urls_tested,
            "domains_tested": self.domains_tested,
            "testlist_urls": self.testlist_urls,
            "testlist_urls_tested": self.testlist_urls_tested,
            "networks": _records(self.by_network),
            "by_month": _records(self.by_month),
            "by_test": _records(self.by_test),
            "by_source": _records(self.by_source),
            "busiest_month": self.busiest_month,
            "quietest_month": self.quietest_month,
            "ooni_reported": self.ooni_reported,
            "ooni_completeness": self.ooni_completeness,
        }


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for rec in df.to_dict(orient="records"):
        out.append({k: _plain(v) for k, v in rec.items()})
    return out


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def _sum_by(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    if df.empty:
        return pd.DataFrame(columns=[*keys, *STATUS_COLUMNS])
    return df.groupby(keys, as_index=False, sort=True)[STATUS_COLUMNS].sum()


def normalise_url(url: str) -> str:
    """Test-list URLs and measured inputs compared without case in the host or a final /."""
    text = url.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        return text.rstrip("/")
    host, slash, path = rest.partition("/")
    return f"{scheme.lower()}://{host.lower()}{slash}{path}".rstrip("/")


def network_day_spans(network_days: pd.DataFrame | None) -> pd.DataFrame:
    """Per network (``asn``): ``days`` (distinct local days with a measurement),
    ``first_day`` and ``last_day``, from rows of ``probe_asn, day, measurements`` (a network
    and day may appear more than once: the SQL-judged and the Python-judged app rows)."""
    columns = ["asn", "days", "first_day", "last_day"]
    if network_days is None or network_days.empty:
        return pd.DataFrame(columns=columns)
    nd = network_days[network_days["measurements"] > 0][["probe_asn", "day"]]
    nd = nd.drop_duplicates()
    g = nd.groupby("probe_asn", sort=True)["day"]
    out = pd.DataFrame({"days": g.size(), "first_day": g.min(), "last_day": g.max()})
    out = out.reset_index().rename(columns={"probe_asn": "asn"})
    out["asn"] = out["asn"].astype("int64")
    out["days"] = out["days"].astype("int64")
    return out[columns]


def compute_coverage(
    cells: pd.DataFrame,
    period: Period,
    names: dict[int, str],
    testlist: pd.DataFrame,
    ooni_reported: dict[str, int] | None = None,
    network_days: pd.DataFrame | None = None,
) -> Coverage:
    """Coverage from the aggregated cells (all tests; app cells judged in Python included).

    ``network_days`` (``probe_asn, day, measurements`` for the same measurements as
    ``cells``) gives each network's days measured: a network measured on 12 days of the
    year is not covered like one measured daily, whatever its count of measurements.
    """
    months = pd.DataFrame({"month": period.months()})
    by_month = months.merge(_sum_by(cells, ["month"]), on="month", how="left")
    by_month[STATUS_COLUMNS] = by_month[STATUS_COLUMNS].fillna(0).astype("int64")

    by_network = _sum_by(cells, ["probe_asn"]).rename(columns={"probe_asn": "asn"})
    by_network.insert(1, "name", [names.get(int(a), f"AS{int(a)}") for a in by_network["asn"]])
    spans = network_day_spans(network_days)
    by_network = by_network.merge(spans, on="asn", how="left")
    by_network["days"] = by_network["days"].fillna(0).astype("int64")
    for col in ("first_day", "last_day"):
        by_network[col] = by_network[col].astype(object).where(by_network[col].notna(), None)
    by_network_month = _sum_by(cells, ["month", "probe_asn"]).rename(columns={"probe_asn": "asn"})
    by_network_month.insert(
        2, "name", [names.get(int(a), f"AS{int(a)}") for a in by_network_month["asn"]]
    )

    web = cells[cells["test_name"].isin(WEB_TESTS) & cells["input"].notna()]
    inputs = set(web["input"].unique())
    domains = set(web["domain"].dropna().unique())
    listed = {normalise_url(u) for u in testlist["url"]} if not testlist.empty else set()
    tested = {normalise_url(u) for u in inputs}

    busiest = quietest = None
    if not by_month.empty and by_month["measurements"].sum() > 0:
        counts = list(zip(by_month["month"], by_month["measurements"], strict=True))
        busiest = min(counts, key=lambda mc: (-mc[1], mc[0]))[0]
        quietest = min(counts, key=lambda mc: (mc[1], mc[0]))[0]

    completeness = None
    if ooni_reported and ooni_reported.get("measurements"):
        stored = web.loc[web["source"] == "ooni", "measurements"].sum() if not web.empty else 0
        completeness = round(float(stored) / ooni_reported["measurements"], 4)
    return Coverage(
        ooni_reported=ooni_reported,
        ooni_completeness=completeness,
        measurements=int(cells["measurements"].sum()) if not cells.empty else 0,
        urls_tested=len(inputs),
        domains_tested=len(domains),
        testlist_urls=len(listed),
        testlist_urls_tested=len(listed & tested),
        by_month=by_month[["month", *STATUS_COLUMNS]],
        by_network=by_network,
        by_test=_sum_by(cells, ["test_name"]),
        by_source=_sum_by(cells, ["source"]),
        by_month_source=_sum_by(cells, ["month", "source"]),
        by_network_month=by_network_month,
        busiest_month=busiest,
        quietest_month=quietest,
    )
