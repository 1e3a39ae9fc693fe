"""OONI's failure strings for what went wrong on the network.

The verdict rules read failures the way OONI Probe writes them (``connection_refused``,
``generic_timeout_error``, ``ssl_unknown_authority``, ``dns_nxdomain_error``, ...), so our
probes translate Python's exceptions into the same words. Anything unrecognised becomes
``unknown_failure: <text>``, as in OONI's data.
"""

from __future__ import annotations

import errno
import socket
import ssl

import requests

CONNECTION_REFUSED = "connection_refused"
CONNECTION_RESET = "connection_reset"
TIMEOUT = "generic_timeout_error"
EOF_ERROR = "eof_error"
HOST_UNREACHABLE = "host_unreachable"
NETWORK_UNREACHABLE = "network_unreachable"
NXDOMAIN = "dns_nxdomain_error"
NO_ANSWER = "dns_no_answer"
DNS_SERVER_FAILURE = "dns_server_failure"
DNS_REFUSED = "dns_refused_error"
SSL_INVALID_HOSTNAME = "ssl_invalid_hostname"
SSL_UNKNOWN_AUTHORITY = "ssl_unknown_authority"
SSL_INVALID_CERTIFICATE = "ssl_invalid_certificate"
SSL_FAILED_HANDSHAKE = "ssl_failed_handshake"

_ERRNO = {
    errno.ECONNREFUSED: CONNECTION_REFUSED,
    errno.ECONNRESET: CONNECTION_RESET,
    errno.ECONNABORTED: CONNECTION_RESET,
    errno.EPIPE: CONNECTION_RESET,
    errno.ETIMEDOUT: TIMEOUT,
    errno.EHOSTUNREACH: HOST_UNREACHABLE,
    errno.ENETUNREACH: NETWORK_UNREACHABLE,
}


def _ssl_failure(exc: ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        code = getattr(exc, "verify_code", 0)
        message = (getattr(exc, "verify_message", "") or str(exc)).lower()
        if code == 62 or "hostname mismatch" in message or "ip address mismatch" in message:
            return SSL_INVALID_HOSTNAME
        if code in (18, 19, 20, 21) or "self-signed" in message or "issuer" in message:
            return SSL_UNKNOWN_AUTHORITY
        return SSL_INVALID_CERTIFICATE
    if isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return EOF_ERROR
    text = str(exc).lower()
    if "reset" in text:
        return CONNECTION_RESET
    if "eof" in text:
        return EOF_ERROR
    return SSL_FAILED_HANDSHAKE


def classify(exc: BaseException) -> str:
    """The OONI failure string for an exception raised by sockets, ssl or requests."""
    seen: set[int] = set()
    current: BaseException | None = exc
    # requests and urllib3 wrap the real cause several levels deep; walk down to it.
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        found = _direct(current)
        if found is not None:
            return found
        nxt = current.__cause__ or current.__context__
        if nxt is None and current.args and isinstance(current.args[0], BaseException):
            nxt = current.args[0]
        if nxt is None:
            reason = getattr(current, "reason", None)
            nxt = reason if isinstance(reason, BaseException) else None
        current = nxt
    return f"unknown_failure: {exc}"


def _direct(exc: BaseException) -> str | None:
    if isinstance(exc, ssl.SSLError):
        return _ssl_failure(exc)
    if isinstance(exc, socket.timeout | TimeoutError):
        return TIMEOUT
    if isinstance(exc, requests.exceptions.Timeout):
        return TIMEOUT
    if isinstance(exc, ConnectionRefusedError):
        return CONNECTION_REFUSED
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return CONNECTION_RESET
    if isinstance(exc, socket.gaierror):
        return NXDOMAIN if exc.errno in (socket.EAI_NONAME,) else None
    if isinstance(exc, OSError) and exc.errno in _ERRNO:
        return _ERRNO[exc.errno]
    text = type(exc).__name__
    if text in ("RemoteDisconnected", "IncompleteRead") or "RemoteDisconnected" in str(exc):
        return EOF_ERROR
    if text == "ReadTimeoutError" or text == "ConnectTimeoutError":
        return TIMEOUT
    if text == "ProtocolError" and "reset" in str(exc).lower():
        return CONNECTION_RESET
    if text == "ProtocolError" and "aborted" in str(exc).lower():
        return EOF_ERROR
    return None
