"""The verdict engine reproduces OONI's calls on real measurements (../shared/fixtures/ooni)."""

from __future__ import annotations

import json

import pytest

from censorwatch.fingerprints import load_fingerprints
from censorwatch.measurement import SOURCE_OONI, SOURCE_PROBE, Measurement
from censorwatch.verdict import RULES_VERSION, Verdict, apply_verdict, judge

_CACHE: dict[str, object] = {}


@pytest.fixture
def ooni_db(shared):
    """Our fingerprints plus OONI's 2023 snapshot (loaded once for the module)."""
    paths = [
        shared("ooni", "fingerprints", "fingerprints_dns.json"),
        shared("ooni", "fingerprints", "fingerprints_http.json"),
    ]
    if "db" not in _CACHE:
        _CACHE["db"] = load_fingerprints(paths)
    return _CACHE["db"]


def _doc(shared, name: str) -> dict:
    return json.loads(shared("ooni", "measurements", name).read_text(encoding="utf-8"))


def _rutor(shared) -> tuple[dict, dict]:
    wrapper = json.loads(
        shared(
            "ooni", "api", "api_v1_measurement_meta__RU_rutor_http-diff_confirmed.recorded.json"
        ).read_text(encoding="utf-8")
    )
    meta = json.loads(wrapper["body"])
    return meta, json.loads(meta["raw_measurement"])


def test_id_blockpage_confirmed_by_header_location_although_probe_said_accessible(shared, ooni_db):
    doc = _doc(shared, "20250527233111.802678_ID_webconnectivity_5a37ec909dbf14e3.json")
    assert doc["test_keys"]["blocking"] is False  # the probe missed it
    v = judge(doc, ooni_db)
    assert v.confirmed and v.anomaly and not v.failure
    assert v.blocking == "http-diff"
    assert v.accessible is False
    assert "ooni.id_lamanlabuh_kominfo" in v.fingerprints


def test_ir_dns_answer_10_10_34_36_is_confirmed_dns_blocking(shared, ooni_db):
    v = judge(_doc(shared, "web_connectivity_ir_fp.json"), ooni_db)
    assert (v.blocking, v.accessible, v.anomaly, v.confirmed, v.failure) == (
        "dns",
        False,
        True,
        True,
        False,
    )
    assert v.fingerprints == ("ooni.ir_10dot10_ipv4_1",)


def test_tm_control_failure_is_undetermined_failure(shared, ooni_db):
    v = judge(_doc(shared, "web_connectivity_null.json"), ooni_db)
    assert v.blocking is None and v.accessible is None
    assert v.failure and not v.anomaly and not v.confirmed
    assert any("control failed" in r for r in v.reasons)


def test_it_v0_5_28_is_accessible(shared, ooni_db):
    v = judge(_doc(shared, "ts-017_example_web_connectivity_v0.5.28_IT.json"), ooni_db)
    assert (v.blocking, v.accessible, v.anomaly, v.confirmed, v.failure) == (
        "false",
        True,
        False,
        False,
        False,
    )


def test_ru_rutor_http_diff_confirmed_by_body_fingerprint(shared, ooni_db):
    meta, raw = _rutor(shared)
    v = judge(raw, ooni_db)
    assert v.blocking == meta_blocking(meta) == "http-diff"
    assert v.confirmed is meta["confirmed"] is True
    assert v.anomaly is meta["anomaly"] is True
    assert v.failure is meta["failure"] is False
    assert "ooni.ru_5" in v.fingerprints  # matched in the windows-1251 body


def meta_blocking(meta: dict) -> str:
    return json.loads(meta["scores"])["analysis"]["blocking_type"]


def test_without_oonis_fingerprints_the_indonesian_blockpage_is_missed(shared):
    doc = _doc(shared, "20250527233111.802678_ID_webconnectivity_5a37ec909dbf14e3.json")
    v = judge(doc, load_fingerprints())  # our own five only: the probe's (missed) call stands
    assert v.blocking == "false" and not v.confirmed and not v.fingerprints


def test_default_db_confirms_what_oonis_fastpath_confirms(shared):
    """A fresh install, no configuration: OONI's snapshot is loaded by default."""
    doc = _doc(shared, "20250527233111.802678_ID_webconnectivity_5a37ec909dbf14e3.json")
    v = judge(doc)
    assert v.blocking == "http-diff" and v.confirmed
    assert "ooni.id_lamanlabuh_kominfo" in v.fingerprints
    v = judge(_doc(shared, "web_connectivity_ir_fp.json"))
    assert v.blocking == "dns" and v.confirmed and "ooni.ir_10dot10_ipv4_1" in v.fingerprints
    meta, raw = _rutor(shared)
    v = judge(raw)
    assert v.blocking == "http-diff" and v.confirmed is meta["confirmed"] is True


def test_judge_does_not_modify_the_document(shared, ooni_db):
    doc = _doc(shared, "web_connectivity_ir_fp.json")
    before = json.dumps(doc, sort_keys=True)
    judge(doc, ooni_db)
    assert json.dumps(doc, sort_keys=True) == before


def test_apply_verdict_sets_verdict_columns_and_keeps_oonis_flags(shared, ooni_db):
    doc = _doc(shared, "web_connectivity_ir_fp.json")
    m = Measurement.from_document(doc, SOURCE_OONI)
    m.anomaly, m.confirmed = True, True
    v = judge(doc, ooni_db)
    out = apply_verdict(m, v)
    assert out is m
    assert (m.verdict_blocking, m.verdict_confirmed) == ("dns", True)
    assert m.verdict_fingerprint == "ooni.ir_10dot10_ipv4_1"
    assert m.verdict_version == RULES_VERSION
    assert m.blocking == "dns"  # OONI's own reported value, untouched
    assert m.failure is None


def test_apply_verdict_sets_flags_for_our_own_probe_measurements():
    m = Measurement.from_document(
        {
            "test_name": "web_connectivity",
            "measurement_start_time": "2026-11-26 01:00:00",
            "probe_cc": "KH",
            "probe_asn": "AS38623",
            "input": "http://example.org/",
            "test_keys": {},
        },
        SOURCE_PROBE,
    )
    v = Verdict("dns", False, True, True, False, ("a", "b"), ("why",))
    apply_verdict(m, v)
    assert (m.blocking, m.accessible, m.anomaly, m.confirmed, m.failure) == (
        "dns",
        False,
        True,
        True,
        False,
    )
    assert m.verdict_fingerprint == "a,b"


def test_apply_verdict_truncates_fingerprint_names_to_the_column():
    m = Measurement.from_document(
        {
            "test_name": "web_connectivity",
            "measurement_start_time": "2026-11-26 01:00:00",
            "probe_cc": "KH",
            "input": "http://example.org/",
        },
        SOURCE_PROBE,
    )
    names = tuple(f"ooni.fingerprint_number_{i:03d}" for i in range(40))
    apply_verdict(m, Verdict("dns", False, True, True, False, names, ()))
    assert len(m.verdict_fingerprint) <= 255
    assert m.verdict_fingerprint.split(",")[0] == names[0]
    assert all(n in names for n in m.verdict_fingerprint.split(","))


def test_other_tests_are_not_judged():
    v = judge({"test_name": "telegram", "test_keys": {}})
    assert v.blocking is None and not v.anomaly and not v.failure
