"""Instant messaging and circumvention apps: reachable or not, per network and month.

Most app measurements come from OONI's API already judged (``anomaly``/``failure`` flags),
and the SQL rule counts them. Raw OONI documents carry no flags; for them
:func:`judge_app_document` reads the test keys the way OONI's fastpath scores each test
(OONI spec ts-018 WhatsApp, ts-020 Telegram, ts-029 Signal, ts-019 Facebook Messenger,
ts-023 Tor, ts-015 Psiphon; anomaly when the blocking score is above 0.5, failure when the
measurement cannot be trusted):

* **whatsapp**: an anomaly when the request to ``https://web.whatsapp.com/`` or to the
  registration server ``https://v.whatsapp.net/v2/register`` failed, or when no WhatsApp
  endpoint accepted a TCP connection; a failure when those requests are missing;
* **telegram**: score = share of unreachable data-centre endpoints + share of failed HTTP
  requests to them (0.5 each when unknown) + 1 when Telegram Web is "blocked"; an anomaly
  above 0.5;
* **signal**: an anomaly when ``signal_backend_status`` is "blocked", OK when "ok", else a
  failure;
* **facebook_messenger**: 0.5 per endpoint whose DNS answer was inconsistent or that was
  unreachable, 0.5 each for ``facebook_tcp_blocking`` and ``facebook_dns_blocking``; an
  anomaly above 0.5;
* **tor**: the share of targets (directory authorities, bridges) that failed among those
  that ran; an anomaly above 0.5, a failure when none ran;
* **psiphon**: an anomaly when ``failure`` is set (bootstrap or use failed); a failure when
  there is neither a failure nor a bootstrap time.

Any ``*_failure`` key starting with ``unknown_failure`` makes the measurement a failure, as
in OONI's pipeline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC
from typing import Any

import pandas as pd

from censorwatch.analysis.load import UnjudgedApp
from censorwatch.analysis.period import Period
from censorwatch.analysis.rules import ANOMALY, APP_TESTS, CONFIRMED, FAILURE, OK
from censorwatch.analysis.verdicts import Thresholds, app_status
from censorwatch.store.codec import decode_document

APP_COLUMNS = [
    "test_name",
    "probe_asn",
    "network_name",
    "month",
    "measurements",
    "ok",
    "anomalies",
    "failures",
    "anomaly_rate",
    "status",
]


def _tk(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    tk = doc.get("test_keys")
    return tk if isinstance(tk, Mapping) else {}


def _unknown_failure(tk: Mapping[str, Any]) -> bool:
    return any(
        k.endswith("_failure") and isinstance(v, str) and v.startswith("unknown_failure")
        for k, v in tk.items()
    )


def _tcp_connect_counts(tk: Mapping[str, Any]) -> tuple[int, int]:
    ok = bad = 0
    for entry in tk.get("tcp_connect") or ():
        status = entry.get("status") if isinstance(entry, Mapping) else None
        success = status.get("success") if isinstance(status, Mapping) else None
        if success is True:
            ok += 1
        elif success is False:
            bad += 1
    return ok, bad


def _whatsapp(tk: Mapping[str, Any]) -> str:
    web = registration = None
    for req in tk.get("requests") or ():
        if not isinstance(req, Mapping):
            continue
        url = (req.get("request") or {}).get("url", "")
        if url == "https://web.whatsapp.com/":
            web = req.get("failure") in (None, "", False)
        elif url == "https://v.whatsapp.net/v2/register":
            registration = req.get("failure") is None
    if web is None or registration is None:
        return FAILURE
    if not (web and registration):
        return ANOMALY
    ok, bad = _tcp_connect_counts(tk)
    if ok == 0 and bad == 0:
        return FAILURE
    return OK if ok > 0 else ANOMALY


def _telegram(tk: Mapping[str, Any]) -> str:
    ok, bad = _tcp_connect_counts(tk)
    http_ok = http_bad = 0
    for req in tk.get("requests") or ():
        if not isinstance(req, Mapping):
            continue
        url = (req.get("request") or {}).get("url")
        if url is None:
            return FAILURE
        if url in ("https://web.telegram.org/", "http://web.telegram.org/"):
            continue
        if req.get("failure") is None:
            http_ok += 1
        else:
            http_bad += 1
    score = bad / (ok + bad) if ok + bad else 0.5
    score += http_bad / (http_ok + http_bad) if http_ok + http_bad else 0.5
    if tk.get("telegram_web_status") == "blocked":
        score += 1
    return ANOMALY if score > 0.5 else OK


def _signal(tk: Mapping[str, Any]) -> str:
    status = tk.get("signal_backend_status")
    if status == "ok":
        return OK
    if status == "blocked":
        return ANOMALY
    return FAILURE


_FB_CONSISTENCY = (
    "facebook_b_api_dns_consistent",
    "facebook_b_api_reachable",
    "facebook_b_graph_dns_consistent",
    "facebook_b_graph_reachable",
    "facebook_edge_dns_consistent",
    "facebook_edge_reachable",
    "facebook_external_cdn_dns_consistent",
    "facebook_external_cdn_reachable",
    "facebook_scontent_cdn_dns_consistent",
    "facebook_scontent_cdn_reachable",
    "facebook_star_dns_consistent",
    "facebook_star_reachable",
    "facebook_stun_dns_consistent",
)


def _facebook_messenger(tk: Mapping[str, Any]) -> str:
    score = 0.5 * sum(1 for k in _FB_CONSISTENCY if tk.get(k) is False)
    score += 0.5 * sum(1 for k in ("facebook_tcp_blocking", "facebook_dns_blocking") if tk.get(k))
    return ANOMALY if score > 0.5 else OK


def _tor(tk: Mapping[str, Any]) -> str:
    targets = tk.get("targets")
    if not isinstance(targets, Mapping) or not targets:
        return FAILURE
    blocked = success = 0
    for target in targets.values():
        if not isinstance(target, Mapping) or "failure" not in target:
            return FAILURE
        failure = target["failure"]
        if failure is False:
            continue  # did not run
        if failure is None:
            success += 1
        else:
            blocked += 1
    if blocked + success == 0:
        return FAILURE
    return ANOMALY if blocked / (blocked + success) > 0.5 else OK


def _psiphon(tk: Mapping[str, Any]) -> str:
    if tk.get("failure") is not None:
        return ANOMALY
    return OK if tk.get("bootstrap_time") else FAILURE


_JUDGES = {
    "whatsapp": _whatsapp,
    "telegram": _telegram,
    "signal": _signal,
    "facebook_messenger": _facebook_messenger,
    "tor": _tor,
    "psiphon": _psiphon,
}


def judge_app_document(test_name: str, doc: Mapping[str, Any] | None) -> str:
    """``ok``, ``anomaly`` or ``failure`` for one app measurement document."""
    if test_name not in _JUDGES or not isinstance(doc, Mapping):
        return FAILURE
    tk = _tk(doc)
    if not tk or _unknown_failure(tk):
        return FAILURE
    return _JUDGES[test_name](tk)


def judged_app_cells(rows: Iterable[UnjudgedApp], period: Period) -> pd.DataFrame:
    """Cells (like :func:`load_cells`'s) for app measurements judged here from documents,
    one per test, network and local day (``day``, for the networks' days measured; every
    other use sums them by ``month``)."""
    counts: dict[tuple[str, int, str, str], dict[str, int]] = {}
    zone = period.zone
    for row in rows:
        doc = decode_document(row.document) if row.document else None
        status = judge_app_document(row.test_name, doc)
        local = row.measurement_start_time.replace(tzinfo=UTC).astimezone(zone)
        day = local.strftime("%Y-%m-%d")
        key = (row.test_name, row.probe_asn, day[:7], day)
        cell = counts.setdefault(key, {"measurements": 0, OK: 0, ANOMALY: 0, FAILURE: 0})
        cell["measurements"] += 1
        cell[status] += 1
    records = [
        {"test_name": t, "probe_asn": a, "month": m, "day": d, CONFIRMED: 0, **c}
        for (t, a, m, d), c in sorted(counts.items())
    ]
    return pd.DataFrame(
        records,
        columns=[
            "test_name",
            "probe_asn",
            "month",
            "day",
            "measurements",
            OK,
            ANOMALY,
            CONFIRMED,
            FAILURE,
        ],
    )


def app_table(
    cells: pd.DataFrame,
    judged_here: pd.DataFrame,
    names: dict[int, str],
    t: Thresholds,
    *,
    by_month: bool = True,
) -> pd.DataFrame:
    """Per app, network and month (or, with ``by_month=False``, per app and network over the
    whole period, with ``month`` empty): counts and ``status`` (reachable / blocked / partly /
    inconclusive, see :func:`app_status`)."""
    cols = ["test_name", "probe_asn", "month", "measurements", OK, ANOMALY, CONFIRMED, FAILURE]
    parts = [cells.loc[cells["test_name"].isin(APP_TESTS), cols]]
    if not judged_here.empty:
        parts.append(judged_here[cols])
    df = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].copy()
    if df.empty:
        return pd.DataFrame(columns=APP_COLUMNS)
    if not by_month:
        df = df.assign(month="")
    df = df.groupby(["test_name", "probe_asn", "month"], as_index=False, sort=True)[
        ["measurements", OK, ANOMALY, CONFIRMED, FAILURE]
    ].sum()
    df["anomalies"] = df[ANOMALY] + df[CONFIRMED]
    df = df.rename(columns={FAILURE: "failures"})
    judged = (df["measurements"] - df["failures"]).where(lambda s: s > 0)
    df["anomaly_rate"] = (df["anomalies"] / judged).fillna(0.0)
    df["status"] = [
        app_status(int(n), int(f), int(a), t)
        for n, f, a in zip(df["measurements"], df["failures"], df["anomalies"], strict=True)
    ]
    df["network_name"] = [names.get(int(a), f"AS{int(a)}") for a in df["probe_asn"]]
    order = {name: i for i, name in enumerate(APP_TESTS)}
    df["_o"] = df["test_name"].map(lambda n: order.get(n, len(order)))
    df = df.sort_values(["_o", "test_name", "probe_asn", "month"], kind="mergesort")
    return df[APP_COLUMNS].reset_index(drop=True)
