"""The verdict: OONI Web Connectivity's classification, one engine for our probes and OONI's.

:func:`judge` recomputes the classification from what a document observed (it does not trust
the ``blocking`` a probe wrote), then overlays blocking fingerprints the way OONI's fastpath
does. The rules, with their sources and censorwatch's deliberate differences, are written
down in ``docs/verdicts.md``; every step leaves a short reason for evidence tables.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from censorwatch.fingerprints import FingerprintDB, FingerprintMatch, default_fingerprints
from censorwatch.measurement import SOURCE_PROBE, Measurement
from censorwatch.verdict import dns as dnsrules
from censorwatch.verdict import http as httprules
from censorwatch.verdict.observations import (
    STEP_DNS,
    STEP_HTTP,
    STEP_TCP,
    STEP_TLS,
    Control,
    DNSResult,
    Observations,
    Response,
    Step,
    is_ip,
    observe,
)

#: Version of the rules *and* of the project's fingerprint file (they move together; a test
#: checks it). Stored with every judged row so rows can be re-judged when it changes.
RULES_VERSION = "2026.12.1"

DNS = "dns"
TCP_IP = "tcp_ip"
TLS = "tls"
HTTP_FAILURE = "http-failure"
HTTP_DIFF = "http-diff"
NO_BLOCKING = "false"
BLOCKING_TYPES = (DNS, TCP_IP, TLS, HTTP_FAILURE, HTTP_DIFF)

#: Failures of the final HTTP request that OONI classifies (probe-cli ``summary.go``).
_HTTP_FAILURES = (
    "connection_refused",
    "connection_reset",
    "eof_error",
    "generic_timeout_error",
    "ssl_invalid_hostname",
    "ssl_invalid_certificate",
    "ssl_unknown_authority",
    "ssl_failed_handshake",
)
_TLS_FAILURE_PREFIXES = ("ssl_", "connection_reset", "eof_error", "generic_timeout_error")
_VERDICT_FINGERPRINT_MAX = 255


@dataclass(frozen=True)
class Verdict:
    """The engine's call on one measurement (see the module docstring)."""

    #: "dns" | "tcp_ip" | "tls" | "http-failure" | "http-diff" | "false" | None (undetermined)
    blocking: str | None
    accessible: bool | None
    anomaly: bool
    confirmed: bool
    failure: bool
    #: Names of the blocking fingerprints that matched.
    fingerprints: tuple[str, ...] = ()
    #: Short human-readable why, for evidence tables.
    reasons: tuple[str, ...] = ()


@dataclass
class _State:
    blocking: str | None = None
    accessible: bool | None = None
    website_down: bool = False
    reasons: list[str] = dataclasses.field(default_factory=list)

    def call(self, blocking: str | None, accessible: bool | None, why: str) -> None:
        self.blocking, self.accessible = blocking, accessible
        self.reasons.append(why)


def _control_dns(obs: Observations, st: _State) -> DNSResult | None:
    """The TH's DNS answer; DoH answers add to it, or stand in when there is no TH answer.

    DoH resolvers the ISP cannot tamper with are evidence of the real addresses; when they
    fail (they may be blocked themselves) that is never taken as blocking.
    """
    th = obs.control.dns if obs.control is not None and obs.control_failure is None else None
    doh_ok = [r for r in obs.doh.values() if r.ok and r.addrs]
    if th is not None:
        if th.ok and doh_ok:
            merged = DNSResult(addrs=list(th.addrs), asns=dict(th.asns), resolver="th+doh")
            for r in doh_ok:
                merged.addrs.extend(a for a in r.addrs if a not in merged.addrs)
                merged.asns.update(r.asns)
            return merged
        return th
    if doh_ok:
        st.reasons.append("control DNS from DNS-over-HTTPS resolvers (no test-helper answer)")
        merged = DNSResult(resolver="doh")
        for r in doh_ok:
            merged.addrs.extend(a for a in r.addrs if a not in merged.addrs)
            merged.asns.update(r.asns)
        return merged
    doh_nx = [r for r in obs.doh.values() if dnsrules.is_nxdomain(r.failure)]
    if doh_nx and len(doh_nx) == len(obs.doh):
        return DNSResult(failure="dns_nxdomain_error", resolver="doh")
    return None


def _tls_valid_ips(obs: Observations) -> set[str]:
    out = set()
    for address, ok, _failure, server_name, no_verify in obs.tls:
        if ok and not no_verify and (not server_name or server_name == obs.hostname):
            out.add(address.rsplit(":", 1)[0].strip("[]"))
    return out


def _dns_step(obs: Observations, st: _State) -> str | None:
    control = _control_dns(obs, st)
    # v0.5 (OONI Probe 3.21 and later): a TLS handshake that validates on an address does not
    # make the system resolver's answer consistent, since a DNS-hijacking proxy passes TLS
    # through untouched while it serves its own plain-HTTP pages (OONI's classic analysis).
    tls_valid = set() if obs.steps is not None else _tls_valid_ips(obs)
    consistency, why = dnsrules.dns_consistency(
        obs.probe_dns, control, host_is_ip=obs.host_is_ip, tls_valid_ips=tls_valid
    )
    if consistency is None and control is None:
        reported = obs.reported.get("dns_consistency")
        if reported in (dnsrules.CONSISTENT, dnsrules.INCONSISTENT):
            st.reasons.append(f"DNS {reported} as the probe reported it (no control DNS data)")
            return str(reported)
        probe = obs.probe_dns
        if probe is not None and probe.ok and not obs.host_is_ip:
            bogons = [a for a in probe.addrs if dnsrules.is_bogon(a)]
            if bogons and len(bogons) == len([a for a in probe.addrs if ":" in a or "." in a]):
                st.reasons.append(f"bogon answer {bogons[0]} (no control to compare)")
                return dnsrules.INCONSISTENT
    if consistency is not None:
        st.reasons.append(f"DNS {consistency}: {why}")
    else:
        st.reasons.append(f"DNS consistency undetermined: {why}")
    return consistency


def _classify(obs: Observations, st: _State) -> None:
    """probe-cli's ``Summarize`` (v0.4), with censorwatch's refinements marked."""
    if obs.steps is not None:
        _classify_lte(obs, obs.steps, st)
        return
    reqs = obs.requests
    final = reqs[0] if reqs else None
    if final is not None and final.failure is None and final.url.startswith("https://"):
        st.call(NO_BLOCKING, True, "HTTPS page fetched with a valid certificate")
        return
    consistency = _dns_step(obs, st)
    has_control = obs.control is not None and obs.control_failure is None
    if not has_control:
        # censorwatch: without a control only DNS signals (and fingerprints) can speak.
        if consistency == dnsrules.INCONSISTENT:
            st.call(DNS, False, "DNS answer inconsistent with the DNS control")
            return
        why = f"control failed ({obs.control_failure})" if obs.control_failure else "no control"
        st.reasons.append(f"{why}: only DNS signals and fingerprints can be judged")
        return
    probe_dns = obs.probe_dns
    if (
        probe_dns is not None
        and dnsrules.is_nxdomain(probe_dns.failure)
        and consistency == dnsrules.CONSISTENT
    ):
        st.call(NO_BLOCKING, True, "the domain does not exist for the control either")
        return
    if consistency == dnsrules.INCONSISTENT:
        st.call(DNS, False, "DNS answer inconsistent with the control")
        return
    attempts = len(obs.tcp)
    successes = sum(1 for t in obs.tcp if t[2])
    if attempts > 0 and successes == 0 and consistency is not None:
        ctrl = obs.control
        assert ctrl is not None
        known = [ctrl.tcp.get(_endpoint(ip, port)) for ip, port, _, _ in obs.tcp]
        known = [k for k in known if k is not None]
        if known and not any(ok for ok, _ in known):
            # censorwatch: the spec's rule, "both fail: the host is offline".
            st.website_down = True
            st.call(NO_BLOCKING, False, "TCP connect fails for the control too: site down")
            return
        st.call(TCP_IP, False, f"TCP connect failed ({obs.tcp[0][3]}) while the control connects")
        return
    ctrl = obs.control
    assert ctrl is not None
    if final is not None and final.failure is not None and _tls_only_failure(obs, ctrl):
        st.call(
            TLS,
            False,
            f"TLS handshake failed ({_tls_failure(obs)}) after TCP connected; "
            "the control completed it",
        )
        return
    if ctrl.http_failure is not None:
        if final is not None and final.failure is not None:
            st.website_down = True
            st.call(
                NO_BLOCKING,
                False,
                f"the control's HTTP request failed too ({ctrl.http_failure}): site down",
            )
            return
        st.reasons.append(f"the control's HTTP request failed ({ctrl.http_failure})")
        return
    if final is None:
        st.reasons.append("no HTTP request in the measurement")
        return
    if final.failure is not None:
        failure = final.failure
        if dnsrules.is_nxdomain(failure):
            st.call(DNS, False, f"HTTP request failed resolving a redirect ({failure})")
        elif any(failure.startswith(f) for f in _HTTP_FAILURES):
            st.call(HTTP_FAILURE, False, f"HTTP request failed ({failure}); the control's did not")
        else:
            st.reasons.append(f"HTTP request failed with an unclassified error ({failure})")
            return
        if len(reqs) == 1 and consistency == dnsrules.INCONSISTENT:
            st.call(DNS, False, "single request and untrustworthy DNS: DNS blamed")
        return
    same, detail = _compare_pages(final, ctrl)
    if same:
        st.call(NO_BLOCKING, True, f"same page as the control ({detail})")
        return
    st.call(HTTP_DIFF, False, f"page differs from the control's ({detail})")


def _compare_pages(final: Response, ctrl: Control) -> tuple[bool, str]:
    """OONI's four checks: same page when the status code matches and one of body length,
    headers or title does. Returns the call and the detail for the reasons."""
    body_match, proportion = httprules.body_proportion(final, ctrl)
    status = httprules.status_code_match(final, ctrl)
    headers = httprules.headers_match(final, ctrl)
    title = httprules.title_match(final, ctrl)
    detail = (
        f"status {final.code} vs {ctrl.http_status}, body proportion "
        f"{'n/a' if proportion is None else f'{proportion:.2f}'}, headers "
        f"{_yn(headers)}, title {_yn(title)}"
    )
    return bool(status and (body_match or headers or title)), detail


#: Order of the v0.5 walk: the last redirect first; within one redirect the furthest stage
#: first (HTTP, TLS, TCP, DNS); successes before failures; the newest transaction first.
def _walk_order(step: Step) -> tuple[int, int, int, str, int]:
    return (-step.depth, -step.kind, step.failure is not None, step.failure or "", -step.txid)


def _is_final(step: Step) -> bool:
    """A response that ends the fetch: 2xx, 4xx or 5xx (a 3xx is followed)."""
    return (
        step.kind == STEP_HTTP
        and step.failure is None
        and step.response is not None
        and step.response.code // 100 in (2, 4, 5)
    )


def _only_loopback(addrs: Sequence[str]) -> bool:
    ips = [a for a in addrs if is_ip(a)]
    return bool(ips) and all(ipaddress.ip_address(a).is_loopback for a in ips)


class _LTEJudge:
    """OONI Web Connectivity v0.5's classic analysis, with censorwatch's refinements.

    After probe-cli's ``analysisClassicComputeBlockingAccessible`` (OONI Probe 3.21+): the
    classic steps are walked from the last redirect back to the URL itself, and the first
    step that says something decides. Three helpers say it the way OONI does: a blocking
    type is blamed on DNS when the system resolver's answer was inconsistent; "site down"
    (``blocking: false``, ``accessible: false``) likewise; and "undetermined" is "dns" when
    the DNS was inconsistent.
    """

    def __init__(self, obs: Observations, st: _State, consistency: str | None) -> None:
        self.obs, self.st = obs, st
        self.inconsistent = consistency == dnsrules.INCONSISTENT
        self.ctrl = obs.control if obs.control is not None and obs.control_failure is None else None

    def block(self, kind: str, why: str) -> None:
        if self.inconsistent and kind != DNS:
            self.st.call(DNS, False, f"{why}; the DNS answer was inconsistent: DNS blamed")
        else:
            self.st.call(kind, False, why)

    def down(self, why: str) -> None:
        if self.inconsistent:
            self.st.call(DNS, False, f"{why}; the DNS answer was inconsistent: DNS blamed")
        else:
            self.st.website_down = True
            self.st.call(NO_BLOCKING, False, f"{why}: site down")

    def undetermined(self, why: str) -> None:
        if self.inconsistent:
            self.st.call(DNS, False, f"{why}; the DNS answer was inconsistent")
        else:
            self.st.reasons.append(why)

    @property
    def control_fetched(self) -> bool | None:
        """Did the control fetch the page? ``None``: no control answer."""
        if self.ctrl is None or not self.ctrl.has_http:
            return None
        return self.ctrl.http_failure is None

    def final_response(self, step: Step) -> None:
        assert step.response is not None
        if step.tls_ok:
            self.st.call(NO_BLOCKING, True, "HTTPS page fetched with a valid certificate")
            return
        ctrl = self.ctrl
        if ctrl is None:
            failed = self.obs.control_failure
            why = f"control failed ({failed})" if failed else "no control"
            self.undetermined(f"{why}: only DNS signals and fingerprints can be judged")
            return
        if ctrl.http_failure is not None:
            self.undetermined(
                f"page fetched, but the control's HTTP request failed ({ctrl.http_failure})"
            )
            return
        same, detail = _compare_pages(step.response, ctrl)
        if same:
            self.st.call(NO_BLOCKING, True, f"same page as the control ({detail})")
            return
        self.block(HTTP_DIFF, f"page differs from the control's ({detail})")

    def failed(self, step: Step, kind: str, what: str) -> None:
        """A failed step that the control has no direct counterpart for: judged by whether
        the control fetched the page (OONI: http-failure; dns for a lookup)."""
        fetched = self.control_fetched
        if fetched is None:
            self.undetermined(f"{what}; no control to compare")
        elif not fetched:
            assert self.ctrl is not None
            self.down(f"{what}; the control's HTTP request failed too ({self.ctrl.http_failure})")
        else:
            self.block(kind, f"{what} while the control fetched the page")

    def step(self, step: Step) -> bool:
        """Judge one step; ``True`` when it decided the verdict."""
        where = f" after {step.depth} redirect(s)" if step.depth else ""
        if _is_final(step):
            self.final_response(step)
            return True
        if step.failure is None:
            return self.dns_success(step) if step.kind == STEP_DNS else False
        failure = step.failure
        if step.kind == STEP_HTTP:
            if dnsrules.is_nxdomain(failure):
                self.failed(step, DNS, f"HTTP request failed resolving a name ({failure}){where}")
            else:
                self.failed(step, HTTP_FAILURE, f"HTTP request failed ({failure}){where}")
            return True
        ctrl = self.ctrl
        if step.kind == STEP_TLS:
            known = ctrl.tls.get(step.endpoint) if ctrl is not None else None
            same_name = (
                ctrl is not None
                and ctrl.tls_server_names.get(step.endpoint, step.tls_server_name)
                == step.tls_server_name
            )
            what = f"TLS handshake with {step.endpoint} failed ({failure}){where}"
            if known is not None and same_name:
                if not known[0]:
                    self.down(f"{what}; the control's failed too ({known[1]})")
                else:
                    # censorwatch: "tls" (OONI: http-failure), the control completed it.
                    self.block(TLS, f"{what}; the control completed it")
                return True
            if step.depth == 0 and self.control_fetched:
                # censorwatch: the control fetched the page, so its handshake worked.
                self.block(TLS, f"{what}; the control fetched the page")
                return True
            self.failed(step, HTTP_FAILURE, what)
            return True
        if step.kind == STEP_TCP:
            known = ctrl.tcp.get(step.endpoint) if ctrl is not None else None
            what = f"TCP connect to {step.endpoint} failed ({failure}){where}"
            if known is not None:
                if not known[0]:
                    self.down(f"{what}; the control's failed too ({known[1]})")
                else:
                    self.block(TCP_IP, f"{what} while the control connects")
                return True
            self.failed(step, HTTP_FAILURE, what)
            return True
        return self.dns_failure(step)

    def dns_failure(self, step: Step) -> bool:
        failure = step.failure or ""
        what = f"the system resolver failed for {step.hostname or 'the host'} ({failure})"
        control_dns = self.ctrl.dns if self.ctrl is not None else None
        if step.depth == 0 and control_dns is not None:
            if not control_dns.ok:
                # v0.5: a name nobody can resolve is "down", not accessible.
                self.down(f"{what}; the control's lookup failed too ({control_dns.failure})")
            elif not [a for a in control_dns.addrs if is_ip(a)]:
                self.down(f"{what}; the control has no address either")
            else:
                self.block(DNS, f"{what} while the control resolves it")
            return True
        self.failed(step, DNS, what + (f" after {step.depth} redirect(s)" if step.depth else ""))
        return True

    def dns_success(self, step: Step) -> bool:
        """v0.5 does not connect to loopback answers, so they are judged here."""
        control_dns = self.ctrl.dns if self.ctrl is not None else None
        if step.depth or control_dns is None or not control_dns.ok:
            return False
        if not _only_loopback(step.addrs):
            return False
        if _only_loopback(control_dns.addrs):
            self.down("the system resolver and the control both answer only loopback addresses")
        else:
            self.block(DNS, f"loopback answer {step.addrs[0]} while the control's are public")
        return True


def _classify_lte(obs: Observations, steps: list[Step], st: _State) -> None:
    """Web Connectivity v0.5 documents (see :class:`_LTEJudge`)."""
    judge_ = _LTEJudge(obs, st, _dns_step(obs, st))
    for step in sorted(steps, key=_walk_order):
        if judge_.step(step):
            return
    judge_.undetermined("no classic step of the measurement decides")


def _yn(value: bool | None) -> str:
    return "n/a" if value is None else ("match" if value else "differ")


def _endpoint(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _tls_failure(obs: Observations) -> str | None:
    for _address, ok, failure, _sn, _nv in obs.tls:
        if not ok:
            return failure
    return None


def _tls_only_failure(obs: Observations, ctrl: Any) -> bool:
    """censorwatch's "tls": TCP connected, every TLS handshake failed, the control's worked."""
    if not obs.tls or obs.scheme != "https":
        return False
    if any(ok for _a, ok, _f, _s, _n in obs.tls):
        return False
    failure = _tls_failure(obs) or ""
    if not failure.startswith(_TLS_FAILURE_PREFIXES):
        return False
    if not any(t[2] for t in obs.tcp):
        return False
    if ctrl.tls:
        return any(ok for ok, _ in ctrl.tls.values())
    return ctrl.http_failure is None and ctrl.http_status > 0


def _fingerprint_matches(obs: Observations, db: FingerprintDB) -> list[FingerprintMatch]:
    matches: list[FingerprintMatch] = []
    seen: set[tuple[str, str]] = set()
    for answer in obs.all_answers:
        for m in db.match_dns(answer):
            if (m.fingerprint.name, answer) not in seen:
                seen.add((m.fingerprint.name, answer))
                matches.append(m)
    control_title = obs.control.http_title if obs.control is not None else ""
    for req in obs.requests:
        page_matches = db.match_response(req.raw)
        # censorwatch: a page the control also receives is the site's own page.
        if (
            page_matches
            and control_title
            and req.body is not None
            and httprules.extract_title(req.body) == control_title.strip()
        ):
            page_matches = [m for m in page_matches if m.location != "body"]
        for m in page_matches:
            if (m.fingerprint.name, m.location) not in seen:
                seen.add((m.fingerprint.name, m.location))
                matches.append(m)
    return matches


def _overlay_fingerprints(
    obs: Observations, st: _State, matches: list[FingerprintMatch]
) -> tuple[bool, bool]:
    """Apply fingerprint matches; returns ``(confirmed, neutralised)``."""
    confirmed = False
    neutralised = False
    control_addrs = set(obs.control.dns.addrs) if obs.control and obs.control.dns else set()
    probe_addrs = set(obs.probe_dns.addrs) if obs.probe_dns else set()
    # An answer that one set marks as a known false positive confirms nothing, whatever the
    # order of the sets (a working group's rejection, a "local" fp row, is loaded last).
    known_fp_answers = {
        m.value for m in matches if m.location == "dns" and m.fingerprint.is_false_positive
    }
    for m in matches:
        fp = m.fingerprint
        label = f"fingerprint {fp.name} ({fp.scope}) matched {m.location} {m.value!r}"
        if not fp.is_false_positive and m.location == "dns" and m.value in known_fp_answers:
            st.reasons.append(f"{label}, but a false-positive fingerprint marks it too: ignored")
            continue
        if fp.is_false_positive:
            st.reasons.append(f"{label}: known false positive, not counted as blocking")
            if m.location == "dns" and st.blocking == DNS and m.value in probe_addrs:
                st.blocking, st.accessible = None, None
                neutralised = True
            continue
        if m.location == "dns" and m.value in control_addrs:
            st.reasons.append(f"{label}, but the control resolves to it too: ignored")
            continue
        kind = DNS if m.location == "dns" else HTTP_DIFF
        if fp.confirms(obs.probe_cc, obs.probe_asn):
            confirmed = True
            st.reasons.append(f"{label}: confirmed blocking")
            if st.blocking in (None, NO_BLOCKING) or (kind == DNS and st.blocking != DNS):
                st.blocking, st.accessible = kind, False
                st.website_down = False
        else:
            scope_note = {
                "prod": "product-scope signal (a filtering product, not necessarily the ISP)",
            }.get(fp.scope, "evidence, not confirmation (likely blocking)")
            st.reasons.append(f"{label}: {scope_note}")
            if st.blocking in (None, NO_BLOCKING) and kind == DNS:
                st.blocking, st.accessible = DNS, False
                st.website_down = False
    return confirmed, neutralised


def judge(document: Mapping[str, Any], fingerprints: FingerprintDB | None = None) -> Verdict:
    """Classify one web_connectivity measurement (OONI data format, any version, or ours)."""
    if type(document) is not dict and not isinstance(document, Mapping):
        return Verdict(None, None, False, False, True, (), ("not a measurement document",))
    test_name = document.get("test_name")
    if test_name != "web_connectivity":
        return Verdict(
            None, None, False, False, False, (), (f"not judged: test_name is {test_name!r}",)
        )
    db = fingerprints if fingerprints is not None else default_fingerprints()
    obs = observe(document)
    st = _State()
    _classify(obs, st)
    for finding in dnsrules.interception(obs.do53, obs.doh):
        st.reasons.append(finding)
    matches = _fingerprint_matches(obs, db)
    confirmed, neutralised = _overlay_fingerprints(obs, st, matches)
    blocking = st.blocking
    anomaly = blocking in BLOCKING_TYPES or confirmed
    # A "dns" verdict that rested on a known false-positive answer gives no conclusion: the
    # measurement says nothing about blocking either way (docs/verdicts.md).
    failure = blocking is None and (neutralised or not matches)
    accessible = st.accessible
    if blocking in BLOCKING_TYPES:
        accessible = False
    names = tuple(dict.fromkeys(m.fingerprint.name for m in matches))
    return Verdict(
        blocking=blocking,
        accessible=accessible,
        anomaly=anomaly,
        confirmed=confirmed,
        failure=failure,
        fingerprints=names,
        reasons=tuple(st.reasons),
    )


def _joined_names(names: tuple[str, ...]) -> str | None:
    out = ""
    for name in names:
        candidate = f"{out},{name}" if out else name
        if len(candidate) > _VERDICT_FINGERPRINT_MAX:
            break
        out = candidate
    return out or None


def apply_verdict(
    m: Measurement, v: Verdict, fingerprints: FingerprintDB | None = None
) -> Measurement:
    """Record ``v`` on ``m`` (in place, and returned) in the verdict columns.

    ``fingerprints`` is the database ``v`` was judged with (None: the default one); its hash
    goes on the row so ``censorwatch rejudge`` knows which rows older sets judged.

    For our own probe's measurements the engine *is* the pipeline that judges them, so the
    OONI-style flags (anomaly, confirmed, failure, blocking, accessible) are set from it too;
    OONI's measurements keep the flags OONI's pipeline gave them.
    """
    m.verdict_blocking = v.blocking
    m.verdict_confirmed = v.confirmed
    m.verdict_fingerprint = _joined_names(v.fingerprints)
    m.verdict_version = RULES_VERSION
    m.verdict_fingerprints_hash = (
        fingerprints if fingerprints is not None else default_fingerprints()
    ).hash
    if m.source == SOURCE_PROBE:
        m.anomaly = v.anomaly
        m.confirmed = v.confirmed
        m.failure = v.failure
        m.blocking = v.blocking
        m.accessible = v.accessible
    return m
