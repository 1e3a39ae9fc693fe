"""Small pandas helpers that keep the analysis on pandas' vectorised paths.

pandas groups text columns' ``min``/``max`` in pure Python (one call per group), which on a
year of cells costs minutes. Days are therefore kept as ``datetime64`` while aggregating and
turned back into ``YYYY-MM-DD`` text only for the final tables, and text columns are reduced
through their integer codes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def to_days(values: Any) -> pd.Series:
    """``YYYY-MM-DD`` text (or None) -> ``datetime64`` (NaT for missing)."""
    return pd.to_datetime(pd.Series(values, dtype=object), format="%Y-%m-%d", errors="coerce")


def day_text(values: pd.Series) -> pd.Series:
    """``datetime64`` -> ``YYYY-MM-DD`` text, None for NaT (object dtype)."""
    s = pd.to_datetime(values)
    out = s.dt.strftime("%Y-%m-%d").astype(object)
    return out.where(s.notna(), None)


def max_text(df: pd.DataFrame, keys: list[str], column: str) -> pd.Series:
    """Per group of ``keys``, the greatest non-missing text of ``column`` (None if none)."""
    codes, uniques = pd.factorize(df[column], sort=True)
    grouped = pd.Series(codes, index=df.index).groupby([df[k] for k in keys], sort=True).max()
    labels = np.asarray(uniques, dtype=object)
    return grouped.map(lambda c: labels[c] if c >= 0 else None)


def count_distinct(df: pd.DataFrame, keys: list[str], column: str) -> pd.Series:
    """Per group of ``keys``, the number of distinct non-missing values of ``column``."""
    sub = df.loc[df[column].notna(), [*keys, column]].drop_duplicates()
    return sub.groupby(keys, sort=True).size()
