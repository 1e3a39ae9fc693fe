"""The service definitions: a systemd unit that systemd-analyze accepts, a launchd plist that
parses, a Task Scheduler XML that parses, each filled in with paths that need quoting."""

from __future__ import annotations

import plistlib
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from censorwatch.cli import cli
from censorwatch.config import load_config
from censorwatch.scheduler.servicefiles import render, write

TASK_NS = "{http://schemas.microsoft.com/windows/2004/02/mit/task}"


@pytest.fixture
def config(tmp_path):
    """A configuration file in a directory whose name needs quoting and escaping."""
    folder = tmp_path / "Sokha's data & 100% test"
    folder.mkdir()
    cfg_file = folder / "censorwatch.toml"
    cfg_file.write_text('country = "KH"\ndata_dir = "data"\n', encoding="utf-8")
    return load_config(cfg_file, environ={})


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
def test_systemd_unit_passes_systemd_analyze_verify(config, tmp_path) -> None:
    service = render("systemd", config)
    unit = tmp_path / "censorwatch.service"
    write(service, unit)
    out = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert "censorwatch.service" not in out.stderr, out.stderr
    exec_start = next(line for line in service.text.splitlines() if line.startswith("ExecStart="))
    assert "100%% test" in exec_start and "schedule run" in exec_start


def test_systemd_unit_shape(config) -> None:
    text = render("systemd", config).text
    assert "KillSignal=SIGTERM" in text and "Restart=on-failure" in text
    assert "TimeoutStopSec=90" in text  # shutdown_grace_seconds (60) + 30
    assert "$USER" in text  # the template's own $$ came out as a literal dollar


def test_launchd_plist_parses(config, tmp_path) -> None:
    service = render("launchd", config)
    path = tmp_path / "org.censorwatch.scheduler.plist"
    write(service, path)
    with path.open("rb") as fh:
        plist = plistlib.load(fh)
    assert plist["Label"] == "org.censorwatch.scheduler"
    args = plist["ProgramArguments"]
    assert args[:3] == [sys.executable, "-m", "censorwatch"]
    assert args[-2:] == ["schedule", "run"]
    assert args[args.index("--config") + 1] == config.config_file
    assert plist["RunAtLoad"] is True and plist["KeepAlive"] == {"SuccessfulExit": False}
    assert plist["WorkingDirectory"] == str(Path(config.config_file).parent)


def test_windows_task_xml_parses(config, tmp_path) -> None:
    service = render("windows", config, python=r"C:\Program Files\Python311\python.exe")
    path = tmp_path / "censorwatch-task.xml"
    write(service, path)
    assert path.read_bytes()[:2] in (b"\xff\xfe", b"\xfe\xff")  # UTF-16 with a BOM
    root = ET.fromstring(path.read_bytes())
    assert root.tag == f"{TASK_NS}Task"
    exec_el = root.find(f"{TASK_NS}Actions/{TASK_NS}Exec")
    assert exec_el.find(f"{TASK_NS}Command").text == r"C:\Program Files\Python311\pythonw.exe"
    arguments = exec_el.find(f"{TASK_NS}Arguments").text
    assert arguments.startswith("-m censorwatch --config ")
    assert "schedule run --log-file" in arguments and "& 100%" in arguments
    assert root.find(f"{TASK_NS}Triggers/{TASK_NS}LogonTrigger") is not None
    settings = root.find(f"{TASK_NS}Settings")
    assert settings.find(f"{TASK_NS}MultipleInstancesPolicy").text == "IgnoreNew"


def test_install_service_command(config, isolated_env) -> None:
    runner = CliRunner()
    result = runner.invoke(
        cli,
        ["--config", config.config_file, "schedule", "install-service", "--platform", "launchd"],
    )
    assert result.exit_code == 0, result.output
    assert "<key>Label</key>" in result.output
    out = isolated_env / "unit.service"
    result = runner.invoke(
        cli,
        [
            "--config",
            config.config_file,
            "schedule",
            "install-service",
            "--platform",
            "systemd",
            "--output",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("# censorwatch")
