"""DNS lookups: the probe's resolver, DNS-over-HTTPS controls and plain public DNS.

* :func:`resolve` asks the resolver under test: the system's (the nameservers of
  ``/etc/resolv.conf``, which is what a browser on this connection gets) or ``--resolver
  HOST[:PORT]``; UDP, retried over TCP when the answer is truncated (dnspython).
* :class:`DoHClient` asks DNS-over-HTTPS resolvers (RFC 8484, ``POST
  application/dns-message`` with requests): encrypted, so the ISP cannot rewrite the answer.
  They are the control when there is no test helper, and never evidence of blocking when they
  fail (a resolver that keeps failing is skipped for the rest of the run).
* The same public resolvers asked over plain DNS (``HOST:53``) show interception when they
  answer differently than over DoH (see ``censorwatch.verdict.dns.interception``).

Each lookup is recorded as OONI ``df-002-dnst`` query entries, one per query type.
"""

from __future__ import annotations

import ipaddress
import selectors
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver
import requests

from censorwatch.errors import ConfigError
from censorwatch.probes import failures

QUERY_TYPES = ("A", "AAAA")
#: A DoH resolver failing this many times in a row is skipped for the rest of the run.
DOH_MAX_CONSECUTIVE_FAILURES = 3


@dataclass
class Lookup:
    """One resolver's answer for one host: query entries, addresses, failure."""

    resolver: str
    engine: str
    queries: list[dict[str, Any]] = field(default_factory=list)
    addrs: list[str] = field(default_factory=list)
    failure: str | None = None


def parse_hostport(text: str, default_port: int = 53) -> tuple[str, int]:
    """``1.1.1.1``, ``1.1.1.1:5353``, ``[::1]:53`` or ``::1`` -> (host, port)."""
    text = text.strip()
    if not text:
        raise ConfigError("resolver: empty address")
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.lstrip(":") or str(default_port)
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, str(default_port)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ConfigError(f"resolver: {text!r}: expected an IP address[:PORT]") from None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"resolver: {text!r}: bad port")
    return host, int(port)


def system_nameservers() -> list[tuple[str, int]]:
    """The nameservers of the system's configuration (``/etc/resolv.conf``)."""
    try:
        res = dns.resolver.Resolver(configure=True)
    except dns.resolver.NoResolverConfiguration:
        raise ConfigError(
            "no system resolver configured (/etc/resolv.conf has no nameserver); "
            "give one with --resolver HOST[:PORT]"
        ) from None
    port = res.port or 53
    out = []
    for ns in res.nameservers:
        host = str(ns)
        if "://" in host:  # dnspython may list DoH nameservers; not a system resolver
            continue
        out.append((host, res.nameserver_ports.get(host, port)))
    if not out:
        raise ConfigError("no usable nameserver in the system configuration")
    return out


def _answer_entries(response: dns.message.Message, rdtype: str) -> tuple[list[dict], list[str]]:
    entries: list[dict[str, Any]] = []
    addrs: list[str] = []
    wanted = dns.rdatatype.from_text(rdtype)
    for rrset in response.answer:
        for rdata in rrset:
            if rrset.rdtype == dns.rdatatype.CNAME:
                entries.append(
                    {
                        "answer_type": "CNAME",
                        "hostname": str(rdata.target).rstrip("."),
                        "ttl": rrset.ttl,
                    }
                )
            elif rrset.rdtype == wanted and rrset.rdtype in (
                dns.rdatatype.A,
                dns.rdatatype.AAAA,
            ):
                key = "ipv4" if rrset.rdtype == dns.rdatatype.A else "ipv6"
                entries.append({"answer_type": rdtype, key: rdata.address, "ttl": rrset.ttl})
                addrs.append(rdata.address)
    return entries, addrs


def _rcode_failure(response: dns.message.Message) -> str | None:
    rcode = response.rcode()
    if rcode == dns.rcode.NOERROR:
        return None
    if rcode == dns.rcode.NXDOMAIN:
        return failures.NXDOMAIN
    if rcode == dns.rcode.SERVFAIL:
        return failures.DNS_SERVER_FAILURE
    if rcode == dns.rcode.REFUSED:
        return failures.DNS_REFUSED
    return f"unknown_failure: DNS rcode {dns.rcode.to_text(rcode)}"


def _entry(
    hostname: str,
    rdtype: str,
    engine: str,
    resolver: str,
    answers: list[dict],
    failure: str | None,
    t0: float,
    tags: Sequence[str],
) -> dict[str, Any]:
    return {
        "answers": answers or None,
        "engine": engine,
        "failure": failure,
        "hostname": hostname,
        "query_type": rdtype,
        "resolver_hostname": None,
        "resolver_port": None,
        "resolver_address": resolver,
        "t0": 0.0,
        "t": round(time.monotonic() - t0, 6),
        "tags": list(tags),
    }


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def resolve(
    hostname: str,
    nameservers: Sequence[tuple[str, int]],
    timeout: float,
    *,
    engine: str = "system",
    tags: Sequence[str] = ("classic", "depth=0"),
) -> Lookup:
    """Ask A and AAAA of ``nameservers`` (UDP, TCP on truncation) within ``timeout``.

    Both questions are sent at once, as a stub resolver does: a resolver that does not answer
    costs one timeout, not two.
    """
    resolver_label = ",".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in nameservers)
    lookup = Lookup(resolver=resolver_label, engine=engine)
    if _is_ip(hostname):
        lookup.addrs = [hostname]
        return lookup
    deadline = time.monotonic() + timeout
    t0 = time.monotonic()
    results = _query_servers_at_once(hostname, QUERY_TYPES, nameservers, deadline)
    for rdtype, (answers, addrs, failure) in zip(QUERY_TYPES, results, strict=True):
        lookup.queries.append(
            _entry(hostname, rdtype, engine, resolver_label, answers, failure, t0, tags)
        )
        for a in addrs:
            if a not in lookup.addrs:
                lookup.addrs.append(a)
    if not lookup.addrs:
        fails = [q["failure"] for q in lookup.queries if q["failure"]]
        lookup.failure = fails[0] if fails else failures.NO_ANSWER
    return lookup


class _Question:
    """One query type's way through the nameservers: each is asked in turn (UDP, then TCP
    when the answer is truncated) until one answers, as ``dns.query.udp_with_fallback`` in a
    loop would. A nameserver that answers SERVFAIL or REFUSED, or fails, passes the question
    on to the next; one that stays silent holds it until the deadline."""

    def __init__(
        self, hostname: str, rdtype: str, nameservers: Sequence[tuple[str, int]], deadline: float
    ) -> None:
        self.rdtype = rdtype
        self.query = dns.message.make_query(hostname, rdtype)
        self.wire = self.query.to_wire()
        self.servers = list(nameservers)
        self.deadline = deadline
        self.failure: str | None = failures.TIMEOUT
        self.result: tuple[list[dict], list[str], str | None] | None = None
        self.sock: socket.socket | None = None
        self.server: tuple[str, int] | None = None

    def _close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def ask_next(self) -> None:
        """Send the question to the next nameserver, or settle it when none is left."""
        self._close()
        while self.servers:
            if self.deadline - time.monotonic() <= 0:
                break
            host, port = self.server = self.servers.pop(0)
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.setblocking(False)
            try:
                sock.sendto(self.wire, (host, port))
            except OSError as exc:
                sock.close()
                self.failure = failures.classify(exc)
                continue
            self.sock = sock
            return
        self.settle([], [], failures.TIMEOUT if self.servers else self.failure)

    def settle(self, answers: list[dict], addrs: list[str], failure: str | None) -> None:
        self._close()
        self.result = (answers, addrs, failure)

    def answer_arrived(self) -> None:
        """Read the nameserver's answer (the socket is readable) and settle or move on."""
        assert self.sock is not None and self.server is not None
        host, port = self.server
        try:
            try:
                response, _ = dns.query.receive_udp(
                    self.sock,
                    (host, port),
                    expiration=self.deadline,
                    raise_on_truncation=True,
                    query=self.query,
                )
            except dns.message.Truncated:
                remaining = self.deadline - time.monotonic()
                if remaining <= 0:
                    raise dns.exception.Timeout from None
                response = dns.query.tcp(self.query, host, timeout=remaining, port=port)
        except dns.exception.Timeout:
            self.failure = failures.TIMEOUT
            self.ask_next()
            return
        except OSError as exc:
            self.failure = failures.classify(exc)
            self.ask_next()
            return
        except dns.exception.DNSException as exc:
            self.failure = f"unknown_failure: {exc}"
            self.ask_next()
            return
        rcode_failure = _rcode_failure(response)
        if rcode_failure in (failures.DNS_SERVER_FAILURE, failures.DNS_REFUSED):
            self.failure = rcode_failure
            self.ask_next()
            return
        answers, addrs = _answer_entries(response, self.rdtype)
        self.settle(answers, addrs, rcode_failure)


def _query_servers_at_once(
    hostname: str,
    rdtypes: Sequence[str],
    nameservers: Sequence[tuple[str, int]],
    deadline: float,
) -> list[tuple[list[dict], list[str], str | None]]:
    """Each query type's (answers, addresses, failure), all asked at once from this thread.

    The questions travel together, as a stub resolver sends them, so a resolver that does not
    answer costs one timeout, not one per type; and no thread waits for them (a probe has 32
    measuring at a time: 32 more threads would cost about 2 MiB).
    """
    questions = [_Question(hostname, rdtype, nameservers, deadline) for rdtype in rdtypes]
    with selectors.DefaultSelector() as selector:
        registered: dict[_Question, socket.socket] = {}
        for q in questions:
            q.ask_next()
        while True:
            # Unregister every closed socket before registering a new one: the system may
            # give the new socket the number of a closed one.
            for q in questions:
                sock = registered.get(q)
                if sock is not None and sock is not q.sock:
                    selector.unregister(sock)
                    del registered[q]
            for q in questions:
                if q.sock is not None and q not in registered:
                    selector.register(q.sock, selectors.EVENT_READ, q)
                    registered[q] = q.sock
            if not registered:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                for q in questions:
                    if q.result is None:
                        q.settle([], [], failures.TIMEOUT)
                for sock in registered.values():
                    selector.unregister(sock)
                registered.clear()
                break
            for key, _ in selector.select(remaining):
                question: _Question = key.data
                if question.sock is key.fileobj:
                    question.answer_arrived()
    return [q.result or ([], [], failures.TIMEOUT) for q in questions]


class DoHClient:
    """DNS-over-HTTPS lookups with a per-run cache and a breaker for unreachable resolvers."""

    def __init__(self, urls: Sequence[str], timeout: float, verify: bool | str = True) -> None:
        self.urls = [u for u in urls if u]
        self.timeout = timeout
        self.verify = verify
        self._cache: dict[tuple[str, str], Lookup] = {}
        self._failures: dict[str, int] = {}
        self._lock = threading.Lock()
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env = False  # never through a proxy: we measure this network
            self._local.session = session
        return session

    def usable(self, url: str) -> bool:
        with self._lock:
            return self._failures.get(url, 0) < DOH_MAX_CONSECUTIVE_FAILURES

    def lookup(self, url: str, hostname: str) -> Lookup:
        key = (url, hostname)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        lookup = Lookup(resolver=url, engine="doh")
        ok = True
        for rdtype in QUERY_TYPES:
            t0 = time.monotonic()
            answers, addrs, failure = self._query(url, hostname, rdtype)
            lookup.queries.append(
                _entry(hostname, rdtype, "doh", url, answers, failure, t0, ("depth=0",))
            )
            lookup.addrs.extend(a for a in addrs if a not in lookup.addrs)
            if failure is not None and failure != failures.NXDOMAIN:
                ok = False
                break
            if failure == failures.NXDOMAIN:
                break
        if not lookup.addrs:
            fails = [q["failure"] for q in lookup.queries if q["failure"]]
            lookup.failure = fails[0] if fails else failures.NO_ANSWER
        with self._lock:
            self._failures[url] = 0 if ok else self._failures.get(url, 0) + 1
            if ok:
                self._cache[key] = lookup
        return lookup

    def first_answer(self, hostname: str) -> tuple[Lookup | None, list[Lookup]]:
        """The first usable resolver's answer (the others are asked only when it fails),
        and the lookups that failed on the way (recorded, never counted as blocking)."""
        failed: list[Lookup] = []
        for url in self.urls:
            if not self.usable(url):
                continue
            result = self.lookup(url, hostname)
            if result.failure is None or result.failure == failures.NXDOMAIN:
                return result, failed
            failed.append(result)
        return None, failed

    def _query(self, url: str, hostname: str, rdtype: str) -> tuple[list, list, str | None]:
        query = dns.message.make_query(hostname, rdtype)
        query.id = 0  # RFC 8484: 0 makes responses cacheable
        try:
            resp = self._session().post(
                url,
                data=query.to_wire(),
                headers={
                    "Content-Type": "application/dns-message",
                    "Accept": "application/dns-message",
                },
                timeout=self.timeout,
                verify=self.verify,
            )
        except requests.RequestException as exc:
            return [], [], failures.classify(exc)
        if resp.status_code != 200:
            return [], [], f"unknown_failure: HTTP status {resp.status_code}"
        try:
            message = dns.message.from_wire(resp.content)
        except dns.exception.DNSException as exc:
            return [], [], f"unknown_failure: bad DNS message: {exc}"
        answers, addrs = _answer_entries(message, rdtype)
        return answers, addrs, _rcode_failure(message)


def doh_host(url: str) -> str:
    """The host of a DoH URL (``https://1.1.1.1/dns-query`` -> ``1.1.1.1``)."""
    return (urlsplit(url).hostname or "").lower()
