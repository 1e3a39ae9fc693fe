"""Malformed input is set aside, not fatal: counted, logged with file and line, kept for review.

A year of OONI data holds the odd truncated line or a document with a field of the wrong type;
one of them must not stop three million good ones from going in, nor vanish silently. Each
rejected record goes to a JSON Lines file in ``<data dir>/quarantine/`` with where it came
from, why it was refused and its text, so a person can look at it and re-ingest it once fixed
(``censorwatch ingest file`` reads the ``text`` back if it is saved as a .jsonl file).

The volunteer's address is scrubbed from quarantined text too: a malformed document may still
carry a ``probe_ip``.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

from censorwatch.measurement import SCRUBBED

log = logging.getLogger("censorwatch.ingest")

#: Longest text kept per quarantined record (a pathological 50 MB line is cut, with a mark).
MAX_TEXT = 1_000_000
_PROBE_IP_RE = re.compile(rb'"probe_ip"\s*:\s*"([^"\\]{1,64})"')


def scrub_text(data: bytes) -> bytes:
    """Remove every occurrence of the probe's IP address from a (maybe broken) JSON text."""
    for ip in {m.group(1) for m in _PROBE_IP_RE.finditer(data)}:
        if ip and ip != b"127.0.0.1":
            data = data.replace(ip, SCRUBBED.encode())
    return data


class Quarantine:
    """Collects rejected records of one run into ``directory/<name>-<timestamp>.jsonl``."""

    def __init__(self, directory: Path | None, name: str = "ingest") -> None:
        self.directory = directory
        self.name = name
        self.count = 0
        self.path: Path | None = None
        self._fh: IO[bytes] | None = None

    def add(self, ref: str, line: int | None, error: str, text: bytes | str | None) -> None:
        """Record one rejected record; ``line`` is 1-based (None for a whole document)."""
        self.count += 1
        where = f"{ref}:{line}" if line is not None else ref
        log.warning("quarantined %s: %s", where, error)
        if self.directory is None:
            return
        raw = text.encode("utf-8", "replace") if isinstance(text, str) else (text or b"")
        raw = scrub_text(raw)
        cut = len(raw) > MAX_TEXT
        entry: dict[str, Any] = {
            "ref": ref,
            "line": line,
            "error": error,
            "quarantined_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "text": raw[:MAX_TEXT].decode("utf-8", "replace"),
        }
        if cut:
            entry["truncated_from"] = len(raw)
        fh = self._open()
        fh.write(orjson.dumps(entry) + b"\n")
        fh.flush()

    def _open(self) -> IO[bytes]:
        if self._fh is None:
            assert self.directory is not None
            self.directory.mkdir(parents=True, exist_ok=True)
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            self.path = self.directory / f"{self.name}-{stamp}.jsonl"
            # Append: two runs in the same second share a file rather than overwrite it.
            self._fh = self.path.open("ab")
        return self._fh

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> Quarantine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
