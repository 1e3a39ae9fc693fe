"""``censorwatch fingerprints update``: OONI's current fingerprints, fetched safely.

OONI keeps its fingerprints in https://github.com/ooni/blocking-fingerprints as two CSV files.
An update downloads both, checks every row with the same reader that judges measurements,
and only then makes them current: each download goes into its own folder
``<data dir>/fingerprints/ooni/<date>-<hash>/`` and ``current.json`` (replaced atomically)
points at it. A failed or invalid download leaves the fingerprints in use untouched.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from censorwatch.errors import CensorwatchError, InputError
from censorwatch.fingerprint_sources import CURRENT_FILE, OONI_FILES, ooni_update_dir
from censorwatch.fingerprints import load_fingerprint_file

#: Where OONI publishes its fingerprints (raw files of the repository's main branch).
DEFAULT_URL = "https://raw.githubusercontent.com/ooni/blocking-fingerprints/main/"
TIMEOUT = 30.0
#: Refuse anything bigger: the real files are well below 1 MiB.
MAX_BYTES = 20 * 1024 * 1024


class FetchFailed(CensorwatchError):
    """The fingerprints could not be downloaded (offline, server error)."""

    exit_code = 3


@dataclass
class UpdateResult:
    url: str
    directory: Path
    sha256: str
    rows: dict[str, int]
    fetched: str
    unchanged: bool


def _fetch(url: str) -> bytes:
    import requests

    try:
        with requests.get(url, timeout=TIMEOUT, stream=True) as resp:
            if resp.status_code != 200:
                raise FetchFailed(
                    f"cannot fetch {url}: HTTP {resp.status_code}; keeping the current fingerprints"
                )
            body = bytearray()
            for chunk in resp.iter_content(65536):
                body.extend(chunk)
                if len(body) > MAX_BYTES:
                    raise FetchFailed(
                        f"{url}: larger than {MAX_BYTES} bytes; not a fingerprint file"
                    )
            return bytes(body)
    except requests.RequestException as exc:
        raise FetchFailed(
            f"cannot reach {url}: offline? keeping the current fingerprints ({type(exc).__name__})"
        ) from None


def update_ooni_fingerprints(data_dir: Path, url: str = DEFAULT_URL) -> UpdateResult:
    """Download, validate and install OONI's current fingerprint CSVs; return what was done."""
    base = url if url.endswith("/") else url + "/"
    root = ooni_update_dir(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    bodies = {stem: _fetch(f"{base}{stem}.csv") for stem in OONI_FILES}
    digest = hashlib.sha256(b"".join(bodies[s] for s in OONI_FILES)).hexdigest()
    fetched = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=root))
    try:
        rows: dict[str, int] = {}
        for stem, body in bodies.items():
            path = staging / f"{stem}.csv"
            path.write_bytes(body)
            try:
                _, loaded = load_fingerprint_file(path)
            except InputError as exc:
                # Name the file by its URL: the staging path means nothing to the user.
                raise InputError(
                    f"{base}{stem}.csv: {str(exc).replace(str(path), '').lstrip(':')}; "
                    "keeping the current fingerprints"
                ) from None
            if not loaded:
                raise InputError(f"{base}{stem}.csv: no fingerprints; keeping the current ones")
            rows[stem] = len(loaded)
        previous = _current(root)
        if previous is not None and previous.get("sha256") == digest:
            shutil.rmtree(staging, ignore_errors=True)
            return UpdateResult(base, root / previous["dir"], digest, rows, fetched, True)
        name = f"{fetched[:10]}-{digest[:12]}"
        final = root / name
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    meta: dict[str, Any] = {
        "dir": name,
        "url": base,
        "fetched": fetched,
        "sha256": digest,
        "rows": rows,
        "files": {f"{stem}.csv": hashlib.sha256(body).hexdigest() for stem, body in bodies.items()},
    }
    (final / "metadata.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    _write_atomic(root / CURRENT_FILE, json.dumps(meta, indent=2) + "\n")
    _prune(root, keep={name, (previous or {}).get("dir")})
    return UpdateResult(base, final, digest, rows, fetched, False)


def _current(root: Path) -> dict[str, Any] | None:
    try:
        meta = json.loads((root / CURRENT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and isinstance(meta.get("dir"), str) else None


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _prune(root: Path, keep: set[str | None]) -> None:
    """Keep the current download and the one before it (to go back by hand); drop the rest."""
    for child in root.iterdir():
        if child.is_dir() and child.name not in keep:
            shutil.rmtree(child, ignore_errors=True)
