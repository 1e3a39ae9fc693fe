"""censorwatch report and demo end to end: analysis -> model -> HTML, editions, snapshots."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from censorwatch import demo_data
from censorwatch.analysis.method import describe_method
from censorwatch.analysis.period import parse_period
from censorwatch.analysis.verdicts import Thresholds
from censorwatch.cli import cli
from censorwatch.config import load_config
from censorwatch.demo import build_demo_store, demo_config, write_demo_inputs
from censorwatch.reports.i18n import get_language
from censorwatch.reports.pipeline import generate_report, resolve_period
from censorwatch.store import write_measurements


@pytest.fixture
def demo_store(tmp_path: Path, isolated_env):
    out = tmp_path / "demo"
    out.mkdir()
    cfg = demo_config(load_config(environ={}), out)
    write_demo_inputs(out)
    store = build_demo_store(cfg, out, 3000)
    yield cfg, store, out
    store.close()


def test_report_from_the_store(demo_store) -> None:
    cfg, store, out = demo_store
    period = resolve_period(cfg, "KH", "2023")
    result = generate_report(
        cfg, store, country="KH", period=period, output=out / "r.html", synthetic=True
    )
    html = result.html.read_text(encoding="utf-8")
    assert "exiled-radio.example" in html
    assert "synthetic data" in html
    assert result.data_hash[:16] in html
    assert (out / "r-data" / "domains.csv").is_file()
    assert 'href="data:text/csv;charset=utf-8;base64,' in html
    # Synthetic measurements are cited without links to OONI Explorer.
    assert "explorer.ooni.org" not in html
    assert not result.from_snapshot


def test_endorsed_edition_is_frozen(demo_store) -> None:
    cfg, store, out = demo_store
    period = resolve_period(cfg, "KH", "2023")
    first = generate_report(
        cfg, store, country="KH", period=period, output=out / "e.html", status="endorsed"
    )
    # New measurements arrive after the endorsement...
    with store.engine.begin() as conn:
        write_measurements(conn, demo_data.generate(total=1500, seed=7))
    again = generate_report(
        cfg,
        store,
        country="KH",
        period=period,
        output=out / "e-km.html",
        lang="km",
        status="endorsed",
    )
    assert again.from_snapshot
    assert again.data_hash == first.data_hash
    # ...and only an explicit refresh takes them in.
    fresh = generate_report(
        cfg, store, country="KH", period=period, output=out / "d.html", refresh=True
    )
    assert fresh.data_hash != first.data_hash


def test_tampered_snapshot_is_refused(demo_store) -> None:
    from censorwatch.errors import CensorwatchError

    cfg, store, out = demo_store
    period = resolve_period(cfg, "KH", "2023")
    generate_report(cfg, store, country="KH", period=period, output=out / "e.html", status="review")
    snapshot = next((Path(cfg.data_dir) / "editions").glob("*.pickle"))
    snapshot.write_bytes(snapshot.read_bytes() + b"x")
    with pytest.raises(CensorwatchError, match="modified"):
        generate_report(cfg, store, country="KH", period=period, output=out / "f.html")


def test_every_method_sentence_is_translated() -> None:
    km = get_language("km")
    t = Thresholds()
    period = parse_period("2023", "Asia/Phnom_Penh")
    for variant in (t, dataclasses.replace(t, confirmed_min_agreement_days=0)):
        for sentence in describe_method(variant, period, "KH").sentences:
            assert km.gettext(sentence.template) != sentence.template, sentence.key


def test_demo_command(tmp_path: Path, isolated_env) -> None:
    out = tmp_path / "demo-out"
    result = CliRunner().invoke(
        cli, ["demo", "--output", str(out), "--measurements", "2000"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert str((out / "report.html").resolve()) in result.output
    for name in ("report.html", "report-km.html"):
        html = (out / name).read_text(encoding="utf-8")
        assert 'class="synthetic-banner"' in html
    # The user's own store is untouched: the demo has its own.
    assert not (isolated_env / "data" / "censorwatch.sqlite3").exists()


def test_report_command(demo_store, tmp_path: Path) -> None:
    cfg = demo_store[0]
    target = tmp_path / "cli.html"
    result = CliRunner().invoke(
        cli,
        [
            "--db",
            cfg.effective_database_url,
            "report",
            "--country",
            "KH",
            "--period",
            "2023-01-01..2023-12-31",
            "--lang",
            "km",
            "--output",
            str(target),
            "--social",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert target.is_file()
    # Made from the demo's store by hand: still labelled synthetic (the store is marked).
    assert 'class="synthetic-banner"' in target.read_text(encoding="utf-8")
    assert (tmp_path / "cli-social" / "summary.txt").is_file()
    status = CliRunner().invoke(cli, ["--db", cfg.effective_database_url, "status", "--json"])
    data = json.loads(status.output)
    assert data["report_editions"] >= 1
    assert any(job["job"] == "report" for job in data["jobs"])


def test_empty_store_is_refused(tmp_path: Path, isolated_env) -> None:
    """A typo in --db must not produce a report that says "0 websites blocked"."""
    from censorwatch.errors import InputError
    from censorwatch.store import open_store

    cfg = load_config(environ={})
    store = open_store(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    period = resolve_period(cfg, "KH", "2023")
    with pytest.raises(InputError, match="no measurements for KH"):
        generate_report(cfg, store, country="KH", period=period, output=tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()
    store.close()
