"""What changed since the previous period (#14): one rule, one result, the same numbers in
``analyze`` (JSON and changes.csv) and in the report.

"Newly blocked" is blocked now and measured but not blocked in the previous period; a site
not measured in the previous period is "first measured this period", never newly blocked.
"""

from __future__ import annotations

import datetime as dt
import json
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from censorwatch.analysis import analyze, parse_period
from censorwatch.analysis.changes import (
    FIRST_MEASURED,
    NEWLY_BLOCKED,
    NOT_MEASURED,
    STILL_BLOCKED,
    UNBLOCKED,
    UNCLEAR,
    classify,
)
from censorwatch.analysis.period import Period
from censorwatch.analysis.synthetic import ooni
from censorwatch.cli import cli
from censorwatch.config import load_config
from censorwatch.demo import build_demo_store, demo_config, write_demo_inputs
from censorwatch.reports.build import build_model
from censorwatch.reports.i18n import get_language
from censorwatch.reports.model import Edition
from censorwatch.reports.render import render_report
from censorwatch.store import open_store, write_measurements

KH = "Asia/Phnom_Penh"
A, B = 38623, 131178
EDITION = Edition("draft", "WG", dt.datetime(2024, 1, 5), "0" * 64, "1" * 64)


def days(start: str, n: int, hour: int = 3) -> list[str]:
    first = datetime.fromisoformat(start)
    return [(first + timedelta(days=i, hours=hour)).strftime("%Y-%m-%d %H:%M:%S") for i in range(n)]


def blocked_in(url: str, start: str) -> list:
    """Twelve anomalous days on one network: likely blocked (as in test_analysis_store)."""
    return [ooni(url, d, A, status="anomaly") for d in days(start, 12)]


def fine_in(url: str, start: str) -> list:
    return [ooni(url, d, A) for d in days(start, 12)] + [ooni(url, d, B) for d in days(start, 12)]


def cli_json(db_url: str, period: str, country: str = "KH", *extra: str) -> dict:
    args = ["analyze", "--country", country, "--period", period, "--format", "json", *extra]
    result = CliRunner().invoke(
        cli,
        ["--db", db_url, *args],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def report_lists(model) -> dict[str, list[str]]:
    return {
        "newly_blocked": sorted(s.domain for s in model.newly_blocked),
        "first_measured": sorted(s.domain for s in model.first_measured),
        "unblocked": sorted(s.domain for s in model.unblocked),
    }


def json_lists(data: dict) -> dict[str, list[str]]:
    ch = data["changes"]
    return {k: ch[k] for k in ("newly_blocked", "first_measured", "unblocked")}


def model_for(store, period: Period, settings=None, lang: str = "en"):
    """The report model as ``censorwatch report`` builds it (reports.pipeline)."""
    result = analyze(store, "KH", period, settings)
    previous = analyze(store, "KH", period.previous(), settings, compare_previous=False)
    return build_model(result, previous, store, get_language(lang), EDITION)


@pytest.mark.parametrize(
    ("previous", "current", "change"),
    [
        ("likely", "confirmed", STILL_BLOCKED),
        ("confirmed", "likely", STILL_BLOCKED),
        (NOT_MEASURED, "confirmed", FIRST_MEASURED),
        (NOT_MEASURED, "likely", FIRST_MEASURED),
        ("accessible", "likely", NEWLY_BLOCKED),
        ("inconclusive", "confirmed", NEWLY_BLOCKED),
        ("likely", "accessible", UNBLOCKED),
        ("likely", "inconclusive", UNCLEAR),
        ("confirmed", NOT_MEASURED, UNCLEAR),
        (NOT_MEASURED, "accessible", ""),
        ("accessible", "inconclusive", ""),
    ],
)
def test_classify(previous: str, current: str, change: str) -> None:
    assert classify(previous, current) == change


@pytest.fixture
def three_cases(tmp_path: Path, isolated_env):
    """blocked in 2022 and 2023; only measured (and blocked) in 2023; fine in 2022, blocked
    in 2023; and one site blocked in 2022 and fine in 2023."""
    url = f"sqlite:///{tmp_path / 'changes.sqlite3'}"
    store = open_store(url)
    rows = []
    rows += blocked_in("https://before.example/", "2022-03-01")
    rows += blocked_in("https://before.example/", "2023-03-01")
    rows += blocked_in("https://fresh.example/", "2023-04-01")
    rows += fine_in("https://fine.example/", "2022-05-01")
    rows += blocked_in("https://fine.example/", "2023-05-01")
    rows += blocked_in("https://lifted.example/", "2022-06-01")
    rows += fine_in("https://lifted.example/", "2023-06-01")
    with store.engine.begin() as conn:
        write_measurements(conn, rows)
    yield url, store
    store.close()


def test_three_cases_through_analyze(three_cases) -> None:
    _, store = three_cases
    result = analyze(store, "KH", parse_period("2023", KH))
    ch = result.changes
    assert ch.compared and ch.previous_measured
    # blocked before: still blocked, not newly
    assert list(ch.still_blocked["domain"]) == ["before.example"]
    # never measured before: first measured this period
    assert list(ch.first_measured["domain"]) == ["fresh.example"]
    # measured and fine before: newly blocked
    assert list(ch.newly_blocked["domain"]) == ["fine.example"]
    assert ch.newly_blocked.loc[0, "previous_verdict"] == "accessible"
    assert list(ch.unblocked["domain"]) == ["lifted.example"]
    h = result.headline
    assert (h.newly_blocked, h.first_measured, h.unblocked) == (1, 1, 1)
    data = result.to_json()["changes"]
    assert data["newly_blocked"] == ["fine.example"]
    assert data["first_measured"] == ["fresh.example"]
    assert data["still_blocked"] == ["before.example"]
    assert data["previous_measured"] is True and data["compared"] is True
    by_domain = result.tables()["changes"].set_index("domain")
    assert by_domain.loc["fresh.example", "previous_verdict"] == NOT_MEASURED
    assert by_domain.loc["fresh.example", "change"] == FIRST_MEASURED


def test_report_equals_analyze_json(three_cases) -> None:
    url, store = three_cases
    data = cli_json(url, "2023")
    model = model_for(store, parse_period("2023", KH))
    assert report_lists(model) == json_lists(data)
    assert report_lists(model) == {
        "newly_blocked": ["fine.example"],
        "first_measured": ["fresh.example"],
        "unblocked": ["lifted.example"],
    }
    assert data["headline"]["newly_blocked"] == len(model.newly_blocked) == 1
    assert data["headline"]["first_measured"] == len(model.first_measured) == 1
    html = render_report(model, "en")
    changes = html[html.index('id="changes"') : html.index('id="apps"')]
    assert "First measured this period" in changes and "fresh.example" in changes
    assert "1 website found blocked in this period was not measured" in changes
    km = render_report(model_for(store, parse_period("2023", KH), lang="km"), "km")
    changes = km[km.index('id="changes"') : km.index('id="apps"')]
    assert "វាស់វែងជាលើកដំបូងក្នុងអំឡុងពេលនេះ" in changes and "fresh.example" in changes


def test_previous_period_without_measurements(tmp_path: Path, isolated_env) -> None:
    """Only 2026 in the store: nothing is newly blocked, everything blocked is first measured,
    and the JSON says the previous period had no measurements (the #14 report)."""
    url = f"sqlite:///{tmp_path / 'only-now.sqlite3'}"
    store = open_store(url)
    try:
        with store.engine.begin() as conn:
            write_measurements(
                conn,
                blocked_in("https://a.example/", "2026-02-01")
                + blocked_in("https://b.example/", "2026-03-01")
                + fine_in("https://c.example/", "2026-04-01"),
            )
        data = cli_json(url, "2026")
        ch = data["changes"]
        assert ch["previous_measured"] is False and ch["compared"] is True
        assert ch["newly_blocked"] == [] and data["headline"]["newly_blocked"] == 0
        assert ch["first_measured"] == ["a.example", "b.example"]
        model = model_for(store, parse_period("2026", KH))
        assert report_lists(model) == json_lists(data)
        assert model.previous_period is None
        html = render_report(model, "en")
        assert "no comparison is possible" in html and "a.example" in html
        # --no-previous: no comparison made, so no change claimed at all.
        skipped = analyze(store, "KH", parse_period("2026", KH), compare_previous=False)
        d = skipped.to_json()["changes"]
        assert d["compared"] is False and d["previous_measured"] is False
        assert d["newly_blocked"] == d["first_measured"] == []
        assert set(skipped.changes.table["change"]) == {""}
    finally:
        store.close()


@pytest.fixture
def demo_store(tmp_path: Path, isolated_env):
    out = tmp_path / "demo"
    out.mkdir()
    cfg = demo_config(load_config(environ={}), out)
    write_demo_inputs(out)
    store = build_demo_store(cfg, out, 3000)
    yield cfg, store
    store.close()


def test_demo_store_report_equals_analyze(demo_store) -> None:
    cfg, store = demo_store
    period = parse_period("2023", KH)
    blocked = analyze(store, "KH", period, cfg.analysis).blocked
    assert len(blocked) >= 2
    # The demo holds 2023 only; add a 2022 for two of its blocked sites: one measured and
    # fine then (newly blocked now), one blocked then (still blocked).
    first, second = str(blocked.loc[0, "domain"]), str(blocked.loc[1, "domain"])
    with store.engine.begin() as conn:
        write_measurements(
            conn,
            fine_in(f"https://{first}/", "2022-05-01")
            + blocked_in(f"https://{second}/", "2022-05-01"),
        )
    data = cli_json(cfg.effective_database_url, "2023")
    model = model_for(store, period, cfg.analysis)
    assert report_lists(model) == json_lists(data)
    ch = data["changes"]
    assert ch["newly_blocked"] == [first]
    assert second in ch["still_blocked"] and second not in ch["first_measured"]
    assert set(ch["first_measured"]) == set(blocked["domain"]) - {first, second}
    assert data["headline"]["first_measured"] == len(model.first_measured)


def test_demo_store_days_report_equals_analyze(demo_store, tmp_path: Path) -> None:
    """The report's days (per blocked site: counts and timeline; per network: days
    measured) are analyze's, and the timeline follows domain_days.csv day by day."""
    cfg, store = demo_store
    out = tmp_path / "out"
    data = cli_json(cfg.effective_database_url, "2023", "KH", "--output", str(out))
    model = model_for(store, parse_period("2023", KH), cfg.analysis)
    blocked = {d["domain"]: d for d in data["domains"] if d["verdict"] in ("confirmed", "likely")}
    sites = model.confirmed_sites + model.likely_sites
    assert sites and {s.domain for s in sites} == set(blocked)
    table = pd.read_csv(out / "domain_days.csv")
    assert set(table["domain"]) == set(blocked)
    for site in sites:
        d = blocked[site.domain]
        assert (site.days_measured, site.days_blocked) == (d["days_measured"], d["days_blocked"])
        assert 1 <= d["days_blocked"] <= d["days_measured"]
        # The rule, written out again here from the CSV: blocked = an anomaly on a blocking
        # network that day; measured = a judged measurement on any network.
        asns = {n["asn"] for n in d["networks"]}
        rows = table[table["domain"] == site.domain]
        judged = set(rows.loc[rows["measurements"] > rows["failures"], "day"])
        hit = set(rows.loc[rows["probe_asn"].isin(asns) & (rows["anomalies"] > 0), "day"])
        want = [
            (dt.date.fromisoformat(day), "blocked" if day in hit else "measured")
            for day in sorted(judged | hit)
        ]
        assert list(site.timeline) == want
        assert len(site.timeline) == site.days_measured
        assert sum(1 for _d, state in site.timeline if state == "blocked") == site.days_blocked
    others = [d for d in data["domains"] if d["domain"] not in blocked]
    assert all(d["days_measured"] is None and d["days_blocked"] is None for d in others)
    networks = {n["asn"]: n for n in data["coverage"]["networks"]}
    assert {n.asn for n in model.networks} == set(networks)
    for n in model.networks:
        j = networks[n.asn]
        assert (n.days, str(n.first_day), str(n.last_day)) == (
            j["days"],
            j["first_day"],
            j["last_day"],
        )
        assert 1 <= n.days <= 365
    html = render_report(model, "en")
    svg = html[html.index('<svg class="chart timeline"') :]
    svg = svg[: svg.index("</svg>")]
    assert svg.count('<g class="timeline-row">') == len(sites)
    for site in sites:
        note = f"blocked {site.days_blocked} of {site.days_measured} days measured"
        assert f"{site.domain}: {note}" in svg


def real_documents(shared) -> list:
    """Every real OONI measurement of ../shared/fixtures (skipped when absent)."""
    from censorwatch.measurement import Measurement

    def body(path: Path) -> dict:
        return json.loads(json.loads(path.read_text(encoding="utf-8"))["body"])

    listed = body(
        shared("ooni", "api", "api_v1_measurements__web_connectivity_limit50.recorded.json")
    )
    rows = [Measurement.from_api_record(r) for r in listed["results"]]
    meta = dict(
        body(
            shared(
                "ooni", "api", "api_v1_measurement_meta__RU_rutor_http-diff_confirmed.recorded.json"
            )
        )
    )
    meta["scores"] = json.loads(meta["scores"])
    rows.append(Measurement.from_api_record(meta))
    for name in ("web_connectivity_ir_fp.json", "web_connectivity_null.json"):
        doc = json.loads(shared("ooni", "measurements", name).read_text(encoding="utf-8"))
        rows.append(Measurement.from_document(doc))
    return rows


def test_real_documents_report_equals_analyze(tmp_path: Path, isolated_env, shared) -> None:
    """A store of real OONI measurements (no previous period in it): for every country, the
    report's lists equal analyze's JSON, and a blocked site is first measured, not new."""
    rows = real_documents(shared)
    url = f"sqlite:///{tmp_path / 'real.sqlite3'}"
    store = open_store(url)
    try:
        with store.engine.begin() as conn:
            write_measurements(conn, rows)
        first_measured: list[str] = []
        for cc, year in sorted({(m.probe_cc, m.measurement_start_time.year) for m in rows}):
            data = cli_json(url, str(year), cc, "--timezone", "UTC")
            p = data["period"]
            period = Period(
                dt.date.fromisoformat(p["start"]), dt.date.fromisoformat(p["end"]), p["timezone"]
            )
            now = analyze(store, cc, period)
            previous = analyze(store, cc, period.previous(), compare_previous=False)
            model = build_model(now, previous, store, get_language("en"), EDITION)
            assert report_lists(model) == json_lists(data), (cc, year)
            assert data["changes"]["previous_measured"] is False
            assert data["changes"]["newly_blocked"] == []
            assert data["headline"]["first_measured"] == data["headline"]["blocked"]
            for d in data["domains"]:
                if d["verdict"] in ("confirmed", "likely"):
                    assert 1 <= d["days_blocked"] <= d["days_measured"], d["domain"]
                else:
                    assert d["days_measured"] is None and d["days_blocked"] is None
            for n in data["coverage"]["networks"]:
                assert n["days"] >= 1 and n["first_day"] <= n["last_day"]
            first_measured += data["changes"]["first_measured"]
        # OONI's confirmed RU measurement of rutor.org: first measured, never newly blocked.
        assert first_measured == ["rutor.org"]
    finally:
        store.close()
