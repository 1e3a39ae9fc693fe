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
    confirmed_min_agreement_days: int = 1
    accessible_max_anomaly_rate: float = 0.1
    still_blocked_days: int = 30
    apps_min_anomaly_rate: float = 0.5
    apps_min_measurements: int = 3

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


def judge_domains(per_network: pd.DataFrame, t: Thresholds) -> pd.DataFrame:
    """One verdict per domain from its per-network table (see the module docstring).

    Returns one row per domain (sorted) with ``verdict``, the totals, ``networks_measured``,
    ``networks_enough``, ``networks_likely`` and ``blocking_asns`` (the networks whose
    evidence supports the verdict, as a sorted tuple; empty unless confirmed or likely).
    """
    df = judge_networks(per_network, t)
    rows = []
    for domain, g in df.groupby("domain", sort=True):
        measurements = int(g["measurements"].sum())
        failures = int(g["failures"].sum())
        anomalies = int(g["anomalies"].sum())
        confirmed = int(g["confirmed"].sum())
        agreement_days = int(g["agreement_days"].sum())
        judged = measurements - failures
        rate = anomalies / judged if judged else 0.0
        networks_enough = int(g["enough_data"].sum())
        networks_likely = int(g["likely_here"].sum())
        need = max(1, min(t.likely_min_networks, networks_enough))
        by_fingerprint = confirmed >= t.confirmed_min_measurements
        by_agreement = (
            t.confirmed_min_agreement_days > 0 and agreement_days >= t.confirmed_min_agreement_days
        )
        if by_fingerprint or by_agreement:
            verdict = CONFIRMED
            mask = g["likely_here"] | (g["confirmed"] > 0)
            if by_agreement:
                mask = mask | (g["agreement_days"] > 0)
        elif networks_likely >= need:
            verdict = LIKELY
            mask = g["likely_here"]
        elif judged > 0 and rate <= t.accessible_max_anomaly_rate:
            verdict = ACCESSIBLE
            mask = None
        else:
            verdict = INCONCLUSIVE
            mask = None
        blocking = (
            tuple(sorted(int(a) for a in g.loc[mask, "probe_asn"])) if mask is not None else ()
        )
        rows.append(
            {
                "domain": domain,
                "verdict": verdict,
                "confirmed_by": (
                    ("fingerprint" if by_fingerprint else "agreement")
                    if verdict == CONFIRMED
                    else None
                ),
                "measurements": measurements,
                "judged": judged,
                "anomalies": anomalies,
                "confirmed": confirmed,
                "failures": failures,
                "anomaly_rate": rate,
                "agreement_days": agreement_days,
                "networks_measured": len(g),
                "networks_enough": networks_enough,
                "networks_likely": networks_likely,
                "blocking_asns": blocking,
            }
        )
    columns = [
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
    return pd.DataFrame(rows, columns=columns)


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
