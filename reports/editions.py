"""Report editions: hashes that identify the figures, and snapshots that freeze them.

An endorsed report is cited for years. When new measurements arrive (late uploads, a new
ingest), re-running the analysis would change its figures; so an edition in ``review`` or
``endorsed`` status keeps a snapshot of the exact analysis result it was made from, and
regenerating that edition (another language, a fixed typo in a Markdown section) renders the
snapshot instead of the store. The snapshot's SHA-256 is recorded in the store and checked
before the snapshot is read.

``data_hash`` is the SHA-256 of every analysis table (as CSV) and ``config_hash`` that of the
analysis and report settings; both are printed on the report's cover.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import pickle
from pathlib import Path
from typing import TYPE_CHECKING, Any

from censorwatch.errors import CensorwatchError
from censorwatch.measurement import utcnow
from censorwatch.testlists.csvformat import atomic_write_bytes

if TYPE_CHECKING:
    from censorwatch.analysis import AnalysisResult
    from censorwatch.config import Config
    from censorwatch.store import Store
    from censorwatch.store.models import ReportEdition

# The store's models and the analysis (SQLAlchemy, pandas) are imported by the functions that
# use them: `censorwatch report --help` reads STATUSES from here (issue #15).

STATUSES = ("draft", "review", "endorsed")
FROZEN = ("review", "endorsed")


def data_hash(result: AnalysisResult) -> str:
    digest = hashlib.sha256()
    for name, df in sorted(result.tables().items()):
        buffer = io.StringIO()
        df.to_csv(buffer, index=False, lineterminator="\n")
        digest.update(name.encode() + b"\0" + buffer.getvalue().encode("utf-8") + b"\0")
    return digest.hexdigest()


def config_hash(config: Config) -> str:
    settings: dict[str, Any] = {
        "country": config.country,
        "report": dataclasses.asdict(config.report),
    }
    if hasattr(config, "analysis"):
        settings["analysis"] = dataclasses.asdict(config.analysis)
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def snapshot_dir(config: Config) -> Path:
    return config.data_path / "editions"


def save_snapshot(
    config: Config, result: AnalysisResult, previous: AnalysisResult | None, digest: str
) -> tuple[Path, str]:
    """Write the analysis results of an edition; returns the path and the file's SHA-256."""
    payload = pickle.dumps({"result": result, "previous": previous}, protocol=5)
    path = snapshot_dir(config) / (
        f"{result.country}-{result.period.start}-{result.period.end}-{digest[:16]}.pickle"
    )
    atomic_write_bytes(path, payload)
    return path, hashlib.sha256(payload).hexdigest()


def load_snapshot(edition: ReportEdition) -> tuple[AnalysisResult, AnalysisResult | None]:
    """The frozen results of ``edition``, after checking the file is the one recorded."""
    if not edition.snapshot_ref:
        raise CensorwatchError(f"edition {edition.id} has no snapshot")
    ref, _, expected = edition.snapshot_ref.rpartition("#sha256=")
    path = Path(ref)
    try:
        payload = path.read_bytes()
    except OSError as exc:
        raise CensorwatchError(
            f"{path}: snapshot of edition {edition.id} unreadable: {exc}"
        ) from None
    if hashlib.sha256(payload).hexdigest() != expected:
        raise CensorwatchError(
            f"{path}: snapshot of edition {edition.id} was modified; refusing it"
        )
    # Our own file, checked above against the hash the store recorded when it was written.
    data = pickle.loads(payload)
    return data["result"], data["previous"]


def frozen_edition(store: Store, country: str, start: Any, end: Any) -> ReportEdition | None:
    """The newest endorsed (else review) edition with a snapshot for this country and period."""
    from sqlalchemy import select

    from censorwatch.store.models import ReportEdition

    with store.session() as s:
        rows = s.scalars(
            select(ReportEdition)
            .where(
                ReportEdition.country == country,
                ReportEdition.period_start == start,
                ReportEdition.period_end == end,
                ReportEdition.status.in_(FROZEN),
                ReportEdition.snapshot_ref.is_not(None),
            )
            .order_by(ReportEdition.id.desc())
        ).all()
    for status in ("endorsed", "review"):
        for row in rows:
            if row.status == status:
                return row
    return None


def record_edition(store: Store, **fields: Any) -> int:
    from censorwatch.store.models import ReportEdition

    with store.session() as s:
        row = ReportEdition(created_at=utcnow(), **fields)
        s.add(row)
        s.flush()
        return row.id
