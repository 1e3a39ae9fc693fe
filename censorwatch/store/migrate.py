"""Schema migrations: Alembic, shipped inside the package, run by censorwatch itself.

``censorwatch init`` and ``censorwatch db upgrade`` call :func:`upgrade`; every other command
calls :func:`ensure_schema` when it opens the store, so a database made by an older release
is upgraded on first use, in one transaction per revision, without losing rows.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import inspect, text
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from censorwatch.errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

    from censorwatch.store.engine import Store

# Alembic is imported only when a migration is to be run (or the revision chain cannot be
# read from the files): a store that is up to date is checked with one SQL query, so
# ``censorwatch probe run`` does not pay for Alembic (and Mako) on every start.

#: Advisory lock id for migrations on PostgreSQL ("cwmigrat" as a 64-bit integer).
_LOCK_KEY = int.from_bytes(b"cwmigrat", "big") & 0x7FFF_FFFF_FFFF_FFFF
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _alembic_config() -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


_ASSIGN_RE = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=\s*(.+?)\s*$", re.MULTILINE)


def _chain_from_files() -> list[str] | None:
    """The revisions, oldest first, read from the migration files without Alembic; None
    when the chain is not a plain line (then Alembic reads it)."""
    down_of: dict[str, str | None] = {}
    for path in sorted((MIGRATIONS_DIR / "versions").glob("*.py")):
        found = dict(_ASSIGN_RE.findall(path.read_text(encoding="utf-8")))
        if "revision" not in found:
            continue
        try:
            rev = ast.literal_eval(found["revision"])
            down = ast.literal_eval(found.get("down_revision", "None"))
        except (ValueError, SyntaxError):
            return None
        if not isinstance(rev, str) or not (down is None or isinstance(down, str)):
            return None
        down_of[rev] = down
    child_of = {down: rev for rev, down in down_of.items()}
    if len(child_of) != len(down_of):
        return None  # a branch point
    chain: list[str] = []
    current: str | None = None
    while current in child_of:
        current = child_of[current]
        chain.append(current)
    return chain if chain and len(chain) == len(down_of) else None


def _chain_from_alembic() -> list[str]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_alembic_config())
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def head_revision() -> str:
    """The newest revision this version of censorwatch knows."""
    chain = _chain_from_files()
    if chain is not None:
        return chain[-1]
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def revisions() -> list[str]:
    """All known revisions, oldest first."""
    return _chain_from_files() or _chain_from_alembic()


def _read_version(conn: Any) -> str | None:
    """``alembic_version``'s row, by plain SQL (what Alembic's MigrationContext reads)."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    if len(rows) > 1:
        from alembic.runtime.migration import MigrationContext

        return MigrationContext.configure(conn).get_current_revision()
    return rows[0] if rows else None


def current_revision(store: Store) -> str | None:
    """The revision the database is at, or ``None`` for an empty database."""
    try:
        with store.engine.connect() as conn:
            return _read_version(conn)
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise StoreError(f"cannot connect to {store.display_url}: {reason}") from None


def upgrade(store: Store, revision: str = "head") -> str:
    """Upgrade (or create) the schema to ``revision``; returns the revision reached."""
    from alembic import command

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


def create_fresh(store: Store) -> bool:
    """Create the head schema in an empty database from the models, and stamp it with the
    head revision, without Alembic; False (nothing done) when the database holds any of our
    tables already, so that Alembic takes it from where it is.

    The result is the schema the migrations build (``tests/test_store.py`` compares the two,
    table by table, on SQLite and PostgreSQL), as Alembic's documentation suggests for a new
    database. It keeps Alembic and Mako (10 MiB) out of a volunteer's first probe run.
    """
    from censorwatch.store.models import Base

    head = head_revision()
    try:
        with store.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            if _read_version(conn) is not None:
                return True  # another process created it meanwhile
            existing = set(inspect(conn).get_table_names())
            if existing & (set(Base.metadata.tables) | {"alembic_version"}):
                return False
            Base.metadata.create_all(conn)
            conn.execute(
                text(
                    "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
                    "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
                )
            )
            conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": head})
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise StoreError(f"cannot create the store in {store.display_url}: {reason}") from None
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot create the store in {store.display_url}: {exc}") from None
    return True


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
    if current is None and create_fresh(store):
        return
    upgrade(store)
