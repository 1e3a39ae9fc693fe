"""Key findings, the networks section and the blocked websites by category (#14).

The findings are sentences an advocate can quote: they name the sites (news media first), the
networks (ISP and ASN), the method in plain words with the blocking DNS answer, and the dates.
Every number in them is also in ``analyze --format json``: the tests compare the two on a
hand-made model, on the demo store and on a store of real OONI Probe documents with a sinkhole
the working group accepted.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from html import unescape
from pathlib import Path

import pytest
from click.testing import CliRunner

from censorwatch.analysis import analyze, parse_period
from censorwatch.cli import cli
from censorwatch.reports.build import build_model
from censorwatch.reports.findings import blocked_by_category, key_findings
from censorwatch.reports.i18n import get_language
from censorwatch.reports.model import Edition, NetworkBlock, NetworkSite
from censorwatch.reports.render import render_report

KH = "Asia/Phnom_Penh"
EDITION = Edition("draft", "WG", dt.datetime(2024, 1, 5), "0" * 64, "1" * 64)


def section(html: str, sid: str) -> str:
    start = html.index(f'<section id="{sid}"')
    return html[start : html.index("</section>", start)]


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def findings_text(html: str) -> list[str]:
    sec = section(html, "findings")
    return [text_of(li).strip() for li in re.findall(r"<li[^>]*>(.*?)</li>", sec, re.S)]


def with_networks(model, sites_per_network: dict[int, int], answer: str = "36.37.242.94"):
    """The hand-made model with network blocks (Viettel blocks by a DNS answer)."""
    names = {38623: "Viettel (Cambodia)", 38901: "Smart Axiata"}
    blocks = []
    sites = [*model.confirmed_sites, *model.likely_sites]
    for asn, n in sites_per_network.items():
        blocks.append(
            NetworkBlock(
                asn=asn,
                name=names[asn],
                measurements=1000,
                days=300,
                first_day=dt.date(2023, 1, 1),
                last_day=dt.date(2023, 12, 31),
                sites=tuple(
                    NetworkSite(
                        s.domain,
                        s.category_code,
                        s.category_name,
                        s.verdict,
                        ("dns",),
                        (answer,) if asn == 38623 else (),
                        dt.date(2023, 2, 3),
                        dt.date(2023, 11, 30),
                        100,
                        80,
                        80,
                    )
                    for s in sites[:n]
                ),
            )
        )
    return dataclasses.replace(model, network_blocks=blocks)


def test_findings_name_sites_networks_method_and_dates(report_model) -> None:
    model = with_networks(report_model(), {38623: 3, 38901: 1})
    found = key_findings(model, get_language("en"))
    text = [f.text for f in found]
    # Sites by category, news media first, named.
    news = next(t for t in text if t.startswith("News Media (NEWS)"))
    assert "3 websites blocked" in news and "vodkhmer.news" in news and "rfa.org" in news
    # The network with its ASN, the method in plain words with the address, and the dates.
    viettel = next(t for t in text if "Viettel (Cambodia) (AS38623)" in t)
    assert "3 websites were blocked" in viettel
    assert "DNS answers pointing to the address 36.37.242.94" in viettel
    assert "(rfa.org, vodkhmer.news, and cambodiadaily.com)" in viettel  # named
    assert "the first block was observed on 3 February 2023 and the last on 30 November" in viettel
    smart = next(t for t in text if "Smart Axiata (AS38901)" in t)
    # One site: singular, and no address known there.
    assert "1 website was blocked" in smart
    assert "DNS answers that differed from those of the uncensored control" in smart
    # The comparison with the previous period, never "1 websites".
    assert any(t.startswith("Compared with the previous period") for t in text)
    assert not any(re.search(r"\b1 websites\b", t) for t in text)


def test_findings_plurals_for_one(report_model) -> None:
    model = report_model()
    one = dataclasses.replace(
        model,
        headline=dataclasses.replace(model.headline, confirmed=1, likely=1, websites_tested=1),
        confirmed_sites=model.confirmed_sites[:1],
        likely_sites=[],
    )
    found = [f"{f.figure} {f.text}".strip() for f in key_findings(one, get_language("en"))]
    assert found[0].startswith("1 website showed confirmed blocking")
    assert found[1].startswith("1 further website was likely blocked")
    assert any(f.startswith("1 website was tested") for f in found)
    assert any("1 website blocked: vodkhmer.news" in f for f in found)


def test_khmer_findings_have_no_english_sentences(report_model) -> None:
    model = with_networks(report_model(), {38623: 3})
    km = key_findings(model, get_language("km"))
    for f in km:
        # Only names, addresses and codes stay in Latin script.
        words = re.sub(r"[\w.-]+\.(news|org|com|example)|\(AS\d+\)|\(\w+\)|[\d.]+", "", f.text)
        assert not re.search(r"\b(websites?|blocked|network|DNS answers)\b", words), f.text
    viettel = next(f.text for f in km if "AS38623" in f.text)
    assert "36.37.242.94" in viettel and "ចម្លើយ DNS ដែលចង្អុលទៅអាសយដ្ឋាន" in viettel


def test_blocked_section_groups_by_category_and_networks_section(report_model) -> None:
    model = with_networks(report_model(), {38623: 3, 38901: 1})
    html = render_report(model, "en")
    blocked = section(html, "blocked")
    for s in [*model.confirmed_sites, *model.likely_sites]:
        assert s.domain in blocked
    groups = blocked_by_category(model, get_language("en"))
    assert [h for h, _ in groups] == ["News Media (NEWS)"]
    assert [s.verdict for s in groups[0][1]] == ["confirmed", "confirmed", "likely"]
    nets = section(html, "networks")
    assert nets.count('<article class="network"') == 2
    assert 'id="network-as38623"' in nets
    viettel = nets[nets.index('id="network-as38623"') : nets.index('id="network-as38901"')]
    assert "<code>36.37.242.94</code>" in viettel and "300 days" in text_of(viettel)
    assert '<a href="#networks">Networks</a>' in html  # in the contents


def cli_json(db_url: str, *args: str) -> dict:
    out = CliRunner().invoke(cli, ["--db", db_url, "analyze", *args, "--format", "json"])
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout)


def assert_report_equals_json(model, data: dict) -> None:
    """The report model's numbers are analyze's JSON numbers (one truth)."""
    h = data["headline"]
    assert (model.headline.confirmed, model.headline.likely) == (h["confirmed"], h["likely"])
    assert model.headline.websites_tested == h["domains_tested"]
    assert model.headline.measurements == h["measurements"]
    blocked = {d["domain"] for d in data["domains"] if d["verdict"] in ("confirmed", "likely")}
    assert {s.domain for s in [*model.confirmed_sites, *model.likely_sites]} == blocked
    html = render_report(model, "en")
    section_blocked = section(html, "blocked")
    for domain in blocked:
        assert domain in section_blocked, domain
    by_asn = {n["asn"]: n for n in data["networks"]}
    for block in model.network_blocks:
        if block.asn not in by_asn:
            assert not block.sites  # a network with app measurements only
            continue
        net = by_asn[block.asn]
        assert [s.domain for s in block.sites] == [s["domain"] for s in net["sites"]]
        assert len(block.sites) == net["domains_blocked"]
        for s, j in zip(block.sites, net["sites"], strict=True):
            assert list(s.answers) == j["answers"] and list(s.methods) == j["methods"]
            assert (s.measurements, s.anomalies, s.confirmed) == (
                j["measurements"],
                j["anomalies"],
                j["confirmed"],
            )
            assert s.first_blocked == (
                dt.date.fromisoformat(j["first_blocked"]) if j["first_blocked"] else None
            )
    coverage = {n["asn"]: n for n in data["coverage"]["networks"]}
    assert {b.asn for b in model.network_blocks} == set(coverage)
    for block in model.network_blocks:
        assert block.measurements == coverage[block.asn]["measurements"]
        if "days" in coverage[block.asn]:
            assert block.days == coverage[block.asn]["days"]
    # The network sentences of the key findings count the same websites.
    text = " ".join(findings_text(html))
    for block in model.network_blocks:
        if block.sites:
            n = len(block.sites)
            word = "website was" if n == 1 else "websites were"
            assert f"On {block.label}, {n:,} {word} blocked (" in text


def test_demo_store_report_equals_analyze(tmp_path: Path, isolated_env) -> None:
    from censorwatch.config import load_config
    from censorwatch.demo import build_demo_store, demo_config, write_demo_inputs

    out = tmp_path / "demo"
    out.mkdir()
    cfg = demo_config(load_config(environ={}), out)
    write_demo_inputs(out)
    store = build_demo_store(cfg, out, 3000)
    try:
        period = parse_period("2023", KH)
        result = analyze(store, "KH", period, cfg.analysis)
        previous = analyze(store, "KH", period.previous(), cfg.analysis, compare_previous=False)
        model = build_model(result, previous, store, get_language("en"), EDITION)
        data = cli_json(cfg.effective_database_url, "--country", "KH", "--period", "2023")
        assert_report_equals_json(model, data)
        assert any(b.sites for b in model.network_blocks)
    finally:
        store.close()


def test_real_documents_with_an_accepted_sinkhole(tmp_path: Path, isolated_env) -> None:
    """Real OONI Probe documents (../shared, skipped when absent) with an unknown Cogetel
    sinkhole that the working group accepts: after rejudge the key findings say "DNS answers
    pointing to the address 203.189.136.20" on Cogetel Online (AS23673), in both languages,
    and the report's networks equal analyze's JSON."""
    from test_analysis_answers import SINKHOLE, half_year

    path = tmp_path / "half-year.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in half_year()), encoding="utf-8")
    runner = CliRunner()

    def run(*args: str):
        out = runner.invoke(cli, list(args), catch_exceptions=False)
        assert out.exit_code == 0, out.output
        return out

    run("ingest", "file", str(path))
    half = ("--period", "2023-01..2023-06")
    accept = ("fingerprints", "accept", SINKHOLE, "--reason", "sinkhole", "--asn", "AS23673")
    run(*accept, *half, "--by", "analyst")
    run("rejudge", "--all")
    data = json.loads(run("analyze", "--country", "KH", *half, "--format", "json").stdout)
    from censorwatch.config import load_config
    from censorwatch.fingerprints import fingerprints_from_config
    from censorwatch.store import open_store

    cfg = load_config()
    store = open_store(cfg.effective_database_url)
    try:
        period = parse_period("2023-01..2023-06", KH)
        # As `censorwatch report` does: the working group's accepted addresses included.
        fps = fingerprints_from_config(cfg, store)
        result = analyze(store, "KH", period, fingerprints=fps)
        previous = analyze(store, "KH", period.previous(), compare_previous=False, fingerprints=fps)
        model = build_model(result, previous, store, get_language("en"), EDITION)
        assert_report_equals_json(model, data)
        cogetel = next(b for b in model.network_blocks if b.asn == 23673)
        assert len(cogetel.sites) == 7 and cogetel.answers == (SINKHOLE,)
        en = " ".join(findings_text(render_report(model, "en")))
        # No measurement before 2023 in this store: the findings say so, and claim no change.
        assert (
            "The previous period of the same length (1 July 2022 – 31 December 2022) has no "
            "measurements, so no change since then is stated" in en
        )
        assert "newly blocked (" not in en
        assert (
            "On Cogetel Online (AS23673), 7 websites were blocked (" in en
            and f"through DNS answers pointing to the address {SINKHOLE}; the first block" in en
        )
        km_model = build_model(result, previous, store, get_language("km"), EDITION)
        km = " ".join(findings_text(render_report(km_model, "km")))
        assert f"ចម្លើយ DNS ដែលចង្អុលទៅអាសយដ្ឋាន {SINKHOLE}" in km and "AS23673" in km
    finally:
        store.close()


@pytest.mark.parametrize("lang", ["en", "km"])
def test_networks_section_escapes_network_text(report_model, lang: str) -> None:
    evil = "<script>alert(1)</script>"
    model = with_networks(report_model(evil=evil), {38623: 2})
    model = dataclasses.replace(
        model,
        network_blocks=[dataclasses.replace(model.network_blocks[0], name="Viettel" + evil)],
    )
    html = render_report(model, lang)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in section(html, "networks")


def test_no_plural_noun_after_one(report_model) -> None:
    """Counts of one read "1 website", "1 measurement", "1 entry" everywhere in the English
    report and the social summary (ngettext, #14)."""
    from censorwatch.reports.social import summary_text

    model = with_networks(report_model(), {38623: 1})
    one = dataclasses.replace(
        model,
        headline=dataclasses.replace(
            model.headline, confirmed=1, likely=1, websites_tested=1, measurements=1, networks=1
        ),
        previous=dataclasses.replace(model.previous, measurements=1),
        confirmed_sites=model.confirmed_sites[:1],
        likely_sites=model.likely_sites[:1],
        newly_blocked=model.confirmed_sites[:1],
        method=dataclasses.replace(model.method, testlist_size=1),
    )
    html = text_of(render_report(one, "en"))
    summary = summary_text(one, get_language("en"))
    plural = r"\b1 (websites|measurements|networks|entries|days|rows)\b"
    assert not re.findall(plural, html), re.findall(r".{60}" + plural + ".{20}", html)
    assert not re.findall(plural, summary), summary


def test_demo_is_consistent_with_its_own_fingerprint_set(tmp_path: Path, isolated_env) -> None:
    """The demo's confirmed measurements name a fingerprint set the report lists, none of them
    was judged with other sets, and the vetting of its sinkhole agrees (walk-through of #14)."""
    from censorwatch.config import load_config
    from censorwatch.demo import build_demo_store, demo_config, write_demo_inputs
    from censorwatch.demo_data import SINKHOLE_FINGERPRINT, SINKHOLE_IP
    from censorwatch.fingerprints import fingerprints_from_config

    out = tmp_path / "demo"
    out.mkdir()
    cfg = demo_config(load_config(environ={}), out)
    write_demo_inputs(out)
    store = build_demo_store(cfg, out, 3000)
    try:
        fps = fingerprints_from_config(cfg, store)
        result = analyze(store, "KH", parse_period("2023", KH), cfg.analysis, fingerprints=fps)
        assert result.method.rows_judged_with_other_fingerprints == 0
        assert any(f["name"] == "file:fingerprints-demo.json" for f in result.method.fingerprints)
        sink = next(a for a in result.blocking_answers if a["ip"] == SINKHOLE_IP)
        assert (sink["verdict"], sink["fingerprint"]) == ("blocking", SINKHOLE_FINGERPRINT)
        model = build_model(result, None, store, get_language("km"), EDITION)
        km = " ".join(findings_text(render_report(model, "km")))
        assert "\u200b" not in km  # Khmer lists joined with a visible space before Latin names
        assert "other fingerprint sets" not in render_report(
            build_model(result, None, store, get_language("en"), EDITION), "en"
        )
    finally:
        store.close()


def test_social_summary_names_sites_in_findings_order_and_a_network(report_model) -> None:
    from censorwatch.reports.social import summary_text

    model = with_networks(report_model(), {38623: 2})
    text = summary_text(model, get_language("en"))
    assert text.startswith("From 1 January 2023 to 31 December 2023, 36 websites showed")
    # Ties in the findings' order fall back to the domain: the same order in every sentence.
    assert "include rfa.org, vodkhmer.news." in text
    assert "blocked (rfa.org and vodkhmer.news)" in text
    assert "On Viettel (Cambodia) (AS38623), 2 websites were blocked" in text
    assert text.endswith("full method in the report by Digital Rights WG.")
    anonymous = dataclasses.replace(
        model, edition=dataclasses.replace(model.edition, organisation="")
    )
    assert summary_text(anonymous, get_language("en")).endswith("full method in the report.")
