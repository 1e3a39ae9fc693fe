"""The [schedule] strings, checked against a fake clock (next fire times from a fixed "now")."""

from __future__ import annotations

import json
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from censorwatch.config import load_config
from censorwatch.errors import ConfigError
from censorwatch.scheduler.jobs import reporting_period
from censorwatch.scheduler.triggers import (
    STATE_FILENAME,
    installation_minute,
    parse_schedule,
    parse_window,
)

PP = ZoneInfo("Asia/Phnom_Penh")
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=PP)


def next_times(sched, n: int = 3, now: datetime = NOW) -> list[datetime]:
    out, prev = [], None
    t = now
    for _ in range(n):
        t = sched.trigger.get_next_fire_time(prev, t)
        out.append(t)
        prev = t
        t = t.replace(microsecond=t.microsecond + 1) if t.microsecond < 999999 else t
    return out


def test_interval(tmp_path) -> None:
    sched = parse_schedule("ingest-ooni", "every 6h", timezone=PP)
    first = sched.trigger.get_next_fire_time(None, NOW)
    second = sched.trigger.get_next_fire_time(first, first)
    assert (second - first).total_seconds() == 6 * 3600
    assert sched.description == "every 6h"
    for spec, seconds in [("every 30 minutes", 1800), ("every 2d", 172800), ("every 45s", 45)]:
        assert parse_schedule("x", spec, timezone=PP).trigger.interval.total_seconds() == seconds


def test_cron_uses_crontab_weekdays() -> None:
    monthly = parse_schedule("analyze", "0 3 1 * *", timezone=PP)
    assert next_times(monthly, 2) == [
        datetime(2026, 4, 1, 3, 0, tzinfo=PP),
        datetime(2026, 5, 1, 3, 0, tzinfo=PP),
    ]
    # crontab: 1 = Monday. 2026-03-16 is a Monday (APScheduler 3 alone would say Tuesday).
    weekly = parse_schedule("x", "30 6 * * 1", timezone=PP)
    assert next_times(weekly, 1) == [datetime(2026, 3, 16, 6, 30, tzinfo=PP)]
    sunday = parse_schedule("x", "0 0 * * 0", timezone=PP)
    assert next_times(sunday, 1)[0].weekday() == 6
    weekdays = parse_schedule("x", "0 8 * * 1-5", timezone=PP)
    assert {t.weekday() for t in next_times(weekdays, 7)} == {0, 1, 2, 3, 4}
    every_day = parse_schedule("x", "0 8 * * 0-6", timezone=PP)
    assert len({t.weekday() for t in next_times(every_day, 7)}) == 7


def test_daily_minute_is_random_within_window_and_stable(tmp_path) -> None:
    picks = set()
    for i in range(30):
        state = tmp_path / f"s{i}"
        hour, minute = installation_minute(state, "probe", "09:00-21:00", jitter_seconds=600)
        assert 9 * 60 <= hour * 60 + minute < 21 * 60 - 10
        picks.add((hour, minute))
        # Chosen once: the same installation gets the same minute every time.
        for _ in range(3):
            assert installation_minute(state, "probe", "09:00-21:00", 600) == (hour, minute)
    assert len(picks) > 5  # spread, not everyone at 09:00
    saved = json.loads((tmp_path / "s0" / STATE_FILENAME).read_text())
    assert saved["daily"]["probe"]["window"] == "09:00-21:00"


def test_daily_schedule_fires_once_a_day_in_window(tmp_path) -> None:
    sched = parse_schedule(
        "probe", "daily", timezone=PP, jitter_seconds=0, window="22:00-02:00", state_dir=tmp_path
    )
    times = next_times(sched, 3)
    assert [(t - times[0]).days for t in times] == [0, 1, 2]
    assert times[0].hour in (22, 23, 0, 1)
    again = parse_schedule(
        "probe", "daily", timezone=PP, jitter_seconds=0, window="22:00-02:00", state_dir=tmp_path
    )
    assert again.signature == sched.signature
    fixed = parse_schedule("probe", "daily 10:30", timezone=PP)
    assert next_times(fixed, 1) == [datetime(2026, 3, 11, 10, 30, tzinfo=PP)]


def test_jitter_is_applied() -> None:
    assert parse_schedule("x", "every 1h", timezone=PP, jitter_seconds=600).trigger.jitter == 600
    sched = parse_schedule("x", "0 13 * * *", timezone=PP, jitter_seconds=600)
    assert sched.trigger.jitter == 600
    delays = {
        (sched.trigger.get_next_fire_time(None, NOW) - NOW).total_seconds() for _ in range(20)
    }
    assert all(3600 <= d <= 4200 for d in delays) and len(delays) > 1


@pytest.mark.parametrize("spec", ["off", "never", "", "OFF"])
def test_off(spec) -> None:
    assert parse_schedule("probe", spec, timezone=PP) is None


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("every 0h", "must be positive"),
        ("sometimes", "cannot read 'sometimes'"),
        ("61 3 1 * *", "not a cron expression"),
        ("0 3 * * 9", "out of range"),
        ("daily 25:00", "not a time of day"),
    ],
)
def test_errors_name_the_key(spec, message) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        parse_schedule("ingest-ooni", spec, timezone=PP)
    assert "schedule.ingest_ooni" in str(info.value)


def test_window_errors() -> None:
    assert parse_window("09:00-21:00") == (540, 1260)
    with pytest.raises(ConfigError, match="probe_window"):
        parse_window("9-21")
    with pytest.raises(ConfigError, match="empty"):
        parse_window("10:00-10:00")


def test_reporting_period(isolated_env) -> None:
    cfg = load_config(environ={})
    assert reporting_period(cfg, today=date(2023, 6, 1)) == (
        date(2023, 1, 1),
        date(2023, 5, 31),
        "2023-01-01..2023-12-31",
    )
    # On the first day of a new year the whole year just ended is covered.
    assert reporting_period(cfg, today=date(2024, 1, 1))[:2] == (
        date(2023, 1, 1),
        date(2023, 12, 31),
    )
    cfg.schedule.period_start = "07-01"  # the Cambodian July-to-June report
    assert reporting_period(cfg, today=date(2024, 3, 1)) == (
        date(2023, 7, 1),
        date(2024, 2, 29),
        "2023-07-01..2024-06-30",
    )
    cfg.schedule.period_start = "13-01"
    with pytest.raises(ConfigError, match="period_start"):
        reporting_period(cfg, today=date(2024, 3, 1))


def test_config_keys_and_masking(isolated_env) -> None:
    from censorwatch.config import effective_items

    cfg = load_config(
        environ={
            "CENSORWATCH_ALERTS_SMTP_PASSWORD": "hunter2",
            "CENSORWATCH_ALERTS_WEBHOOK_URL": "https://api.telegram.org/bot123:SECRET/sendMessage",
            "CENSORWATCH_ALERTS_SMTP_TO": "a@example.org, b@example.org",
            "CENSORWATCH_SCHEDULE_SHUTDOWN_GRACE_SECONDS": "5",
        }
    )
    assert cfg.alerts.smtp_to == ["a@example.org", "b@example.org"]
    assert cfg.schedule.shutdown_grace_seconds == 5
    shown = {k: v for k, v, _ in effective_items(cfg)}
    assert shown["alerts.smtp_password"] == "********"
    assert shown["alerts.webhook_url"] == "********"
    assert "SECRET" not in json.dumps(shown)
