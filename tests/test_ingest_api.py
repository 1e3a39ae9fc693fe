"""OONI API ingest against a fake OONI API on loopback serving recorded real responses."""

from __future__ import annotations

import importlib.util
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from censorwatch.measurement import Measurement
from censorwatch.store import open_store
from censorwatch.store.codec import decode_document
from censorwatch.store.models import MeasurementRow, OoniAggregate

_spec = importlib.util.spec_from_file_location(
    "_ooni_fake", Path(__file__).with_name("_ooni_fake.py")
)
fake = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fake)

from censorwatch.ingest.aggregation import ingest_aggregation  # noqa: E402
from censorwatch.ingest.api_client import (  # noqa: E402
    ApiError,
    OoniApiClient,
    RateLimiter,
    parse_retry_after,
    windows,
)
from censorwatch.ingest.api_ingest import (  # noqa: E402
    ApiRange,
    api_source,
    ingest_api,
    ingest_measurement,
)
from censorwatch.ingest.pipeline import Ingestor  # noqa: E402
from censorwatch.ingest.quarantine import Quarantine  # noqa: E402
from censorwatch.ingest.state import load_state  # noqa: E402

START = datetime(2023, 3, 1)


@pytest.fixture
def server():
    gen = fake.serve()
    yield next(gen)
    gen.close()


def client_for(server, **kw) -> OoniApiClient:
    opts = {"calls_per_minute": 0, "timeout": 5, "backoff_initial": 0.01, "backoff_max": 0.05}
    opts.update(kw)
    return OoniApiClient(server.base_url, **opts)


def count(store) -> int:
    with store.session() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(MeasurementRow))


def keys(store) -> set[str]:
    with store.session() as s:
        return set(s.scalars(sa.select(MeasurementRow.measurement_key)))


def test_pages_follow_next_url_with_count_minus_one(server, shared) -> None:
    server.rows = fake.vary_rows(fake.api_rows(shared), 120, start=START, step=timedelta(hours=1))
    client = client_for(server)
    pages = list(client.measurement_pages({"probe_cc": "KH", "limit": 50}))
    assert [len(p.results) for p in pages] == [50, 50, 20]
    assert pages[0].metadata["count"] == -1 and pages[-1].next_url is None
    assert pages[1].url.startswith(server.base_url) and "offset=50" in pages[1].url
    assert client.calls == 3


def test_retries_429_500_slow_truncated(server, shared) -> None:
    server.rows = fake.vary_rows(fake.api_rows(shared), 10, start=START, step=timedelta(hours=1))
    server.faults = ["429", "500", "truncated", "cut-json", "slow", None]
    server.slow_seconds = 1.5
    client = client_for(server, timeout=0.5)
    data = client.get_json("api/v1/measurements", {"limit": 5})
    assert len(data["results"]) == 5
    assert client.retries == 5 and client.calls == 6


def test_gives_up_after_max_attempts(server) -> None:
    server.faults = ["500"] * 10
    client = client_for(server, max_attempts=3)
    with pytest.raises(ApiError, match="giving up"):
        client.get_json("api/v1/measurements")
    assert client.calls == 3


def test_client_error_is_not_retried(server) -> None:
    client = client_for(server)
    with pytest.raises(ApiError, match="HTTP 404"):
        client.get_json("api/v1/nothing-here")
    assert client.calls == 1


def test_retry_after_is_honoured(server) -> None:
    slept: list[float] = []
    server.faults = ["429", None]
    client = client_for(server, backoff_max=120)
    client._retrying.sleep = slept.append  # record instead of waiting
    client.limiter.sleep = slept.append

    def handler_with_retry_after(seconds: str):
        original = fake._Handler._send

        def send(self, status, body, headers=None, ctype="application/json"):
            if status == 429:
                headers = {**(headers or {}), "Retry-After": seconds}
            return original(self, status, body, headers, ctype)

        return send

    original = fake._Handler._send
    fake._Handler._send = handler_with_retry_after("7")
    try:
        client.get_json("api/v1/aggregation")
    finally:
        fake._Handler._send = original
    assert 7.0 in slept


def test_parse_retry_after() -> None:
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0


def test_rate_limiter_spaces_calls() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    limiter = RateLimiter(10, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        limiter.wait()
    assert slept == [6.0, 6.0]


def test_windows_are_at_most_180_days() -> None:
    parts = list(windows(datetime(2023, 1, 1), datetime(2024, 1, 1)))
    assert len(parts) == 3
    assert all(b - a <= timedelta(days=180) for a, b in parts)
    assert parts[0][0] == datetime(2023, 1, 1) and parts[-1][1] == datetime(2024, 1, 1)


def test_next_url_is_rebased_on_the_configured_api() -> None:
    client = OoniApiClient("http://127.0.0.1:9/", calls_per_minute=0)
    assert (
        client.follow("https://api.ooni.io/api/v1/measurements?offset=50&limit=50")
        == "http://127.0.0.1:9/api/v1/measurements?offset=50&limit=50"
    )


def _ingest(store, server, **kw) -> Ingestor:
    request = ApiRange(country="KH", test_names=["web_connectivity"], page_size=25, **kw)
    ingestor = Ingestor(store, batch_size=1000)
    ingest_api(store, client_for(server), ingestor, request)
    return ingestor


def test_api_ingest_is_idempotent_and_incremental(store, server, shared) -> None:
    rows = fake.vary_rows(fake.api_rows(shared), 200, start=START, step=timedelta(hours=1))
    server.rows = rows
    until = START + timedelta(days=30)
    first = _ingest(store, server, since=START, until=until, only="all")
    assert first.stats.inserted == 200 and count(store) == 200
    assert first.stats.pages == 8
    again = _ingest(store, server, since=START, until=until, only="all")
    assert again.stats.inserted == 0 and again.stats.merged == 200 and count(store) == 200
    with store.engine.begin() as conn:
        st = load_state(conn, api_source("KH", "web_connectivity", "all"))
    assert st.watermark == until and st.cursor is None

    # A later run without --since starts at the watermark minus the overlap.
    later = fake.vary_rows(
        fake.api_rows(shared), 20, start=until + timedelta(hours=1), step=timedelta(minutes=1)
    )
    for i, row in enumerate(later):
        row["report_id"] += "-later"
        row["measurement_uid"] = row["measurement_uid"][:-4] + f"{i:04x}"
    server.rows = rows + later
    server.requests.clear()
    run = _ingest(store, server, overlap=timedelta(hours=2), only="all")
    assert run.stats.inserted == 20 and count(store) == 220
    first_query = server.api_requests()[0]
    assert "since=2023-03-30T22%3A00%3A00" in first_query


def test_only_anomalies_by_default(store, server, shared) -> None:
    server.rows = fake.vary_rows(fake.api_rows(shared), 70, start=START, step=timedelta(hours=1))
    _ingest(store, server, since=START, until=START + timedelta(days=10))
    assert count(store) == 10  # every 7th varied row is anomalous
    assert all("anomaly=true" in r for r in server.api_requests())


def test_ooni_flags_are_kept_as_given(store, server, shared) -> None:
    server.rows = fake.vary_rows(fake.api_rows(shared), 30, start=START, step=timedelta(hours=1))
    _ingest(store, server, since=START, until=START + timedelta(days=5), only="all")
    with store.session() as s:
        rows = s.scalars(sa.select(MeasurementRow).order_by(MeasurementRow.id)).all()
    by_uid = {r["measurement_uid"]: r for r in server.rows}
    for row in rows:
        original = by_uid[row.measurement_uid]
        assert row.anomaly is original["anomaly"] and row.confirmed is original["confirmed"]
        assert row.scores == original["scores"]
        assert row.document_ref == original["measurement_url"]


def test_windows_and_resume_after_failure(store, server, shared) -> None:
    server.rows = fake.vary_rows(fake.api_rows(shared), 300, start=START, step=timedelta(days=1))
    until = START + timedelta(days=300)
    server.faults = [None, None, None] + ["500"] * 20
    request = ApiRange(
        country="KH",
        test_names=["web_connectivity"],
        page_size=50,
        since=START,
        until=until,
        only="all",
    )
    ingestor = Ingestor(store)
    client = client_for(server, max_attempts=2)
    with pytest.raises(ApiError):
        ingest_api(store, client, ingestor, request)
    assert count(store) == 150  # three pages committed, each with its cursor
    with store.engine.begin() as conn:
        st = load_state(conn, api_source("KH", "web_connectivity", "all"))
    assert json.loads(st.cursor)["next_url"].endswith("offset=150")
    server.faults = []
    server.requests.clear()
    ingestor = Ingestor(store)
    ingest_api(store, client_for(server), ingestor, request)
    assert count(store) == 300 and ingestor.stats.inserted == 150
    # Resumed at offset 150 of the first window rather than from the start.
    assert "offset=150" in server.api_requests()[0]
    assert any("since=2023-08-28" in r for r in server.api_requests())  # the second window


def test_bad_rows_are_quarantined(store, server, shared, tmp_path) -> None:
    rows = fake.vary_rows(fake.api_rows(shared), 10, start=START, step=timedelta(hours=1))
    rows[3]["measurement_start_time"] = "2023-03-01T03:00:00.000000Z and then some"
    rows[4]["probe_asn"] = True
    rows[6]["scores"] = "not a dict"
    rows[7]["input"] = ["a", "list"]
    server.rows = rows
    q = Quarantine(tmp_path / "q")
    ingestor = Ingestor(store, quarantine=q)
    request = ApiRange(
        country="KH",
        test_names=["web_connectivity"],
        since=START,
        until=START + timedelta(days=1),
        only="all",
    )
    ingest_api(store, client_for(server), ingestor, request)
    q.close()
    assert ingestor.stats.quarantined == 2
    assert count(store) == 8
    lines = [json.loads(x) for x in q.path.read_text().splitlines()]
    assert {e["line"] for e in lines} == {4, 5}
    assert "measurement_start_time" in lines[0]["error"]


def test_measurement_meta_full_document(store, server, shared) -> None:
    path = shared(
        "ooni", "api", "api_v1_measurement_meta__RU_rutor_http-diff_confirmed.recorded.json"
    )
    server.meta = fake.unwrap(path)
    ingestor = Ingestor(store)
    ingest_measurement(client_for(server), ingestor, server.meta["measurement_uid"])
    with store.session() as s:
        row = s.scalars(sa.select(MeasurementRow)).one()
    assert row.measurement_uid == "01202003039e13e3e38be1918d3a64c2ec27ea22"
    assert row.anomaly is True and row.confirmed is True and row.failure is False
    assert row.scores["analysis"]["blocking_type"] == "http-diff"
    assert row.blocking == "http-diff"
    doc = decode_document(row.document)
    assert doc["input"] == "http://rutor.org/" and "probe_ip" not in doc
    # The same measurement as a list row (start time an hour apart) is the same row.
    meta = server.meta
    as_row = Measurement.from_api_record({**meta, "scores": json.loads(meta["scores"])})
    assert as_row.measurement_key == row.measurement_key


def test_aggregation_is_monthly_and_idempotent(store, server, shared) -> None:
    path = shared("ooni", "api", "api_v1_aggregation__web_connectivity_axis_x_day.recorded.json")
    server.aggregation = fake.unwrap(path)
    client = client_for(server)
    for _ in range(2):
        written = ingest_aggregation(
            store,
            client,
            country="KH",
            test_names=["web_connectivity"],
            since=datetime(2022, 3, 1),
            until=datetime(2022, 3, 4),
            axes=[""],
        )
        assert written == 1
    with store.session() as s:
        rows = s.scalars(sa.select(OoniAggregate)).all()
    assert len(rows) == 1
    assert rows[0].measurement_count == 1113357 + 1212215 + 1161898
    assert rows[0].period_start.isoformat() == "2022-03-01"
    query = server.api_requests("/api/v1/aggregation")[0]
    assert "time_grain=month" in query and "axis_x=measurement_start_day" in query
    assert "since=2022-03-01&until=2022-03-04" in query


def test_cli_ingest_ooni(server, shared, isolated_env, tmp_path) -> None:
    from click.testing import CliRunner

    from censorwatch.cli import cli

    server.rows = fake.vary_rows(fake.api_rows(shared), 40, start=START, step=timedelta(hours=1))
    (tmp_path / "censorwatch.toml").write_text("[ooni]\napi_calls_per_minute = 0\n")
    args = [
        "ingest",
        "ooni",
        "--country",
        "KH",
        "--since",
        "2023-03-01",
        "--until",
        "2023-03-01",
        "--test-name",
        "web_connectivity",
        "--api-url",
        server.base_url,
        "--only",
        "all",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "24 read, 24 new" in result.output
    result = CliRunner().invoke(cli, args)
    assert "0 new, 24 already known" in result.output
    store = open_store(f"sqlite:///{tmp_path / 'data' / 'censorwatch.sqlite3'}")
    try:
        assert count(store) == 24
    finally:
        store.close()


def test_fast_api_rows_equal_the_model(shared) -> None:
    from censorwatch.ingest.pipeline import measurement_from_api_row

    rows = fake.vary_rows(fake.api_rows(shared), 60, start=START, step=timedelta(hours=1))
    rows += fake.api_rows(shared)
    odd = [
        {**rows[0], "probe_asn": 38623},
        {**rows[1], "measurement_start_time": "2023-03-01T00:00:00Z"},
        {**rows[2], "measurement_start_time": "2023-03-01 00:00:00"},
        {**rows[3], "input": None, "report_id": ""},
        {**rows[4], "measurement_uid": None},
        {**rows[5], "anomaly": "yes", "scores": "{}"},
        {**rows[6], "probe_cc": "kh"},
    ]
    for rec in rows + odd:
        try:
            expected = Measurement.from_api_record(rec)
        except Exception as exc:
            with pytest.raises(type(exc)):
                measurement_from_api_row(rec)
            continue
        assert measurement_from_api_row(rec) == expected


def test_fast_api_rows_fit_the_columns_as_the_model_does(shared) -> None:
    """Over-long values: refused or shortened exactly as fit_columns does on the model's row."""
    from censorwatch.ingest.pipeline import Ingestor, fit_columns

    base = fake.api_rows(shared)[:4]
    long_host = "http://" + "a" * 300 + ".example/"
    rows = [
        {**base[0], "input": long_host},  # domain shortened
        {**base[1], "report_id": "r" * 129},  # refused
        {**base[2], "measurement_uid": "u" * 129},  # refused
        {**base[3], "test_name": "t" * 65},  # refused
        *base,
    ]
    ingestor = Ingestor(None)  # type: ignore[arg-type]
    got = ingestor.from_api_rows(rows, "page")
    want = []
    for rec in rows:
        try:
            want.append(fit_columns(Measurement.from_api_record(rec)))
        except Exception:
            continue
    assert got == want
    assert len(got[0].domain) == 255
    assert (ingestor.stats.read, ingestor.stats.quarantined) == (8, 3)
