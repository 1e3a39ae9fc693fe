"""The jobs the scheduler runs, and the one call through which each reaches its stage.

A job is a small function ``(config, store) -> counts``: it runs one pipeline stage and says
what it did (``{"measurements": 120}``). The scheduler adds what every run needs around it
(the store lock, the ``job_runs`` record, logging), so a job holds no scheduling logic.

Each job reaches its stage through one clearly named function (``run_probe_stage``, ...).
``probe`` calls the probe library (``censorwatch.probes.service.run_probe``) so that a
shutdown can stop it cooperatively; the others call the stage's command in-process
(``censorwatch ingest ooni`` and so on, through click, with this configuration and store),
which keeps every check the command makes; that function is the one place to switch.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from censorwatch.config import Config
from censorwatch.errors import CensorwatchError, ConfigError
from censorwatch.measurement import SOURCE_OONI, utcnow
from censorwatch.store import Store
from censorwatch.store.models import MeasurementRow

log = logging.getLogger("censorwatch.scheduler")

JobFunction = Callable[[Config, Store], Mapping[str, Any] | None]


class StageUnavailableError(CensorwatchError):
    """The stage a job runs is not part of this installation of censorwatch."""


@dataclass(frozen=True)
class JobDefinition:
    """A named job: what it runs and which ``[schedule]`` key says when."""

    name: str
    func: JobFunction
    #: The attribute of ``config.schedule`` holding the job's schedule, or ``None``.
    schedule_key: str | None
    description: str
    #: The attribute of ``config.schedule`` with the daily window, for ``daily`` schedules.
    window_key: str | None = None


#: Every job the scheduler knows, by the name used in ``schedule run-now NAME`` and job_runs.
JOBS: dict[str, JobDefinition] = {}


def register(
    name: str,
    func: JobFunction,
    *,
    schedule_key: str | None = None,
    description: str = "",
    window_key: str | None = None,
) -> JobDefinition:
    """Add (or replace) a job in :data:`JOBS`."""
    job = JobDefinition(name, func, schedule_key, description, window_key)
    JOBS[name] = job
    return job


# -- calling a stage ------------------------------------------------------------------------


def _cli_base_args(config: Config) -> list[str]:
    """Global flags that make the in-process command see exactly this configuration."""
    args = ["-v"]  # -v: errors propagate as exceptions (the job record keeps the message)
    if config.config_file:
        args += ["--config", config.config_file]
    args += ["--db", config.effective_database_url, "--data-dir", str(config.data_path)]
    return args


def run_stage_command(config: Config, args: list[str], *, capture_stdout: bool = False) -> str:
    """Run ``censorwatch ARGS`` in this process with this configuration; return its stdout.

    The global logging set-up that every ``censorwatch`` invocation does is undone afterwards,
    so the scheduler keeps its own. A missing command means the stage is not installed.
    """
    import click

    from censorwatch.cli import cli

    command = args[0]
    if cli.get_command(click.Context(cli), command) is None:
        name = " ".join(args[:2]) if len(args) > 1 and not args[1].startswith("-") else command
        raise StageUnavailableError(
            f"`censorwatch {name}` is not available in this installation "
            f"(the {command} stage is missing); update censorwatch or set the job to 'off'"
        )
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    buffer = io.StringIO()
    redirect = contextlib.redirect_stdout(buffer) if capture_stdout else contextlib.nullcontext()
    try:
        with redirect:
            code = cli.main(
                args=[*_cli_base_args(config), *args],
                prog_name="censorwatch",
                standalone_mode=False,
            )
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except SystemExit as exc:  # a command that calls sys.exit() must not end the daemon
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except click.exceptions.Abort:
        # A prompt (the probe's risk consent, say) found nobody to answer it: a daemon has no
        # terminal. Say so instead of a bare "Abort".
        raise CensorwatchError(
            f"`censorwatch {' '.join(args)}` stopped at a question nobody can answer in a "
            "scheduled run; run it once by hand, or set the answer in the configuration"
        ) from None
    except click.ClickException as exc:
        raise CensorwatchError(f"`censorwatch {' '.join(args)}`: {exc.format_message()}") from exc
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
    if isinstance(code, int) and code != 0:
        raise CensorwatchError(f"`censorwatch {' '.join(args)}` exited with status {code}")
    return buffer.getvalue()


def count_measurements(store: Store, source: str | None = None) -> int:
    with store.session() as s:
        query = select(func.count()).select_from(MeasurementRow)
        if source is not None:
            query = query.where(MeasurementRow.source == source)
        return int(s.scalar(query) or 0)


# -- the reporting period -------------------------------------------------------------------


def reporting_period(config: Config, today: date | None = None) -> tuple[date, date, str]:
    """``(start, end, label)`` of the reporting year up to yesterday, in the report's time zone.

    A monthly run on the 1st therefore covers the reporting year to the end of the last full
    month; on the first day of a new reporting year it covers the whole year just ended. The
    label (``2023-01-01..2023-12-31``) names the full reporting year: alerts are unique per
    label, so a website newly blocked this year is announced once, not every month.
    """
    text = config.schedule.period_start.strip()
    try:
        month, day = (int(part) for part in text.split("-"))
        date(2001, month, day)  # a non-leap year: 02-29 is not a usable start
    except ValueError:
        raise ConfigError(f"schedule.period_start: expected MM-DD, got {text!r}") from None
    if today is None:
        try:
            zone = ZoneInfo(config.report.timezone)
        except Exception:
            raise ConfigError(
                f"report.timezone: unknown time zone {config.report.timezone!r}"
            ) from None
        today = datetime.now(zone).date()
    end = today - timedelta(days=1)
    start = date(end.year, month, day)
    if start > end:
        start = date(end.year - 1, month, day)
    year_end = date(start.year + 1, month, day) - timedelta(days=1)
    return start, end, f"{start.isoformat()}..{year_end.isoformat()}"


# -- the stages -----------------------------------------------------------------------------


def run_probe_stage(config: Config, store: Store) -> dict[str, Any]:
    """Probe the test lists once, through the probe library's ``run_probe``.

    The library (not ``probe run``) so that a SIGTERM reaches the probe as a stop request
    (``current_stop_event``): it stops starting URLs, stores what it measured and returns
    within the grace time. Consent is required as ``probe run`` requires it, never asked: a
    scheduled run has nobody to answer.
    """
    from censorwatch.probes import consent
    from censorwatch.probes.diagnosis import ProbeRunFailed
    from censorwatch.probes.service import RunOptions, run_probe
    from censorwatch.scheduler.service import JobInterrupted, current_stop_event

    if not (config.probe.accept_risks or consent.recorded_in_file(config)):
        raise ConfigError(
            "probe: testing websites needs your consent first: run `censorwatch probe run` "
            "once in a terminal to read the notice, or set probe.accept_risks = true "
            "(CENSORWATCH_ACCEPT_RISKS=1)"
        )
    stop = current_stop_event()
    summary = run_probe(config, store, RunOptions(), say=log.info, stop=stop)
    stats = summary.stats
    counts = {
        "probe_run": summary.run_id,
        "planned": stats.planned,
        "measured": stats.measured,
        "anomalies": stats.anomalies,
        "confirmed": stats.confirmed,
        "failed": stats.failed,
        "skipped": stats.skipped,
    }
    if stats.interrupted and stop.is_set():
        log.warning("probe: stopped by the scheduler's shutdown after %s", counts)
        raise JobInterrupted()
    if summary.diagnosis is not None or stats.measured < stats.planned:
        # Recorded as failed, with the reason, in job_runs (the counts are kept in the log:
        # a failed job_run keeps its error, not its counts).
        log.warning("probe: run %s failed: %s", summary.run_id, counts)
        reason = summary.diagnosis or (
            f"{stats.planned - stats.measured} of {stats.planned} URL(s) not measured"
        )
        raise ProbeRunFailed(f"probe run {summary.run_id}: {reason}")
    return counts


def run_ingest_ooni_stage(config: Config, store: Store) -> dict[str, Any]:
    """Fetch new OONI measurements for the country (``censorwatch ingest ooni``)."""
    before = count_measurements(store, SOURCE_OONI)
    run_stage_command(config, ["ingest", "ooni", "--country", config.country])
    return {"measurements": count_measurements(store, SOURCE_OONI) - before}


def analysis_dir(config: Config, period: str) -> Path:
    return config.data_path / "analysis" / f"{config.country}_{period.replace('..', '_')}"


def run_analyze_stage(config: Config, store: Store) -> dict[str, Any]:
    """Analyse the reporting year to date (``censorwatch analyze --format json``), then alert.

    The analysis JSON (the contract of the analysis issue) is read back to find websites newly
    blocked or unblocked, which become alerts (see :mod:`censorwatch.scheduler.alerts`).
    """
    from censorwatch.scheduler.alerts import alerts_from_analysis, deliver_pending

    start, end, label = reporting_period(config)
    period = f"{start.isoformat()}..{end.isoformat()}"
    out = analysis_dir(config, period)
    out.mkdir(parents=True, exist_ok=True)
    stdout = run_stage_command(
        config,
        [
            "analyze",
            "--country",
            config.country,
            "--period",
            period,
            "--format",
            "json",
            "--output",
            str(out),
        ],
        capture_stdout=True,
    )
    analysis = read_analysis_json(stdout, out)
    counts: dict[str, Any] = {"domains": len(analysis.get("domains") or [])}
    state_file = config.data_path / "analysis" / f"latest-{config.country}.json"
    new = alerts_from_analysis(store, analysis, label, config.country, previous_path=state_file)
    counts["alerts"] = new
    counts.update(deliver_pending(store, config.alerts))
    return counts


def read_analysis_json(stdout: str, out_dir: Path) -> dict[str, Any]:
    """The analysis result: printed JSON, else the JSON file in ``out_dir`` with ``domains``."""
    text = stdout.strip()
    if text:
        with contextlib.suppress(ValueError):
            data = json.loads(text)
            if isinstance(data, dict) and "domains" in data:
                return data
    for path in sorted(out_dir.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and "domains" in data:
            return data
    raise CensorwatchError(
        f"`censorwatch analyze` wrote no JSON result with 'domains' in {out_dir}"
    )


def run_report_stage(config: Config, store: Store) -> dict[str, Any]:
    """Rebuild the draft report of the reporting year to date (``censorwatch report``)."""
    start, end, _label = reporting_period(config)
    period = f"{start.isoformat()}..{end.isoformat()}"
    out = config.data_path / "reports" / f"draft-{config.country}-{start}_{end}.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    run_stage_command(
        config,
        [
            "report",
            "--country",
            config.country,
            "--period",
            period,
            "--status",
            "draft",
            "--output",
            str(out),
        ],
    )
    size = out.stat().st_size if out.exists() else 0
    log.info("draft report written to %s (%d bytes)", out, size)
    return {"bytes": size, "generated_at": utcnow().isoformat(timespec="seconds") + "Z"}


register(
    "probe",
    run_probe_stage,
    schedule_key="probe",
    window_key="probe_window",
    description="probe the test lists (censorwatch probe run)",
)
register(
    "ingest-ooni",
    run_ingest_ooni_stage,
    schedule_key="ingest_ooni",
    description="fetch new OONI measurements (censorwatch ingest ooni)",
)
register(
    "analyze",
    run_analyze_stage,
    schedule_key="analyze",
    description="analyse the reporting year to date and send alerts (censorwatch analyze)",
)
register(
    "report",
    run_report_stage,
    schedule_key="report",
    description="rebuild the draft report (censorwatch report --status draft)",
)
