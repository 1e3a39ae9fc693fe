"""One URL, measured the way OONI's Web Connectivity does, and judged.

Steps (docs/probes.md): DNS with the probe's resolver; the control asked in parallel (test
helper, DoH, plain public DNS); TCP connect to every address; TLS with SNI for https; HTTP
GET following redirects. A site that hangs costs one timeout: when every connect (or every
TLS handshake) timed out the GET is not attempted again, and its entry carries that failure.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from censorwatch.fingerprints import FingerprintDB
from censorwatch.measurement import utcnow
from censorwatch.probes import control as control_client
from censorwatch.probes import dns as probe_dns
from censorwatch.probes import failures, tcp, tls
from censorwatch.probes import http as probe_http
from censorwatch.probes.document import RunInfo, build_document
from censorwatch.probes.pool import DaemonPool
from censorwatch.verdict import Verdict


@dataclass
class ProbeContext:
    """Everything a measurement needs, fixed for the whole run."""

    run: RunInfo
    nameservers: Sequence[tuple[str, int]]
    resolver_engine: str = "system"
    timeout: float = 10.0
    user_agent: str = "Mozilla/5.0"
    max_body_bytes: int = 1024 * 1024
    control_url: str = ""
    doh: probe_dns.DoHClient | None = None
    #: Plain-DNS endpoints of public resolvers, by host, paired with DoH URLs of that host.
    public_resolvers: dict[str, tuple[str, int]] = field(default_factory=dict)
    verify: bool | str = True
    fingerprints: FingerprintDB | None = None

    @property
    def control_timeout(self) -> float:
        """The helper measures with its own timeouts; give it time to answer."""
        return self.timeout + 5.0


@dataclass
class Started:
    """A measurement whose network steps are done and whose controls may still be running."""

    url: str
    category_code: str | None
    start: datetime
    t0: float
    test_keys: dict[str, Any]
    control: Future | None
    dns_controls: Future


@dataclass
class Result:
    url: str
    category_code: str | None
    document: dict[str, Any]
    verdict: Verdict
    #: Set when the URL is stored as a failure, not judged: ``offline`` (no DNS answer, no
    #: control), ``no_control`` (no control and no site reached) or ``error`` (a bug).
    failure: str | None = None


#: What a failure stored instead of a verdict says, by kind (docs/probes.md).
FAILURE_REASONS = {
    "offline": "no DNS answer and no control",
    "no_control": "no control answered and no site was reached",
    "error": "the measurement raised an error",
}


def as_failure(
    doc: dict[str, Any], kind: str, detail: str, *, partial: bool
) -> tuple[dict[str, Any], Verdict]:
    """Turn a judged (or unjudgeable) document into a stored failure: never blocking.

    ``test_keys.x_failure`` says why in words, ``x_partial`` whether the network steps that
    were done are in the document; the verdict is undetermined and flagged as a failure.
    """
    reason = f"{FAILURE_REASONS.get(kind, kind)}: {detail}" if detail else FAILURE_REASONS[kind]
    verdict = Verdict(
        blocking=None,
        accessible=None,
        anomaly=False,
        confirmed=False,
        failure=True,
        fingerprints=(),
        reasons=(f"not judged: {reason}",),
    )
    tk = doc["test_keys"]
    tk["blocking"] = None
    tk["accessible"] = None
    tk["x_failure"] = reason
    tk["x_failure_kind"] = kind
    tk["x_partial"] = partial
    tk["x_verdict"] = dict(
        tk.get("x_verdict") or {},
        anomaly=False,
        confirmed=False,
        failure=True,
        fingerprints=[],
        reasons=list(verdict.reasons),
    )
    return doc, verdict


def _endpoint_port(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return (parts.hostname or "").lower(), scheme, parts.port or (443 if scheme == "https" else 80)


class Prober:
    """Measures URLs with a shared pool for the parallel side-tasks of each measurement."""

    def __init__(self, ctx: ProbeContext, aux_workers: int = 64) -> None:
        self.ctx = ctx
        self.aux = DaemonPool(aux_workers, name="probe-aux")

    def close(self) -> None:
        self.aux.shutdown()

    # -- side tasks ---------------------------------------------------------------------

    def _dns_controls(self, hostname: str) -> tuple[dict | None, dict | None, bool]:
        """DoH answer (first resolver that works), plain DNS to the same resolver, and
        whether a DoH resolver answered."""
        doh = self.ctx.doh
        if doh is None or not doh.urls or not hostname:
            return None, None, False
        answer, failed = doh.first_answer(hostname)
        queries = [q for lookup in failed for q in lookup.queries]
        if answer is None:
            # Every DoH resolver failed or is skipped: recorded, never taken as blocking.
            return ({"queries": queries} if queries else None), None, False
        x_doh = {"queries": [*queries, *answer.queries]}
        plain = self.ctx.public_resolvers.get(probe_dns.doh_host(answer.resolver))
        x_do53 = None
        if plain is not None:
            lookup = probe_dns.resolve(
                hostname, [plain], min(self.ctx.timeout, 5.0), engine="udp", tags=("depth=0",)
            )
            x_do53 = {"queries": lookup.queries}
        return x_doh, x_do53, True

    def _connects(
        self, addrs: list[str], port: int, hostname: str, https: bool
    ) -> tuple[list[dict], list[dict]]:
        def one(ip: str) -> tuple[dict, dict | None]:
            entry = tcp.connect(ip, port, self.ctx.timeout)
            hs = None
            if https and entry["status"]["success"]:
                hs = tls.handshake(ip, port, hostname, self.ctx.timeout)
            return entry, hs

        results = [one(addrs[0])] if len(addrs) == 1 else list(self.aux.map(one, addrs))
        return [r[0] for r in results], [r[1] for r in results if r[1] is not None]

    # -- the measurement ----------------------------------------------------------------

    def measure(self, url: str, category_code: str | None = None) -> Result:
        """Measure ``url`` and judge it (``start`` then ``finish``)."""
        return self.finish(self.start(url, category_code))

    def start(self, url: str, category_code: str | None = None) -> Started:
        """The probe's own network steps; the controls are left running in the background.

        The runner calls :meth:`finish` elsewhere, so a slow test helper does not hold one of
        the ``concurrency`` slots that bound the probe's own traffic.
        """
        ctx = self.ctx
        start = utcnow()
        t0 = time.monotonic()
        hostname, scheme, port = _endpoint_port(url)
        https = scheme == "https"
        lookup = probe_dns.resolve(
            hostname, ctx.nameservers, ctx.timeout, engine=ctx.resolver_engine
        )
        addrs = [a for a in lookup.addrs if ":" in a or "." in a]
        headers = {
            "Accept": probe_http.ACCEPT,
            "Accept-Language": probe_http.ACCEPT_LANGUAGE,
            "User-Agent": ctx.user_agent,
        }
        control_request = control_client.control_request(
            url, headers, [tcp.endpoint(a, port) for a in addrs]
        )
        control_future: Future | None = None
        if ctx.control_url:
            control_future = self.aux.submit(
                control_client.query_control,
                ctx.control_url,
                control_request,
                ctx.control_timeout,
                ctx.verify,
            )
        dns_controls: Future = Future()
        if ctx.doh is not None and ctx.doh.urls and hostname:
            dns_controls = self.aux.submit(self._dns_controls, hostname)
        else:  # nothing to ask: no thread for it (a 2,000-URL run starts fewer threads)
            dns_controls.set_result((None, None, False))
        if addrs:
            tcp_entries, tls_entries = self._connects(addrs, port, hostname, https)
        else:
            tcp_entries, tls_entries = [], []
        requests = self._http(url, hostname, lookup, addrs, tcp_entries, tls_entries)
        test_keys: dict[str, Any] = {
            "agent": "redirect",
            "client_resolver": None,
            "retries": None,
            "socksproxy": None,
            "x_resolver": lookup.resolver,
            "queries": lookup.queries,
            "dns_experiment_failure": lookup.failure,
            "tcp_connect": tcp_entries,
            "tls_handshakes": tls_entries or None,
            "requests": requests,
            "x_control_request": control_request if ctx.control_url else None,
            "http_experiment_failure": requests[0]["failure"] if requests else None,
        }
        return Started(url, category_code, start, t0, test_keys, control_future, dns_controls)

    def waits_for(self, started: Started) -> list[Future | None]:
        """What :meth:`finish` waits for: the runner finishes ``started`` once they are done."""
        return [started.control, started.dns_controls]

    @property
    def finish_deadline(self) -> float:
        """Seconds after :meth:`start` by which :meth:`finish` is called even if a control
        is still running (it then records the control as timed out)."""
        return max(self.ctx.control_timeout, self.ctx.timeout * 2) + 1.0

    def finish(self, started: Started) -> Result:
        """Wait for the controls, build the document and judge it."""
        ctx = self.ctx
        control: dict[str, Any] = {}
        control_failure: str | None = None
        if started.control is not None:
            try:
                control, control_failure = started.control.result(
                    timeout=max(0.1, ctx.control_timeout - (time.monotonic() - started.t0))
                )
            except FutureTimeout:
                control, control_failure = {}, failures.TIMEOUT
        # Without a test helper there is no control (not a failed one): ``control`` stays {}.
        try:
            x_doh, x_do53, doh_answered = started.dns_controls.result(
                timeout=max(0.1, ctx.timeout * 2)
            )
        except FutureTimeout:
            x_doh, x_do53, doh_answered = None, None, False
        test_keys = dict(started.test_keys, control=control, control_failure=control_failure)
        if x_doh:
            test_keys["x_doh"] = x_doh
        if x_do53:
            test_keys["x_do53"] = x_do53
        doc, verdict = build_document(
            ctx.run,
            url=started.url,
            start=started.start,
            runtime=time.monotonic() - started.t0,
            category_code=started.category_code,
            test_keys=test_keys,
            fingerprints=ctx.fingerprints,
        )
        failure = _unjudgeable(test_keys, bool(control) and control_failure is None, doh_answered)
        answer_says_dns = (
            verdict.blocking == "dns" and test_keys.get("dns_experiment_failure") is None
        )
        if failure is not None and not verdict.confirmed and not answer_says_dns:
            # Nothing answered: the resolver, the control and the site all failed (or there
            # was no control). That is what an offline machine looks like; it is stored as a
            # failure, never as blocking. A resolver that did answer, with a bogon or a
            # loopback address, is a DNS signal of its own and keeps its verdict.
            kind, detail = failure
            doc, verdict = as_failure(doc, kind, detail, partial=True)
            return Result(started.url, started.category_code, doc, verdict, failure=kind)
        return Result(started.url, started.category_code, doc, verdict)

    def failed(
        self, url: str, category_code: str | None, exc: BaseException, runtime: float = 0.0
    ) -> Result:
        """A URL whose measurement raised, as a stored failure (no network steps kept)."""
        test_keys: dict[str, Any] = {
            "agent": "redirect",
            "queries": None,
            "tcp_connect": None,
            "requests": None,
            "control": {},
            "control_failure": None,
        }
        doc, _verdict = build_document(
            self.ctx.run,
            url=url,
            start=utcnow(),
            runtime=runtime,
            category_code=category_code,
            test_keys=test_keys,
            fingerprints=self.ctx.fingerprints,
        )
        doc, verdict = as_failure(doc, "error", f"{type(exc).__name__}: {exc}", partial=False)
        return Result(url, category_code, doc, verdict, failure="error")

    def _http(
        self,
        url: str,
        hostname: str,
        lookup: probe_dns.Lookup,
        addrs: list[str],
        tcp_entries: list[dict],
        tls_entries: list[dict],
    ) -> list[dict[str, Any]]:
        ctx = self.ctx
        skip_failure = None
        if not addrs:
            skip_failure = lookup.failure or failures.NO_ANSWER
        else:
            tcp_hung = all(e["status"]["failure"] == failures.TIMEOUT for e in tcp_entries)
            tls_hung = bool(tls_entries) and all(
                e["failure"] == failures.TIMEOUT for e in tls_entries
            )
            if tcp_hung or tls_hung:
                skip_failure = failures.TIMEOUT
        if skip_failure is not None:
            # One timeout per hanging site: the GET would only wait for the same silence.
            return [_not_attempted(url, skip_failure, ctx.user_agent)]
        good_first = [e["ip"] for e in tcp_entries if e["status"]["success"]]
        ordered = list(dict.fromkeys([*good_first, *addrs]))

        def resolver(host: str) -> list[str]:
            if host.lower() == hostname:
                return ordered
            other = probe_dns.resolve(host, ctx.nameservers, ctx.timeout)
            if other.failure is not None:
                raise probe_http.ResolutionFailed(other.failure)
            return other.addrs

        with probe_http.resolving_with(resolver):
            return probe_http.fetch(
                url,
                timeout=ctx.timeout,
                user_agent=ctx.user_agent,
                max_body_bytes=ctx.max_body_bytes,
                verify=ctx.verify,
            )


def _unjudgeable(
    test_keys: dict[str, Any], control_answered: bool, doh_answered: bool
) -> tuple[str, str] | None:
    """``(kind, detail)`` when no control answered and the probe reached no site, else None."""
    if control_answered or doh_answered:
        return None
    if any(e["status"]["success"] for e in test_keys.get("tcp_connect") or []):
        return None
    control = test_keys.get("control_failure") or (
        "no test helper" if test_keys.get("x_control_request") is None else "no answer"
    )
    dns_failure = test_keys.get("dns_experiment_failure")
    if dns_failure is not None and dns_failure not in (failures.NXDOMAIN, failures.NO_ANSWER):
        return "offline", f"dns={dns_failure}, control={control}"
    if dns_failure is not None:
        return "no_control", f"dns={dns_failure}, control={control}"
    tcp = [e["status"]["failure"] for e in test_keys.get("tcp_connect") or []]
    site = tcp[0] if tcp else "not attempted"
    return "no_control", f"control={control}, site={site}"


def _not_attempted(url: str, failure: str, user_agent: str) -> dict[str, Any]:
    return {
        "failure": failure,
        "request": {
            "url": url,
            "method": "GET",
            "headers": {"User-Agent": user_agent},
            "body": "",
            "body_is_truncated": False,
            "tor": {"is_tor": False, "exit_ip": None, "exit_name": None},
            "x_transport": "tcp",
        },
        "response": {"body": "", "body_is_truncated": False, "code": 0, "headers": None},
        "t0": 0.0,
        "t": 0.0,
        "tags": ["classic", "depth=0", "x_not_attempted"],
    }
