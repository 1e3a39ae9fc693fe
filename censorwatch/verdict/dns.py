"""DNS consistency: do the probe's answers agree with the control's?

OONI's rule (probe-cli ``webconnectivity/dnsanalysis.go``, after Measurement Kit), with the
Web Connectivity LTE additions the spec lists as optional, in this order:

1. a URL whose host is an IP address is consistent;
2. both lookups failed: consistent when both say NXDOMAIN (the site does not exist),
   otherwise undetermined (censorwatch: OONI says inconsistent; a resolver outage that the
   control shares is not evidence of blocking);
3. the probe failed (NXDOMAIN, timeout, ...) while the control resolved: inconsistent;
4. the probe answered a bogon (127.0.0.0/8, RFC 1918, link-local, ...) while the control's
   answers are public: inconsistent (LTE); when the control answers bogons too (a test lab,
   a split-horizon name) the bogon says nothing and the next rules decide;
5. answers in the same AS as the control's (ASN 0 = unknown never counts): consistent;
6. any address in common: consistent;
7. an address the probe resolved passed a TLS handshake for the host name with certificate
   validation: consistent (LTE: the address is proven good);
8. otherwise inconsistent.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from censorwatch.verdict.observations import DNSResult, is_ip

CONSISTENT = "consistent"
INCONSISTENT = "inconsistent"

NXDOMAIN_FAILURES = ("dns_nxdomain_error", "dns_name_error", "android_dns_cache_no_data")

# Special-purpose ranges (IANA) that never hold a public web site, as OONI's netxlite lists.
_BOGON_NETS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "255.255.255.255/32",
        "::/128",
        "::1/128",
        "64:ff9b:1::/48",
        "100::/64",
        "2001:2::/48",
        "2001:10::/28",
        "2001:db8::/32",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    )
)


@lru_cache(maxsize=4096)
def is_bogon(address: str) -> bool:
    """Whether ``address`` is in a range that no public web site can have."""
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in net for net in _BOGON_NETS if net.version == ip.version)


def is_nxdomain(failure: str | None) -> bool:
    return bool(failure) and any(failure.startswith(f) for f in NXDOMAIN_FAILURES)


def _ips(result: DNSResult) -> list[str]:
    return [a for a in result.addrs if is_ip(a)]


def dns_consistency(
    probe: DNSResult | None,
    control: DNSResult | None,
    *,
    host_is_ip: bool,
    tls_valid_ips: set[str],
) -> tuple[str | None, str]:
    """``(consistent | inconsistent | None, why)`` comparing the probe with the control."""
    if host_is_ip:
        return CONSISTENT, "the URL's host is an IP address"
    if probe is None:
        return None, "no DNS lookup in the measurement"
    if control is None:
        return None, "no control DNS answer"
    if not probe.ok and not control.ok:
        if is_nxdomain(probe.failure) and is_nxdomain(control.failure):
            return CONSISTENT, "probe and control both get NXDOMAIN"
        return None, f"probe ({probe.failure}) and control ({control.failure}) both failed"
    if not probe.ok:
        if not _ips(control):
            return CONSISTENT, f"probe failed ({probe.failure}) and control has no address"
        what = "NXDOMAIN" if is_nxdomain(probe.failure) else probe.failure
        return INCONSISTENT, f"probe resolver gave {what} while the control resolves"
    probe_ips = _ips(probe)
    control_ips = _ips(control)
    if not control.ok:
        if not probe_ips:
            return CONSISTENT, "neither probe nor control has an address"
        return INCONSISTENT, f"probe resolves to {', '.join(probe_ips[:3])}; control failed"
    if not probe_ips:
        if not control_ips:
            return CONSISTENT, "neither probe nor control has an address"
        return INCONSISTENT, "probe resolver returned no address while the control resolves"
    probe_bogons = [a for a in probe_ips if is_bogon(a)]
    control_bogons = [a for a in control_ips if is_bogon(a)]
    if probe_bogons and control_ips and not control_bogons:
        return INCONSISTENT, f"bogon answer {probe_bogons[0]} while the control's are public"
    probe_asns = {probe.asns.get(a, 0) for a in probe_ips} - {0}
    control_asns = {control.asns.get(a, 0) for a in control_ips} - {0}
    common_asn = probe_asns & control_asns
    if common_asn:
        return CONSISTENT, f"answers in the same AS as the control's (AS{min(common_asn)})"
    common = set(probe_ips) & set(control_ips)
    if common:
        return CONSISTENT, f"address {sorted(common)[0]} is also the control's"
    valid = [a for a in probe_ips if a in tls_valid_ips]
    if valid:
        return CONSISTENT, f"address {valid[0]} proved valid by a verified TLS handshake"
    return INCONSISTENT, (
        f"answers {', '.join(probe_ips[:3])} share no address or AS with the control's "
        f"{', '.join(control_ips[:3])}"
    )


def interception(do53: dict[str, DNSResult], doh: dict[str, DNSResult]) -> list[str]:
    """Plain DNS vs DNS-over-HTTPS to the *same* public resolver: a difference is interception.

    Plain DNS crosses the ISP's network in clear and can be rewritten on the way; DoH cannot.
    A resolver is the same when the address of the ``HOST:53`` endpoint is the host of the DoH
    URL (``1.1.1.1:53`` and ``https://1.1.1.1/dns-query``).
    """
    findings = []
    by_host: dict[str, DNSResult] = {}
    for url, result in doh.items():
        host = url.split("://", 1)[-1].split("/", 1)[0].strip("[]")
        by_host[host.rsplit(":", 1)[0] if host.count(":") == 1 else host] = result
    for endpoint, plain in do53.items():
        host = endpoint.rsplit(":", 1)[0].strip("[]") if ":" in endpoint else endpoint
        secure = by_host.get(host)
        if secure is None or not secure.ok or not _ips(secure):
            continue
        plain_ips, secure_ips = set(_ips(plain)), set(_ips(secure))
        if not plain.ok:
            if is_nxdomain(plain.failure):
                findings.append(
                    f"plain DNS to {host} says NXDOMAIN but DoH to {host} resolves: "
                    "DNS interception"
                )
            continue
        if plain_ips and not plain_ips & secure_ips:
            same_as = {plain.asns.get(a, 0) for a in plain_ips} & {
                secure.asns.get(a, 0) for a in secure_ips
            } - {0}
            if not same_as:
                findings.append(
                    f"plain DNS to {host} answers {', '.join(sorted(plain_ips)[:2])} but DoH "
                    f"to {host} answers {', '.join(sorted(secure_ips)[:2])}: DNS interception"
                )
    return findings
