"""Event annotations CSV, the generated method text, and the [analysis] configuration."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pytest

from censorwatch.analysis import describe_method, parse_period
from censorwatch.analysis.events import Event, load_events, parse_events
from censorwatch.analysis.verdicts import Thresholds
from censorwatch.config import load_config
from censorwatch.errors import InputError

KH = "Asia/Phnom_Penh"
GOOD = """date,end_date,label,kind,source
2023-07-23,,National Assembly election,election,https://www.nec.gov.kh/
2023-03-01,2023-03-03,"Training, Phnom Penh",training,
# a comment line

2022-12-30,2023-01-02,Straddles the new year,other,notes
2021-05-01,,Too early,law,
"""


def test_parse_events_sorted_and_filtered(tmp_path: Path) -> None:
    events = parse_events(GOOD, "events.csv")
    assert [e.label for e in events] == [
        "Too early",
        "Straddles the new year",
        "Training, Phnom Penh",
        "National Assembly election",
    ]
    assert events[-1] == Event(
        date(2023, 7, 23),
        date(2023, 7, 23),
        "National Assembly election",
        "election",
        "https://www.nec.gov.kh/",
    )
    path = tmp_path / "events.csv"
    path.write_text(GOOD, encoding="utf-8")
    in_2023 = load_events(path, parse_period("2023", KH))
    assert [e.label for e in in_2023] == [
        "Straddles the new year",
        "Training, Phnom Penh",
        "National Assembly election",
    ]
    assert load_events("") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("day,label\n", "events.csv:1: header must be"),
        ("date,end_date,label,kind,source\n2023-02-30,,x,law,\n", "events.csv:2: date"),
        (
            "date,end_date,label,kind,source\n2023-02-03,03/02/2023,x,law,\n",
            "events.csv:2: end_date",
        ),
        ("date,end_date,label,kind,source\n2023-02-03,2023-02-01,x,law,\n", "before date"),
        ("date,end_date,label,kind,source\n\n2023-02-03,,,law,\n", "events.csv:3: label is empty"),
        ("date,end_date,label,kind,source\n2023-02-03,,x,party,\n", "events.csv:2: kind 'party'"),
        ("date,end_date,label,kind,source\n2023-02-03,,x,law,y,z\n", "events.csv:2: 6 fields"),
    ],
)
def test_event_errors_name_file_and_line(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_events(text, "events.csv")


def test_missing_events_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="events file not found"):
        load_events(tmp_path / "nope.csv")


def test_method_is_generated_from_the_thresholds() -> None:
    period = parse_period("2023-07..2024-06", KH)
    m = describe_method(Thresholds(), period, "KH")
    keys = [s.key for s in m.sentences]
    assert keys[:3] == ["period", "sources", "status"] and len(set(keys)) == len(keys)
    text = m.text
    for fragment in (
        "2023-07-01 to 2024-06-30",
        "Asia/Phnom_Penh",
        "at least 50% of at least 10 measurements",
        "at least 3 different days",
        "at least 1 network",
        "no more than 10%",
        "last 30 days",
        "2022-07-01 to 2023-06-30",
    ):
        assert fragment in text, fragment
    strict = dataclasses.replace(
        Thresholds(),
        likely_min_anomaly_rate=0.8,
        likely_min_networks=2,
        confirmed_min_agreement_days=0,
    )
    text = describe_method(strict, period, "KH").text
    assert "at least 80%" in text and "at least 2 networks" in text
    assert "our own probe and OONI" not in text
    data = m.to_dict()
    assert data["thresholds"]["likely_min_measurements"] == 10
    likely = next(s for s in data["sentences"] if s["key"] == "likely")
    assert likely["template"].format(**likely["params"]) == likely["text"]


def test_analysis_config_section(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    cfg_file = tmp_path / "conf" / "censorwatch.toml"
    cfg_file.write_text(
        '[analysis]\nlikely_min_days = 5\nevents_path = "events.csv"\n'
        'country_timezones = ["KH=Asia/Phnom_Penh", "TH=Asia/Bangkok"]\n',
        encoding="utf-8",
    )
    cfg = load_config(cfg_file, environ={"CENSORWATCH_ANALYSIS_LIKELY_MIN_ANOMALY_RATE": "0.6"})
    assert cfg.analysis.likely_min_days == 5
    assert cfg.analysis.likely_min_anomaly_rate == 0.6
    assert cfg.analysis.events_path == str(tmp_path / "conf" / "events.csv")
    assert cfg.analysis.country_timezones[-1] == "TH=Asia/Bangkok"
    assert Thresholds.from_settings(cfg.analysis).likely_min_days == 5
