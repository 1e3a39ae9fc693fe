"""Builders of small web_connectivity documents (OONI v0.4 shape) for rule tests.

Only the fields the rules read are filled in; each test states the scenario it builds.
"""

from __future__ import annotations

from typing import Any


def query(addrs: list[str] | None, failure: str | None = None, asns: dict | None = None) -> dict:
    answers = []
    for a in addrs or []:
        kind = "AAAA" if ":" in a else "A"
        ans: dict[str, Any] = {"answer_type": kind, ("ipv6" if ":" in a else "ipv4"): a}
        if asns and a in asns:
            ans["asn"] = asns[a]
        answers.append(ans)
    return {
        "answers": answers or None,
        "engine": "system",
        "failure": failure,
        "hostname": "example.org",
        "query_type": "ANY",
    }


def response(code: int = 200, body: str = "", headers: dict | None = None, url: str = "") -> dict:
    return {
        "failure": None,
        "request": {"url": url, "method": "GET", "headers": {}},
        "response": {
            "code": code,
            "body": body,
            "body_is_truncated": False,
            "headers": headers or {},
        },
    }


def failed_request(failure: str, url: str) -> dict:
    return {
        "failure": failure,
        "request": {"url": url, "method": "GET", "headers": {}},
        "response": {"code": 0, "body": "", "headers": None},
    }


PAGE = "<html><head><title>Example Domain News</title></head><body>" + "x" * 2000 + "</body>"
PAGE_HEADERS = {"Content-Type": "text/html", "X-Site": "real", "Server": "nginx"}


def control(
    addrs: list[str] | None = ("93.184.216.34",),
    dns_failure: str | None = None,
    tcp: dict | None = None,
    http_failure: str | None = None,
    status: int = 200,
    body_length: int | None = None,
    title: str = "Example Domain News",
    headers: dict | None = None,
    tls: dict | None = None,
) -> dict:
    ctrl: dict[str, Any] = {
        "dns": {"addrs": list(addrs) if addrs is not None else [], "failure": dns_failure},
        "tcp_connect": tcp if tcp is not None else {"93.184.216.34:80": {"status": True}},
        "http_request": {
            "body_length": len(PAGE) if body_length is None else body_length,
            "failure": http_failure,
            "status_code": -1 if http_failure else status,
            "title": title,
            "headers": PAGE_HEADERS if headers is None else headers,
        },
    }
    if tls is not None:
        ctrl["tls_handshake"] = tls
    return ctrl


def wc_doc(
    url: str = "http://example.org/",
    *,
    queries: list[dict] | None = None,
    tcp: list[tuple[str, int, bool, str | None]] | None = None,
    tls: list[dict] | None = None,
    requests: list[dict] | None = None,
    ctrl: dict | None = None,
    control_failure: str | None = None,
    probe_cc: str = "KH",
    probe_asn: str = "AS38623",
    extra: dict | None = None,
) -> dict:
    tk: dict[str, Any] = {
        "queries": queries if queries is not None else [query(["93.184.216.34"])],
        "tcp_connect": [
            {"ip": ip, "port": port, "status": {"success": ok, "failure": failure}}
            for ip, port, ok, failure in (
                tcp if tcp is not None else [("93.184.216.34", 80, True, None)]
            )
        ],
        "tls_handshakes": tls,
        "requests": requests if requests is not None else [response(200, PAGE, PAGE_HEADERS, url)],
        "control": ctrl if ctrl is not None else ({} if control_failure else control()),
        "control_failure": control_failure,
    }
    tk.update(extra or {})
    return {
        "test_name": "web_connectivity",
        "test_version": "0.4.3",
        "input": url,
        "measurement_start_time": "2026-11-20 10:00:00",
        "probe_cc": probe_cc,
        "probe_asn": probe_asn,
        "test_keys": tk,
    }
