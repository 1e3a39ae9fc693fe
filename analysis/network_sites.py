"""Per network, the websites found blocked there: how, with which DNS answers, and when.

Blocking in Cambodia is decided per ISP: each network's resolvers have their own sinkhole,
and a website blocked on one network may be open on another. Readers of the report ask "what
does Viettel block, and how?", so the report has one block per network. This table answers
it from what the analysis already decided, never anew:

* a website is *blocked on* a network when that network is in the website's ``networks``
  (its verdict is confirmed or likely there: :mod:`censorwatch.analysis.verdicts`);
* its methods, counts and first/last anomalous day are those of the ``domain_networks`` row
  of that website and network;
* its *blocking answers* are the addresses of ``blocking_answers`` with the verdict
  ``blocking`` that this network's resolvers gave for the website's own host name (the
  ``hosts`` of the address's entry for that network), in the order of ``blocking_answers``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from censorwatch.analysis.domains import methods_of
from censorwatch.analysis.verdicts import BLOCKED_VERDICTS, CONFIRMED

NETWORK_SITE_COLUMNS = [
    "asn",
    "domain",
    "category_code",
    "verdict",
    "methods",
    "answers",
    "first_blocked",
    "last_blocked",
    "measurements",
    "anomalies",
    "confirmed",
    "anomaly_rate",
]


def answers_by_network_host(
    answers: Iterable[Mapping[str, Any]],
) -> dict[tuple[int, str], list[str]]:
    """(probe ASN, host) -> the addresses vetted ``blocking`` that network gave for it."""
    out: dict[tuple[int, str], list[str]] = {}
    for a in answers:
        if a.get("verdict") != "blocking":
            continue
        for n in a.get("networks") or ():
            for host in n.get("hosts") or ():
                ips = out.setdefault((int(n["asn"]), str(host)), [])
                if a["ip"] not in ips:
                    ips.append(str(a["ip"]))
    return out


def network_sites_table(
    domain_networks: pd.DataFrame,
    domains: pd.DataFrame,
    answers: Iterable[Mapping[str, Any]],
) -> pd.DataFrame:
    """One row per network and website blocked there (see the module docstring).

    ``domain_networks`` and ``domains`` are the analysis's own tables (days as text). Rows are
    ordered by ASN, then confirmed before likely, then by domain.
    """
    blocked = domains[domains["verdict"].isin(BLOCKED_VERDICTS)]
    if blocked.empty or domain_networks.empty:
        return pd.DataFrame(columns=NETWORK_SITE_COLUMNS)
    by_answer = answers_by_network_host(answers)
    dn = domain_networks.set_index(["domain", "probe_asn"])
    rows = []
    for d in blocked.to_dict(orient="records"):
        for asn in d["networks"]:
            key = (d["domain"], int(asn))
            if key not in dn.index:
                continue
            r = dn.loc[key].to_dict()
            rows.append(
                {
                    "asn": int(asn),
                    "domain": d["domain"],
                    "category_code": d["category_code"],
                    "verdict": d["verdict"],
                    "methods": methods_of(r),
                    "answers": tuple(by_answer.get((int(asn), d["domain"]), ())),
                    "first_blocked": r["first_anomaly"],
                    "last_blocked": r["last_anomaly"],
                    "measurements": int(r["measurements"]),
                    "anomalies": int(r["anomalies"]),
                    "confirmed": int(r[CONFIRMED]),
                    "anomaly_rate": float(r["anomaly_rate"]),
                }
            )
    if not rows:
        return pd.DataFrame(columns=NETWORK_SITE_COLUMNS)
    out = pd.DataFrame(rows, columns=NETWORK_SITE_COLUMNS)
    out["_rank"] = (out["verdict"] != CONFIRMED).astype(int)
    out = out.sort_values(["asn", "_rank", "domain"], kind="mergesort")
    return out.drop(columns="_rank").reset_index(drop=True)


__all__ = ["NETWORK_SITE_COLUMNS", "answers_by_network_host", "network_sites_table"]
