"""Service definitions that keep ``censorwatch schedule run`` running: systemd, launchd, Windows.

The templates live in ``service_files/``; :func:`render` fills in this installation's Python,
configuration file and directories, quoted for each format (systemd's own quoting, XML
escaping for the plist and the task), so a path with spaces or an ``&`` works.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template
from xml.sax.saxutils import escape

from censorwatch.config import Config
from censorwatch.errors import InputError

PLATFORMS = ("systemd", "launchd", "windows")
TEMPLATES = {
    "systemd": "censorwatch.service",
    "launchd": "org.censorwatch.scheduler.plist",
    "windows": "censorwatch-task.xml",
}


@dataclass(frozen=True)
class ServiceFile:
    platform: str
    text: str
    #: Where the file usually goes.
    suggested_path: str
    #: The commands that install and start it, for the person at the keyboard.
    next_steps: list[str]


def default_platform() -> str:
    if sys.platform == "darwin":
        return "launchd"
    if sys.platform.startswith("win"):
        return "windows"
    return "systemd"


def command_line(config: Config, python: str | None = None) -> list[str]:
    """``python -m censorwatch [--config FILE] schedule run``: works in any virtualenv."""
    args = [python or sys.executable, "-m", "censorwatch"]
    if config.config_file:
        args += ["--config", str(Path(config.config_file).resolve())]
    return [*args, "schedule", "run"]


def working_directory(config: Config) -> str:
    if config.config_file:
        return str(Path(config.config_file).resolve().parent)
    return str(config.data_path.resolve())


def _systemd_quote(arg: str) -> str:
    """One ExecStart word: ``%`` doubled (specifiers), quoted when it holds spaces or quotes."""
    arg = arg.replace("%", "%%")
    if arg and not any(c in arg for c in " \t\"'\\;$"):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"').replace("$", "$$") + '"'


def _template(platform: str) -> Template:
    name = TEMPLATES[platform]
    text = (
        resources.files("censorwatch.scheduler")
        .joinpath("service_files", name)
        .read_text(encoding="utf-8")
    )
    return Template(text)


def render(platform: str, config: Config, *, python: str | None = None) -> ServiceFile:
    """The filled-in service definition for ``platform`` (systemd, launchd or windows)."""
    if platform not in PLATFORMS:
        raise InputError(f"--platform: expected one of {', '.join(PLATFORMS)}, got {platform!r}")
    args = command_line(config, python)
    workdir = working_directory(config)
    stop_timeout = str(max(config.schedule.shutdown_grace_seconds, 0) + 30)
    if platform == "systemd":
        text = _template(platform).substitute(
            exec_start=" ".join(_systemd_quote(a) for a in args),
            # WorkingDirectory takes the rest of the line as it is: no quotes, only specifiers.
            working_directory=workdir.replace("%", "%%"),
            stop_timeout=stop_timeout,
        )
        return ServiceFile(
            platform,
            text,
            "~/.config/systemd/user/censorwatch.service",
            [
                "systemctl --user daemon-reload",
                "systemctl --user enable --now censorwatch",
                'loginctl enable-linger "$USER"   # servers: run while nobody is logged in',
            ],
        )
    if platform == "launchd":
        log_file = str(config.data_path.resolve() / "censorwatch-scheduler.log")
        program = "\n".join(f"    <string>{escape(a)}</string>" for a in args)
        text = _template(platform).substitute(
            program_arguments=program,
            working_directory=escape(workdir),
            stop_timeout=stop_timeout,
            log_file=escape(log_file),
        )
        path = "~/Library/LaunchAgents/org.censorwatch.scheduler.plist"
        return ServiceFile(platform, text, path, [f"launchctl load -w {path}"])
    # Windows: pythonw.exe runs without a console window popping up at every logon, so the
    # log goes to a file in the data directory.
    args += ["--log-file", str(config.data_path.resolve() / "censorwatch-scheduler.log")]
    command = args[0]
    if command.lower().endswith("python.exe"):
        command = command[: -len("python.exe")] + "pythonw.exe"
    text = _template(platform).substitute(
        command=escape(command),
        arguments=escape(subprocess.list2cmdline(args[1:])),
        working_directory=escape(workdir),
    )
    return ServiceFile(
        platform,
        text,
        "censorwatch-task.xml",
        [
            "schtasks /Create /TN censorwatch /XML censorwatch-task.xml",
            "schtasks /Run /TN censorwatch",
        ],
    )


def write(service: ServiceFile, path: Path) -> None:
    """Write atomically; the Windows task as UTF-16 with a BOM, as schtasks expects."""
    import os
    import tempfile

    path = path.expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (
        service.text.encode("utf-16")
        if service.platform == "windows"
        else service.text.encode("utf-8")
    )
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
