"""Fetching Citizen Lab's upstream lists into the data directory, and sending ours back.

``testlist sync`` downloads, from ``testlists.upstream_url``, the country list, the global
list and the category legend into ``<data_dir>/testlists/upstream/``. Every file is checked
(it must parse as a list or a legend) before it replaces the previous copy, atomically, so a
cut connection or an HTML error page never leaves a broken list behind. Offline, sync fails
with one clear line and the lists already synced stay as they were.

``testlist export --upstream`` is the other direction: the rows of our country list that
upstream does not have yet (neither in its country list nor in the global list), written as
upstream CSV rows ready for a pull request to citizenlab/test-lists.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import requests

from censorwatch import __version__
from censorwatch.errors import CensorwatchError, InputError
from censorwatch.testlists.csvformat import (
    TestlistRow,
    atomic_write_bytes,
    parse_testlist,
    sha256_bytes,
)
from censorwatch.testlists.legend import UPSTREAM_LEGEND_NAME, parse_legend
from censorwatch.testlists.normalise import strict_key

log = logging.getLogger("censorwatch.testlists")

DEFAULT_TIMEOUT = 30.0


class SyncError(CensorwatchError):
    """Upstream could not be reached or sent something that is not a list."""


@dataclass
class SyncedFile:
    name: str
    path: Path
    #: "updated", "unchanged" or "missing upstream".
    outcome: str
    rows: int = 0
    sha256: str | None = None


def upstream_files(country: str) -> list[str]:
    return [f"{country.lower()}.csv", "global.csv", UPSTREAM_LEGEND_NAME]


def sync_upstream(
    base_url: str,
    country: str,
    target: Path,
    *,
    session: requests.Session | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[SyncedFile]:
    """Download the upstream files for ``country`` into ``target``; see the module docstring."""
    if session is None:
        with requests.Session() as own:
            return sync_upstream(base_url, country, target, session=own, timeout=timeout)
    http = session
    http.headers["User-Agent"] = f"censorwatch/{__version__}"
    results = []
    fetched: list[tuple[str, Path, bytes, int]] = []
    for name in upstream_files(country):
        url = f"{base_url.rstrip('/')}/{name}"
        path = target / name
        try:
            response = http.get(url, timeout=timeout)
        except requests.RequestException as exc:
            raise SyncError(
                f"cannot reach {url} ({type(exc).__name__}); are you online? "
                "The lists synced before are unchanged."
            ) from None
        if response.status_code == 404 and name != "global.csv":
            # Not every country has an upstream list; an old legend name may have moved.
            log.warning("upstream has no %s (%s: 404)", name, url)
            results.append(SyncedFile(name, path, "missing upstream"))
            continue
        if response.status_code != 200:
            raise SyncError(f"{url}: HTTP {response.status_code}; nothing was changed")
        data = response.content
        try:
            text = data.decode("utf-8")
            if name == UPSTREAM_LEGEND_NAME:
                count = len(parse_legend(text, url))
            else:
                count = len(parse_testlist(text, url))
        except UnicodeDecodeError:
            raise SyncError(f"{url}: not UTF-8 text; nothing was changed") from None
        except InputError as exc:
            raise SyncError(f"upstream sent a broken file: {exc}; nothing was changed") from None
        fetched.append((name, path, data, count))
    # Only once every file has been fetched and checked does anything on disk change.
    for name, path, data, count in fetched:
        old = path.read_bytes() if path.exists() else None
        if old == data:
            outcome = "unchanged"
        else:
            atomic_write_bytes(path, data)
            outcome = "updated"
        results.append(SyncedFile(name, path, outcome, count, sha256_bytes(data)))
    order = {n: i for i, n in enumerate(upstream_files(country))}
    return sorted(results, key=lambda f: order[f.name])


def local_additions(
    local: Iterable[TestlistRow],
    upstream: Sequence[TestlistRow],
    global_rows: Sequence[TestlistRow] = (),
    skip_urls: Iterable[str] = (),
) -> list[TestlistRow]:
    """Rows of ``local`` that neither the upstream country list nor the global list holds."""
    known = {strict_key(r.url) for r in upstream} | {strict_key(r.url) for r in global_rows}
    known |= {strict_key(u) for u in skip_urls}
    out = []
    for row in local:
        key = strict_key(row.url)
        if key not in known:
            known.add(key)
            out.append(row)
    return out
