"""Agreement between our own probes and OONI on the same URL, network and local day.

Two independent instruments seeing the same thing is strong evidence, and seeing different
things is worth a look (a probe misconfigured, or blocking that changed during the day). A
*comparable cell* is one URL on one network on one local day that both sources measured
with at least one judged (non-failure) measurement each. In a cell each source says
``blocked`` when at least half of its judged measurements are anomalous, otherwise
``accessible``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from censorwatch.analysis.frames import count_distinct

BLOCKED = "blocked"
ACCESSIBLE = "accessible"

CELL_COLUMNS = [
    "input",
    "domain",
    "probe_asn",
    "day",
    "ours_n",
    "ours_judged",
    "ours_anomalies",
    "theirs_n",
    "theirs_judged",
    "theirs_anomalies",
    "ours",
    "theirs",
    "agree",
]


@dataclass
class Agreement:
    """How often our probes and OONI agreed on comparable cells."""

    cells: int
    both_blocked: int
    both_accessible: int
    only_ours_blocked: int
    only_theirs_blocked: int
    #: Share of comparable cells where both said the same (None when there were none).
    rate: float | None
    #: One row per comparable cell (see :data:`CELL_COLUMNS`).
    table: pd.DataFrame
    #: Per domain: cells, both_blocked, both_accessible, only_ours_blocked, only_theirs_blocked.
    by_domain: pd.DataFrame

    def to_dict(self) -> dict[str, Any]:
        return {
            "cells": self.cells,
            "both_blocked": self.both_blocked,
            "both_accessible": self.both_accessible,
            "only_ours_blocked": self.only_ours_blocked,
            "only_theirs_blocked": self.only_theirs_blocked,
            "rate": self.rate,
        }


def _says(anomalies: pd.Series, judged: pd.Series) -> pd.Series:
    return (anomalies * 2 >= judged).map({True: BLOCKED, False: ACCESSIBLE})


def compare_sources(cells: pd.DataFrame) -> Agreement:
    """Judge each comparable cell from :func:`load_agreement_cells`'s table."""
    df = cells[(cells["ours_judged"] > 0) & (cells["theirs_judged"] > 0)].copy()
    if df.empty:
        empty_domains = pd.DataFrame(
            columns=[
                "domain",
                "cells",
                "both_blocked",
                "both_accessible",
                "only_ours_blocked",
                "only_theirs_blocked",
            ]
        )
        return Agreement(0, 0, 0, 0, 0, None, pd.DataFrame(columns=CELL_COLUMNS), empty_domains)
    df["ours"] = _says(df["ours_anomalies"], df["ours_judged"])
    df["theirs"] = _says(df["theirs_anomalies"], df["theirs_judged"])
    df["agree"] = df["ours"] == df["theirs"]
    df = df.sort_values(["input", "probe_asn", "day"], kind="mergesort").reset_index(drop=True)
    df["both_blocked"] = (df["ours"] == BLOCKED) & (df["theirs"] == BLOCKED)
    df["both_accessible"] = (df["ours"] == ACCESSIBLE) & (df["theirs"] == ACCESSIBLE)
    df["only_ours_blocked"] = (df["ours"] == BLOCKED) & (df["theirs"] == ACCESSIBLE)
    df["only_theirs_blocked"] = (df["ours"] == ACCESSIBLE) & (df["theirs"] == BLOCKED)
    flags = ["both_blocked", "both_accessible", "only_ours_blocked", "only_theirs_blocked"]
    by_domain = df.groupby("domain", as_index=False, sort=True).agg(
        cells=("agree", "size"), **{f: (f, "sum") for f in flags}
    )
    by_domain[flags] = by_domain[flags].astype("int64")
    n = len(df)
    return Agreement(
        cells=n,
        both_blocked=int(df["both_blocked"].sum()),
        both_accessible=int(df["both_accessible"].sum()),
        only_ours_blocked=int(df["only_ours_blocked"].sum()),
        only_theirs_blocked=int(df["only_theirs_blocked"].sum()),
        rate=float(df["agree"].sum()) / n,
        table=df[CELL_COLUMNS],
        by_domain=by_domain,
    )


def agreement_days(agreement: Agreement) -> pd.DataFrame:
    """Per domain and network: distinct local days on which both sources saw blocking."""
    t = agreement.table
    if t.empty:
        return pd.DataFrame(columns=["domain", "probe_asn", "agreement_days"])
    both = t[(t["ours"] == BLOCKED) & (t["theirs"] == BLOCKED)]
    out = count_distinct(both, ["domain", "probe_asn"], "day").rename("agreement_days")
    return out.reset_index()


def both_anomalous_cells(anomalous_days: pd.DataFrame, ours: str, theirs: str) -> pd.DataFrame:
    """URL, domain, network and local day cells where both sources observed an anomaly of
    the same blocking method (coincidences of unrelated network trouble rarely share one)."""
    cell = ["input", "domain", "probe_asn", "day"]
    if anomalous_days.empty:
        return pd.DataFrame(columns=cell)
    known = anomalous_days[anomalous_days["method"].notna()]
    a = known.loc[known["source"] == ours, [*cell, "method"]].drop_duplicates()
    b = known.loc[known["source"] == theirs, [*cell, "method"]].drop_duplicates()
    out = a.merge(b, on=[*cell, "method"], how="inner")[cell].drop_duplicates()
    return out.sort_values(["domain", "day", "probe_asn", "input"], kind="mergesort")


def both_anomalous_days(anomalous_days: pd.DataFrame, ours: str, theirs: str) -> pd.DataFrame:
    """Per domain and network: distinct local days on which both sources observed an anomaly
    of the same method for the same URL (the "our probe and OONI agree" evidence of a
    confirmed verdict)."""
    keys = ["domain", "probe_asn"]
    both = both_anomalous_cells(anomalous_days, ours, theirs)
    if both.empty:
        return pd.DataFrame(columns=[*keys, "agreement_days"])
    return count_distinct(both, keys, "day").rename("agreement_days").reset_index()
