"""What a web_connectivity document observed, whatever version of OONI Probe (or ours) wrote it.

The verdict rules compare a few things: the probe's DNS answers, its TCP connects and TLS
handshakes, its HTTP responses, and the control's view of the same. This module digs them out
of the document once, tolerating every shape seen in real data: v0.3 (Python ooniprobe),
v0.4 (Go, classic), v0.5 (LTE, with ``classic``/``depth=0`` tags, ``x_doh``, ``x_do53`` and
``control.ip_info``) and censorwatch's own documents (v0.4 shape plus ``x_doh``/``x_do53``).

As the spec requires for v0.5, only the "classic" results are compared: lookups done with the
system resolver (``getaddrinfo``/``system``, or tagged ``classic``) and connects to the
addresses those lookups returned.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from censorwatch.fingerprints import decode_body, headers_from_list

SYSTEM_ENGINES = ("system", "getaddrinfo", "golang_net_resolver")


@dataclass
class DNSResult:
    """One resolver's view: addresses (and CNAMEs), a failure string, ASNs when known."""

    addrs: list[str] = field(default_factory=list)
    failure: str | None = None
    asns: dict[str, int] = field(default_factory=dict)
    resolver: str = ""

    @property
    def ok(self) -> bool:
        return self.failure is None


@dataclass
class Response:
    """An HTTP response as the rules need it."""

    url: str
    failure: str | None
    code: int
    headers: dict[str, str]
    body: str | bytes | None
    body_length: int | None
    body_is_truncated: bool
    raw: Mapping[str, Any] | None


@dataclass
class Control:
    """The test helper's answer (``test_keys.control``)."""

    dns: DNSResult | None
    tcp: dict[str, tuple[bool, str | None]]
    tls: dict[str, tuple[bool, str | None]]
    http_failure: str | None
    http_status: int
    http_body_length: int
    http_title: str
    http_headers: dict[str, str]
    has_http: bool
    #: The SNI of each of the control's TLS handshakes (v0.5), by endpoint.
    tls_server_names: dict[str, str] = field(default_factory=dict)


#: The kinds of a v0.5 step, in the order OONI's linear analysis looks at them (last first).
STEP_DNS, STEP_TCP, STEP_TLS, STEP_HTTP = 0, 1, 2, 3


@dataclass
class Step:
    """One step of a Web Connectivity v0.5 ("LTE") fetch: a DNS lookup or one endpoint.

    OONI's minipipeline calls these "web observations". An endpoint step is a TCP connect
    with, on the same connection (same ``transaction_id``), its TLS handshake and its HTTP
    round trip; its ``kind`` is the last of those that ran, and ``failure`` is that stage's
    failure (``None``: it succeeded). ``depth`` is the redirect the step belongs to (0 = the
    URL itself, 1 = the first redirect, ...).
    """

    kind: int
    depth: int
    txid: int
    failure: str | None
    #: DNS steps: the name looked up and the addresses (and CNAMEs) it returned.
    hostname: str = ""
    addrs: tuple[str, ...] = ()
    #: Endpoint steps.
    ip: str = ""
    port: int = 0
    tcp_failure: str | None = None
    #: The TLS handshake on this connection: ``None`` when none was made.
    tls_failure: str | None = None
    tls_server_name: str | None = None
    response: Response | None = None

    @property
    def endpoint(self) -> str:
        return f"[{self.ip}]:{self.port}" if ":" in self.ip else f"{self.ip}:{self.port}"

    @property
    def tls_ok(self) -> bool:
        return self.tls_server_name is not None and self.tls_failure is None


@dataclass
class Observations:
    """Everything :func:`censorwatch.verdict.judge` looks at, in one place."""

    input: str
    hostname: str
    scheme: str
    probe_cc: str
    probe_asn: int
    test_version: str
    probe_dns: DNSResult | None
    all_answers: list[str]
    tcp: list[tuple[str, int, bool, str | None]]
    tls: list[tuple[str, bool, str | None, str, bool]]
    requests: list[Response]
    control: Control | None
    control_failure: str | None
    doh: dict[str, DNSResult]
    do53: dict[str, DNSResult]
    reported: Mapping[str, Any]
    #: v0.5 ("LTE") documents only: the classic steps of the fetch (see :func:`lte_steps`);
    #: ``None`` for v0.3, v0.4 and censorwatch's own documents.
    steps: list[Step] | None = None

    @property
    def host_is_ip(self) -> bool:
        return is_ip(self.hostname.strip("[]"))


# Speed: ingest judges millions of documents, so the checks below test the concrete types
# orjson and json produce first (``type(v) is dict``) and fall back to the abstract ones,
# which are several times slower, only for other mappings.


#: What JSON parsers give that is certainly not a mapping (None included).
_NOT_MAPS = frozenset({type(None), str, list, int, float, bool, bytes})


def _is_map(value: Any) -> bool:
    t = type(value)
    return t is dict or (t not in _NOT_MAPS and isinstance(value, Mapping))


def _as_list(value: Any) -> list[Any]:
    return value if type(value) is list or isinstance(value, list) else []


_EMPTY: Mapping[str, Any] = {}


def _as_map(value: Any) -> Mapping[str, Any]:
    return value if _is_map(value) else _EMPTY


def _int(value: Any, default: int = 0) -> int:
    if type(value) is int:
        return value
    if isinstance(value, bool):
        return default
    if isinstance(value, int | float):
        return int(value)
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return default


@lru_cache(maxsize=256)
def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def _answers(query: Mapping[str, Any]) -> tuple[list[str], dict[str, int]]:
    addrs: list[str] = []
    asns: dict[str, int] = {}
    for ans in _as_list(query.get("answers")):
        if not _is_map(ans):
            continue
        value = ans.get("ipv4") or ans.get("ipv6")
        if not value and ans.get("answer_type") == "CNAME":
            value = ans.get("hostname")
        if isinstance(value, str) and value:
            addrs.append(value)
            if ans.get("asn"):
                asns[value] = _int(ans.get("asn"))
    return addrs, asns


def _merge_queries(
    queries: Sequence[Mapping[str, Any]],
    answers_of: Callable[[Mapping[str, Any]], tuple[list[str], dict[str, int]]] = _answers,
) -> DNSResult | None:
    """Several A/AAAA/ANY queries of one resolver -> one result (OONI's DNSLookupResult)."""
    if not queries:
        return None
    result = DNSResult()
    failures: list[str] = []
    for q in queries:
        addrs, asns = answers_of(q)
        for a in addrs:
            if a not in result.addrs:
                result.addrs.append(a)
        result.asns.update(asns)
        failure = q.get("failure")
        if isinstance(failure, str) and failure:
            failures.append(failure)
        result.resolver = str(q.get("resolver_address") or q.get("engine") or "")
    ips = [a for a in result.addrs if is_ip(a)]
    if not ips and failures:
        # An AAAA "no answer" beside an A NXDOMAIN is still NXDOMAIN; prefer the most telling.
        result.failure = _most_telling(failures)
    return result


def _most_telling(failures: Sequence[str]) -> str:
    for wanted in ("dns_nxdomain_error", "dns_name_error", "generic_timeout_error"):
        for f in failures:
            if f.startswith(wanted):
                return f
    return failures[0]


@lru_cache(maxsize=1 << 14)
def is_ip(value: str) -> bool:
    """Whether ``value`` is an IPv4 or IPv6 address (cached: answers repeat across documents)."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _tags(entry: Mapping[str, Any]) -> tuple[bool, int, bool]:
    """``(classic, depth, fetch_body)`` from a v0.5 entry's tags.

    ``depth=N`` is the redirect the entry belongs to (0: the URL itself); ``fetch_body=false``
    marks connects that only check connectivity (port 443 of an http:// URL, say), which are
    not part of the fetch; ``classic`` (since v0.5.27) marks the system resolver's results.
    """
    classic, depth, fetch_body = False, 0, True
    for tag in _as_list(entry.get("tags")):
        if type(tag) is not str:
            continue
        if tag == "classic":
            classic = True
        elif tag.startswith("depth="):
            if tag[6:].isdigit():
                depth = int(tag[6:])
        elif tag.startswith("fetch_body="):
            fetch_body = tag == "fetch_body=true"
    return classic, depth, fetch_body


def _is_classic_lookup(query: Mapping[str, Any], tags: tuple[bool, int, bool]) -> bool:
    return tags[0] or query.get("engine") in SYSTEM_ENGINES


def _classic_queries(
    queries: list[Mapping[str, Any]],
    v05: bool,
    tags: Mapping[int, tuple[bool, int, bool]],
) -> list[Mapping[str, Any]]:
    if v05:
        # Only the system resolver's lookups of the URL's own host (depth 0): the redirects'
        # lookups are of other names, which the control never resolved.
        return [q for q in queries if _is_classic_lookup(q, tags[id(q)]) and tags[id(q)][1] == 0]
    tagged = [q for q in queries if "classic" in _as_list(q.get("tags"))]
    if tagged:
        return tagged
    return queries


def lte_steps(
    tk: Mapping[str, Any],
    queries: Sequence[Mapping[str, Any]],
    answers: Mapping[int, tuple[list[str], dict[str, int]]],
    query_tags: Mapping[int, tuple[bool, int, bool]],
    control_addrs: set[str],
    default_port: int,
    responses: Iterable[tuple[Mapping[str, Any], Response]] = (),
) -> list[Step]:
    """The classic steps of a v0.5 fetch, the way OONI's ``ClassicFilter`` keeps them.

    v0.5 also fetches the page from addresses it learned from DNS-over-HTTPS, other resolvers
    or the test helper, which the ISP's resolver never gave; comparing those would hide DNS
    blocking (the fetch succeeds because it avoided the censor). So, as the spec requires,
    only these count: the system resolver's lookups (``getaddrinfo``, tagged ``classic``
    since v0.5.27), and the connects that fetch the page (``fetch_body=true``) to an address
    one of those lookups returned, or to an address no lookup returned and the control did not
    suggest (an IP address in the URL). Each connect is joined with the TLS handshake and the
    HTTP round trip of the same ``transaction_id``.
    """
    steps: list[Step] = []
    classic_ips: set[str] = set()
    resolved: set[str] = set()
    for q in queries:
        addrs = answers[id(q)][0]
        resolved.update(addrs)
        if not _is_classic_lookup(q, query_tags[id(q)]):
            continue
        classic_ips.update(addrs)
        failure = q.get("failure")
        steps.append(
            Step(
                kind=STEP_DNS,
                depth=query_tags[id(q)][1],
                txid=_int(q.get("transaction_id")),
                failure=failure if isinstance(failure, str) and failure else None,
                hostname=str(q.get("hostname") or ""),
                addrs=tuple(addrs),
            )
        )
    connects = [t for t in _as_list(tk.get("tcp_connect")) if _is_map(t)]
    connect_tags = [_tags(t) for t in connects]
    tagged = any(classic for classic, _, _ in connect_tags)
    handshakes = {
        _int(h.get("transaction_id")): h
        for h in _as_list(tk.get("tls_handshakes"))
        if _is_map(h) and h.get("transaction_id") is not None
    }
    round_trips = {
        _int(raw.get("transaction_id")): response
        for raw, response in responses
        if raw.get("transaction_id") is not None
    }
    for t, (classic, depth, fetch_body) in zip(connects, connect_tags, strict=True):
        ip = str(t.get("ip") or "")
        if not fetch_body:
            continue
        if tagged:
            if not classic:
                continue
        elif ip not in classic_ips and (ip in resolved or ip in control_addrs):
            continue
        txid = _int(t.get("transaction_id"))
        status = _as_map(t.get("status"))
        tcp_failure = status.get("failure")
        step = Step(
            kind=STEP_TCP,
            depth=depth,
            txid=txid,
            failure=tcp_failure if isinstance(tcp_failure, str) and tcp_failure else None,
            ip=ip,
            port=_int(t.get("port"), default_port),
        )
        step.tcp_failure = step.failure
        if step.failure is None and txid in handshakes:
            hs = handshakes[txid]
            tls_failure = hs.get("failure")
            step.kind = STEP_TLS
            step.tls_failure = tls_failure if isinstance(tls_failure, str) and tls_failure else None
            step.tls_server_name = str(hs.get("server_name") or "")
            step.failure = step.tls_failure
        if step.failure is None and txid in round_trips:
            response = round_trips[txid]
            step.kind = STEP_HTTP
            step.failure = response.failure
            step.response = response
        steps.append(step)
    return steps


def _headers(response: Mapping[str, Any]) -> dict[str, str]:
    headers = response.get("headers")
    out: dict[str, str] = {}
    if headers and _is_map(headers):
        for k, v in headers.items():
            if isinstance(v, list):
                v = v[0] if v else ""
            if isinstance(v, Mapping):
                v = ""
            out[str(k)] = str(v) if v is not None else ""
        return out
    for k, values in headers_from_list(response.get("headers_list")).items():
        out[k] = values[0] if values else ""
    return out


def _response(req: Mapping[str, Any]) -> Response:
    request = _as_map(req.get("request"))
    response = _as_map(req.get("response"))
    body = decode_body(response.get("body"))
    declared = response.get("x_body_length")
    length: int | None
    if isinstance(declared, int) and not isinstance(declared, bool):
        length = declared
    elif isinstance(body, str):
        length = len(body) if body.isascii() else len(body.encode("utf-8", "surrogatepass"))
    elif isinstance(body, bytes):
        length = len(body)
    else:
        length = None
    failure = req.get("failure")
    return Response(
        url=str(request.get("url") or ""),
        failure=failure if isinstance(failure, str) and failure else None,
        code=_int(response.get("code")),
        headers=_headers(response),
        body=body,
        body_length=length,
        body_is_truncated=bool(response.get("body_is_truncated")),
        raw=response or None,
    )


def _endpoint_status(value: Any) -> dict[str, tuple[bool, str | None]]:
    out: dict[str, tuple[bool, str | None]] = {}
    for endpoint, status in _as_map(value).items():
        if _is_map(status):
            failure = status.get("failure")
            out[str(endpoint)] = (
                bool(status.get("status")),
                failure if isinstance(failure, str) else None,
            )
    return out


def _control(tk: Mapping[str, Any]) -> Control | None:
    ctrl = tk.get("control")
    if not ctrl or not _is_map(ctrl):
        return None
    dns = None
    raw_dns = ctrl.get("dns")
    if _is_map(raw_dns):
        failure = raw_dns.get("failure")
        addrs = [a for a in _as_list(raw_dns.get("addrs")) if isinstance(a, str) and a]
        if failure is None and raw_dns.get("addrs") is None:
            dns = None  # the TH said nothing about DNS (see the TM fixture)
        else:
            dns = DNSResult(
                addrs=addrs, failure=failure if isinstance(failure, str) else None, resolver="th"
            )
            for addr, info in _as_map(ctrl.get("ip_info")).items():
                if _is_map(info) and info.get("asn"):
                    dns.asns[str(addr)] = _int(info.get("asn"))
    http = ctrl.get("http_request")
    http_map = _as_map(http)
    failure = http_map.get("failure")
    headers = {str(k): str(v) for k, v in _as_map(http_map.get("headers")).items()}
    title = http_map.get("title")
    return Control(
        dns=dns,
        tcp=_endpoint_status(ctrl.get("tcp_connect")),
        tls=_endpoint_status(ctrl.get("tls_handshake")),
        http_failure=failure if isinstance(failure, str) and failure else None,
        http_status=_int(http_map.get("status_code")),
        http_body_length=_int(http_map.get("body_length")),
        http_title=title if isinstance(title, str) else "",
        http_headers=headers,
        has_http=bool(http_map),
        tls_server_names={
            str(endpoint): str(status.get("server_name") or "")
            for endpoint, status in _as_map(ctrl.get("tls_handshake")).items()
            if _is_map(status) and status.get("server_name")
        },
    )


def _by_resolver(block: Any) -> dict[str, DNSResult]:
    """``x_doh`` / ``x_do53``: queries grouped by resolver (one result per resolver)."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for q in _as_list(_as_map(block).get("queries")):
        if _is_map(q) and q.get("engine") != "getaddrinfo":
            groups.setdefault(str(q.get("resolver_address") or ""), []).append(q)
    out: dict[str, DNSResult] = {}
    for resolver, queries in groups.items():
        merged = _merge_queries(queries)
        if merged is not None:
            out[resolver] = merged
    return out


@lru_cache(maxsize=1 << 14)
def _url_parts(url: str) -> tuple[str, str, int | None]:
    """``(hostname, scheme, port)`` of a URL (cached: a test list's URLs are measured again and
    again)."""
    try:
        parts = urlsplit(url)
        return (parts.hostname or "").lower(), parts.scheme.lower(), parts.port
    except ValueError:
        return "", "", None


def _connects(tk: Mapping[str, Any], default_port: int) -> list[tuple[str, int, bool, str | None]]:
    tcp = []
    for entry in _as_list(tk.get("tcp_connect")):
        if not _is_map(entry):
            continue
        status = _as_map(entry.get("status"))
        failure = status.get("failure")
        tcp.append(
            (
                str(entry.get("ip") or ""),
                _int(entry.get("port"), default_port),
                status.get("success") is True,
                failure if isinstance(failure, str) else None,
            )
        )
    return tcp


def _handshakes(tk: Mapping[str, Any]) -> list[tuple[str, bool, str | None, str, bool]]:
    tls = []
    for hs in _as_list(tk.get("tls_handshakes")):
        if not _is_map(hs):
            continue
        failure = hs.get("failure")
        tls.append(
            (
                str(hs.get("address") or ""),
                failure is None,
                failure if isinstance(failure, str) else None,
                str(hs.get("server_name") or ""),
                bool(hs.get("no_tls_verify")),
            )
        )
    return tls


def observe(doc: Mapping[str, Any], *, dns_only: bool = False) -> Observations:
    """Extract the observations of a web_connectivity document.

    ``dns_only``: only what DNS consistency needs (the URL, the classic lookups, the control
    and DoH); requests, connects, handshakes and v0.5 steps are left empty. The analysis's
    vetting of DNS answers reads thousands of documents this way, at about half the cost.
    """
    tk = _as_map(doc.get("test_keys"))
    url = str(doc.get("input") or "")
    hostname, scheme, port = _url_parts(url)
    version = str(doc.get("test_version") or "")
    v05 = _version_tuple(version) >= (0, 5, 0)
    queries = [q for q in _as_list(tk.get("queries")) if _is_map(q)]
    answers = {id(q): _answers(q) for q in queries}  # each query's answers, read once
    query_tags = {id(q): _tags(q) for q in queries} if v05 else {}
    classic = _classic_queries(queries, v05, query_tags)
    probe_dns = _merge_queries(classic, lambda q: answers[id(q)])
    if probe_dns is None and tk.get("dns_experiment_failure"):
        probe_dns = DNSResult(failure=str(tk.get("dns_experiment_failure")))
    elif probe_dns is not None and not probe_dns.addrs and tk.get("dns_experiment_failure"):
        probe_dns.failure = str(tk.get("dns_experiment_failure"))
    all_answers: list[str] = []
    for q in queries:
        all_answers.extend(answers[id(q)][0])
    default_port = port or (443 if scheme == "https" else 80)
    raw_requests = [] if dns_only else [r for r in _as_list(tk.get("requests")) if _is_map(r)]
    requests = [_response(r) for r in raw_requests]
    control_failure = tk.get("control_failure")
    control = _control(tk)
    steps = None
    if dns_only:
        tcp, tls = [], []
    elif v05:
        control_addrs = set(control.dns.addrs) if control is not None and control.dns else set()
        steps = lte_steps(
            tk,
            queries,
            answers,
            query_tags,
            control_addrs,
            default_port,
            zip(raw_requests, requests, strict=True),
        )
        # What v0.5 compares is the classic steps; the connects and handshakes are theirs.
        tcp = [(s.ip, s.port, s.tcp_failure is None, s.tcp_failure) for s in steps if s.kind]
        tls = [
            (s.endpoint, s.tls_ok, s.tls_failure, s.tls_server_name, False)
            for s in steps
            if s.tls_server_name is not None
        ]
    else:
        tcp, tls = _connects(tk, default_port), _handshakes(tk)
    return Observations(
        input=url,
        hostname=hostname,
        scheme=scheme,
        probe_cc=str(doc.get("probe_cc") or "ZZ").upper(),
        probe_asn=_asn(doc.get("probe_asn")),
        test_version=version,
        probe_dns=probe_dns,
        all_answers=all_answers,
        tcp=tcp,
        tls=tls,
        requests=requests,
        control=control,
        control_failure=control_failure if isinstance(control_failure, str) else None,
        doh=_by_resolver(tk.get("x_doh")),
        do53=_by_resolver(tk.get("x_do53")),
        reported=tk,
        steps=steps,
    )


def _asn(value: Any) -> int:
    text = str(value or "").upper().removeprefix("AS")
    return int(text) if text.isdigit() else 0
