"""Schema migrations: Alembic, shipped inside the package, run by censorwatch itself.

``censorwatch init`` and ``censorwatch db upgrade`` call :func:`upgrade`; every other command
calls :func:`ensure_schema` when it opens the store, so a database made by an older release
is upgraded on first use, in one transaction per revision, without losing rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from censorwatch.errors import StoreError

if TYPE_CHECKING:
    from censorwatch.store.engine import Store

#: Advisory lock id for migrations on PostgreSQL ("cwmigrat" as a 64-bit integer).
_LOCK_KEY = int.from_bytes(b"cwmigrat", "big") & 0x7FFF_FFFF_FFFF_FFFF
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _alembic_config() -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str:
    """The newest revision this version of censorwatch knows."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def revisions() -> list[str]:
    """All known revisions, oldest first."""
    script = ScriptDirectory.from_config(_alembic_config())
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def current_revision(store: Store) -> str | None:
    """The revision the database is at, or ``None`` for an empty database."""
    try:
        with store.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise StoreError(f"cannot connect to {store.display_url}: {reason}") from None


def upgrade(store: Store, revision: str = "head") -> str:
    """Upgrade (or create) the schema to ``revision``; returns the revision reached."""
    cfg = _alembic_config()
    try:
        with store.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Two processes starting at once (scheduler and a manual command) must not
                # both create the tables: the second waits here, then finds nothing to do.
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise StoreError(f"cannot migrate {store.display_url}: {reason}") from None
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot migrate {store.display_url}: {exc}") from None
    reached = current_revision(store)
    return reached or ""


def ensure_schema(store: Store) -> None:
    """Bring the database to the head revision if it is behind; refuse one that is ahead."""
    current = current_revision(store)
    head = head_revision()
    if current == head:
        return
    if current is not None and current not in revisions():
        raise StoreError(
            f"{store.display_url} is at schema revision {current}, which this version of "
            f"censorwatch does not know (newest known: {head}); upgrade censorwatch"
        )
    upgrade(store)
