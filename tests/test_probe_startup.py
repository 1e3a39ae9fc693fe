"""Start-up and memory: the probe imports no analysis or report code (issue #13).

The CLI root imports a stage only when its command is asked for; ``censorwatch probe run``
therefore never loads pandas, jinja2, the analysis or the report stages, and, once the store
is up to date, not even Alembic.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import click

from censorwatch.cli import STAGE_COMMANDS, cli, stage_command_name

#: Modules the probe must not import (top-level names from ``python -X importtime``).
HEAVY = (
    "pandas",
    "numpy",
    "jinja2",
    "matplotlib",
    "censorwatch.analysis",
    "censorwatch.reports",
    "censorwatch.ingest",
    "apscheduler",
)


def test_every_stage_command_resolves_under_its_name():
    ctx = click.Context(cli)
    for module_name, attr, _short_help in STAGE_COMMANDS:
        name = stage_command_name(attr)
        command = cli.get_command(ctx, name)
        assert command is not None, (module_name, attr)
        assert command.name == name, (module_name, attr, command.name)
    assert set(cli.list_commands(ctx)) >= {stage_command_name(s.attr) for s in STAGE_COMMANDS}
    assert cli.get_command(ctx, "no-such-stage") is None


def _closed_udp_port() -> int:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def _imported(stderr: str) -> set[str]:
    names = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


def test_probe_run_imports_no_analysis_or_report_code(tmp_path):
    port = _closed_udp_port()
    config = tmp_path / "censorwatch.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\ncountry = "KH"\n[probe]\n'
        f'resolver = "127.0.0.1:{port}"\ncontrol_url = ""\ntimeout = 0.3\n'
        "control_resolvers = []\npublic_resolvers = []\n"
        'probe_asn = 38623\nprobe_network_name = "Lab ISP"\ndetect_network = false\n',
        encoding="utf-8",
    )
    testlist = tmp_path / "one.csv"
    testlist.write_text(
        "url,category_code,category_description,date_added,source,notes\n"
        "http://one.test/,NEWS,,2026-12-05,lab,\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CENSORWATCH_")}
    env["CENSORWATCH_ACCEPT_RISKS"] = "1"
    cmd = [
        sys.executable,
        "-X",
        "importtime",
        "-m",
        "censorwatch",
        "--config",
        str(config),
        "probe",
        "run",
        "--testlist",
        str(testlist),
    ]
    seen = []
    for _ in range(2):  # the first run creates the store, the second finds it up to date
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 3, proc.stderr[-2000:]  # offline: a stored failure
        assert "0/1 measured, 1 failed" in proc.stdout
        seen.append(_imported(proc.stderr))
    for names in seen:
        heavy = sorted(n for n in names if n.split(".")[0] in HEAVY or n.startswith(HEAVY))
        assert not heavy, heavy
    assert "censorwatch.probes.service" in seen[1]
    # Not even the first run, which creates the store (from the models, stamped at head).
    for names in seen:
        assert not any(n.split(".")[0] in ("alembic", "mako") for n in names)
    # On SQLite nothing of SQLAlchemy's PostgreSQL dialect (2.3 MiB); logging to a pipe is
    # plain, without rich (2.5 MiB): the probe's budget is 80 MiB (docs/performance.md).
    assert not any(n.startswith("sqlalchemy.dialects.postgresql") for n in seen[1])
    assert not any(n.split(".")[0] == "rich" for n in seen[1])
