"""The censorwatch command: global flags, init, db, config show, status, error handling."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from censorwatch.cli import cli
from censorwatch.store import head_revision


def run(*args: str, env: dict | None = None):
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    return result


def test_help_lists_commands(isolated_env: Path) -> None:
    result = run("--help")
    assert result.exit_code == 0
    for name in ("init", "db", "config", "status"):
        assert name in result.output


def test_init_creates_sqlite_store_in_data_dir(isolated_env: Path) -> None:
    result = run("init")
    assert result.exit_code == 0, result.output
    assert (isolated_env / "data" / "censorwatch.sqlite3").is_file()
    assert "created" in result.output
    again = run("init")
    assert "up to date" in again.output


def test_init_postgres_and_status_json(pg_url: str, isolated_env: Path) -> None:
    assert run("--db", pg_url, "init").exit_code == 0
    result = run("--db", pg_url, "status", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["dialect"] == "postgresql"
    assert data["schema_revision"] == head_revision()


def test_status_json_contract(isolated_env: Path) -> None:
    result = run("status", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    for key in ("measurements", "by_source", "by_test_name", "testlist_entries", "schema_revision"):
        assert key in data
    assert data["measurements"] == 0
    assert data["schema_revision"] == head_revision()


def test_status_table(isolated_env: Path) -> None:
    result = run("status")
    assert result.exit_code == 0
    assert "measurements" in result.output and "schema" in result.output


def test_db_commands(isolated_env: Path) -> None:
    assert "empty" in run("db", "current").output
    assert "-> " + head_revision() in run("db", "upgrade").output
    assert "up to date" in run("db", "current").output
    assert "already at" in run("db", "upgrade").output


def test_config_show_masks_and_explains(isolated_env: Path) -> None:
    (isolated_env / "censorwatch.toml").write_text("[probe]\ntimeout = 5\n", encoding="utf-8")
    env = {"CENSORWATCH_DB": "postgresql+psycopg://cw:s3cret@127.0.0.1/cw"}
    result = run("config", "show", env=env)
    assert result.exit_code == 0
    assert "s3cret" not in result.output
    assert "timeout = 5.0" in result.output and "censorwatch.toml" in result.output
    assert "env:CENSORWATCH_DB" in result.output
    data = json.loads(run("config", "show", "--json", env=env).output)
    assert data["values"]["probe.timeout"] == 5.0
    assert "s3cret" not in json.dumps(data)


def test_cli_flag_beats_environment(isolated_env: Path, tmp_path: Path) -> None:
    db = tmp_path / "flag.sqlite3"
    result = run(
        "--db",
        f"sqlite:///{db}",
        "config",
        "show",
        "--json",
        env={"CENSORWATCH_DB": "sqlite:///env.sqlite3"},
    )
    data = json.loads(result.output)
    assert data["values"]["database_url"] == f"sqlite:///{db}"
    assert data["origins"]["database_url"] == "cli"


def _console(*args: str, env_extra: dict | None = None, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CENSORWATCH_")}
    env["CENSORWATCH_DATA_DIR"] = str(cwd / "data")
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "censorwatch", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )


def test_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    (tmp_path / "censorwatch.toml").write_text("[probe]\ntimeout = 'soon'\n", encoding="utf-8")
    proc = _console("status", cwd=tmp_path)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "censorwatch.toml" in lines[0] and "probe.timeout" in lines[0]


def test_unreachable_database_is_one_line(tmp_path: Path) -> None:
    # Port 9 on loopback (discard) has no PostgreSQL: the error names the masked URL.
    proc = _console("--db", "postgresql+psycopg://cw:pw@127.0.0.1:9/x", "status", cwd=tmp_path)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "cannot connect to postgresql+psycopg://cw:********@127.0.0.1:9/x" in proc.stderr
    assert "pw@" not in proc.stderr


def test_verbose_shows_the_traceback(tmp_path: Path) -> None:
    proc = _console("--verbose", "--db", "nonsense://x", "status", cwd=tmp_path)
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr


@pytest.mark.parametrize("args", [["--version"], ["db", "--help"]])
def test_console_entry_point(tmp_path: Path, args: list[str]) -> None:
    proc = _console(*args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
