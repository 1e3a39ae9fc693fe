"""Shared test fixtures: stores on SQLite and on a real PostgreSQL, and the shared real data.

PostgreSQL: the URL comes from ``CENSORWATCH_TEST_PG`` (default: the local server at
127.0.0.1:5432, database ``test``). When nothing answers, PostgreSQL tests are skipped with the
reason, except under CI (``CI=true``), where a missing server fails them. Each test gets a
schema of its own, dropped afterwards, so tests never see each other's rows.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

REPO = Path(__file__).resolve().parent.parent
#: Real data for tests (OONI measurements, Citizen Lab lists); never copied into the repository.
SHARED_FIXTURES = Path(
    os.environ.get("CENSORWATCH_SHARED_FIXTURES", REPO.parent / "shared" / "fixtures")
)
DEFAULT_PG = "postgresql+psycopg://127.0.0.1:5432/test"

pytest_plugins = ["report_fixtures"]


def pg_base_url() -> str:
    return os.environ.get("CENSORWATCH_TEST_PG", DEFAULT_PG)


def _pg_available(url: str) -> str | None:
    """None when PostgreSQL answers at ``url``, else the reason it does not."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install '.[postgres]')"
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    host, port = parsed.host or "127.0.0.1", parsed.port or 5432
    try:
        with socket.create_connection((host, port), timeout=2):
            return None
    except OSError as exc:
        return f"no PostgreSQL at {host}:{port} ({exc}); set CENSORWATCH_TEST_PG"


def require_postgres() -> str:
    url = pg_base_url()
    reason = _pg_available(url)
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL is required under CI: {reason}")
        pytest.skip(reason)
    return url


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped after the test."""
    base = require_postgres()
    import sqlalchemy as sa

    schema = f"cwtest_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    url = f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    try:
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.sqlite3'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on the embedded default and on the shared deployment."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite3'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def store(db_url: str) -> Iterator:
    from censorwatch.store import open_store

    s = open_store(db_url)
    try:
        yield s
    finally:
        s.close()


def shared_fixture(*parts: str) -> Path:
    """A file of ../shared/fixtures; the test is skipped cleanly when it is absent."""
    path = SHARED_FIXTURES.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared fixture not available: {path}")
    return path


@pytest.fixture(autouse=True)
def private_user_config_dir(monkeypatch: pytest.MonkeyPatch, tmp_path_factory) -> Path:
    """platformdirs' user configuration directory (where the interactive consent is saved)
    is a fresh one per test: no test reads or writes the developer's own."""
    path = tmp_path_factory.mktemp("xdg-config")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(path))
    return path


@pytest.fixture
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No CENSORWATCH_* variables from the developer's shell, and a private cwd/data dir."""
    for name in list(os.environ):
        if name.startswith("CENSORWATCH_") and name != "CENSORWATCH_TEST_PG":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CENSORWATCH_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


@pytest.fixture
def shared() -> object:
    """``shared("ooni", "measurements", "x.json")`` -> path, or skip when absent."""
    return shared_fixture
