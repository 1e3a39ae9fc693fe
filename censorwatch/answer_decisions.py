"""A working group's decisions on suspicious DNS answer addresses, and the ``local`` set.

In Cambodia blocking is a DNS answer that points to a sinkhole, and each ISP has its own. A
new sinkhole is missed until someone adds it to a fingerprint file; these decisions are how a
working-group member does that from the command line, with who, when and why kept in the
store (table ``answer_decisions``):

``censorwatch fingerprints accept IP --reason TEXT``
    the address is a censor's: it becomes a ``local.*`` fingerprint that confirms DNS
    blocking like OONI's;
``censorwatch fingerprints reject IP --reason TEXT``
    the address is known not to be a censor's (a CDN, the site's own hosting in another
    region, the user's own filtering resolver): it becomes a ``local.*`` fingerprint of
    scope ``fp``, OONI's "known false positive", so a measurement whose only sign of DNS
    blocking is this answer is not counted as blocking.

Every decision is a new row; the latest row per address is the one that counts and the earlier
ones are the record, so a rejected address that was accepted before stops confirming, and an
accepted one can be rejected later (and the other way round).

The rows the decisions become are in OONI's blocking-fingerprints schema
(``name, scope, other_names, location_found, pattern_type, pattern, confidence_no_fp,
expected_countries, source, exp_url, notes``), so ``censorwatch fingerprints export --local``
writes them as a CSV the working group can send upstream:

* ``name``: ``local.<cc>_dns_sinkhole_<ip>`` for an accepted address and
  ``local.<cc>_dns_fp_<ip>`` for a rejected one, dots and colons of the address as
  underscores (``local.kh_dns_sinkhole_203_0_113_7``);
* ``scope``: ``isp`` when the decision names the network (``--asn``): OONI's "ISP level"
  (the sinkhole of one operator); the row then also carries censorwatch's ``expected_asns``,
  so it confirms on that network and is evidence ("likely") elsewhere, like
  ``cw.kh_dns_viettel_metfone_sinkhole``. Without ``--asn`` the scope is ``nat``: the
  working group vouches for the address as a blocking answer in the country, not tied to one
  operator. A rejected address has scope ``fp``;
* ``location_found`` ``dns``, ``pattern_type`` ``full``, ``pattern`` the address;
* ``confidence_no_fp`` 5 (OONI's usual value, and censorwatch's threshold for confirming);
* ``expected_countries``: the decision's country (``--country``, by default the configured
  one);
* ``source``: ``accepted by <who> on <YYYY-MM-DD>`` (or ``rejected by``), ``notes``: the
  reason (and the network, which OONI's schema has no column for).

``decided_by`` is a name the member chooses; nothing here reads the machine's host name, login
or address.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import ipaddress
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from censorwatch.errors import InputError
from censorwatch.fingerprints import DEFAULT_CONFIDENCE, FALSE_POSITIVE_SCOPE, Fingerprint
from censorwatch.store.models import AnswerDecision

if TYPE_CHECKING:
    from censorwatch.fingerprint_sources import FingerprintSource
    from censorwatch.store import Store

ACCEPT = "accept"
REJECT = "reject"
DECISIONS = (ACCEPT, REJECT)
#: The name of the set the decisions make (``fingerprints list``, ``method.fingerprints``).
LOCAL_SET = "local"
_BY_MAX = 128


class DecisionInputError(InputError):
    """A bad address, an empty reason, ...: nothing is written (exit status 2)."""

    exit_code = 2


@dataclass(frozen=True)
class Decision:
    """One row of ``answer_decisions``."""

    id: int
    ip: str
    decision: str
    reason: str
    decided_by: str
    decided_at: dt.datetime
    country: str | None
    asn: int | None
    evidence: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "ip": self.ip,
            "decision": self.decision,
            "reason": self.reason,
            "decided_by": self.decided_by,
            "decided_at": _iso(self.decided_at),
            "country": self.country,
            "asn": self.asn,
            "evidence": self.evidence,
        }


def _iso(when: dt.datetime) -> str:
    return when.replace(microsecond=0).isoformat() + "Z"


def normalise_ip(text: str) -> str:
    """The address as stored and matched (``ipaddress``'s compressed form)."""
    value = (text or "").strip()
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise DecisionInputError(
            f"not an IP address: {text!r} (give one address, such as 203.0.113.7)"
        ) from None
    # ::ffff:203.0.113.9 is the IPv4 address an A answer holds: keep it in the form answers
    # have, or it would never match one.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.compressed


def normalise_country(text: str | None) -> str | None:
    if text is None or not text.strip():
        return None
    cc = text.strip().upper()
    if len(cc) != 2 or not cc.isalpha() or cc == "ZZ":
        raise DecisionInputError(f"--country: expected a two-letter country code, got {text!r}")
    return cc


def normalise_asn(value: str | int | None) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip().upper().removeprefix("AS")
    if not text.isdigit() or not 0 < int(text) < 2**32:
        raise DecisionInputError(f"--asn: expected a network number such as AS38623, got {value!r}")
    return int(text)


def check_reason(reason: str | None) -> str:
    why = (reason or "").strip()
    if not why:
        raise DecisionInputError("--reason: say why (the record keeps it with who and when)")
    return why


def check_decided_by(name: str | None) -> str:
    """The member's name, as given: required, one line, and not an address."""
    by = (name or "").strip()
    if not by:
        raise DecisionInputError(
            "who decides? give --by NAME (or set [testlists] author in censorwatch.toml); "
            "censorwatch never takes it from the computer"
        )
    if "\n" in by or "\r" in by or len(by) > _BY_MAX:
        raise DecisionInputError(
            f"--by: expected a name on one line of at most {_BY_MAX} characters"
        )
    try:
        ipaddress.ip_address(by)
    except ValueError:
        return by
    raise DecisionInputError("--by: give a name, not an address")


def record_decision(
    store: Store,
    ip: str,
    decision: str,
    reason: str,
    decided_by: str | None,
    *,
    country: str | None = None,
    asn: str | int | None = None,
    evidence: Mapping[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> Decision:
    """Validate and store one decision (one transaction); nothing is written on bad input."""
    if decision not in DECISIONS:
        raise DecisionInputError(f"decision: expected accept or reject, got {decision!r}")
    address = normalise_ip(ip)
    why = check_reason(reason)
    by = check_decided_by(decided_by)
    cc = normalise_country(country)
    network = normalise_asn(asn)
    when = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(tzinfo=None)
    row = AnswerDecision(
        ip=address,
        decision=decision,
        reason=why,
        decided_by=by,
        decided_at=when,
        country=cc,
        asn=network,
        evidence=dict(evidence) if evidence is not None else None,
    )
    with store.session() as s:
        s.add(row)
        s.flush()
        return _decision(row)


def _decision(row: Any) -> Decision:
    return Decision(
        id=int(row.id),
        ip=row.ip,
        decision=row.decision,
        reason=row.reason,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        country=row.country,
        asn=row.asn,
        evidence=row.evidence,
    )


def decision_history(store: Store, ip: str | None = None) -> list[Decision]:
    """Every decision, oldest first (only those about ``ip`` when given)."""
    t = AnswerDecision.__table__
    query = sa.select(t).order_by(t.c.id)
    if ip is not None:
        query = query.where(t.c.ip == normalise_ip(ip))
    with store.engine.connect() as conn:
        return [_decision(r) for r in conn.execute(query)]


def latest_decisions(store: Store) -> dict[str, Decision]:
    """The decision that counts for each address (the latest), by address."""
    latest: dict[str, Decision] = {}
    for d in decision_history(store):
        latest[d.ip] = d
    return dict(sorted(latest.items(), key=lambda kv: _ip_sort_key(kv[0])))


def _ip_sort_key(ip: str) -> tuple[int, int]:
    addr = ipaddress.ip_address(ip)
    return (addr.version, int(addr))


def decisions_stamp(store: Store) -> tuple[int, int]:
    """``(rows, highest id)`` of the table: changes whenever a decision is recorded."""
    t = AnswerDecision.__table__
    with store.engine.connect() as conn:
        count, top = conn.execute(sa.select(sa.func.count(), sa.func.max(t.c.id))).one()
    return int(count or 0), int(top or 0)


def fingerprint_name(decision: Decision) -> str:
    kind = "sinkhole" if decision.decision == ACCEPT else "fp"
    cc = f"{decision.country.lower()}_" if decision.country else ""
    return f"local.{cc}dns_{kind}_{decision.ip.replace('.', '_').replace(':', '_')}"


def fingerprint_for(decision: Decision) -> Fingerprint:
    """The fingerprint a decision makes (see the module's docstring for each column)."""
    accepted = decision.decision == ACCEPT
    scope = ("isp" if decision.asn else "nat") if accepted else FALSE_POSITIVE_SCOPE
    verb = "accepted" if accepted else "rejected"
    notes = decision.reason
    if decision.asn:
        notes += f" (seen on AS{decision.asn})"
    return Fingerprint(
        name=fingerprint_name(decision),
        scope=scope,
        location_found="dns",
        pattern_type="full",
        pattern=decision.ip,
        confidence_no_fp=DEFAULT_CONFIDENCE,
        expected_countries=(decision.country,) if decision.country else (),
        expected_asns=(decision.asn,) if accepted and decision.asn else (),
        source=f"{verb} by {decision.decided_by} on {decision.decided_at.date().isoformat()}",
        notes=notes,
        origin=f"answer_decisions #{decision.id}",
    )


def local_fingerprints(store: Store, country: str | None = None) -> list[Fingerprint]:
    """The fingerprints of the latest decision per address (those of ``country`` if given):
    accepted addresses confirm, rejected ones are known false positives."""
    cc = normalise_country(country)
    return [
        fingerprint_for(d)
        for d in latest_decisions(store).values()
        if cc is None or d.country == cc
    ]


def confirming(fp: Fingerprint) -> bool:
    return fp.scope != FALSE_POSITIVE_SCOPE


def rows_hash(rows: Sequence[Fingerprint]) -> str:
    digest = hashlib.sha256()
    for fp in rows:
        digest.update(json.dumps(fp.to_row(), sort_keys=True, ensure_ascii=False).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def store_label(store: Store) -> str:
    """Where the decisions are, without anything that identifies the machine or a person:
    a SQLite file by its name only (its path holds the login name), a server without its
    user and password."""
    from sqlalchemy.engine import make_url

    url = make_url(store.url)
    if url.get_backend_name() == "sqlite":
        name = (url.database or "").replace("\\", "/").rsplit("/", 1)[-1] or "memory"
        return f"sqlite {name}"
    return url.set(username=None, password=None, query={}).render_as_string(hide_password=True)


def local_source(store: Store) -> FingerprintSource | None:
    """The ``local`` set: one fingerprint per decided address; None when there is none."""
    from censorwatch.fingerprint_sources import FingerprintSource

    latest = latest_decisions(store)
    if not latest:
        return None
    rows = tuple(fingerprint_for(d) for d in latest.values())
    newest = max(d.decided_at for d in latest.values())
    return FingerprintSource(
        LOCAL_SET,
        f"answer_decisions in {store_label(store)}",
        rows_hash(rows),
        _iso(newest),
        rows,
    )


#: OONI's blocking-fingerprints CSV columns, in the order of its files.
OONI_CSV_COLUMNS = (
    "name",
    "scope",
    "other_names",
    "location_found",
    "pattern_type",
    "pattern",
    "confidence_no_fp",
    "expected_countries",
    "source",
    "exp_url",
    "notes",
)


def ooni_csv(rows: Sequence[Fingerprint]) -> str:
    """``rows`` as a CSV in OONI's schema (the columns of ``fingerprints_dns.csv``; the
    network of an ``isp`` row, which the schema has no column for, is in ``notes``)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=OONI_CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for fp in rows:
        row = fp.to_row()
        writer.writerow({k: row.get(k, "") for k in OONI_CSV_COLUMNS})
    return out.getvalue()
