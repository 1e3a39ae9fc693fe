"""What changed since the previous period: newly blocked and unblocked websites.

The previous period has the same length and ends the day before this one starts (for whole
months, the same months a period earlier: 2023 is compared with 2022). Both periods are
judged by the same rules and thresholds, so a change is a change in the evidence, not in the
method. A domain is:

* **newly blocked** when it is blocked (confirmed or likely) now and was not before
  (including when it was not measured before; ``previous_verdict`` says which);
* **unblocked** when it was blocked before and is accessible now;
* **unclear** when it was blocked before and is now inconclusive or was not measured: the
  evidence no longer shows blocking, but does not show access either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from censorwatch.analysis.period import Period
from censorwatch.analysis.verdicts import ACCESSIBLE, BLOCKED_VERDICTS

NOT_MEASURED = "not-measured"
COLUMNS = ["domain", "category_code", "previous_verdict", "verdict", "change"]


@dataclass
class Changes:
    previous_period: Period
    #: Every domain measured in either period with both verdicts and its ``change``
    #: (newly-blocked, unblocked, unclear, still-blocked, or "" for no change that matters).
    table: pd.DataFrame

    def of(self, change: str) -> pd.DataFrame:
        return self.table[self.table["change"] == change].reset_index(drop=True)

    @property
    def newly_blocked(self) -> pd.DataFrame:
        return self.of("newly-blocked")

    @property
    def unblocked(self) -> pd.DataFrame:
        return self.of("unblocked")

    @property
    def unclear(self) -> pd.DataFrame:
        return self.of("unclear")

    @property
    def still_blocked(self) -> pd.DataFrame:
        return self.of("still-blocked")

    def to_dict(self) -> dict[str, Any]:
        def names(df: pd.DataFrame) -> list[str]:
            return [str(d) for d in df["domain"]]

        return {
            "previous_period": self.previous_period.to_dict(),
            "newly_blocked": names(self.newly_blocked),
            "unblocked": names(self.unblocked),
            "unclear": names(self.unclear),
            "still_blocked": names(self.still_blocked),
        }


def _change(previous: str, current: str) -> str:
    was = previous in BLOCKED_VERDICTS
    now = current in BLOCKED_VERDICTS
    if now and not was:
        return "newly-blocked"
    if now and was:
        return "still-blocked"
    if was and current == ACCESSIBLE:
        return "unblocked"
    if was:
        return "unclear"
    return ""


def compare_periods(
    current: pd.DataFrame, previous: pd.DataFrame, previous_period: Period
) -> Changes:
    """Compare two domain tables (columns ``domain``, ``category_code``, ``verdict``)."""
    cur = current[["domain", "category_code", "verdict"]]
    prev = previous[["domain", "category_code", "verdict"]].rename(
        columns={"verdict": "previous_verdict", "category_code": "previous_category"}
    )
    df = cur.merge(prev, on="domain", how="outer", sort=True)
    df["category_code"] = df["category_code"].fillna(df["previous_category"])
    df["verdict"] = df["verdict"].fillna(NOT_MEASURED)
    df["previous_verdict"] = df["previous_verdict"].fillna(NOT_MEASURED)
    df["change"] = [
        _change(p, c) for p, c in zip(df["previous_verdict"], df["verdict"], strict=True)
    ]
    df = df.sort_values("domain", kind="mergesort").reset_index(drop=True)
    return Changes(previous_period=previous_period, table=df[COLUMNS])
