"""From OONI documents and API rows to stored Measurement rows, in batches, one transaction each.

Everything an ingest source yields goes through here: raw-file lines, our probes' bundles,
API ``results`` rows and full documents fetched on demand. This module:

* parses each record (orjson; the standard library for what orjson refuses, e.g. NaN),
* scrubs the volunteer's address before anything is kept (:func:`scrub_document`; it does on
  the raw text, in one pass of ``bytes.replace``, what ``scrub_probe_ip`` does on the tree),
* builds the :class:`Measurement` with the shared model, keeping every OONI test name and
  OONI's own flags as OONI gave them,
* has the shared verdict engine recompute the blocking type where the full web_connectivity
  document is present (:func:`recompute_verdict`, the one call site),
* quarantines whatever it cannot use (never crashing on wrong types in known fields),
* writes batches with ``write_measurements`` in one transaction each, together with whatever
  progress state the source commits alongside (its cursor), so a crash loses nothing.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import operator
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, String

from censorwatch.errors import InputError
from censorwatch.fingerprints import FingerprintDB
from censorwatch.gcpause import gc_paused
from censorwatch.measurement import (
    IDENTIFYING_KEYS,
    SCRUBBED,
    SOURCE_OONI,
    SOURCE_PROBE,
    Measurement,
    deterministic_uid,
    domain_of,
    measurement_key,
    parse_asn,
    scrub_probe_ip,
)
from censorwatch.store import Store, WriteResult, write_measurements
from censorwatch.store.codec import encode_document, encode_json_text
from censorwatch.store.models import MeasurementRow
from censorwatch.verdict import apply_verdict, judge

from .files import Record
from .parallel import ParallelConverter
from .quarantine import Quarantine

log = logging.getLogger("censorwatch.ingest")

DEFAULT_BATCH = 5000
#: With workers, records converted in the calling process before the pool starts.
PARALLEL_AFTER = 2000
#: Tests whose full document the verdict engine judges.
VERDICT_TESTS = frozenset({"web_connectivity"})

_PROBE_IP_RE = re.compile(rb'"probe_ip"\s*:\s*"([^"\\]{1,64})"')
_PROBE_IP_MEMBER_RE = re.compile(rb'"probe_ip"\s*:\s*"[^"\\]*"\s*')
_SCRUBBED_B = SCRUBBED.encode()
_UNSCRUBBED_OK = frozenset({"", "127.0.0.1", SCRUBBED})


@dataclass
class IngestStats:
    """Running counts of one ingest, for the progress bar, the summary line and job_runs."""

    read: int = 0
    inserted: int = 0
    merged: int = 0
    quarantined: int = 0
    verdicts: int = 0
    verdict_errors: int = 0
    bytes: int = 0
    pages: int = 0
    files: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def stored(self) -> int:
        return self.inserted + self.merged

    @property
    def elapsed(self) -> float:
        return max(time.monotonic() - self.started, 1e-9)

    @property
    def rate(self) -> float:
        return self.stored / self.elapsed

    def add(self, result: WriteResult) -> None:
        self.inserted += result.inserted
        self.merged += result.merged

    def as_counts(self) -> dict[str, int]:
        return {
            "read": self.read,
            "inserted": self.inserted,
            "merged": self.merged,
            "quarantined": self.quarantined,
            "verdicts": self.verdicts,
            "pages": self.pages,
            "files": self.files,
        }

    def summary(self, label: str) -> str:
        """The one line a log keeps of a run."""
        parts = [
            f"{label}: {self.read:,} read",
            f"{self.inserted:,} new",
            f"{self.merged:,} already known",
            f"{self.quarantined:,} quarantined",
        ]
        if self.verdicts:
            parts.append(f"{self.verdicts:,} verdicts recomputed")
        if self.pages:
            parts.append(f"{self.pages:,} pages")
        if self.files:
            parts.append(f"{self.files:,} files")
        parts.append(f"{self.elapsed:.1f} s ({self.rate:,.0f}/s)")
        return ", ".join(parts)


# --- parsing and scrubbing ---------------------------------------------------------------


def parse_json(data: bytes) -> Any:
    """orjson, with the standard library as the fallback for what orjson refuses (NaN, big ints)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def scrub_text(data: bytes) -> tuple[bytes, str | None]:
    """Replace the probe's address everywhere in a document's text; return it and the address.

    JSON can hold an IP address only inside strings, so a textual replacement is exactly the
    tree walk of ``scrub_probe_ip``, at the speed of ``bytes.replace``.
    """
    found = _PROBE_IP_RE.search(data)
    if not found:
        return data, None
    ip = found.group(1)
    if ip in (b"127.0.0.1", _SCRUBBED_B):
        return data, ip.decode("ascii", "replace")
    return data.replace(ip, _SCRUBBED_B), SCRUBBED


def _text_scrub_missed(doc: Mapping[str, Any], text_scrubbed_ip: str | None) -> bool:
    """Whether the parsed ``probe_ip`` is not what the text pass saw (an escaped string, say)."""
    ip = doc.get("probe_ip")
    return isinstance(ip, str) and ip not in _UNSCRUBBED_OK and ip != text_scrubbed_ip


def scrub_document(doc: dict[str, Any], text_scrubbed_ip: str | None = None) -> dict[str, Any]:
    """Make sure nothing identifying is left in ``doc`` (in place); cheap when the text was done.

    When the raw text was scrubbed by :func:`scrub_text` the remaining work is dropping the
    identifying keys; if the parsed ``probe_ip`` is not what the text pass saw (an escaped
    string, say), the full tree walk runs instead.
    """
    if _text_scrub_missed(doc, text_scrubbed_ip):
        return scrub_probe_ip(doc)
    for key in IDENTIFYING_KEYS:
        doc.pop(key, None)
    return doc


def text_to_keep(text: bytes, doc: Mapping[str, Any], text_scrubbed_ip: str | None) -> bytes | None:
    """The scrubbed text of a document without its identifying keys, or None (use the tree).

    Keeping the text as OONI published it (minus the volunteer's address and the ``probe_ip``
    key) saves writing the parsed tree out again, which cost as much as parsing it. It is
    the tree that :func:`scrub_document` leaves, as text: whenever that is not certain (city
    keys, a ``probe_ip`` key that is not the only one, an address the text pass missed) this
    returns None and the caller encodes the scrubbed tree instead.
    """
    # scrub_document drops top-level keys only: the city keys are rare, left to the tree.
    if "probe_city" in doc or "probe_city_name" in doc:
        return None
    if _text_scrub_missed(doc, text_scrubbed_ip):
        return None
    if "probe_ip" not in doc:
        return text
    # The top-level key is the only "probe_ip" of the text when there is just one.
    at = text.find(b'"probe_ip"')
    if at < 0 or text.find(b'"probe_ip"', at + 10) >= 0:
        return None
    found = _PROBE_IP_MEMBER_RE.match(text, at)
    if found is None:
        return None
    start, end = found.span()
    if text[end : end + 1] == b",":  # first or middle member: drop it and the comma after it
        return text[:start] + text[end + 1 :]
    before = text[:start].rstrip()
    if before.endswith(b","):  # the last member: drop the comma before it
        return before[:-1] + text[end:]
    if before.endswith(b"{") and text[end : end + 1] == b"}":  # the only member
        return before + text[end:]
    return None


# --- the verdict engine's one call site ----------------------------------------------------


def recompute_verdict(
    measurement: Measurement,
    document: Mapping[str, Any],
    fingerprints: FingerprintDB | None = None,
) -> Measurement:
    """Have the shared verdict engine judge a full web_connectivity document.

    The ONE place where ingest calls ``censorwatch.verdict``: OONI's own flags (``anomaly``,
    ``confirmed``, ``failure``, ``scores``, ``blocking``) are left as OONI gave them; the
    engine fills ``verdict_*`` so OONI's and our probes' measurements are judged alike.
    ``fingerprints`` are the configured ones (``verdict.fingerprint_files``, as the probes
    use them); None means the default ones (the project's own and OONI's snapshot).
    """
    return apply_verdict(measurement, judge(document, fingerprints), fingerprints)


# --- fitting the schema ----------------------------------------------------------------------

_TABLE = MeasurementRow.__table__
#: Column -> maximum length, for the text columns that have one.
_LIMITS: dict[str, int] = {
    c.name: c.type.length
    for c in _TABLE.columns
    if isinstance(c.type, String) and c.type.length and c.name in Measurement.__slots__
}
#: Too long in these means the record is not what it claims to be: refuse it.
_IDENTITY = frozenset({"measurement_key", "measurement_uid", "test_name", "report_id", "probe_cc"})


_LIMITS_T = tuple(_LIMITS.items())
_LIMIT_VALUES = tuple(_LIMITS.values())
_GET_LIMITED = operator.attrgetter(*_LIMITS)


def fit_columns(m: Measurement) -> Measurement:
    """Refuse identity fields that overflow their column; shorten descriptive ones.

    PostgreSQL refuses an over-long VARCHAR and would fail the whole batch; SQLite would keep
    it. Either way one odd document must not decide the fate of its neighbours. Nearly every
    row fits: that is checked in one comprehension and a C-level comparison, and only a row
    that does not fit is looked at field by field.
    """
    values = _GET_LIMITED(m)
    lengths = [0 if v is None else len(v) for v in values]
    if not any(map(operator.gt, lengths, _LIMIT_VALUES)):
        return m
    for (name, limit), value in zip(_LIMITS_T, values, strict=True):
        if value is not None and len(value) > limit:
            if name in _IDENTITY:
                raise InputError(f"{name}: longer than {limit} characters")
            setattr(m, name, value[:limit])
    return m


# --- API rows, fast ----------------------------------------------------------------------------

#: The same few thousand URLs are measured over and over: their host names are cached.
_domain = functools.lru_cache(maxsize=1 << 16)(domain_of)
_asn = functools.lru_cache(maxsize=1 << 14)(parse_asn)


def measurement_from_api_row(rec: Any) -> Measurement:
    """``Measurement.from_api_record`` for the well-formed rows the API sends, only faster.

    A year of Cambodian metadata is about three million rows; the general path validates
    every field through regular expressions and ``urlsplit``. The fast one
    (:func:`_fast_api_row`) takes the shapes the API actually sends straight and hands
    anything else to the general path, so its results are the same
    (``tests/test_ingest_api.py`` compares them).
    """
    m = _fast_api_row(rec)
    return m if m is not None else Measurement.from_api_record(rec)


_LIMIT_UID = _LIMITS["measurement_uid"]
_LIMIT_TEST = _LIMITS["test_name"]
_LIMIT_REPORT = _LIMITS["report_id"]
_LIMIT_DOMAIN = _LIMITS["domain"]


def _fast_api_row(rec: Any) -> Measurement | None:
    """The Measurement of a well-formed API row, already fitted; None: take the general path.

    Takes ``"2026-07-11T17:44:07.000000Z"``, ``"AS38623"`` and a two-letter country straight,
    caches host names and ASNs, builds the Measurement with positional arguments (half the
    cost of keywords, at three million rows a year) and checks the few length limits it can
    exceed here, so the row needs no :func:`fit_columns` pass; a row that would be refused
    or shortened there returns None and goes the general way, with the same outcome.
    """
    if type(rec) is not dict:
        return None
    get = rec.get
    test_name = get("test_name")
    when = get("measurement_start_time")
    cc = get("probe_cc")
    asn = get("probe_asn")
    if not (
        type(test_name) is str
        and test_name
        and len(test_name) <= _LIMIT_TEST
        and type(when) is str
        and len(when) == 27
        and when[-1] == "Z"
        and type(cc) is str
        and len(cc) == 2
        and cc.isascii()
        and cc.isalpha()
        and cc.isupper()
        and type(asn) in (str, int)
    ):
        return None
    try:
        start = datetime.fromisoformat(when[:-1])
        probe_asn = _asn(asn)
    except (ValueError, InputError):
        return None
    input_ = get("input")
    if type(input_) is str and input_:
        domain = _domain(input_)
        if domain is not None and len(domain) > _LIMIT_DOMAIN:
            return None
    else:
        input_ = domain = None
    report_id = get("report_id")
    if type(report_id) is not str or not report_id:
        report_id = None
    elif len(report_id) > _LIMIT_REPORT:
        return None
    key = measurement_key(report_id, input_, start)
    uid = get("measurement_uid")
    if not (type(uid) is str and uid):
        uid = deterministic_uid(key, start, cc, test_name)
    if len(uid) > _LIMIT_UID:
        return None
    scores = get("scores")
    ref = get("measurement_url")
    anomaly, confirmed, failure = get("anomaly"), get("confirmed"), get("failure")
    # Positional, in the order of Measurement's fields (tests/test_ingest_api.py checks it).
    return Measurement(
        key,
        uid,
        SOURCE_OONI,
        test_name,
        start,
        cc,
        probe_asn,
        input_,
        domain,
        report_id,
        None,  # test_version
        None,  # software_name
        None,  # software_version
        None,  # probe_network_name
        None,  # category_code
        anomaly if type(anomaly) is bool else None,
        confirmed if type(confirmed) is bool else None,
        failure if type(failure) is bool else None,
        None,  # blocking
        None,  # accessible
        None,  # verdict_blocking
        None,  # verdict_confirmed
        None,  # verdict_fingerprint
        None,  # verdict_version
        None,  # verdict_fingerprints_hash
        scores if isinstance(scores, dict) else None,
        None,  # document
        ref if type(ref) is str and ref else None,
    )


# --- the ingestor ------------------------------------------------------------------------------


class Ingestor:
    """Turns records into Measurement rows and writes them, one transaction per batch."""

    def __init__(
        self,
        store: Store,
        *,
        quarantine: Quarantine | None = None,
        batch_size: int = DEFAULT_BATCH,
        recompute_verdicts: bool = True,
        stats: IngestStats | None = None,
        on_progress: Callable[[IngestStats], None] | None = None,
        workers: int = 1,
        parallel_after: int | None = None,
        fingerprints: FingerprintDB | None = None,
    ) -> None:
        self.store = store
        self.quarantine = quarantine or Quarantine(None)
        self.batch_size = batch_size
        self.stats = stats or IngestStats()
        self.on_progress = on_progress
        self.recompute_verdicts = recompute_verdicts
        #: The blocking fingerprints the verdict engine uses (None: the project's own).
        self.fingerprints = fingerprints
        #: Worker processes converting records (1: this process does everything).
        self.workers = workers
        #: Records converted here before the pool is started: small inputs never pay for it.
        self.parallel_after = PARALLEL_AFTER if parallel_after is None else parallel_after
        self._parallel: ParallelConverter | None = None

    def close(self) -> None:
        """Stop the worker processes, if any were started."""
        if self._parallel is not None:
            self._parallel.close()
            self._parallel = None

    def __enter__(self) -> Ingestor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- conversion --

    def reject(self, ref: str, line: int | None, error: str, text: bytes | str | None) -> None:
        self.stats.quarantined += 1
        self.quarantine.add(ref, line, error, text)

    def from_record(self, record: Record) -> Measurement | None:
        """The Measurement of one file record, or None (quarantined)."""
        self.stats.read += 1
        if record.error is not None:
            self.reject(record.ref, record.line, record.error, record.data)
            return None
        try:
            kept = None
            if record.data is not None:
                text, seen_ip = scrub_text(record.data)
                try:
                    doc = parse_json(text)
                except ValueError as exc:
                    raise InputError(f"not valid JSON: {exc}") from None
                if isinstance(doc, dict):
                    kept = text_to_keep(text, doc, seen_ip)
            else:
                doc, seen_ip = record.obj, None
            if not isinstance(doc, dict):
                raise InputError(f"measurement is a {type(doc).__name__}, not a JSON object")
            scrub_document(doc, seen_ip)
            return self.from_document(doc, _text=kept)
        except Exception as exc:  # wrong types in any field must not stop the run
            self.reject(record.ref, record.line, _describe(exc), record.data or _dump(record.obj))
            return None

    def from_document(
        self, doc: dict[str, Any], *, _text: bytes | None = None, **flags: Any
    ) -> Measurement:
        """A scrubbed full document -> Measurement (raises on bad input).

        ``flags`` are OONI's own verdict fields from the API (measurement_meta), which a raw
        document does not carry. ``_text`` is the same document as scrubbed JSON text
        (:func:`text_to_keep`), kept instead of encoding ``doc`` again.
        """
        software = doc.get("software_name")
        source = SOURCE_PROBE if software == SOURCE_PROBE else SOURCE_OONI
        m = Measurement.from_document(doc, source=source, keep_document=False)
        m.document = doc
        for name, value in flags.items():
            if value is not None:
                setattr(m, name, value)
        if self.recompute_verdicts and m.test_name in VERDICT_TESTS:
            try:
                m = recompute_verdict(m, doc, self.fingerprints)
                self.stats.verdicts += 1
            except Exception as exc:  # OONI's flags are kept; the row goes in
                self.stats.verdict_errors += 1
                log.warning("verdict not recomputed for %s: %s", m.measurement_uid, exc)
        # Encoded now, so a batch holds bytes rather than parsed trees (see store.bulk).
        blob = encode_json_text(_text) if _text is not None else encode_document(doc)
        m.document = blob  # type: ignore[assignment]
        return fit_columns(m)

    def from_api_rows(self, rows: Iterable[Any], ref: str) -> list[Measurement]:
        """Measurements of one page of ``/api/v1/measurements`` results (bad rows quarantined).

        A plain loop into a list, the stats counted once: at three million rows a year a
        generator's resumption and a counter update per row are a tenth of our own cost.
        """
        out: list[Measurement] = []
        append = out.append
        fast = _fast_api_row
        general = Measurement.from_api_record
        i = 0
        for i, row in enumerate(rows, 1):
            try:
                m = fast(row)
                append(m if m is not None else fit_columns(general(row)))
            except Exception as exc:
                self.reject(ref, i, _describe(exc), _dump(row))
        self.stats.read += i
        return out

    def ingest_api_page(
        self,
        rows: Iterable[Any],
        ref: str,
        after: Callable[[Connection], None] | None = None,
    ) -> WriteResult:
        """Convert one page of API rows and write it with ``after`` in one transaction."""
        with gc_paused():
            measurements = self.from_api_rows(rows, ref)
            self.stats.pages += 1
            return self.write(measurements, after)

    # -- writing --

    def write(
        self,
        measurements: Iterable[Measurement],
        after: Callable[[Connection], None] | None = None,
    ) -> WriteResult:
        """Write ``measurements`` and run ``after`` (e.g. saving a cursor) in ONE transaction."""
        with gc_paused(), self.store.engine.begin() as conn:
            result = write_measurements(conn, measurements, batch_size=self.batch_size)
            if after is not None:
                after(conn)
        self.stats.add(result)
        if self.on_progress is not None:
            self.on_progress(self.stats)
        return result

    def ingest_records(
        self,
        records: Iterable[Record],
        after_batch: Callable[[Connection], None] | None = None,
    ) -> None:
        """Convert and write a stream of records in batches of ``batch_size``."""
        batch: list[Measurement] = []
        for m in self._measurements(records):
            batch.append(m)
            if len(batch) >= self.batch_size:
                self.write(batch, after_batch)
                batch = []
        if batch:
            self.write(batch, after_batch)
        elif self.on_progress is not None:
            self.on_progress(self.stats)

    def _measurements(self, records: Iterable[Record]) -> Iterator[Measurement]:
        """The Measurements of ``records`` in order: here, then (big inputs) from workers."""
        it = iter(records)
        if self.workers > 1 and self._parallel is None:
            for record in itertools.islice(it, max(self.parallel_after - self.stats.read, 0)):
                m = self.from_record(record)
                if m is not None:
                    yield m
            if self.stats.read < self.parallel_after:
                return  # the input ended before the pool was worth starting
            self._parallel = ParallelConverter(
                self.workers,
                recompute_verdicts=self.recompute_verdicts,
                fingerprints=self.fingerprints,
            )
        if self._parallel is None:
            for record in it:
                m = self.from_record(record)
                if m is not None:
                    yield m
            return
        for done in self._parallel.convert(it):
            self.stats.read += done.read
            self.stats.verdicts += done.verdicts
            self.stats.verdict_errors += done.verdict_errors
            for ref, line, error, text in done.rejected:
                self.reject(ref, line, error, text)
            yield from done.measurements


def _describe(exc: BaseException) -> str:
    if isinstance(exc, InputError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _dump(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:
        return repr(value).encode("utf-8", "replace")
