"""Opening the store: one engine per database URL, SQLite tuned, schema migrated on first use.

SQLite is the embedded default (a file in the data directory, WAL so a reader never blocks
the scheduler's writer, foreign keys on, a busy timeout so two processes wait instead of
failing). PostgreSQL is the shared deployment, selected by a ``postgresql+psycopg://`` URL.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from censorwatch.config import mask_url
from censorwatch.errors import StoreError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000


def normalise_url(url: str) -> str:
    """Accept the URLs people paste: ``postgres://`` and ``postgresql://`` mean psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


SQLITE_PAGE_SIZE = 16384


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # Only a new, empty database takes a page size (an existing one keeps its own): 16 KiB
    # pages hold a few compressed documents each instead of spilling every one of them onto
    # overflow pages, and make bulk inserts 5-25% cheaper (benchmarks/ingest_bench.py).
    cursor.execute(f"PRAGMA page_size = {SQLITE_PAGE_SIZE}")
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


def make_engine(url: str) -> Engine:
    """Create the engine for ``url``; fail with a message that names the (masked) URL."""
    url = normalise_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(f"database URL is not valid: {mask_url(url)!r}") from None
    kwargs: dict[str, Any] = {"future": True}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            try:
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the data directory for {database}: {exc}"
                ) from None
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    elif parsed.get_backend_name() == "postgresql":
        kwargs["pool_pre_ping"] = True
    try:
        engine = create_engine(parsed, **kwargs)
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        hint = ""
        if parsed.get_backend_name() == "postgresql":
            hint = " (install the PostgreSQL extra: pip install 'censorwatch[postgres]')"
        raise StoreError(f"no database driver for {mask_url(url)!r}: {exc}{hint}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_on_connect)
    return engine


class Store:
    """The database behind censorwatch: an engine, a session factory and the schema version.

    The session factory (SQLAlchemy's ORM, about 60 ms and 6 MiB to import) is made on the
    first :meth:`session`: ``censorwatch status`` reads with SQLAlchemy Core alone.
    """

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url)
        self._sessions: sessionmaker[Session] | None = None
        if migrate:
            from censorwatch.store.migrate import ensure_schema

            ensure_schema(self)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def display_url(self) -> str:
        return mask_url(self.url)

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any error."""
        if self._sessions is None:
            from sqlalchemy.orm import sessionmaker

            self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        with self._sessions() as session, session.begin():
            yield session

    def check_connection(self) -> None:
        try:
            with self.engine.connect():
                pass
        except OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise StoreError(f"cannot connect to {self.display_url}: {reason}") from None

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
