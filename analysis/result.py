"""The bundle the report renders: :class:`AnalysisResult`, and its stable JSON form.

Everything is plain data (pandas DataFrames, dataclasses, tuples); the report must not need
the store. :meth:`AnalysisResult.to_json` is the documented contract of
``censorwatch analyze --format json`` (docs/analysis-json.md): keys may be added, none
renamed or removed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from censorwatch.analysis.agreement import Agreement
from censorwatch.analysis.changes import Changes
from censorwatch.analysis.coverage import Coverage, _plain, _records
from censorwatch.analysis.events import Event
from censorwatch.analysis.method import Method
from censorwatch.analysis.network_sites import NETWORK_SITE_COLUMNS
from censorwatch.analysis.period import Period
from censorwatch.analysis.verdicts import (
    ACCESSIBLE,
    BLOCKED_VERDICTS,
    CONFIRMED,
    INCONCLUSIVE,
    LIKELY,
)

JSON_SCHEMA = "censorwatch.analysis/1"
#: Columns of :attr:`AnalysisResult.domain_days` (``load.DOMAIN_DAY_COLUMNS``).
DOMAIN_DAYS = ["domain", "probe_asn", "day", "measurements", "failures", "anomalies", "confirmed"]


@dataclass(frozen=True)
class Headline:
    """The numbers a report opens with."""

    measurements: int
    urls_tested: int
    domains_tested: int
    networks: int
    blocked: int
    confirmed: int
    likely: int
    inconclusive: int
    accessible: int
    still_blocked: int
    newly_blocked: int
    unblocked: int
    #: Blocked now and not measured in the previous period (never counted as newly blocked).
    first_measured: int = 0

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class AnalysisResult:
    """One country, one period: every table the report shows, and the method behind them.

    Tables (DataFrames, deterministic order):

    * ``domains``: one row per website domain (see ``domains.DOMAIN_COLUMNS``), ordered by
      verdict (confirmed, likely, inconclusive, accessible) then domain;
    * ``domain_days``: per blocked website, network and local day measured;
    * ``urls``: one row per measured URL;
    * ``domain_networks``, ``domain_months``, ``domain_network_months``: the same counts split
      by network (``probe_asn``) and local month;
    * ``categories``: verdict counts per test-list category;
    * ``networks``: per network, domains tested and found blocked there;
    * ``apps``: per app, network and month, ``status`` reachable / blocked / partly /
      inconclusive; ``apps_by_network``: the same per app and network over the period;
    * ``coverage``: measurement effort (:class:`Coverage`), ``changes`` (:class:`Changes`),
      ``agreement`` (:class:`Agreement`), ``events`` and ``method`` (:class:`Method`).
    """

    country: str
    period: Period
    method: Method
    coverage: Coverage
    domains: pd.DataFrame
    urls: pd.DataFrame
    domain_networks: pd.DataFrame
    domain_months: pd.DataFrame
    domain_network_months: pd.DataFrame
    categories: pd.DataFrame
    networks: pd.DataFrame
    apps: pd.DataFrame
    apps_by_network: pd.DataFrame
    changes: Changes
    agreement: Agreement
    #: Measurements cited for each blocked domain (see :mod:`censorwatch.analysis.evidence`).
    evidence: pd.DataFrame
    events: list[Event]
    network_names: dict[int, str]
    #: Suspicious DNS answer addresses vetted by the machine, one object per address (see
    #: :mod:`censorwatch.analysis.answers`): blocking first, then unclear, then false
    #: positives, each by measurements (most first).
    blocking_answers: list[dict[str, Any]] = field(default_factory=list)
    #: Per network, the websites found blocked there, with methods, blocking answers and
    #: first/last day (see :mod:`censorwatch.analysis.network_sites`).
    network_sites: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=NETWORK_SITE_COLUMNS)
    )
    #: Per confirmed or likely website, network and local day it was measured:
    #: ``domain, probe_asn, day, measurements, failures, anomalies, confirmed`` (anomalies
    #: include confirmed), by domain, network and day; the days behind ``days_measured``,
    #: ``days_blocked`` and the report's timeline. (Results pickled before it existed, in
    #: an edition's snapshot, lack it: read it through :attr:`blocked_days`.)
    domain_days: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=DOMAIN_DAYS))

    @property
    def blocked_days(self) -> pd.DataFrame:
        """``domain_days``, empty for a result made before the table existed."""
        days = getattr(self, "domain_days", None)
        return days if days is not None else pd.DataFrame(columns=DOMAIN_DAYS)

    @property
    def blocked(self) -> pd.DataFrame:
        """The blocked websites: confirmed or likely."""
        return self.domains[self.domains["verdict"].isin(BLOCKED_VERDICTS)].reset_index(drop=True)

    @property
    def headline(self) -> Headline:
        counts = self.domains["verdict"].value_counts().to_dict() if len(self.domains) else {}
        return Headline(
            measurements=self.coverage.measurements,
            urls_tested=self.coverage.urls_tested,
            domains_tested=len(self.domains),
            networks=len(self.coverage.by_network),
            blocked=sum(int(counts.get(v, 0)) for v in BLOCKED_VERDICTS),
            confirmed=int(counts.get(CONFIRMED, 0)),
            likely=int(counts.get(LIKELY, 0)),
            inconclusive=int(counts.get(INCONCLUSIVE, 0)),
            accessible=int(counts.get(ACCESSIBLE, 0)),
            still_blocked=int((self.domains["still_blocked"] == True).sum())  # noqa: E712
            if len(self.domains)
            else 0,
            newly_blocked=len(self.changes.newly_blocked),
            unblocked=len(self.changes.unblocked),
            first_measured=len(self.changes.first_measured),
        )

    def network_name(self, asn: int) -> str:
        return self.network_names.get(int(asn), f"AS{int(asn)}")

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table, flat (tuples joined with ``;``), for CSV files named after the keys."""
        c = self.coverage
        tables = {
            "domains": self.domains,
            "domain_days": self.blocked_days,
            "urls": self.urls,
            "domain_networks": self.domain_networks,
            "domain_months": self.domain_months,
            "domain_network_months": self.domain_network_months,
            "categories": self.categories,
            "networks": self.networks,
            "network_sites": self.network_sites,
            "apps": self.apps,
            "apps_by_network": self.apps_by_network,
            "coverage_by_month": c.by_month,
            "coverage_by_network": c.by_network,
            "coverage_by_network_month": c.by_network_month,
            "coverage_by_test": c.by_test,
            "coverage_by_source": c.by_source,
            "coverage_by_month_source": c.by_month_source,
            "changes": self.changes.table,
            "agreement": self.agreement.table,
            "agreement_by_domain": self.agreement.by_domain,
            "evidence": self.evidence,
            "blocking_answers": _answers_table(getattr(self, "blocking_answers", None) or []),
            "events": pd.DataFrame(
                [e.to_dict() for e in self.events],
                columns=["date", "end_date", "label", "kind", "source"],
            ),
        }
        return {name: _flat(df) for name, df in tables.items()}

    def to_json(self) -> dict[str, Any]:
        """The stable JSON document of ``censorwatch analyze --format json``."""
        cited: dict[str, list[dict[str, Any]]] = {}
        for ev in self.evidence.to_dict(orient="records"):
            cited.setdefault(ev["domain"], []).append(
                {k: _plain(v) for k, v in ev.items() if k != "domain"}
            )
        domains = []
        for rec in self.domains.to_dict(orient="records"):
            domains.append(
                {
                    "domain": rec["domain"],
                    "category_code": _plain(rec["category_code"]),
                    "verdict": rec["verdict"],
                    "confirmed_by": _plain(rec["confirmed_by"]),
                    "methods": list(rec["methods"]),
                    "networks": [
                        {"asn": int(a), "name": self.network_name(a)} for a in rec["networks"]
                    ],
                    "measurements": int(rec["measurements"]),
                    "anomalies": int(rec["anomalies"]),
                    "confirmed": int(rec["confirmed"]),
                    "failures": int(rec["failures"]),
                    "anomaly_rate": round(float(rec["anomaly_rate"]), 6),
                    "first_blocked": _plain(rec["first_blocked"]),
                    "last_blocked": _plain(rec["last_blocked"]),
                    "still_blocked": _plain(rec["still_blocked"]),
                    "urls": int(rec["urls"]),
                    "days_measured": _opt_int(rec.get("days_measured")),
                    "days_blocked": _opt_int(rec.get("days_blocked")),
                    "evidence": cited.get(rec["domain"], []),
                }
            )
        return {
            "schema": JSON_SCHEMA,
            "country": self.country,
            "period": self.period.to_dict(),
            "headline": self.headline.to_dict(),
            "coverage": self.coverage.to_dict(),
            "domains": domains,
            "categories": _records(self.categories),
            "networks": self._networks_json(),
            "changes": self.changes.to_dict(),
            "agreement": self.agreement.to_dict(),
            "apps": _records(self.apps),
            "apps_by_network": _records(self.apps_by_network.drop(columns="month")),
            "events": [e.to_dict() for e in self.events],
            "blocking_answers": [dict(a) for a in getattr(self, "blocking_answers", None) or []],
            "method": self.method.to_dict(),
        }

    def _networks_json(self) -> list[dict[str, Any]]:
        """``networks[]``, each with the websites found blocked there (``sites``)."""
        sites: dict[int, list[dict[str, Any]]] = {}
        for rec in self.network_sites.to_dict(orient="records"):
            sites.setdefault(int(rec["asn"]), []).append(
                {
                    **{k: _plain(v) for k, v in rec.items() if k not in ("asn", "methods")},
                    "methods": list(rec["methods"]),
                    "answers": list(rec["answers"]),
                    "anomaly_rate": round(float(rec["anomaly_rate"]), 6),
                }
            )
        return [{**rec, "sites": sites.get(int(rec["asn"]), [])} for rec in _records(self.networks)]


def _opt_int(value: Any) -> int | None:
    """An int, or None for a missing value (None, NaN, pd.NA)."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    return int(value)


ANSWER_COLUMNS = [
    "ip",
    "verdict",
    "asn",
    "as_org_name",
    "networks",
    "domain_count",
    "domains",
    "measurements",
    "in_own_network",
    "control_returned",
    "tls_valid_for_site",
    "bogon",
    "fingerprint",
    "reasons",
    "decision",
]


def _answers_table(answers: list[dict[str, Any]]) -> pd.DataFrame:
    """``blocking_answers`` as one flat row per address (lists joined with ``;``)."""
    rows = [
        {
            **{k: a[k] for k in ANSWER_COLUMNS if k in a and k not in ("networks", "decision")},
            "networks": ";".join(f"AS{n['asn']}" for n in a["networks"]),
            "domain_count": a["domains"]["count"],
            "domains": ";".join(a["domains"]["names"]),
            "reasons": "; ".join(a["reasons"]),
            "decision": (a.get("decision") or {}).get("decision"),
        }
        for a in answers
    ]
    return pd.DataFrame(rows, columns=ANSWER_COLUMNS)


def _flat(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object and out[col].map(lambda v: isinstance(v, tuple)).any():
            out[col] = out[col].map(
                lambda v: ";".join(str(x) for x in v) if isinstance(v, tuple) else v
            )
    return out
