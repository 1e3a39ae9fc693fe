"""A censorship lab on loopback: a lying resolver, web servers, TLS, DoH, all started by tests.

Everything binds to 127.0.0.0/8 (or to addresses of network namespaces the tests create) on
port 0, except where a resolver must answer on port 53 for ``/etc/resolv.conf``.

* :class:`LabResolver`: a DNS server (UDP and TCP, dnspython) answering from a zone: A
  records, NXDOMAIN, or silence (a resolver that never answers), plus TXT records;
* :class:`WebServer`: a tiny HTTP(S) server on one address with a behaviour: serve a page,
  serve a blockpage, redirect, reset the connection, never answer, or reset the TLS
  handshake when the ClientHello names a given server (SNI filtering);
* :class:`LabCA`: a test certificate authority (``cryptography``) issuing server certificates;
* :class:`DoHServer`: DNS-over-HTTPS (RFC 8484, POST) backed by a zone.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import socket
import ssl
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

NXDOMAIN = "NXDOMAIN"
SILENT = "SILENT"


# -- DNS ------------------------------------------------------------------------------------


def answer_query(
    zone: dict[str, Any], wire: bytes, cache: dict[bytes, bytes | None] | None = None
) -> bytes | None:
    """The response for one query from ``zone`` (``None``: stay silent).

    With ``cache``, responses are kept by question (everything after the 2-byte id), so a
    lab resolver answers thousands of queries a second, as an ISP's resolver would.
    """
    if cache is not None and wire[2:] in cache:
        cached = cache[wire[2:]]
        return None if cached is None else wire[:2] + cached[2:]
    reply = _build_answer(zone, wire)
    if cache is not None and len(cache) < 100_000:
        cache[wire[2:]] = reply
    return reply


def _build_answer(zone: dict[str, Any], wire: bytes) -> bytes | None:
    query = dns.message.from_wire(wire)
    response = dns.message.make_response(query)
    question = query.question[0]
    name = question.name.to_text().rstrip(".").lower()
    entry = zone.get(name)
    if entry == SILENT:
        return None
    if entry is None or entry == NXDOMAIN:
        response.set_rcode(dns.rcode.NXDOMAIN)
        return response.to_wire()
    rdtype = question.rdtype
    if rdtype == dns.rdatatype.TXT and isinstance(entry, dict) and "TXT" in entry:
        texts = entry["TXT"]
        response.answer.append(
            dns.rrset.from_text_list(question.name, 60, "IN", "TXT", [f'"{t}"' for t in texts])
        )
        return response.to_wire()
    addrs = (
        entry if isinstance(entry, list) else entry.get("A", []) if isinstance(entry, dict) else []
    )
    want_v6 = rdtype == dns.rdatatype.AAAA
    picked = [a for a in addrs if (":" in a) == want_v6]
    if picked and rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
        kind = "AAAA" if want_v6 else "A"
        response.answer.append(dns.rrset.from_text_list(question.name, 60, "IN", kind, picked))
    return response.to_wire()


class LabResolver:
    """A DNS server answering from ``zone`` on UDP and TCP (same port)."""

    def __init__(self, zone: dict[str, Any], host: str = "127.0.0.1", port: int = 0) -> None:
        self.zone = zone
        self.cache: dict[bytes, bytes | None] = {}
        self.udp, self.tcp = self._bind_both(host, port)
        self.host, self.port = self.udp.getsockname()[:2]
        self.tcp.listen(64)
        self.queries: list[str] = []
        self._stop = threading.Event()
        for target in (self._serve_udp, self._serve_tcp):
            threading.Thread(target=target, daemon=True).start()

    @staticmethod
    def _bind_both(host: str, port: int) -> tuple[socket.socket, socket.socket]:
        """A UDP and a TCP socket on the same port: a free UDP port may be taken for TCP (a
        connection in TIME_WAIT or another test's server), so try again with a new one."""
        for _ in range(50):
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind((host, port))
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                tcp.bind((host, udp.getsockname()[1]))
            except OSError:
                udp.close()
                tcp.close()
                if port:
                    raise
                continue
            return udp, tcp
        raise OSError(f"no port free for both UDP and TCP on {host}")

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def _record(self, wire: bytes) -> None:
        try:
            q = dns.message.from_wire(wire).question[0]
            self.queries.append(f"{q.name.to_text().rstrip('.')}/{dns.rdatatype.to_text(q.rdtype)}")
        except Exception:  # pragma: no cover - malformed queries are simply not logged
            pass

    def _serve_udp(self) -> None:
        while not self._stop.is_set():
            try:
                wire, peer = self.udp.recvfrom(4096)
            except OSError:
                return
            self._record(wire)
            try:
                reply = answer_query(self.zone, wire, self.cache)
            except Exception:
                continue
            if reply is not None:
                self.udp.sendto(reply, peer)

    def _serve_tcp(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.tcp.accept()
            except OSError:
                return
            threading.Thread(target=self._tcp_conn, args=(conn,), daemon=True).start()

    def _tcp_conn(self, conn: socket.socket) -> None:
        with conn:
            try:
                size = struct.unpack("!H", _recv_exact(conn, 2))[0]
                wire = _recv_exact(conn, size)
                self._record(wire)
                reply = answer_query(self.zone, wire, self.cache)
                if reply is not None:
                    conn.sendall(struct.pack("!H", len(reply)) + reply)
                else:
                    self._stop.wait(30)
            except (OSError, ValueError):
                return

    def close(self) -> None:
        self._stop.set()
        for sock in (self.udp, self.tcp):
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    """Close a socket another thread may be blocked on (shutdown wakes that thread up, so
    the address is free again at once)."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ValueError("short read")
        data += chunk
    return data


# -- certificates ---------------------------------------------------------------------------


class LabCA:
    """A throw-away certificate authority for the lab's TLS servers."""

    def __init__(self, directory: Path) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self._x509, self._hashes, self._ser, self._ec, self._oid = (
            x509,
            hashes,
            serialization,
            ec,
            NameOID,
        )
        self.dir = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "censorwatch lab CA")])
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )
        self.ca_file = directory / "lab-ca.pem"
        self.ca_file.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, names: list[str]) -> tuple[Path, Path]:
        """A server certificate for ``names`` (host names or IP addresses): (cert, key) files."""
        x509, hashes, ser, ec = self._x509, self._hashes, self._ser, self._ec
        key = ec.generate_private_key(ec.SECP256R1())
        sans: list[Any] = []
        for n in names:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                sans.append(x509.DNSName(n))
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(self._oid.COMMON_NAME, names[0])]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        stem = self.dir / names[0].replace("*", "star").replace(":", "_")
        cert_file, key_file = stem.with_suffix(".crt"), stem.with_suffix(".key")
        cert_file.write_bytes(cert.public_bytes(ser.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption())
        )
        return cert_file, key_file


# -- web servers ----------------------------------------------------------------------------

PAGE_OK = "OK"
PAGE_BLOCK = "BLOCK"
RESET = "RESET"
HANG = "HANG"
REDIRECT = "REDIRECT"


@dataclass
class Site:
    """What a server answers: a body (with a title) or a behaviour."""

    behaviour: str = PAGE_OK
    body: str = ""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    location: str = ""


def page(title: str, size: int = 3000, extra: str = "") -> str:
    filler = "lorem ipsum dolor sit amet " * (size // 27 + 1)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body><h1>{title}</h1>{extra}<p>{filler[:size]}</p></body></html>"
    )


def _parse_sni(hello: bytes) -> str | None:
    """The server name of a TLS ClientHello (None when absent or not parseable)."""
    try:
        if hello[0] != 0x16:
            return None
        pos = 5 + 4 + 2 + 32  # record header, handshake header, version, random
        pos += 1 + hello[pos]  # session id
        pos += 2 + struct.unpack("!H", hello[pos : pos + 2])[0]  # cipher suites
        pos += 1 + hello[pos]  # compression methods
        end = pos + 2 + struct.unpack("!H", hello[pos : pos + 2])[0]
        pos += 2
        while pos + 4 <= end:
            ext_type, ext_len = struct.unpack("!HH", hello[pos : pos + 4])
            pos += 4
            if ext_type == 0:
                name_len = struct.unpack("!H", hello[pos + 3 : pos + 5])[0]
                return hello[pos + 5 : pos + 5 + name_len].decode("ascii")
            pos += ext_len
    except (IndexError, struct.error, UnicodeDecodeError):
        return None
    return None


def _reset(conn: socket.socket) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


class WebServer:
    """One address, one port. ``site`` (or ``sites`` by Host header) is what it serves.

    A censor can be simulated per client: connections from addresses in ``uncensored`` (the
    control helper's source address) get the real site, everyone else gets ``censor`` (a
    blockpage, a reset, silence) and, with TLS, a reset when the ClientHello names a server
    in ``reset_sni``. Without ``uncensored`` every client gets the same treatment.
    """

    def __init__(
        self,
        host: str,
        site: Site | None = None,
        *,
        sites: dict[str, Site] | None = None,
        censor: dict[str, Site] | None = None,
        uncensored: set[str] | None = None,
        tls: tuple[Path, Path] | None = None,
        reset_sni: set[str] | None = None,
        port: int = 0,
    ) -> None:
        self.default = site or Site()
        self.sites = sites or {}
        self.censor = censor or {}
        self.uncensored = uncensored
        self.reset_sni = reset_sni or set()
        self.ctx: ssl.SSLContext | None = None
        if tls is not None:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(str(tls[0]), str(tls[1]))
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(512)
        self.host, self.port = self.sock.getsockname()[:2]
        self.hits = 0
        self._open: list[socket.socket] = []
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, hostname: str, path: str = "/") -> str:
        scheme = "https" if self.ctx else "http"
        return f"{scheme}://{hostname}:{self.port}{path}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return
            self.hits += 1
            threading.Thread(target=self._handle, args=(conn, peer[0]), daemon=True).start()

    def _censored(self, peer: str) -> bool:
        return self.uncensored is not None and peer not in self.uncensored

    def _hang(self, conn: Any) -> None:
        self._open.append(conn)
        self._stop.wait(60)

    def _handle(self, conn: socket.socket, peer: str) -> None:
        censored = self._censored(peer)
        try:
            conn.settimeout(30)
            if self.default.behaviour == HANG and not self.sites:
                self._hang(conn)
                return
            if self.ctx is not None:
                hello = conn.recv(4096, socket.MSG_PEEK)
                if censored and _parse_sni(hello) in self.reset_sni:
                    _reset(conn)
                    return
                conn = self.ctx.wrap_socket(conn, server_side=True)
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                request += chunk
            host = ""
            for line in request.decode("latin-1").split("\r\n")[1:]:
                if line.lower().startswith("host:"):
                    host = line.split(":", 1)[1].strip().rsplit(":", 1)[0].lower()
            site = self.sites.get(host, self.default)
            if censored and host in self.censor:
                site = self.censor[host]
            if site.behaviour == RESET:
                _reset(conn)
                return
            if site.behaviour == HANG:
                self._hang(conn)
                return
            body = site.body.encode("utf-8")
            status = 302 if site.behaviour == REDIRECT else site.status
            reason = {200: "OK", 302: "Found", 403: "Forbidden", 404: "Not Found"}.get(
                status, "Status"
            )
            head = [f"HTTP/1.1 {status} {reason}", "Content-Type: text/html; charset=utf-8"]
            head.append(f"Content-Length: {len(body)}")
            head.append("Connection: close")
            if site.behaviour == REDIRECT:
                head.append(f"Location: {site.location}")
            head.extend(f"{k}: {v}" for k, v in site.headers.items())
            conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
            conn.close()
        except (OSError, ssl.SSLError):
            return

    def close(self) -> None:
        self._stop.set()
        _shut(self.sock)
        for c in self._open:
            with contextlib.suppress(OSError):
                c.close()


# -- DNS over HTTPS -------------------------------------------------------------------------


class DoHServer:
    """RFC 8484 POST endpoint at ``/dns-query`` answering from a zone, over TLS."""

    def __init__(self, host: str, zone: dict[str, Any], tls: tuple[Path, Path]) -> None:
        handler = _doh_handler(zone)
        self.server = ThreadingHTTPServer((host, 0), handler)
        self.server.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(tls[0]), str(tls[1]))
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.host, self.port = self.server.server_address[:2]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}/dns-query"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _doh_handler(zone: dict[str, Any]) -> Callable[..., BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            wire = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            reply = answer_query(zone, wire)
            if reply is None:
                self.send_response(504)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/dns-message")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

    return Handler
