"""Verdicts per website domain: confirmed, likely, inconclusive or accessible.

The thresholds come from the ``[analysis]`` configuration (:class:`Thresholds`), the same
values from which :mod:`censorwatch.analysis.method` writes the report's method text. The
rules, per domain over the period:

* **confirmed**: at least ``confirmed_min_measurements`` fingerprint-confirmed measurements
  (a known blockpage or sinkhole answer), or our own probe and OONI both observing an anomaly
  on the same network and local day on at least ``confirmed_min_agreement_days`` days;
* **likely**: on at least ``likely_min_networks`` networks (or on every network that measured
  the domain enough, when fewer did), at least ``likely_min_anomaly_rate`` of at least
  ``likely_min_measurements`` judged measurements show an anomaly, on at least
  ``likely_min_days`` distinct local days;
* **accessible**: at least one judged measurement and an anomaly rate of at most
  ``accessible_max_anomaly_rate``;
* **inconclusive**: everything else (some anomalies but not enough evidence, or only
  failures).

A *judged* measurement is one that is not a failure; the anomaly rate is anomalous
(anomaly or confirmed) judged measurements over judged measurements. "Blocked" in the
report's headline numbers means confirmed or likely.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

from censorwatch.config import AnalysisSettings
from censorwatch.errors import ConfigError

CONFIRMED = "confirmed"
LIKELY = "likely"
INCONCLUSIVE = "inconclusive"
ACCESSIBLE = "accessible"
VERDICTS = (CONFIRMED, LIKELY, INCONCLUSIVE, ACCESSIBLE)
BLOCKED_VERDICTS = (CONFIRMED, LIKELY)


@dataclass(frozen=True)
class Thresholds:
    """The validated numbers of the method (see :class:`AnalysisSettings` for each one)."""

    likely_min_anomaly_rate: float = 0.5
    likely_min_measurements: int = 10
    likely_min_days: int = 3
    likely_min_networks: int = 1
    confirmed_min_measurements: int = 1
    confirmed_min_agreement_days: int = 3
    accessible_max_anomaly_rate: float = 0.1
    still_blocked_days: int = 30
    apps_min_anomaly_rate: float = 0.5
    apps_min_measurements: int = 3
    sinkhole_min_domains: int = 5
    bogon_min_domains: int = 1

    @classmethod
    def from_settings(cls, settings: AnalysisSettings) -> Thresholds:
        values = {name: getattr(settings, name) for name in cls.__dataclass_fields__}
        t = cls(**values)
        t.validate()
        return t

    def validate(self) -> None:
        for name in ("likely_min_anomaly_rate", "accessible_max_anomaly_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"analysis.{name}: expected a share from 0 to 1, got {value}")
        if not 0.0 < self.apps_min_anomaly_rate <= 1.0:
            raise ConfigError(
                "analysis.apps_min_anomaly_rate: expected a share above 0 and at most 1, "
                f"got {self.apps_min_anomaly_rate}"
            )
        for name in (
            "likely_min_measurements",
            "likely_min_days",
            "likely_min_networks",
            "confirmed_min_measurements",
            "still_blocked_days",
            "apps_min_measurements",
            "sinkhole_min_domains",
            "bogon_min_domains",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"analysis.{name}: expected 1 or more, got {getattr(self, name)}")
        if self.confirmed_min_agreement_days < 0:
            raise ConfigError("analysis.confirmed_min_agreement_days: expected 0 or more")
        if self.accessible_max_anomaly_rate >= self.likely_min_anomaly_rate:
            raise ConfigError(
                "analysis.accessible_max_anomaly_rate must be below "
                "analysis.likely_min_anomaly_rate"
            )

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def judge_networks(per_network: pd.DataFrame, t: Thresholds) -> pd.DataFrame:
    """Add the per-network evidence flags to a domain x network table.

    Needs columns ``measurements``, ``failures``, ``anomalies``, ``confirmed``,
    ``anomaly_days`` and ``agreement_days``; adds ``judged``, ``anomaly_rate``,
    ``enough_data``, ``likely_here``, ``confirmed_here``.
    """
    df = per_network.copy()
    df["judged"] = df["measurements"] - df["failures"]
    judged = df["judged"].where(df["judged"] > 0)
    df["anomaly_rate"] = (df["anomalies"] / judged).fillna(0.0)
    df["enough_data"] = df["judged"] >= t.likely_min_measurements
    df["likely_here"] = (
        df["enough_data"]
        & (df["anomaly_rate"] >= t.likely_min_anomaly_rate)
        & (df["anomaly_days"] >= t.likely_min_days)
    )
    agreement = df["agreement_days"] > 0 if t.confirmed_min_agreement_days > 0 else False
    df["confirmed_here"] = (df["confirmed"] > 0) | agreement
    return df


DOMAIN_VERDICT_COLUMNS = [
    "domain",
    "verdict",
    "confirmed_by",
    "measurements",
    "judged",
    "anomalies",
    "confirmed",
    "failures",
    "anomaly_rate",
    "agreement_days",
    "networks_measured",
    "networks_enough",
    "networks_likely",
    "blocking_asns",
]


def judge_domains(per_network: pd.DataFrame, t: Thresholds) -> pd.DataFrame:
    """One verdict per domain from its per-network table (see the module docstring).

    Returns one row per domain (sorted) with ``verdict``, the totals, ``networks_measured``,
    ``networks_enough``, ``networks_likely`` and ``blocking_asns`` (the networks whose
    evidence supports the verdict, as a sorted tuple; empty unless confirmed or likely).
    Vectorised: a year has thousands of domains.
    """
    if per_network.empty:
        return pd.DataFrame(columns=DOMAIN_VERDICT_COLUMNS)
    df = judge_networks(per_network, t)
    df["_enough"] = df["enough_data"].astype("int64")
    df["_likely"] = df["likely_here"].astype("int64")
    d = df.groupby("domain", sort=True).agg(
        measurements=("measurements", "sum"),
        failures=("failures", "sum"),
        anomalies=("anomalies", "sum"),
        confirmed=("confirmed", "sum"),
        agreement_days=("agreement_days", "sum"),
        networks_measured=("probe_asn", "size"),
        networks_enough=("_enough", "sum"),
        networks_likely=("_likely", "sum"),
    )
    d["judged"] = d["measurements"] - d["failures"]
    d["anomaly_rate"] = (d["anomalies"] / d["judged"].where(d["judged"] > 0)).fillna(0.0)
    need = d["networks_enough"].clip(upper=t.likely_min_networks).clip(lower=1)
    by_fingerprint = d["confirmed"] >= t.confirmed_min_measurements
    by_agreement = (d["agreement_days"] >= t.confirmed_min_agreement_days) & (
        t.confirmed_min_agreement_days > 0
    )
    is_confirmed = by_fingerprint | by_agreement
    is_likely = ~is_confirmed & (d["networks_likely"] >= need)
    is_accessible = (
        ~is_confirmed
        & ~is_likely
        & (d["judged"] > 0)
        & (d["anomaly_rate"] <= t.accessible_max_anomaly_rate)
    )
    d["verdict"] = INCONCLUSIVE
    d.loc[is_accessible, "verdict"] = ACCESSIBLE
    d.loc[is_likely, "verdict"] = LIKELY
    d.loc[is_confirmed, "verdict"] = CONFIRMED
    d["confirmed_by"] = None
    d.loc[by_agreement, "confirmed_by"] = "agreement"
    d.loc[by_fingerprint, "confirmed_by"] = "fingerprint"

    # Which networks support the verdict.
    row_verdict = df["domain"].map(d["verdict"])
    row_agreement = df["domain"].map(by_agreement)
    blocking_row = (row_verdict == LIKELY) & df["likely_here"]
    confirmed_row = (row_verdict == CONFIRMED) & (
        df["likely_here"] | (df["confirmed"] > 0) | (row_agreement & (df["agreement_days"] > 0))
    )
    rows = df[blocking_row | confirmed_row]
    asns = rows.groupby("domain", sort=True)["probe_asn"].agg(
        lambda s: tuple(sorted(int(a) for a in s))
    )
    d["blocking_asns"] = [asns.get(domain, ()) for domain in d.index]
    out = d.reset_index()
    for col in ("measurements", "failures", "anomalies", "confirmed", "judged"):
        out[col] = out[col].astype("int64")
    return out[DOMAIN_VERDICT_COLUMNS]


#: Statuses of an app on a network (the report's vocabulary).
APP_REACHABLE = "reachable"
APP_BLOCKED = "blocked"
APP_PARTLY = "partly"
APP_STATUSES = (APP_REACHABLE, APP_BLOCKED, APP_PARTLY, INCONCLUSIVE)


def app_status(measurements: int, failures: int, anomalies: int, t: Thresholds) -> str:
    """``reachable``, ``blocked``, ``partly`` or ``inconclusive`` for one app on one network
    (over a month, or over the period).

    With at least ``apps_min_measurements`` judged measurements: blocked when at least
    ``apps_min_anomaly_rate`` of them are anomalous, partly blocked when the rate lies
    between that and ``accessible_max_anomaly_rate``. Reachable when the rate is at most
    ``accessible_max_anomaly_rate`` (any number of measurements). Otherwise inconclusive.
    """
    judged = measurements - failures
    if judged <= 0:
        return INCONCLUSIVE
    rate = anomalies / judged
    if rate <= t.accessible_max_anomaly_rate:
        return APP_REACHABLE
    if judged < t.apps_min_measurements:
        return INCONCLUSIVE
    return APP_BLOCKED if rate >= t.apps_min_anomaly_rate else APP_PARTLY
