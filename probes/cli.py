"""``censorwatch probe run`` and ``censorwatch control serve``."""

from __future__ import annotations

import logging
import signal
import sys
import threading

import click

from censorwatch.cli import App, pass_app
from censorwatch.errors import ConfigError
from censorwatch.probes import consent

log = logging.getLogger(__name__)

#: Exit statuses of ``probe run`` (README, "Exit status").
EXIT_FAILED = 3  # URLs failed or were not measured (offline, resolver or helper down, ...)
EXIT_INTERRUPTED = 130  # Ctrl-C: what finished is stored
EXIT_SIGTERM = 143  # SIGTERM: what finished is stored


@click.group("probe")
def probe() -> None:
    """Test websites from this connection (DNS, TCP, TLS, HTTP) and judge them like OONI."""


def _interactive() -> bool:
    """Whether someone can read the notice and answer (a terminal on stdin)."""
    return sys.stdin.isatty()


def _ensure_consent(app: App, accept_risks: bool) -> None:
    """Consent from the flag, the environment or a saved answer; else ask (or refuse if no
    TTY). The flag and ``CENSORWATCH_ACCEPT_RISKS=1`` consent for this run and write nothing;
    the interactive answer is saved in the ``--config`` file or the user's configuration
    directory, never in the current directory."""
    cfg = app.config
    if accept_risks or cfg.probe.accept_risks or consent.recorded_in_file(cfg):
        cfg.probe.accept_risks = True
        return
    if not _interactive():
        raise ConfigError(
            "testing websites needs your consent first: run `censorwatch probe run` once in "
            "a terminal to read the notice, or pass --accept-risks "
            "(or set CENSORWATCH_ACCEPT_RISKS=1) for a scheduled set-up"
        )
    click.echo(consent.NOTICE, err=True)
    if not click.confirm(consent.QUESTION, default=False, err=True):
        raise click.Abort()
    path = consent.record_consent(cfg, app.config_path)
    app.say(f"consent recorded in {path}")


@probe.command("run")
@click.option(
    "--testlist",
    "testlists",
    multiple=True,
    type=click.Path(dir_okay=False),
    metavar="PATH",
    help="Test list (Citizen Lab CSV); repeat for several. Default: testlists.paths.",
)
@click.option("--limit", type=click.IntRange(min=0), metavar="N", help="Test at most N URLs.")
@click.option(
    "--category",
    "categories",
    multiple=True,
    metavar="CODE",
    help="Only these categories (e.g. NEWS,HUMR); repeatable.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1, max=512),
    metavar="N",
    help="URLs measured at a time (default 32).",
)
@click.option("--timeout", type=click.FloatRange(min=0.1), help="Per-step timeout, seconds.")
@click.option("--resolver", metavar="HOST[:PORT]", help="Resolver to test (default: system).")
@click.option("--control-url", metavar="URL", help="OONI Web Connectivity test helper.")
@click.option(
    "--exclude-category",
    "exclude_categories",
    multiple=True,
    metavar="CODES",
    help="Leave these categories out, e.g. PORN,GMB; repeatable.",
)
@click.option(
    "--accept-risks",
    is_flag=True,
    help="Give consent for this run without the interactive notice (no file is written).",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False),
    metavar="FILE.jsonl",
    help="Also write each measurement (OONI format) as one JSON line.",
)
@pass_app
def run(
    app: App,
    testlists: tuple[str, ...],
    limit: int | None,
    categories: tuple[str, ...],
    concurrency: int | None,
    timeout: float | None,
    resolver: str | None,
    control_url: str | None,
    exclude_categories: tuple[str, ...],
    accept_risks: bool,
    output: str | None,
) -> None:
    """Measure the test list's websites from this connection and store the results."""
    from censorwatch.probes.service import RunOptions, run_probe

    cfg = app.config
    if concurrency is not None:
        cfg.probe.concurrency = concurrency
    if timeout is not None:
        cfg.probe.timeout = timeout
    if resolver is not None:
        cfg.probe.resolver = resolver
    if control_url is not None:
        cfg.probe.control_url = control_url
    _ensure_consent(app, accept_risks)
    options = RunOptions(
        testlists=testlists,
        limit=limit,
        categories=categories,
        exclude_categories=exclude_categories,
        output=output,
        show_progress=not app.quiet and sys.stderr.isatty(),
    )
    from censorwatch.scheduler import job_lock

    # SIGTERM (a service manager, `kill`) stops the run as Ctrl-C does: no new URL is
    # started and what finished is stored; the exit status is then 143.
    stop = threading.Event()
    terminated: list[int] = []

    def on_sigterm(signum: int, _frame: object) -> None:
        terminated.append(signum)
        stop.set()

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        # The store lock of the `probe` job: a manual run never overlaps a scheduled one (or
        # another manual one); the second is refused at once, exit status 75.
        with job_lock(app.store(), "probe"):
            summary = run_probe(cfg, app.store(), options, say=app.say, stop=stop)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    stats = summary.stats
    parts = ", ".join(f"{k}: {v}" for k, v in sorted(summary.by_blocking.items()))
    click.echo(
        f"probe run {summary.run_id}: {stats.measured}/{stats.planned} measured, "
        f"{stats.failed} failed, {stats.skipped} skipped; "
        f"{stats.anomalies} anomalies ({stats.confirmed} confirmed) on {summary.network}"
        + (f" [{parts}]" if parts else "")
    )
    if summary.output:
        click.echo(f"measurements written to {summary.output}")
    if stats.interrupted:
        click.echo(
            f"interrupted: the {summary.stored} measurement(s) that finished are stored; "
            f"{stats.skipped} URL(s) not measured",
            err=True,
        )
        sys.exit(EXIT_SIGTERM if terminated else EXIT_INTERRUPTED)
    if summary.diagnosis is not None:
        click.echo(f"censorwatch: probe run {summary.run_id} failed: {summary.diagnosis}", err=True)
        sys.exit(EXIT_FAILED)


@click.group("control")
def control() -> None:
    """Run a Web Connectivity test helper (the uncensored control) for probes."""


@control.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option("--timeout", type=click.FloatRange(min=0.1), help="Per-step timeout, seconds.")
@click.option("--resolver", metavar="HOST[:PORT]", help="Resolver the helper uses.")
@click.option("--certfile", type=click.Path(exists=True, dir_okay=False), help="TLS cert.")
@click.option("--keyfile", type=click.Path(exists=True, dir_okay=False), help="TLS key.")
@click.option("--source-address", metavar="IP", help="Local address to connect from.")
@click.option(
    "--allow-private",
    is_flag=True,
    help="Also connect to private/loopback addresses (test labs only).",
)
@pass_app
def serve(
    app: App,
    host: str,
    port: int,
    timeout: float | None,
    resolver: str | None,
    certfile: str | None,
    keyfile: str | None,
    source_address: str | None,
    allow_private: bool,
) -> None:
    """Serve the OONI test-helper protocol (POST JSON) until Ctrl-C."""
    from censorwatch.probes import dns as probe_dns
    from censorwatch.probes.control_server import HelperSettings, make_server, server_url

    cfg = app.config
    settings = HelperSettings(
        timeout=timeout or cfg.probe.timeout,
        nameservers=[probe_dns.parse_hostport(resolver)] if resolver else None,
        allow_private=allow_private,
        user_agent=cfg.probe.user_agent,
        max_body_bytes=cfg.probe.max_body_bytes,
        source_address=source_address,
    )
    if settings.nameservers is None:
        probe_dns.system_nameservers()  # fail now, not on the first request
    server = make_server(host, port, settings, certfile, keyfile)
    click.echo(f"test helper listening on {server_url(server, bool(certfile))}", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("test helper stopped", err=True)
    finally:
        server.server_close()
