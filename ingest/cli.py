"""``censorwatch ingest``: OONI's API, OONI's raw files, local files and bundles, OONI's counts.

Every subcommand writes through the same pipeline (``pipeline.Ingestor``): idempotent upserts,
one transaction per page or batch with the cursor that goes with it, malformed input set aside
in ``<data dir>/quarantine/``, a progress bar on a terminal and one summary line at the end.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import click

from censorwatch.cli import App, pass_app
from censorwatch.errors import ConfigError, InputError
from censorwatch.measurement import parse_time, utcnow
from censorwatch.store import job_run

from .options import AXES, FILTERS

if TYPE_CHECKING:
    from .api_client import OoniApiClient
    from .pipeline import Ingestor, IngestStats
    from .quarantine import Quarantine

# The pipeline, the HTTP clients and the fingerprints (SQLAlchemy, requests, RE2, Zstandard)
# are imported by the commands that run them: `censorwatch ingest --help` lists the
# subcommands and their options without them (issue #15).

log = logging.getLogger("censorwatch.ingest")

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_date_flag(value: str | None, flag: str, *, end: bool = False) -> datetime | None:
    """``--since``/``--until`` as naive UTC; a bare ``--until`` date includes that whole day."""
    if value is None:
        return None
    text = value.strip()
    try:
        when = parse_time(text, flag)
    except InputError:
        raise click.BadParameter(
            f"expected YYYY-MM-DD or an ISO timestamp, got {value!r}"
        ) from None
    if end and _DATE_ONLY.match(text):
        when += timedelta(days=1)
    return when


def _country(app: App, country: str | None) -> str:
    cc = (country or app.config.country).upper()
    if not re.fullmatch(r"[A-Z]{2}", cc):
        raise click.BadParameter(f"expected a two-letter country code, got {cc!r}")
    return cc


def _client(app: App, api_url: str | None) -> OoniApiClient:
    from .api_client import OoniApiClient

    o = app.config.ooni
    return OoniApiClient(
        api_url or o.api_url,
        calls_per_minute=o.api_calls_per_minute,
        timeout=o.timeout,
        max_attempts=o.retry_attempts,
        backoff_max=o.retry_max_wait,
    )


def _workers(app: App, flag: int | None) -> int:
    """``--workers``, else ``ooni.workers``; 0 means one per core."""
    from .parallel import resolve_workers

    if flag is not None:
        return resolve_workers(flag)
    if app.config.ooni.workers < 0:
        raise ConfigError(
            f"ooni.workers: must be 0 (one per core) or more, got {app.config.ooni.workers}"
        )
    return resolve_workers(app.config.ooni.workers)


def _ingestor(
    app: App, quarantine: Quarantine, stats: IngestStats, bar: Any, workers: int | None = None
) -> Ingestor:
    from censorwatch.fingerprints import fingerprints_from_config

    from .pipeline import Ingestor

    return Ingestor(
        app.store(),
        quarantine=quarantine,
        batch_size=app.config.ooni.batch_size,
        stats=stats,
        on_progress=bar.update,
        workers=workers if workers is not None else _workers(app, None),
        fingerprints=fingerprints_from_config(app.config, app.store()),
    )


def _run(
    app: App,
    job: str,
    label: str,
    unit: str,
    body: Callable[[Ingestor, Any], None],
    workers: int | None = None,
) -> IngestStats:
    """Common frame: job record, quarantine file, progress bar, summary line."""
    from .pipeline import IngestStats
    from .progress import progress_bar
    from .quarantine import Quarantine

    workers = _workers(app, workers)  # a bad setting stops the run before it starts
    store = app.store()
    stats = IngestStats()
    quarantine = Quarantine(app.config.data_path / "quarantine", name=job)
    try:
        with (
            job_run(store, job) as record,
            progress_bar(label, unit, quiet=app.quiet) as bar,
        ):
            ingestor = _ingestor(app, quarantine, stats, bar, workers)
            try:
                body(ingestor, bar)
            finally:
                ingestor.close()
                record.counts = stats.as_counts()
                bar.update(stats)
    finally:
        quarantine.close()
        line = stats.summary(label)
        log.info(line)
        if not app.quiet:
            click.echo(line)
        if quarantine.path is not None:
            app.say(f"{stats.quarantined:,} quarantined records: {quarantine.path}")
    return stats


_workers_option = click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=None,
    metavar="N",
    help="Processes converting and judging documents on big inputs "
    "(0: one per core; default: ooni.workers).",
)
_test_name_option = click.option(
    "--test-name",
    "test_names",
    multiple=True,
    metavar="NAME",
    help="OONI test name (repeatable; default: ooni.test_names).",
)
_country_option = click.option(
    "--country", metavar="CC", help="Two-letter country code (default: the configured country)."
)


@click.group("ingest")
def ingest() -> None:
    """Take in OONI measurements (API, raw files) and our probes' bundles, idempotently."""


@ingest.command("ooni")
@_country_option
@click.option("--since", metavar="DATE", help="From (default: watermark minus the overlap).")
@click.option("--until", metavar="DATE", help="To, inclusive for a date (default: now).")
@_test_name_option
@click.option("--api-url", metavar="URL", help="OONI API base URL (default: ooni.api_url).")
@click.option(
    "--only",
    type=click.Choice(list(FILTERS)),
    default=None,
    help="Which measurements to list (default: ooni.api_filter, 'anomaly').",
)
@pass_app
def ingest_ooni(
    app: App,
    country: str | None,
    since: str | None,
    until: str | None,
    test_names: tuple[str, ...],
    api_url: str | None,
    only: str | None,
) -> None:
    """OONI's measurement list for a country, incrementally and resumably.

    Each page is committed with the cursor past it; a rerun goes on from the last committed
    page, then from the watermark minus ooni.overlap_hours. Rerunning any range stores
    nothing twice.
    """
    from .api_ingest import ApiRange, ingest_api

    o = app.config.ooni
    request = ApiRange(
        country=_country(app, country),
        test_names=list(test_names) or list(o.test_names),
        since=parse_date_flag(since, "--since"),
        until=parse_date_flag(until, "--until", end=True),
        only=only or o.api_filter,
        page_size=o.page_size,
        overlap=timedelta(hours=o.overlap_hours),
        initial=timedelta(days=o.initial_days),
    )
    client = _client(app, api_url)

    def body(ingestor: Ingestor, bar: Any) -> None:
        def on_window(test_name: str, start: datetime, end: datetime) -> None:
            bar.update(ingestor.stats, note=f"{test_name} {start:%Y-%m-%d}..{end:%Y-%m-%d}")

        ingest_api(app.store(), client, ingestor, request, on_window=on_window)

    _run(app, "ingest-ooni", f"ooni api {request.country}", "pages", body)


@ingest.command("raw")
@_country_option
@click.option("--since", metavar="DATE", help="First measurement day (default: incremental).")
@click.option("--until", metavar="DATE", help="Last measurement day, inclusive (default: now).")
@_test_name_option
@click.option("--bucket-url", metavar="URL", help="Bucket base URL (default: ooni.raw_bucket_url).")
@_workers_option
@pass_app
def ingest_raw_cmd(
    app: App,
    country: str | None,
    since: str | None,
    until: str | None,
    test_names: tuple[str, ...],
    bucket_url: str | None,
    workers: int | None,
) -> None:
    """OONI's raw measurement files (the complete data) from the public bucket.

    Files are filed by upload hour: the range is listed ooni.overlap_hours further so late
    uploads are found. Finished files are remembered; an interrupted run resumes after them.
    """
    from .raw_files import BucketClient, RawRange, ingest_raw

    o = app.config.ooni
    request = RawRange(
        country=_country(app, country),
        test_names=list(test_names) or list(o.test_names),
        since=parse_date_flag(since, "--since"),
        until=parse_date_flag(until, "--until", end=True),
        overlap=timedelta(hours=o.overlap_hours),
    )
    if request.until is not None and request.since is None:
        raise click.UsageError("--until needs --since")
    bucket = BucketClient(
        bucket_url or o.raw_bucket_url,
        timeout=o.timeout,
        max_attempts=o.retry_attempts,
        backoff_max=o.retry_max_wait,
    )

    def body(ingestor: Ingestor, bar: Any) -> None:
        ingest_raw(app.store(), bucket, ingestor, request)

    _run(app, "ingest-raw", f"ooni raw {request.country}", "bytes", body, workers)


@ingest.command("file")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@_workers_option
@pass_app
def ingest_file(app: App, paths: tuple[str, ...], workers: int | None) -> None:
    """Local files or folders: .json, .jsonl, .jsonl.gz (OONI raw files, probe bundles)."""
    from .files import expand_paths, iter_file

    files = expand_paths(paths)
    if not files:
        raise InputError("no .json, .jsonl or .jsonl.gz files in " + ", ".join(paths))
    total = sum(p.stat().st_size for p in files)

    def body(ingestor: Ingestor, bar: Any) -> None:
        bar.set_total(total)
        done = 0
        for path in files:

            def on_bytes(n: int, before: int = done) -> None:
                ingestor.stats.bytes = before + n

            bar.update(ingestor.stats, note=path.name)
            ingestor.ingest_records(iter_file(path, on_bytes))
            done += path.stat().st_size
            ingestor.stats.files += 1
            ingestor.stats.bytes = done
            bar.update(ingestor.stats)

    _run(app, "ingest-file", "files", "bytes", body, workers)


@ingest.command("measurement")
@click.argument("measurement_uids", nargs=-1, required=True)
@click.option("--api-url", metavar="URL", help="OONI API base URL (default: ooni.api_url).")
@pass_app
def ingest_measurement_cmd(
    app: App, measurement_uids: tuple[str, ...], api_url: str | None
) -> None:
    """Full documents of single measurements (measurement_meta), with OONI's flags."""
    from .api_ingest import ingest_measurement

    client = _client(app, api_url)

    def body(ingestor: Ingestor, bar: Any) -> None:
        for uid in measurement_uids:
            ingest_measurement(client, ingestor, uid)

    _run(app, "ingest-measurement", "measurements", "pages", body)


@ingest.command("aggregation")
@_country_option
@click.option("--since", metavar="DATE", help="From (default: the start of last year).")
@click.option("--until", metavar="DATE", help="To, inclusive for a date (default: today).")
@_test_name_option
@click.option(
    "--axis",
    "axes",
    multiple=True,
    type=click.Choice([a or "none" for a in AXES]),
    help="Second dimension besides the month (repeatable; default: none and probe_asn).",
)
@click.option("--api-url", metavar="URL", help="OONI API base URL (default: ooni.api_url).")
@pass_app
def ingest_aggregation_cmd(
    app: App,
    country: str | None,
    since: str | None,
    until: str | None,
    test_names: tuple[str, ...],
    axes: tuple[str, ...],
    api_url: str | None,
) -> None:
    """OONI's monthly counts (time_grain=month) into the ooni_aggregates table."""
    from .aggregation import ingest_aggregation

    cc = _country(app, country)
    now = utcnow()
    start = parse_date_flag(since, "--since") or datetime(now.year - 1, 1, 1)
    end = parse_date_flag(until, "--until", end=True) or datetime(now.year, now.month, now.day)
    chosen = [("" if a == "none" else a) for a in (axes or ("none", "probe_asn"))]
    client = _client(app, api_url)
    with job_run(app.store(), "ingest-aggregation") as record:
        written = ingest_aggregation(
            app.store(),
            client,
            country=cc,
            test_names=list(test_names) or list(app.config.ooni.test_names),
            since=start,
            until=end,
            axes=chosen,
        )
        record.counts = {"rows": written, "api_calls": client.calls}
    line = f"ooni aggregation {cc}: {written:,} monthly rows stored ({client.calls} API calls)"
    log.info(line)
    if not app.quiet:
        click.echo(line)
