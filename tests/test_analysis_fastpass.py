"""The SQLite fast path of the full pass equals the portable SQL path, frame for frame.

:func:`censorwatch.analysis.load.load_period` reads a SQLite store as packed records grouped in
numpy (:mod:`censorwatch.analysis.fastpass`); everywhere else it runs the portable grouping
queries. Every number of the analysis comes from these frames, so the two must agree exactly:
values, dtypes, order, on hand-built stores, on a randomised store with every rule input and
awkward times, on real OONI measurements, and in a time zone with daylight-saving time.
"""

from __future__ import annotations

import json
import random
from datetime import date, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import select
from test_analysis_rules import _grid, recorded_body
from test_analysis_store import build as build_hand_store

from censorwatch.analysis import analyze, fastpass, parse_period
from censorwatch.analysis.load import (
    Scope,
    cells_from_groups,
    load_agreement_cells,
    load_cells,
    load_network_days,
    load_period,
)
from censorwatch.analysis.period import Period
from censorwatch.analysis.rules import APP_TESTS, METHODS, local_day_sql
from censorwatch.analysis.synthetic import measurement
from censorwatch.measurement import SOURCE_OONI, SOURCE_PROBE, Measurement
from censorwatch.store import open_store, write_measurements
from censorwatch.store.models import MeasurementRow

KH = "Asia/Phnom_Penh"


def assert_same(store, scope: Scope, asns: list[int] | None = None) -> None:
    """Fast and portable reads of ``scope`` give equal frames, with either thread count."""
    with store.engine.connect() as conn:
        rows = fastpass.read_rows(conn, scope.country, scope.period, store.engine, workers=2)
        one = fastpass.read_rows(conn, scope.country, scope.period, None, workers=1)
        fast = cells_from_groups(fastpass.groups_from_rows(rows))
        single = cells_from_groups(fastpass.groups_from_rows(one))
        portable = load_cells(conn, scope, store.engine)
        for left in (fast, single):
            pd.testing.assert_frame_equal(left.cells, portable.cells)
            pd.testing.assert_frame_equal(left.anomaly_days, portable.anomaly_days)
        for mine, theirs in ((SOURCE_PROBE, SOURCE_OONI), (SOURCE_OONI, SOURCE_PROBE)):
            for which in (None, asns):
                want = load_agreement_cells(conn, scope, mine, theirs, asns=which)
                got = fastpass.agreement_from_rows(rows, mine, theirs, which)
                if want.empty:
                    assert got.empty and list(got.columns) == list(want.columns)
                else:
                    pd.testing.assert_frame_equal(got, want)
        via = load_period(conn, scope, store.engine)
        pd.testing.assert_frame_equal(via.cells.cells, portable.cells)
        # The networks' days measured: from the rows in memory, or the narrow query.
        want_days = load_network_days(conn, scope, store.engine)
        pd.testing.assert_frame_equal(load_network_days(conn, scope), want_days)
        for got_days in (via.network_days(), load_period(conn, scope).network_days()):
            if want_days.empty:
                assert got_days.empty and list(got_days.columns) == list(want_days.columns)
            else:
                pd.testing.assert_frame_equal(got_days, want_days)
        if not want_days.empty:
            assert want_days["measurements"].sum() == portable.cells["measurements"].sum()


def write(store, rows: list[Measurement]) -> None:
    with store.engine.begin() as conn:
        write_measurements(conn, rows)


@pytest.fixture
def sqlite_store(sqlite_url):
    with open_store(sqlite_url) as s:
        yield s


def test_hand_built_store(sqlite_store) -> None:
    build_hand_store(sqlite_store)
    for period in ("2023", "2022", "2023-07..2024-06", "2023-09-01..2023-09-05"):
        assert_same(sqlite_store, Scope("KH", parse_period(period, KH)), asns=[38623])
    assert_same(sqlite_store, Scope("TH", parse_period("2023", KH)))


def test_every_rule_input(sqlite_store) -> None:
    """The status/method grid of the rule tests, unusual methods in scores included."""
    rows = _grid()
    for i, m in enumerate(rows):
        m.measurement_start_time = datetime(2023, 1, 1) + timedelta(hours=3 * i, microseconds=i)
        if i % 3 == 0:
            m.scores = {"analysis": {"blocking_type": ["weird", "", "tls", "dns"][i % 4]}}
        if i % 5 == 0:
            m.source = SOURCE_PROBE
    write(sqlite_store, rows)
    with sqlite_store.engine.connect() as conn:
        got = fastpass.read_rows(conn, "KH", parse_period("2023", KH).previous(), None)
        assert len(got) == 0
        got = fastpass.read_rows(conn, "KH", parse_period("2023", KH), None)
        assert "weird" in got.other_methods
    assert_same(sqlite_store, Scope("KH", parse_period("2023", KH)))


def random_rows(rng: random.Random, n: int, start: datetime, days: int) -> list[Measurement]:
    """Every kind of value the full pass reads, at awkward times."""
    urls = [
        "https://news.example/",
        "http://news.example/",
        "https://news.example/a?b=c",
        "https://WWW.Upper.example./x",
        "https://ünïcode.example/",
        "https://z.example/",
        "not a url",
        "",
    ]
    cats = [None, "NEWS", "HUMR", "GRP", "POLR", "XYZ", "news"]
    tests = ["web_connectivity", *APP_TESTS, "dnscheck", "ndt"]
    asns = [0, 38623, 131178, 4294967295]
    texts = [None, "false", *METHODS, "bogus"]
    out = []
    for i in range(n):
        test = rng.choice(tests)
        when = start + timedelta(seconds=rng.randrange(days * 86400), microseconds=i % 10)
        if i % 7 == 0:  # on a local midnight, or a few microseconds before it
            when = when.replace(hour=17, minute=0, second=0, microsecond=0)
            when -= timedelta(microseconds=rng.choice([0, 0, 1, 400, 500, 600]))
        anomaly = rng.choice([None, False, True])
        scores = None
        if rng.random() < 0.5:
            scores = {"analysis": {"blocking_type": rng.choice(["dns", "tls", "weird", ""])}}
        out.append(
            measurement(
                rng.choice(urls) if test == "web_connectivity" or rng.random() < 0.1 else None,
                when,
                asn=rng.choice(asns),
                source=rng.choice([SOURCE_OONI, SOURCE_PROBE]),
                test_name=test,
                cc=rng.choice(["KH", "KH", "KH", "TH"]),
                anomaly=anomaly,
                confirmed=rng.choice([None, False, True]),
                failure=rng.choice([None, False, False, True]),
                blocking=rng.choice(texts),
                verdict_blocking=rng.choice(texts),
                verdict_confirmed=rng.choice([None, True]),
                category_code=rng.choice(cats),
                scores=scores,
            )
        )
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_randomised_store(sqlite_store, seed: int) -> None:
    rng = random.Random(seed)
    write(sqlite_store, random_rows(rng, 3000, datetime(2022, 12, 20), 400))
    for period in ("2023", "2023-02-01..2023-02-01", "2023-12-31..2024-01-31"):
        assert_same(sqlite_store, Scope("KH", parse_period(period, KH)), asns=[0, 4294967295])


def test_daylight_saving_time(sqlite_store) -> None:
    """Local days and months around Europe/Berlin's changes of offset, both directions."""
    rng = random.Random(3)
    rows = random_rows(rng, 1500, datetime(2023, 3, 20), 20)
    rows += random_rows(rng, 1500, datetime(2023, 10, 20), 20)
    for m in rows:
        m.probe_cc = "DE"
    # the last minutes before and the first after each change (01:00 UTC)
    for when in ("2023-03-26 00:59:59.999", "2023-03-26 01:00:00", "2023-10-29 00:59:59"):
        rows.append(measurement("https://dst.example/", when, cc="DE", anomaly=True))
    write(sqlite_store, rows)
    for period in ("2023", "2023-03-01..2023-04-30", "2023-10-29..2023-10-29"):
        assert_same(sqlite_store, Scope("DE", parse_period(period, "Europe/Berlin")))


def test_local_day_number_is_sqlites_date(sqlite_store) -> None:
    """The integer day of the packed record is the day ``date(t, offset)`` gives, to the
    millisecond SQLite rounds to."""
    rng = random.Random(4)
    rows = []
    base = datetime(2023, 3, 25, 22)
    for i in range(2000):
        when = base + timedelta(microseconds=rng.randrange(2 * 86400 * 10**6))
        if i % 4 == 0:
            when = when.replace(minute=59, second=59)
        rows.append(measurement(f"https://d{i}.example/", when, cc="DE"))
    write(sqlite_store, rows)
    period = Period(date(2023, 3, 20), date(2023, 4, 5), "Europe/Berlin")
    day = local_day_sql(period.offset_segments(), "sqlite")
    number = fastpass._local_day_number(period)
    with sqlite_store.engine.connect() as conn:
        got = conn.execute(select(day, number).select_from(MeasurementRow.__table__)).all()
    assert len(got) == 2000
    for text, jdn in got:
        assert date.fromisoformat(text).toordinal() + 1721425 == jdn


def test_real_ooni_measurements(sqlite_store, shared) -> None:
    body = recorded_body(
        shared("ooni", "api", "api_v1_measurements__web_connectivity_limit50.recorded.json")
    )
    rows = [Measurement.from_api_record(r) for r in body["results"]]
    meta = recorded_body(
        shared("ooni", "api", "api_v1_measurement_meta__RU_rutor_http-diff_confirmed.recorded.json")
    )
    meta = dict(meta)
    meta["scores"] = json.loads(meta["scores"])
    rows.append(Measurement.from_api_record(meta))
    for name in ("web_connectivity_ir_fp.json", "web_connectivity_null.json"):
        doc = json.loads(shared("ooni", "measurements", name).read_text(encoding="utf-8"))
        rows.append(Measurement.from_document(doc))
    write(sqlite_store, rows)
    first = min(m.measurement_start_time for m in rows).date()
    last = max(m.measurement_start_time for m in rows).date()
    period = Period(first - timedelta(days=1), last + timedelta(days=1), "UTC")
    for cc in sorted({m.probe_cc for m in rows}):
        assert_same(sqlite_store, Scope(cc, period))


def test_unknown_source_falls_back(sqlite_store) -> None:
    rows = [measurement("https://a.example/", "2023-05-01 03:00:00", anomaly=True)]
    rows.append(measurement("https://a.example/", "2023-05-02 03:00:00", source="partner"))
    write(sqlite_store, rows)
    scope = Scope("KH", parse_period("2023", KH))
    with sqlite_store.engine.connect() as conn:
        with pytest.raises(fastpass.Unsupported):
            fastpass.read_rows(conn, "KH", scope.period, None)
        via = load_period(conn, scope, sqlite_store.engine)
        portable = load_cells(conn, scope, sqlite_store.engine)
    pd.testing.assert_frame_equal(via.cells.cells, portable.cells)
    assert set(via.cells.cells["source"]) == {"ooni", "partner"}


def test_empty_store_and_period(sqlite_store) -> None:
    scope = Scope("KH", parse_period("2023", KH))
    with sqlite_store.engine.connect() as conn:
        assert len(fastpass.read_rows(conn, "KH", scope.period, None)) == 0
        assert load_period(conn, scope).cells.cells.empty
    write(sqlite_store, [measurement("https://a.example/", "2021-05-01 03:00:00")])
    with sqlite_store.engine.connect() as conn:
        read = load_period(conn, scope, sqlite_store.engine)
        assert read.cells.cells.empty and read.cells.anomaly_days.empty
        assert read.agreement_cells(SOURCE_PROBE, SOURCE_OONI, None).empty


def test_whole_analysis_equal_on_both_paths(sqlite_store, monkeypatch) -> None:
    """The analysis's JSON is the same whichever path read the store."""
    build_hand_store(sqlite_store)
    write(sqlite_store, random_rows(random.Random(5), 2000, datetime(2022, 12, 25), 380))
    period = parse_period("2023", KH)
    fast = analyze(sqlite_store, "KH", period).to_json()

    def refuse(*_a, **_k):
        raise fastpass.Unsupported("test")

    monkeypatch.setattr(fastpass, "read_rows", refuse)
    portable = analyze(sqlite_store, "KH", period).to_json()
    assert fast == portable
    # The networks' days (fast: from the rows in memory; portable: a query) are in it.
    networks = fast["coverage"]["networks"]
    assert networks and all(n["days"] > 0 and n["first_day"] <= n["last_day"] for n in networks)


def test_postgresql_uses_the_portable_path(store) -> None:
    """On PostgreSQL ``load_period`` is the portable pair (the fast path is SQLite's)."""
    build_hand_store(store)
    scope = Scope("KH", parse_period("2023", KH))
    with store.engine.connect() as conn:
        if store.dialect != "sqlite":
            with pytest.raises(fastpass.Unsupported):
                fastpass.read_rows(conn, "KH", scope.period, None)
        read = load_period(conn, scope, store.engine)
        portable = load_cells(conn, scope, store.engine)
        pd.testing.assert_frame_equal(read.cells.cells, portable.cells)
        pd.testing.assert_frame_equal(
            read.agreement_cells(SOURCE_PROBE, SOURCE_OONI, [38623]),
            load_agreement_cells(conn, scope, SOURCE_PROBE, SOURCE_OONI, asns=[38623]),
        )


def test_chunk_too_large_falls_back(sqlite_store) -> None:
    """A chunk whose text would exceed SQLite's length limit is read the portable way."""
    import sqlite3

    write(sqlite_store, random_rows(random.Random(6), 200, datetime(2023, 3, 1), 20))
    scope = Scope("KH", parse_period("2023", KH))
    with sqlite_store.engine.connect() as conn:
        portable = load_cells(conn, scope)
        conn.connection.driver_connection.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 200)
        try:
            with pytest.raises(fastpass.Unsupported, match="too large"):
                fastpass.read_rows(conn, "KH", scope.period, None)
            read = load_period(conn, scope)
        finally:
            conn.connection.driver_connection.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 10**9)
    pd.testing.assert_frame_equal(read.cells.cells, portable.cells)


def test_grouping_refusal_falls_back(sqlite_store, monkeypatch) -> None:
    """A refusal after the read (too many distinct keys to pack) also ends on the portable
    path, for the cells and for the agreement."""
    build_hand_store(sqlite_store)
    scope = Scope("KH", parse_period("2023", KH))

    def refuse(*_a, **_k):
        raise fastpass.Unsupported("test")

    with sqlite_store.engine.connect() as conn:
        portable = load_cells(conn, scope)
        want = load_agreement_cells(conn, scope, SOURCE_PROBE, SOURCE_OONI, asns=[38623])
        monkeypatch.setattr(fastpass, "agreement_from_rows", refuse)
        read = load_period(conn, scope, sqlite_store.engine)
        pd.testing.assert_frame_equal(
            read.agreement_cells(SOURCE_PROBE, SOURCE_OONI, [38623]), want
        )
        monkeypatch.setattr(fastpass, "groups_from_rows", refuse)
        read = load_period(conn, scope, sqlite_store.engine)
        pd.testing.assert_frame_equal(read.cells.cells, portable.cells)
