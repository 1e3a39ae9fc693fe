"""The Citizen Lab category legend: the 31 category codes and their names.

A test-list row carries both a code (``NEWS``) and its name (``News Media``); upstream's lint
insists that the name is exactly the legend's, so the legend is part of the format. We ship our
own legend file (``legend.csv``: ``code,name,description``): the codes and names are facts of
the format, the descriptions are written by this project. :func:`load_legend` also reads
upstream's ``00-LEGEND-new_category_codes.csv`` (for instance a freshly synced one), so a new
upstream code can be used before censorwatch ships it.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from censorwatch.errors import InputError

SHIPPED_LEGEND = Path(__file__).with_name("legend.csv")
#: The upstream file name of the legend, as published in citizenlab/test-lists/lists/.
UPSTREAM_LEGEND_NAME = "00-LEGEND-new_category_codes.csv"


@dataclass(frozen=True, slots=True)
class Category:
    """One category: ``code`` (``HUMR``), ``name`` (``Human Rights Issues``), a description."""

    code: str
    name: str
    description: str


Legend = dict[str, Category]


def load_legend(path: str | os.PathLike[str] | None = None) -> Legend:
    """Read a legend file, ours or upstream's (told apart by the header); default: ours."""
    p = Path(path) if path is not None else SHIPPED_LEGEND
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: cannot read the category legend: {exc}") from None
    return parse_legend(text, p)


def parse_legend(text: str, path: str | os.PathLike[str] = "<legend>") -> Legend:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    fields = reader.fieldnames or []
    if {"code", "name"} <= set(fields):
        code_key, name_key, desc_key = "code", "name", "description"
    elif {"New Code", "Category Description"} <= set(fields):
        code_key, name_key, desc_key = "New Code", "Category Description", "Description"
    else:
        raise InputError(f"{path}:1: header: not a category legend (found {fields!r})")
    legend: Legend = {}
    for record in reader:
        code = (record.get(code_key) or "").strip()
        name = record.get(name_key) or ""
        if not code or not name:
            raise InputError(f"{path}:{reader.line_num}: row: a category needs a code and a name")
        legend[code] = Category(code, name, (record.get(desc_key) or "").strip())
    if not legend:
        raise InputError(f"{path}: the category legend is empty")
    return legend


@cache
def default_legend() -> Legend:
    """The shipped legend (read once)."""
    return load_legend(SHIPPED_LEGEND)


def category_name(code: str, legend: Legend | None = None) -> str:
    """The name that goes into ``category_description`` for ``code``; InputError if unknown."""
    legend = legend or default_legend()
    try:
        return legend[code].name
    except KeyError:
        known = ", ".join(sorted(legend))
        raise InputError(f"unknown category code {code!r} (known codes: {known})") from None
