"""Which lists a probe run tests, and the URLs it gets from them.

For the probes and the scheduler:

* :func:`resolve_testlist_paths` ``(config) -> list[Path]``: ``testlists.paths`` when set;
  otherwise the country list (the working group's copy in ``<data_dir>/testlists/<cc>.csv``
  once they have edited it, else the list shipped with censorwatch in
  ``testlists/lists/<cc>.csv``, else a synced upstream copy) plus the global list synced into
  ``<data_dir>/testlists/upstream/global.csv``. A missing global list (offline, never synced)
  is a warning, not an error: the run tests the country list alone and says so.
* :func:`load_inputs` ``(paths, exclude_categories=(), categories=()) -> (inputs, hash)``: the
  rows of those lists as :class:`TestInput` (``.url``, ``.category_code``, ``.list_name``,
  ``.status``, ``.tags``, ...), deduplicated by URL in its normal form (the first list wins, so
  the country list's category beats the global list's), without ``retired`` entries (see the
  side file, :mod:`censorwatch.testlists.sidefile`), filtered by category; and the content hash
  that names this exact version of the lists (CSV files and side files), to be stored with the
  probe run (``probe_runs.testlist_hash``) and quoted by the report's methodology.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from censorwatch.config import Config
from censorwatch.errors import ConfigError
from censorwatch.testlists.csvformat import Testlist, content_hash, read_testlist
from censorwatch.testlists.normalise import strict_key
from censorwatch.testlists.sidefile import INACTIVE_STATUSES, load_meta

log = logging.getLogger("censorwatch.testlists")

#: Lists written by this project and shipped inside the package.
SHIPPED_LISTS_DIR = Path(__file__).with_name("lists")


def testlists_dir(config: Config) -> Path:
    """``<data_dir>/testlists``: the working group's edited copies."""
    return config.data_path / "testlists"


def upstream_dir(config: Config) -> Path:
    """``<data_dir>/testlists/upstream``: what ``testlist sync`` fetched from Citizen Lab."""
    return testlists_dir(config) / "upstream"


def shipped_list(country: str) -> Path | None:
    path = SHIPPED_LISTS_DIR / f"{country.lower()}.csv"
    return path if path.is_file() else None


def working_list(config: Config) -> Path:
    """Where the working group's copy of the country list lives (it may not exist yet)."""
    return testlists_dir(config) / f"{config.country.lower()}.csv"


def country_list(config: Config) -> tuple[Path | None, str]:
    """The country list in use and, in words, which one it is."""
    cc = config.country.lower()
    work = working_list(config)
    if work.is_file():
        return work, "the working group's copy"
    shipped = shipped_list(cc)
    if shipped is not None:
        return shipped, "shipped with censorwatch"
    synced = upstream_dir(config) / f"{cc}.csv"
    if synced.is_file():
        return synced, "synced from Citizen Lab"
    return None, "none"


def global_list(config: Config) -> Path | None:
    path = upstream_dir(config) / "global.csv"
    return path if path.is_file() else None


def describe_testlist_paths(config: Config) -> list[tuple[Path, str]]:
    """``(path, what it is)`` for each list a probe run uses."""
    if config.testlists.paths:
        described = []
        for p in config.testlists.paths:
            path = Path(p).expanduser()
            if not path.is_file():
                raise ConfigError(f"testlists.paths: {path}: no such test list")
            described.append((path, "from testlists.paths"))
        return described
    described = []
    country, what = country_list(config)
    if country is not None:
        described.append((country, f"country list ({config.country}), {what}"))
    glob = global_list(config)
    if glob is not None:
        described.append((glob, "global list, synced from Citizen Lab"))
    if not described:
        raise ConfigError(
            f"no test list for country {config.country}: run `censorwatch testlist sync` "
            "(online) or set testlists.paths"
        )
    return described


def resolve_testlist_paths(config: Config) -> list[Path]:
    """The lists a probe run uses (see the module docstring); warns when the global is absent."""
    described = describe_testlist_paths(config)
    if not config.testlists.paths and global_list(config) is None:
        log.warning(
            "the global test list is not available (%s): testing the country list only; "
            "run `censorwatch testlist sync` when online to add the global list",
            upstream_dir(config) / "global.csv",
        )
    for path, what in described:
        log.info("test list %s: %s", path, what)
    return [path for path, _ in described]


@dataclass(frozen=True, slots=True)
class TestInput:
    """One URL to test, with where it came from."""

    __test__ = False

    url: str
    category_code: str
    category_description: str
    date_added: str
    source: str
    notes: str
    #: "kh", "global", ...: the list the URL was taken from.
    list_name: str
    status: str = "active"
    tags: tuple[str, ...] = ()


def load_inputs(
    paths: Iterable[str | os.PathLike[str]],
    exclude_categories: Sequence[str] = (),
    categories: Sequence[str] = (),
) -> tuple[list[TestInput], str]:
    """The URLs to test from ``paths`` and the content hash of the lists (see module doc)."""
    exclude = {c.upper() for c in exclude_categories}
    only = {c.upper() for c in categories}
    versioned: list[Testlist] = []
    inputs: list[TestInput] = []
    seen: set[str] = set()
    for path in paths:
        tl = read_testlist(path)
        meta = load_meta(tl.path)
        versioned.append(tl)
        if meta.sha256 is not None:
            # A retired URL changes what is tested: the side file is part of the version.
            versioned.append(Testlist(path=meta.path, rows=(), sha256=meta.sha256))
        for row in tl.rows:
            status = meta.status(row.url)
            if status in INACTIVE_STATUSES:
                continue
            if row.category_code.upper() in exclude or (only and row.category_code not in only):
                continue
            key = strict_key(row.url)
            if key in seen:
                continue
            seen.add(key)
            inputs.append(
                TestInput(
                    url=row.url,
                    category_code=row.category_code,
                    category_description=row.category_description,
                    date_added=row.date_added,
                    source=row.source,
                    notes=row.notes,
                    list_name=tl.name,
                    status=status,
                    tags=tuple(meta.tags(row.url)),
                )
            )
    return inputs, content_hash(versioned)
