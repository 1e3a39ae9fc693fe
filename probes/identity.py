"""Which network the probe is on: ASN and network name, never the address.

Reports say "blocked on Viettel (AS38623)", so each measurement needs the network, not the
person. The configuration can say it (``probe.probe_asn``, ``probe.probe_network_name``);
otherwise it is detected when online with two DNS questions, the way many tools do:

1. ``o-o.myaddr.l.google.com`` TXT, asked of Google's authoritative server, answers with the
   address the question came from (our public address);
2. Team Cymru's ``<reversed address>.origin.asn.cymru.com`` TXT gives its ASN, and
   ``AS<n>.asn.cymru.com`` TXT the network's name.

The address lives only in a local variable between the two questions: it is never logged,
returned or stored. When detection fails the ASN is 0 (OONI's "AS0", unknown) and the run
says so.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import dns.exception
import dns.message
import dns.query
import dns.rdatatype

log = logging.getLogger(__name__)

#: ns1.google.com, which answers o-o.myaddr.l.google.com with the asker's address.
WHOAMI_SERVER = ("216.239.32.10", 53)
WHOAMI_NAME = "o-o.myaddr.l.google.com"
CYMRU_ORIGIN = "origin.asn.cymru.com"
CYMRU_ORIGIN6 = "origin6.asn.cymru.com"
CYMRU_ASN = "asn.cymru.com"


@dataclass(frozen=True)
class NetworkIdentity:
    """The network a measurement was made on (what OONI publishes, nothing more)."""

    probe_asn: int
    probe_network_name: str
    source: str  # "config", "detected" or "unknown"


def _txt(name: str, server: tuple[str, int], timeout: float) -> list[str]:
    query = dns.message.make_query(name, dns.rdatatype.TXT)
    response, _ = dns.query.udp_with_fallback(query, server[0], timeout=timeout, port=server[1])
    out = []
    for rrset in response.answer:
        if rrset.rdtype != dns.rdatatype.TXT:
            continue
        for rdata in rrset:
            out.append(b"".join(rdata.strings).decode("utf-8", errors="replace"))
    return out


def _reverse(address: str) -> str:
    ip = ipaddress.ip_address(address)
    if ip.version == 4:
        return ".".join(reversed(address.split("."))) + "." + CYMRU_ORIGIN
    nibbles = ip.exploded.replace(":", "")
    return ".".join(reversed(nibbles)) + "." + CYMRU_ORIGIN6


def detect_network(
    resolver: tuple[str, int],
    timeout: float = 5.0,
    whoami_server: tuple[str, int] = WHOAMI_SERVER,
) -> NetworkIdentity | None:
    """Ask the Internet which network we are on; ``None`` when it cannot be told."""
    try:
        answers = _txt(WHOAMI_NAME, whoami_server, timeout)
        address = next((a for a in answers if _is_ip(a)), None)
        if address is None:
            return None
        origin = _txt(_reverse(address), resolver, timeout)
        del address  # from here on only the network is known
        if not origin:
            return None
        asn_text = origin[0].split("|")[0].strip().split()[0]
        asn = int(asn_text)
        name = ""
        described = _txt(f"AS{asn}.{CYMRU_ASN}", resolver, timeout)
        if described:
            fields = [f.strip() for f in described[0].split("|")]
            name = fields[-1] if len(fields) >= 5 else ""
    except (dns.exception.DNSException, OSError, ValueError, IndexError) as exc:
        log.info("network detection failed: %s", type(exc).__name__)
        return None
    return NetworkIdentity(asn, name, "detected")


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def network_identity(
    probe_asn: int,
    probe_network_name: str,
    *,
    detect: bool,
    resolvers: Sequence[tuple[str, int]],
    timeout: float = 5.0,
    whoami_server: tuple[str, int] = WHOAMI_SERVER,
) -> NetworkIdentity:
    """The configured identity, else a detected one, else AS0 (unknown)."""
    if probe_asn:
        return NetworkIdentity(probe_asn, probe_network_name, "config")
    if detect and resolvers:
        found = detect_network(resolvers[0], timeout, whoami_server)
        if found is not None:
            return found
    return NetworkIdentity(0, probe_network_name, "unknown")
