"""``censorwatch analyze``: the headline numbers on screen, every table on disk."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import click

from censorwatch.analysis.period import country_timezone, parse_period
from censorwatch.cli import App, pass_app
from censorwatch.errors import InputError
from censorwatch.store import job_run

if TYPE_CHECKING:
    # pandas behind it: imported by the analysis itself, not for `analyze --help` (#15).
    from censorwatch.analysis.result import AnalysisResult

#: Below this share of OONI's own count, the store is too incomplete to judge rates by.
INCOMPLETE = 0.9


def _n(count: int, noun: str) -> str:
    """``1 network``, ``2 networks``, ``1,234 measurements``."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and ``os.replace``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def json_text(result: AnalysisResult) -> str:
    return json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n"


def write_outputs(
    result: AnalysisResult, directory: Path, json_document: str | None = None
) -> list[Path]:
    """Every table as CSV, the JSON document and the method text, written atomically.

    ``json_document`` is :func:`json_text` of ``result`` when the caller has it already
    (it takes a noticeable share of a year's analysis to build twice).
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{directory}: cannot create the output directory: {exc}") from None
    written = []
    for name, df in result.tables().items():
        path = directory / f"{name}.csv"
        _atomic_write(path, df.to_csv(index=False, lineterminator="\n"))
        written.append(path)
    path = directory / "analysis.json"
    _atomic_write(path, json_document if json_document is not None else json_text(result))
    written.append(path)
    path = directory / "method.txt"
    _atomic_write(path, "\n\n".join(s.text for s in result.method.sentences) + "\n")
    written.append(path)
    return written


def _print_table(result: AnalysisResult) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=max(console.width, 140))
    h = result.headline
    p = result.period
    console.print(
        f"[bold]{result.country}[/bold] {p.start} to {p.end} ({p.timezone}): "
        f"{_n(h.measurements, 'measurement')}, {_n(h.urls_tested, 'URL')} "
        f"({_n(h.domains_tested, 'domain')}) on {_n(h.networks, 'network')}"
    )
    console.print(
        f"[bold]blocked websites: {h.blocked}[/bold] (confirmed {h.confirmed}, likely "
        f"{h.likely}); inconclusive {h.inconclusive}; accessible {h.accessible}"
    )
    ch = result.changes
    prev = ch.previous_period
    if not getattr(ch, "compared", True):
        since = "no comparison with the previous period (--no-previous)"
    elif not getattr(ch, "previous_measured", True):
        since = (
            f"no measurements in {prev.start}..{prev.end}, so no comparison is possible: "
            f"{h.first_measured} blocked websites first measured this period"
        )
    else:
        since = (
            f"since {prev.start}..{prev.end}: {h.newly_blocked} newly blocked, "
            f"{h.first_measured} first measured this period, {h.unblocked} unblocked"
        )
    console.print(f"{since}; still blocked at the end of the period: {h.still_blocked}")
    c = result.coverage
    if c.testlist_urls:
        console.print(f"test list: {c.testlist_urls_tested:,} of {c.testlist_urls:,} URLs tested")
    table = Table(
        "month", "measurements", "ok", "anomaly", "confirmed", "failure", title="coverage"
    )
    for rec in c.by_month.to_dict(orient="records"):
        table.add_row(
            rec["month"],
            *(
                f"{int(rec[k]):,}"
                for k in ("measurements", "ok", "anomaly", "confirmed", "failure")
            ),
        )
    console.print(table)
    blocked = result.blocked
    if len(blocked):
        table = Table(
            "domain",
            "category",
            "verdict",
            "methods",
            "networks",
            "first",
            "last",
            "still",
            title="blocked websites",
        )
        for rec in blocked.to_dict(orient="records"):
            still = rec["still_blocked"]
            table.add_row(
                rec["domain"],
                rec["category_code"] or "",
                rec["verdict"],
                ", ".join(rec["methods"]),
                ", ".join(result.network_name(a) for a in rec["networks"]),
                rec["first_blocked"] or "",
                rec["last_blocked"] or "",
                "yes" if still is True else "no" if still is False else "?",
            )
        console.print(table)
    if len(result.apps):
        table = Table("app", "network", "measurements", "anomalies", "status", title="apps")
        for rec in result.apps_by_network.to_dict(orient="records"):
            table.add_row(
                rec["test_name"],
                rec["network_name"],
                f"{int(rec['measurements']):,}",
                f"{int(rec['anomalies']):,}",
                rec["status"],
            )
        console.print(table)
    answers = result.blocking_answers
    if answers:
        table = Table(
            "address",
            "verdict",
            "AS",
            "answered on",
            "domains",
            "why",
            title="suspicious DNS answers, vetted by the machine",
        )
        for a in answers:  # text from the network: never read as rich markup
            table.add_row(
                escape(a["ip"]),
                a["verdict"],
                escape(f"AS{a['asn']} {a['as_org_name'] or ''}".strip() if a["asn"] else ""),
                escape(", ".join(n["name"] for n in a["networks"])),
                str(a["domains"]["count"]),
                escape("; ".join(a["reasons"])),
            )
        console.print(table)
    if result.agreement.cells:
        console.print(
            f"agreement with OONI: {result.agreement.rate:.0%} of "
            f"{result.agreement.cells:,} URL/network/day cells"
        )


@click.command("analyze")
@click.option("--country", metavar="CC", help="Two-letter country code (default: `country`).")
@click.option(
    "--period",
    required=True,
    metavar="START..END",
    help="Local days START..END (YYYY-MM-DD..YYYY-MM-DD), YYYY-MM..YYYY-MM, or a year YYYY.",
)
@click.option(
    "--timezone",
    metavar="ZONE",
    help="Local time zone for days and months (default: analysis.timezone or the country's).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="table: headline numbers; csv: the domains table; json: the documented contract.",
)
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also write every table (CSV), analysis.json and method.txt to this directory.",
)
@click.option(
    "--no-previous",
    is_flag=True,
    help="Skip the comparison with the previous period (faster).",
)
@pass_app
def analyze(
    app: App,
    country: str | None,
    period: str,
    timezone: str | None,
    fmt: str,
    output: Path | None,
    no_previous: bool,
) -> None:
    """Which websites were blocked, where, how and since when, over a period.

    Prints the headline numbers (or the domains table as CSV, or the whole result as JSON,
    see docs/analysis-json.md) and, with --output, writes every table.
    """
    from censorwatch.analysis.pipeline import analyze as run_analysis
    from censorwatch.fingerprints import fingerprints_from_config

    cfg = app.config
    cc = (country or cfg.country).upper()
    if len(cc) != 2 or not cc.isalpha():
        raise InputError(f"--country: expected a two-letter country code, got {cc!r}")
    settings = cfg.analysis
    zone = country_timezone(cc, timezone or settings.timezone, settings.country_timezones)
    the_period = parse_period(period, zone)
    store = app.store()
    app.say(f"analysing {cc} {the_period.label} ({zone}) in {store.display_url}")
    with job_run(store, "analyze") as job:
        result = run_analysis(
            store,
            cc,
            the_period,
            settings,
            compare_previous=not no_previous,
            fingerprints=fingerprints_from_config(cfg, store),
        )
        h = result.headline
        job.counts.update(
            {
                "country": cc,
                "period": the_period.label,
                "measurements": h.measurements,
                "blocked": h.blocked,
            }
        )
    completeness = result.coverage.ooni_completeness
    if completeness is not None and completeness < INCOMPLETE:
        click.echo(
            f"censorwatch: warning: the store holds {completeness:.0%} of the web_connectivity "
            f"measurements OONI reports for {cc} in these months; anomaly rates and verdicts "
            "need the complete data (censorwatch ingest raw, or ingest ooni --only all)",
            err=True,
        )
    document = json_text(result) if fmt == "json" else None
    if output is not None:
        written = write_outputs(result, output, document)
        app.say(f"wrote {len(written)} files to {output}")
    if document is not None:
        click.echo(document, nl=False)
    elif fmt == "csv":
        click.echo(result.tables()["domains"].to_csv(index=False, lineterminator="\n"), nl=False)
    else:
        _print_table(result)
