"""``censorwatch collect serve``: the working group's endpoint for volunteers' bundles.

A volunteer runs ``censorwatch export --upload URL --token T``; this server checks the token,
refuses anything larger than ``--max-bytes`` before reading it (and a gzip that expands past
:data:`EXPANSION_LIMIT` times that), parses every line as a measurement document with
:meth:`Measurement.from_document` *before storing anything*, and then stores the whole bundle
in one transaction with :func:`censorwatch.store.write_measurements` (idempotent: uploading
the same bundle twice adds nothing). A malformed bundle is refused with the line at fault;
nothing of it is stored.

Put it behind a TLS-terminating reverse proxy (Caddy, nginx) when it faces the Internet. It
never logs client addresses: those are volunteers' IP addresses.
"""

from __future__ import annotations

import hmac
import json
import logging
import signal
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import click

from censorwatch.cli import App, pass_app
from censorwatch.errors import InputError
from censorwatch.measurement import SOURCE_OONI, SOURCE_PROBE, Measurement

if TYPE_CHECKING:
    from censorwatch.fingerprints import FingerprintDB
    from censorwatch.store import Store

# The fingerprints (RE2) and the bulk writer (SQLAlchemy) are imported by the code that uses
# them, not for `censorwatch collect --help` (issue #15).

log = logging.getLogger("censorwatch.collect")

PATHS = ("/", "/bundles")
#: A gzip bundle may expand to at most this many times ``max_bytes`` (JSON compresses ~10x).
EXPANSION_LIMIT = 20
DEFAULT_MAX_BYTES = 64 * 1024 * 1024


class BundleError(Exception):
    """A refused upload: HTTP status and a message for the volunteer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _gunzip(body: bytes, limit: int) -> bytes:
    """Decompress one or more gzip members, refusing output larger than ``limit``."""
    out = bytearray()
    data = body
    while data:
        d = zlib.decompressobj(wbits=31)
        try:
            chunk = d.decompress(data, limit + 1 - len(out))
        except zlib.error as exc:
            raise BundleError(400, f"not a valid gzip file: {exc}") from None
        out += chunk
        if len(out) > limit or d.unconsumed_tail:
            raise BundleError(413, f"bundle expands to more than {limit} bytes")
        if not d.eof:
            raise BundleError(400, "not a valid gzip file: truncated")
        data = d.unused_data
    return bytes(out)


def judged(
    m: Measurement, doc: dict[str, Any], fingerprints: FingerprintDB | None = None
) -> Measurement:
    """The measurement with the shared verdict engine's judgement, as `ingest file` stores it.

    The engine is reached through the ingest stage's ``recompute_verdict``; an installation
    without the ingest stage stores the bundle's own flags. A document the engine cannot judge
    keeps its flags too (the row still goes in, as in ingest).
    """
    try:
        from censorwatch.ingest.pipeline import VERDICT_TESTS, recompute_verdict
    except ImportError:
        return m
    if m.test_name not in VERDICT_TESTS:
        return m
    try:
        return recompute_verdict(m, doc, fingerprints)
    except Exception as exc:
        log.warning("verdict not recomputed for %s: %s", m.measurement_uid, exc)
        return m


def parse_bundle(
    body: bytes, max_expanded: int, fingerprints: FingerprintDB | None = None
) -> list[Measurement]:
    """Every line of the bundle as a Measurement, or :class:`BundleError` naming the line."""
    if body[:2] == b"\x1f\x8b":
        body = _gunzip(body, max_expanded)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BundleError(400, f"bundle is not UTF-8 text (byte {exc.start})") from None
    measurements = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except ValueError as exc:
            raise BundleError(400, f"line {lineno}: not JSON: {exc}") from None
        # Same rule as `ingest file`: our probes' documents say software_name "censorwatch".
        software = doc.get("software_name") if isinstance(doc, dict) else None
        source = SOURCE_PROBE if software == SOURCE_PROBE else SOURCE_OONI
        try:
            m = Measurement.from_document(doc, source=source)
        except InputError as exc:
            raise BundleError(400, f"line {lineno}: not a measurement: {exc}") from None
        measurements.append(judged(m, doc, fingerprints))
    if not measurements:
        raise BundleError(400, "bundle holds no measurements")
    return measurements


def store_bundle(store: Store, measurements: list[Measurement]) -> dict[str, int]:
    """All or nothing: one transaction for the whole bundle."""
    from censorwatch.store import write_measurements

    with store.engine.begin() as conn:
        result = write_measurements(conn, measurements)
    return {"measurements": len(measurements), "inserted": result.inserted, "merged": result.merged}


class CollectorServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        store: Store,
        token: str,
        max_bytes: int,
        fingerprints: FingerprintDB | None = None,
    ) -> None:
        if not token:
            raise InputError("--token: the collector needs a token")
        if max_bytes <= 0:
            raise InputError(f"--max-bytes: must be positive, got {max_bytes}")
        super().__init__(address, CollectorHandler)
        self.store = store
        self.token = token
        self.max_bytes = max_bytes
        #: The fingerprints bundles are judged with (``verdict.fingerprint_files``).
        self.fingerprints = fingerprints

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = f"[{host}]" if ":" in str(host) else host
        return f"http://{host}:{port}/bundles"


class CollectorHandler(BaseHTTPRequestHandler):
    server: CollectorServer
    server_version = "censorwatch-collect"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        # The default handler logs the client's address: a volunteer's IP. Never.
        log.info("%s", format % args)

    _body_read = False
    #: On a refusal, read (and drop) up to this much of an unread body, so the client, still
    #: sending, gets the answer instead of a connection reset.
    DRAIN_LIMIT = 4 * 1024 * 1024

    def _drain(self) -> None:
        if self._body_read or self.command != "POST":
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return
        if 0 < length <= self.DRAIN_LIMIT:
            self.rfile.read(length)
        self._body_read = True

    def _reply(self, status: int, data: dict[str, Any]) -> None:
        if status >= 400:
            self._drain()
        body = (json.dumps(data, ensure_ascii=False) + "\n").encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Bearer realm="censorwatch"')
        if status >= 400:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/health":
            self._reply(200, {"status": "ok"})
        else:
            self._reply(405, {"error": "POST a bundle to /bundles"})

    def do_POST(self) -> None:
        try:
            answer = self._receive()
        except BundleError as exc:
            log.warning("bundle refused: %s", exc)
            self._reply(exc.status, {"error": str(exc)})
            return
        except Exception as exc:
            log.exception("bundle could not be stored")
            self._reply(
                500, {"error": f"could not store the bundle ({type(exc).__name__}); nothing stored"}
            )
            return
        log.info("bundle stored: %s", answer)
        self._reply(200, answer)

    def _receive(self) -> dict[str, int]:
        if self.path not in PATHS:
            raise BundleError(404, f"no such endpoint {self.path!r}; POST to /bundles")
        auth = self.headers.get("Authorization", "")
        scheme, _, given = auth.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode("utf-8"), self.server.token.encode("utf-8")
        ):
            raise BundleError(401, "missing or wrong token")
        if self.headers.get("Transfer-Encoding"):
            raise BundleError(411, "send the bundle with a Content-Length")
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            raise BundleError(411, "send the bundle with a Content-Length")
        try:
            length = int(length_text)
        except ValueError:
            raise BundleError(400, "Content-Length is not a number") from None
        if length > self.server.max_bytes:
            raise BundleError(
                413, f"bundle of {length} bytes is larger than the limit {self.server.max_bytes}"
            )
        body = self.rfile.read(length)
        self._body_read = True
        if len(body) != length:
            raise BundleError(400, "bundle ended early")
        measurements = parse_bundle(
            body, self.server.max_bytes * EXPANSION_LIMIT, self.server.fingerprints
        )
        return store_bundle(self.server.store, measurements)


@click.group("collect")
def collect() -> None:
    """The working group's collector for volunteers' bundles."""


@collect.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8470, show_default=True, type=int)
@click.option(
    "--token",
    envvar="CENSORWATCH_COLLECT_TOKEN",
    required=True,
    metavar="T",
    help="The token volunteers send (or $CENSORWATCH_COLLECT_TOKEN).",
)
@click.option(
    "--max-bytes",
    default=DEFAULT_MAX_BYTES,
    show_default=True,
    type=int,
    help="Largest upload accepted.",
)
@pass_app
def collect_serve(app: App, host: str, port: int, token: str, max_bytes: int) -> None:
    """Receive bundles from `censorwatch export --upload` until SIGTERM or Ctrl+C."""
    from censorwatch.fingerprints import fingerprints_from_config

    server = CollectorServer(
        (host, port),
        app.store(),
        token,
        max_bytes,
        fingerprints_from_config(app.config, app.store()),
    )

    def stop(_signum: int, _frame: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    app.say(f"collecting bundles at {server.url} (up to {max_bytes} bytes each)")
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
