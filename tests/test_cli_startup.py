"""Start-up of the ``censorwatch`` command (issue #15): load only what the command needs.

``censorwatch --help`` lists every command from :data:`censorwatch.cli.STAGE_COMMANDS`
without importing a stage; ``--version`` and ``<command> --help`` import no pandas, numpy,
SQLAlchemy, Alembic, Jinja2 or RE2; ``status`` reads an up-to-date store with SQLAlchemy Core
alone. Each check runs in a fresh interpreter (``python -X importtime``), since this test
process has imported everything already. Speed itself is measured by
``benchmarks/startup_bench.py``, not here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from censorwatch.cli import STAGE_COMMANDS, cli, stage_command_name

#: Libraries that none of the light commands may import (top-level module names).
HEAVY = (
    "pandas",
    "numpy",
    "sqlalchemy",
    "alembic",
    "mako",
    "jinja2",
    "re2",
    "rich",
    "matplotlib",
    "apscheduler",
    "psycopg",
)
#: The stages themselves: listing the commands imports none of them.
STAGES = (
    "censorwatch.testlists",
    "censorwatch.probes",
    "censorwatch.ingest",
    "censorwatch.analysis",
    "censorwatch.reports",
    "censorwatch.scheduler",
    "censorwatch.demo",
    "censorwatch.fingerprints_cli",
)
#: Nor the store or the configuration: ``--help`` and ``--version`` open neither.
ROOT_ONLY = (*STAGES, "censorwatch.store", "censorwatch.config")


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CENSORWATCH_")}
    env["CENSORWATCH_DATA_DIR"] = str(data_dir)
    return env


def _run(*args: str, data_dir: Path) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """``censorwatch ARGS`` in a fresh interpreter: the process and the modules it imported."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "censorwatch", *args],
        capture_output=True,
        text=True,
        env=_env(data_dir),
        cwd=data_dir.parent,
        timeout=120,
    )
    imported = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            imported.add(line.rsplit("|", 1)[1].strip())
    return proc, imported


def _under(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def _heavy(imported: set[str], also: tuple[str, ...] = ()) -> list[str]:
    return sorted(n for n in imported if n.split(".")[0] in HEAVY or _under(n, also))


def test_help_lists_every_command_and_imports_no_stage(tmp_path: Path) -> None:
    proc, imported = _run("--help", data_dir=tmp_path / "data")
    assert proc.returncode == 0, proc.stderr[-2000:]
    listed = {
        line.split()[0]
        for line in proc.stdout.split("Commands:", 1)[1].splitlines()
        if line.startswith("  ") and not line.startswith("   ")
    }
    expected = {"init", "db", "config", "status"}
    expected |= {stage_command_name(stage.attr) for stage in STAGE_COMMANDS}
    assert listed == expected
    assert not _heavy(imported, ROOT_ONLY)


def test_version_imports_nothing_heavy(tmp_path: Path) -> None:
    proc, imported = _run("--version", data_dir=tmp_path / "data")
    assert proc.returncode == 0 and "censorwatch, version" in proc.stdout
    assert not _heavy(imported, ROOT_ONLY)


@pytest.mark.parametrize("command", ["db", "config", "init", "status"])
def test_builtin_command_help_imports_nothing_heavy(tmp_path: Path, command: str) -> None:
    proc, imported = _run(command, "--help", data_dir=tmp_path / "data")
    assert proc.returncode == 0 and "Usage: censorwatch " + command in proc.stdout
    assert not _heavy(imported, STAGES)


#: Widths at which the listing is compared: click cuts a long line of help to fit.
WIDTHS = (30, 50, 80, 120, 250)

_LISTING = """
import json, sys
import click
from censorwatch.cli import cli, load_stage_commands

def helps():
    return [
        cli.get_help(click.Context(cli, info_name="censorwatch", terminal_width=w,
                                   max_content_width=w))
        for w in json.loads(sys.argv[1])
    ]

lazy = helps()
imported = sorted(sys.modules)
load_stage_commands()
print(json.dumps({"lazy": lazy, "imported": imported, "loaded": helps()}))
"""


def test_listing_without_the_stages_is_the_listing_with_them(tmp_path: Path) -> None:
    """``--help`` made from STAGE_COMMANDS is, at every width, the one click makes from the
    imported commands: the short help kept in cli.py cannot drift from the commands'."""
    proc = subprocess.run(
        [sys.executable, "-c", _LISTING, json.dumps(WIDTHS)],
        capture_output=True,
        text=True,
        env=_env(tmp_path / "data"),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert not _heavy(set(out["imported"]), STAGES)
    assert out["lazy"] == out["loaded"]


def test_short_help_matches_each_command() -> None:
    """Each STAGE_COMMANDS line is the imported command's own, at any length click allows."""
    ctx = click.Context(cli)
    for stage in STAGE_COMMANDS:
        command = cli.get_command(ctx, stage_command_name(stage.attr))
        assert command is not None, stage
        stand_in = click.Command(command.name, help=stage.short_help)
        assert not command.hidden and not command.deprecated, stage
        for limit in range(10, 200):
            assert stand_in.get_short_help_str(limit) == command.get_short_help_str(limit), (
                stage.attr,
                limit,
            )
