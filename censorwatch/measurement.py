"""The one measurement model shared by our probes and OONI data.

A :class:`Measurement` is the row the store keeps for every measurement, whoever made it. Its
fields are OONI's own metadata names (``measurement_uid``, ``report_id``, ``probe_cc``,
``probe_asn``, ``test_name``, ``input``, ``measurement_start_time``, ``anomaly``,
``confirmed``, ``failure``, ``test_keys.blocking``) so that a document made by
``censorwatch probe`` and one downloaded from OONI are read by the same analysis code.

Identity. OONI's API gives a ``measurement_uid``; raw measurement files do not. Every row is
therefore keyed by :func:`measurement_key`, a hash of ``report_id`` and ``input`` (the start
time only when there is no report id), which is the same whichever way the measurement
reached us. The
real ``measurement_uid`` is kept beside it when known, and a raw document without one is given
a deterministic uid derived from the same key, so re-ingesting never duplicates a row.

Privacy. :func:`scrub_probe_ip` removes the volunteer's IP address from a document the way
OONI Probe does (the ``probe_ip`` key is dropped and every occurrence of the address in any
string becomes ``[scrubbed]``). Nothing that identifies a volunteer is stored.
"""

from __future__ import annotations

import functools
import hashlib
import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from censorwatch.errors import InputError

SOURCE_OONI = "ooni"
SOURCE_PROBE = "censorwatch"
SOURCES = (SOURCE_OONI, SOURCE_PROBE)

SCRUBBED = "[scrubbed]"
#: Marks the last part of a uid that censorwatch derived (OONI's own end in 16 hex digits).
DERIVED_UID_MARK = "cw"

#: Keys that would identify the volunteer's connection; never stored.
IDENTIFYING_KEYS = ("probe_ip", "probe_city", "probe_city_name")

_ASN_RE = re.compile(r"^(?:AS)?(\d+)$", re.IGNORECASE)


def parse_time(value: Any, where: str = "measurement_start_time") -> datetime:
    """Parse OONI's timestamps into naive UTC datetimes (the store's convention).

    Raw documents say ``2022-08-15 19:01:30``, the API says ``2026-07-11T17:44:07.000000Z``;
    both mean UTC.
    """
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str) and value:
        text = value.strip().replace("Z", "+00:00")
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise InputError(f"{where}: not a timestamp: {value!r}") from None
    else:
        raise InputError(f"{where}: missing or not a timestamp: {value!r}")
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt


def format_time(dt: datetime) -> str:
    """OONI's data-format timestamp: ``YYYY-MM-DD HH:MM:SS`` in UTC."""
    return dt.strftime("%Y-%m-%d %H:%M:%S")


def parse_asn(value: Any, where: str = "probe_asn") -> int:
    """``"AS38623"``, ``"38623"`` or ``38623`` -> ``38623``; unknown is 0 (OONI's ``AS0``)."""
    if type(value) is str and value in _ASN_SEEN:
        return _ASN_SEEN[value]
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise InputError(f"{where}: not an ASN: {value!r}")
    if isinstance(value, int):
        return value
    match = _ASN_RE.match(str(value).strip())
    if not match:
        raise InputError(f"{where}: not an ASN: {value!r}")
    asn = int(match.group(1))
    if isinstance(value, str) and len(_ASN_SEEN) < 4096:
        _ASN_SEEN[value] = asn  # a country has a few hundred networks: remember them
    return asn


_ASN_SEEN: dict[str, int] = {}


@functools.lru_cache(maxsize=1 << 16)
def domain_of(url: str | None) -> str | None:
    """The lower-case host name of an input URL, as OONI's ``domain`` column has it."""
    if not url:
        return None
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return None
    return host.lower().rstrip(".") if host else None


def measurement_key(report_id: str | None, input_: str | None, start_time: datetime) -> str:
    """The deterministic identity of a measurement, the same from the API and raw files.

    OONI identifies a measurement by its report and input (OONI Explorer's classic address is
    ``/measurement/<report_id>?input=<input>``). The start time is *not* part of the key when
    a report id is present, because the two paths do not always agree on it: the real
    ``measurement_meta`` record of RU ``http://rutor.org/`` (2020) says ``08:15:05Z`` while its
    raw document says ``09:15:05``. Only a document without a report id falls back on the
    start time.
    """
    if report_id:
        text = "\x1f".join(("r", report_id, input_ or ""))
    else:
        text = "\x1f".join(("t", input_ or "", format_time(start_time)))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:40]


def deterministic_uid(key: str, start_time: datetime, probe_cc: str, test_name: str) -> str:
    """A uid in OONI's shape for documents that came without one (raw files, old bundles)."""
    t = start_time  # formatted by hand: strftime was a tenth of building a Measurement
    stamp = f"{t.year:04d}{t.month:02d}{t.day:02d}{t.hour:02d}{t.minute:02d}{t.second:02d}.000000"
    return f"{stamp}_{probe_cc}_{test_name.replace('_', '')}_{DERIVED_UID_MARK}{key[:16]}"


def is_derived_uid(uid: str) -> bool:
    """Whether ``uid`` was made by :func:`deterministic_uid` rather than given by OONI."""
    return uid.rpartition("_")[2].startswith(DERIVED_UID_MARK)


def blocking_text(value: Any) -> str | None:
    """``test_keys.blocking`` as stored: a method name, ``"false"``, or ``None`` (unknown)."""
    if value is None:
        return None
    if value is False:
        return "false"
    if isinstance(value, str):
        return value
    return None


def scrub_probe_ip(document: dict[str, Any], extra_ips: tuple[str, ...] = ()) -> dict[str, Any]:
    """Remove the volunteer's address from ``document`` in place, and return it.

    The ``probe_ip`` key (and city keys) are dropped; any string anywhere in the document that
    contains the address has it replaced by ``[scrubbed]``, as OONI Probe does before upload.
    ``127.0.0.1`` is what OONI already publishes in place of the address and is kept.
    """
    ips = {ip for ip in (document.get("probe_ip"), *extra_ips) if isinstance(ip, str) and ip}
    ips.discard("127.0.0.1")
    for key in IDENTIFYING_KEYS:
        document.pop(key, None)
    if ips:
        pattern = re.compile("|".join(re.escape(ip) for ip in sorted(ips, key=len, reverse=True)))
        _replace_strings(document, pattern)
    return document


def _replace_strings(node: Any, pattern: re.Pattern[str]) -> Any:
    if isinstance(node, dict):
        for key, value in node.items():
            node[key] = _replace_strings(value, pattern)
        return node
    if isinstance(node, list):
        for i, value in enumerate(node):
            node[i] = _replace_strings(value, pattern)
        return node
    if isinstance(node, str):
        return pattern.sub(SCRUBBED, node)
    return node


def _is_country_code(value: Any) -> bool:
    """Two ASCII capital letters (``re.fullmatch("[A-Z]{2}")``, without the regex engine)."""
    return (
        type(value) is str
        and len(value) == 2
        and value.isascii()
        and value.isalpha()
        and value.isupper()
    )


def _opt_bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass(slots=True)
class Measurement:
    """One measurement, from any source, as the store keeps it."""

    measurement_key: str
    measurement_uid: str
    source: str
    test_name: str
    measurement_start_time: datetime
    probe_cc: str
    probe_asn: int
    input: str | None = None
    domain: str | None = None
    report_id: str | None = None
    test_version: str | None = None
    software_name: str | None = None
    software_version: str | None = None
    probe_network_name: str | None = None
    category_code: str | None = None
    #: OONI's pipeline flags (or our verdict engine's, for our own probes).
    anomaly: bool | None = None
    confirmed: bool | None = None
    failure: bool | None = None
    #: ``test_keys.blocking`` as the probe reported it (see :func:`blocking_text`).
    blocking: str | None = None
    accessible: bool | None = None
    #: The blocking type recomputed by censorwatch's verdict engine, comparable across sources.
    verdict_blocking: str | None = None
    verdict_confirmed: bool | None = None
    #: Name(s) of the blocking fingerprint(s) that matched, comma-separated.
    verdict_fingerprint: str | None = None
    verdict_version: str | None = None
    #: Hash over the fingerprint sets that judged the row (``FingerprintDB.hash``).
    verdict_fingerprints_hash: str | None = None
    scores: dict[str, Any] | None = None
    #: The full OONI-format document (IP scrubbed), when we have it.
    document: dict[str, Any] | None = field(default=None, repr=False)
    #: Where the full document can be fetched when we do not keep it (OONI API URL, file path).
    document_ref: str | None = None

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Ingest's worker processes send every Measurement back through a pipe: positional
        # arguments pickle in half the time and unpickle four times as fast as the slots
        # dataclass's default (one setattr per field).
        return (Measurement, _MEASUREMENT_FIELDS(self))

    @classmethod
    def from_document(
        cls,
        doc: Mapping[str, Any],
        source: str = SOURCE_OONI,
        *,
        keep_document: bool = True,
        document_ref: str | None = None,
    ) -> Measurement:
        """Build from a full OONI-format measurement document (raw file, bundle, our probe).

        The document is copied and scrubbed of the probe's IP address before it is kept.
        ``anomaly``, ``confirmed`` and ``failure`` are the flags of the pipeline that judged
        the measurement; raw OONI documents carry none (OONI's fastpath adds them later), so
        they stay ``None`` until the verdict engine or the API fills them in.
        """
        if type(doc) is not dict and not isinstance(doc, Mapping):
            raise InputError(f"measurement is a {type(doc).__name__}, not a JSON object")
        test_name = doc.get("test_name")
        if not isinstance(test_name, str) or not test_name:
            raise InputError("test_name: missing")
        start = parse_time(doc.get("measurement_start_time"))
        probe_cc = doc.get("probe_cc")
        if not _is_country_code(probe_cc):
            raise InputError(f"probe_cc: not a country code: {probe_cc!r}")
        input_ = doc.get("input")
        input_ = input_ if isinstance(input_, str) and input_ else None
        report_id = _opt_str(doc.get("report_id"))
        key = measurement_key(report_id, input_, start)
        uid = _opt_str(doc.get("measurement_uid")) or deterministic_uid(
            key, start, probe_cc, test_name
        )
        test_keys = doc.get("test_keys")
        if type(test_keys) is not dict and not isinstance(test_keys, Mapping):
            test_keys = {}
        blocking = blocking_text(test_keys.get("blocking"))
        accessible = _opt_bool(test_keys.get("accessible"))
        annotations = doc.get("annotations")
        if type(annotations) is not dict and not isinstance(annotations, Mapping):
            annotations = {}
        kept = None
        if keep_document:
            kept = scrub_probe_ip(_deep_copy_json(dict(doc)))
        return cls(
            measurement_key=key,
            measurement_uid=uid,
            source=source,
            test_name=test_name,
            measurement_start_time=start,
            probe_cc=probe_cc,
            probe_asn=parse_asn(doc.get("probe_asn")),
            input=input_,
            domain=domain_of(input_),
            report_id=report_id,
            test_version=_opt_str(doc.get("test_version")),
            software_name=_opt_str(doc.get("software_name")),
            software_version=_opt_str(doc.get("software_version")),
            probe_network_name=_opt_str(doc.get("probe_network_name")),
            category_code=_opt_str(annotations.get("category_code")),
            anomaly=_opt_bool(doc.get("anomaly")),
            confirmed=_opt_bool(doc.get("confirmed")),
            failure=_opt_bool(doc.get("failure")),
            blocking=blocking,
            accessible=accessible,
            document=kept,
            document_ref=document_ref,
        )

    @classmethod
    def from_api_record(cls, rec: Mapping[str, Any]) -> Measurement:
        """Build from one ``results`` row of OONI's ``/api/v1/measurements`` list.

        The row carries OONI's pipeline flags but not the document; ``measurement_url`` is
        kept as the pointer to it.
        """
        if not isinstance(rec, Mapping):
            raise InputError(f"API record is a {type(rec).__name__}, not a JSON object")
        test_name = rec.get("test_name")
        if not isinstance(test_name, str) or not test_name:
            raise InputError("test_name: missing")
        start = parse_time(rec.get("measurement_start_time"))
        input_ = _opt_str(rec.get("input"))
        report_id = _opt_str(rec.get("report_id"))
        key = measurement_key(report_id, input_, start)
        probe_cc = rec.get("probe_cc")
        if not isinstance(probe_cc, str) or not re.fullmatch(r"[A-Z]{2}", probe_cc):
            raise InputError(f"probe_cc: not a country code: {probe_cc!r}")
        uid = _opt_str(rec.get("measurement_uid")) or deterministic_uid(
            key, start, probe_cc, test_name
        )
        scores = rec.get("scores")
        return cls(
            measurement_key=key,
            measurement_uid=uid,
            source=SOURCE_OONI,
            test_name=test_name,
            measurement_start_time=start,
            probe_cc=probe_cc,
            probe_asn=parse_asn(rec.get("probe_asn")),
            input=input_,
            domain=domain_of(input_),
            report_id=report_id,
            anomaly=_opt_bool(rec.get("anomaly")),
            confirmed=_opt_bool(rec.get("confirmed")),
            failure=_opt_bool(rec.get("failure")),
            scores=scores if isinstance(scores, dict) else None,
            document_ref=_opt_str(rec.get("measurement_url")),
        )


_MEASUREMENT_FIELDS = operator.attrgetter(*(f.name for f in fields(Measurement)))


def _deep_copy_json(node: Any) -> Any:
    """Copy a JSON tree (faster than copy.deepcopy for plain dicts and lists)."""
    if isinstance(node, dict):
        return {k: _deep_copy_json(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_deep_copy_json(v) for v in node]
    return node


def utcnow() -> datetime:
    """Now, as the store keeps times: naive UTC."""
    return datetime.now(UTC).replace(tzinfo=None)
