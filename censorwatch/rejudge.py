"""``censorwatch rejudge``: judge stored measurements again with today's rules and fingerprints.

Each judged row keeps the rules version (``verdict_version``) and the hash of the fingerprint
sets (``verdict_fingerprints_hash``) that judged it. When either changes (a new censorwatch,
``censorwatch fingerprints update``, a new ``verdict.fingerprint_files`` entry), the rows
judged before are re-judged from the full documents the store keeps, with the same engine
and the same :func:`censorwatch.verdict.apply_verdict` that ingest and the probes use. Rows
are read and written in batches by primary key, one transaction per batch, so an interrupted
run keeps what it finished and the next run goes on from there.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace

import sqlalchemy as sa

from censorwatch.fingerprints import FingerprintDB
from censorwatch.store import Store
from censorwatch.store.codec import decode_document
from censorwatch.store.models import MeasurementRow
from censorwatch.verdict import RULES_VERSION, apply_verdict, judge

#: The columns a verdict sets (the last five only on our own probe's rows).
VERDICT_COLUMNS = (
    "verdict_blocking",
    "verdict_confirmed",
    "verdict_fingerprint",
    "verdict_version",
    "verdict_fingerprints_hash",
)
PROBE_FLAG_COLUMNS = ("anomaly", "confirmed", "failure", "blocking", "accessible")


@dataclass
class RejudgeResult:
    """What a run did: rows looked at, whose verdict changed, and left as they were."""

    examined: int = 0
    changed: int = 0
    unchanged: int = 0
    #: Rows without a stored document (API rows): they keep OONI's flags and are not counted.
    without_document: int = 0
    rules_version: str = RULES_VERSION
    fingerprints_hash: str = ""
    by_verdict: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "examined": self.examined,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "without_document": self.without_document,
            "rules_version": self.rules_version,
            "fingerprints_hash": self.fingerprints_hash,
            "changed_to": dict(sorted(self.by_verdict.items())),
        }


def _selection(
    fingerprints: FingerprintDB, since: dt.datetime | None, everything: bool
) -> sa.ColumnElement[bool]:
    t = MeasurementRow.__table__.c
    cond = sa.and_(t.test_name == "web_connectivity", t.document.is_not(None))
    if since is not None:
        cond = sa.and_(cond, t.measurement_start_time >= since)
    if not everything:
        cond = sa.and_(
            cond,
            sa.or_(
                t.verdict_version.is_(None),
                t.verdict_version != RULES_VERSION,
                t.verdict_fingerprints_hash.is_(None),
                t.verdict_fingerprints_hash != fingerprints.hash,
            ),
        )
    return cond


def count_stale(store: Store, fingerprints: FingerprintDB, since: dt.datetime | None = None) -> int:
    """How many stored rows today's rules or fingerprints have not judged."""
    t = MeasurementRow.__table__
    with store.engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(t)
                .where(_selection(fingerprints, since, False))
            ).scalar_one()
        )


def rejudge(
    store: Store,
    fingerprints: FingerprintDB,
    *,
    since: dt.datetime | None = None,
    everything: bool = False,
    batch_size: int = 2000,
    progress: Callable[[int], None] | None = None,
) -> RejudgeResult:
    """Re-judge the rows that need it (or, with ``everything``, all rows since ``since``)."""
    t = MeasurementRow.__table__
    c = t.c
    result = RejudgeResult(fingerprints_hash=fingerprints.hash)
    cond = _selection(fingerprints, since, everything)
    cols = [c.id, c.source, c.document, *(c[n] for n in VERDICT_COLUMNS + PROBE_FLAG_COLUMNS)]
    update = (
        t.update()
        .where(c.id == sa.bindparam("_id"))
        .values({n: sa.bindparam(n) for n in VERDICT_COLUMNS + PROBE_FLAG_COLUMNS})
    )
    last_id = 0
    while True:
        with store.engine.begin() as conn:
            rows = conn.execute(
                sa.select(*cols).where(cond, c.id > last_id).order_by(c.id).limit(batch_size)
            ).all()
            if not rows:
                break
            params = []
            for row in rows:
                last_id = row.id
                doc = decode_document(row.document)
                if doc is None:
                    result.without_document += 1
                    continue
                result.examined += 1
                m = SimpleNamespace(
                    source=row.source, **{n: getattr(row, n) for n in PROBE_FLAG_COLUMNS}
                )
                apply_verdict(m, judge(doc, fingerprints), fingerprints)  # type: ignore[arg-type]
                new = {n: getattr(m, n) for n in VERDICT_COLUMNS + PROBE_FLAG_COLUMNS}
                if (row.verdict_blocking, row.verdict_confirmed, row.verdict_fingerprint) != (
                    new["verdict_blocking"],
                    new["verdict_confirmed"],
                    new["verdict_fingerprint"],
                ):
                    result.changed += 1
                    key = (new["verdict_blocking"] or "none") + (
                        " (confirmed)" if new["verdict_confirmed"] else ""
                    )
                    result.by_verdict[key] = result.by_verdict.get(key, 0) + 1
                else:
                    result.unchanged += 1
                params.append({"_id": row.id, **new})
            if params:
                conn.execute(update, params)
        if progress is not None:
            progress(len(rows))
    return result
