"""``censorwatch fingerprints`` (list, update) and ``censorwatch rejudge``."""

from __future__ import annotations

import json
from typing import Any

import click

from censorwatch.cli import App, pass_app


@click.group("fingerprints")
def fingerprints() -> None:
    """The blocking fingerprints that confirm measurements: which are loaded, from where.

    By default censorwatch loads its own fingerprints and a snapshot of OONI's (shipped with
    the package); `update` fetches OONI's current ones; `[verdict] fingerprint_files` adds
    more.
    """


@fingerprints.command("list")
@click.option("--country", metavar="CC", help="Only fingerprints expected in this country.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_app
def list_(app: App, country: str | None, as_json: bool) -> None:
    """Show the loaded fingerprint sets (name, source, rows, hash, date) and their rows."""
    from censorwatch.fingerprints import fingerprints_from_config

    db = fingerprints_from_config(app.config)
    cc = country.strip().upper() if country else None
    rows = [
        fp
        for fp in db.fingerprints
        if cc is None or not fp.expected_countries or cc in fp.expected_countries
    ]
    if as_json:
        out: dict[str, Any] = {
            "sets": list(db.sources),
            "hash": db.hash,
            "country": cc,
            "fingerprints": [
                {
                    "name": fp.name,
                    "scope": fp.scope,
                    "location_found": fp.location_found,
                    "pattern_type": fp.pattern_type,
                    "pattern": fp.pattern,
                    "expected_countries": list(fp.expected_countries),
                    "confidence_no_fp": fp.confidence_no_fp,
                }
                for fp in rows
            ],
        }
        click.echo(json.dumps(out, indent=2, ensure_ascii=False))
        return
    click.echo(f"Fingerprint sets (hash {db.hash[:16]}):")
    for s in db.sources:
        click.echo(f"  {s['name']:<14} {s['rows']:>6} rows  {s['date'] or '-':<20} {s['source']}")
    where = f" expected in {cc} (or anywhere)" if cc else ""
    click.echo(f"{len(rows)} fingerprints{where}:")
    for fp in rows:
        countries = ",".join(fp.expected_countries) or "*"
        click.echo(
            f"  {fp.name:<40} {fp.scope:<5} {fp.location_found:<22} "
            f"{fp.pattern_type:<8} {countries}"
        )


@fingerprints.command("update")
@click.option(
    "--url",
    metavar="URL",
    help="Base URL of fingerprints_dns.csv and fingerprints_http.csv "
    "(default: OONI's blocking-fingerprints repository).",
)
@pass_app
def update(app: App, url: str | None) -> None:
    """Download OONI's current fingerprints into the data directory.

    Both files are validated before they replace the set in use; offline, or with invalid
    files, nothing changes (exit status 3 when the server cannot be reached). Run
    `censorwatch rejudge` afterwards to apply them to stored measurements.
    """
    from censorwatch.fingerprint_update import DEFAULT_URL, update_ooni_fingerprints

    result = update_ooni_fingerprints(app.config.data_path, url or DEFAULT_URL)
    rows = ", ".join(f"{stem}: {n:,}" for stem, n in result.rows.items())
    if result.unchanged:
        click.echo(f"OONI's fingerprints are unchanged ({rows}; sha256 {result.sha256[:16]}).")
    else:
        click.echo(
            f"Installed OONI's fingerprints from {result.url} ({rows}; sha256 "
            f"{result.sha256[:16]}) in {result.directory}."
        )
        click.echo("Run 'censorwatch rejudge' to judge stored measurements with them.")


@click.command("rejudge")
@click.option("--since", metavar="DATE", help="Only measurements made on or after this date (UTC).")
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="Judge every row again, not only those older rules or fingerprints judged.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1),
    default=2000,
    show_default=True,
    help="Rows per transaction.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@pass_app
def rejudge(app: App, since: str | None, everything: bool, batch_size: int, as_json: bool) -> None:
    """Judge stored measurements again with today's rules and fingerprints.

    Each row keeps the rules version and the fingerprint hash that judged it; by default only
    rows judged by other ones are judged again, in batches (an interrupted run keeps what it
    finished).
    """
    from censorwatch.fingerprints import fingerprints_from_config
    from censorwatch.rejudge import rejudge as run_rejudge
    from censorwatch.scheduler.export import parse_since

    start = parse_since(since) if since else None
    db = fingerprints_from_config(app.config)
    result = run_rejudge(app.store(), db, since=start, everything=everything, batch_size=batch_size)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    click.echo(
        f"{result.examined:,} measurements judged again: {result.changed:,} changed, "
        f"{result.unchanged:,} unchanged (rules {result.rules_version}, "
        f"fingerprints {result.fingerprints_hash[:16]})."
    )
    for verdict, n in sorted(result.by_verdict.items()):
        click.echo(f"  now {verdict}: {n:,}")
