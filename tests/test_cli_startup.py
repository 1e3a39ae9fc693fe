"""Start-up of the ``censorwatch`` command (issue #15): load only what the command needs.

``censorwatch --help`` lists every command from :data:`censorwatch.cli.STAGE_COMMANDS`
without importing a stage; ``--version`` and ``<command> --help`` import no pandas, numpy,
SQLAlchemy, Alembic, Jinja2 or RE2; ``status`` reads an up-to-date store with SQLAlchemy Core
alone. Each check runs in a fresh interpreter and reads its ``sys.modules``, since this
test process has imported everything already. Speed itself is measured by
``benchmarks/startup_bench.py``, not here.
"""

from __future__ import annotations

import datetime as dt
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


#: Runs the command as the console script does, then writes ``sys.modules`` as it stands at
#: exit (``-X importtime`` would miss what ``importlib.import_module`` loads, as the stages).
_RUN = """
import atexit, json, sys
def dump(path=sys.argv.pop(1)):
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(sorted(sys.modules), fh)
atexit.register(dump)
from censorwatch.cli import main
main()
"""


def _run(*args: str, data_dir: Path) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """``censorwatch ARGS`` in a fresh interpreter: the process and the modules it imported."""
    modules = data_dir.parent / "modules.json"
    modules.unlink(missing_ok=True)
    proc = subprocess.run(
        [sys.executable, "-c", _RUN, str(modules), *args],
        capture_output=True,
        text=True,
        env=_env(data_dir),
        cwd=data_dir.parent,
        timeout=120,
    )
    imported = set(json.loads(modules.read_text(encoding="utf-8")))
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


@pytest.mark.parametrize("command", sorted(stage_command_name(s.attr) for s in STAGE_COMMANDS))
def test_stage_help_imports_its_module_but_nothing_heavy(tmp_path: Path, command: str) -> None:
    proc, imported = _run(command, "--help", data_dir=tmp_path / "data")
    assert proc.returncode == 0 and "Usage: censorwatch " + command in proc.stdout
    module = next(s.module for s in STAGE_COMMANDS if stage_command_name(s.attr) == command)
    assert module in imported
    assert not _heavy(imported, ("censorwatch.store.models", "censorwatch.store.bulk"))


@pytest.mark.parametrize("command", ["ooni", "raw", "file", "measurement", "aggregation"])
def test_ingest_subcommand_help_imports_no_pipeline(tmp_path: Path, command: str) -> None:
    proc, imported = _run("ingest", command, "--help", data_dir=tmp_path / "data")
    assert proc.returncode == 0 and f"Usage: censorwatch ingest {command}" in proc.stdout
    assert not _heavy(imported, ("censorwatch.ingest.pipeline", "censorwatch.fingerprints"))


def test_status_reads_with_sqlalchemy_core_alone(tmp_path: Path) -> None:
    data = tmp_path / "data"
    # The first run creates the store (from the models, stamped at head; no Alembic).
    proc, first = _run("status", "--json", data_dir=data)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["measurements"] == 0
    # The next ones find it up to date: no ORM, no models, no bulk writer.
    proc, again = _run("status", "--json", data_dir=data)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for imported in (first, again):
        assert not [n for n in imported if _under(n, STAGES)]
        tops = {n.split(".")[0] for n in imported}
        assert not {"pandas", "numpy", "alembic", "mako", "jinja2", "re2", "rich"} & tops
    assert not [
        n
        for n in again
        if _under(n, ("sqlalchemy.orm", "censorwatch.store.models", "censorwatch.store.bulk"))
    ]
    assert "sqlalchemy.engine" in again


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


def _doc(i: int, source_asn: str = "AS38623") -> dict:
    return {
        "test_name": "web_connectivity" if i % 2 else "dnscheck",
        "test_version": "0.4.3",
        "report_id": f"20230301T000000Z_webconnectivity_KH_38623_n1_{i:016d}",
        "input": f"https://site{i}.example.org/",
        "measurement_start_time": f"2023-03-0{1 + i} 0{i}:00:00",
        "probe_cc": "KH",
        "probe_asn": source_asn,
        "probe_network_name": "Viettel (Cambodia) Pte., Ltd.",
        "software_name": "ooniprobe-android",
        "software_version": "3.8.0",
        "test_keys": {"blocking": False, "accessible": True},
    }


def test_status_counts_what_the_models_wrote(store) -> None:
    """The Core tables of censorwatch.status name the models' tables and columns: rows
    written through the models are counted, on SQLite and on PostgreSQL."""
    from censorwatch.measurement import Measurement
    from censorwatch.status import store_status
    from censorwatch.store import job_run, write_measurements
    from censorwatch.store.models import IngestState, ProbeRun, ReportEdition, TestlistEntry

    now = dt.datetime(2026, 12, 5, 12, 0, 0)
    with store.engine.begin() as conn:
        write_measurements(conn, [Measurement.from_document(_doc(i)) for i in range(3)])
        write_measurements(conn, [Measurement.from_document(_doc(3, "AS131178"))])
    with store.session() as s:
        for list_name, url, removed in [
            ("kh", "https://a.example/", None),
            ("kh", "https://b.example/", now),
            ("global", "https://c.example/", None),
        ]:
            s.add(
                TestlistEntry(
                    list_name=list_name,
                    url=url,
                    category_code="NEWS",
                    first_seen_at=now,
                    last_changed_at=now,
                    removed_at=removed,
                )
            )
        s.add(ProbeRun(started_at=now, status="completed"))
        s.add(
            ReportEdition(
                country="KH",
                period_start=dt.date(2023, 1, 1),
                period_end=dt.date(2023, 12, 31),
                lang="en",
                status="draft",
                created_at=now,
            )
        )
        s.add(IngestState(source="ooni-raw:KH", watermark=now, updated_at=now))
    with pytest.raises(ValueError), job_run(store, "probe"):
        raise ValueError("offline")
    with job_run(store, "probe") as rec:
        rec.counts["urls"] = 3
    with pytest.raises(ValueError), job_run(store, "analyze"):
        raise ValueError("no data for 2023")

    data = store_status(store)
    assert data["measurements"] == 4
    assert data["by_source"] == {"ooni": 4}
    assert data["by_test_name"] == {"dnscheck": 2, "web_connectivity": 2}
    assert data["first_measurement"] == "2023-03-01T00:00:00Z"
    assert data["last_measurement"] == "2023-03-04T03:00:00Z"
    assert data["testlist_entries"] == 2 and data["testlists"] == {"global": 1, "kh": 1}
    assert data["networks"] == 2 and data["probe_runs"] == 1 and data["report_editions"] == 1
    assert data["ingest_state"] == [
        {
            "source": "ooni-raw:KH",
            "watermark": "2026-12-05T12:00:00Z",
            "updated_at": "2026-12-05T12:00:00Z",
        }
    ]
    jobs = {job["job"]: job for job in data["jobs"]}
    assert [job["job"] for job in data["jobs"]] == ["analyze", "probe"]
    assert jobs["probe"]["outcome"] == "success" and jobs["probe"]["error"] is None
    assert jobs["probe"]["counts"] == {"urls": 3} and jobs["probe"]["duration_seconds"] >= 0
    assert jobs["analyze"]["outcome"] == "failed" and jobs["analyze"]["counts"] == {}
    assert "no data for 2023" in jobs["analyze"]["error"]
    started = dt.datetime.fromisoformat(jobs["analyze"]["started_at"].removesuffix("Z"))
    assert dt.datetime.fromisoformat(jobs["analyze"]["finished_at"].removesuffix("Z")) >= started
    json.dumps(data)  # JSON-ready, as `status --json` prints it
