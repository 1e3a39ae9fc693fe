"""Loading lists into the store with their history (``testlist_entries``, ``testlist_changes``).

The annual report needs to say since when a URL has been tested and what happened to the list
during the year. Each import compares the list file (and its side file) with what the store
holds for that list and records, in one transaction, every addition, change, retirement and
removal, with a timestamp, a reason and an author. The reason and author come from the side
file's change log when the change was made with ``censorwatch testlist`` (its time too);
otherwise the import says what it saw. Importing the same file twice records nothing new.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import insert, or_, select

from censorwatch.measurement import utcnow
from censorwatch.store import Store
from censorwatch.store.models import MeasurementRow, TestlistChange, TestlistEntry
from censorwatch.testlists.csvformat import Testlist, content_hash, read_testlist
from censorwatch.testlists.sidefile import Change, ListMeta, load_meta

#: What ``testlist_changes.action`` a side-file action becomes.
_CHANGE_ACTIONS = {"changed", "status", "tagged", "untagged", "retired"}
#: Values of ``blocking`` / ``verdict_blocking`` that do not mean "blocked".
_NOT_BLOCKED = {"false", "", "accessible", "ok", "none"}


@dataclass
class ImportResult:
    list_name: str
    path: Path
    list_hash: str
    counts: dict[str, int] = field(
        default_factory=lambda: {"added": 0, "changed": 0, "retired": 0, "removed": 0}
    )
    unchanged: int = 0

    @property
    def total_changes(self) -> int:
        return sum(self.counts.values())


def list_version(tl: Testlist, meta: ListMeta) -> str:
    """The content hash of one list with its side file (as :func:`load_inputs` computes it)."""
    parts = [tl]
    if meta.sha256 is not None:
        parts.append(Testlist(path=meta.path, rows=(), sha256=meta.sha256))
    return content_hash(parts)


def _parse_date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _parse_at(text: str) -> dt.datetime | None:
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value


def _latest(
    meta: ListMeta, url: str, actions: set[str], after: dt.datetime | None
) -> Change | None:
    for change in reversed(meta.changes_for(url)):
        if change.action in actions:
            at = _parse_at(change.at)
            if after is None or at is None or at >= after:
                return change
            return None
    return None


def import_testlist(
    store: Store,
    path: str | os.PathLike[str],
    *,
    now: dt.datetime | None = None,
    author: str = "",
) -> ImportResult:
    """Bring the store's copy of one list up to date and record what changed (one transaction)."""
    tl = read_testlist(path)
    meta = load_meta(tl.path)
    now = now or utcnow()
    version = list_version(tl, meta)
    result = ImportResult(tl.name, tl.path, version)
    fname = tl.path.name
    with store.session() as s:
        existing = {
            e.url: e
            for e in s.scalars(select(TestlistEntry).where(TestlistEntry.list_name == tl.name))
        }

        new_entries: list[dict[str, Any]] = []
        change_rows: list[dict[str, Any]] = []

        def record(
            action: str, url: str, changes: dict[str, Any], reason: str, logged: Change | None
        ) -> None:
            at = (_parse_at(logged.at) if logged else None) or now
            change_rows.append(
                {
                    "list_name": tl.name,
                    "url": url,
                    "action": action,
                    "changes": changes or None,
                    "reason": logged.reason if logged else reason,
                    "author": (logged.author if logged and logged.author else author) or None,
                    "changed_at": min(at, now),
                    "list_hash": version,
                }
            )
            result.counts[action] += 1

        seen: set[str] = set()
        for row in tl.rows:
            if row.url in seen:
                continue  # a duplicate row; the linter reports it
            seen.add(row.url)
            values: dict[str, Any] = {
                "category_code": row.category_code[:16],
                "category_description": row.category_description[:255] or None,
                "date_added": _parse_date(row.date_added),
                "source": row.source[:255] or None,
                "notes": row.notes or None,
                "status": meta.status(row.url),
                "tags": meta.tags(row.url) or None,
            }
            entry = existing.get(row.url)
            if entry is None or entry.removed_at is not None:
                logged = _latest(meta, row.url, {"added"}, None)
                fields = {k: [None, _jsonable(v)] for k, v in values.items() if v is not None}
                if entry is None:
                    new_entries.append(
                        {
                            "list_name": tl.name,
                            "url": row.url,
                            "first_seen_at": now,
                            "last_changed_at": now,
                            **values,
                        }
                    )
                    record("added", row.url, fields, f"in {fname} when first imported", logged)
                    continue
                entry.removed_at = None
                for k, v in values.items():
                    setattr(entry, k, v)
                entry.last_changed_at = now
                record("added", row.url, fields, f"back in {fname}", logged)
                continue
            changes = {
                k: [_jsonable(getattr(entry, k)), _jsonable(v)]
                for k, v in values.items()
                if _jsonable(getattr(entry, k)) != _jsonable(v)
            }
            if not changes:
                result.unchanged += 1
                continue
            retired = "status" in changes and values["status"] == "retired"
            action = "retired" if retired else "changed"
            logged = _latest(meta, row.url, _CHANGE_ACTIONS, entry.last_changed_at)
            for k, v in values.items():
                setattr(entry, k, v)
            entry.last_changed_at = now
            record(action, row.url, changes, f"changed in {fname}", logged)
        for url, entry in existing.items():
            if url in seen or entry.removed_at is not None:
                continue
            entry.removed_at = now
            entry.last_changed_at = now
            logged = _latest(meta, url, {"removed"}, None)
            record("removed", url, {}, f"no longer in {fname}", logged)
        s.flush()
        # New rows go in as one executemany each: a first import of the global list is
        # thousands of rows, which the ORM's unit of work would insert one object at a time.
        if new_entries:
            s.execute(insert(TestlistEntry), new_entries)
        if change_rows:
            s.execute(insert(TestlistChange), change_rows)
    return result


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return sorted(value) or None
    return value


def blocked_evidence(store: Store, url: str) -> str | None:
    """How the store knows ``url`` was ever found blocked (first such measurement), or None."""
    from censorwatch.testlists.normalise import normalise_url

    normal = normalise_url(url)
    variants = {url, normal}
    for scheme in ("http://", "https://"):
        if normal.startswith(scheme):
            other = ("https://" if scheme == "http://" else "http://") + normal[len(scheme) :]
            variants.add(other)
    m = MeasurementRow
    blocked = or_(
        m.confirmed.is_(True),
        m.verdict_confirmed.is_(True),
        m.blocking.is_not(None) & m.blocking.not_in(_NOT_BLOCKED),
        m.verdict_blocking.is_not(None) & m.verdict_blocking.not_in(_NOT_BLOCKED),
    )
    with store.session() as s:
        hit = s.execute(
            select(m.source, m.verdict_blocking, m.blocking, m.probe_asn, m.measurement_start_time)
            .where(m.input.in_(sorted(variants)), blocked)
            .order_by(m.measurement_start_time)
            .limit(1)
        ).first()
    if hit is None:
        return None
    how = hit.verdict_blocking or hit.blocking or "confirmed blocking"
    when = hit.measurement_start_time.date().isoformat()
    return f"{hit.source} measured {how} on AS{hit.probe_asn} on {when}"
