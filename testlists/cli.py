"""``censorwatch testlist ...``: lint, edit, search, sync, export and import test lists.

Editing commands work on the working group's copy of the country list,
``<data_dir>/testlists/<cc>.csv`` (made from the shipped list on the first edit), or on the
file given with ``--list``. Every change is validated before anything is written, records a
reason in the side file, and is written atomically.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import click

from censorwatch.cli import App, pass_app
from censorwatch.errors import InputError, StoreError
from censorwatch.testlists.csvformat import (
    format_testlist,
    read_testlist,
)
from censorwatch.testlists.diff import diff_lists
from censorwatch.testlists.inputs import (
    country_list,
    describe_testlist_paths,
    global_list,
    load_inputs,
    resolve_testlist_paths,
    upstream_dir,
    working_list,
)
from censorwatch.testlists.legend import UPSTREAM_LEGEND_NAME, default_legend, load_legend
from censorwatch.testlists.lint import RULES, GlobalIndex, Linter, fix_file
from censorwatch.testlists.sidefile import STATUSES, load_meta, meta_path

LIST_OPTION = click.option(
    "--list",
    "list_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The list file to edit (default: the working copy of the country list).",
)
REASON_OPTION = click.option(
    "--reason", required=True, help="Why: recorded with the change in the side file."
)


@click.group("testlist")
def testlist() -> None:
    """Country test lists (Citizen Lab CSV): lint, edit, search, sync, export, import."""


# -- helpers --------------------------------------------------------------------------------
def _global_for(app: App, path: Path, explicit: Path | None = None) -> GlobalIndex | None:
    """The global list to check a country list against: --global, a sibling, or the synced."""
    if path.stem.lower() == "global":
        return None
    candidates = [explicit] if explicit else [path.with_name("global.csv"), global_list(app.config)]
    for candidate in candidates:
        if candidate is not None and candidate.is_file() and candidate.resolve() != path.resolve():
            return GlobalIndex.load(candidate)
    return None


def _edit_target(app: App, list_path: Path | None) -> Path:
    """The list to edit; the first edit copies the shipped (or synced) list to the data dir."""
    if list_path is not None:
        return list_path
    work = working_list(app.config)
    if work.exists():
        return work
    source, what = country_list(app.config)
    work.parent.mkdir(parents=True, exist_ok=True)
    if source is not None:
        shutil.copyfile(source, work)
        if meta_path(source).exists():
            shutil.copyfile(meta_path(source), meta_path(work))
        app.say(f"copied the country list ({what}) to {work}: edits go there, probe runs use it")
    return work


def _editor(app: App, list_path: Path | None, *, with_store: bool = False) -> Any:
    from censorwatch.testlists.edit import ListEditor

    path = _edit_target(app, list_path)
    lookup = None
    if with_store:

        def lookup(url: str) -> str | None:
            from censorwatch.testlists.history import blocked_evidence

            try:
                return blocked_evidence(app.store(), url)
            except StoreError as exc:
                app.say(f"cannot check the measurements ({exc}): retiring to be safe")
                return "the store could not be checked"

    return ListEditor(
        path,
        global_index=_global_for(app, path),
        author=app.config.testlists.author,
        blocked_lookup=lookup,
    )


def _lists_in_use(app: App, paths: tuple[Path, ...]) -> list[Path]:
    return list(paths) if paths else resolve_testlist_paths(app.config)


# -- lint -----------------------------------------------------------------------------------
@testlist.command()
@click.argument("paths", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--strict", is_flag=True, help="Warnings are errors too.")
@click.option("--fix", is_flag=True, help="Rewrite what can be fixed safely (atomically).")
@click.option("--no-sort", is_flag=True, help="With --fix: keep the order of the rows.")
@click.option(
    "--global",
    "global_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The global list to check country lists against (default: global.csv next to "
    "the list, else the synced one).",
)
@click.option(
    "--legend",
    "legend_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Category legend, ours or upstream's (default: upstream's "
    "00-LEGEND-new_category_codes.csv next to the list, else the one shipped with censorwatch).",
)
@click.option("--rules", "list_rules", is_flag=True, help="List the rules and exit.")
@pass_app
def lint(
    app: App,
    paths: tuple[Path, ...],
    strict: bool,
    fix: bool,
    no_sort: bool,
    global_path: Path | None,
    legend_path: Path | None,
    list_rules: bool,
) -> None:
    """Check lists (default: those in use); print PATH:LINE: rule: message; exit 1 on errors."""
    if list_rules:
        for rule in RULES.values():
            upstream = f" [upstream: {rule.upstream}]" if rule.upstream else ""
            fixable = " (--fix)" if rule.fixable else ""
            click.echo(f"{rule.name} ({rule.severity}){fixable}: {rule.summary}{upstream}")
        return
    explicit_legend = load_legend(legend_path) if legend_path else None
    errors = warnings = 0
    for path in _lists_in_use(app, paths):
        if not path.is_file():
            raise InputError(f"{path}: no such file")
        if path.name.startswith("00-"):
            app.say(f"{path}: a legend, not a list: skipped (as upstream's lint does)")
            continue
        index = _global_for(app, path, global_path)
        if index is None and path.stem.lower() != "global":
            app.say(f"{path}: no global list found: duplicate-global not checked")
        sibling = path.with_name(UPSTREAM_LEGEND_NAME)
        legend = explicit_legend or (
            load_legend(sibling) if sibling.is_file() else default_legend()
        )
        linter = Linter(legend, index)
        if fix:
            try:
                fixed = fix_file(path, legend, sort=not no_sort)
            except InputError as exc:
                app.say(str(exc))  # the issues below say what to fix by hand
            else:
                for line in fixed.changes:
                    click.echo(line)
        result = linter.lint_file(path)
        for issue in result.issues:
            click.echo(issue.format())
            if issue.is_error(strict):
                errors += 1
            else:
                warnings += 1
    app.say(f"{errors} error(s), {warnings} warning(s)")
    if errors:
        raise SystemExit(1)


# -- editing --------------------------------------------------------------------------------
@testlist.command()
@click.argument("url")
@click.option("--category", required=True, help="Citizen Lab category code, e.g. NEWS, HUMR.")
@click.option("--notes", default="", help="A short factual note.")
@click.option("--source", default=None, help="Who proposed it (default: testlists.source).")
@click.option("--date", default=None, help="date_added, YYYY-MM-DD (default: today).")
@click.option("--tag", "tags", multiple=True, help="A tag, e.g. election-2023 (repeatable).")
@click.option("--reason", default="", help="Why it is added (recorded in the side file).")
@click.option("--allow-variant", is_flag=True, help="Add it although http/https or case differ.")
@LIST_OPTION
@pass_app
def add(
    app: App,
    url: str,
    category: str,
    notes: str,
    source: str | None,
    date: str | None,
    tags: tuple[str, ...],
    reason: str,
    allow_variant: bool,
    list_path: Path | None,
) -> None:
    """Add URL to the list (validated; refuses duplicates, also across the global list)."""
    editor = _editor(app, list_path)
    outcome = editor.add(
        url,
        category,
        notes=notes,
        source=source if source is not None else app.config.testlists.source,
        date=date,
        tags=list(tags),
        reason=reason,
        allow_variant=allow_variant,
    )
    click.echo(f"{editor.path}: {outcome.message}")


@testlist.command()
@click.argument("url")
@REASON_OPTION
@click.option("--retire", is_flag=True, help="Retire it (keep its history) even if never blocked.")
@LIST_OPTION
@pass_app
def remove(app: App, url: str, reason: str, retire: bool, list_path: Path | None) -> None:
    """Remove URL; a URL ever found blocked is retired instead, keeping its history."""
    editor = _editor(app, list_path, with_store=True)
    outcome = editor.remove(url, reason, retire=retire)
    click.echo(f"{editor.path}: {outcome.message}")


@testlist.command()
@click.argument("url")
@click.option("--category", default=None, help="New category code.")
@click.option("--notes", default=None, help="New notes.")
@click.option("--source", default=None, help="New source.")
@click.option("--date", default=None, help="New date_added (YYYY-MM-DD).")
@REASON_OPTION
@LIST_OPTION
@pass_app
def edit(
    app: App,
    url: str,
    category: str | None,
    notes: str | None,
    source: str | None,
    date: str | None,
    reason: str,
    list_path: Path | None,
) -> None:
    """Change the category, notes, source or date of URL."""
    editor = _editor(app, list_path)
    outcome = editor.edit(url, reason, category=category, notes=notes, source=source, date=date)
    click.echo(f"{editor.path}: {outcome.message}")


@testlist.command("status")
@click.argument("url")
@click.argument("status", type=click.Choice(STATUSES))
@REASON_OPTION
@LIST_OPTION
@pass_app
def status_cmd(app: App, url: str, status: str, reason: str, list_path: Path | None) -> None:
    """Set the status of URL: active, retired (not tested, history kept), historically-blocked."""
    editor = _editor(app, list_path)
    outcome = editor.set_status(url, status, reason)
    click.echo(f"{editor.path}: {outcome.message}")


@testlist.command()
@click.argument("url")
@click.argument("tags", nargs=-1, required=True)
@REASON_OPTION
@LIST_OPTION
@pass_app
def tag(app: App, url: str, tags: tuple[str, ...], reason: str, list_path: Path | None) -> None:
    """Add TAGS (e.g. election-2023, officially-blocked-2018) to URL."""
    editor = _editor(app, list_path)
    click.echo(f"{editor.path}: {editor.tag(url, list(tags), reason).message}")


@testlist.command()
@click.argument("url")
@click.argument("tags", nargs=-1, required=True)
@REASON_OPTION
@LIST_OPTION
@pass_app
def untag(app: App, url: str, tags: tuple[str, ...], reason: str, list_path: Path | None) -> None:
    """Remove TAGS from URL."""
    editor = _editor(app, list_path)
    click.echo(f"{editor.path}: {editor.tag(url, list(tags), reason, remove=True).message}")


# -- reading --------------------------------------------------------------------------------
def _entries(paths: list[Path]) -> list[dict[str, Any]]:
    out = []
    for path in paths:
        tl = read_testlist(path)
        meta = load_meta(path)
        for row in tl.rows:
            out.append(
                {
                    "list": tl.name,
                    "path": str(path),
                    "line": row.line,
                    "url": row.url,
                    "category_code": row.category_code,
                    "category_description": row.category_description,
                    "date_added": row.date_added,
                    "source": row.source,
                    "notes": row.notes,
                    "status": meta.status(row.url),
                    "tags": meta.tags(row.url),
                }
            )
    return out


def _entry_line(e: dict[str, Any]) -> str:
    extra = "" if e["status"] == "active" else f" [{e['status']}]"
    tags = f" #{' #'.join(e['tags'])}" if e["tags"] else ""
    notes = f"  {e['notes']}" if e["notes"].strip() else ""
    return f"{e['list']}:{e['line']}  {e['url']}  {e['category_code']}{extra}{tags}{notes}"


@testlist.command()
@click.argument("text")
@click.option(
    "--list",
    "paths",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Search these lists (default: those in use; repeatable).",
)
@click.option("--category", default=None, help="Only this category code.")
@click.option("--status", "status_", type=click.Choice(STATUSES), default=None)
@click.option("--json", "as_json", is_flag=True, help="JSON lines.")
@pass_app
def search(
    app: App,
    text: str,
    paths: tuple[Path, ...],
    category: str | None,
    status_: str | None,
    as_json: bool,
) -> None:
    """Find entries whose URL, notes, source, category or tags contain TEXT (any case)."""
    needle = text.casefold()
    hits = 0
    for e in _entries(_lists_in_use(app, paths)):
        haystack = " ".join(
            [
                e["url"],
                e["notes"],
                e["source"],
                e["category_code"],
                e["category_description"],
                *e["tags"],
            ]
        ).casefold()
        if needle not in haystack:
            continue
        if category and e["category_code"] != category.upper():
            continue
        if status_ and e["status"] != status_:
            continue
        hits += 1
        click.echo(json.dumps(e, ensure_ascii=False) if as_json else _entry_line(e))
    app.say(f"{hits} match(es)")


@testlist.command()
@click.argument("url", required=False)
@click.option(
    "--list",
    "paths",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Show these lists (default: those in use; repeatable).",
)
@click.option("--json", "as_json", is_flag=True)
@pass_app
def show(app: App, url: str | None, paths: tuple[Path, ...], as_json: bool) -> None:
    """Without URL: the lists in use and their version; with URL: the entry and its history."""
    if url is None:
        _show_lists(app, paths, as_json)
        return
    from censorwatch.testlists.normalise import strict_key

    key = strict_key(url)
    found = [e for e in _entries(_lists_in_use(app, paths)) if strict_key(e["url"]) == key]
    if not found:
        raise InputError(f"{url} is in none of the lists in use")
    for e in found:
        history = [c.as_json() for c in load_meta(Path(e["path"])).changes_for(e["url"])]
        if as_json:
            click.echo(json.dumps({**e, "history": history}, ensure_ascii=False, indent=2))
            continue
        click.echo(f"{e['url']}  ({e['path']}:{e['line']})")
        for name in (
            "category_code",
            "category_description",
            "date_added",
            "source",
            "notes",
            "status",
        ):
            click.echo(f"  {name:<21} {e[name]}")
        click.echo(f"  {'tags':<21} {', '.join(e['tags'])}")
        for c in history:
            who = f" by {c['author']}" if c.get("author") else ""
            click.echo(f"  {c['at']}  {c['action']}{who}: {c['reason']}")


def _show_lists(app: App, paths: tuple[Path, ...], as_json: bool) -> None:
    described = (
        [(p, "given with --list") for p in paths] if paths else describe_testlist_paths(app.config)
    )
    if not paths and global_list(app.config) is None and not app.config.testlists.paths:
        app.say("the global list is not synced: run `censorwatch testlist sync` when online")
    inputs, version = load_inputs([p for p, _ in described])
    lists = []
    for path, what in described:
        tl = read_testlist(path)
        meta = load_meta(path)
        statuses = Counter(meta.status(r.url) for r in tl.rows)
        lists.append(
            {
                "path": str(path),
                "what": what,
                "name": tl.name,
                "rows": len(tl.rows),
                "statuses": dict(statuses),
                "sha256": tl.sha256,
                "categories": dict(Counter(r.category_code for r in tl.rows).most_common()),
            }
        )
    data = {"lists": lists, "urls_tested": len(inputs), "content_hash": version}
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    for item in lists:
        states = ", ".join(f"{k}: {v}" for k, v in sorted(item["statuses"].items()))
        click.echo(f"{item['path']}  ({item['what']})")
        click.echo(f"  {item['rows']} rows ({states}); sha256 {item['sha256']}")
        top = ", ".join(f"{k} {v}" for k, v in list(item["categories"].items())[:8])
        click.echo(f"  categories: {top}")
    click.echo(f"URLs a probe run tests: {len(inputs)} (duplicates and retired entries removed)")
    click.echo(f"content hash: {version}")


@testlist.command()
@click.argument("old", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.argument("new", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def diff(old: Path, new: Path, as_json: bool) -> None:
    """What changed from list OLD to list NEW (matched by URL in normal form)."""
    d = diff_lists(read_testlist(old).rows, read_testlist(new).rows)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "added": [r.url for r in d.added],
                    "removed": [r.url for r in d.removed],
                    "changed": {c.new.url: c.fields for c in d.changed},
                },
                indent=2,
                ensure_ascii=False,
            )
        )
        return
    for line in d.lines():
        click.echo(line)
    click.echo(f"{old.name} -> {new.name}: {d.summary()}")


# -- upstream -------------------------------------------------------------------------------
@testlist.command()
@click.option("--diff/--no-diff", "show_diff", default=True, help="Show how ours differs.")
@pass_app
def sync(app: App, show_diff: bool) -> None:
    """Fetch Citizen Lab's lists for the country (online) and show how ours differs."""
    from censorwatch.testlists.sync import sync_upstream

    cfg = app.config
    target = upstream_dir(cfg)
    app.say(f"fetching from {cfg.testlists.upstream_url} into {target}")
    for f in sync_upstream(cfg.testlists.upstream_url, cfg.country, target):
        rows = f" ({f.rows} rows)" if f.rows else ""
        click.echo(f"{f.name}: {f.outcome}{rows}")
    upstream = target / f"{cfg.country.lower()}.csv"
    ours, what = country_list(cfg)
    if not show_diff or ours is None or not upstream.is_file() or ours == upstream:
        return
    d = diff_lists(read_testlist(upstream).rows, read_testlist(ours).rows)
    click.echo(f"our list ({what}, {ours}) compared with upstream's:")
    for line in d.lines():
        click.echo(f"  {line}")
    click.echo(
        f"  {len(d.added)} only in ours (`censorwatch testlist export --upstream`), "
        f"{len(d.removed)} only upstream, {len(d.changed)} changed"
    )


@testlist.command()
@click.option(
    "--upstream",
    "to_upstream",
    is_flag=True,
    help="Our additions as upstream CSV rows, for a pull request to Citizen Lab.",
)
@click.option(
    "--ooni-run",
    "to_ooni_run",
    is_flag=True,
    help="An OONI Run v2 descriptor (JSON) for the lists in use.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write here (atomically) instead of standard output.",
)
@click.option(
    "--against",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="With --upstream: upstream's country list (default: the synced copy).",
)
@click.option("--name", default=None, help="With --ooni-run: the card's name (max 50).")
@click.option("--short-description", default=None, help="With --ooni-run: max 200 characters.")
@click.option("--description", default=None, help="With --ooni-run: Markdown.")
@click.option("--author", default=None, help="With --ooni-run: contact shown on the card.")
@click.option(
    "--list",
    "list_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The list to export (default: the country list; with --ooni-run, the lists in use).",
)
@pass_app
def export(
    app: App,
    to_upstream: bool,
    to_ooni_run: bool,
    output: Path | None,
    against: Path | None,
    name: str | None,
    short_description: str | None,
    description: str | None,
    author: str | None,
    list_path: Path | None,
) -> None:
    """Export for upstream (--upstream) or for the OONI Probe app (--ooni-run)."""
    if to_upstream == to_ooni_run:
        raise click.UsageError("give exactly one of --upstream and --ooni-run")
    cfg = app.config
    if to_upstream:
        from censorwatch.testlists.sync import local_additions

        ours = list_path or country_list(cfg)[0]
        if ours is None:
            raise InputError(f"no country list for {cfg.country}")
        upstream_path = against or upstream_dir(cfg) / f"{cfg.country.lower()}.csv"
        if not upstream_path.is_file():
            raise InputError(
                f"{upstream_path}: no upstream copy: run `censorwatch testlist sync` (online) "
                "or give --against PATH"
            )
        glob = upstream_path.with_name("global.csv")
        meta = load_meta(ours)
        retired = [u for u, e in meta.entries.items() if e.status == "retired"]
        rows = local_additions(
            read_testlist(ours).rows,
            read_testlist(upstream_path).rows,
            read_testlist(glob).rows if glob.is_file() else (),
            skip_urls=retired,
        )
        _emit(format_testlist(rows), output)
        app.say(f"{len(rows)} row(s) upstream does not have, from {ours}")
        return
    from censorwatch.testlists.ooni_run import ooni_run_descriptor

    paths = [list_path] if list_path else resolve_testlist_paths(cfg)
    inputs, version = load_inputs(paths, exclude_categories=cfg.probe.exclude_categories)
    label = cfg.report.organisation or "censorwatch"
    descriptor = ooni_run_descriptor(
        inputs,
        name=name or f"{cfg.country} test list",
        short_description=short_description
        or f"Test the websites of the {cfg.country} test list kept by {label}",
        description=description
        or (
            f"Checks whether the websites of the {cfg.country} country test list (and the "
            "global list) are blocked, with OONI's Web Connectivity test: the same URLs "
            "that censorwatch probes test."
        ),
        author=author or cfg.testlists.author or label,
        list_hash=version,
    )
    _emit(json.dumps(descriptor, indent=2, ensure_ascii=False) + "\n", output)
    app.say(f"{len(inputs)} URLs; list version {version}")


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        click.echo(text, nl=False)
        return
    from censorwatch.testlists.csvformat import atomic_write_bytes

    atomic_write_bytes(output, text.encode("utf-8"))


# -- store ----------------------------------------------------------------------------------
@testlist.command("import")
@click.argument("paths", nargs=-1, type=click.Path(dir_okay=False, exists=True, path_type=Path))
@pass_app
def import_(app: App, paths: tuple[Path, ...]) -> None:
    """Load lists (default: those in use) into the store, recording what changed since last."""
    from censorwatch.store import job_run
    from censorwatch.testlists.history import import_testlist

    store = app.store()
    with job_run(store, "testlist-import") as job:
        for path in _lists_in_use(app, paths):
            result = import_testlist(store, path, author=app.config.testlists.author)
            counts = ", ".join(f"{k} {v}" for k, v in result.counts.items())
            click.echo(
                f"{result.list_name}: {counts}, unchanged {result.unchanged} "
                f"(version {result.list_hash[:12]})"
            )
            for k, v in result.counts.items():
                job.counts[k] = job.counts.get(k, 0) + v
