"""The ``[schedule]`` strings of the configuration, turned into APScheduler triggers.

Three forms are accepted, the ones people already know:

* ``daily`` (or ``daily HH:MM``): once a day. Plain ``daily`` picks a random minute inside a
  window (``probe_window = "09:00-21:00"``), chosen once per installation and remembered in the
  data directory, so volunteers do not all hit the network at the same minute and a restart
  does not move the run;
* ``every 6h`` (``s``, ``m``, ``h``, ``d``, or the words): a fixed interval;
* a five-field cron expression, ``0 3 1 * *`` (minute hour day month weekday, Sunday = 0 as
  in crontab);
* ``off`` (or ``never``, or empty): the job is not scheduled on this installation (a
  volunteer's laptop probes, the working group's server ingests).

``jitter_seconds`` delays each run by a random 0..N seconds on top.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from censorwatch.errors import ConfigError

STATE_FILENAME = "scheduler-state.json"
OFF = frozenset({"", "off", "never", "none", "disabled"})

_EVERY_RE = re.compile(
    r"^every\s+(\d+)\s*(s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?)$", re.I
)
_DAILY_RE = re.compile(r"^daily(?:\s+(?:at\s+)?(\d{1,2}):(\d{2}))?$", re.I)
_WINDOW_RE = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_CRON_DOW = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Schedule:
    """When one job runs: the trigger, and a signature that changes only when the config does.

    The scheduler keeps a persisted job (and its next run time, so a missed run is caught up)
    as long as the signature is unchanged; a new signature replaces the job's trigger.
    """

    job: str
    spec: str
    trigger: BaseTrigger
    signature: str
    description: str


def resolve_timezone(name: str) -> tzinfo:
    """``""`` -> the computer's own time zone (a volunteer's laptop is set to local time)."""
    if not name:
        from tzlocal import get_localzone

        return get_localzone()
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"schedule.timezone: unknown time zone {name!r}") from None


def parse_window(text: str, where: str = "schedule.probe_window") -> tuple[int, int]:
    """``"09:00-21:00"`` -> minutes after midnight ``(540, 1260)``; may wrap past midnight."""
    match = _WINDOW_RE.match(text.strip())
    if not match:
        raise ConfigError(f"{where}: expected HH:MM-HH:MM, got {text!r}")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
        raise ConfigError(f"{where}: not a time of day in {text!r}")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if start == end:
        raise ConfigError(f"{where}: the window {text!r} is empty")
    return start, end


def _read_state(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return {}  # a damaged state file only means a new random minute is chosen
    return data if isinstance(data, dict) else {}


def _write_state(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".scheduler-state.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def installation_minute(
    state_dir: Path, job: str, window: str, jitter_seconds: int = 0
) -> tuple[int, int]:
    """This installation's ``(hour, minute)`` for a daily job, inside ``window``.

    Chosen at random the first time and kept in ``scheduler-state.json`` in the data directory;
    chosen again only when the window changes. The last ``jitter_seconds`` of the window are
    left out so that the jittered run still falls inside it.
    """
    start, end = parse_window(window, f"schedule.{job.replace('-', '_')}_window")
    length = (end - start) % 1440 or 1440
    usable = max(1, length - (jitter_seconds + 59) // 60)
    path = state_dir / STATE_FILENAME
    state = _read_state(path)
    saved = state.get("daily", {}).get(job)
    if isinstance(saved, dict) and saved.get("window") == window:
        offset = saved.get("offset")
        if isinstance(offset, int) and 0 <= offset < usable:
            minute_of_day = (start + offset) % 1440
            return divmod(minute_of_day, 60)
    offset = secrets.randbelow(usable)
    state.setdefault("daily", {})[job] = {"window": window, "offset": offset}
    _write_state(path, state)
    return divmod((start + offset) % 1440, 60)


def _cron_day_of_week(field: str, where: str) -> str:
    """Crontab's weekday numbers (0 or 7 = Sunday) as names, which APScheduler 3 reads right.

    APScheduler 3 counts Monday as 0, so ``0 3 * * 1`` taken literally would run on Tuesdays.
    """
    items = []
    for item in field.split(","):
        match = re.fullmatch(r"(\d)(?:-(\d))?(/\d+)?", item)
        if not match:
            if re.search(r"\d", item):
                raise ConfigError(f"{where}: weekday {item!r}: use numbers 0-7 or names (mon)")
            items.append(item)
            continue
        first, last, step = match.groups()
        if int(first) > 7 or (last is not None and int(last) > 7):
            raise ConfigError(f"{where}: weekday {item!r} is out of range 0-7")
        if last is None:
            items.append(_CRON_DOW[int(first)] + (step or ""))
        elif step:
            raise ConfigError(f"{where}: write weekday steps with names, e.g. mon-fri/2")
        elif int(first) == 0 and int(last) >= 6:
            items.append("*")
        elif int(first) == 0:
            items.extend(["sun", f"mon-{_CRON_DOW[int(last)]}" if int(last) > 1 else "mon"])
        else:
            items.append(f"{_CRON_DOW[int(first)]}-{_CRON_DOW[int(last)]}")
    return ",".join(items)


def parse_schedule(
    job: str,
    spec: str,
    *,
    timezone: tzinfo,
    jitter_seconds: int = 0,
    window: str | None = None,
    state_dir: Path | None = None,
) -> Schedule | None:
    """Turn one ``[schedule]`` value into a :class:`Schedule`; ``None`` when it is ``off``."""
    where = f"schedule.{job.replace('-', '_')}"
    text = " ".join(spec.strip().split())
    if text.lower() in OFF:
        return None
    if jitter_seconds < 0:
        raise ConfigError(f"schedule.jitter_seconds: must not be negative ({jitter_seconds})")
    jitter = jitter_seconds or None
    tzname = str(timezone)

    if match := _EVERY_RE.match(text):
        amount, unit = int(match.group(1)), match.group(2)[0].lower()
        if amount <= 0:
            raise ConfigError(f"{where}: the interval in {spec!r} must be positive")
        seconds = amount * _UNIT_SECONDS[unit]
        trigger = IntervalTrigger(seconds=seconds, timezone=timezone, jitter=jitter)
        return Schedule(
            job,
            spec,
            trigger,
            f"interval {seconds}s; jitter {jitter_seconds}s",
            f"every {amount}{unit}" + (f", jitter {jitter_seconds}s" if jitter else ""),
        )

    if match := _DAILY_RE.match(text):
        if match.group(1) is not None:
            hour, minute = int(match.group(1)), int(match.group(2))
            if hour > 23 or minute > 59:
                raise ConfigError(f"{where}: not a time of day in {spec!r}")
        else:
            if not window:
                raise ConfigError(f"{where}: 'daily' needs a window such as 09:00-21:00")
            if state_dir is None:
                raise ConfigError(f"{where}: no data directory to remember the chosen minute")
            hour, minute = installation_minute(state_dir, job, window, jitter_seconds)
        trigger = CronTrigger(hour=hour, minute=minute, timezone=timezone, jitter=jitter)
        return Schedule(
            job,
            spec,
            trigger,
            f"daily {hour:02d}:{minute:02d}; tz {tzname}; jitter {jitter_seconds}s",
            f"daily {hour:02d}:{minute:02d} {tzname}"
            + (f", jitter {jitter_seconds}s" if jitter else ""),
        )

    fields = text.split(" ")
    if len(fields) == 5:
        minute, hour, day, month, dow = fields
        try:
            trigger = CronTrigger(
                minute=minute,
                hour=hour,
                day=day,
                month=month,
                day_of_week=_cron_day_of_week(dow, where),
                timezone=timezone,
                jitter=jitter,
            )
        except ValueError as exc:
            raise ConfigError(f"{where}: not a cron expression {spec!r}: {exc}") from None
        return Schedule(
            job,
            spec,
            trigger,
            f"cron {text}; tz {tzname}; jitter {jitter_seconds}s",
            f"cron {text} {tzname}" + (f", jitter {jitter_seconds}s" if jitter else ""),
        )
    raise ConfigError(
        f"{where}: cannot read {spec!r}; expected 'daily', 'daily HH:MM', 'every 6h', "
        "a cron expression such as '0 3 1 * *', or 'off'"
    )
