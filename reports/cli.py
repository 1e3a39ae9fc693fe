"""``censorwatch report``: the annual censorship report as one self-contained HTML file."""

from __future__ import annotations

from pathlib import Path

import click

from censorwatch.cli import App, pass_app
from censorwatch.reports.editions import STATUSES
from censorwatch.reports.i18n import LANGUAGES
from censorwatch.store import job_run


@click.command("report")
@click.option("--country", metavar="CC", help="Two-letter country code (default: configuration).")
@click.option(
    "--period",
    required=True,
    metavar="A..B",
    help="Reporting period: 2023-01-01..2023-12-31, 2023-07..2024-06 or 2023 (local dates).",
)
@click.option("--lang", type=click.Choice(LANGUAGES), default=None, help="Report language.")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="HTML file to write (default: report-CC-A-B-LANG.html).",
)
@click.option(
    "--status",
    type=click.Choice(STATUSES),
    default="draft",
    show_default=True,
    help="Edition status; review and endorsed editions are frozen (snapshotted).",
)
@click.option("--social", is_flag=True, help="Also write PNG charts and a 100-word summary.")
@click.option(
    "--refresh",
    is_flag=True,
    help="Re-analyse the store even when a frozen edition of this period exists.",
)
@click.option(
    "--allow-empty",
    is_flag=True,
    help="Write the report even when the store has no measurement for the period.",
)
@pass_app
def report(
    app: App,
    country: str | None,
    period: str,
    lang: str | None,
    output: Path | None,
    status: str,
    social: bool,
    refresh: bool,
    allow_empty: bool,
) -> None:
    """Write the censorship report of a country over a period.

    One HTML file with everything embedded (styles, charts, data): it opens offline, reads
    on a phone and prints to PDF. The analysis tables are written as CSV files next to it.
    """
    from censorwatch.reports.pipeline import generate_report, resolve_period

    cfg = app.config
    cc = (country or cfg.country).upper()
    language = lang or cfg.report.lang or "en"
    the_period = resolve_period(cfg, cc, period)
    out = output or Path(f"report-{cc}-{the_period.start}-{the_period.end}-{language}.html")
    store = app.store()
    with job_run(store, "report") as job:
        result = generate_report(
            cfg,
            store,
            country=cc,
            period=the_period,
            output=out,
            lang=language,
            status=status,
            social=social,
            refresh=refresh,
            allow_empty=allow_empty,
        )
        job.counts.update({"country": cc, "edition": result.edition_id})
    source = "frozen snapshot" if result.from_snapshot else "store"
    app.say(
        f"edition {result.edition_id} ({status}, from the {source}), data {result.data_hash[:16]}"
    )
    app.say(f"tables: {result.data_dir}")
    for path in result.social:
        app.say(f"social: {path}")
    click.echo(str(result.html))
