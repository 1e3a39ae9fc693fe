"""HTTP(S) GET with requests, recorded as OONI ``df-001-httpt`` request/response entries.

What a browser would do, measured: a browser-like User-Agent and Accept headers, redirects
followed (up to 10, each hop recorded, newest first as OONI lists them), cookies kept along
the chain, a per-request timeout and a cap on how much of a body is read (1 MiB by default,
``body_is_truncated`` set beyond it).

Name resolution goes through the probe's own DNS result, not the operating system's: the
input's host connects to the addresses the DNS step found (so ``--resolver`` and a lying
resolver are what the HTTP step sees, as for a user of that resolver), and a redirect to
another host is resolved with the same resolver. This is done by a thread-local hook in
urllib3's ``create_connection``; without a hook urllib3 behaves as usual.
"""

from __future__ import annotations

import base64
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3.util.connection as u3conn

from censorwatch.probes import failures
from censorwatch.verdict.http import extract_title

MAX_REDIRECTS = 10
REDIRECT_CODES = (301, 302, 303, 307, 308)
ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
ACCEPT_LANGUAGE = "en-US,en;q=0.9"

#: host -> addresses (or a failure string) for the current thread's measurement.
HostResolver = Callable[[str], list[str]]

_local = threading.local()
_original_create_connection = u3conn.create_connection


class ResolutionFailed(socket.gaierror):
    """The probe's resolver could not resolve a host (carries OONI's failure string)."""

    def __init__(self, failure: str) -> None:
        super().__init__(socket.EAI_NONAME, failure)
        self.failure = failure


def _create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
    resolver: HostResolver | None = getattr(_local, "resolver", None)
    host, port = address
    source = getattr(_local, "source_address", None)
    if source:
        kwargs["source_address"] = (source, 0)
    if resolver is None:
        return _original_create_connection(address, *args, **kwargs)
    addrs = resolver(host.strip("[]"))
    last: OSError | None = None
    for ip in addrs:
        try:
            return _original_create_connection((ip, port), *args, **kwargs)
        except OSError as exc:
            last = exc
    if last is not None:
        raise last
    raise ResolutionFailed(failures.NO_ANSWER)


u3conn.create_connection = _create_connection


@contextlib.contextmanager
def resolving_with(resolver: HostResolver, source_address: str | None = None) -> Iterator[None]:
    """Within the block, this thread's HTTP connections resolve names with ``resolver``
    (and leave from ``source_address`` when given)."""
    previous = getattr(_local, "resolver", None), getattr(_local, "source_address", None)
    _local.resolver, _local.source_address = resolver, source_address
    try:
        yield
    finally:
        _local.resolver, _local.source_address = previous


def _headers_dict(headers: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in headers.items()}


def _headers_list(raw: Any) -> list[list[str]]:
    try:
        return [[str(k), str(v)] for k, v in raw.headers.items()]
    except AttributeError:
        return []


def _body_field(body: bytes) -> str | dict[str, str]:
    """OONI keeps a UTF-8 body as a string and anything else as base64."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return {"format": "base64", "data": base64.b64encode(body).decode("ascii")}


def _read_capped(resp: requests.Response, cap: int, deadline: float) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    for chunk in resp.iter_content(chunk_size=65536):
        if not chunk:
            continue
        chunks.append(chunk)
        size += len(chunk)
        if size > cap:
            return b"".join(chunks)[:cap], True
        if time.monotonic() > deadline:
            raise TimeoutError("body download exceeded the request timeout")
    return b"".join(chunks), False


def fetch(
    url: str,
    *,
    timeout: float,
    user_agent: str,
    max_body_bytes: int,
    verify: bool | str = True,
) -> list[dict[str, Any]]:
    """GET ``url`` following redirects; the request entries, final response first."""
    entries: list[dict[str, Any]] = []
    headers = {"User-Agent": user_agent, "Accept": ACCEPT, "Accept-Language": ACCEPT_LANGUAGE}
    with requests.Session() as session:
        session.trust_env = False  # direct, never via a proxy: we measure this network
        session.max_redirects = MAX_REDIRECTS
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            entry, location = _one_request(
                session, current, headers, timeout, max_body_bytes, verify
            )
            entries.append(entry)
            if location is None:
                break
            current = location
        else:  # pragma: no cover - loop ends by break unless redirects never stop
            entries[-1]["failure"] = "unknown_failure: stopped after 10 redirects"
    entries.reverse()
    return entries


def _one_request(
    session: requests.Session,
    url: str,
    headers: dict[str, str],
    timeout: float,
    cap: int,
    verify: bool | str,
) -> tuple[dict[str, Any], str | None]:
    t0 = time.monotonic()
    request_record = {
        "url": url,
        "method": "GET",
        "headers": dict(headers, Host=urlsplit(url).netloc),
        "headers_list": [[k, v] for k, v in dict(headers, Host=urlsplit(url).netloc).items()],
        "body": "",
        "body_is_truncated": False,
        "tor": {"is_tor": False, "exit_ip": None, "exit_name": None},
        "x_transport": "tcp",
    }
    entry: dict[str, Any] = {
        "failure": None,
        "request": request_record,
        "response": {
            "body": "",
            "body_is_truncated": False,
            "code": 0,
            "headers_list": None,
            "headers": None,
        },
        "t0": 0.0,
        "t": 0.0,
        "tags": ["classic", "depth=0"],
    }
    location: str | None = None
    try:
        resp = session.get(
            url,
            headers=headers,
            timeout=timeout,
            allow_redirects=False,
            stream=True,
            verify=verify,
        )
        with contextlib.closing(resp):
            body, truncated = _read_capped(resp, cap, t0 + timeout)
            entry["response"] = {
                "body": _body_field(body),
                "body_is_truncated": truncated,
                "code": resp.status_code,
                "headers_list": _headers_list(resp.raw),
                "headers": _headers_dict(resp.headers),
                "x_body_length": len(body),
                "x_title": extract_title(body),
            }
            if resp.status_code in REDIRECT_CODES and resp.headers.get("Location"):
                location = urljoin(url, resp.headers["Location"])
    except ResolutionFailed as exc:
        entry["failure"] = exc.failure
    except (requests.RequestException, OSError, ValueError) as exc:
        entry["failure"] = _resolution_failure(exc) or failures.classify(exc)
    entry["t"] = round(time.monotonic() - t0, 6)
    return entry, location


def _resolution_failure(exc: BaseException) -> str | None:
    current: BaseException | None = exc
    seen: set[int] = set()
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ResolutionFailed):
            return current.failure
        current = current.__cause__ or current.__context__
    return None
