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
    from censorwatch.answer_decisions import normalise_country

    cc = normalise_country(country)  # "KHM" or "12": one line, exit status 2
    db = _loaded(app)
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
                    **(
                        {"source": fp.source, "notes": fp.notes}
                        if fp.name.startswith("local.")
                        else {}
                    ),
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
        if fp.name.startswith("local."):
            # The working group's own rows: who decided, when and why.
            click.echo(f"      {fp.pattern}: {fp.source}: {fp.notes}")


def _loaded(app: App) -> Any:
    """The sets that judge measurements, with the ``local`` set of the store's decisions."""
    from censorwatch.errors import StoreError
    from censorwatch.fingerprints import fingerprints_from_config

    try:
        store = app.store()
    except StoreError as exc:
        click.echo(
            f"censorwatch: warning: {exc}; the working group's decisions (set 'local') "
            "are not shown",
            err=True,
        )
        store = None
    return fingerprints_from_config(app.config, store)


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
    from urllib.parse import urlsplit

    from censorwatch.answer_decisions import DecisionInputError
    from censorwatch.fingerprint_update import DEFAULT_URL, update_ooni_fingerprints

    if url is not None:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise DecisionInputError(
                f"--url: not a URL: {url!r} (give the base URL of fingerprints_dns.csv and "
                "fingerprints_http.csv, such as https://example.org/fingerprints/)"
            )
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


#: How far back the machine's vetting is read when a member decides on an address.
EVIDENCE_DAYS = 365


def _decision_options(func: Any) -> Any:
    func = click.option(
        "--period",
        metavar="A..B",
        help="The measurements whose vetting (blocking_answers) is kept with the decision as "
        f"its evidence, as analyze --period takes it (default: the last {EVIDENCE_DAYS} days).",
    )(func)
    func = click.option(
        "--asn",
        metavar="N",
        help="The network where the address was seen (AS38623 or 38623). Accepted, the "
        "fingerprint then has scope isp and confirms on that network; rejected, the network "
        "is noted with the reason.",
    )(func)
    func = click.option(
        "--country",
        metavar="CC",
        help="The country of the decision (default: the configured country).",
    )(func)
    func = click.option(
        "--by",
        "by",
        metavar="NAME",
        help="Who decides, as the working group knows you (default: [testlists] author); "
        "never taken from the computer.",
    )(func)
    func = click.option(
        "--reason", required=True, metavar="TEXT", help="Why (kept with who and when)."
    )(func)
    return click.argument("ip", metavar="IP")(func)


def _decide(
    app: App,
    decision: str,
    ip: str,
    reason: str,
    by: str | None,
    country: str | None,
    asn: str | None,
    period: str | None = None,
) -> None:
    from censorwatch.answer_decisions import (
        ACCEPT,
        check_decided_by,
        check_reason,
        fingerprint_for,
        latest_decisions,
        normalise_asn,
        normalise_country,
        normalise_ip,
        record_decision,
    )

    # Everything is checked before the store is opened: bad input writes nothing.
    address = normalise_ip(ip)
    check_reason(reason)
    decided_by = check_decided_by(by if by is not None else app.config.testlists.author)
    cc = normalise_country(country if country is not None else app.config.country)
    network = normalise_asn(asn)
    evidence_period = _evidence_period(app, cc, period)
    if decision == ACCEPT:
        _refuse_accepting_a_known_false_positive(app, address)
    else:
        _refuse_rejecting_what_another_set_confirms(app, address)
    store = app.store()
    before = latest_decisions(store).get(address)
    evidence = _machine_view(app, store, address, cc, evidence_period)
    d = record_decision(
        store, address, decision, reason, decided_by, country=cc, asn=network, evidence=evidence
    )
    fp = fingerprint_for(d)
    if evidence is not None:
        click.echo(
            f"the machine's vetting of {d.ip} ({evidence['period']}): {evidence['verdict']}; "
            f"{'; '.join(evidence.get('reasons') or [])}"
        )
    elif evidence_period is not None:
        click.echo(
            f"no stored measurement of {cc} in {evidence_period.label} has {d.ip} as a "
            "suspicious DNS answer: the decision is kept without the machine's evidence "
            "(--period chooses the measurements)"
        )
    rejudge = "run 'censorwatch rejudge' to judge stored measurements again"
    if decision == ACCEPT:
        where = f" on AS{d.asn}" if d.asn else (f" in {d.country}" if d.country else "")
        click.echo(
            f"{d.ip} now confirms DNS blocking{where} as {fp.name} "
            f"(decision #{d.id} by {d.decided_by}); {rejudge}."
        )
    else:
        was = before is not None and before.decision == ACCEPT
        click.echo(
            f"{d.ip} {'no longer confirms' if was else 'does not confirm'} measurements: it is "
            f"a known false positive ({fp.name}, decision #{d.id} by {d.decided_by}); {rejudge}."
        )


def _evidence_period(app: App, country: str | None, text: str | None) -> Any:
    """The period whose vetting is kept as evidence (checked before anything is written)."""
    if not country:
        return None
    import datetime as dt

    from censorwatch.analysis.period import Period, country_timezone, parse_period

    settings = app.config.analysis
    zone = country_timezone(country, settings.timezone, settings.country_timezones)
    if text:
        return parse_period(text, zone)
    today = dt.datetime.now(dt.UTC).date()
    return Period(today - dt.timedelta(days=EVIDENCE_DAYS - 1), today, zone)


def _machine_view(
    app: App, store: Any, address: str, country: str | None, period: Any
) -> dict[str, Any] | None:
    """What ``blocking_answers`` says about ``address`` in ``country`` over ``period``, kept
    with the decision as its evidence (None when it was not a suspicious answer there)."""
    if not country or period is None:
        return None
    from censorwatch.analysis.answers import blocking_answers
    from censorwatch.analysis.load import Scope, load_networks
    from censorwatch.analysis.verdicts import Thresholds
    from censorwatch.fingerprints import fingerprints_from_config

    with store.engine.connect() as conn:
        names_df = load_networks(conn)
        names = {
            int(a): str(n) for a, n in zip(names_df["asn"], names_df["name"], strict=True) if n
        }
        found = blocking_answers(
            conn,
            Scope(country, period),
            Thresholds.from_settings(app.config.analysis),
            fingerprints_from_config(app.config, store),
            names,
        )
    for entry in found:
        if entry["ip"] == address:
            return {**entry, "period": period.label}
    return None


def _refuse_accepting_a_known_false_positive(app: App, address: str) -> None:
    """An address another set marks as a known false positive would not confirm anything
    once accepted (the fp rule wins): say so, and write nothing."""
    from censorwatch.answer_decisions import DecisionInputError
    from censorwatch.fingerprints import fingerprints_from_config

    marked = [
        m.fingerprint.name
        for m in fingerprints_from_config(app.config).match_dns(address)
        if m.fingerprint.is_false_positive
    ]
    if marked:
        raise DecisionInputError(
            f"{address} is a known false positive in a loaded set ({', '.join(marked)}): "
            "accepted, it would confirm nothing; if that set is wrong, report it upstream, "
            "or leave the set out ([verdict] ooni_fingerprints, fingerprint_files)"
        )


def _refuse_rejecting_what_another_set_confirms(app: App, address: str) -> None:
    """A local rejection cannot undo another set's confirming row for the same address (the
    verdict would be confirmed and not counted at once): say so, and write nothing."""
    from censorwatch.answer_decisions import DecisionInputError
    from censorwatch.fingerprints import CONFIRMATION_MIN_CONFIDENCE, fingerprints_from_config

    others = [
        m.fingerprint.name
        for m in fingerprints_from_config(app.config).match_dns(address)
        if not m.fingerprint.is_false_positive
        and m.fingerprint.confidence_no_fp >= CONFIRMATION_MIN_CONFIDENCE
    ]
    if others:
        raise DecisionInputError(
            f"{address} is a blocking answer in a loaded set ({', '.join(others)}): a local "
            "rejection cannot override it; report the false positive upstream, or leave the "
            "set out ([verdict] ooni_fingerprints, fingerprint_files)"
        )


@fingerprints.command("accept")
@_decision_options
@pass_app
def accept(
    app: App,
    ip: str,
    reason: str,
    by: str | None,
    country: str | None,
    asn: str | None,
    period: str | None,
) -> None:
    """Accept IP as a censor's DNS answer (a sinkhole): it confirms blocking.

    The decision is kept in the store with who, when and why, and the address becomes the
    fingerprint local.<cc>_dns_sinkhole_<ip> (set 'local'), used by ingest, analyze, report
    and rejudge. A later decision on the same address replaces it; `decisions` shows the
    record.
    """
    _decide(app, "accept", ip, reason, by, country, asn, period)


@fingerprints.command("reject")
@_decision_options
@pass_app
def reject(
    app: App,
    ip: str,
    reason: str,
    by: str | None,
    country: str | None,
    asn: str | None,
    period: str | None,
) -> None:
    """Reject IP: it is known not to be a censor's answer (a CDN, the site's own hosting).

    The address becomes a known false positive (local.<cc>_dns_fp_<ip>, scope fp): it stops
    confirming if it was accepted before, and a measurement whose only sign of DNS blocking is
    this answer is not counted as blocking. When you are not sure, decide nothing yet.
    """
    _decide(app, "reject", ip, reason, by, country, asn, period)


@fingerprints.command("decisions")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_app
def decisions(app: App, as_json: bool) -> None:
    """The record of accepted and rejected addresses, oldest first (the latest counts)."""
    from censorwatch.answer_decisions import decision_history, fingerprint_for, latest_decisions

    store = app.store()
    history = decision_history(store)
    current = {d.id for d in latest_decisions(store).values()}
    if as_json:
        out = [
            {
                **d.as_dict(),
                "current": d.id in current,
                "fingerprint": fingerprint_for(d).name if d.id in current else None,
            }
            for d in history
        ]
        click.echo(json.dumps(out, indent=2, ensure_ascii=False))
        return
    if not history:
        click.echo("No decisions yet: `censorwatch fingerprints accept IP --reason TEXT`.")
        return
    for d in history:
        where = " ".join(x for x in (d.country or "", f"AS{d.asn}" if d.asn else "") if x)
        mark = "*" if d.id in current else " "
        click.echo(
            f"{mark} #{d.id:<5} {d.decided_at:%Y-%m-%d %H:%M} {d.decision:<6} {d.ip:<20} "
            f"{where:<14} {d.decided_by}: {d.reason}"
        )
    click.echo("* the decision that counts for its address")


@fingerprints.command("export")
@click.option(
    "--local",
    "local",
    is_flag=True,
    help="The working group's decisions (set 'local'), to send upstream to OONI.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    help="Write this file (atomically) instead of printing.",
)
@click.option(
    "--source",
    "source",
    metavar="TEXT",
    help="Put TEXT (the organisation, e.g. 'DRWG Cambodia') in the source column instead of "
    "who decided and when: the file is meant to be published.",
)
@pass_app
def export(app: App, local: bool, output: str | None, source: str | None) -> None:
    """Write fingerprints in OONI's blocking-fingerprints CSV schema.

    With --local: one row per decided address (accepted: scope nat, or isp with --asn;
    rejected: scope fp), in the columns of OONI's fingerprints_dns.csv. The source column
    says who decided and when unless --source replaces it.
    """
    import dataclasses
    from pathlib import Path

    from censorwatch.answer_decisions import DecisionInputError, local_fingerprints, ooni_csv
    from censorwatch.fingerprint_update import _write_atomic

    if not local:
        raise DecisionInputError(
            "nothing to export: give --local (the working group's accepted and rejected "
            "addresses); OONI's own and the project's fingerprints are already upstream"
        )
    rows = local_fingerprints(app.store())
    if source is not None and source.strip():
        rows = [dataclasses.replace(fp, source=source.strip()) for fp in rows]
    elif rows:
        app.say(
            "note: the source column names who decided; --source ORG puts the organisation "
            "there instead, before the file is published"
        )
    text = ooni_csv(rows)
    if output is None:
        click.echo(text, nl=False)
    else:
        path = Path(output)
        _write_atomic(path, text)
        app.say(f"wrote {len(rows)} fingerprint(s) to {path}")
    if not rows:
        app.say("no decisions yet: the file holds the header only")


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
    store = app.store()
    db = fingerprints_from_config(app.config, store)
    result = run_rejudge(store, db, since=start, everything=everything, batch_size=batch_size)
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
