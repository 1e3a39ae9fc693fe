"""Evidence: the measurements behind each blocked website, so every claim can be checked.

For each confirmed or likely domain, on the networks where it was found blocked, the
report cites the first and last anomalous measurement of the period and the first
fingerprint-confirmed one, each with a link anyone can open: OONI Explorer for OONI's
measurements (``/m/<measurement_uid>``, or ``/measurement/<report_id>?input=`` for old
measurements), the measurement uid for our own probes' (published with the report's data).
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

import pandas as pd

from censorwatch.analysis.rules import CONFIRMED
from censorwatch.measurement import SOURCE_OONI, is_derived_uid

EXPLORER = "https://explorer.ooni.org"
COLUMNS = [
    "domain",
    "role",
    "day",
    "measurement_start_time",
    "probe_asn",
    "source",
    "status",
    "input",
    "measurement_uid",
    "report_id",
    "url",
]


def explorer_url(source: str, uid: str, report_id: str | None, input_: str | None) -> str | None:
    """Where a measurement can be seen: OONI Explorer for OONI's, nothing for ours."""
    if source != SOURCE_OONI:
        return None
    if uid and not is_derived_uid(uid) and not uid.startswith("01"):
        return f"{EXPLORER}/m/{uid}"
    if report_id:
        suffix = f"?input={quote(input_, safe='')}" if input_ else ""
        return f"{EXPLORER}/measurement/{report_id}{suffix}"
    return None


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(pd.Timestamp(value).strftime("%Y-%m-%dT%H:%M:%SZ"))


def pick_evidence(
    anomalous: pd.DataFrame, domains: pd.DataFrame, agreement: pd.DataFrame | None = None
) -> pd.DataFrame:
    """First and last anomalous and first confirmed measurement per blocked domain, on its
    blocking networks (``domains`` has ``domain`` and ``networks``), and, when ``agreement``
    (cells with ``domain``, ``probe_asn`` and ``day`` where both sources observed an
    anomaly) has such days, the two measurements of the first one (role ``agreement``)."""
    rows = []
    by_domain = {d: g for d, g in anomalous.groupby("domain", sort=True)}
    agreed: dict[str, tuple[int, str]] = {}
    if agreement is not None and not agreement.empty:
        both = agreement.sort_values(["domain", "day", "probe_asn"], kind="mergesort")
        for domain, asn, day in zip(both["domain"], both["probe_asn"], both["day"], strict=True):
            agreed.setdefault(domain, (int(asn), day))
    for domain, asns in zip(domains["domain"], domains["networks"], strict=True):
        g = by_domain.get(domain)
        if g is None or not len(asns):
            continue
        g = g[g["probe_asn"].isin(asns)]
        if g.empty:
            continue
        g = g.sort_values(["measurement_start_time", "measurement_uid"], kind="mergesort")
        picks = [("first", g.iloc[0]), ("last", g.iloc[-1])]
        confirmed = g[g["status"] == CONFIRMED]
        if not confirmed.empty:
            picks.append(("confirmed", confirmed.iloc[0]))
        if domain in agreed:
            asn, day = agreed[domain]
            same = g[(g["probe_asn"] == asn) & (g["day"] == day)]
            for _source, sg in same.groupby("source", sort=True):
                picks.append(("agreement", sg.iloc[0]))
        seen = set()
        for role, r in picks:
            if r["measurement_uid"] in seen:
                continue
            seen.add(r["measurement_uid"])
            rows.append(
                {
                    "domain": domain,
                    "role": role,
                    "day": r["day"],
                    "measurement_start_time": _iso(r["measurement_start_time"]),
                    "probe_asn": int(r["probe_asn"]),
                    "source": r["source"],
                    "status": r["status"],
                    "input": r["input"],
                    "measurement_uid": r["measurement_uid"],
                    "report_id": r["report_id"],
                    "url": explorer_url(
                        r["source"], r["measurement_uid"], r["report_id"], r["input"]
                    ),
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)
