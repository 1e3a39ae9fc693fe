"""The store: SQLAlchemy models, Alembic migrations and idempotent bulk writes.

Open it with :func:`open_store`; everything else in censorwatch reads and writes through it.
"""

from __future__ import annotations

from censorwatch.store.bulk import WriteResult, write_measurements
from censorwatch.store.engine import Store, make_engine, normalise_url
from censorwatch.store.jobs import job_run, last_job_runs
from censorwatch.store.migrate import current_revision, ensure_schema, head_revision, upgrade

__all__ = [
    "Store",
    "WriteResult",
    "current_revision",
    "ensure_schema",
    "head_revision",
    "job_run",
    "last_job_runs",
    "make_engine",
    "normalise_url",
    "open_store",
    "upgrade",
    "write_measurements",
]


def open_store(url: str, *, migrate: bool = True) -> Store:
    """Open the database at ``url``, creating or upgrading its schema unless ``migrate=False``."""
    return Store(url, migrate=migrate)
