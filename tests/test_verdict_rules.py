"""Each rule of docs/verdicts.md on a small scenario, Cambodia's forms of blocking first."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from verdict_docs import PAGE, PAGE_HEADERS, control, failed_request, query, response, wc_doc

from censorwatch.fingerprints import own_fingerprint_version
from censorwatch.verdict import RULES_VERSION, judge
from censorwatch.verdict.dns import is_bogon
from censorwatch.verdict.http import titles_match

BLOCKPAGE = "<html><head><title>Blocked</title></head><body>blocked</body></html>"


def calls(v):
    return v.blocking, v.accessible, v.anomaly, v.confirmed, v.failure


def test_rules_version_moves_with_the_fingerprint_file():
    assert own_fingerprint_version() == RULES_VERSION


def test_accessible_when_everything_matches_the_control():
    v = judge(wc_doc())
    assert calls(v) == ("false", True, False, False, False)


@pytest.mark.parametrize("bogon", ["127.0.0.1", "10.1.2.3", "192.168.1.1", "172.16.0.1", "0.0.0.0"])
def test_bogon_answer_when_the_control_is_public_is_dns_blocking(bogon):
    doc = wc_doc(
        queries=[query([bogon])],
        tcp=[(bogon, 80, False, "connection_refused")],
        requests=[failed_request("connection_refused", "http://example.org/")],
    )
    v = judge(doc)
    assert calls(v)[:3] == ("dns", False, True)
    assert any("bogon" in r for r in v.reasons)


def test_loopback_answer_is_not_a_bogon_signal_when_the_control_is_loopback_too():
    doc = wc_doc(
        queries=[query(["127.0.0.2"])],
        tcp=[("127.0.0.2", 80, True, None)],
        ctrl=control(addrs=["127.0.0.2"], tcp={"127.0.0.2:80": {"status": True}}),
    )
    assert judge(doc).blocking == "false"
    other = wc_doc(
        queries=[query(["127.0.0.9"])],
        tcp=[("127.0.0.9", 80, True, None)],
        requests=[response(200, BLOCKPAGE, {}, "http://example.org/")],
        ctrl=control(addrs=["127.0.0.2"], tcp={"127.0.0.2:80": {"status": True}}),
    )
    v = judge(other)
    assert v.blocking == "dns"
    assert not any("bogon" in r for r in v.reasons)


def test_viettel_metfone_sinkhole_is_confirmed_on_as38623():
    doc = wc_doc(
        queries=[query(["36.37.242.94"])],
        tcp=[("36.37.242.94", 80, False, "generic_timeout_error")],
        requests=[failed_request("generic_timeout_error", "http://example.org/")],
        probe_asn="AS38623",
    )
    v = judge(doc)
    assert calls(v) == ("dns", False, True, True, False)
    assert v.fingerprints == ("cw.kh_dns_viettel_metfone_sinkhole",)


def test_viettel_sinkhole_elsewhere_is_likely_not_confirmed():
    doc = wc_doc(
        queries=[query(["36.37.242.94"])],
        tcp=[("36.37.242.94", 80, False, "generic_timeout_error")],
        requests=[failed_request("generic_timeout_error", "http://example.org/")],
        probe_asn="AS17976",
    )
    v = judge(doc)
    assert calls(v) == ("dns", False, True, False, False)
    assert any("likely" in r for r in v.reasons)


def test_sinkhole_203_190_164_182_is_likely_dns_blocking():
    doc = wc_doc(
        queries=[query(["203.190.164.182"])],
        tcp=[("203.190.164.182", 80, True, None)],
        requests=[response(200, BLOCKPAGE, {}, "http://example.org/")],
    )
    v = judge(doc)
    assert calls(v) == ("dns", False, True, False, False)
    assert "cw.kh_dns_sinkhole_203_190_164_182" in v.fingerprints


def test_sinkhole_address_without_control_is_still_dns_blocking():
    doc = wc_doc(
        queries=[query(["203.190.164.182"])],
        requests=[response(200, BLOCKPAGE, {}, "http://example.org/")],
        control_failure="generic_timeout_error",
    )
    v = judge(doc)
    assert v.blocking == "dns" and v.anomaly and not v.failure


def test_nxdomain_while_the_control_resolves_is_dns_blocking():
    doc = wc_doc(
        queries=[query(None, "dns_nxdomain_error")],
        tcp=[],
        requests=[failed_request("dns_nxdomain_error", "http://example.org/")],
    )
    v = judge(doc)
    assert calls(v) == ("dns", False, True, False, False)
    assert any("NXDOMAIN" in r for r in v.reasons)


def test_nxdomain_for_the_control_too_is_not_blocking():
    doc = wc_doc(
        queries=[query(None, "dns_nxdomain_error")],
        tcp=[],
        requests=[failed_request("dns_nxdomain_error", "http://example.org/")],
        ctrl=control(addrs=[], dns_failure="dns_name_error", http_failure="dns_lookup_error"),
    )
    assert judge(doc).blocking == "false"


def test_resolver_timeout_while_the_control_resolves_is_dns_blocking():
    doc = wc_doc(
        queries=[query(None, "generic_timeout_error")],
        tcp=[],
        requests=[failed_request("generic_timeout_error", "http://example.org/")],
    )
    v = judge(doc)
    assert v.blocking == "dns" and v.anomaly


def test_pfblockerng_10_10_10_1_is_dns_blocking_with_a_product_scope_signal():
    doc = wc_doc(
        queries=[query(["10.10.10.1"])],
        tcp=[("10.10.10.1", 80, True, None)],
        requests=[response(200, BLOCKPAGE, {}, "http://example.org/")],
    )
    v = judge(doc)
    assert calls(v) == ("dns", False, True, False, False)
    # (OONI's vague "<title>Blocked</title>" body fingerprint matches the page too; it
    # confirms nothing.)
    assert v.fingerprints[0] == "cw.prod_dns_pfblockerng_10_10_10_1"
    assert any("product-scope" in r for r in v.reasons)


def test_cisco_opendns_answer_is_a_known_false_positive():
    doc = wc_doc(
        queries=[query(["146.112.197.12"])],
        tcp=[("146.112.197.12", 80, True, None)],
        requests=[response(200, BLOCKPAGE, {}, "http://example.org/")],
    )
    v = judge(doc)
    # Not counted as blocking, and not as accessible either: no conclusion.
    assert v.blocking is None and not v.anomaly and not v.confirmed and v.failure
    # (OONI's vague "<title>Blocked</title>" body fingerprint matches the page too; it
    # confirms nothing.)
    assert v.fingerprints[0] == "cw.fp_dns_cisco_opendns_146_112_197"
    assert any("false positive" in r for r in v.reasons)


def test_middlebox_error_forbidden_page_is_confirmed_http_diff():
    page = "<html><head><title>ERROR: Forbidden</title></head><body>denied</body></html>"
    doc = wc_doc(requests=[response(403, page, {"Server": "squid"}, "http://example.org/")])
    v = judge(doc)
    assert calls(v) == ("http-diff", False, True, True, False)
    assert v.fingerprints == ("cw.kh_http_middlebox_error_forbidden",)


def test_middlebox_title_served_to_the_control_too_is_the_sites_own_page():
    page = "<html><head><title>ERROR: Forbidden</title></head><body>denied</body></html>"
    doc = wc_doc(
        requests=[response(403, page, {"Server": "squid"}, "http://example.org/")],
        ctrl=control(status=403, title="ERROR: Forbidden", body_length=len(page)),
    )
    v = judge(doc)
    assert not v.confirmed and v.blocking == "false"


def test_tcp_failure_while_the_control_connects_is_tcp_ip():
    doc = wc_doc(
        tcp=[("93.184.216.34", 80, False, "connection_refused")],
        requests=[failed_request("connection_refused", "http://example.org/")],
    )
    assert calls(judge(doc)) == ("tcp_ip", False, True, False, False)


def test_site_down_for_the_control_too_is_not_blocking():
    doc = wc_doc(
        tcp=[("93.184.216.34", 80, False, "generic_timeout_error")],
        requests=[failed_request("generic_timeout_error", "http://example.org/")],
        ctrl=control(
            tcp={"93.184.216.34:80": {"status": False, "failure": "generic_timeout_error"}},
            http_failure="generic_timeout_error",
        ),
    )
    v = judge(doc)
    assert calls(v) == ("false", False, False, False, False)
    assert any("site down" in r for r in v.reasons)


def test_tls_handshake_reset_while_the_control_completes_it_is_tls():
    url = "https://example.org/"
    doc = wc_doc(
        url,
        tcp=[("93.184.216.34", 443, True, None)],
        tls=[
            {
                "address": "93.184.216.34:443",
                "server_name": "example.org",
                "failure": "connection_reset",
                "no_tls_verify": False,
            }
        ],
        requests=[failed_request("connection_reset", url)],
        ctrl=control(tcp={"93.184.216.34:443": {"status": True}}),
    )
    assert calls(judge(doc)) == ("tls", False, True, False, False)


def test_connection_reset_during_http_is_http_failure():
    doc = wc_doc(requests=[failed_request("connection_reset", "http://example.org/")])
    assert calls(judge(doc)) == ("http-failure", False, True, False, False)


def test_unfingerprinted_different_page_is_http_diff():
    doc = wc_doc(requests=[response(200, BLOCKPAGE, {"Server": "x"}, "http://example.org/")])
    v = judge(doc)
    assert calls(v) == ("http-diff", False, True, False, False)


def test_same_page_different_length_matches_by_headers():
    doc = wc_doc(requests=[response(200, PAGE[:500], PAGE_HEADERS, "http://example.org/")])
    assert judge(doc).blocking == "false"


def test_doh_answers_stand_in_for_a_missing_test_helper():
    doh = {
        "queries": [
            {
                "engine": "doh",
                "resolver_address": "https://1.1.1.1/dns-query",
                "failure": None,
                "answers": [{"answer_type": "A", "ipv4": "93.184.216.34"}],
            }
        ]
    }
    doc = wc_doc(
        queries=[query(None, "dns_nxdomain_error")],
        tcp=[],
        requests=[failed_request("dns_nxdomain_error", "http://example.org/")],
        control_failure="connection_refused",
        extra={"x_doh": doh},
    )
    v = judge(doc)
    assert v.blocking == "dns" and v.anomaly
    assert any("DNS-over-HTTPS" in r for r in v.reasons)


def test_failing_doh_is_never_blocking():
    doh = {
        "queries": [
            {
                "engine": "doh",
                "resolver_address": "https://1.1.1.1/dns-query",
                "failure": "connection_reset",
                "answers": None,
            }
        ]
    }
    v = judge(wc_doc(extra={"x_doh": doh}))
    assert v.blocking == "false"


def test_no_control_at_all_with_public_answers_is_undetermined():
    v = judge(wc_doc(control_failure="connection_refused"))
    assert calls(v) == (None, None, False, False, True)
    assert any("only DNS signals" in r for r in v.reasons)


def test_plain_dns_differing_from_doh_to_the_same_resolver_reveals_interception():
    def q(engine, resolver, addr):
        return {
            "engine": engine,
            "resolver_address": resolver,
            "failure": None,
            "answers": [{"answer_type": "A", "ipv4": addr}],
        }

    doc = wc_doc(
        extra={
            "x_do53": {"queries": [q("udp", "1.1.1.1:53", "36.37.242.94")]},
            "x_doh": {"queries": [q("doh", "https://1.1.1.1/dns-query", "93.184.216.34")]},
        }
    )
    v = judge(doc)
    assert any("interception" in r for r in v.reasons)


def test_url_with_an_ip_address_is_dns_consistent():
    doc = wc_doc(
        "http://93.184.216.34/",
        queries=[query(["93.184.216.34"])],
        ctrl=control(addrs=None, dns_failure="dns_name_error"),
    )
    assert judge(doc).blocking == "false"


@pytest.mark.parametrize(
    ("address", "bogon"),
    [
        ("127.0.0.1", True),
        ("10.10.10.1", True),
        ("100.64.1.1", True),
        ("::1", True),
        ("fd00::1", True),
        ("::ffff:192.168.1.1", True),
        ("36.37.242.94", False),
        ("2606:2800:220:1:248:1893:25c8:1946", False),
        ("not-an-ip", False),
    ],
)
def test_bogon_ranges(address, bogon):
    assert is_bogon(address) is bogon


KHMER_RFA = "វិទ្យុអាស៊ីសេរី"  # Radio Free Asia Khmer
KHMER_VOD = "វីអូឌី"  # VOD


def test_khmer_titles_match_despite_having_no_spaces():
    control_title = f"{KHMER_RFA} - ព័ត៌មានថ្មីៗ"
    measured = f"{KHMER_RFA} - ព័ត៌មានថ្មីៗ ថ្ងៃនេះ"
    assert titles_match(measured, control_title) is True
    # zero-width spaces (Khmer's word marks) and NFC do not matter
    assert titles_match(KHMER_RFA.replace("ស៊ី", "ស\u200b៊ី"), KHMER_RFA) is True


def test_khmer_titles_of_different_pages_do_not_match():
    assert titles_match(f"{KHMER_VOD} ព័ត៌មាន", "ERROR: Forbidden") is False
    assert titles_match(KHMER_VOD, KHMER_RFA) is False


def test_latin_titles_follow_oonis_word_rule():
    assert titles_match("Example Domain", "Example Domain") is True
    assert titles_match("Example Domain", "Blocked page") is False
    assert titles_match("", "Anything") is None
    assert titles_match("Short a b", "Short c d") is True  # words of 5+ letters only


def test_khmer_page_served_by_a_mirror_counts_as_the_same_page():
    title = f"{KHMER_RFA} | ព័ត៌មាន"
    page = f"<html><head><title>{title}</title></head><body>{'ក' * 100}</body></html>"
    doc = wc_doc(
        requests=[response(200, page, {"X-Mirror": "a"}, "http://example.org/")],
        ctrl=control(title=f"{KHMER_RFA} | ព័ត៌មាន ", headers={"X-Origin": "b"}, body_length=9000),
    )
    v = judge(doc)
    assert v.blocking == "false", v.reasons
    assert any("title match" in r for r in v.reasons)
    assert any("headers differ" in r for r in v.reasons)


# -- robustness: documents from the wild ------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 600) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
_KEYS = (
    "queries",
    "tcp_connect",
    "tls_handshakes",
    "requests",
    "control",
    "control_failure",
    "dns_consistency",
    "x_doh",
    "x_do53",
    "blocking",
    "accessible",
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(_KEYS), _json, max_size=len(_KEYS)), _json)
def test_judge_never_raises_on_malformed_test_keys(test_keys, noise):
    doc = wc_doc()
    doc["test_keys"] = test_keys
    doc["input"] = noise if isinstance(noise, str) else "http://example.org/"
    v = judge(doc)
    assert v.blocking in (None, "false", "dns", "tcp_ip", "tls", "http-failure", "http-diff")
    assert v.anomaly == (v.blocking not in (None, "false") or v.confirmed)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_json, max_size=3), st.lists(_json, max_size=3))
def test_judge_never_raises_on_malformed_entries(queries, requests_):
    doc = wc_doc()
    doc["test_keys"]["queries"] = [q if isinstance(q, dict) else {"answers": q} for q in queries]
    doc["test_keys"]["requests"] = [
        {"response": r, "request": {"url": "http://example.org/"}, "failure": None}
        for r in requests_
    ]
    judge(doc)


@pytest.mark.parametrize("order", ["confirming first", "false positive first"])
def test_an_answer_marked_false_positive_confirms_nothing_whatever_the_order(order):
    """A working group's rejection (a local fp row, loaded last) and another set's confirming
    row for the same address: the result does not depend on which set loads first."""
    from censorwatch.fingerprints import FingerprintDB, fingerprint_from_row

    def row(name, scope):
        return fingerprint_from_row(
            {
                "name": name,
                "scope": scope,
                "location_found": "dns",
                "pattern_type": "full",
                "pattern": "198.51.100.23",
                "expected_countries": "KH",
            },
            name,
        )

    rows = [row("ooni.kh_sinkhole", "nat"), row("local.kh_dns_fp_198_51_100_23", "fp")]
    if order == "false positive first":
        rows.reverse()
    doc = wc_doc(
        queries=[query(["198.51.100.23"])],
        tcp=[("198.51.100.23", 80, True, None)],
        requests=[response(200, BLOCKPAGE, {}, "http://example.org/")],
    )
    v = judge(doc, FingerprintDB(rows))
    assert not v.confirmed and v.blocking is None and not v.anomaly
    assert any("false-positive fingerprint marks it too" in r for r in v.reasons)
