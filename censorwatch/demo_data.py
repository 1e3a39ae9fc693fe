"""Synthetic demonstration data shaped like a Cambodian year of measurements.

``censorwatch demo`` must work offline on a fresh machine, so it generates its own data: a
seeded, deterministic year of web_connectivity measurements on several networks, with
DNS-based blocking of news and human-rights sites (sinkhole answers on one network, NXDOMAIN
on another, as Cambodian blocking looks), a peak in volume after a volunteer training, and a
few instant-messaging tests.

Nothing here may be mistaken for a real finding: the networks use the AS numbers reserved for
documentation (RFC 5398, AS64496-AS64511), the websites use the ``.example`` domain reserved
for documentation (RFC 2606), addresses come from the documentation ranges (RFC 5737), every
report_id carries ``demo``, and every page of the demo report says the data is synthetic.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass

from censorwatch.measurement import (
    SOURCE_OONI,
    SOURCE_PROBE,
    Measurement,
    deterministic_uid,
    domain_of,
    measurement_key,
)

SEED = 20231231
YEAR = 2023
#: Cambodia's local time (UTC+7): months in the demo are local months.
LOCAL_OFFSET = dt.timedelta(hours=7)


@dataclass(frozen=True)
class DemoNetwork:
    asn: int
    name: str
    #: Share of the year's measurements made on this network.
    share: float
    #: How this network blocks: "sinkhole" (a DNS answer pointing at a blockpage server),
    #: "nxdomain", or "" (does not block).
    blocking: str


@dataclass(frozen=True)
class DemoSite:
    url: str
    category_code: str
    #: Local dates between which the site is blocked on blocking networks (None: never).
    blocked_from: dt.date | None = None
    blocked_until: dt.date | None = None
    #: Blocked only on these ASNs (empty: on every blocking network).
    only_on: tuple[int, ...] = ()


NETWORKS: tuple[DemoNetwork, ...] = (
    DemoNetwork(64500, "Demo Mobile One (synthetic)", 0.42, "sinkhole"),
    DemoNetwork(64501, "Demo Mobile Two (synthetic)", 0.27, "nxdomain"),
    DemoNetwork(64502, "Demo Broadband (synthetic)", 0.18, "sinkhole"),
    DemoNetwork(64503, "Demo Fibre (synthetic)", 0.13, ""),
)

#: Networks on which the working group's own probes run in the demo.
OUR_PROBE_ASNS = (64500, 64503)

#: The blockpage server the "sinkhole" networks answer with (RFC 5737 documentation range).
SINKHOLE_IP = "203.0.113.94"
#: What the uncensored control resolves every demo site to (RFC 5737 documentation range).
SITE_IP = "198.51.100.7"
#: The demo's fingerprint for its sinkhole: the name its confirmed measurements carry.
SINKHOLE_FINGERPRINT = "demo.kh_dns_sinkhole_203_0_113_94"
#: The demo's own fingerprint set (OONI's schema), written beside its store and loaded by its
#: configuration, so that the report names the set that confirmed the demo's measurements.
FINGERPRINTS = {
    "version": "demo",
    "description": "The censorwatch demo's synthetic sinkhole (documentation address). "
    "Not a real fingerprint.",
    "fingerprints": [
        {
            "name": SINKHOLE_FINGERPRINT,
            "scope": "nat",
            "other_names": "",
            "location_found": "dns",
            "pattern_type": "full",
            "pattern": SINKHOLE_IP,
            "confidence_no_fp": 9,
            "expected_countries": "KH",
            "source": "censorwatch demo (synthetic data)",
            "exp_url": "",
            "notes": "The address the demo's sinkhole networks answer for blocked sites.",
        }
    ],
}

_D = dt.date
SITES: tuple[DemoSite, ...] = (
    DemoSite("https://independent-news-one.example/", "NEWS", _D(2023, 1, 1), None),
    DemoSite("https://independent-news-two.example/", "NEWS", _D(2023, 1, 1), None),
    DemoSite("https://exiled-radio.example/khmer/", "NEWS", _D(2023, 2, 13), None),
    DemoSite("https://investigative-daily.example/", "NEWS", _D(2023, 7, 1), _D(2023, 9, 30)),
    DemoSite("https://land-rights-watch.example/", "HUMR", _D(2023, 5, 2), None, (64500,)),
    # Blocked only where the network answers NXDOMAIN: no fingerprint confirms it ("likely").
    DemoSite("https://election-monitor.example/", "POLR", _D(2023, 3, 1), None, (64501,)),
    DemoSite("https://opposition-party.example/", "POLR", _D(2023, 1, 1), None),
    DemoSite("https://human-rights-ngo.example/", "HUMR"),
    DemoSite("https://lgbt-community.example/", "LGBT"),
    DemoSite("https://environment-forum.example/", "ENV"),
    DemoSite("https://government-portal.example/", "GOVT"),
    DemoSite("https://national-news.example/", "NEWS"),
    DemoSite("https://encyclopedia.example/", "CULTR"),
    DemoSite("https://video-sharing.example/", "MMED"),
    DemoSite("https://social-network.example/", "GRP"),
    DemoSite("https://search-engine.example/", "SRCH"),
    DemoSite("https://vpn-provider.example/", "ANON"),
    DemoSite("https://online-dating.example/", "DATE"),
    DemoSite("https://religion-forum.example/", "REL"),
    DemoSite("https://public-health.example/", "PUBH"),
)

#: Relative measurement volume per local month: a volunteer training in April brings a peak.
MONTH_WEIGHTS = (0.7, 0.6, 0.8, 1.0, 2.1, 1.6, 1.3, 1.1, 0.9, 0.8, 0.5, 0.6)

EVENTS_CSV = """date,end_date,label,kind,source
2023-04-22,2023-04-23,Volunteer training on OONI Probe (synthetic demo event),training,demo
2023-07-23,,National election (synthetic demo event),election,demo
"""

APPS = ("whatsapp", "telegram", "signal", "facebook_messenger")


def _blocked(site: DemoSite, net: DemoNetwork, day: dt.date) -> bool:
    if not net.blocking or site.blocked_from is None:
        return False
    if site.only_on and net.asn not in site.only_on:
        return False
    return site.blocked_from <= day and (site.blocked_until is None or day <= site.blocked_until)


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def generate(
    total: int = 40_000, seed: int = SEED, fingerprints_hash: str | None = None
) -> Iterator[Measurement]:
    """The demo year: ``total`` web_connectivity measurements plus instant-messaging tests.

    Deterministic for a given ``seed``. Most measurements look like OONI API records (with
    OONI's pipeline flags); a tenth are our own probe's. ``fingerprints_hash``: the hash of
    the fingerprint sets the demo's configuration loads (with :data:`FINGERPRINTS`), recorded
    on each judged measurement as if the verdict engine had judged it with them.
    """
    rng = random.Random(seed)
    weights = [w / sum(MONTH_WEIGHTS) for w in MONTH_WEIGHTS]
    for month, weight in enumerate(weights, start=1):
        n_month = int(total * weight)
        first = dt.date(YEAR, month, 1)
        days = (
            (first.replace(month=month % 12 + 1) if month < 12 else dt.date(YEAR + 1, 1, 1)) - first
        ).days
        for i in range(n_month):
            day = first + dt.timedelta(days=rng.randrange(days))
            local = dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=rng.randrange(86400))
            start = local - LOCAL_OFFSET  # stored as UTC
            net = rng.choices(NETWORKS, weights=[n.share for n in NETWORKS])[0]
            site = SITES[rng.randrange(len(SITES))]
            # The working group's own volunteers are on two of the networks only.
            ours = net.asn in OUR_PROBE_ASNS and rng.random() < 0.2
            m = _web_connectivity(rng, start, day, net, site, ours, f"{month:02d}{i:06d}")
            m.verdict_fingerprints_hash = fingerprints_hash
            yield m
        for j in range(max(n_month // 40, 1)):
            day = first + dt.timedelta(days=rng.randrange(days))
            start = dt.datetime.combine(day, dt.time(12)) - LOCAL_OFFSET
            net = rng.choices(NETWORKS, weights=[n.share for n in NETWORKS])[0]
            yield _app_test(rng, start, net, APPS[j % len(APPS)], f"{month:02d}{j:06d}")


def _report_id(start: dt.datetime, test: str, asn: int, rng: random.Random) -> str:
    return f"{start:%Y%m%dT%H%M%SZ}_{test}_KH_{asn}_n1_demo{_hex(rng, 12)}"


def _web_connectivity(
    rng: random.Random,
    start: dt.datetime,
    day: dt.date,
    net: DemoNetwork,
    site: DemoSite,
    ours: bool,
    serial: str,
) -> Measurement:
    report_id = _report_id(start, "webconnectivity", net.asn, rng)
    blocked = _blocked(site, net, day)
    # Real measurements are noisy: a few fail, and a few blocked ones slip through (cache).
    failure = rng.random() < 0.02
    if blocked and rng.random() < 0.06:
        blocked = False
    if failure:
        blocking, accessible, anomaly, confirmed = None, None, False, False
    elif blocked:
        blocking, accessible = "dns", False
        anomaly = True
        confirmed = net.blocking == "sinkhole"  # the sinkhole answer is a known fingerprint
    else:
        spurious = rng.random() < 0.004  # a site down for a moment: an anomaly, not a block
        blocking = "http-failure" if spurious else "false"
        accessible = not spurious
        anomaly, confirmed = spurious, False
    key = measurement_key(report_id, site.url, start)
    uid = (
        f"{start:%Y%m%d%H%M%S}.{serial}_KH_webconnectivity_"
        f"{hashlib.sha256(key.encode()).hexdigest()[:16]}"
    )
    document = (
        _sinkhole_document(start, net, site, report_id)
        if blocked and confirmed and not failure
        else None
    )
    m = Measurement(
        measurement_key=key,
        measurement_uid=uid,
        source=SOURCE_PROBE if ours else SOURCE_OONI,
        document=document,
        test_name="web_connectivity",
        measurement_start_time=start,
        probe_cc="KH",
        probe_asn=net.asn,
        input=site.url,
        domain=domain_of(site.url),
        report_id=report_id,
        test_version="0.4.3",
        software_name="censorwatch-demo" if ours else "ooniprobe-android-demo",
        software_version="0.1.0" if ours else "3.8.0",
        probe_network_name=net.name,
        category_code=site.category_code,
        anomaly=anomaly,
        confirmed=confirmed,
        failure=failure,
        blocking=blocking,
        accessible=accessible,
        verdict_blocking=blocking,
        verdict_confirmed=confirmed,
        verdict_fingerprint=SINKHOLE_FINGERPRINT if confirmed else None,
        verdict_version="demo",
    )
    return m


def _sinkhole_document(
    start: dt.datetime, net: DemoNetwork, site: DemoSite, report_id: str
) -> dict:
    """The DNS part of a Web Connectivity document in which the network's resolver answered
    the sinkhole address and the control the site's own: what the analysis's vetting of DNS
    answers reads, so the demo report shows the blocking address of each network."""
    host = domain_of(site.url)
    return {
        "data_format_version": "0.2.0",
        "test_name": "web_connectivity",
        "test_version": "0.4.3",
        "input": site.url,
        "measurement_start_time": f"{start:%Y-%m-%d %H:%M:%S}",
        "probe_asn": f"AS{net.asn}",
        "probe_cc": "KH",
        "probe_network_name": net.name,
        "report_id": report_id,
        "software_name": "censorwatch-demo",
        "test_keys": {
            "queries": [
                {
                    "answers": [{"answer_type": "A", "ipv4": SINKHOLE_IP, "ttl": 300}],
                    "engine": "system",
                    "failure": None,
                    "hostname": host,
                    "query_type": "A",
                    "resolver_address": "",
                }
            ],
            "control": {"dns": {"failure": None, "addrs": [SITE_IP]}},
            "control_failure": None,
            "dns_consistency": "inconsistent",
            "blocking": "dns",
            "accessible": False,
        },
    }


def _app_test(
    rng: random.Random, start: dt.datetime, net: DemoNetwork, test: str, serial: str
) -> Measurement:
    report_id = _report_id(start, test.replace("_", ""), net.asn, rng)
    key = measurement_key(report_id, None, start)
    anomaly = rng.random() < 0.03
    return Measurement(
        measurement_key=key,
        measurement_uid=deterministic_uid(key, start, "KH", test),
        source=SOURCE_OONI,
        test_name=test,
        measurement_start_time=start,
        probe_cc="KH",
        probe_asn=net.asn,
        report_id=report_id,
        software_name="ooniprobe-android-demo",
        software_version="3.8.0",
        probe_network_name=net.name,
        anomaly=anomaly,
        confirmed=False,
        failure=False,
    )
