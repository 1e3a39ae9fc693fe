"""The linter: every rule of upstream Citizen Lab's lint, plus the warnings upstream lacks.

Each problem is an :class:`Issue` printed as ``PATH:LINE: rule: message`` (warnings' messages
start with ``warning:``). Errors are the rules of upstream's ``lint-lists`` (``Invalid Header``,
``Invalid Column Number``, ``Invalid URL``, ``Invalid Category Code``, ``Invalid Category
Description``, ``Invalid Date``, ``Invalid Notes``, ``Invalid Source``, ``Duplicate URL``,
``Duplicate URL between Local List and Global List``), the file format itself (UTF-8, LF, final
newline) and the normal form of URLs. Warnings are what upstream misses and a country team
still wants to know (near-duplicates, odd dates, empty sources, blank notes, sites the global
list already tests, upstream mojibake, order); ``--strict`` makes them errors.

:data:`RULES` is the catalogue (name, severity, upstream name, what it means), also printed by
``censorwatch testlist lint --rules`` and explained in docs/testlists.md.

The linter never raises on bad content: an unreadable file is itself an issue. ``--fix``
(:func:`fix_file`) rewrites only what has one right answer (the URL's normal form, the category
description, exact duplicate rows, the file format, upstream's order) and writes atomically.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from censorwatch.testlists.csvformat import (
    HEADER,
    TestlistRow,
    format_testlist,
    list_name,
    write_testlist,
)
from censorwatch.testlists.legend import Legend, default_legend
from censorwatch.testlists.normalise import (
    BAD_CHARS,
    is_homepage,
    loose_key,
    normalise_url,
    site_key,
    strict_key,
    upstream_sort_key,
    url_problems,
    variant_kind,
)

ERROR, WARNING = "error", "warning"
#: Upstream Citizen Lab lists start in 2014; an older date_added is almost surely a typo.
EARLIEST_DATE = dt.date(2014, 1, 1)
#: Keys upstream allows in a JSON ``notes`` value.
NOTES_JSON_KEYS = frozenset({"notes"})


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    severity: str
    #: The upstream lint error this rule reproduces ("" when the rule is ours).
    upstream: str
    summary: str
    fixable: bool = False


RULES: dict[str, Rule] = {
    r.name: r
    for r in (
        Rule("encoding", ERROR, "", "the file is not UTF-8 (or starts with a byte-order mark)"),
        Rule(
            "file-format",
            ERROR,
            "",
            "written as upstream writes lists: LF line endings, a final newline, quotes only "
            "where needed",
            fixable=True,
        ),
        Rule("csv", ERROR, "", "the CSV quoting is broken (an unclosed quote, a stray quote)"),
        Rule(
            "header",
            ERROR,
            "Invalid Header",
            "the first line must be url,category_code,category_description,date_added,source,notes",
        ),
        Rule("column-count", ERROR, "Invalid Column Number", "every row has exactly 6 columns"),
        Rule(
            "url-syntax",
            ERROR,
            "Invalid URL (No match)",
            "the URL must be http(s)://host[:port][/path][?query] with a DNS name in ASCII "
            "(punycode) or an IPv4 address, without user or password",
        ),
        Rule("url-scheme", ERROR, "Invalid URL (No match)", "the scheme must be http or https"),
        Rule(
            "url-bad-chars",
            ERROR,
            "Invalid URL (Bad chars)",
            "no carriage return, newline, tab or backslash in a URL",
        ),
        Rule(
            "url-whitespace",
            ERROR,
            "Invalid URL (Extra spaces at ends)",
            "no whitespace in a URL, neither inside nor at the ends",
            fixable=True,
        ),
        Rule(
            "url-trailing-slash",
            ERROR,
            "Invalid URL (No trailing slash)",
            "a bare domain ends with a slash: https://example.org/",
            fixable=True,
        ),
        Rule(
            "url-fragment",
            WARNING,
            "",
            "a #fragment is never sent to the server: the probe tests the URL without it",
        ),
        Rule(
            "url-not-normalised",
            ERROR,
            "",
            "scheme and host in lower case, no default port (:80, :443)",
            fixable=True,
        ),
        Rule(
            "category-code",
            ERROR,
            "Invalid Category Code",
            "category_code is one of the legend's 31 codes",
        ),
        Rule(
            "category-description",
            ERROR,
            "Invalid Category Description",
            "category_description is exactly the legend's name for the code",
            fixable=True,
        ),
        Rule("date", ERROR, "Invalid Date", "date_added is a real date written YYYY-MM-DD"),
        Rule(
            "notes",
            ERROR,
            "Invalid Notes",
            "no carriage return, newline, tab or backslash in notes; JSON notes are an "
            'object with only the key "notes"',
        ),
        Rule(
            "source",
            ERROR,
            "Invalid Source",
            "no carriage return, newline, tab or backslash in source",
        ),
        Rule(
            "duplicate",
            ERROR,
            "Duplicate URL",
            "a URL appears once per list (compared in its normal form)",
            fixable=True,
        ),
        Rule(
            "duplicate-global",
            ERROR,
            "Duplicate URL between Local List and Global List",
            "a country list does not repeat a URL of the global list",
        ),
        Rule(
            "http-https-duplicate",
            WARNING,
            "",
            "the same URL is listed under both http:// and https://",
        ),
        Rule(
            "case-duplicate",
            WARNING,
            "",
            "the same URL is listed twice, differing only in letter case",
        ),
        Rule(
            "slash-duplicate",
            WARNING,
            "",
            "the same URL is listed with and without a trailing slash (/page and /page/)",
        ),
        Rule("date-future", WARNING, "", "date_added is after today"),
        Rule("date-too-old", WARNING, "", "date_added is before 2014, when the lists began"),
        Rule("empty-source", WARNING, "", "source is empty: say who proposed the URL"),
        Rule(
            "blank-notes",
            WARNING,
            "",
            "notes made only of whitespace (leave them empty or write a note)",
        ),
        Rule(
            "notes-replacement-char",
            WARNING,
            "",
            "notes contain U+FFFD, the mark of text damaged by a wrong encoding",
        ),
        Rule(
            "belongs-in-global",
            WARNING,
            "",
            "the global list already tests this site (another scheme, case or www.): "
            "the country list need not",
        ),
        Rule(
            "side-file",
            ERROR,
            "",
            "the side file (kh.meta.json) is valid JSON with known statuses and tags",
        ),
        Rule(
            "side-file-orphan",
            WARNING,
            "",
            "the side file gives a status or tags to a URL that is not in the list",
        ),
        Rule(
            "order",
            WARNING,
            "",
            "rows are not in upstream's order (sorted by URL without the scheme)",
            fixable=True,
        ),
    )
}


@dataclass(frozen=True, slots=True)
class Issue:
    path: str
    line: int
    rule: str
    message: str

    @property
    def severity(self) -> str:
        return RULES[self.rule].severity

    def is_error(self, strict: bool = False) -> bool:
        return strict or self.severity == ERROR

    def format(self) -> str:
        prefix = "warning: " if self.severity == WARNING else ""
        return f"{self.path}:{self.line}: {self.rule}: {prefix}{self.message}"

    def __str__(self) -> str:
        return self.format()


@dataclass
class GlobalIndex:
    """The URLs of the global list, for the cross-list checks of a country list."""

    path: str
    strict: dict[str, int] = field(default_factory=dict)
    loose: dict[str, tuple[str, int]] = field(default_factory=dict)
    homepages: dict[str, tuple[str, int]] = field(default_factory=dict)

    @classmethod
    def from_rows(cls, path: str | os.PathLike[str], rows: Iterable[TestlistRow]) -> GlobalIndex:
        index = cls(str(path))
        for row in rows:
            index.strict.setdefault(strict_key(row.url), row.line)
            index.loose.setdefault(loose_key(row.url), (row.url, row.line))
            if is_homepage(row.url):
                index.homepages.setdefault(site_key(row.url), (row.url, row.line))
        return index

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> GlobalIndex:
        from censorwatch.testlists.csvformat import read_testlist

        return cls.from_rows(path, read_testlist(path).rows)


@dataclass
class ReadResult:
    """A list file read leniently: the rows that could be read and what was wrong."""

    rows: list[TestlistRow]
    issues: list[Issue]
    #: False when a structural problem means rows may be missing (then --fix refuses).
    complete: bool = True


def read_lenient(path: str | os.PathLike[str], data: bytes | None = None) -> ReadResult:
    """Read a list file like upstream's lint does: report bad rows and carry on."""
    p = str(path)
    issues: list[Issue] = []
    complete = True
    if data is None:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            return ReadResult([], [Issue(p, 0, "encoding", f"cannot read: {exc}")], False)
    if data.startswith(b"\xef\xbb\xbf"):
        issues.append(Issue(p, 1, "encoding", "the file starts with a byte-order mark"))
        data = data[3:]
        complete = False
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        issues.append(Issue(p, line, "encoding", f"not UTF-8 ({exc.reason})"))
        text = data.decode("utf-8", errors="replace")
        complete = False
    if not text:
        return ReadResult([], [*issues, Issue(p, 1, "header", "the file is empty")], False)
    rows: list[TestlistRow] = []
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
        if tuple(header) != HEADER:
            issues.append(
                Issue(p, 1, "header", f"expected {','.join(HEADER)}, found {','.join(header)}")
            )
            complete = False
        start = reader.line_num + 1
        for record in reader:
            if len(record) != len(HEADER):
                issues.append(
                    Issue(
                        p,
                        start,
                        "column-count",
                        f"expected {len(HEADER)} columns, found {len(record)}",
                    )
                )
                complete = False
            else:
                rows.append(TestlistRow(*record, line=start))
            start = reader.line_num + 1
    except csv.Error as exc:
        issues.append(Issue(p, reader.line_num, "csv", str(exc)))
        complete = False
    issues.extend(_format_issues(p, text, rows if complete else None))
    return ReadResult(rows, issues, complete)


def _format_issues(path: str, text: str, rows: list[TestlistRow] | None) -> list[Issue]:
    """Is the file written the way upstream writes lists (what ``--fix`` would write)?"""
    if rows is None:  # rows are missing: judge the line endings alone
        if "\r\n" in text or text.endswith("\r"):
            line = text[: text.index("\r")].count("\n") + 1
            return [Issue(path, line, "file-format", "line endings must be LF, not CR LF")]
        if not text.endswith("\n"):
            return [Issue(path, text.count("\n") + 1, "file-format", "no newline at end of file")]
        return []
    canonical = format_testlist(rows)
    if canonical == text:
        return []
    if text.replace("\r\n", "\n") == canonical:
        line = text[: text.index("\r\n")].count("\n") + 1
        return [Issue(path, line, "file-format", "line endings must be LF, not CR LF")]
    if text + "\n" == canonical:
        return [Issue(path, text.count("\n") + 1, "file-format", "no newline at end of file")]
    ours, theirs = canonical.split("\n"), text.split("\n")
    line = next((i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b), 0)
    return [
        Issue(
            path,
            line + 1,
            "file-format",
            "not written as upstream writes lists (quotes only where needed, LF line "
            "endings, a final newline)",
        )
    ]


class Linter:
    """Applies the rules with one legend, one global list and one idea of today."""

    def __init__(
        self,
        legend: Legend | None = None,
        global_index: GlobalIndex | None = None,
        today: dt.date | None = None,
    ) -> None:
        self.legend = legend or default_legend()
        self.global_index = global_index
        self.today = today or latest_today()

    # -- one row on its own -------------------------------------------------------------
    def check_row(self, row: TestlistRow, path: str) -> list[Issue]:
        """The rules that need only the row itself (what ``add`` and ``edit`` check)."""
        issues = [Issue(path, row.line, rule, msg) for rule, msg in url_problems(row.url)]

        def add(rule: str, message: str) -> None:
            issues.append(Issue(path, row.line, rule, message))

        category = self.legend.get(row.category_code)
        if category is None:
            add("category-code", f"unknown category code {row.category_code!r}")
        elif row.category_description != category.name:
            add(
                "category-description",
                f"{row.category_code} is {category.name!r}, not {row.category_description!r}",
            )
        date = parse_date(row.date_added)
        if date is None:
            add("date", f"not a date written YYYY-MM-DD: {row.date_added!r}")
        elif date > self.today:
            add("date-future", f"date_added {row.date_added} is in the future")
        elif date < EARLIEST_DATE:
            add("date-too-old", f"date_added {row.date_added} is before 2014")
        for rule, name, value in (("notes", "notes", row.notes), ("source", "source", row.source)):
            bad = sorted({repr(c) for c in BAD_CHARS if c in value})
            if bad:
                add(rule, f"{name} contain {', '.join(bad)}")
        if row.notes.startswith("{"):
            problem = notes_json_problem(row.notes)
            if problem:
                add("notes", problem)
        if not row.source.strip():
            add("empty-source", "source is empty")
        if row.notes and not row.notes.strip():
            add("blank-notes", "notes are only whitespace")
        if "\ufffd" in row.notes:
            add("notes-replacement-char", "notes contain U+FFFD (text damaged upstream)")
        return issues

    # -- a row against the others ---------------------------------------------------------
    def check_rows(self, rows: Sequence[TestlistRow], path: str) -> list[Issue]:
        issues: list[Issue] = []
        is_global = list_name(path) == "global"
        seen_strict: dict[str, TestlistRow] = {}
        seen_loose: dict[str, TestlistRow] = {}
        for row in rows:
            issues.extend(self.check_row(row, path))
            key = strict_key(row.url)
            first = seen_strict.get(key)
            if first is not None:
                same = "" if first.url == row.url else f" (as {first.url})"
                issues.append(
                    Issue(
                        path,
                        row.line,
                        "duplicate",
                        f"{row.url} is already on line {first.line}{same}",
                    )
                )
            else:
                seen_strict[key] = row
                other = seen_loose.get(loose_key(row.url))
                if other is not None:
                    rule = {
                        "scheme": "http-https-duplicate",
                        "case": "case-duplicate",
                        "slash": "slash-duplicate",
                    }[variant_kind(other.url, row.url)]
                    issues.append(
                        Issue(
                            path,
                            row.line,
                            rule,
                            f"{row.url} is {other.url} (line {other.line}) again",
                        )
                    )
                else:
                    seen_loose[loose_key(row.url)] = row
            if not is_global and self.global_index is not None:
                issues.extend(self.check_against_global(row, path))
        order = [upstream_sort_key(r.url) for r in rows]
        for before, after, row in zip(order, order[1:], rows[1:], strict=False):
            if after < before:
                issues.append(
                    Issue(
                        path,
                        row.line,
                        "order",
                        "rows are not sorted by URL without the "
                        "scheme (upstream's order); --fix sorts them",
                    )
                )
                break
        return issues

    def check_against_global(self, row: TestlistRow, path: str) -> list[Issue]:
        g = self.global_index
        assert g is not None
        gname = Path(g.path).name
        line = g.strict.get(strict_key(row.url))
        if line is not None:
            return [
                Issue(
                    path,
                    row.line,
                    "duplicate-global",
                    f"{row.url} is already in the global list ({gname}:{line})",
                )
            ]
        near = g.loose.get(loose_key(row.url))
        if near is None and is_homepage(row.url):
            near = g.homepages.get(site_key(row.url))
        if near is not None:
            return [
                Issue(
                    path,
                    row.line,
                    "belongs-in-global",
                    f"the global list already tests {near[0]} ({gname}:{near[1]})",
                )
            ]
        return []

    def check_side_file(self, path: Path, rows: Sequence[TestlistRow]) -> list[Issue]:
        """The side file next to a list: readable, and about URLs that are in the list."""
        from censorwatch.errors import InputError
        from censorwatch.testlists.sidefile import load_meta, meta_path

        side = meta_path(path)
        try:
            meta = load_meta(path)
        except InputError as exc:
            message = str(exc).removeprefix(f"{side}").lstrip(":0123456789 ")
            return [Issue(str(side), 1, "side-file", message)]
        listed = {strict_key(r.url) for r in rows}
        return [
            Issue(str(side), 1, "side-file-orphan", f"{url} is not in {path.name}")
            for url in meta.entries
            if strict_key(url) not in listed
        ]

    # -- a whole file ----------------------------------------------------------------------
    def lint_file(self, path: str | os.PathLike[str]) -> LintResult:
        read = read_lenient(path)
        issues = read.issues + self.check_rows(read.rows, str(path))
        issues += self.check_side_file(Path(path), read.rows)
        issues.sort(key=lambda i: (i.line, list(RULES).index(i.rule)))
        return LintResult(Path(path), read.rows, issues, read.complete)


@dataclass
class LintResult:
    path: Path
    rows: list[TestlistRow]
    issues: list[Issue]
    #: Whether every row could be read (fixing is refused otherwise).
    complete: bool

    def errors(self, strict: bool = False) -> list[Issue]:
        return [i for i in self.issues if i.is_error(strict)]

    def ok(self, strict: bool = False) -> bool:
        return not self.errors(strict)


def latest_today() -> dt.date:
    """Today where it is latest, local or UTC: a row dated today in Phnom Penh (UTC+7) at
    06:00 is not "in the future" just because it is still yesterday in UTC."""
    return max(dt.date.today(), dt.datetime.now(dt.UTC).date())


def parse_date(text: str) -> dt.date | None:
    """A ``YYYY-MM-DD`` date that exists, written exactly so; None otherwise."""
    try:
        date = dt.date.fromisoformat(text)
    except ValueError:
        return None
    return date if date.isoformat() == text else None


def notes_json_problem(notes: str) -> str | None:
    try:
        value = json.loads(notes)
    except json.JSONDecodeError as exc:
        return f"notes start with '{{' but are not JSON ({exc.msg})"
    if not isinstance(value, dict):
        return "JSON notes must be an object"
    extra = sorted(set(value) - NOTES_JSON_KEYS)
    if extra:
        return f"JSON notes may only have the key 'notes', not {', '.join(map(repr, extra))}"
    return None


# -- fixing ----------------------------------------------------------------------------------
FIXABLE_URL_RULES = frozenset({"url-whitespace", "url-trailing-slash", "url-not-normalised"})


@dataclass
class FixResult:
    path: Path
    #: Human-readable ``PATH:LINE: fixed: rule: what`` lines.
    changes: list[str]
    rows: list[TestlistRow]
    written: bool


def fix_rows(
    rows: Sequence[TestlistRow], path: str, legend: Legend, *, sort: bool = True
) -> tuple[list[TestlistRow], list[str]]:
    """Apply the safe fixes to rows; returns the new rows and what changed."""
    changes: list[str] = []
    fixed: list[TestlistRow] = []
    by_key: dict[str, TestlistRow] = {}
    for row in rows:
        new = row
        rules = {rule for rule, _ in url_problems(row.url)}
        if rules and rules <= FIXABLE_URL_RULES:
            url = normalise_url(row.url)
            if not url_problems(url):
                new = _replace(new, url=url)
                names = ", ".join(sorted(rules))
                changes.append(f"{path}:{row.line}: fixed: {names}: {row.url!r} -> {url}")
        category = legend.get(new.category_code)
        if category is not None and new.category_description != category.name:
            changes.append(
                f"{path}:{row.line}: fixed: category-description: "
                f"{new.category_description!r} -> {category.name!r}"
            )
            new = _replace(new, category_description=category.name)
        key = strict_key(new.url)
        first = by_key.get(key)
        if first is not None and first.as_record() == new.as_record():
            changes.append(
                f"{path}:{row.line}: fixed: duplicate: removed the copy of line {first.line}"
            )
            continue
        by_key.setdefault(key, new)
        fixed.append(new)
    if sort:
        ordered = sorted(fixed, key=lambda r: upstream_sort_key(r.url))
        if ordered != fixed:
            changes.append(f"{path}:1: fixed: order: sorted {len(fixed)} rows by URL")
            fixed = ordered
    return fixed, changes


def _replace(row: TestlistRow, **changes: str) -> TestlistRow:
    values = {name: getattr(row, name) for name in HEADER}
    values.update(changes)
    return TestlistRow(**values, line=row.line)


def fix_file(
    path: str | os.PathLike[str], legend: Legend | None = None, *, sort: bool = True
) -> FixResult:
    """Fix a list file in place (atomically); refuse when rows could not all be read."""
    from censorwatch.errors import InputError

    p = Path(path)
    legend = legend or default_legend()
    data = p.read_bytes()
    read = read_lenient(p, data)
    if not read.complete:
        first = next(
            i for i in read.issues if i.rule in {"encoding", "csv", "header", "column-count"}
        )
        raise InputError(f"cannot fix {p}: {first.format()} (fix this by hand first)")
    rows, changes = fix_rows(read.rows, str(p), legend, sort=sort)
    new_bytes = format_testlist(rows).encode("utf-8")
    if new_bytes != data and any(i.rule == "file-format" for i in read.issues):
        changes.append(f"{p}:1: fixed: file-format: rewritten as upstream writes lists")
    written = new_bytes != data
    if written:
        write_testlist(p, rows)
    return FixResult(p, changes, rows, written)
