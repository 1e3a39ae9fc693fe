"""Event annotations: trainings, elections, laws... that explain a change in a chart.

A working group keeps a small CSV next to its configuration (``analysis.events_path``)::

    date,end_date,label,kind,source
    2023-07-23,,National Assembly election,election,https://www.nec.gov.kh/
    2023-03-01,2023-03-03,OONI Probe training for volunteers,training,

``date`` (YYYY-MM-DD) and ``label`` are required; ``end_date`` is empty for a one-day event;
``kind`` is one of :data:`KINDS`; ``source`` says where the fact comes from (a URL or a
citation), because an annotation in a report is an attributed fact, not a measured one. Bad
rows are reported as ``file:line: problem``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from censorwatch.analysis.period import Period
from censorwatch.errors import InputError

COLUMNS = ("date", "end_date", "label", "kind", "source")
KINDS = ("training", "election", "law", "outage", "blocking", "protest", "other")


@dataclass(frozen=True, order=True)
class Event:
    date: date
    end_date: date
    label: str
    kind: str
    source: str

    def overlaps(self, period: Period) -> bool:
        return self.date <= period.end and self.end_date >= period.start

    def to_dict(self) -> dict[str, str]:
        return {
            "date": self.date.isoformat(),
            "end_date": self.end_date.isoformat(),
            "label": self.label,
            "kind": self.kind,
            "source": self.source,
        }


def parse_events(text: str, where: str = "events.csv") -> list[Event]:
    """Parse the CSV text; ``where`` names the file in error messages."""
    rows = csv.reader(io.StringIO(text, newline=""))
    header = next(rows, None)
    if header is None:
        return []
    header = [h.strip().lower() for h in header]
    if header[: len(COLUMNS)] != list(COLUMNS):
        raise InputError(f"{where}:1: header must be {','.join(COLUMNS)}, got {','.join(header)}")
    events = []
    for row in rows:
        index = rows.line_num
        if not row or all(not cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
            continue
        if len(row) > len(COLUMNS):
            raise InputError(f"{where}:{index}: {len(row)} fields, expected {len(COLUMNS)}")
        cells = [c.strip() for c in row] + [""] * (len(COLUMNS) - len(row))
        raw_date, raw_end, label, kind, source = cells
        try:
            start = date.fromisoformat(raw_date)
        except ValueError:
            raise InputError(f"{where}:{index}: date {raw_date!r} is not YYYY-MM-DD") from None
        try:
            end = date.fromisoformat(raw_end) if raw_end else start
        except ValueError:
            raise InputError(f"{where}:{index}: end_date {raw_end!r} is not YYYY-MM-DD") from None
        if end < start:
            raise InputError(f"{where}:{index}: end_date {end} is before date {start}")
        if not label:
            raise InputError(f"{where}:{index}: label is empty")
        kind = kind.lower() or "other"
        if kind not in KINDS:
            raise InputError(f"{where}:{index}: kind {kind!r} is not one of {', '.join(KINDS)}")
        events.append(Event(start, end, label, kind, source))
    return sorted(events)


def load_events(path: str | Path | None, period: Period | None = None) -> list[Event]:
    """The events of ``path`` (none when empty), those overlapping ``period`` if given."""
    if not path:
        return []
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{p}: events file not found (analysis.events_path)") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{p}: not UTF-8 text: {exc}") from None
    events = parse_events(text, str(p))
    if period is not None:
        events = [e for e in events if e.overlaps(period)]
    return events
