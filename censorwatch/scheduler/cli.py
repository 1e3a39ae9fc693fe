"""``censorwatch schedule``: run the pipeline on its own, see what it did, run a job now."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from censorwatch.cli import App, pass_app
from censorwatch.errors import InputError

log = logging.getLogger("censorwatch.scheduler")


@click.group("schedule")
def schedule() -> None:
    """The scheduled pipeline: probes, OONI ingest, analysis and draft reports on their own.

    When each job runs is set in the [schedule] section of the configuration (`daily`,
    `every 6h`, a cron expression, or `off`).
    """


@schedule.command("run")
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the log to this file (services without a terminal).",
)
@pass_app
def schedule_run(app: App, log_file: Path | None) -> None:
    """Run the scheduler in the foreground until SIGTERM or Ctrl+C."""
    from censorwatch.scheduler.service import SchedulerService

    root = logging.getLogger()
    if app.verbose == 0 and not app.quiet:
        # A daemon's log is its interface: say when jobs start and end without needing -v.
        root.setLevel(logging.INFO)
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
    if log_file is not None:
        log_file.expanduser().parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_file.expanduser(), encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    store = app.store()
    service = SchedulerService(app.config, store)
    if not service.schedules:
        app.say("censorwatch: every job is 'off' in [schedule]; nothing to run")
    for sched in service.schedules:
        app.say(f"{sched.job:<12} {sched.description}")
    sys.exit(service.run_forever())


@schedule.command("status")
@click.option("--json", "as_json", is_flag=True, help="One JSON list (for scripts).")
@pass_app
def schedule_status_cmd(app: App, as_json: bool) -> None:
    """Each job: its schedule, next run, the last run's outcome and duration, the last error."""
    from censorwatch.scheduler.service import schedule_status

    rows = schedule_status(app.config, app.store())
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("job", "schedule", "next run (UTC)", "last run", "outcome", "duration", "error")
    for row in rows:
        duration = row["last_duration_seconds"]
        outcome = row["last_outcome"] or "never run"
        if row["running"]:
            outcome = f"running ({row['running']})"
        table.add_row(
            row["job"],
            row["schedule"],
            row["next_run"] or "-",
            row["last_started_at"] or "-",
            outcome,
            f"{duration:.1f} s" if duration is not None else "-",
            (row["last_error"] or "")[:120],
        )
    Console().print(table)


@schedule.command("run-now")
@click.argument("job")
@pass_app
def schedule_run_now(app: App, job: str) -> None:
    """Run JOB once, now (probe, ingest-ooni, analyze, report), recorded like a scheduled run."""
    from censorwatch.scheduler.jobs import JOBS
    from censorwatch.scheduler.service import execute_job

    if job not in JOBS:
        raise InputError(f"no job named {job!r}; the jobs are: {', '.join(JOBS)}")
    result = execute_job(app.config, app.store(), JOBS[job])
    counts = ", ".join(f"{k}: {v}" for k, v in result.counts.items())
    if result.outcome == "success":
        click.echo(f"{job}: success" + (f" ({counts})" if counts else ""))
        return
    click.echo(f"censorwatch: {job}: {result.outcome}: {result.error}", err=True)
    sys.exit(75 if result.outcome == "skipped" else 130 if result.outcome == "interrupted" else 1)


@schedule.command("install-service")
@click.option(
    "--platform",
    type=click.Choice(["systemd", "launchd", "windows"]),
    help="Service manager (default: this computer's).",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the file here instead of printing it.",
)
@click.option("--print", "print_only", is_flag=True, help="Print the file (the default).")
@pass_app
def install_service(app: App, platform: str | None, output: Path | None, print_only: bool) -> None:
    """Print (or write) a service definition that keeps `schedule run` running.

    systemd user unit (Linux), launchd agent (macOS), Task Scheduler task (Windows), filled
    in with this Python, configuration file and data directory. Nothing is enabled for you:
    the next steps are printed on stderr.
    """
    from censorwatch.scheduler.servicefiles import default_platform, render, write

    service = render(platform or default_platform(), app.config)
    if output is None or print_only:
        click.echo(service.text, nl=False)
    if output is not None:
        write(service, output)
        app.say(f"written: {output}")
    app.say(f"# usual place: {service.suggested_path}; then:")
    for step in service.next_steps:
        app.say(f"#   {step}")
