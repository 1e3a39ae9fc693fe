"""Configuration: one TOML file, overridden by environment variables, overridden by CLI flags.

Why this shape: volunteers run censorwatch from a scheduler where only environment variables
are convenient, working groups keep a ``censorwatch.toml`` under version control, and anyone
debugging wants a flag that wins over both. ``censorwatch config show`` prints the effective
values together with where each came from, so nobody has to guess which layer won.

Every key has a default, a type and an environment variable:

* top-level keys map to ``CENSORWATCH_<KEY>`` (``CENSORWATCH_COUNTRY``),
* section keys map to ``CENSORWATCH_<SECTION>_<KEY>`` (``CENSORWATCH_PROBE_TIMEOUT``),
* a few short aliases exist because people type them: ``CENSORWATCH_DB`` for ``database_url``
  and ``CENSORWATCH_ACCEPT_RISKS`` for ``probe.accept_risks``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import platformdirs

from censorwatch.errors import ConfigError

CONFIG_FILENAME = "censorwatch.toml"
ENV_PREFIX = "CENSORWATCH_"

#: Environment variables that are shorter than the systematic name, kept forever once published.
ENV_ALIASES: dict[str, str] = {
    "CENSORWATCH_DB": "database_url",
    "CENSORWATCH_ACCEPT_RISKS": "probe.accept_risks",
}

#: Keys whose values are never shown. ``webhook_url`` is one: bot relay URLs carry their token
#: in the path (``https://api.telegram.org/bot<token>/...``).
_SECRET_KEY_RE = re.compile(r"(password|secret|token|api_key|smtp_pass|webhook_url)", re.IGNORECASE)
MASK = "********"


@dataclass
class TestlistSettings:
    """Which test lists the probes use and where the working group keeps them."""

    __test__ = False  # not a pytest test class, despite the name

    #: CSV files (Citizen Lab format) tested by probe runs; empty means the shipped country list
    #: plus the synced global list, the "over 2,000 websites" a country team monitors.
    paths: list[str] = field(default_factory=list)
    #: Base URL of the upstream Citizen Lab lists, used by ``testlist sync``.
    upstream_url: str = "https://raw.githubusercontent.com/citizenlab/test-lists/master/lists"
    #: What ``testlist add`` writes in the ``source`` column when --source is not given
    #: (upstream uses the proposing organisation, e.g. "cchr" or "OONI").
    source: str = ""
    #: Who makes edits with ``testlist add/edit/remove`` (recorded with each change's reason),
    #: and decisions with ``fingerprints accept/reject`` when ``--by`` is not given; never
    #: guessed from the system, so nothing identifies a volunteer unless they choose to.
    author: str = ""


@dataclass
class ProbeSettings:
    """How our own probes measure (see the probes issue for what each step does)."""

    #: ``HOST[:PORT]`` of the resolver to test; empty means the system resolver.
    resolver: str = ""
    #: Control resolvers the ISP cannot tamper with: DNS-over-HTTPS endpoints by IP address.
    control_resolvers: list[str] = field(
        default_factory=lambda: [
            "https://1.1.1.1/dns-query",
            "https://9.9.9.9/dns-query",
            "https://8.8.8.8/dns-query",
        ]
    )
    #: The same public resolvers over plain DNS (``HOST[:PORT]``), compared with their DoH
    #: answers (same host) to reveal DNS interception.
    public_resolvers: list[str] = field(
        default_factory=lambda: ["1.1.1.1:53", "9.9.9.9:53", "8.8.8.8:53"]
    )
    #: OONI Web Connectivity test-helper URL (``censorwatch control serve`` runs one).
    control_url: str = ""
    timeout: float = 10.0
    concurrency: int = 32
    max_body_bytes: int = 1024 * 1024
    #: Requests per second to one host, to keep the probe polite.
    per_host_rate: float = 2.0
    user_agent: str = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
    )
    exclude_categories: list[str] = field(default_factory=list)
    #: Explicit consent to the risks of testing blocked sites (asked on first run).
    accept_risks: bool = False
    #: Network identity when it cannot be detected: never the IP address, only ASN and name.
    probe_asn: int = 0
    probe_network_name: str = ""
    #: When probe_asn is 0, ask the Internet which network this is (ASN and name only).
    detect_network: bool = True


@dataclass
class OoniSettings:
    """Where OONI data comes from."""

    api_url: str = "https://api.ooni.io"
    raw_bucket_url: str = "https://ooni-data-eu-fra.s3.eu-central-1.amazonaws.com"
    test_names: list[str] = field(
        default_factory=lambda: [
            "web_connectivity",
            "whatsapp",
            "telegram",
            "signal",
            "facebook_messenger",
            "tor",
            "psiphon",
        ]
    )
    #: Re-read this many hours before the watermark, so late uploads are not missed.
    overlap_hours: int = 48
    #: Calls per minute allowed to the OONI API (its quota is about 10 cheap calls a minute).
    api_calls_per_minute: int = 10
    #: What ``ingest ooni`` lists by default: "anomaly" (the evidence a report cites, confirmed
    #: included), "confirmed", or "all" (slow under the API quota: prefer ``ingest raw``).
    api_filter: str = "anomaly"
    #: Rows per page of /api/v1/measurements.
    page_size: int = 1000
    #: Seconds to wait for one HTTP answer (API or bucket) before retrying.
    timeout: float = 60.0
    #: Tries per request (timeouts, 5xx, 429) before giving up, with exponential backoff.
    retry_attempts: int = 8
    #: Longest wait between two tries, in seconds (a longer Retry-After is capped to this).
    retry_max_wait: float = 300.0
    #: How far back the first ``ingest ooni`` of a country goes when no --since is given.
    initial_days: int = 365
    #: Measurements written per transaction.
    batch_size: int = 5000
    #: Processes that parse and judge full documents (``ingest raw``/``ingest file``) once an
    #: input passes 2,000 documents: 0 means one per core (at most 8), 1 only this process.
    workers: int = 0


@dataclass
class VerdictSettings:
    """How measurements are judged (shared by our probes and OONI ingest)."""

    #: Extra blocking-fingerprint files (OONI's CSV/JSON, a working group's own), loaded beside
    #: the project's own ``censorwatch/data/fingerprints/censorwatch.json``.
    fingerprint_files: list[str] = field(default_factory=list)
    #: Load OONI's fingerprints (the snapshot shipped with censorwatch, or the set that
    #: ``censorwatch fingerprints update`` downloaded). Off only to judge without them.
    ooni_fingerprints: bool = True


@dataclass
class ScheduleSettings:
    """When the scheduled pipeline runs each job (cron expressions or ``every <N><s|m|h|d>``)."""

    #: Daily, at a random minute inside ``probe_window`` (local time, ``HH:MM-HH:MM``).
    probe: str = "daily"
    probe_window: str = "09:00-21:00"
    ingest_ooni: str = "every 6h"
    analyze: str = "0 3 1 * *"
    report: str = "0 4 1 * *"
    jitter_seconds: int = 600
    #: Time zone of the cron expressions and ``probe_window``; empty means the computer's own.
    timezone: str = ""
    #: A run missed by less than this (laptop asleep, scheduler stopped) still runs, once.
    misfire_grace_seconds: int = 12 * 3600
    #: On SIGTERM/SIGINT, how long a running job may take to finish before it is interrupted
    #: (its open transaction rolled back). systemd's default stop timeout is 90 s.
    shutdown_grace_seconds: int = 60
    #: First day (``MM-DD``) of the reporting year that ``analyze`` and ``report`` cover:
    #: ``01-01`` for calendar years, ``07-01`` for the July-to-June Cambodian reports.
    period_start: str = "01-01"


@dataclass
class AlertSettings:
    """Where alerts about newly blocked or unblocked websites are sent (nowhere if empty)."""

    #: JSON POST endpoint, e.g. a relay to a Telegram or Signal bot.
    webhook_url: str = ""
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_from: str = ""
    smtp_to: list[str] = field(default_factory=list)
    #: Upgrade the SMTP connection with STARTTLS (port 587); off only for a local relay.
    smtp_starttls: bool = True
    timeout: float = 30.0


@dataclass
class ReportSettings:
    """What the annual report says about who made it."""

    organisation: str = ""
    #: Title on the cover; empty: "Internet Censorship Report: <country> <period>".
    title: str = ""
    #: Folder of Markdown sections (legal context, recommendations) written by the working
    #: group and rendered, attributed, in section 7 of the report; empty: none.
    sections_dir: str = ""
    timezone: str = "Asia/Phnom_Penh"
    lang: str = "en"


@dataclass
class AnalysisSettings:
    """How the analysis turns measurements into verdicts (docs/analysis-method.md).

    These numbers are the published method: the report's method section is generated from
    them, so changing one changes what the report says it did. Keep them stable from one
    year to the next so that yearly counts stay comparable.
    """

    #: Local time zone for day and month boundaries; empty: the country's (country_timezones,
    #: else the system's zone table when the country has a single zone).
    timezone: str = ""
    #: ``CC=Area/City`` pairs: the local time zone of each country (Cambodia is UTC+7).
    country_timezones: list[str] = field(default_factory=lambda: ["KH=Asia/Phnom_Penh"])
    #: "Likely blocked" on a network needs at least this share of judged measurements
    #: (measurements that are not failures) to show an anomaly...
    likely_min_anomaly_rate: float = 0.5
    #: ...across at least this many judged measurements on that network...
    likely_min_measurements: int = 10
    #: ...with anomalies on at least this many distinct local days...
    likely_min_days: int = 3
    #: ...on at least this many networks (fewer when fewer networks measured the domain
    #: enough: Cambodian blocking is decided per ISP, so one ISP can be enough).
    likely_min_networks: int = 1
    #: "Confirmed" needs this many fingerprint-confirmed measurements (a known blockpage or
    #: sinkhole answer)...
    confirmed_min_measurements: int = 1
    #: ...or our own probe and OONI both seeing an anomaly of the same blocking method for
    #: the same URL on the same network and local day, on at least this many days (0 turns
    #: the agreement rule off; more than one, because unrelated network trouble sometimes
    #: coincides).
    confirmed_min_agreement_days: int = 3
    #: "Accessible" when at most this share of judged measurements shows an anomaly (sporadic
    #: anomalies are usually network trouble, not censorship); between this and
    #: "likely" is "inconclusive".
    accessible_max_anomaly_rate: float = 0.1
    #: "Still blocked at the end of the period" looks at this many final local days.
    still_blocked_days: int = 30
    #: An instant-messaging or circumvention app is "unreachable" on a network in a month
    #: when at least this share of its judged measurements shows an anomaly, across at least
    #: ``apps_min_measurements`` judged measurements.
    apps_min_anomaly_rate: float = 0.5
    apps_min_measurements: int = 3
    #: A suspicious DNS answer address (one the control never returned and no TLS handshake
    #: with the site's name validated) is a sinkhole, "blocking", when one network's resolver
    #: answered it for at least this many unrelated domains (distinct registrable domains).
    sinkhole_min_domains: int = 5
    #: A bogon answer (127.0.0.1, 10.x, ...) is "blocking" once answered for this many domains.
    bogon_min_domains: int = 1
    #: CSV of event annotations (date,end_date,label,kind,source), relative to the config
    #: file; empty: none.
    events_path: str = ""


@dataclass
class Config:
    """The effective configuration; build it with :func:`load_config`."""

    database_url: str = ""
    country: str = "KH"
    data_dir: str = field(default_factory=lambda: platformdirs.user_data_dir("censorwatch"))
    testlists: TestlistSettings = field(default_factory=TestlistSettings)
    probe: ProbeSettings = field(default_factory=ProbeSettings)
    ooni: OoniSettings = field(default_factory=OoniSettings)
    verdict: VerdictSettings = field(default_factory=VerdictSettings)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    report: ReportSettings = field(default_factory=ReportSettings)
    analysis: AnalysisSettings = field(default_factory=AnalysisSettings)
    #: The TOML file the values came from, if any (not a key of the file itself).
    config_file: str | None = None
    #: Where each dotted key's value came from: "default", a file path, "env:NAME" or "cli".
    origins: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser()

    @property
    def effective_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_path / 'censorwatch.sqlite3'}"

    def get(self, dotted: str) -> Any:
        section, _, key = dotted.rpartition(".")
        target = getattr(self, section) if section else self
        return getattr(target, key)


_SECTIONS: dict[str, type] = {
    name: typ
    for name, typ in typing.get_type_hints(Config).items()
    if dataclasses.is_dataclass(typ)
}
_INTERNAL = {"config_file", "origins"}


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.name not in _INTERNAL}


def all_keys() -> dict[str, Any]:
    """Every dotted configuration key with its type."""
    keys: dict[str, Any] = {}
    for name, typ in _field_types(Config).items():
        if name in _SECTIONS:
            for sub, subtyp in _field_types(_SECTIONS[name]).items():
                keys[f"{name}.{sub}"] = subtyp
        else:
            keys[name] = typ
    return keys


def env_name(dotted: str) -> str:
    """The systematic environment variable of a dotted key."""
    return ENV_PREFIX + dotted.replace(".", "_").upper()


def _coerce(value: Any, typ: Any, where: str) -> Any:
    """Turn a TOML or environment value into the key's type, or fail naming ``where``."""
    origin = typing.get_origin(typ)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(typ) if a is not type(None)]
        if value is None or value == "":
            return None
        return _coerce(value, args[0], where)
    if origin is list:
        if isinstance(value, str):
            items = [v.strip() for v in value.split(",") if v.strip()]
        elif isinstance(value, list):
            items = value
        else:
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        (item_type,) = typing.get_args(typ) or (str,)
        return [_coerce(v, item_type, where) for v in items]
    if typ is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off", ""}:
            return False
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if typ is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a whole number, got {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a whole number, got {value!r}") from None
    if typ is float:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
    if typ is str:
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{where}: expected text, got {type(value).__name__}")
    return value


def find_config_file(
    explicit: str | os.PathLike[str] | None, cwd: Path | None = None
) -> Path | None:
    """``--config`` wins, then ``$CENSORWATCH_CONFIG``, then ``./censorwatch.toml`` if present."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(f"{path}: configuration file not found")
        return path
    env = os.environ.get("CENSORWATCH_CONFIG")
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise ConfigError(f"{path}: configuration file not found (from $CENSORWATCH_CONFIG)")
        return path
    candidate = (cwd or Path.cwd()) / CONFIG_FILENAME
    return candidate if candidate.is_file() else None


def _flatten_toml(data: Mapping[str, Any], path: Path) -> dict[str, Any]:
    keys = all_keys()
    flat: dict[str, Any] = {}
    for name, value in data.items():
        if name in _SECTIONS:
            if not isinstance(value, Mapping):
                raise ConfigError(f"{path}: [{name}] must be a table")
            for sub, subvalue in value.items():
                dotted = f"{name}.{sub}"
                if dotted not in keys:
                    raise ConfigError(f"{path}: unknown key {dotted!r} in [{name}]")
                flat[dotted] = subvalue
        elif name in keys:
            flat[name] = value
        else:
            raise ConfigError(f"{path}: unknown key {name!r}")
    return flat


def load_config(
    path: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Config:
    """Build the effective configuration: defaults < TOML file < environment < ``overrides``.

    ``overrides`` holds dotted keys from CLI flags; ``None`` values are ignored so callers can
    pass every flag without checking whether it was given.
    """
    environ = os.environ if environ is None else environ
    keys = all_keys()
    cfg = Config()
    origins = {k: "default" for k in keys}

    def assign(dotted: str, raw: Any, origin: str, where: str) -> None:
        value = _coerce(raw, keys[dotted], where)
        section, _, key = dotted.rpartition(".")
        setattr(getattr(cfg, section) if section else cfg, key, value)
        origins[dotted] = origin

    file_path = find_config_file(path, cwd)
    if file_path is not None:
        try:
            data = tomllib.loads(file_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file_path}: invalid TOML: {exc}") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{file_path}: not UTF-8 text: {exc}") from None
        base = file_path.resolve().parent
        for dotted, raw in _flatten_toml(data, file_path).items():
            assign(dotted, raw, str(file_path), f"{file_path}: {dotted}")
        # Relative paths in the file are relative to the file, not to wherever cron starts us.
        if origins["data_dir"] != "default":
            cfg.data_dir = str(base / Path(cfg.data_dir).expanduser())
        if origins["testlists.paths"] != "default":
            cfg.testlists.paths = [str(base / Path(p).expanduser()) for p in cfg.testlists.paths]
        if origins["analysis.events_path"] != "default" and cfg.analysis.events_path:
            cfg.analysis.events_path = str(base / Path(cfg.analysis.events_path).expanduser())
        if origins["verdict.fingerprint_files"] != "default":
            cfg.verdict.fingerprint_files = [
                str(base / Path(p).expanduser()) for p in cfg.verdict.fingerprint_files
            ]
        cfg.config_file = str(file_path)

    for dotted in keys:
        name = env_name(dotted)
        if name in environ:
            assign(dotted, environ[name], f"env:{name}", f"${name}")
    for alias, dotted in ENV_ALIASES.items():
        if alias in environ:
            assign(dotted, environ[alias], f"env:{alias}", f"${alias}")

    for dotted, raw in (overrides or {}).items():
        if raw is None:
            continue
        if dotted not in keys:
            raise ConfigError(f"unknown configuration key {dotted!r}")
        assign(dotted, raw, "cli", f"--{dotted}")

    cfg.country = cfg.country.upper()
    if not re.fullmatch(r"[A-Z]{2}", cfg.country):
        raise ConfigError(f"country: expected a two-letter country code, got {cfg.country!r}")
    cfg.origins = origins
    return cfg


def mask_url(url: str) -> str:
    """Hide the password in a URL such as ``postgresql+psycopg://user:pw@host/db``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", f":{MASK}@", 1)
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def masked_value(dotted: str, value: Any) -> Any:
    """The value as it may be shown on a screen or in a log."""
    if _SECRET_KEY_RE.search(dotted.rpartition(".")[2]) and value:
        return MASK
    if isinstance(value, str) and "://" in value:
        return mask_url(value)
    if isinstance(value, list):
        return [mask_url(v) if isinstance(v, str) and "://" in v else v for v in value]
    return value


def effective_items(cfg: Config) -> list[tuple[str, Any, str]]:
    """``(dotted key, masked value, origin)`` for every key, the database URL resolved."""
    rows = []
    for dotted in all_keys():
        value = cfg.effective_database_url if dotted == "database_url" else cfg.get(dotted)
        rows.append((dotted, masked_value(dotted, value), cfg.origins.get(dotted, "default")))
    return rows
