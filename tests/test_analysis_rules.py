"""The one status/method rule: SQL and Python agree, and it reproduces OONI's own flags."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select

from censorwatch.analysis.rules import (
    ANOMALY,
    CONFIRMED,
    FAILURE,
    OK,
    measurement_method,
    measurement_status,
    method_sql,
    status_sql,
)
from censorwatch.analysis.synthetic import measurement
from censorwatch.measurement import Measurement
from censorwatch.store import write_measurements
from censorwatch.store.models import MeasurementRow


def recorded_body(path: Path) -> dict:
    """The JSON body of an OONI Explorer recorded API response (a string inside JSON)."""
    return json.loads(json.loads(path.read_text(encoding="utf-8"))["body"])


def ooni_status(anomaly: bool, confirmed: bool, failure: bool) -> str:
    """OONI's aggregation categories (ok/anomaly/confirmed/failure counts of /aggregation)."""
    if failure:
        return FAILURE
    if confirmed:
        return CONFIRMED
    return ANOMALY if anomaly else OK


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"anomaly": False, "confirmed": False, "failure": False}, OK),
        ({"anomaly": True, "confirmed": False, "failure": False}, ANOMALY),
        ({"anomaly": True, "confirmed": True, "failure": False}, CONFIRMED),
        ({"anomaly": True, "confirmed": True, "failure": True}, FAILURE),
        ({"anomaly": False, "confirmed": False, "failure": True}, FAILURE),
        # source flags win over the verdict engine's recomputation...
        ({"anomaly": False, "failure": False, "verdict_blocking": "dns"}, OK),
        # ...except that a fingerprint confirmation by our engine is kept
        ({"anomaly": True, "failure": False, "verdict_confirmed": True}, CONFIRMED),
        ({"verdict_blocking": "dns"}, ANOMALY),
        ({"verdict_blocking": "false"}, OK),
        ({"verdict_blocking": "false", "verdict_confirmed": True}, CONFIRMED),
        ({"verdict_blocking": "weird"}, FAILURE),
        ({"verdict_blocking": "false", "blocking": "dns"}, OK),
        ({"blocking": "http-diff"}, ANOMALY),
        ({"blocking": "tcp_ip"}, ANOMALY),
        ({"blocking": "false"}, OK),
        ({"blocking": "unknown-value"}, FAILURE),
        ({}, FAILURE),
        ({"verdict_confirmed": True}, CONFIRMED),
        # The engine neutralised a "dns" verdict with a known false positive: no conclusion,
        # and the probe's own "dns" is not read again.
        ({"verdict_fingerprint": "local.kh_dns_fp_198_51_100_9", "blocking": "dns"}, FAILURE),
        ({"verdict_fingerprint": "x", "verdict_confirmed": True, "blocking": "dns"}, CONFIRMED),
    ],
)
def test_status_rule(fields: dict, expected: str) -> None:
    assert measurement_status(measurement(**fields)) == expected


def test_method_rule() -> None:
    assert measurement_method(measurement(verdict_blocking="dns", blocking="http-diff")) == "dns"
    assert measurement_method(measurement(verdict_blocking="false", blocking="tcp_ip")) == "tcp_ip"
    scores = {"blocking_general": 1.0, "analysis": {"blocking_type": "dns"}}
    assert measurement_method(measurement(anomaly=True, scores=scores)) == "dns"
    # scores of a measurement OONI did not flag say nothing about a method
    assert measurement_method(measurement(anomaly=False, scores=scores)) is None
    assert measurement_method(measurement()) is None


def _grid() -> list[Measurement]:
    """Every combination of the columns the rule reads."""
    rows = []
    bools = (None, False, True)
    texts = (None, "false", "dns", "http-diff", "bogus")
    for i, (a, c, f, vb, vc, b, vf) in enumerate(
        itertools.product(bools, bools, bools, texts, (None, True), texts, (None, "fp.x"))
    ):
        scores = {"blocking_general": 1.0, "analysis": {"blocking_type": "tls"}} if i % 2 else None
        rows.append(
            measurement(
                f"https://grid{i}.example/",
                anomaly=a,
                confirmed=c,
                failure=f,
                verdict_blocking=vb,
                verdict_confirmed=vc,
                verdict_fingerprint=vf,
                blocking=b,
                scores=scores,
            )
        )
    return rows


def test_sql_and_python_rules_agree(store) -> None:
    rows = _grid()
    with store.engine.begin() as conn:
        write_measurements(conn, rows)
    t = MeasurementRow.__table__.c
    with store.engine.connect() as conn:
        stmt = select(
            t.input, status_sql().label("status"), method_sql(store.dialect).label("method")
        )
        got = {r.input: (r.status, r.method) for r in conn.execute(stmt)}
    assert len(got) == len(rows)
    for m in rows:
        assert got[m.input] == (measurement_status(m), measurement_method(m)), m


def test_reproduces_ooni_flags_of_api_measurement_list(shared) -> None:
    """The 50 real rows of /api/v1/measurements carry OONI's fastpath flags and scores."""
    body = recorded_body(
        shared("ooni", "api", "api_v1_measurements__web_connectivity_limit50.recorded.json")
    )
    results = body["results"]
    assert len(results) == 50
    seen = set()
    for rec in results:
        m = Measurement.from_api_record(rec)
        expected = ooni_status(rec["anomaly"], rec["confirmed"], rec["failure"])
        assert measurement_status(m) == expected, rec["measurement_uid"]
        seen.add(expected)
        # OONI derives its anomaly flag from the scores (blocking_general > 0.5); the rule's
        # method for an anomaly is the blocking type those scores name.
        assert rec["anomaly"] == (rec["scores"]["blocking_general"] > 0.5)
        if rec["anomaly"]:
            assert measurement_method(m) == rec["scores"]["analysis"]["blocking_type"]
        else:
            assert measurement_method(m) is None
    assert {OK, ANOMALY} <= seen


def test_reproduces_ooni_flags_of_measurement_meta(shared) -> None:
    """RU rutor.org: OONI says anomaly + confirmed (http-diff, body fingerprint)."""
    body = recorded_body(
        shared("ooni", "api", "api_v1_measurement_meta__RU_rutor_http-diff_confirmed.recorded.json")
    )
    meta = dict(body)
    meta["scores"] = json.loads(meta["scores"])
    m = Measurement.from_api_record(meta)
    assert measurement_status(m) == ooni_status(body["anomaly"], body["confirmed"], body["failure"])
    assert measurement_status(m) == CONFIRMED
    assert measurement_method(m) == "http-diff"

    # The same measurement from its raw document (no pipeline flags): the probe's
    # test_keys.blocking gives OONI's anomaly; confirmation needs the fingerprint match that
    # the verdict engine records in verdict_confirmed.
    raw = Measurement.from_document(json.loads(body["raw_measurement"]))
    assert raw.anomaly is None
    assert measurement_status(raw) == ANOMALY
    assert measurement_method(raw) == "http-diff"
    raw.verdict_confirmed = True
    assert measurement_status(raw) == CONFIRMED


@pytest.mark.parametrize(
    ("name", "expected_without_engine"),
    [
        # Iran facebook.com: blocking "dns" (OONI: anomaly, confirmed by a DNS fingerprint)
        ("web_connectivity_ir_fp.json", ANOMALY),
        # Turkmenistan: control failure, blocking null (OONI: msm_failure)
        ("web_connectivity_null.json", FAILURE),
        # Indonesia archive.org: blocking false but a blockpage redirect (OONI: confirmed)
        ("20250527233111.802678_ID_webconnectivity_5a37ec909dbf14e3.json", OK),
    ],
)
def test_raw_documents_read_like_fastpath(shared, name: str, expected_without_engine: str) -> None:
    doc = json.loads(shared("ooni", "measurements", name).read_text(encoding="utf-8"))
    m = Measurement.from_document(doc)
    assert measurement_status(m) == expected_without_engine
    # What the verdict engine records after a fingerprint match: OONI then calls all three
    # confirmed (fastpath keeps a blocking-null measurement when a fingerprint matched).
    m.verdict_confirmed = True
    assert measurement_status(m) == CONFIRMED


def test_by_month_fields_follow_ooni_aggregation_semantics(shared, store) -> None:
    """OONI's /aggregation counts partition the measurements: ok + anomaly + confirmed +
    failure = measurement_count. Our by_month fields are the same four exclusive counts."""
    body = recorded_body(
        shared("ooni", "api", "api_v1_aggregation__web_connectivity_axis_x_day.recorded.json")
    )
    for day in body["result"]:
        total = (
            day["ok_count"] + day["anomaly_count"] + day["confirmed_count"] + day["failure_count"]
        )
        assert total == day["measurement_count"]

    from censorwatch.analysis import analyze, parse_period

    combos = list(itertools.product((False, True), repeat=3))
    rows = [
        measurement(
            f"https://agg{i}.example/",
            "2023-05-10 03:00:00",
            anomaly=a,
            confirmed=c,
            failure=f,
        )
        for i, (a, c, f) in enumerate(combos)
    ]
    with store.engine.begin() as conn:
        write_measurements(conn, rows)
    result = analyze(store, "KH", parse_period("2023-05-01..2023-05-31", "Asia/Phnom_Penh"))
    month = result.to_json()["coverage"]["by_month"][0]
    expected = pd.Series([ooni_status(a, c, f) for a, c, f in combos]).value_counts()
    assert month == {
        "month": "2023-05",
        "measurements": 8,
        "ok": int(expected.get(OK, 0)),
        "anomaly": int(expected.get(ANOMALY, 0)),
        "confirmed": int(expected.get(CONFIRMED, 0)),
        "failure": int(expected.get(FAILURE, 0)),
    }
    assert month["ok"] + month["anomaly"] + month["confirmed"] + month["failure"] == 8
