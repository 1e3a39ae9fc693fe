"""Reporting periods in the country's local time.

A Cambodian report counts "2023" from midnight of 1 January to midnight of 1 January 2024 in
Phnom Penh (UTC+7), and some reports run July to June. The store keeps naive UTC, so a
period is turned into a UTC range for the SQL ``WHERE`` clause plus the UTC offsets in force
inside it (:meth:`Period.offset_segments`), from which the SQL computes each measurement's
local day. Countries with daylight-saving time get one segment per offset.
"""

from __future__ import annotations

import calendar
import functools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from censorwatch.errors import ConfigError, InputError

_DAY = r"\d{4}-\d{2}-\d{2}"
_MONTH = r"\d{4}-\d{2}"
ZONE_TABLES = (Path("/usr/share/zoneinfo/zone.tab"), Path("/usr/share/zoneinfo/zone1970.tab"))


@dataclass(frozen=True)
class Period:
    """Local calendar days ``start`` to ``end``, both included, in ``timezone``."""

    start: date
    end: date
    timezone: str

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise InputError(f"period: end {self.end} is before start {self.start}")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"timezone: unknown time zone {self.timezone!r}") from None

    @property
    def label(self) -> str:
        return f"{self.start.isoformat()}..{self.end.isoformat()}"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def local_midnight_utc(self, day: date) -> datetime:
        """The naive UTC instant at which local ``day`` begins."""
        local = datetime(day.year, day.month, day.day, tzinfo=self.zone)
        return local.astimezone(UTC).replace(tzinfo=None)

    @property
    def utc_start(self) -> datetime:
        return self.local_midnight_utc(self.start)

    @property
    def utc_end(self) -> datetime:
        """Exclusive end: the UTC instant of the local midnight after ``end``."""
        return self.local_midnight_utc(self.end + timedelta(days=1))

    def months(self) -> list[str]:
        """Every ``YYYY-MM`` the period touches, in order."""
        out, y, m = [], self.start.year, self.start.month
        while (y, m) <= (self.end.year, self.end.month):
            out.append(f"{y:04d}-{m:02d}")
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return out

    def previous(self) -> Period:
        """The period of the same number of days that ends the day before this one starts.

        A whole-months period (a calendar year, July to June) gives the same months one
        period earlier, so 2023 is compared with 2022 even though 2024 is a leap year.
        """
        if self.start.day == 1 and self.end == _month_end(self.end):
            n_months = (self.end.year - self.start.year) * 12 + self.end.month - self.start.month
            n_months += 1
            y, m = _add_months(self.start.year, self.start.month, -n_months)
            ey, em = _add_months(self.end.year, self.end.month, -n_months)
            return Period(date(y, m, 1), _month_end(date(ey, em, 1)), self.timezone)
        end = self.start - timedelta(days=1)
        return Period(end - timedelta(days=self.days - 1), end, self.timezone)

    def tail(self, days: int) -> Period:
        """The last ``days`` local days of the period (all of it when shorter)."""
        start = max(self.start, self.end - timedelta(days=max(days, 1) - 1))
        return Period(start, self.end, self.timezone)

    def offset_segments(self) -> list[tuple[datetime, datetime, int]]:
        """``(utc_from, utc_to, offset_seconds)`` covering the period, one per UTC offset.

        Found by stepping six hours at a time and bisecting to the minute at each change, so
        it needs nothing but the zone database (no zone changes its offset twice in six
        hours).
        """
        return list(_offset_segments(self.timezone, self.utc_start, self.utc_end))

    def to_dict(self) -> dict[str, str]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "timezone": self.timezone,
        }


@functools.lru_cache(maxsize=64)
def _offset_segments(
    timezone: str, start: datetime, end: datetime
) -> tuple[tuple[datetime, datetime, int], ...]:
    zone = ZoneInfo(timezone)

    def offset(t: datetime) -> int:
        delta = t.replace(tzinfo=UTC).astimezone(zone).utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    segments: list[tuple[datetime, datetime, int]] = []
    seg_start, current = start, offset(start)
    t = start
    step = timedelta(hours=6)
    while t < end:
        nxt = min(t + step, end)
        if nxt < end and offset(nxt) != current:
            lo, hi = t, nxt
            while hi - lo > timedelta(minutes=1):
                mid = (lo + (hi - lo) / 2).replace(second=0, microsecond=0)
                if mid <= lo:
                    break
                if offset(mid) == current:
                    lo = mid
                else:
                    hi = mid
            segments.append((seg_start, hi, current))
            seg_start, current = hi, offset(hi)
        t = nxt
    segments.append((seg_start, end, current))
    return tuple(segments)


def _month_end(day: date) -> date:
    return date(day.year, day.month, calendar.monthrange(day.year, day.month)[1])


def _add_months(year: int, month: int, delta: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + delta
    return index // 12, index % 12 + 1


def _parse_day(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"--period: {what} {text!r} is not a date (YYYY-MM-DD)") from None


def parse_period(text: str, timezone: str) -> Period:
    """``2023-01-01..2023-12-31``, ``2023-07..2024-06`` (whole months) or ``2023`` (a year)."""
    value = (text or "").strip()
    if re.fullmatch(r"\d{4}", value):
        year = int(value)
        return Period(date(year, 1, 1), date(year, 12, 31), timezone)
    if re.fullmatch(rf"{_DAY}\.\.{_DAY}", value):
        a, b = value.split("..")
        return Period(_parse_day(a, "start"), _parse_day(b, "end"), timezone)
    if re.fullmatch(rf"{_MONTH}\.\.{_MONTH}", value):
        a, b = value.split("..")
        start = _parse_day(a + "-01", "start month")
        end = _month_end(_parse_day(b + "-01", "end month"))
        return Period(start, end, timezone)
    raise InputError(
        f"--period: {text!r} is not a period; use START..END as YYYY-MM-DD..YYYY-MM-DD "
        "(e.g. 2023-07-01..2024-06-30), YYYY-MM..YYYY-MM or a year YYYY"
    )


def _zone_tab_single(country: str) -> str | None:
    for table in ZONE_TABLES:
        if not table.is_file():
            continue
        zones = []
        for line in table.read_text(encoding="utf-8").splitlines():
            if line.startswith("#") or not line.strip():
                continue
            cols = line.split("\t")
            if len(cols) >= 3 and country in cols[0].split(","):
                zones.append(cols[2])
        if len(zones) == 1:
            return zones[0]
    return None


def country_timezone(country: str, explicit: str = "", pairs: list[str] | None = None) -> str:
    """The local time zone for ``country``: ``explicit``, else ``CC=Zone`` pairs, else the
    system zone table when the country has exactly one zone; otherwise an error that says
    which setting to add."""
    if explicit:
        return explicit
    country = country.upper()
    for pair in pairs or []:
        cc, sep, zone = pair.partition("=")
        if not sep or not zone.strip():
            raise ConfigError(f"analysis.country_timezones: {pair!r} is not CC=Area/City")
        if cc.strip().upper() == country:
            return zone.strip()
    found = _zone_tab_single(country)
    if found:
        return found
    raise ConfigError(
        f"no single local time zone known for {country}: set analysis.timezone or add "
        f"'{country}=Area/City' to analysis.country_timezones"
    )
