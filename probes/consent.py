"""Informed consent: a volunteer must know the risks before the first run.

Testing blocked websites can be noticed by the network operator and, in some places, by the
authorities. OONI Probe asks for informed consent before its first test; so do we. Consent is
given once, interactively (a plain-language notice, then a yes/no question) or for scheduled
set-ups with ``--accept-risks`` / ``CENSORWATCH_ACCEPT_RISKS=1``.

* ``--accept-risks`` and ``CENSORWATCH_ACCEPT_RISKS=1`` give consent for that run only and
  write no file (a scheduled set-up passes them every time, or sets ``probe.accept_risks``).
* The interactive consent is remembered (``[probe] accept_risks = true``) in the ``--config``
  file (or ``$CENSORWATCH_CONFIG``) when one is given, else in ``consent.toml`` in the user's
  configuration directory (platformdirs: ``~/.config/censorwatch/`` on Linux). Never in the
  current working directory: a volunteer's consent must not end up in a project folder, a
  shared directory or a repository.
"""

from __future__ import annotations

import os
import re
import tempfile
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import platformdirs

from censorwatch.config import Config
from censorwatch.errors import ConfigError

NOTICE = """\
Before you test websites, please read this.

* censorwatch will try to open websites that may be blocked in your country: news sites,
  human-rights organisations, political parties, and sometimes sites some people find
  offensive (you can leave categories out with --exclude-category).
* Anyone who can watch your Internet connection (your Internet provider, your employer, the
  authorities, the owner of the Wi-Fi) can see that this computer visited those sites, as if
  you had visited them yourself. censorwatch does not hide this. Testing in some places may
  be against the law or get you into trouble.
* censorwatch never records your IP address or anything that points to you: it keeps only
  the network's name and number (for example "Viettel, AS38623") and the country. If you
  share the results, they are published that way.
* You can stop at any time (Ctrl-C). What was measured until then is kept.

If you are unsure, talk to the people who asked you to run it before you continue.
"""

QUESTION = "I understand the risks and want to run the test"


#: The file the interactive consent goes to when no ``--config`` file is given.
CONSENT_FILENAME = "consent.toml"


def user_consent_file() -> Path:
    """``consent.toml`` in the user's configuration directory (platformdirs)."""
    return Path(platformdirs.user_config_dir("censorwatch")) / CONSENT_FILENAME


def consent_file(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Where the interactive consent is written: the ``--config`` file if one is given (or
    ``$CENSORWATCH_CONFIG``), else :func:`user_consent_file`; never the current directory."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("CENSORWATCH_CONFIG")
    if env:
        return Path(env).expanduser()
    return user_consent_file()


_SECTION_RE = re.compile(r"^\s*\[([^\]]+)\]\s*(#.*)?$")
_KEY_RE = re.compile(r"^\s*accept_risks\s*=")


def with_consent(text: str, when: datetime) -> str:
    """The TOML text with ``[probe] accept_risks = true`` set, everything else untouched."""
    line = f"accept_risks = true  # consent given {when:%Y-%m-%d %H:%M} UTC"
    lines = text.splitlines()
    section = None
    probe_at = None
    for i, raw in enumerate(lines):
        match = _SECTION_RE.match(raw)
        if match:
            section = match.group(1).strip()
            if section == "probe":
                probe_at = i
            continue
        if section == "probe" and _KEY_RE.match(raw):
            lines[i] = line
            return "\n".join(lines) + "\n"
    if probe_at is not None:
        lines.insert(probe_at + 1, line)
    else:
        if lines and lines[-1].strip():
            lines.append("")
        lines.extend(["[probe]", line])
    return "\n".join(lines) + "\n"


def _says_consent(path: Path) -> bool:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return False
    probe = data.get("probe")
    return isinstance(probe, dict) and probe.get("accept_risks") is True


def recorded_in_file(cfg: Config) -> bool:
    """Whether consent was saved: in the user's ``consent.toml`` or the configuration file
    in use (``[probe] accept_risks = true``)."""
    paths = [user_consent_file(), consent_file()]
    if cfg.config_file:
        paths.append(Path(cfg.config_file))
    return any(_says_consent(p) for p in dict.fromkeys(paths))


def record_consent(cfg: Config, explicit: str | os.PathLike[str] | None = None) -> Path:
    """Save the interactive consent (atomically) where :func:`consent_file` says; returns it.

    ``explicit`` is the ``--config`` file given on the command line, if any.
    """
    path = consent_file(explicit)
    try:
        old = path.read_text(encoding="utf-8") if path.exists() else ""
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read to record consent: {exc.strerror}") from None
    new = with_consent(old, datetime.now(UTC))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".censorwatch-", suffix=".toml", dir=path.parent)
    os.chmod(tmp, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(new)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ConfigError(f"{path}: cannot record consent: {exc.strerror}") from None
    cfg.probe.accept_risks = True
    return path
