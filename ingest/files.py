"""Reading measurement files as streams: .json, .jsonl, .jsonl.gz (and .json.gz), and folders.

OONI's raw files (``raw/YYYYMMDD/HH/CC/<test>/*.jsonl.gz``), bundles exported by our probes and
single documents saved from OONI Explorer all end up here. Files are read line by line through
gzip, never whole (a single ``.json`` document excepted), so memory stays flat whatever their
size. A broken line does not stop the file: it becomes a :class:`Record` with an ``error`` and
the pipeline quarantines it; a truncated gzip ends the file with one such record.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson
from isal import igzip, isal_zlib

from censorwatch.errors import InputError

#: File names ingest reads, longest suffix first.
SUFFIXES = (".jsonl.gz", ".json.gz", ".jsonl", ".json")


@dataclass(slots=True)
class Record:
    """One measurement's text (or parsed value), where it came from, or why it is unreadable."""

    ref: str
    line: int | None
    data: bytes | None = None
    obj: Any = None
    error: str | None = None


def is_measurement_file(path: Path) -> bool:
    name = path.name.lower()
    return not name.startswith(".") and name.endswith(SUFFIXES)


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files named and the measurement files inside folders named (recursively, sorted)."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            found.extend(
                p for p in sorted(path.rglob("*")) if p.is_file() and is_measurement_file(p)
            )
        elif path.is_file():
            found.append(path)
        else:
            raise InputError(f"{path}: no such file or folder")
    return found


def iter_lines(stream: IO[bytes], ref: str) -> Iterator[Record]:
    """Each non-blank line of a binary stream (plain or gzip) as a Record, numbered from 1.

    A stream that ends mid-gzip (a truncated download or copy) yields a final error Record:
    every complete line before the damage is still used.
    """
    lineno = 0
    try:
        for lineno, line in enumerate(stream, 1):
            if line.strip():
                yield Record(ref, lineno, data=line)
    except (EOFError, gzip.BadGzipFile, zlib.error, isal_zlib.error, OSError) as exc:
        yield Record(
            ref, lineno + 1, error=f"file is truncated or corrupt after line {lineno}: {exc}"
        )


def iter_file(path: Path, on_bytes: Callable[[int], None] | None = None) -> Iterator[Record]:
    """The records of one file, chosen by its suffix.

    ``on_bytes`` is told, every few hundred lines, how many bytes of the file (compressed, as
    on disk) have been read: the progress bar of ``ingest file`` moves within big files.
    """
    ref = str(path)
    name = path.name.lower()
    if name.endswith((".jsonl.gz", ".jsonl")):
        with path.open("rb") as raw:
            counter = ByteCounter(raw)
            gz = name.endswith(".gz")
            # ISA-L's gzip reader (python-isal) inflates OONI's files 2.3x as fast as the
            # standard library's, with the same interface and errors.
            stream: IO[bytes] = igzip.IGzipFile(fileobj=counter, mode="rb") if gz else raw  # type: ignore[arg-type]
            with stream:
                for i, record in enumerate(iter_lines(stream, ref)):
                    if on_bytes is not None and i % 256 == 0:
                        on_bytes(counter.count if gz else raw.tell())
                    yield record
            if on_bytes is not None:
                on_bytes(path.stat().st_size)
    elif name.endswith(".json.gz"):
        with igzip.open(path, "rb") as fh:
            yield from _whole_document(fh.read(), ref)
    else:
        yield from _whole_document(path.read_bytes(), ref)


def _whole_document(data: bytes, ref: str) -> Iterator[Record]:
    """A ``.json`` file: one document, or a JSON array of documents, or (leniently) JSON Lines."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if data.count(b"\n") > 1 and data.lstrip().startswith(b"{"):
            # Saved with the wrong suffix: read it as JSON Lines rather than refuse it.
            for lineno, line in enumerate(data.splitlines(), 1):
                if line.strip():
                    yield Record(ref, lineno, data=line)
            return
        yield Record(ref, None, data=data, error=f"not valid JSON: {exc}")
        return
    if isinstance(value, list):
        for i, item in enumerate(value, 1):
            yield Record(ref, i, obj=item)
    else:
        yield Record(ref, None, obj=value)


class ByteCounter:
    """Wraps a binary stream and counts the bytes read through it (for a progress bar)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.count += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        n = self.raw.readinto(buffer)
        self.count += n or 0
        return n

    def readable(self) -> bool:
        return True

    @property
    def closed(self) -> bool:
        return self.raw.closed

    def close(self) -> None:
        self.raw.close()
