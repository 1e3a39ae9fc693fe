"""TCP connect to each resolved address on the URL's port (OONI ``df-005-tcpconnect``)."""

from __future__ import annotations

import socket
import time
from typing import Any

from censorwatch.probes import failures


def endpoint(ip: str, port: int) -> str:
    """``1.2.3.4:443`` or ``[2001:db8::1]:443``, as OONI writes endpoints."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def connect(
    ip: str, port: int, timeout: float, source_address: str | None = None
) -> dict[str, Any]:
    """Try one connection and record it; the socket is closed straight away."""
    t0 = time.monotonic()
    failure: str | None = None
    try:
        source = (source_address, 0) if source_address else None
        with socket.create_connection((ip, port), timeout=timeout, source_address=source):
            pass
    except OSError as exc:
        failure = failures.classify(exc)
    return {
        "ip": ip,
        "port": port,
        "status": {"success": failure is None, "failure": failure, "blocked": None},
        "t0": 0.0,
        "t": round(time.monotonic() - t0, 6),
        "tags": ["classic", "tcptls_experiment", "depth=0"],
    }
