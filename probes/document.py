"""Measurements as OONI-format ``web_connectivity`` documents.

The same analysis code reads our documents and OONI's, so ours follow OONI's data format
(``df-000-base`` plus the Web Connectivity test keys, v0.4 shape) with censorwatch's
additions under ``x_`` keys, as OONI does for its own extensions:

* ``x_doh`` / ``x_do53``: DNS-over-HTTPS and plain public-resolver lookups (LTE's keys);
* ``x_dns_interception``: findings of the plain-vs-DoH comparison;
* ``x_control_request``: what was asked of the test helper (LTE's key);
* ``x_verdict``: the verdict engine's confirmation, fingerprints, reasons and rules version.

What identifies the volunteer is never written: no ``probe_ip`` beyond OONI's ``127.0.0.1``
placeholder, no city, no local address; only the network's ASN and name and the country.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from censorwatch import __version__
from censorwatch.fingerprints import FingerprintDB
from censorwatch.measurement import format_time
from censorwatch.verdict import RULES_VERSION, Verdict, judge
from censorwatch.verdict import dns as dnsrules
from censorwatch.verdict import http as httprules
from censorwatch.verdict.observations import observe

TEST_NAME = "web_connectivity"
#: The OONI Web Connectivity data format our documents follow.
TEST_VERSION = "0.4.3"
SOFTWARE_NAME = "censorwatch"


@dataclass(frozen=True)
class RunInfo:
    """What every document of one run shares."""

    report_id: str
    probe_cc: str
    probe_asn: int
    probe_network_name: str
    test_start_time: datetime
    resolver_label: str

    @property
    def asn_text(self) -> str:
        return f"AS{self.probe_asn}"


def new_report_id(start: datetime, probe_cc: str, probe_asn: int) -> str:
    """A report id in OONI's shape: ``20261126T010203Z_webconnectivity_KH_38623_n1_<rand>``."""
    rand = secrets.token_urlsafe(24).replace("-", "a").replace("_", "b")[:32]
    return f"{start.strftime('%Y%m%dT%H%M%SZ')}_webconnectivity_{probe_cc}_{probe_asn}_n1_{rand}"


def analysis_keys(document: Mapping[str, Any]) -> dict[str, Any]:
    """OONI's comparison keys (dns_consistency, body_proportion, ...) for a document."""
    obs = observe(document)
    control_dns = obs.control.dns if obs.control is not None else None
    if control_dns is None and obs.doh:
        ok = [r for r in obs.doh.values() if r.ok]
        control_dns = ok[0] if ok else None
    tls_valid = {a.rsplit(":", 1)[0].strip("[]") for a, ok, _f, _s, nv in obs.tls if ok and not nv}
    consistency, _why = dnsrules.dns_consistency(
        obs.probe_dns, control_dns, host_is_ip=obs.host_is_ip, tls_valid_ips=tls_valid
    )
    keys: dict[str, Any] = {
        "dns_consistency": consistency,
        "body_length_match": None,
        "body_proportion": None,
        "status_code_match": None,
        "headers_match": None,
        "title_match": None,
    }
    if obs.control is not None and obs.requests and obs.requests[0].failure is None:
        final, ctrl = obs.requests[0], obs.control
        match, proportion = httprules.body_proportion(final, ctrl)
        keys.update(
            body_length_match=match,
            body_proportion=proportion,
            status_code_match=httprules.status_code_match(final, ctrl),
            headers_match=httprules.headers_match(final, ctrl),
            title_match=httprules.title_match(final, ctrl),
        )
    keys["x_dns_interception"] = dnsrules.interception(obs.do53, obs.doh) or None
    return keys


def build_document(
    run: RunInfo,
    *,
    url: str,
    start: datetime,
    runtime: float,
    category_code: str | None,
    test_keys: dict[str, Any],
    fingerprints: FingerprintDB | None = None,
) -> tuple[dict[str, Any], Verdict]:
    """Assemble the document, judge it, and write the verdict into its test keys."""
    doc: dict[str, Any] = {
        "annotations": {
            "engine_name": SOFTWARE_NAME,
            "engine_version": __version__,
            **({"category_code": category_code} if category_code else {}),
        },
        "data_format_version": "0.2.0",
        "input": url,
        "measurement_start_time": format_time(start),
        "probe_asn": run.asn_text,
        "probe_cc": run.probe_cc,
        "probe_ip": "127.0.0.1",
        "probe_network_name": run.probe_network_name or None,
        "report_id": run.report_id,
        "resolver_asn": "AS0",
        "resolver_ip": "127.0.0.1",
        "resolver_network_name": None,
        "software_name": SOFTWARE_NAME,
        "software_version": __version__,
        "test_helpers": {},
        "test_name": TEST_NAME,
        "test_runtime": round(runtime, 6),
        "test_start_time": format_time(run.test_start_time),
        "test_version": TEST_VERSION,
        "test_keys": dict(test_keys),
    }
    doc["test_keys"].update(analysis_keys(doc))
    verdict = judge(doc, fingerprints)
    doc["test_keys"]["blocking"] = False if verdict.blocking == "false" else verdict.blocking
    doc["test_keys"]["accessible"] = verdict.accessible
    doc["test_keys"]["x_verdict"] = {
        "rules_version": RULES_VERSION,
        "anomaly": verdict.anomaly,
        "confirmed": verdict.confirmed,
        "failure": verdict.failure,
        "fingerprints": list(verdict.fingerprints),
        "reasons": list(verdict.reasons),
    }
    return doc, verdict
