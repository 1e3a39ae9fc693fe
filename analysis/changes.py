"""What changed since the previous period: newly blocked, first measured and unblocked websites.

The previous period has the same length and ends the day before this one starts (for whole
months, the same months a period earlier: 2023 is compared with 2022). Both periods are
judged by the same rules and thresholds, so a change is a change in the evidence, not in the
method. A domain is:

* **newly blocked** when it is blocked (confirmed or likely) now and was measured but not
  blocked before (accessible or inconclusive; ``previous_verdict`` says which);
* **first measured** when it is blocked now and was not measured before: nothing is known
  about the previous period, so it is never counted as newly blocked;
* **unblocked** when it was blocked before and is accessible now;
* **unclear** when it was blocked before and is now inconclusive or was not measured: the
  evidence no longer shows blocking, but does not show access either;
* **still blocked** when it is blocked in both periods.

This module is the one place where the rule lives: ``analyze --format json``, its
``changes.csv`` and the report all read the same :class:`Changes`. When the previous period
has no website measurement at all, ``previous_measured`` is False (every site blocked now is
then first measured). Without a comparison (``analyze(compare_previous=False)``) ``compared``
is False and no domain has a change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from censorwatch.analysis.period import Period
from censorwatch.analysis.verdicts import ACCESSIBLE, BLOCKED_VERDICTS

NOT_MEASURED = "not-measured"
#: ``previous_verdict`` when the previous period was not read (``compare_previous=False``).
NOT_COMPARED = "not-compared"

NEWLY_BLOCKED = "newly-blocked"
FIRST_MEASURED = "first-measured"
UNBLOCKED = "unblocked"
UNCLEAR = "unclear"
STILL_BLOCKED = "still-blocked"
COLUMNS = ["domain", "category_code", "previous_verdict", "verdict", "change"]


@dataclass
class Changes:
    previous_period: Period
    #: Every domain measured in either period with both verdicts and its ``change``
    #: (newly-blocked, first-measured, unblocked, unclear, still-blocked, or "" for no change
    #: that matters).
    table: pd.DataFrame
    #: Whether the previous period had any website measurement (a domain with a verdict).
    previous_measured: bool = True
    #: Whether the previous period was read at all (False: ``compare_previous=False``).
    compared: bool = True

    def of(self, change: str) -> pd.DataFrame:
        return self.table[self.table["change"] == change].reset_index(drop=True)

    @property
    def newly_blocked(self) -> pd.DataFrame:
        """Blocked now, measured but not blocked in the previous period."""
        return self.of(NEWLY_BLOCKED)

    @property
    def first_measured(self) -> pd.DataFrame:
        """Blocked now, not measured in the previous period (never "newly blocked")."""
        return self.of(FIRST_MEASURED)

    @property
    def unblocked(self) -> pd.DataFrame:
        return self.of(UNBLOCKED)

    @property
    def unclear(self) -> pd.DataFrame:
        return self.of(UNCLEAR)

    @property
    def still_blocked(self) -> pd.DataFrame:
        return self.of(STILL_BLOCKED)

    def to_dict(self) -> dict[str, Any]:
        def names(df: pd.DataFrame) -> list[str]:
            return [str(d) for d in df["domain"]]

        return {
            "previous_period": self.previous_period.to_dict(),
            "compared": bool(getattr(self, "compared", True)),
            "previous_measured": bool(getattr(self, "previous_measured", True)),
            "newly_blocked": names(self.newly_blocked),
            "first_measured": names(self.first_measured),
            "unblocked": names(self.unblocked),
            "unclear": names(self.unclear),
            "still_blocked": names(self.still_blocked),
        }


def classify(previous: str, current: str) -> str:
    """The change from verdict ``previous`` to ``current`` (either may be ``not-measured``)."""
    if previous == NOT_COMPARED:
        return ""
    was = previous in BLOCKED_VERDICTS
    now = current in BLOCKED_VERDICTS
    if now and previous == NOT_MEASURED:
        return FIRST_MEASURED
    if now and not was:
        return NEWLY_BLOCKED
    if now and was:
        return STILL_BLOCKED
    if was and current == ACCESSIBLE:
        return UNBLOCKED
    if was:
        return UNCLEAR
    return ""


def compare_periods(
    current: pd.DataFrame, previous: pd.DataFrame | None, previous_period: Period
) -> Changes:
    """Compare two domain tables (columns ``domain``, ``category_code``, ``verdict``; one row
    per domain measured in that period). ``previous=None``: the previous period was not read;
    every ``previous_verdict`` is then ``not-compared`` and no domain has a change."""
    compared = previous is not None
    if previous is None:
        previous = pd.DataFrame(columns=["domain", "category_code", "verdict"])
    previous_measured = compared and len(previous) > 0
    cur = current[["domain", "category_code", "verdict"]]
    prev = previous[["domain", "category_code", "verdict"]].rename(
        columns={"verdict": "previous_verdict", "category_code": "previous_category"}
    )
    df = cur.merge(prev, on="domain", how="outer", sort=True)
    df["category_code"] = df["category_code"].fillna(df["previous_category"])
    df["verdict"] = df["verdict"].fillna(NOT_MEASURED)
    df["previous_verdict"] = df["previous_verdict"].fillna(
        NOT_MEASURED if compared else NOT_COMPARED
    )
    df["change"] = [
        classify(p, c) for p, c in zip(df["previous_verdict"], df["verdict"], strict=True)
    ]
    df = df.sort_values("domain", kind="mergesort").reset_index(drop=True)
    return Changes(
        previous_period=previous_period,
        table=df[COLUMNS],
        previous_measured=previous_measured,
        compared=compared,
    )
