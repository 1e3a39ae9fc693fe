"""Blocking fingerprints: known blockpages, sinkhole addresses and false positives.

A fingerprint says "this DNS answer / this piece of an HTTP response is the mark of a censor"
(or, for scope ``fp``, "this looks odd but is known not to be censorship"). A match is what
turns an anomaly into *confirmed* blocking, which is why the files are versioned data that the
working group can extend without touching code.

Schema: OONI's `blocking-fingerprints` (https://github.com/ooni/blocking-fingerprints), the
same rows OONI's fastpath loads:

``name, scope, other_names, location_found, pattern_type, pattern, confidence_no_fp,
expected_countries, source, exp_url, notes``

* ``location_found``: ``dns`` (an answer address or CNAME), ``body``, or ``header.<name>``;
* ``pattern_type``: ``full``, ``prefix``, ``contains`` or ``regexp``;
* ``scope``: ``nat`` (national), ``isp``, ``prod`` (a filtering product), ``inst``
  (institution), ``vbw`` (vague but working), ``fp`` (known false positive), ...;
* ``expected_countries``: comma-separated country codes (``"KH"``, ``"AE,SA"``);
* ``confidence_no_fp``: OONI's 0..10 confidence that a match is not a false positive.

censorwatch adds one optional column, ``expected_asns`` (``"AS38623"`` or a list), for
fingerprints that are only conclusive on some networks.

Files are JSON (a list of rows, as in OONI's fastpath test data, or an object with
``"version"`` and ``"fingerprints"``, as in censorwatch's own file) or CSV (as in OONI's
repository). The project's own file ships in ``censorwatch/data/fingerprints/``.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import functools
import hashlib
import ipaddress
import json
import os
import re
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import re2

from censorwatch.errors import InputError

PATTERN_TYPES = ("full", "prefix", "contains", "regexp")
#: Scopes for which a match confirms blocking wherever it is seen (OONI fastpath's rule).
CONFIRMING_SCOPES = ("nat", "isp")
#: The scope of fingerprints that mark known false positives.
FALSE_POSITIVE_SCOPE = "fp"
#: Below this ``confidence_no_fp`` a match is evidence ("likely"), not confirmation.
CONFIRMATION_MIN_CONFIDENCE = 5
DEFAULT_CONFIDENCE = 5

_OWN_PACKAGE = "censorwatch.data.fingerprints"
_OWN_FILE = "censorwatch.json"

_CSV_COLUMNS = (
    "name",
    "scope",
    "other_names",
    "location_found",
    "pattern_type",
    "pattern",
    "confidence_no_fp",
    "expected_countries",
)


def _split_codes(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    codes = {str(v).strip().upper() for v in items}
    codes.discard("")
    codes.discard("ZZ")  # OONI's "unknown country"; fastpath discards it too
    return tuple(sorted(codes))


def _split_asns(value: Any, where: str) -> tuple[int, ...]:
    if value in (None, "", []):
        return ()
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    out = []
    for item in items:
        text = str(item).strip().upper().removeprefix("AS")
        if not text:
            continue
        if not text.isdigit():
            raise InputError(f"{where}: expected_asns: not an ASN: {item!r}")
        out.append(int(text))
    return tuple(sorted(set(out)))


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """One row of a fingerprint file."""

    name: str
    scope: str
    location_found: str
    pattern_type: str
    pattern: str
    other_names: str = ""
    confidence_no_fp: int = DEFAULT_CONFIDENCE
    expected_countries: tuple[str, ...] = ()
    expected_asns: tuple[int, ...] = ()
    source: str = ""
    exp_url: str = ""
    notes: str = ""
    #: Where the row came from (``file:index``), for error messages and evidence tables.
    origin: str = field(default="", compare=False)
    regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @property
    def is_false_positive(self) -> bool:
        return self.scope == FALSE_POSITIVE_SCOPE

    def confirms(self, probe_cc: str | None, probe_asn: int | None = None) -> bool:
        """Whether a match of this fingerprint confirms blocking for this probe.

        OONI fastpath's rule: the probe's country is expected, or the scope is national or
        ISP. censorwatch adds two guards: a known-false-positive row never confirms, and a row
        with ``confidence_no_fp`` under 5 or with ``expected_asns`` that do not include the
        probe's network is evidence ("likely"), not confirmation.
        """
        if self.is_false_positive:
            return False
        if self.confidence_no_fp < CONFIRMATION_MIN_CONFIDENCE:
            return False
        if self.expected_asns and (probe_asn or 0) not in self.expected_asns:
            return False
        cc = (probe_cc or "ZZ").upper()
        if cc != "ZZ" and cc in self.expected_countries:
            return True
        return self.scope in CONFIRMING_SCOPES

    def matches_text(self, value: str) -> bool:
        """Match ``value`` (an address, a header value, a decoded body) against the pattern."""
        kind = self.pattern_type
        if kind == "full":
            return value == self.pattern
        if kind == "prefix":
            return value.startswith(self.pattern)
        if kind == "contains":
            return self.pattern in value
        return bool(self.regex and self.regex.search(value))

    def to_row(self) -> dict[str, Any]:
        """The row in OONI's schema (censorwatch's extension only when set)."""
        row: dict[str, Any] = {
            "name": self.name,
            "scope": self.scope,
            "other_names": self.other_names,
            "location_found": self.location_found,
            "pattern_type": self.pattern_type,
            "pattern": self.pattern,
            "confidence_no_fp": self.confidence_no_fp,
            "expected_countries": ",".join(self.expected_countries),
            "source": self.source,
            "exp_url": self.exp_url,
            "notes": self.notes,
        }
        if self.expected_asns:
            row["expected_asns"] = ",".join(f"AS{a}" for a in self.expected_asns)
        return row


def fingerprint_from_row(row: Mapping[str, Any], where: str) -> Fingerprint:
    """Validate one row; errors name the file and row (``where``) and the field."""
    if not isinstance(row, Mapping):
        raise InputError(f"{where}: a fingerprint must be an object, got {type(row).__name__}")

    def text(key: str, required: bool = True) -> str:
        value = row.get(key)
        if value is None or value == "":
            if required:
                raise InputError(f"{where}: {key}: missing")
            return ""
        if isinstance(value, list):  # OONI's "source" may be a list of references
            return ", ".join(str(v) for v in value)
        return str(value)

    name = text("name")
    scope = text("scope").strip().lower()
    location = text("location_found").strip().lower()
    if location != "dns" and location != "body" and not location.startswith("header."):
        raise InputError(
            f"{where}: location_found: expected dns, body or header.<name>, got {location!r}"
        )
    pattern_type = text("pattern_type").strip().lower()
    if pattern_type not in PATTERN_TYPES:
        raise InputError(
            f"{where}: pattern_type: expected one of {', '.join(PATTERN_TYPES)}, "
            f"got {pattern_type!r}"
        )
    pattern = text("pattern")
    regex = None
    if pattern_type == "regexp":
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise InputError(f"{where}: pattern: not a valid regular expression: {exc}") from None
    raw_conf = row.get("confidence_no_fp")
    try:
        confidence = DEFAULT_CONFIDENCE if raw_conf in (None, "") else int(raw_conf)
    except (TypeError, ValueError):
        raise InputError(
            f"{where}: confidence_no_fp: expected a whole number, got {raw_conf!r}"
        ) from None
    if location == "dns" and pattern_type in ("full", "prefix"):
        _check_dns_pattern(pattern, pattern_type, where)
    # The few distinct values of these fields repeat on every row: one copy each.
    return Fingerprint(
        name=name,
        scope=sys.intern(scope),
        location_found=sys.intern(location),
        pattern_type=sys.intern(pattern_type),
        pattern=pattern,
        other_names=sys.intern(text("other_names", required=False)),
        confidence_no_fp=confidence,
        expected_countries=_split_codes(row.get("expected_countries")),
        expected_asns=_split_asns(row.get("expected_asns"), where),
        source=sys.intern(text("source", required=False)),
        exp_url=sys.intern(text("exp_url", required=False)),
        notes=sys.intern(text("notes", required=False)),
        origin=where,
        regex=regex,
    )


def _check_dns_pattern(pattern: str, pattern_type: str, where: str) -> None:
    if pattern_type == "full":
        try:
            ipaddress.ip_address(pattern)
        except ValueError:
            # A CNAME target is allowed too (OONI matches answer hostnames).
            if not re.fullmatch(r"[A-Za-z0-9._-]+\.?", pattern):
                raise InputError(
                    f"{where}: pattern: not an IP address or host name: {pattern!r}"
                ) from None


def _rows_from_json(path: Path) -> tuple[str | None, list[Any]]:
    try:
        # orjson: OONI's 1,854 rows load with about 1.5 MiB less peak memory than with json,
        # which counts in a probe's 80 MiB (docs/performance.md).
        data = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError:
        try:  # the standard library names the line (and tells bad UTF-8 apart)
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    if isinstance(data, list):
        return None, data
    if isinstance(data, Mapping) and isinstance(data.get("fingerprints"), list):
        version = data.get("version")
        return (str(version) if version is not None else None), data["fingerprints"]
    raise InputError(f"{path}: expected a list of fingerprints or {{'fingerprints': [...]}}")


def _rows_from_csv(path: Path) -> list[tuple[str, dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in _CSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(f"{path}:1: header: missing column(s) {', '.join(missing)}")
        return [(f"{path}:{reader.line_num}", row) for row in reader]


def load_fingerprint_file(path: str | os.PathLike[str]) -> tuple[str | None, list[Fingerprint]]:
    """Read one file (JSON or CSV): its declared version (if any) and its rows."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: fingerprint file not found")
    try:
        if p.suffix.lower() == ".csv":
            version = None
            rows = [fingerprint_from_row(row, where) for where, row in _rows_from_csv(p)]
        else:
            version, raw = _rows_from_json(p)
            rows = [fingerprint_from_row(row, f"{p}: row {i}") for i, row in enumerate(raw, 1)]
    except UnicodeDecodeError as exc:
        raise InputError(f"{p}: not UTF-8 text: {exc.reason}") from None
    except OSError as exc:
        raise InputError(f"{p}: cannot read: {exc.strerror or exc}") from None
    return version, rows


@dataclass(frozen=True, slots=True)
class FingerprintMatch:
    """A fingerprint that matched, and what it matched (an address, a header, a body)."""

    fingerprint: Fingerprint
    location: str
    value: str


class FingerprintDB:
    """Fingerprints indexed for fast matching (exact DNS answers by dictionary lookup)."""

    def __init__(
        self,
        fingerprints: Iterable[Fingerprint],
        versions: Sequence[str] = (),
        sources: Sequence[Mapping[str, Any]] = (),
    ):
        self.fingerprints: tuple[Fingerprint, ...] = tuple(fingerprints)
        #: ``name@version`` of each file loaded, for the methodology section of reports.
        self.versions: tuple[str, ...] = tuple(versions)
        #: Each loaded set: ``{name, source, rows, hash, date}`` (``method.fingerprints``).
        self.sources: tuple[dict[str, Any], ...] = tuple(dict(s) for s in sources)
        #: One hash over every loaded set, kept on each judged row (``rejudge`` compares it).
        self.hash: str = _db_hash(self.sources, self.fingerprints)
        self._dns_full: dict[str, list[Fingerprint]] = {}
        self._dns_other: list[Fingerprint] = []
        self._body: list[Fingerprint] = []
        self._body_contains: list[tuple[str, Fingerprint]] = []
        self._body_other: list[Fingerprint] = []
        self._headers: dict[str, list[Fingerprint]] = {}
        self._body_literals: _LiteralSet | None = None
        self._dns_cache: dict[str, list[FingerprintMatch]] = {}
        for fp in self.fingerprints:
            loc = fp.location_found
            if loc == "dns":
                if fp.pattern_type == "full":
                    self._dns_full.setdefault(_norm_dns(fp.pattern), []).append(fp)
                else:
                    self._dns_other.append(fp)
            elif loc == "body":
                self._body.append(fp)
                if fp.pattern_type == "contains":
                    self._body_contains.append((fp.pattern, fp))
                else:
                    self._body_other.append(fp)
            else:
                self._headers.setdefault(loc[len("header.") :], []).append(fp)
        #: Each body fingerprint name's first position in ``_body`` (the order of the hits).
        self._body_first: dict[str, int] = {}
        for at, fp in enumerate(self._body):
            self._body_first.setdefault(fp.name, at)
        #: The other body fingerprints, each with the texts it cannot match without (see
        #: :func:`_regex_required_literals`): a page without them is not searched.
        self._body_other_checks: list[tuple[tuple[str, ...], Fingerprint]] = [
            (_regex_required_literals(fp.pattern) if fp.pattern_type == "regexp" else (), fp)
            for fp in self._body_other
        ]
        if len(self._body_contains) >= _LITERAL_SET_MIN_PATTERNS:
            self._body_literals = _LiteralSet([p for p, _ in self._body_contains])
        self._header_index = {name: _HeaderIndex(fps) for name, fps in self._headers.items()}

    def __len__(self) -> int:
        return len(self.fingerprints)

    @property
    def digest(self) -> str:
        """A short hash of every row, so results can say exactly which fingerprints judged."""
        h = hashlib.sha256()
        for fp in self.fingerprints:
            h.update(json.dumps(fp.to_row(), sort_keys=True, ensure_ascii=False).encode())
        return h.hexdigest()[:16]

    def match_dns(self, answer: str) -> list[FingerprintMatch]:
        """Fingerprints matching one DNS answer (an IP address or a CNAME target).

        Answers repeat across millions of measurements (the same CDN and sinkhole addresses),
        so results are remembered per answer (a bounded cache; the list must not be changed).
        """
        cached = self._dns_cache.get(answer)
        if cached is not None:
            return cached
        hits = self._match_dns(answer)
        if len(self._dns_cache) >= _DNS_CACHE_SIZE:
            self._dns_cache.clear()
        self._dns_cache[answer] = hits
        return hits

    def _match_dns(self, answer: str) -> list[FingerprintMatch]:
        value = _norm_dns(answer)
        hits = [FingerprintMatch(fp, "dns", answer) for fp in self._dns_full.get(value, ())]
        hits.extend(
            FingerprintMatch(fp, "dns", answer)
            for fp in self._dns_other
            if fp.matches_text(value) or fp.matches_text(answer)
        )
        return hits

    def match_headers(self, headers: Mapping[str, Any]) -> list[FingerprintMatch]:
        """Fingerprints matching response headers (names compared case-insensitively)."""
        hits: list[FingerprintMatch] = []
        if not headers or not self._headers:
            return hits
        lowered: dict[str, list[str]] = {}
        for name, value in headers.items():
            for v in value if isinstance(value, list) else [value]:
                text = _header_text(v)
                if text is not None:
                    lowered.setdefault(str(name).lower(), []).append(text)
        for name, index in self._header_index.items():
            for value in lowered.get(name, ()):
                hits.extend(
                    FingerprintMatch(fp, fp.location_found, value) for fp in index.matches(value)
                )
        return hits

    def match_body(self, body: str | bytes | None) -> list[FingerprintMatch]:
        """Fingerprints found in a response body.

        Bodies are searched as UTF-8 text and, when they are bytes that are not UTF-8 (the
        RU blockpage of the fixtures is windows-1251), as raw bytes for the UTF-8 pattern,
        the way fastpath does, and as text decoded with the charset the page declares.
        """
        hits: list[FingerprintMatch] = []
        if not body:
            return hits
        texts = _body_texts(body)
        found: set[str] = set()
        literals = self._body_literals
        for text in texts:
            hits_at = literals.search(text) if literals is not None else None
            others = (
                fp.name
                for needs, fp in self._body_other_checks
                if all(need in text for need in needs) and fp.matches_text(text)
            )
            if hits_at is not None:
                # One pass over the page for every "contains" pattern (see _LiteralSet).
                contains = self._body_contains
                found.update(contains[i][1].name for i in hits_at)
                found.update(others)
                continue
            candidates = self._body_contains
            if len(text) > 65536 and len(candidates) > 50:
                # A long page: first rule out the patterns that cannot be there (each of a
                # few trigrams of the pattern must occur in the page, a set lookup).
                grams = {text[i : i + 3] for i in range(len(text) - 2)}
                candidates = [
                    (pat, fp)
                    for pat, fp in candidates
                    if all(g in grams for g in _sample_trigrams(pat))
                ]
            found.update(fp.name for pat, fp in candidates if pat in text)
            found.update(others)
        # In the file's order, once per name: the first fingerprint of each name found (the
        # same as walking all ~1,300 body fingerprints, which cost 70 us a page).
        body = self._body
        for at in sorted(self._body_first[name] for name in found):
            fp = body[at]
            hits.append(FingerprintMatch(fp, "body", fp.pattern[:80]))
        return hits

    def match_response(self, response: Mapping[str, Any] | None) -> list[FingerprintMatch]:
        """Fingerprints matching an OONI-format HTTP response (``requests[i].response``)."""
        if type(response) is not dict and not isinstance(response, Mapping):
            return []
        hits = self.match_body(decode_body(response.get("body")))
        if not self._headers:
            return hits
        headers = response.get("headers")
        if not headers or (type(headers) is not dict and not isinstance(headers, Mapping)):
            headers = headers_from_list(response.get("headers_list"))
        hits.extend(self.match_headers(headers))
        return hits


class _HeaderIndex:
    """The fingerprints of one header, indexed so that a value is checked in a few C calls.

    OONI's file has about 400 patterns for ``Location`` alone (270 prefixes, 118 "contains",
    13 full): checked one by one they cost more than the rest of a verdict, and a redirect's
    ``Location`` that passes the quick test (most share a prefix such as ``http://``) used to
    be checked against all 400. Now each kind is looked up where it can be: full values in a
    dict, prefixes by length in dicts, "contains" in one RE2 pass, and only regular
    expressions one by one. The result is the same list, in the same order, as
    ``[fp for fp in fps if fp.matches_text(value)]`` (the fingerprints' file order).
    """

    def __init__(self, fps: Sequence[Fingerprint]) -> None:
        self.fps = tuple(fps)
        self.full: dict[str, list[int]] = {}
        #: prefix length -> prefix -> positions in ``fps``.
        self.prefix_by_length: dict[int, dict[str, list[int]]] = {}
        contains: list[tuple[str, int]] = []
        self.others: list[tuple[int, Fingerprint]] = []
        for at, fp in enumerate(self.fps):
            if fp.pattern_type == "full":
                self.full.setdefault(fp.pattern, []).append(at)
            elif fp.pattern_type == "prefix":
                by_prefix = self.prefix_by_length.setdefault(len(fp.pattern), {})
                by_prefix.setdefault(fp.pattern, []).append(at)
            elif fp.pattern_type == "contains":
                contains.append((fp.pattern, at))
            else:
                self.others.append((at, fp))
        self.prefixes = tuple(p for by in self.prefix_by_length.values() for p in by)
        self.contains = tuple(p for p, _ in contains)
        self.contains_at = tuple(at for _, at in contains)
        self.literals = (
            _LiteralSet(self.contains) if len(contains) >= _LITERAL_SET_MIN_PATTERNS else None
        )

    def _maybe(self, value: str) -> bool:
        """False only when no fingerprint of this header can match ``value``."""
        if value in self.full or self.others:
            return True
        if self.prefixes and value.startswith(self.prefixes):
            return True
        if self.literals is not None:
            found = self.literals.search(value)
            if found is not None:
                return bool(found)
        return any(p in value for p in self.contains)

    def matches(self, value: str) -> list[Fingerprint]:
        if not self._maybe(value):
            return []
        hits: list[int] = list(self.full.get(value, ()))
        for length, by_prefix in self.prefix_by_length.items():
            found = by_prefix.get(value[:length])
            if found is not None:
                hits.extend(found)
        if self.contains:
            indices = self.literals.search(value) if self.literals is not None else None
            if indices is None:  # few patterns, or a value RE2 cannot take
                indices = [i for i, p in enumerate(self.contains) if p in value]
            hits.extend(self.contains_at[i] for i in indices)
        hits.extend(at for at, fp in self.others if fp.matches_text(value))
        fps = self.fps
        return [fps[at] for at in sorted(hits)]


_DNS_CACHE_SIZE = 1 << 16

#: From this many "contains" patterns on, texts are searched with a _LiteralSet.
_LITERAL_SET_MIN_PATTERNS = 16


class _LiteralSet:
    """Which of many literal strings occur in a text, in one pass (RE2's ``RE2::Set``).

    OONI's file has about 1,300 "contains" body patterns: checked one by one with ``in``
    they took 0.9 ms a page, more than everything else in a verdict; a DFA over all of
    them takes about 30 µs for a 7 kB page. :meth:`search` returns the indices of the
    patterns found (the same as ``[i for i, p in enumerate(patterns) if p in text]``, in
    any order), or None when RE2 cannot take the text (a body with undecodable bytes kept
    as lone surrogates) and the caller must check one by one.
    """

    def __init__(self, patterns: Sequence[str]) -> None:
        options = re2.Options()
        options.max_mem = 256 << 20  # a DFA over ~1,300 patterns outgrows RE2's 8 MB default
        self._set = re2.Set.SearchSet(options)
        for pattern in patterns:
            self._set.Add(re.escape(pattern))
        self._set.Compile()

    def search(self, text: str) -> list[int] | None:
        try:
            found = self._set.Match(text)
        except (UnicodeEncodeError, re2.error):
            return None
        return found or []


@functools.lru_cache(maxsize=8192)
def _sample_trigrams(pattern: str) -> tuple[str, ...]:
    """Up to five trigrams spread over a pattern (all must be in a page that contains it)."""
    if len(pattern) < 3:
        return ()
    last = len(pattern) - 3
    picks = sorted({0, last // 4, last // 2, (3 * last) // 4, last})
    return tuple(pattern[i : i + 3] for i in picks)


_REGEX_QUANTIFIER_RE = re.compile(r"\*|\+|\?|\{\d*,?\d*\}")


def _regex_required_literals(pattern: str) -> tuple[str, ...]:
    """Texts that every match of the regular expression ``pattern`` contains (() if unsure).

    OONI's body regexps are mostly literals joined by ``.*`` (``<meta name=.*twitter:card``,
    ``{"msg":.*"id":``): a page that lacks one of them cannot match, and ``in`` rules that
    out many times as fast as the regex engine's search, which also backtracks over every
    line that holds the first one. Conservative: an alternation anywhere gives (), a group,
    a character class or an escaped letter or digit ends the scan (the literals before it
    still count), and a character that a quantifier may drop or repeat ends its literal.
    """
    if "|" in pattern:
        return ()
    found: list[str] = []
    run: list[str] = []

    def end_run() -> None:
        if run:
            found.append("".join(run))
            run.clear()

    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c in "([":
            break
        if c == "\\":
            escaped = pattern[i + 1 : i + 2]
            if not escaped or not escaped.isascii() or escaped.isalnum():
                break  # a class (\d), an anchor (\b), a code (\x41) or a reference (\1)
            step, literal = 2, escaped
        elif c == "{" and _REGEX_QUANTIFIER_RE.match(pattern, i) is None:
            step, literal = 1, c  # a brace that is not a repeat count is itself
        elif c in ".^$":
            step, literal = 1, None
        elif c in "*+?{)]}":
            return ()  # a quantifier or bracket where none was expected: not sure
        else:
            step, literal = 1, c
        i += step
        quantifier = _REGEX_QUANTIFIER_RE.match(pattern, i)
        if quantifier is not None:
            i = quantifier.end()
            if pattern[i : i + 1] in ("?", "+"):  # lazy or possessive
                i += 1
            if literal is not None and quantifier.group() == "+":
                run.append(literal)  # at least once
            end_run()
        elif literal is None:
            end_run()
        else:
            run.append(literal)
    end_run()
    return tuple(found)


def _norm_dns(value: str) -> str:
    return value.strip().lower().rstrip(".")


def _header_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if value is not None and isinstance(value, Mapping) and value.get("format") == "base64":
        try:
            return base64.b64decode(value.get("data", "")).decode("latin-1")
        except (ValueError, TypeError):
            return None
    return None


def headers_from_list(headers_list: Any) -> dict[str, list[str]]:
    """OONI's ``headers_list`` (``[[name, value], ...]``) as a name -> values mapping."""
    out: dict[str, list[str]] = {}
    if isinstance(headers_list, list):
        for item in headers_list:
            if isinstance(item, list | tuple) and len(item) == 2:
                text = _header_text(item[1])
                if text is not None:
                    out.setdefault(str(item[0]), []).append(text)
    return out


def decode_body(body: Any) -> str | bytes | None:
    """An OONI body: a string, or ``{"format": "base64", "data": ...}`` (bytes)."""
    if isinstance(body, str):
        return body
    if body is not None and isinstance(body, Mapping) and body.get("format") == "base64":
        try:
            return base64.b64decode(body.get("data") or "")
        except (ValueError, TypeError):
            return None
    return None


_CHARSET_RE = re.compile(rb"""charset\s*=\s*["']?([A-Za-z0-9._-]+)""", re.IGNORECASE)


def _body_texts(body: str | bytes) -> list[str]:
    if isinstance(body, str):
        return [body]
    texts: list[str] = []
    try:
        texts.append(body.decode("utf-8"))
        return texts
    except UnicodeDecodeError:
        pass
    # Undecodable bytes become lone surrogates, so a UTF-8 pattern still matches its bytes
    # (fastpath's ``body.find(pattern.encode())``).
    texts.append(body.decode("utf-8", errors="surrogateescape"))
    declared = _CHARSET_RE.search(body[:4096])
    if declared:
        with contextlib.suppress(LookupError):
            texts.append(body.decode(declared.group(1).decode("ascii"), errors="replace"))
    return texts


def _db_hash(sources: Sequence[Mapping[str, Any]], rows: Sequence[Fingerprint]) -> str:
    if sources:
        from censorwatch.fingerprint_sources import combined_hash

        return combined_hash(sources)
    digest = hashlib.sha256()
    for fp in rows:
        digest.update(f"{fp.name}\0{fp.location_found}\0{fp.pattern_type}\0{fp.pattern}\n".encode())
    return digest.hexdigest()


def own_fingerprint_path() -> Path:
    """The project's own fingerprint file (shipped as package data)."""
    return Path(str(resources.files(_OWN_PACKAGE).joinpath(_OWN_FILE)))


def own_fingerprint_version() -> str:
    version, _ = load_fingerprint_file(own_fingerprint_path())
    return version or "unversioned"


def load_fingerprints(
    paths: Iterable[str | os.PathLike[str]] = (), *, include_own: bool = True
) -> FingerprintDB:
    """The project's own fingerprints plus the given files (and nothing else)."""
    from censorwatch.fingerprint_sources import file_source, own_source

    sources = [own_source()] if include_own else []
    sources.extend(file_source(p) for p in paths)
    return database_from_sources(sources)


def database_from_sources(sources: Sequence[Any]) -> FingerprintDB:
    """A database of every row of ``sources`` (:class:`FingerprintSource`), in order."""
    rows = [fp for source in sources for fp in source.fingerprints]
    versions = [f"{source.name}@{source.date or source.hash[:12]}" for source in sources]
    return FingerprintDB(rows, versions, [source.describe() for source in sources])


@functools.lru_cache(maxsize=1)
def default_fingerprints() -> FingerprintDB:
    """The default database, loaded once per process: the project's own fingerprints and the
    snapshot of OONI's shipped with the package, so blocking that OONI confirms comes out
    confirmed without any set-up."""
    from censorwatch.fingerprint_sources import ooni_snapshot_source, own_source

    return database_from_sources([own_source(), ooni_snapshot_source()])


def fingerprints_from_config(cfg: Any, store: Any = None) -> FingerprintDB:
    """The one loader every stage uses: the sets the configuration asks for
    (:func:`censorwatch.fingerprint_sources.configured_sources`), cached while their files
    are unchanged, and, given the ``store``, the ``local`` set of the working group's
    decisions (:mod:`censorwatch.answer_decisions`) after them.

    Without decisions the database is the configured one itself (same sets, same hash), so a
    store nobody has decided anything in judges exactly as before. With decisions, the result
    is cached by the table's row count and highest id, so a new decision takes effect at the
    next call.
    """
    base = _load_cached(_config_key(cfg))
    if store is None:
        return base
    from censorwatch.answer_decisions import decisions_stamp

    stamp = decisions_stamp(store)
    if stamp[0] == 0:
        return base
    key = (_config_key(cfg), str(store.url), stamp)
    with _LOCAL_LOCK:
        cached = _LOCAL_CACHE.get(key)
    if cached is not None and cached[0] is base:
        return cached[1]
    db = with_local_set(base, store)
    with _LOCAL_LOCK:
        if len(_LOCAL_CACHE) >= 8:
            _LOCAL_CACHE.clear()
        _LOCAL_CACHE[key] = (base, db)
    return db


_LOCAL_CACHE: dict[tuple[Any, ...], tuple[FingerprintDB, FingerprintDB]] = {}
_LOCAL_LOCK = threading.Lock()


def with_local_set(base: FingerprintDB, store: Any) -> FingerprintDB:
    """``base`` followed by the ``local`` set of ``store`` (``base`` itself when empty)."""
    from censorwatch.answer_decisions import local_source

    local = local_source(store)
    if local is None:
        return base
    return FingerprintDB(
        (*base.fingerprints, *local.fingerprints),
        (*base.versions, f"{local.name}@{local.date or local.hash[:12]}"),
        (*base.sources, local.describe()),
    )


def _file_stamp(path: Path) -> tuple[str, int, int]:
    try:
        st = path.stat()
    except OSError:
        return (str(path), -1, -1)
    return (str(path), st.st_mtime_ns, st.st_size)


def _config_key(cfg: Any) -> tuple[Any, ...]:
    verdict = getattr(cfg, "verdict", None)
    use_ooni = bool(getattr(verdict, "ooni_fingerprints", True))
    data_dir = getattr(cfg, "data_path", None)
    pointer = None
    if use_ooni and data_dir is not None:
        from censorwatch.fingerprint_sources import CURRENT_FILE, ooni_update_dir

        pointer = _file_stamp(ooni_update_dir(data_dir) / CURRENT_FILE)
    files = tuple(_file_stamp(Path(p)) for p in getattr(verdict, "fingerprint_files", []) or [])
    return (use_ooni, str(data_dir) if data_dir is not None else None, pointer, files)


class _CfgView:
    """The few settings :func:`configured_sources` reads, rebuilt from a cache key."""

    def __init__(self, key: tuple[Any, ...]) -> None:
        use_ooni, data_dir, _, files = key
        self.verdict = SimpleNamespace(
            ooni_fingerprints=use_ooni, fingerprint_files=[f[0] for f in files]
        )
        self.data_path = Path(data_dir) if data_dir is not None else None


@functools.lru_cache(maxsize=8)
def _load_cached(key: tuple[Any, ...]) -> FingerprintDB:
    from censorwatch.fingerprint_sources import configured_sources

    use_ooni, _, pointer, files = key
    if use_ooni and (pointer is None or pointer[1] == -1) and not files:
        return default_fingerprints()  # the same sets: one database per process

    return database_from_sources(configured_sources(_CfgView(key)))
