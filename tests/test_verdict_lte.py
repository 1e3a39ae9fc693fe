"""Web Connectivity v0.5 ("LTE"): the engine reaches OONI's own calls on OONI Probe's QA runs.

``../shared/fixtures/ooni/webconnectivity-qa/`` holds 128 measurements written by OONI Probe's
engine (test versions 0.5.26 and 0.5.28) on 50 emulated censorship scenarios, each with the
``blocking`` and ``accessible`` OONI Probe computed (``expected.tsv``). Every line must agree,
except the differences docs/verdicts.md states with their reason (``STATED`` below: this test
checks both that the engine gives exactly the stated call and that the page states it).
"""

from __future__ import annotations

import copy
import csv
import json
from pathlib import Path

import pytest

from censorwatch.verdict import judge

ROOT = Path(__file__).resolve().parent.parent
QA = ROOT.parent / "shared" / "fixtures" / "ooni" / "webconnectivity-qa"

#: (scenario, test_version) -> (censorwatch's blocking, accessible). Each is explained in
#: docs/verdicts.md, "Checked against OONI Probe's own runs".
STATED: dict[tuple[str, str], tuple[str | None, bool | None]] = {
    # censorwatch's "tls": a TLS handshake reset that the control completed (OONI:
    # http-failure).
    ("tlsBlockingConnectionResetWithConsistentDNS", "0.5.26"): ("tls", False),
    ("tlsBlockingConnectionResetWithConsistentDNS", "0.5.28"): ("tls", False),
    # OONI Probe 3.20 (0.5.26) took a redirect for the final page when the next hop failed;
    # 3.21 (0.5.28) fixed it, and censorwatch judges every v0.5 document the fixed way.
    ("redirectWithConsistentDNSAndThenConnectionRefusedForHTTP", "0.5.26"): (
        "http-failure",
        False,
    ),
    ("redirectWithConsistentDNSAndThenConnectionRefusedForHTTPS", "0.5.26"): (
        "http-failure",
        False,
    ),
    ("redirectWithConsistentDNSAndThenConnectionResetForHTTPS", "0.5.26"): (
        "http-failure",
        False,
    ),
    ("redirectWithConsistentDNSAndThenEOFForHTTPS", "0.5.26"): ("http-failure", False),
    ("redirectWithConsistentDNSAndThenTimeoutForHTTPS", "0.5.26"): ("http-failure", False),
    ("redirectWithConsistentDNSAndThenNXDOMAIN", "0.5.26"): ("dns", False),
    # OONI Probe 3.20 (0.5.26) counted an address that validated a TLS handshake as a
    # consistent DNS answer; since 3.21 the classic analysis does not (a DNS-hijacking proxy
    # passes TLS through).
    ("httpDiffWithInconsistentDNS", "0.5.26"): ("dns", False),
}


def _qa_lines() -> list[tuple[dict, dict]]:
    if not (QA / "measurements.jsonl").is_file() or not (QA / "expected.tsv").is_file():
        return []
    docs = [json.loads(line) for line in (QA / "measurements.jsonl").read_text().splitlines()]
    with (QA / "expected.tsv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    assert len(docs) == len(rows)
    return list(zip(docs, rows, strict=True))


LINES = _qa_lines()
needs_qa = pytest.mark.skipif(not LINES, reason=f"no OONI QA fixtures at {QA}")


def _expected(row: dict) -> tuple[str | None, bool | None]:
    blocking = None if row["blocking"] == "null" else row["blocking"]
    return blocking, json.loads(row["accessible"])


@needs_qa
@pytest.mark.parametrize(
    "index", range(len(LINES)), ids=[f"{r['line']}-{r['scenario']}" for _, r in LINES]
)
def test_qa_scenario_agrees_with_ooni_or_is_a_stated_difference(index: int) -> None:
    doc, row = LINES[index]
    verdict = judge(doc)
    ours = (verdict.blocking, verdict.accessible)
    stated = STATED.get((row["scenario"], row["test_version"]))
    if stated is None:
        assert ours == _expected(row), verdict.reasons
    else:
        assert ours == stated, verdict.reasons
        assert ours != _expected(row), "a stated difference that is no longer one: remove it"


@needs_qa
def test_qa_set_is_the_one_documented() -> None:
    """The page states the agreement count and every difference by scenario name."""
    text = (ROOT / "docs" / "verdicts.md").read_text(encoding="utf-8")
    agree = sum(
        1 for doc, row in LINES if (judge(doc).blocking, judge(doc).accessible) == _expected(row)
    )
    assert agree == len(LINES) - sum(
        1 for _, r in LINES if (r["scenario"], r["test_version"]) in STATED
    )
    assert f"agrees with OONI on {agree} of the {len(LINES)}" in text
    for scenario, _version in STATED:
        assert f"`{scenario}`" in text, scenario


def _scenario(name: str, version: str = "0.5.28") -> dict:
    for doc, row in LINES:
        if row["scenario"] == name and row["test_version"] == version:
            return copy.deepcopy(doc)
    raise LookupError(name)


@needs_qa
def test_https_fetch_from_an_address_the_isp_never_gave_does_not_hide_dns_blocking() -> None:
    """The 127.0.0.1 answer of the system resolver decides, not the fetch v0.5 made to the
    address the test helper suggested (which succeeded)."""
    doc = _scenario("dnsHijackingToLocalhostWithHTTPS")
    requests = doc["test_keys"]["requests"]
    assert requests and requests[0]["failure"] is None  # the page was fetched over HTTPS...
    verdict = judge(doc)
    assert (verdict.blocking, verdict.accessible) == ("dns", False)  # ...yet DNS is blocked
    assert any("127.0.0.1" in r for r in verdict.reasons)


@needs_qa
def test_nxdomain_of_the_system_resolver_is_dns_even_when_the_fetch_succeeded() -> None:
    verdict = judge(_scenario("dnsBlockingNXDOMAIN"))
    assert (verdict.blocking, verdict.accessible, verdict.anomaly) == ("dns", False, True)


@needs_qa
def test_a_redirect_whose_next_hop_is_refused_is_not_the_final_page() -> None:
    verdict = judge(_scenario("redirectWithConsistentDNSAndThenConnectionRefusedForHTTP"))
    assert verdict.blocking == "http-failure"
    assert any("after 1 redirect" in r for r in verdict.reasons), verdict.reasons


@needs_qa
def test_tls_failure_without_a_request_entry_is_judged() -> None:
    """v0.5 writes no request entry when TLS fails: both failing is "site down"."""
    verdict = judge(_scenario("badSSLWithExpiredCertificate"))
    assert (verdict.blocking, verdict.accessible, verdict.failure) == ("false", False, False)
    assert any("site down" in r for r in verdict.reasons)


@needs_qa
def test_without_control_a_failed_lookup_is_undetermined_not_accessible() -> None:
    """OONI Probe calls a failed lookup without any control "accessible"; censorwatch says
    nothing can be concluded (a stated difference, no QA scenario has it)."""
    doc = _scenario("dnsBlockingNXDOMAIN")
    tk = doc["test_keys"]
    tk["control"] = {}
    tk["control_failure"] = "generic_timeout_error"
    tk["dns_consistency"] = None  # what the probe writes when it has no control
    verdict = judge(doc)
    assert (verdict.blocking, verdict.accessible, verdict.failure) == (None, None, True)


@needs_qa
def test_v05_document_with_a_plain_http_page_and_no_control_is_undetermined() -> None:
    doc = _scenario("controlFailureWithSuccessfulHTTPWebsite")
    verdict = judge(doc)
    assert (verdict.blocking, verdict.accessible) == (None, None)
    assert any("only DNS signals" in r for r in verdict.reasons)


@needs_qa
def test_broken_location_header_is_an_http_failure() -> None:
    verdict = judge(_scenario("redirectWithBrokenLocationForHTTP"))
    assert verdict.blocking == "http-failure"
    assert any("http_invalid_redirect_location_host" in r for r in verdict.reasons)
