"""Client of the OONI Web Connectivity test-helper protocol.

The probe asks a helper outside the country for the uncensored view of the same URL:

    POST {control_url}
    {"http_request": URL, "http_request_headers": {name: [values]},
     "tcp_connect": ["IP:PORT", ...]}

and gets ``{"dns": {"addrs", "failure"}, "tcp_connect": {"IP:PORT": {"status", "failure"}},
"http_request": {"body_length", "failure", "title", "headers", "status_code"}}`` (newer
helpers, ours included, add ``tls_handshake``). The answer goes into the measurement's
``test_keys.control`` unchanged; a helper that cannot be reached gives ``control_failure``.
``censorwatch control serve`` (:mod:`censorwatch.probes.control_server`) is such a helper.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import requests

from censorwatch.probes import failures

_local = threading.local()


def _session() -> requests.Session:
    session = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        session.trust_env = False
        _local.session = session
    return session


def control_request(url: str, headers: Mapping[str, str], endpoints: Sequence[str]) -> dict:
    """The JSON body of a test-helper request (OONI's ``x_control_request``)."""
    return {
        "http_request": url,
        "http_request_headers": {k: [v] for k, v in headers.items()},
        "tcp_connect": list(dict.fromkeys(endpoints)),
    }


def query_control(
    control_url: str,
    request: Mapping[str, Any],
    timeout: float,
    verify: bool | str = True,
) -> tuple[dict[str, Any], str | None]:
    """Ask the helper; ``(control, None)`` or ``({}, failure)`` as OONI records them."""
    try:
        resp = _session().post(control_url, json=dict(request), timeout=timeout, verify=verify)
    except requests.RequestException as exc:
        return {}, failures.classify(exc)
    if resp.status_code != 200:
        return {}, f"unknown_failure: test helper answered HTTP {resp.status_code}"
    try:
        data = resp.json()
    except ValueError:
        return {}, "unknown_failure: test helper answer is not JSON"
    if not isinstance(data, dict) or not isinstance(data.get("http_request"), dict):
        return {}, "unknown_failure: test helper answer lacks http_request"
    return data, None
