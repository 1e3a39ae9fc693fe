"""``censorwatch demo``: the whole pipeline, offline, on synthetic data.

A newcomer's first command. It builds a store of its own in the output folder (never touching
the user's store) from the synthetic year in :mod:`censorwatch.demo_data`, imports a synthetic
test list, runs the analysis and writes the report in English and Khmer. Every page of the
demo report says that its data is synthetic.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from censorwatch import demo_data
from censorwatch.cli import App, pass_app
from censorwatch.config import Config
from censorwatch.store import open_store
from censorwatch.testlists.csvformat import TestlistRow, atomic_write_bytes, write_testlist

if TYPE_CHECKING:
    from censorwatch.store import Store

DEFAULT_OUTPUT = Path("censorwatch-demo")

CONTEXT_MD = """# Legal and policy context (demonstration)

*This section is where a working group writes, in its own words, the legal and policy context
of the year, attributing every statement to its source. In this demonstration it holds no
real statement.*

- Example of an attributed statement: "According to [name of source, date], ..."
- Laws, regulations and official statements relevant to online expression would be cited here.
"""

RECOMMENDATIONS_MD = """# Recommendations (demonstration)

*Recommendations are written by the authoring organisation; censorwatch never writes them.
This demonstration shows only where they appear.*
"""


def demo_config(base: Config, out: Path) -> Config:
    """The user's configuration pointed at the demo's own store and files."""
    cfg = copy.deepcopy(base)
    cfg.database_url = f"sqlite:///{(out / 'demo.sqlite3').resolve()}"
    cfg.data_dir = str((out / "data").resolve())
    cfg.country = "KH"
    cfg.testlists.paths = [str((out / "testlist-demo.csv").resolve())]
    cfg.analysis.events_path = str((out / "events.csv").resolve())
    cfg.report.sections_dir = str((out / "sections").resolve())
    cfg.report.organisation = "censorwatch demonstration (synthetic data)"
    cfg.report.title = ""
    # The demo's own fingerprint set (its synthetic sinkhole), beside the configured ones.
    cfg.verdict.fingerprint_files = [
        *cfg.verdict.fingerprint_files,
        str((out / "fingerprints-demo.json").resolve()),
    ]
    return cfg


def write_demo_inputs(out: Path) -> None:
    """The synthetic test list, events and report sections, as a working group keeps them."""
    from censorwatch.testlists.legend import category_name

    rows = [
        TestlistRow(
            url=site.url,
            category_code=site.category_code,
            category_description=category_name(site.category_code),
            date_added="2022-06-01",
            source="censorwatch-demo",
            notes="Synthetic demonstration site (RFC 2606 example domain)",
        )
        for site in demo_data.SITES
    ]
    write_testlist(out / "testlist-demo.csv", rows)
    atomic_write_bytes(
        out / "fingerprints-demo.json",
        (json.dumps(demo_data.FINGERPRINTS, indent=1) + "\n").encode("utf-8"),
    )
    atomic_write_bytes(out / "events.csv", demo_data.EVENTS_CSV.encode("utf-8"))
    sections = out / "sections"
    sections.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(sections / "01-context.md", CONTEXT_MD.encode("utf-8"))
    atomic_write_bytes(sections / "02-recommendations.md", RECOMMENDATIONS_MD.encode("utf-8"))


def build_demo_store(cfg: Config, out: Path, measurements: int) -> Store:
    """A fresh demo store: the previous demo's database is replaced, nothing else touched."""
    for suffix in ("", "-wal", "-shm"):
        (out / f"demo.sqlite3{suffix}").unlink(missing_ok=True)
    store = open_store(cfg.effective_database_url)
    from censorwatch.store import write_measurements
    from censorwatch.testlists.history import import_testlist

    import_testlist(
        store, out / "testlist-demo.csv", author="censorwatch demo", now=dt.datetime(2023, 1, 1)
    )
    with store.engine.begin() as conn:
        from censorwatch.fingerprints import fingerprints_from_config

        fps = fingerprints_from_config(cfg)
        write_measurements(conn, demo_data.generate(total=measurements, fingerprints_hash=fps.hash))
    from censorwatch.measurement import utcnow
    from censorwatch.reports.pipeline import SYNTHETIC_MARKER
    from censorwatch.store.models import IngestState

    with store.session() as s:
        # Marks the store itself: any report made from it says the data is synthetic.
        s.add(
            IngestState(
                source=SYNTHETIC_MARKER,
                details={"generator": "censorwatch demo"},
                updated_at=utcnow(),
            )
        )
    return store


@click.command("demo")
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_OUTPUT,
    show_default=True,
    help="Folder for the demo's store, inputs and reports.",
)
@click.option(
    "--measurements",
    type=click.IntRange(1000, 2_000_000),
    default=40_000,
    show_default=True,
    help="Size of the synthetic year.",
)
@pass_app
def demo(app: App, output: Path, measurements: int) -> None:
    """Run the whole pipeline offline on synthetic data and write a demo report.

    Builds a store from a synthetic, clearly labelled Cambodian-shaped year (several
    networks, DNS-based blocking of news sites, a peak after a volunteer training), runs the
    analysis and writes DIR/report.html (English) and DIR/report-km.html (Khmer).
    """
    from censorwatch.reports.pipeline import generate_report, resolve_period

    out = output.expanduser()
    out.mkdir(parents=True, exist_ok=True)
    cfg = demo_config(app.config, out)
    app.say(f"demo: writing synthetic inputs to {out}")
    write_demo_inputs(out)
    app.say(f"demo: building a store of {measurements:,} synthetic measurements")
    store = build_demo_store(cfg, out, measurements)
    try:
        period = resolve_period(cfg, "KH", str(demo_data.YEAR))
        for lang, name in (("en", "report.html"), ("km", "report-km.html")):
            result = generate_report(
                cfg,
                store,
                country="KH",
                period=period,
                output=out / name,
                lang=lang,
                status="draft",
                synthetic=True,
            )
            app.say(f"demo: {lang} report written (data {result.data_hash[:16]})")
    finally:
        store.close()
    click.echo(f"Demo report (synthetic data): {(out / 'report.html').resolve()}")
    click.echo(f"Khmer version:                {(out / 'report-km.html').resolve()}")
