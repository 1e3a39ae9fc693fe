"""Per-source progress of ingest: a watermark and a resumable cursor, kept in the store.

Why in the store and not in a file: the cursor must be committed in the *same* transaction as
the measurements of the page it points past. Then a crash (or Ctrl-C) at any instant leaves
either the page and its cursor, or neither, and the next run resumes exactly where the last
committed page ended; the idempotent writes make any re-read page harmless anyway.

Source names: ``ooni-api:KH:web_connectivity:anomaly``, ``ooni-raw:KH``, ...
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from censorwatch.measurement import utcnow
from censorwatch.store.models import IngestState

_TABLE = IngestState.__table__


@dataclass
class SourceState:
    """What the store remembers about one source."""

    source: str
    watermark: datetime | None = None
    cursor: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def load_state(conn: Connection, source: str) -> SourceState:
    """The saved state of ``source`` (an empty one when it was never ingested)."""
    row = conn.execute(
        select(_TABLE.c.watermark, _TABLE.c.cursor, _TABLE.c.details).where(
            _TABLE.c.source == source
        )
    ).first()
    if row is None:
        return SourceState(source)
    return SourceState(source, row.watermark, row.cursor, dict(row.details or {}))


def save_state(conn: Connection, state: SourceState) -> None:
    """Upsert ``state`` inside the caller's transaction (commit it with the data it covers)."""
    values = {
        "source": state.source,
        "watermark": state.watermark,
        "cursor": state.cursor,
        "details": state.details or None,
        "updated_at": utcnow(),
    }
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(_TABLE).values(values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["source"],
        set_={k: stmt.excluded[k] for k in ("watermark", "cursor", "details", "updated_at")},
    )
    conn.execute(stmt)
