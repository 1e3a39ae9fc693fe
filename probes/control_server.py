"""A Web Connectivity test helper: the uncensored view, served to our probes (and OONI's).

Run it outside the country (``censorwatch control serve``). It speaks OONI's test-helper
JSON protocol (see :mod:`censorwatch.probes.control`): for each request it resolves the URL's
host, connects to the endpoints the probe found plus its own, completes TLS handshakes for
``https`` URLs, fetches the page following redirects, and answers with what it saw.

A helper fetches URLs for strangers, so by default it refuses private, loopback and other
special-purpose addresses (no reaching into the host's own network); ``--allow-private`` lifts
that for a test lab. Requests are capped (64 KiB of JSON, 32 endpoints) and every operation
has a timeout.
"""

from __future__ import annotations

import base64
import json
import logging
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from censorwatch import __version__
from censorwatch.probes import dns as probe_dns
from censorwatch.probes import failures, tcp, tls
from censorwatch.probes import http as probe_http
from censorwatch.probes.pool import DaemonPool
from censorwatch.verdict.dns import is_bogon
from censorwatch.verdict.http import extract_title

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 64 * 1024
MAX_ENDPOINTS = 32
#: OONI's test helpers say this (not dns_nxdomain_error) when the name does not exist.
TH_NXDOMAIN = "dns_name_error"
REFUSED_PRIVATE = "unknown_failure: the test helper does not connect to private addresses"


@dataclass
class HelperSettings:
    """How the helper measures."""

    timeout: float = 10.0
    nameservers: Sequence[tuple[str, int]] | None = None
    allow_private: bool = False
    user_agent: str = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
    )
    max_body_bytes: int = 1024 * 1024
    #: Local address outgoing connections leave from (a host with several addresses).
    source_address: str | None = None


class BadRequest(ValueError):
    """The probe's request does not follow the protocol (answered with HTTP 400)."""


def parse_request(data: Any) -> tuple[str, dict[str, str], list[str]]:
    """Validate a test-helper request: ``(url, headers, endpoints)``."""
    if not isinstance(data, dict):
        raise BadRequest("request must be a JSON object")
    url = data.get("http_request")
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
        raise BadRequest("http_request: expected an http:// or https:// URL")
    if not urlsplit(url).hostname:
        raise BadRequest("http_request: URL has no host")
    headers: dict[str, str] = {}
    raw_headers = data.get("http_request_headers") or {}
    if not isinstance(raw_headers, dict):
        raise BadRequest("http_request_headers: expected an object of lists")
    for name, values in raw_headers.items():
        if isinstance(values, list) and values and isinstance(values[0], str):
            headers[str(name)] = values[0]
        elif isinstance(values, str):
            headers[str(name)] = values
    endpoints = data.get("tcp_connect") or []
    if not isinstance(endpoints, list) or not all(isinstance(e, str) for e in endpoints):
        raise BadRequest("tcp_connect: expected a list of IP:PORT strings")
    if len(endpoints) > MAX_ENDPOINTS:
        raise BadRequest(f"tcp_connect: at most {MAX_ENDPOINTS} endpoints")
    return url, headers, endpoints


def split_endpoint(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit():
        raise BadRequest(f"tcp_connect: not IP:PORT: {text!r}")
    return host, int(port)


class Helper:
    """The measurement logic, independent of the HTTP server (tests call it directly)."""

    def __init__(self, settings: HelperSettings) -> None:
        self.settings = settings
        self.pool = DaemonPool(128, name="th")

    def _nameservers(self) -> Sequence[tuple[str, int]]:
        return self.settings.nameservers or probe_dns.system_nameservers()

    def _allowed(self, ip: str) -> bool:
        return self.settings.allow_private or not is_bogon(ip)

    def measure(self, data: Any) -> dict[str, Any]:
        url, headers, endpoints = parse_request(data)
        parts = urlsplit(url)
        hostname = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        timeout = self.settings.timeout
        lookup = probe_dns.resolve(hostname, self._nameservers(), timeout, engine="th")
        dns_failure = lookup.failure
        if dns_failure == failures.NXDOMAIN:
            dns_failure = TH_NXDOMAIN
        addrs = [a for a in lookup.addrs if ":" in a or "." in a]
        wanted = list(dict.fromkeys([*endpoints, *(tcp.endpoint(a, port) for a in addrs)]))
        wanted = wanted[:MAX_ENDPOINTS]
        http_future = self.pool.submit(self._http, url, headers, addrs)
        tcp_results = dict(
            zip(wanted, self.pool.map(self._tcp_tls_one(parts), wanted), strict=False)
        )
        http_result = http_future.result()
        return {
            "dns": {"failure": dns_failure, "addrs": addrs if dns_failure is None else []},
            "tcp_connect": {ep: r[0] for ep, r in tcp_results.items()},
            "tls_handshake": {ep: r[1] for ep, r in tcp_results.items() if r[1] is not None},
            "http_request": http_result,
            "x_helper": f"censorwatch {__version__}",
        }

    def _tcp_tls_one(self, parts: Any) -> Callable[[str], tuple[dict, dict | None]]:
        def run(ep: str) -> tuple[dict, dict | None]:
            ip, port = split_endpoint(ep)
            if not self._allowed(ip):
                return {"status": False, "failure": REFUSED_PRIVATE}, None
            entry = tcp.connect(ip, port, self.settings.timeout, self.settings.source_address)
            status = entry["status"]
            result = {"status": status["success"], "failure": status["failure"]}
            handshake = None
            if parts.scheme == "https" and status["success"] and port == (parts.port or 443):
                hs = tls.handshake(
                    ip,
                    port,
                    parts.hostname or "",
                    self.settings.timeout,
                    self.settings.source_address,
                )
                handshake = {
                    "server_name": hs["server_name"],
                    "status": hs["failure"] is None,
                    "failure": hs["failure"],
                }
            return result, handshake

        return run

    def _http(self, url: str, headers: dict[str, str], addrs: list[str]) -> dict[str, Any]:
        first_host = (urlsplit(url).hostname or "").lower()

        def resolver(host: str) -> list[str]:
            if host.lower() == first_host:
                found = addrs
            else:
                found = probe_dns.resolve(host, self._nameservers(), self.settings.timeout).addrs
            allowed = [a for a in found if self._allowed(a)]
            if found and not allowed:
                raise probe_http.ResolutionFailed(REFUSED_PRIVATE)
            if not found:
                raise probe_http.ResolutionFailed(TH_NXDOMAIN)
            return allowed

        with probe_http.resolving_with(resolver, self.settings.source_address):
            entries = probe_http.fetch(
                url,
                timeout=self.settings.timeout,
                user_agent=headers.get("User-Agent", self.settings.user_agent),
                max_body_bytes=self.settings.max_body_bytes,
                verify=tls.requests_verify(),
            )
        final = entries[0]
        if final["failure"] is not None:
            return {
                "body_length": -1,
                "failure": final["failure"],
                "title": "",
                "headers": {},
                "status_code": -1,
            }
        response = final["response"]
        body = response["body"]
        raw = base64.b64decode(body["data"]) if isinstance(body, dict) else body.encode("utf-8")
        return {
            "body_length": len(raw),
            "failure": None,
            "title": extract_title(raw),
            "headers": response["headers"] or {},
            "status_code": response["code"],
        }


def _handler(helper: Helper) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = f"censorwatch-th/{__version__}"
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            log.info("%s %s", self.address_string(), format % args)

        def _send(self, code: int, payload: dict[str, Any]) -> None:
            body = json.dumps(payload).encode("utf-8")
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._send(
                200, {"service": "censorwatch web connectivity test helper", "version": __version__}
            )

        def do_POST(self) -> None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if length < 0 or length > MAX_REQUEST_BYTES:
                self.close_connection = True  # the unread body must not be taken as a request
                self._send(413, {"error": f"request body must be 0..{MAX_REQUEST_BYTES} bytes"})
                return
            try:
                data = json.loads(self.rfile.read(length) or b"null")
                result = helper.measure(data)
            except (ValueError, BadRequest) as exc:
                self._send(400, {"error": str(exc)})
                return
            except Exception as exc:  # the probe gets a clean error, the log the detail
                log.exception("test helper failed")
                self._send(500, {"error": f"{type(exc).__name__}"})
                return
            self._send(200, result)

    return Handler


class HelperServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    #: Listen backlog: probes ask with up to 3 x concurrency requests at once (a 2,000-URL run
    #: at 32 slots); the default of 5 had connections refused by a busy local helper.
    request_queue_size = 1024


def make_server(
    host: str,
    port: int,
    settings: HelperSettings,
    certfile: str | None = None,
    keyfile: str | None = None,
) -> HelperServer:
    """A ready (bound, not yet serving) helper; ``port`` 0 picks a free port."""
    server = HelperServer((host, port), _handler(Helper(settings)))
    if certfile:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(certfile, keyfile)
        # The handshake happens in the handler's thread, so a slow client cannot stall accept().
        server.socket = ctx.wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False
        )
    return server


def serve_in_thread(server: HelperServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="th-server")
    thread.start()
    return thread


def server_url(server: HelperServer, tls_enabled: bool = False) -> str:
    host, port = server.server_address[:2]
    host = f"[{host}]" if ":" in str(host) else host
    return f"{'https' if tls_enabled else 'http'}://{host}:{port}/"
