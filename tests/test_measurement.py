"""The shared measurement model, on real OONI documents and API records."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from censorwatch.errors import InputError
from censorwatch.measurement import (
    SCRUBBED,
    Measurement,
    domain_of,
    is_derived_uid,
    parse_asn,
    parse_time,
    scrub_probe_ip,
)


def load_recorded(path) -> dict:
    """The recorded API responses wrap the JSON body as a string."""
    return json.loads(json.loads(path.read_text(encoding="utf-8"))["body"])


def test_real_dns_blocking_document(shared) -> None:
    doc = json.loads(shared("ooni", "measurements", "web_connectivity_ir_fp.json").read_text())
    m = Measurement.from_document(doc)
    assert m.test_name == "web_connectivity"
    assert m.probe_cc == "IR"
    assert m.probe_asn == 197207
    assert m.probe_network_name == "Mobile Communication Company of Iran PLC"
    assert m.input == "https://www.facebook.com/"
    assert m.domain == "www.facebook.com"
    assert m.blocking == "dns"
    assert m.accessible is False
    assert m.measurement_start_time == datetime(2022, 8, 15, 19, 1, 30)
    # A raw document has no uid: a deterministic one is derived, recognisably ours.
    assert is_derived_uid(m.measurement_uid)
    assert m.measurement_uid == Measurement.from_document(doc).measurement_uid
    assert m.document is not None and "probe_ip" not in m.document
    assert doc["probe_ip"] == "127.0.0.1"  # the caller's document is left untouched


def test_real_null_and_false_blocking(shared) -> None:
    null = json.loads(shared("ooni", "measurements", "web_connectivity_null.json").read_text())
    m = Measurement.from_document(null)
    assert m.blocking is None and m.accessible is None
    ok = json.loads(
        shared(
            "ooni", "measurements", "20250527233111.802678_ID_webconnectivity_5a37ec909dbf14e3.json"
        ).read_text()
    )
    m = Measurement.from_document(ok)
    assert m.blocking == "false" and m.accessible is True
    assert m.probe_asn == 23693


def test_api_record_and_raw_document_are_one_measurement(shared) -> None:
    """The same measurement via measurement_meta and via its raw document has one key.

    This real record also shows why the start time is not in the key: the API says 08:15:05Z
    and the raw document 09:15:05 for the same measurement.
    """
    meta = load_recorded(
        shared("ooni", "api", "api_v1_measurement_meta__RU_rutor_http-diff_confirmed.recorded.json")
    )
    raw = json.loads(meta["raw_measurement"])
    from_api = Measurement.from_api_record(meta)
    from_raw = Measurement.from_document(raw)
    assert from_api.measurement_key == from_raw.measurement_key
    assert from_api.measurement_uid == "01202003039e13e3e38be1918d3a64c2ec27ea22"
    assert not is_derived_uid(from_api.measurement_uid)
    assert from_api.anomaly is True and from_api.confirmed is True and from_api.failure is False
    assert from_raw.blocking == "http-diff"


def test_api_measurement_list(shared) -> None:
    body = load_recorded(
        shared("ooni", "api", "api_v1_measurements__web_connectivity_limit50.recorded.json")
    )
    rows = [Measurement.from_api_record(r) for r in body["results"]]
    assert len(rows) == 50
    assert len({r.measurement_key for r in rows}) == 50
    first = rows[0]
    assert first.probe_asn == 12479 and first.probe_cc == "ES"
    assert first.document_ref and "raw_measurement" in first.document_ref
    assert first.scores is not None and "blocking_general" in first.scores
    assert all(r.document is None for r in rows)


def test_probe_ip_is_scrubbed_everywhere(shared) -> None:
    doc = json.loads(
        shared(
            "ooni", "measurements", "ts-017_example_web_connectivity_v0.5.28_IT.json"
        ).read_text()
    )
    doc["probe_ip"] = "203.0.113.77"
    doc["test_keys"]["x_note"] = ["seen from 203.0.113.77:443", {"deep": "203.0.113.77"}]
    m = Measurement.from_document(doc)
    text = json.dumps(m.document)
    assert "203.0.113.77" not in text
    assert SCRUBBED in text
    assert "probe_ip" not in m.document


def test_scrub_keeps_published_placeholder() -> None:
    doc = {"probe_ip": "127.0.0.1", "x": "127.0.0.1"}
    assert scrub_probe_ip(doc) == {"x": "127.0.0.1"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [("AS38623", 38623), ("38623", 38623), (38623, 38623), (None, 0), ("", 0), ("as0", 0)],
)
def test_parse_asn(value, expected) -> None:
    assert parse_asn(value) == expected


def test_parse_asn_rejects_garbage() -> None:
    with pytest.raises(InputError, match="probe_asn"):
        parse_asn("Metfone")


def test_parse_time_forms() -> None:
    assert parse_time("2022-08-15 19:01:30") == datetime(2022, 8, 15, 19, 1, 30)
    assert parse_time("2026-07-11T17:44:07.000000Z") == datetime(2026, 7, 11, 17, 44, 7)
    assert parse_time("2026-07-11T17:44:07+07:00") == datetime(2026, 7, 11, 10, 44, 7)
    with pytest.raises(InputError, match="measurement_start_time"):
        parse_time("yesterday")


@pytest.mark.parametrize(
    "doc",
    [
        [],
        {},
        {"test_name": "web_connectivity"},
        {"test_name": "web_connectivity", "measurement_start_time": "2023-01-01 00:00:00"},
        {
            "test_name": "web_connectivity",
            "measurement_start_time": "2023-01-01 00:00:00",
            "probe_cc": "Cambodia",
        },
    ],
)
def test_malformed_documents_raise_input_error(doc) -> None:
    with pytest.raises(InputError):
        Measurement.from_document(doc)


def test_domain_of() -> None:
    assert domain_of("https://VOD.Asia/") == "vod.asia"
    assert domain_of("http://[::1]:8080/x") == "::1"
    assert domain_of("not a url") is None
    assert domain_of(None) is None


def test_measurement_pickles_whole() -> None:
    """Ingest's workers send Measurements through a pipe: every field must come back."""
    import pickle
    from dataclasses import fields

    m = Measurement(
        measurement_key="k" * 40,
        measurement_uid="u",
        source="ooni",
        test_name="web_connectivity",
        measurement_start_time=datetime(2023, 1, 1, 7),
        probe_cc="KH",
        probe_asn=38623,
        scores={"blocking_general": 1.0},
        document=b"\x28\xb5\x2f\xfd",
        verdict_blocking="dns",
        document_ref="https://api.ooni.io/x",
    )
    back = pickle.loads(pickle.dumps(m))
    assert [getattr(back, f.name) for f in fields(Measurement)] == [
        getattr(m, f.name) for f in fields(Measurement)
    ]
