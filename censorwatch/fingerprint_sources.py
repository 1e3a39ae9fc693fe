"""Which fingerprint sets judge the measurements, where each comes from, and their hashes.

A verdict is only as good as the fingerprints it was judged with, so every loaded set is
described the same way wherever it shows (``censorwatch fingerprints list``, the analysis'
``method.fingerprints`` and the report's methodology): its name, where it came from, how many
rows it holds, a SHA-256 hash of its content and its date. The hash over all loaded sets is
kept on every judged row (``verdict_fingerprints_hash``), so ``censorwatch rejudge`` can find
the rows that older sets judged.

The sets, in the order they load:

``censorwatch``
    the project's own fingerprints (``censorwatch/data/fingerprints/censorwatch.json``);
``ooni``
    OONI's fingerprints: the snapshot shipped with the package
    (``censorwatch/data/fingerprints/ooni/``, BSD-3-Clause, see its ATTRIBUTION.md) or, once
    ``censorwatch fingerprints update`` has run, the set it downloaded into the data directory.
    ``[verdict] ooni_fingerprints = false`` leaves it out;
``file:<name>``
    each file listed in ``[verdict] fingerprint_files``;
``local``
    the working group's decisions on DNS answer addresses (``censorwatch fingerprints
    accept/reject``, table ``answer_decisions``), loaded when the caller gives the store
    (:func:`censorwatch.fingerprints.fingerprints_from_config`): one row per decided address,
    the latest decision counting (accepted: ``local.<cc>_dns_sinkhole_<ip>``, scope ``nat``
    or, with a network, ``isp``; rejected: ``local.<cc>_dns_fp_<ip>``, scope ``fp``). Its
    source is ``answer_decisions in <store>`` (a SQLite file by name only, a server without
    user or password), its hash a SHA-256 of its rows, its date the latest decision's. With no
    decision the set is absent, not empty, so the combined hash is the one without it.
    Built by :func:`censorwatch.answer_decisions.local_source`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from censorwatch.errors import InputError
from censorwatch.fingerprints import Fingerprint, load_fingerprint_file, own_fingerprint_path

OONI_SNAPSHOT_PACKAGE = "censorwatch.data.fingerprints.ooni"
OONI_FILES = ("fingerprints_dns", "fingerprints_http")
#: The pointer to the current downloaded set, inside ``<data dir>/fingerprints/ooni/``.
CURRENT_FILE = "current.json"


@dataclass(frozen=True)
class FingerprintSource:
    """One loaded set of fingerprints and its provenance."""

    name: str
    #: A path or URL: where the rows came from.
    source: str
    hash: str
    date: str | None
    fingerprints: tuple[Fingerprint, ...]

    @property
    def rows(self) -> int:
        return len(self.fingerprints)

    def describe(self) -> dict[str, Any]:
        """The JSON form (``method.fingerprints``, ``fingerprints list --json``)."""
        return {
            "name": self.name,
            "source": self.source,
            "rows": self.rows,
            "hash": self.hash,
            "date": self.date,
        }


def combined_hash(sources: Iterable[Mapping[str, Any]]) -> str:
    """One SHA-256 over the name and hash of every set, in load order."""
    digest = hashlib.sha256()
    for s in sources:
        digest.update(f"{s['name']}\0{s['hash']}\n".encode())
    return digest.hexdigest()


def _sha256_files(paths: Sequence[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _load_files(
    name: str, source: str, paths: Sequence[Path], date: str | None
) -> FingerprintSource:
    rows: list[Fingerprint] = []
    for path in paths:
        rows.extend(load_fingerprint_file(path)[1])
    return FingerprintSource(name, source, _sha256_files(paths), date, tuple(rows))


def own_source() -> FingerprintSource:
    """The project's own set."""
    from censorwatch import __version__

    path = own_fingerprint_path()
    version, _ = load_fingerprint_file(path)
    # Named by the package, not by its path: an install's path can hold the user's login
    # name, and the source is printed in the published report.
    source = f"censorwatch {__version__} package data (censorwatch/data/fingerprints/{path.name})"
    return _load_files("censorwatch", source, [path], version)


def ooni_snapshot_dir() -> Path:
    return Path(str(resources.files(OONI_SNAPSHOT_PACKAGE)))


def ooni_snapshot_source() -> FingerprintSource:
    """OONI's fingerprints as shipped with the package (source and date in metadata.json)."""
    base = ooni_snapshot_dir()
    meta = json.loads((base / "metadata.json").read_text(encoding="utf-8"))
    paths = [base / f"{stem}.json" for stem in OONI_FILES]
    return _load_files(
        "ooni", f"{meta['source']} (snapshot shipped with censorwatch)", paths, meta.get("date")
    )


def ooni_update_dir(data_dir: Path) -> Path:
    """Where ``censorwatch fingerprints update`` keeps the sets it downloads."""
    return Path(data_dir) / "fingerprints" / "ooni"


def downloaded_ooni_meta(data_dir: Path) -> dict[str, Any] | None:
    """The metadata of the downloaded set in use, or None when there is none."""
    pointer = ooni_update_dir(data_dir) / CURRENT_FILE
    if not pointer.is_file():
        return None
    try:
        meta = json.loads(pointer.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(
            f"{pointer}: unreadable ({exc}); run 'censorwatch fingerprints update' "
            "again or delete the file to use the shipped snapshot"
        ) from None
    if not isinstance(meta, dict) or not isinstance(meta.get("dir"), str):
        raise InputError(f"{pointer}: no 'dir' key; delete the file to use the shipped snapshot")
    return meta


def ooni_downloaded_source(data_dir: Path, meta: Mapping[str, Any]) -> FingerprintSource:
    base = ooni_update_dir(data_dir) / str(meta["dir"])
    paths = [base / f"{stem}.csv" for stem in OONI_FILES]
    source = str(meta.get("url") or shown_path(base))
    return _load_files("ooni", source, paths, meta.get("fetched"))


def shown_path(path: Path) -> str:
    """A path as the report and the JSON show it: the home directory as ``~``, so the
    user's login name is not published with the methodology."""
    try:
        return "~/" + Path(path).resolve().relative_to(Path.home().resolve()).as_posix()
    except (ValueError, RuntimeError, OSError):
        return str(path)


def file_source(path: str | Path) -> FingerprintSource:
    p = Path(path)
    version, _ = load_fingerprint_file(p)
    date = version
    if date is None:
        import datetime as dt

        date = dt.datetime.fromtimestamp(p.stat().st_mtime, dt.UTC).strftime("%Y-%m-%d")
    return _load_files(f"file:{p.name}", shown_path(p), [p], date)


def configured_sources(cfg: Any) -> list[FingerprintSource]:
    """Every set the configuration asks for, in load order (see the module's docstring)."""
    verdict = getattr(cfg, "verdict", None)
    sources = [own_source()]
    if getattr(verdict, "ooni_fingerprints", True):
        data_dir = getattr(cfg, "data_path", None)
        meta = downloaded_ooni_meta(data_dir) if data_dir is not None else None
        if meta is not None:
            sources.append(ooni_downloaded_source(data_dir, meta))
        else:
            sources.append(ooni_snapshot_source())
    for path in list(getattr(verdict, "fingerprint_files", []) or []):
        sources.append(file_source(path))
    return sources
