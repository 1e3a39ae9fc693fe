"""DNS answers vetted by the machine: which suspicious answer addresses are a censor's.

In Cambodia blocking is a DNS answer that points to a sinkhole, and each ISP has its own. A
sinkhole no fingerprint knows yet is only "an inconsistent answer" to the verdict engine;
analysts used to vet such addresses by hand. This module does that vetting from what the
documents already hold, for one country and period (docs/analysis-method.md, section 5):

* **candidates**: only the rows that can hold a suspicious answer are read: web_connectivity
  rows of the country and period that are anomalous, judged ``dns``, or matched a
  fingerprint, of the domains whose measurements showed a DNS anomaly or confirmed blocking
  (the analysis's own counts say which), read through the domain index; only their
  documents are decoded, so the cost follows the candidates, not the year;
* **suspicious answer**: an address the system resolver gave for the URL's own host (v0.5:
  the ``classic`` lookups at ``depth=0``, as the verdict engine compares them) that the
  control (test helper and DNS-over-HTTPS) did not return for that host and that is not in
  the AS of one of the control's answers; or a bogon; or an address a DNS fingerprint
  matches;
* **per address**: where it was answered, for which hosts, whether any control of the
  period returned it, whether a TLS handshake with the site's name validated on it (the
  probe's, the test helper's ``control.tls_handshake``, or its ``control.ip_info`` flag),
  whether it is a bogon, which fingerprint knows it;
* **the rule**, in this order: *false positive* when a TLS handshake validated it for the
  site, the control returned it, or a false-positive fingerprint matches; *blocking* when a
  national or ISP censorship fingerprint matches, a bogon was answered for at least
  ``bogon_min_domains`` hosts, or the address was answered for at least
  ``sinkhole_min_domains`` unrelated domains (distinct registrable domains) on one network;
  *unclear* otherwise.

The working group's decision on an address (``censorwatch fingerprints accept/reject``,
table ``answer_decisions``) is shown beside the machine's verdict, never instead of it.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from publicsuffixlist import PublicSuffixList
from sqlalchemy import Connection, or_, select

from censorwatch.analysis.load import Scope
from censorwatch.analysis.rules import WEB_TESTS
from censorwatch.analysis.verdicts import Thresholds
from censorwatch.fingerprints import CONFIRMING_SCOPES, FingerprintDB
from censorwatch.store.codec import decode_document
from censorwatch.store.models import AnswerDecision, MeasurementRow
from censorwatch.verdict.dns import is_bogon
from censorwatch.verdict.observations import is_ip, observe

BLOCKING = "blocking"
FALSE_POSITIVE = "false-positive"
UNCLEAR = "unclear"
#: Verdicts in the order the list is sorted (then by measurements, most first).
ANSWER_VERDICTS = (BLOCKING, UNCLEAR, FALSE_POSITIVE)

#: ``control.ip_info`` flags (OONI's test helper, probe-cli ``model/th.go``).
IP_INFO_RESOLVED_BY_TH = 2
IP_INFO_VALID_FOR_DOMAIN = 8

#: Rows read per round trip; documents are decoded one at a time.
_FETCH = 500
_IN_CHUNK = 400
_T = MeasurementRow.__table__.c


@lru_cache(maxsize=1)
def _psl() -> PublicSuffixList:
    return PublicSuffixList()


@lru_cache(maxsize=1 << 14)
def registrable_domain(host: str) -> str:
    """``www.rfa.org`` -> ``rfa.org``, ``moi.gov.kh`` -> ``moi.gov.kh`` (Public Suffix List);
    a host that is itself a public suffix, or an address, is its own."""
    host = host.lower().rstrip(".")
    if not host or is_ip(host.strip("[]")):
        return host
    return _psl().privatesuffix(host) or host


@dataclass
class _Address:
    """What the candidate documents say about one suspicious answer address."""

    ip: str
    asns: Counter[int] = field(default_factory=Counter)
    orgs: Counter[str] = field(default_factory=Counter)
    #: probe ASN -> hosts it answered this address for there
    networks: dict[int, set[str]] = field(default_factory=dict)
    network_names: dict[int, str] = field(default_factory=dict)
    hosts: set[str] = field(default_factory=set)
    measurements: int = 0
    own_network: set[int] = field(default_factory=set)
    tls_valid_for: set[str] = field(default_factory=set)
    fingerprints: dict[str, Any] = field(default_factory=dict)


def candidate_query(scope: Scope, domains: Sequence[str] | None = None, dialect: str = "") -> Any:
    """The rows whose documents can hold a suspicious answer (see the module docstring);
    with ``domains``, only theirs, read through the domain index."""
    test_name, probe_cc = _T.test_name, _T.probe_cc
    if domains is not None and dialect == "sqlite":
        # SQLite's planner (no statistics in the store) would walk the period through the
        # test/time or country/time index; ``x || ''`` keeps those columns out of the index
        # choice, so it reads the few domains' rows through the domain index.
        test_name, probe_cc = test_name.op("||")(""), probe_cc.op("||")("")
    where = [
        probe_cc == scope.country,
        _T.measurement_start_time >= scope.period.utc_start,
        _T.measurement_start_time < scope.period.utc_end,
        test_name.in_(WEB_TESTS),
        _T.document.is_not(None),
        or_(
            _T.anomaly.is_(True),
            _T.verdict_blocking == "dns",
            _T.blocking == "dns",
            _T.verdict_fingerprint.is_not(None),
        ),
    ]
    if domains is not None:
        where.insert(0, _T.domain.in_(list(domains)))
    stmt = select(_T.probe_asn, _T.probe_network_name, _T.document)
    return stmt.where(*where).order_by(_T.id)


def _iter_candidates(
    conn: Connection, scope: Scope, domains: Sequence[str] | None
) -> Iterator[tuple[int, str, dict[str, Any]]]:
    if domains is None:
        statements = [candidate_query(scope)]
    else:
        statements = [
            candidate_query(scope, domains[i : i + _IN_CHUNK], conn.dialect.name)
            for i in range(0, len(domains), _IN_CHUNK)
        ]
    for stmt in statements:
        result = conn.execution_options(yield_per=_FETCH).execute(stmt)
        for asn, name, blob in result:
            try:
                doc = decode_document(blob)
            except Exception:  # one unreadable document must not stop the analysis
                continue
            if isinstance(doc, dict):
                yield int(asn), str(name or ""), doc


@lru_cache(maxsize=1 << 14)
def _norm_ip(address: str) -> str:
    """The address as ``answer_decisions`` keeps it (IPv6 compressed, lower case)."""
    return str(ipaddress.ip_address(address))


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _orgs(tk: Mapping[str, Any]) -> dict[str, str]:
    """Each answer address's ``as_org_name``, from every lookup of the document."""
    out: dict[str, str] = {}
    for q in _list(tk.get("queries")):
        for ans in _list(_map(q).get("answers")):
            ans = _map(ans)
            ip = ans.get("ipv4") or ans.get("ipv6")
            org = ans.get("as_org_name")
            if isinstance(ip, str) and isinstance(org, str) and org:
                out.setdefault(ip, org)
    return out


def _endpoint_ip(address: str) -> str:
    """``1.2.3.4:443`` -> ``1.2.3.4``, ``[2001:db8::1]:443`` -> ``2001:db8::1``."""
    if address.startswith("["):
        return address[1:].split("]", 1)[0]
    return address.rsplit(":", 1)[0] if address.count(":") == 1 else address


def _tls_valid(tk: Mapping[str, Any], host: str) -> set[str]:
    """Addresses on which a TLS handshake with ``host`` as SNI validated the certificate: the
    probe's own handshakes (every one, whoever chose the address), and the control's
    (``control.tls_handshake``, the test helper's handshakes with the probe's addresses)."""
    out = set()
    for hs in _list(tk.get("tls_handshakes")):
        hs = _map(hs)
        if hs.get("failure") is not None or hs.get("no_tls_verify"):
            continue
        if str(hs.get("server_name") or "").lower() != host:
            continue
        out.add(_endpoint_ip(str(hs.get("address") or "")))
    for endpoint, hs in _map(_map(tk.get("control")).get("tls_handshake")).items():
        hs = _map(hs)
        if hs.get("status") is not True or hs.get("failure") is not None:
            continue
        if str(hs.get("server_name") or host).lower() != host:
            continue
        out.add(_endpoint_ip(str(endpoint)))
    return out


def collect(
    documents: Iterable[tuple[int, str, Mapping[str, Any]]], fingerprints: FingerprintDB
) -> tuple[dict[str, _Address], set[str]]:
    """Suspicious answers of ``documents`` (``(probe_asn, network_name, document)``), and
    every address any of their controls returned."""
    found: dict[str, _Address] = {}
    control_returned: set[str] = set()
    for probe_asn, network_name, doc in documents:
        if doc.get("test_name") != "web_connectivity":
            continue
        obs = observe(doc, dns_only=True)
        host = obs.hostname
        tk = _map(doc.get("test_keys"))
        ip_info = _map(_map(tk.get("control")).get("ip_info"))
        th_valid = set()
        for addr, info in ip_info.items():
            flags = _map(info).get("flags")
            if isinstance(flags, int):
                if flags & IP_INFO_RESOLVED_BY_TH and is_ip(str(addr)):
                    control_returned.add(_norm_ip(str(addr)))
                if flags & IP_INFO_VALID_FOR_DOMAIN:
                    th_valid.add(str(addr))
        control_addrs: set[str] = set()
        control_asns: set[int] = set()
        th = obs.control.dns if obs.control is not None and obs.control_failure is None else None
        for result in [th, *obs.doh.values()]:
            if result is not None and result.ok:
                control_addrs.update(a for a in result.addrs if is_ip(a))
                control_asns.update(result.asns.get(a, 0) for a in result.addrs)
        control_asns.discard(0)
        control_returned.update(_norm_ip(a) for a in control_addrs)
        probe = obs.probe_dns
        if not host or obs.host_is_ip or probe is None:
            continue
        answers = [a for a in probe.addrs if is_ip(a)]
        if not answers:
            continue
        orgs: dict[str, str] | None = None
        valid: set[str] | None = None
        for ip in dict.fromkeys(answers):
            asn = probe.asns.get(ip) or _int(_map(ip_info.get(ip)).get("asn"))
            matches = fingerprints.match_dns(ip)
            bogon = is_bogon(ip)
            inconsistent = (
                bool(control_addrs)
                and ip not in control_addrs
                and not (asn and asn in control_asns)
            )
            if not (bogon or matches or inconsistent):
                continue
            if orgs is None:
                orgs, valid = _orgs(tk), _tls_valid(tk, host) | th_valid
            key = _norm_ip(ip)
            a = found.get(key)
            if a is None:
                a = found[key] = _Address(key)
            a.measurements += 1
            if asn:
                a.asns[asn] += 1
                if asn == probe_asn:
                    a.own_network.add(probe_asn)
            if orgs.get(ip):
                a.orgs[orgs[ip]] += 1
            a.networks.setdefault(probe_asn, set()).add(host)
            if network_name:
                a.network_names.setdefault(probe_asn, network_name)
            a.hosts.add(host)
            if valid is not None and ip in valid:
                a.tls_valid_for.add(host)
            for m in matches:
                a.fingerprints.setdefault(m.fingerprint.name, m.fingerprint)
    return found, control_returned


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _network_label(asn: int, names: Mapping[int, str], own: Mapping[int, str]) -> str:
    return names.get(asn) or own.get(asn) or f"AS{asn}"


def vet(
    found: Mapping[str, _Address],
    control_returned: set[str],
    t: Thresholds,
    network_names: Mapping[int, str] | None = None,
    decisions: Mapping[str, dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Apply the rule to each address; the ``blocking_answers`` objects, sorted."""
    names = network_names or {}
    decisions = decisions or {}
    out = []
    for ip, a in found.items():
        asn = a.asns.most_common(1)[0][0] if a.asns else None
        org = a.orgs.most_common(1)[0][0] if a.orgs else None
        bogon = is_bogon(ip)
        returned = ip in control_returned
        tls_valid = bool(a.tls_valid_for)
        per_network = {
            n: len({registrable_domain(h) for h in hosts}) for n, hosts in a.networks.items()
        }
        top_asn = min(per_network, key=lambda n: (-per_network[n], n))
        top = per_network[top_asn]
        top_label = _network_label(top_asn, names, a.network_names)
        fps = sorted(a.fingerprints.values(), key=lambda f: (not f.is_false_positive, f.name))
        fp_false = next((f for f in fps if f.is_false_positive), None)
        fp_censor = next((f for f in fps if f.scope in CONFIRMING_SCOPES), None)
        fingerprint = fp_false or fp_censor or (fps[0] if fps else None)
        reasons: list[str] = []
        if tls_valid:
            site = sorted(a.tls_valid_for)[0]
            reasons.append(f"a TLS handshake with the site's name validated on it ({site})")
        if returned:
            reasons.append("the control returned this address")
        if fp_false is not None:
            reasons.append(f"known false positive: fingerprint {fp_false.name}")
        if reasons:
            verdict = FALSE_POSITIVE
        else:
            if fp_censor is not None:
                reasons.append(f"matches the censorship fingerprint {fp_censor.name}")
            if bogon and len(a.hosts) >= t.bogon_min_domains:
                reasons.append(
                    f"a bogon address (no public website has one), answered for "
                    f"{_n(len(a.hosts), 'domain')}"
                )
            if top >= t.sinkhole_min_domains:
                reasons.append(
                    f"answered for {_n(top, 'unrelated domain')} on {top_label}, never by the "
                    "control, never validated by TLS for those names"
                )
            verdict = BLOCKING if reasons else UNCLEAR
            if verdict == UNCLEAR:
                reasons.append(
                    f"answered for {_n(top, 'unrelated domain')} on one network at most "
                    f"(blocking needs {t.sinkhole_min_domains}); not returned by the control; "
                    "no TLS handshake validated on it"
                )
        if a.own_network:
            own = ", ".join(
                _network_label(n, names, a.network_names) for n in sorted(a.own_network)
            )
            reasons.append(f"inside the answering ISP's own network ({own})")
        if fingerprint is None:
            reasons.append("no known fingerprint")
        networks = [
            {
                "asn": n,
                "name": _network_label(n, names, a.network_names),
                "domains": per_network[n],
                "hosts": sorted(a.networks[n]),
            }
            for n in sorted(a.networks, key=lambda n: (-per_network[n], n))
        ]
        out.append(
            {
                "ip": ip,
                "verdict": verdict,
                "asn": asn,
                "as_org_name": org,
                "networks": networks,
                "domains": {
                    "count": len(a.hosts),
                    "names": sorted(a.hosts),
                    "unrelated": len({registrable_domain(h) for h in a.hosts}),
                },
                "measurements": a.measurements,
                "in_own_network": bool(a.own_network),
                "control_returned": returned,
                "tls_valid_for_site": tls_valid,
                "bogon": bogon,
                "fingerprint": fingerprint.name if fingerprint is not None else None,
                "reasons": reasons,
                "decision": decisions.get(ip),
            }
        )
    rank = {v: i for i, v in enumerate(ANSWER_VERDICTS)}
    out.sort(key=lambda r: (rank[r["verdict"]], -r["measurements"], r["ip"]))
    return out


def _n(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def load_decisions(conn: Connection, ips: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The latest ``answer_decisions`` row of each address, as the JSON shows it (latest =
    highest id, as :func:`censorwatch.answer_decisions.latest_decisions` counts them)."""
    t = AnswerDecision.__table__.c
    wanted = sorted(set(ips))
    out: dict[str, dict[str, Any]] = {}
    for i in range(0, len(wanted), _IN_CHUNK):
        rows = conn.execute(
            select(t.ip, t.decision, t.reason, t.decided_by, t.decided_at)
            .where(t.ip.in_(wanted[i : i + _IN_CHUNK]))
            .order_by(t.ip, t.id)  # the latest decision is the last recorded (highest id)
        )
        for ip, decision, reason, by, at in rows:
            out[ip] = {
                "decision": decision,
                "reason": reason,
                "decided_by": by,
                "decided_at": at.isoformat(timespec="seconds") if at is not None else None,
            }
    return out


def blocking_answers(
    conn: Connection,
    scope: Scope,
    t: Thresholds,
    fingerprints: FingerprintDB,
    network_names: Mapping[int, str] | None = None,
    domains: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """The ``blocking_answers`` of one country and period (see the module docstring).

    ``domains``: read only these domains' rows (the analysis passes the domains with a DNS
    anomaly or a confirmed measurement, so the cost follows them, not the year); None reads
    every candidate row of the period.
    """
    if domains is not None and not domains:
        return []
    found, control_returned = collect(_iter_candidates(conn, scope, domains), fingerprints)
    decisions = load_decisions(conn, found) if found else {}
    return vet(found, control_returned, t, network_names, decisions)


__all__ = [
    "ANSWER_VERDICTS",
    "BLOCKING",
    "FALSE_POSITIVE",
    "UNCLEAR",
    "blocking_answers",
    "candidate_query",
    "collect",
    "load_decisions",
    "registrable_domain",
    "vet",
]
