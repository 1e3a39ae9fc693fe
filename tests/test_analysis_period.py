"""Reporting periods in local time: parsing, UTC bounds, previous period, DST, boundaries."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from censorwatch.analysis import analyze, parse_period
from censorwatch.analysis.period import Period, country_timezone
from censorwatch.analysis.synthetic import ooni
from censorwatch.errors import ConfigError, InputError
from censorwatch.store import write_measurements

KH = "Asia/Phnom_Penh"


def test_parse_forms() -> None:
    assert parse_period("2023", KH) == Period(date(2023, 1, 1), date(2023, 12, 31), KH)
    p = parse_period("2023-07-01..2024-06-30", KH)
    assert (p.start, p.end, p.days) == (date(2023, 7, 1), date(2024, 6, 30), 366)
    assert parse_period("2023-07..2024-06", KH) == p
    assert parse_period("2024-02..2024-02", KH).end == date(2024, 2, 29)
    assert p.months()[0] == "2023-07" and p.months()[-1] == "2024-06" and len(p.months()) == 12
    assert p.label == "2023-07-01..2024-06-30"
    assert p.to_dict() == {"start": "2023-07-01", "end": "2024-06-30", "timezone": KH}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2023-01-01-2023-12-31", "not a period"),
        ("2023-13-01..2023-12-31", "is not a date"),
        ("2023-12-31..2023-01-01", "before start"),
        ("", "not a period"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_period(text, KH)


def test_unknown_timezone() -> None:
    with pytest.raises(ConfigError, match="unknown time zone"):
        parse_period("2023", "Mars/Olympus_Mons")


def test_utc_bounds_are_local_midnights() -> None:
    p = parse_period("2023", KH)
    assert p.utc_start == datetime(2022, 12, 31, 17, 0)
    assert p.utc_end == datetime(2023, 12, 31, 17, 0)
    assert p.offset_segments() == [(p.utc_start, p.utc_end, 7 * 3600)]


def test_previous_period() -> None:
    assert parse_period("2023", KH).previous() == parse_period("2022", KH)
    # whole months: the same months a year earlier, even across a leap day
    assert parse_period("2024-07..2025-06", KH).previous() == parse_period("2023-07..2024-06", KH)
    assert parse_period("2024-03..2024-03", KH).previous() == parse_period("2024-02..2024-02", KH)
    # arbitrary days: the same number of days just before
    p = parse_period("2023-03-10..2023-03-19", KH)
    assert p.previous() == parse_period("2023-02-28..2023-03-09", KH)
    assert p.previous().days == p.days


def test_tail() -> None:
    p = parse_period("2023", KH)
    assert p.tail(30) == parse_period("2023-12-02..2023-12-31", KH)
    assert parse_period("2023-12-20..2023-12-31", KH).tail(30).start == date(2023, 12, 20)


def test_offset_segments_follow_daylight_saving_time() -> None:
    p = parse_period("2023", "Europe/Berlin")
    segs = p.offset_segments()
    assert [s[2] for s in segs] == [3600, 7200, 3600]
    assert segs[0][1] == datetime(2023, 3, 26, 1, 0)  # 02:00 CET -> 03:00 CEST
    assert segs[1][1] == datetime(2023, 10, 29, 1, 0)  # 03:00 CEST -> 02:00 CET
    assert segs[0][0] == p.utc_start and segs[-1][1] == p.utc_end


def test_country_timezone() -> None:
    assert country_timezone("KH", "", ["KH=Asia/Phnom_Penh"]) == KH
    assert country_timezone("kh", "", []) == KH  # from the system zone table
    assert country_timezone("KH", "UTC", ["KH=Asia/Phnom_Penh"]) == "UTC"
    assert country_timezone("US", "", ["US=America/New_York"]) == "America/New_York"
    with pytest.raises(ConfigError, match=r"analysis\.timezone"):
        country_timezone("US", "", [])
    with pytest.raises(ConfigError, match="CC=Area/City"):
        country_timezone("KH", "", ["Asia/Phnom_Penh"])


def _months(store, period: str, zone: str = KH) -> dict[str, int]:
    result = analyze(store, "KH", parse_period(period, zone), compare_previous=False)
    return {m["month"]: m["measurements"] for m in result.to_json()["coverage"]["by_month"]}


def test_new_year_in_phnom_penh(store) -> None:
    """2023-12-31 18:00 UTC is 01:00 on 1 January 2024 in Phnom Penh."""
    rows = [
        ooni("https://a.example/", "2023-12-31 16:59:59"),  # 23:59:59 local, 31 Dec
        ooni("https://a.example/", "2023-12-31 17:00:00"),  # 00:00 local, 1 Jan 2024
        ooni("https://a.example/", "2023-12-31 18:00:00"),  # 01:00 local, 1 Jan 2024
        ooni("https://a.example/", "2022-12-31 17:00:00"),  # 00:00 local, 1 Jan 2023
        ooni("https://a.example/", "2022-12-31 16:59:00"),  # still 2022 locally
    ]
    with store.engine.begin() as conn:
        write_measurements(conn, rows)
    m2023 = _months(store, "2023")
    assert m2023["2023-12"] == 1 and m2023["2023-01"] == 1 and sum(m2023.values()) == 2
    m2024 = _months(store, "2024-01..2024-01")
    assert m2024 == {"2024-01": 2}
    # the same rows in UTC fall differently
    utc = _months(store, "2023", "UTC")
    assert utc["2023-12"] == 3 and utc["2023-01"] == 0 and sum(utc.values()) == 3


def test_local_days_across_daylight_saving_time(store) -> None:
    rows = [
        ooni("https://a.example/", "2023-03-25 23:30:00", status="anomaly"),  # CET: 26 Mar 00:30
        ooni("https://a.example/", "2023-03-26 22:30:00", status="anomaly"),  # CEST: 27 Mar 00:30
    ]
    with store.engine.begin() as conn:
        write_measurements(conn, rows)
    result = analyze(
        store, "KH", parse_period("2023-03-26..2023-03-27", "Europe/Berlin"), compare_previous=False
    )
    url = result.urls.iloc[0]
    assert (url["first_anomaly"], url["last_anomaly"]) == ("2023-03-26", "2023-03-27")
