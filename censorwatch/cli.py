"""The ``censorwatch`` command: one entry point for the whole pipeline.

Each stage of the pipeline (``testlist``, ``probe``, ``ingest``, ``analyze``, ``report``,
``schedule``, ``demo``) registers its own click group in :data:`STAGE_COMMANDS`; this module
holds what they share: the global flags, the configuration and store they open, and the rule
that an error is one clear line on stderr with a non-zero exit (a traceback only with
``--verbose``).

Start-up is kept to what the command asked for (issue #15): this module imports click and
nothing of the store, the configuration or the stages at module level, ``--help`` lists the
stages from :data:`STAGE_COMMANDS` without importing them, and ``--version`` and
``<command> --help`` import only that command's module: importing SQLAlchemy alone takes
about as long as all of ``pip --version`` (docs/performance.md, Start-up).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
from functools import cached_property
from gettext import gettext
from typing import TYPE_CHECKING, Any, NamedTuple

import click

from censorwatch import __version__
from censorwatch.errors import CensorwatchError

if TYPE_CHECKING:
    from censorwatch.config import Config
    from censorwatch.store import Store

log = logging.getLogger("censorwatch")


class StageCommand(NamedTuple):
    """Where a stage's click command lives, and the help that ``censorwatch --help`` lists.

    ``short_help`` is the first sentence of the command's own help text, kept here so that
    listing the commands imports none of them; ``tests/test_cli_startup.py`` checks that it
    gives the line the imported command would (at every terminal width), so the two cannot
    drift apart unnoticed.
    """

    module: str
    attr: str
    short_help: str


#: The stages' click commands, imported only when run (or asked for their own ``--help``).
STAGE_COMMANDS: list[StageCommand] = [
    StageCommand(
        "censorwatch.testlists.cli",
        "testlist",
        "Country test lists (Citizen Lab CSV): lint, edit, search, sync, export, import.",
    ),
    StageCommand(
        "censorwatch.probes.cli",
        "probe",
        "Test websites from this connection (DNS, TCP, TLS, HTTP) and judge them like OONI.",
    ),
    StageCommand(
        "censorwatch.probes.cli",
        "control",
        "Run a Web Connectivity test helper (the uncensored control) for probes.",
    ),
    StageCommand(
        "censorwatch.ingest.cli",
        "ingest",
        "Take in OONI measurements (API, raw files) and our probes' bundles, idempotently.",
    ),
    StageCommand(
        "censorwatch.analysis.cli",
        "analyze",
        "Which websites were blocked, where, how and since when, over a period.",
    ),
    StageCommand(
        "censorwatch.reports.cli",
        "report",
        "Write the censorship report of a country over a period.",
    ),
    StageCommand(
        "censorwatch.demo",
        "demo",
        "Run the whole pipeline offline on synthetic data and write a demo report.",
    ),
    StageCommand(
        "censorwatch.scheduler.cli",
        "schedule",
        "The scheduled pipeline: probes, OONI ingest, analysis and draft reports on their own.",
    ),
    StageCommand(
        "censorwatch.scheduler.export",
        "export",
        "Pack your own probes' measurements (no IP address, no identity) for hand-over.",
    ),
    StageCommand(
        "censorwatch.scheduler.collect",
        "collect",
        "The working group's collector for volunteers' bundles.",
    ),
    StageCommand(
        "censorwatch.fingerprints_cli",
        "fingerprints",
        "The blocking fingerprints that confirm measurements: which are loaded, from where.",
    ),
    StageCommand(
        "censorwatch.fingerprints_cli",
        "rejudge",
        "Judge stored measurements again with today's rules and fingerprints.",
    ),
]


class App:
    """What every command needs: the effective configuration and, lazily, the store."""

    def __init__(
        self,
        config_path: str | None,
        overrides: dict[str, Any],
        verbose: int = 0,
        quiet: bool = False,
    ) -> None:
        self.config_path = config_path
        self.overrides = overrides
        self.verbose = verbose
        self.quiet = quiet
        self._store: Store | None = None

    @cached_property
    def config(self) -> Config:
        from censorwatch.config import load_config

        return load_config(self.config_path, overrides=self.overrides)

    def store(self, *, migrate: bool = True) -> Store:
        """The store, schema upgraded on first use unless ``migrate=False``."""
        if self._store is None:
            from censorwatch.store import open_store

            self._store = open_store(self.config.effective_database_url, migrate=migrate)
        return self._store

    def say(self, message: str) -> None:
        """Progress chatter for people (stderr), silenced by ``--quiet``."""
        if not self.quiet:
            click.echo(message, err=True)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


pass_app = click.make_pass_decorator(App)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0] if "\n" in text else text


def stage_command_name(attr: str) -> str:
    """The command name of a :data:`STAGE_COMMANDS` attribute (``_`` becomes ``-``)."""
    return attr.replace("_", "-")


class CensorwatchGroup(click.Group):
    """A click group that turns any failure into one line on stderr (unless ``--verbose``).

    The stages' commands (:data:`STAGE_COMMANDS`) are imported only when asked for: the
    probe on a volunteer's laptop must not pay for the analysis and report stages (pandas,
    jinja2, ...), which cost about 117 MiB when every stage was imported at start, and
    ``censorwatch --help`` lists them from their short help alone (issue #15: it took 0.9 s
    and 110 MiB when it imported each stage to read one line of help).
    """

    def _stage(self, name: str) -> StageCommand | None:
        for stage in STAGE_COMMANDS:
            if stage_command_name(stage.attr) == name:
                return stage
        return None

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = set(super().list_commands(ctx))
        names.update(stage_command_name(stage.attr) for stage in STAGE_COMMANDS)
        return sorted(names)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None or self is not cli:
            return command
        stage = self._stage(cmd_name)
        if stage is None:
            return None
        try:
            module = importlib.import_module(stage.module)
        except ModuleNotFoundError as exc:
            if exc.name is not None and stage.module.startswith(exc.name):
                return None  # the stage is not installed
            raise
        command = getattr(module, stage.attr)
        self.add_command(command, cmd_name)
        return command

    def listed_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command as ``--help`` lists it: a stage not imported yet is a stand-in made
        from its :data:`STAGE_COMMANDS` short help (same name, same line of help)."""
        if cmd_name in self.commands or self is not cli:
            return self.get_command(ctx, cmd_name)
        stage = self._stage(cmd_name)
        if stage is None:
            return self.get_command(ctx, cmd_name)
        return click.Command(cmd_name, help=stage.short_help)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """click's own listing (``Group.format_commands``), with :meth:`listed_command` in
        place of :meth:`get_command`, so that listing imports no stage."""
        commands = []
        for name in self.list_commands(ctx):
            command = self.listed_command(ctx, name)
            if command is None or command.hidden:
                continue
            commands.append((name, command))
        if commands:
            limit = formatter.width - 6 - max(len(name) for name, _ in commands)
            rows = [(name, command.get_short_help_str(limit)) for name, command in commands]
            with formatter.section(gettext("Commands")):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort, click.ClickException, BrokenPipeError):
            raise
        except KeyboardInterrupt:
            click.echo("censorwatch: interrupted", err=True)
            ctx.exit(130)
        except CensorwatchError as exc:
            if _verbose(ctx):
                raise
            click.echo(f"censorwatch: error: {_one_line(exc)}", err=True)
            ctx.exit(exc.exit_code)
        except Exception as exc:
            if _verbose(ctx):
                raise
            click.echo(
                f"censorwatch: error: {type(exc).__name__}: {_one_line(exc)} "
                "(run with --verbose for the details)",
                err=True,
            )
            ctx.exit(1)


def _verbose(ctx: click.Context) -> bool:
    app = ctx.find_object(App)
    return bool(app and app.verbose)


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = (
        logging.ERROR
        if quiet
        else logging.DEBUG
        if verbose >= 2
        else (logging.INFO if verbose else logging.WARNING)
    )
    handler: logging.Handler
    if sys.stderr.isatty():
        from rich.logging import RichHandler

        handler = RichHandler(
            show_path=False, rich_tracebacks=verbose > 0, console=_stderr_console()
        )
        fmt = "%(message)s"
    else:
        # A log file or the service manager's journal: plain lines, one per record, never
        # wrapped at a terminal's width (and rich stays unimported: a probe's memory counts).
        handler = logging.StreamHandler(sys.stderr)
        fmt = "%(asctime)s %(levelname)s %(message)s"
    logging.basicConfig(level=level, format=fmt, handlers=[handler], force=True)
    if verbose < 2:
        logging.getLogger("alembic").setLevel(logging.WARNING)


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


@click.group(cls=CensorwatchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="Configuration file (default: ./censorwatch.toml, or $CENSORWATCH_CONFIG).",
)
@click.option("--db", "db_url", metavar="URL", help="Database URL (overrides $CENSORWATCH_DB).")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    help="Data directory (overrides $CENSORWATCH_DATA_DIR).",
)
@click.option("-v", "--verbose", count=True, help="More detail; -vv for debugging.")
@click.option("-q", "--quiet", is_flag=True, help="Only errors.")
@click.version_option(__version__, prog_name="censorwatch")
@click.pass_context
def cli(
    ctx: click.Context,
    config_path: str | None,
    db_url: str | None,
    data_dir: str | None,
    verbose: int,
    quiet: bool,
) -> None:
    """censorwatch: monitor Internet censorship and report on it.

    Test lists -> probes and OONI ingest -> store -> analysis -> annual report.
    Configuration comes from censorwatch.toml, then CENSORWATCH_* environment variables,
    then these flags (the last wins); `censorwatch config show` prints the result.
    """
    _setup_logging(verbose, quiet)
    overrides = {"database_url": db_url, "data_dir": data_dir}
    app = App(config_path, overrides, verbose=verbose, quiet=quiet)
    ctx.obj = app
    ctx.call_on_close(app.close)


@cli.command()
@pass_app
def init(app: App) -> None:
    """Create the data directory and the store (or bring an old one up to date)."""
    from censorwatch.store import current_revision, upgrade

    cfg = app.config
    cfg.data_path.mkdir(parents=True, exist_ok=True)
    store = app.store(migrate=False)
    before = current_revision(store)
    reached = upgrade(store)
    click.echo(f"store:    {store.display_url}")
    if before is None:
        change = "created"
    elif before != reached:
        change = f"upgraded from {before}"
    else:
        change = "up to date"
    click.echo(f"schema:   {reached} ({change})")
    click.echo(f"data dir: {cfg.data_path}")
    if cfg.config_file:
        click.echo(f"config:   {cfg.config_file}")


@cli.group()
def db() -> None:
    """Database schema: show and apply migrations."""


@db.command("upgrade")
@click.argument("revision", default="head")
@pass_app
def db_upgrade(app: App, revision: str) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    from censorwatch.store import current_revision, upgrade

    store = app.store(migrate=False)
    before = current_revision(store)
    reached = upgrade(store, revision)
    if before == reached:
        click.echo(f"{store.display_url}: already at {reached}")
    else:
        click.echo(f"{store.display_url}: {before or 'empty'} -> {reached}")


@db.command("current")
@pass_app
def db_current(app: App) -> None:
    """Print the schema revision of the database and the newest one this version knows."""
    from censorwatch.store import current_revision, head_revision

    store = app.store(migrate=False)
    current = current_revision(store)
    head = head_revision()
    state = "up to date" if current == head else "needs `censorwatch db upgrade`"
    click.echo(f"{current or 'empty'} (head: {head}, {state})")


@cli.group("config")
def config_group() -> None:
    """Show the effective configuration."""


@config_group.command("show")
@click.option("--json", "as_json", is_flag=True, help="One JSON object of dotted keys.")
@click.option("--origin/--no-origin", default=True, help="Say where each value came from.")
@pass_app
def config_show(app: App, as_json: bool, origin: bool) -> None:
    """Print every configuration key with its value (secrets masked) and origin."""
    from censorwatch.config import effective_items

    rows = effective_items(app.config)
    if as_json:
        data: dict[str, Any] = {k: v for k, v, _ in rows}
        if origin:
            data = {"values": data, "origins": {k: o for k, _, o in rows}}
        click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
        return
    if app.config.config_file:
        click.echo(f"# from {app.config.config_file}")
    section = ""
    for dotted, value, where in rows:
        sect, _, key = dotted.rpartition(".")
        if sect != section:
            section = sect
            click.echo(f"\n[{sect}]")
        line = f"{key} = {json.dumps(value, ensure_ascii=False, default=str)}"
        click.echo(f"{line:<60} # {where}" if origin else line)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object (for scripts).")
@pass_app
def status(app: App, as_json: bool) -> None:
    """What the store holds: measurements, test lists, networks, job runs, schema."""
    from censorwatch.status import store_status

    data = store_status(app.store())
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    _print_status(data)


def _print_status(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]store[/bold]   {data['database']} (schema {data['schema_revision']})")
    period = ""
    if data["first_measurement"]:
        period = f", {data['first_measurement'][:10]} to {data['last_measurement'][:10]}"
    console.print(f"[bold]measurements[/bold] {data['measurements']:,}{period}")
    if data["by_source"] or data["by_test_name"]:
        table = Table("by source", "count", "by test name", "count", box=None)
        sources = list(data["by_source"].items())
        tests = list(data["by_test_name"].items())
        for i in range(max(len(sources), len(tests))):
            s = sources[i] if i < len(sources) else ("", "")
            t = tests[i] if i < len(tests) else ("", "")
            table.add_row(
                s[0], f"{s[1]:,}" if s[1] != "" else "", t[0], f"{t[1]:,}" if t[1] != "" else ""
            )
        console.print(table)
    lists = ", ".join(f"{k}: {v:,}" for k, v in data["testlists"].items())
    console.print(
        f"[bold]test-list entries[/bold] {data['testlist_entries']:,}"
        + (f" ({lists})" if lists else "")
    )
    console.print(
        f"[bold]networks[/bold] {data['networks']:,}   "
        f"[bold]probe runs[/bold] {data['probe_runs']:,}   "
        f"[bold]report editions[/bold] {data['report_editions']:,}"
    )
    if data["jobs"]:
        table = Table("job", "last run", "outcome", "duration", "error", title="jobs")
        for job in data["jobs"]:
            duration = (
                f"{job['duration_seconds']:.1f} s" if job["duration_seconds"] is not None else ""
            )
            table.add_row(
                job["job"], job["started_at"] or "", job["outcome"], duration, job["error"] or ""
            )
        console.print(table)
    else:
        console.print("[bold]jobs[/bold] none run yet")


def load_stage_commands() -> None:
    """Import every stage's command now (documentation, tests); the CLI itself does not."""
    ctx = click.Context(cli)
    for stage in STAGE_COMMANDS:
        cli.get_command(ctx, stage_command_name(stage.attr))


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    try:
        cli.main(args=argv, prog_name="censorwatch")
    except BrokenPipeError:
        # `censorwatch status | head`: the reader left; that is not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
