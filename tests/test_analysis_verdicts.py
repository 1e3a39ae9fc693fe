"""Verdict thresholds, each checked at its edge (pure functions, no store)."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from censorwatch.analysis.verdicts import (
    ACCESSIBLE,
    CONFIRMED,
    INCONCLUSIVE,
    LIKELY,
    Thresholds,
    app_status,
    judge_domains,
)
from censorwatch.config import AnalysisSettings
from censorwatch.errors import ConfigError

T = Thresholds()  # defaults: rate 0.5, 10 measurements, 3 days, 1 network, accessible <= 0.1


def net(
    asn: int = 1,
    measurements: int = 20,
    anomalies: int = 0,
    confirmed: int = 0,
    failures: int = 0,
    anomaly_days: int | None = None,
    agreement_days: int = 0,
    domain: str = "site.example",
) -> dict:
    return {
        "domain": domain,
        "probe_asn": asn,
        "measurements": measurements,
        "anomalies": anomalies,
        "confirmed": confirmed,
        "failures": failures,
        "anomaly_days": anomalies if anomaly_days is None else anomaly_days,
        "agreement_days": agreement_days,
    }


def verdict(*rows: dict, t: Thresholds = T) -> dict:
    out = judge_domains(pd.DataFrame(list(rows)), t)
    assert len(out) == 1
    return out.iloc[0].to_dict()


def test_defaults_match_configuration() -> None:
    assert Thresholds.from_settings(AnalysisSettings()) == T


@pytest.mark.parametrize(
    ("anomalies", "expected"),
    [(10, LIKELY), (9, INCONCLUSIVE), (20, LIKELY), (2, ACCESSIBLE), (3, INCONCLUSIVE)],
)
def test_anomaly_rate_edges(anomalies: int, expected: str) -> None:
    # 20 judged: 10 = exactly 50% (likely), 9 = 45%; 2 = exactly 10% (accessible), 3 = 15%
    assert verdict(net(anomalies=anomalies))["verdict"] == expected


def test_failures_are_left_out_of_the_rate() -> None:
    # 12 judged of 20, 6 anomalous = 50%
    assert verdict(net(measurements=20, failures=8, anomalies=6))["verdict"] == LIKELY
    assert verdict(net(measurements=20, failures=8, anomalies=5))["verdict"] == INCONCLUSIVE
    only_failures = verdict(net(measurements=20, failures=20))
    assert only_failures["verdict"] == INCONCLUSIVE and only_failures["judged"] == 0


def test_min_measurements_edge() -> None:
    assert verdict(net(measurements=10, anomalies=10))["verdict"] == LIKELY
    assert verdict(net(measurements=9, anomalies=9))["verdict"] == INCONCLUSIVE
    # failures do not count towards the minimum
    assert verdict(net(measurements=11, failures=2, anomalies=9))["verdict"] == INCONCLUSIVE


def test_min_days_edge() -> None:
    assert verdict(net(anomalies=20, anomaly_days=3))["verdict"] == LIKELY
    assert verdict(net(anomalies=20, anomaly_days=2))["verdict"] == INCONCLUSIVE


def test_min_networks_where_available() -> None:
    t2 = dataclasses.replace(T, likely_min_networks=2)
    blocked = net(asn=1, anomalies=20)
    clean = net(asn=2, anomalies=0)
    thin = net(asn=3, measurements=5, anomalies=5)
    # two networks measured it enough, only one shows blocking: not enough with 2 required
    assert verdict(blocked, clean, t=t2)["verdict"] == INCONCLUSIVE
    assert verdict(blocked, net(asn=2, anomalies=15), t=t2)["verdict"] == LIKELY
    # only one network measured it enough: one is all that can be asked for
    only = verdict(blocked, thin, t=t2)
    assert only["verdict"] == LIKELY and only["blocking_asns"] == (1,)
    # with the default of one network, per-ISP blocking is likely
    per_isp = verdict(blocked, clean)
    assert per_isp["verdict"] == LIKELY and per_isp["blocking_asns"] == (1,)
    assert per_isp["networks_enough"] == 2 and per_isp["networks_likely"] == 1


def test_confirmed_by_fingerprint() -> None:
    v = verdict(net(asn=5, anomalies=1, confirmed=1), net(asn=6))
    assert v["verdict"] == CONFIRMED and v["confirmed_by"] == "fingerprint"
    assert v["blocking_asns"] == (5,)
    t2 = dataclasses.replace(T, confirmed_min_measurements=2)
    assert verdict(net(anomalies=1, confirmed=1), t=t2)["verdict"] == ACCESSIBLE
    assert verdict(net(anomalies=2, confirmed=2), t=t2)["verdict"] == CONFIRMED


def test_confirmed_by_agreement() -> None:
    v = verdict(net(asn=7, anomalies=2, agreement_days=3))
    assert v["verdict"] == CONFIRMED and v["confirmed_by"] == "agreement"
    assert v["blocking_asns"] == (7,)
    assert verdict(net(anomalies=2, agreement_days=2))["verdict"] == ACCESSIBLE
    t1 = dataclasses.replace(T, confirmed_min_agreement_days=1)
    assert verdict(net(anomalies=2, agreement_days=1), t=t1)["verdict"] == CONFIRMED
    off = dataclasses.replace(T, confirmed_min_agreement_days=0)
    assert verdict(net(anomalies=2, agreement_days=5), t=off)["verdict"] == ACCESSIBLE


def test_several_domains_sorted() -> None:
    rows = [net(domain="b.example", anomalies=20), net(domain="a.example")]
    out = judge_domains(pd.DataFrame(rows), T)
    assert list(out["domain"]) == ["a.example", "b.example"]
    assert list(out["verdict"]) == [ACCESSIBLE, LIKELY]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"likely_min_anomaly_rate": 1.5}, "from 0 to 1"),
        ({"likely_min_measurements": 0}, "1 or more"),
        ({"accessible_max_anomaly_rate": 0.6}, "must be below"),
        ({"confirmed_min_agreement_days": -1}, "0 or more"),
        ({"apps_min_anomaly_rate": 0.0}, "above 0"),
    ],
)
def test_threshold_validation(changes: dict, message: str) -> None:
    settings = dataclasses.replace(AnalysisSettings(), **changes)
    with pytest.raises(ConfigError, match=message):
        Thresholds.from_settings(settings)


def test_app_status_edges() -> None:
    assert app_status(3, 0, 2, T) == "blocked"  # 67% of 3
    assert app_status(2, 0, 2, T) == INCONCLUSIVE  # too few
    assert app_status(4, 0, 2, T) == "blocked"  # exactly 50%
    assert app_status(10, 0, 1, T) == "reachable"  # exactly 10%
    assert app_status(10, 0, 2, T) == "partly"
    assert app_status(10, 0, 4, T) == "partly"
    assert app_status(2, 0, 1, T) == INCONCLUSIVE  # 50% but too few
    assert app_status(5, 5, 0, T) == INCONCLUSIVE  # only failures
    assert app_status(1, 0, 0, T) == "reachable"
