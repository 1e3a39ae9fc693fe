"""A fake OONI API and a fake OONI bucket on loopback, serving recorded real OONI data.

Not a test module (the leading underscore): test modules load it with ``load_fake()``. Data
comes from ``../shared/fixtures/ooni/`` (never copied into the repository); larger sets are
made by *varying* the real documents and rows (new report ids, inputs, times, country), never
by inventing their format.

The API pages like the real one (``metadata.next_url`` pointing back at this server,
``count``/``pages`` of -1) and can be told to misbehave: ``server.faults`` is a list of
actions consumed one per request (``"429"``, ``"500"``, ``"slow"``, ``"truncated"``,
``"cut-json"``, ``None`` for a normal answer).
"""

from __future__ import annotations

import copy
import gzip
import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
from xml.sax.saxutils import escape

#: A documentation address (RFC 5737) put into documents as the "volunteer's" IP: it must
#: never reach the store. It is only text; nothing is ever sent to it.
FAKE_PROBE_IP = "203.0.113.77"


def unwrap(path: Path) -> Any:
    """A recorded response ``{status, contentType, body}`` -> the parsed body."""
    return json.loads(json.loads(path.read_text("utf-8"))["body"])


def api_rows(shared: Any) -> list[dict[str, Any]]:
    path = shared("ooni", "api", "api_v1_measurements__web_connectivity_limit50.recorded.json")
    return unwrap(path)["results"]


def real_documents(shared: Any) -> list[dict[str, Any]]:
    folder = shared("ooni", "measurements")
    return [json.loads(p.read_text("utf-8")) for p in sorted(Path(folder).glob("*.json"))]


def vary_rows(
    rows: list[dict[str, Any]], n: int, *, cc: str = "KH", start: datetime, step: timedelta
) -> list[dict[str, Any]]:
    """``n`` API rows made from the real ones: new report ids, inputs, uids and times."""
    out = []
    for i in range(n):
        row = copy.deepcopy(rows[i % len(rows)])
        when = start + step * i
        row["probe_cc"] = cc
        row["report_id"] = f"{when:%Y%m%dT%H%M%SZ}_webconnectivity_{cc}_38623_n1_v{i:010d}"
        row["input"] = f"{row['input'].rstrip('/')}/v{i}/"
        row["measurement_start_time"] = when.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
        uid = f"{when:%Y%m%d%H%M%S}.000000_{cc}_webconnectivity_{i:016x}"
        row["measurement_uid"] = uid
        row["measurement_url"] = f"https://api.ooni.io/api/v1/raw_measurement?measurement_uid={uid}"
        row["anomaly"] = i % 7 == 0
        row["confirmed"] = i % 21 == 0
        out.append(row)
    return out


def vary_documents(
    docs: list[dict[str, Any]], n: int, *, cc: str = "KH", start: datetime, step: timedelta
) -> list[dict[str, Any]]:
    """``n`` full documents made from the real ones, with the same identities as vary_rows."""
    out = []
    for i in range(n):
        doc = copy.deepcopy(docs[i % len(docs)])
        when = start + step * i
        doc["probe_cc"] = cc
        doc["report_id"] = f"{when:%Y%m%dT%H%M%SZ}_webconnectivity_{cc}_38623_n1_v{i:010d}"
        doc["input"] = f"{doc['input'].rstrip('/')}/v{i}/"
        doc["measurement_start_time"] = when.strftime("%Y-%m-%d %H:%M:%S")
        doc["probe_ip"] = FAKE_PROBE_IP
        # The address also appears inside test keys, as it can in real documents.
        doc.setdefault("test_keys", {})["client_resolver"] = FAKE_PROBE_IP
        out.append(doc)
    return out


def jsonl_gz(docs: list[dict[str, Any]]) -> bytes:
    return gzip.compress(b"".join(json.dumps(d).encode() + b"\n" for d in docs))


class FakeOoni(ThreadingHTTPServer):
    """The fake API (``/api/v1/...``) and bucket (``/ooni-data-eu-fra/...``) in one server."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.rows: list[dict[str, Any]] = []
        self.meta: dict[str, Any] = {}
        self.aggregation: Any = None
        self.objects: dict[str, bytes] = {}
        self.list_page_size = 1000
        self.faults: list[str | None] = []
        self.object_faults: dict[str, list[str]] = {}
        self.requests: list[str] = []
        self.slow_seconds = 2.0
        #: Seconds added to every API answer (to catch an ingest in the middle).
        self.delay = 0.0
        self.lock = threading.Lock()

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def bucket_url(self) -> str:
        return f"{self.base_url}/ooni-data-eu-fra"

    def next_fault(self) -> str | None:
        with self.lock:
            return self.faults.pop(0) if self.faults else None

    def api_requests(self, path: str = "/api/v1/measurements") -> list[str]:
        return [r for r in self.requests if r.startswith(path)]


class _Handler(BaseHTTPRequestHandler):
    server: FakeOoni
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if parts.path.startswith("/ooni-data-eu-fra"):
            return self._bucket(parts.path[len("/ooni-data-eu-fra") :], query)
        if self.server.delay:
            time.sleep(self.server.delay)
        fault = self.server.next_fault()
        if fault == "429":
            return self._send(
                429,
                b'{"error":"quota exceeded"}',
                {"X-RateLimit-Remaining": "0", "Retry-After": "0"},
            )
        if fault == "500":
            return self._send(500, b"<html>Internal Server Error</html>", ctype="text/html")
        if fault == "slow":
            time.sleep(self.server.slow_seconds)
        if parts.path == "/api/v1/measurements":
            body = self._measurements(query)
        elif parts.path == "/api/v1/aggregation":
            body = json.dumps(self.server.aggregation).encode()
        elif parts.path == "/api/v1/measurement_meta":
            body = json.dumps(self.server.meta).encode()
        else:
            return self._send(404, b'{"error":"not found"}')
        if fault == "truncated":
            # Promise the whole body, send half, hang up: the client sees an incomplete read.
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return None
        if fault == "cut-json":
            body = body[: len(body) // 2]
        return self._send(200, body)

    def _measurements(self, q: dict[str, str]) -> bytes:
        rows = self.server.rows

        def keep(r: dict[str, Any]) -> bool:
            t = r["measurement_start_time"][:19]
            return (
                (not q.get("probe_cc") or r["probe_cc"] == q["probe_cc"])
                and (not q.get("test_name") or r["test_name"] == q["test_name"])
                and (not q.get("since") or t >= q["since"])
                and (not q.get("until") or t < q["until"])
                and (q.get("anomaly") != "true" or r["anomaly"])
                and (q.get("confirmed") != "true" or r["confirmed"])
            )

        chosen = sorted(filter(keep, rows), key=lambda r: r["measurement_start_time"])
        if q.get("order") == "desc":
            chosen.reverse()
        limit, offset = int(q.get("limit", 100)), int(q.get("offset", 0))
        page = chosen[offset : offset + limit]
        next_url = None
        if offset + limit < len(chosen):
            nq = {**q, "offset": str(offset + limit)}
            # The real API writes its public address; the client must rebase it.
            next_url = f"{self.server.base_url}/api/v1/measurements?{urlencode(nq)}"
        meta = {
            "count": -1,
            "current_page": offset // limit + 1,
            "limit": limit,
            "next_url": next_url,
            "offset": offset,
            "pages": -1,
            "query_time": 0.01,
        }
        return json.dumps({"metadata": meta, "results": page}).encode()

    def _bucket(self, path: str, q: dict[str, str]) -> None:
        if path in ("", "/") and q.get("list-type") == "2":
            prefix = q.get("prefix", "")
            keys = sorted(k for k in self.server.objects if k.startswith(prefix))
            start = int(q.get("continuation-token", "0"))
            size = self.server.list_page_size
            page = keys[start : start + size]
            more = start + size < len(keys)
            items = "".join(
                f"<Contents><Key>{escape(k)}</Key><LastModified>2024-01-01T00:00:00.000Z"
                f"</LastModified><Size>{len(self.server.objects[k])}</Size>"
                f"<StorageClass>STANDARD</StorageClass></Contents>"
                for k in page
            )
            token = f"<NextContinuationToken>{start + size}</NextContinuationToken>" if more else ""
            xml = (
                '<?xml version="1.0" encoding="UTF-8"?>'
                '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                f"<Name>ooni-data-eu-fra</Name><Prefix>{escape(prefix)}</Prefix>"
                f"<KeyCount>{len(page)}</KeyCount><MaxKeys>{size}</MaxKeys>"
                f"<IsTruncated>{'true' if more else 'false'}</IsTruncated>{items}{token}"
                "</ListBucketResult>"
            )
            return self._send(200, xml.encode(), ctype="application/xml")
        key = path.lstrip("/")
        data = self.server.objects.get(key)
        if data is None:
            return self._send(
                404, b"<Error><Code>NoSuchKey</Code></Error>", ctype="application/xml"
            )
        faults = self.server.object_faults.get(key)
        fault = faults.pop(0) if faults else None
        if fault == "500":
            return self._send(500, b"<Error><Code>InternalError</Code></Error>")
        if fault == "truncated":
            self.send_response(200)
            self.send_header("Content-Type", "application/x-gzip")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return None
        return self._send(200, data, ctype="application/x-gzip")

    def _send(
        self,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
        ctype: str = "application/json",
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)


def serve() -> Iterator[FakeOoni]:
    """Start a FakeOoni in a thread; stop it when the generator is closed."""
    server = FakeOoni()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
