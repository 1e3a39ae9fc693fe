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
from collections.abc import Callable, Mapping, Sequence
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


def _classic_queries(queries: list[Mapping[str, Any]], v05: bool) -> list[Mapping[str, Any]]:
    tagged = [q for q in queries if "classic" in _as_list(q.get("tags"))]
    if tagged:
        return tagged
    if v05:
        system = [q for q in queries if q.get("engine") in SYSTEM_ENGINES]
        if system:
            return system
    return queries


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


def observe(doc: Mapping[str, Any]) -> Observations:
    """Extract the observations of a web_connectivity document."""
    tk = _as_map(doc.get("test_keys"))
    url = str(doc.get("input") or "")
    hostname, scheme, port = _url_parts(url)
    version = str(doc.get("test_version") or "")
    v05 = _version_tuple(version) >= (0, 5, 0)
    queries = [q for q in _as_list(tk.get("queries")) if _is_map(q)]
    answers = {id(q): _answers(q) for q in queries}  # each query's answers, read once
    classic = _classic_queries(queries, v05)
    probe_dns = _merge_queries(classic, lambda q: answers[id(q)])
    if probe_dns is None and tk.get("dns_experiment_failure"):
        probe_dns = DNSResult(failure=str(tk.get("dns_experiment_failure")))
    elif probe_dns is not None and not probe_dns.addrs and tk.get("dns_experiment_failure"):
        probe_dns.failure = str(tk.get("dns_experiment_failure"))
    all_answers: list[str] = []
    for q in queries:
        all_answers.extend(answers[id(q)][0])
    default_port = port or (443 if scheme == "https" else 80)
    classic_ips = set(probe_dns.addrs) if probe_dns else set()
    tcp = []
    for entry in _as_list(tk.get("tcp_connect")):
        if not _is_map(entry):
            continue
        ip = str(entry.get("ip") or "")
        if v05 and classic_ips and ip not in classic_ips:
            continue
        status = _as_map(entry.get("status"))
        failure = status.get("failure")
        tcp.append(
            (
                ip,
                _int(entry.get("port"), default_port),
                status.get("success") is True,
                failure if isinstance(failure, str) else None,
            )
        )
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
    requests = [_response(r) for r in _as_list(tk.get("requests")) if _is_map(r)]
    control_failure = tk.get("control_failure")
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
        control=_control(tk),
        control_failure=control_failure if isinstance(control_failure, str) else None,
        doh=_by_resolver(tk.get("x_doh")),
        do53=_by_resolver(tk.get("x_do53")),
        reported=tk,
    )


def _asn(value: Any) -> int:
    text = str(value or "").upper().removeprefix("AS")
    return int(text) if text.isdigit() else 0
