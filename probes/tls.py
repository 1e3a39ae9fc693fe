"""TLS handshake with SNI, the certificate validated (OONI ``df-006-tlshandshake``).

Certificates are checked against ``REQUESTS_CA_BUNDLE`` or ``SSL_CERT_FILE`` when set, else
the system's store, so a volunteer behind a TLS-intercepting middlebox sees a failure rather
than a silently accepted certificate. Only the peer's leaf certificate is recorded.
"""

from __future__ import annotations

import base64
import os
import socket
import ssl
import time
from functools import lru_cache
from typing import Any

from censorwatch.probes import failures
from censorwatch.probes.tcp import endpoint


def ca_bundle() -> str | None:
    """The CA file to trust: ``REQUESTS_CA_BUNDLE``, ``SSL_CERT_FILE``, else the system's."""
    for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        value = os.environ.get(name)
        if value and os.path.exists(value):
            return value
    system = ssl.get_default_verify_paths().cafile
    return system if system and os.path.exists(system) else None


def requests_verify() -> bool | str:
    """What to pass as requests' ``verify``: the same trust store as the TLS step."""
    return ca_bundle() or True


@lru_cache(maxsize=4)
def _context(cafile: str | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    return ctx


def handshake(
    ip: str, port: int, server_name: str, timeout: float, source_address: str | None = None
) -> dict[str, Any]:
    """Connect to ``ip:port`` and complete a TLS handshake for ``server_name``."""
    t0 = time.monotonic()
    failure: str | None = None
    version = cipher = alpn = None
    certs: list[dict[str, str]] = []
    try:
        source = (source_address, 0) if source_address else None
        with socket.create_connection((ip, port), timeout=timeout, source_address=source) as raw:
            raw.settimeout(max(0.01, timeout - (time.monotonic() - t0)))
            with _context(ca_bundle()).wrap_socket(raw, server_hostname=server_name) as tls:
                version = tls.version()
                cipher = (tls.cipher() or (None,))[0]
                alpn = tls.selected_alpn_protocol()
                der = tls.getpeercert(binary_form=True)
                if der:
                    certs.append({"data": base64.b64encode(der).decode(), "format": "base64"})
    except (OSError, ValueError) as exc:
        failure = failures.classify(exc)
    return {
        "network": "tcp",
        "address": endpoint(ip, port),
        "server_name": server_name,
        "failure": failure,
        "no_tls_verify": False,
        "tls_version": version,
        "cipher_suite": cipher,
        "negotiated_protocol": alpn,
        "peer_certificates": certs or None,
        "t0": 0.0,
        "t": round(time.monotonic() - t0, 6),
        "tags": ["classic", "tcptls_experiment", "depth=0"],
    }
