"""The store: SQLAlchemy models, Alembic migrations and idempotent bulk writes.

Open it with :func:`open_store`; everything else in censorwatch reads and writes through it.

The names below are loaded from their modules when first used (PEP 562): ``from
censorwatch.store import open_store`` must not import the ORM models and the bulk writer
(SQLAlchemy's ORM, orjson, Zstandard: about 0.1 s) for a command that only reads a few
counts (``censorwatch status``, issue #15).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from censorwatch.store.bulk import WriteResult, write_measurements
    from censorwatch.store.engine import Store, make_engine, normalise_url
    from censorwatch.store.jobs import job_run, last_job_runs
    from censorwatch.store.migrate import current_revision, ensure_schema, head_revision, upgrade

#: Each public name and the submodule that defines it.
_LAZY: dict[str, str] = {
    "WriteResult": "bulk",
    "write_measurements": "bulk",
    "Store": "engine",
    "make_engine": "engine",
    "normalise_url": "engine",
    "job_run": "jobs",
    "last_job_runs": "jobs",
    "current_revision": "migrate",
    "ensure_schema": "migrate",
    "head_revision": "migrate",
    "upgrade": "migrate",
}

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


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # found by plain lookup from now on
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


def open_store(url: str, *, migrate: bool = True) -> Store:
    """Open the database at ``url``, creating or upgrading its schema unless ``migrate=False``."""
    from censorwatch.store.engine import Store

    return Store(url, migrate=migrate)
