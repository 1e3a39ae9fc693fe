"""The Citizen Lab test-list CSV format: read, write (byte for byte), hash.

Format (as upstream keeps it): UTF-8 without BOM, header
``url,category_code,category_description,date_added,source,notes``, RFC 4180 quoting with
quotes only where needed, LF line endings, a final newline, ``date_added`` as ``YYYY-MM-DD``.
Reading a list and writing it back gives the same bytes, so a tool that edits one row leaves
every other row (and the upstream diff) untouched.

This module only parses and serialises; the rules of a *good* list are the linter's job.
Structural problems that make a file unreadable raise :class:`InputError` naming the file,
line and field.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

from censorwatch.errors import InputError

HEADER: tuple[str, ...] = (
    "url",
    "category_code",
    "category_description",
    "date_added",
    "source",
    "notes",
)


@dataclass(frozen=True, slots=True)
class TestlistRow:
    """One row of a test list, exactly as written (no normalisation)."""

    __test__ = False  # not a pytest class

    url: str
    category_code: str
    category_description: str
    date_added: str
    source: str
    notes: str
    #: 1-based line number in the file it was read from (0 for rows made in memory).
    line: int = 0

    def as_record(self) -> list[str]:
        return [getattr(self, name) for name in HEADER]


@dataclass(frozen=True, slots=True)
class Testlist:
    """A parsed list file: its rows, where it came from and the hash of its bytes."""

    __test__ = False

    path: Path
    rows: tuple[TestlistRow, ...]
    sha256: str

    @property
    def name(self) -> str:
        """``kh`` for ``kh.csv``: the list name the store and reports use."""
        return list_name(self.path)


def list_name(path: str | os.PathLike[str]) -> str:
    return Path(path).stem.lower()


def parse_testlist(text: str, path: str | os.PathLike[str] = "<memory>") -> list[TestlistRow]:
    """Parse CSV text; raise :class:`InputError` ``PATH:LINE: field: problem`` when unreadable."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[TestlistRow] = []
    try:
        header = next(reader, None)
        if header is None:
            raise InputError(f"{path}:1: header: the file is empty")
        if tuple(header) != HEADER:
            raise InputError(
                f"{path}:1: header: expected {','.join(HEADER)!r}, found {','.join(header)!r}"
            )
        for record in reader:
            line = reader.line_num
            if not record:
                raise InputError(f"{path}:{line}: row: empty line")
            if len(record) != len(HEADER):
                raise InputError(
                    f"{path}:{line}: row: expected {len(HEADER)} columns, found {len(record)}"
                )
            rows.append(TestlistRow(*record, line=line))
    except csv.Error as exc:
        raise InputError(f"{path}:{reader.line_num}: csv: {exc}") from None
    return rows


def read_testlist(path: str | os.PathLike[str]) -> Testlist:
    """Read and parse a list file (strict UTF-8)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise InputError(f"{p}: cannot read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(f"{p}:{line}: encoding: not UTF-8 ({exc.reason})") from None
    return Testlist(path=p, rows=tuple(parse_testlist(text, p)), sha256=sha256_bytes(data))


def format_testlist(rows: Iterable[TestlistRow]) -> str:
    """Serialise rows the way upstream files are written (minimal quoting, LF, final newline).

    This is the csv module's ``QUOTE_MINIMAL`` with one correction: a field holding a bare
    carriage return is quoted too (Python's writer only quotes the characters of its own
    line terminator, ``\\n`` here, and would write a field that reads back as a line break).
    """
    lines = [",".join(HEADER)]
    lines.extend(",".join(_quote(value) for value in row.as_record()) for row in rows)
    return "\n".join(lines) + "\n"


_NEEDS_QUOTES = re.compile(r'[,"\r\n]')


def _quote(value: str) -> str:
    if _NEEDS_QUOTES.search(value):
        return '"' + value.replace('"', '""') + '"'
    return value


def write_testlist(path: str | os.PathLike[str], rows: Iterable[TestlistRow]) -> str:
    """Write rows atomically (temporary file + rename); returns the new content hash.

    A crash mid-write leaves the old file intact: readers never see half a list.
    """
    p = Path(path)
    data = format_testlist(rows).encode("utf-8")
    atomic_write_bytes(p, data)
    return sha256_bytes(data)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that it is either all old or all new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        else:
            # mkstemp makes 0600 files; a new file gets the usual mode for the user's umask.
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def content_hash(lists: Sequence[Testlist]) -> str:
    """One hash naming the exact version of a set of lists (what a probe run or report used)."""
    digest = hashlib.sha256()
    for tl in sorted(lists, key=lambda t: t.name):
        digest.update(f"{tl.name}\0{tl.sha256}\n".encode())
    return digest.hexdigest()


assert tuple(f.name for f in fields(TestlistRow))[: len(HEADER)] == HEADER
