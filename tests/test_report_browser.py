"""The report in a real browser: headless Chromium (Debian's package), offline, accessible.

Skipped with the reason when Chromium or Playwright is missing (``.ci/run`` installs
Chromium); the browser is Debian's, never one downloaded by a test tool.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from censorwatch.reports.render import render_report

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    for candidate in (os.environ.get("CENSORWATCH_CHROMIUM"), "chromium", "chromium-browser"):
        if candidate and (path := shutil.which(candidate)):
            return path
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("Chromium is required under CI (.ci/run installs Debian's chromium)")
    pytest.skip("no Chromium on this machine (apt-get install chromium)")


@pytest.fixture(scope="module")
def browser():
    path = chromium_path()
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def open_report(browser, html: str, tmp_path: Path, width: int = 1200):
    tmp_path.mkdir(parents=True, exist_ok=True)
    report = tmp_path / "report.html"
    report.write_text(html, encoding="utf-8")
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(report.as_uri(), wait_until="load")
    return page, requests, errors


@pytest.mark.parametrize("lang", ["en", "km"])
def test_report_opens_offline_accessibly(browser, report_model, tmp_path: Path, lang: str) -> None:
    page, requests, errors = open_report(browser, render_report(report_model(), lang), tmp_path)
    # The only request is the file itself: no font, image, script or stylesheet is fetched.
    assert [u for u in requests if not u.startswith(("file://", "data:"))] == []
    assert errors == []
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    violations = [(v["id"], v["impact"], len(v["nodes"])) for v in results.response["violations"]]
    page.screenshot(path=str(tmp_path / f"report-{lang}.png"), full_page=True)
    assert violations == [], results.generate_report()
    page.context.close()


def test_demo_report_in_the_browser(browser, tmp_path: Path) -> None:
    """The real generated report (demo data through analysis), checked like the template."""
    from click.testing import CliRunner

    from censorwatch.cli import cli

    out = tmp_path / "demo"
    result = CliRunner().invoke(
        cli, ["demo", "--output", str(out), "--measurements", "2000"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    for name in ("report.html", "report-km.html"):
        page, requests, errors = open_report(
            browser, (out / name).read_text(encoding="utf-8"), tmp_path / name
        )
        assert [u for u in requests if not u.startswith(("file://", "data:"))] == []
        assert errors == []
        from axe_playwright_python.sync_playwright import Axe

        results = Axe().run(page)
        page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
        assert results.response["violations"] == [], results.generate_report()
        page.context.close()


def test_script_in_network_text_does_not_run(browser, report_model, tmp_path: Path) -> None:
    evil = '"><script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
    page, requests, _ = open_report(browser, render_report(report_model(evil=evil), "en"), tmp_path)
    assert page.evaluate("window.__pwned === undefined")
    assert page.locator("text=window.__pwned = 1").count() >= 1  # shown literally
    assert [u for u in requests if not u.startswith(("file://", "data:"))] == []
    page.context.close()


def test_phone_width_has_no_page_overflow(browser, report_model, tmp_path: Path) -> None:
    page, _, _ = open_report(browser, render_report(report_model(), "km"), tmp_path, width=360)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    page.screenshot(path=str(tmp_path / "report-phone.png"))
    assert overflow <= 0
    page.context.close()


# The Khmer characters of the page as the browser has it, and what the browser says of the
# embedded "censorwatch Khmer" faces once the page's fonts are ready. A character that the
# embedded font lacks would be drawn by the next font of the stack: here a probe font (made by
# the test) that draws every Khmer character 5 em wide, so such a character cannot hide behind
# a Khmer font that happens to be installed on the machine.
KHMER_FONT_STATE = """async (probe) => {
  await document.fonts.ready;
  const text = [...new Set((document.title + document.body.textContent)
      .match(/[\\u1780-\\u17FF\\u19E0-\\u19FF\\u200B-\\u200D]/g) || [])].join("");
  const faces = [...document.fonts]
      .filter((f) => f.family.replace(/["']/g, "") === "censorwatch Khmer")
      .map((f) => [f.weight, f.status]);
  const check = document.fonts.check('16px "censorwatch Khmer"', text);
  const bytes = Uint8Array.from(atob(probe), (c) => c.charCodeAt(0));
  const face = new FontFace("censorwatch probe", bytes);
  await face.load();
  document.fonts.add(face);
  const ctx = document.createElement("canvas").getContext("2d");
  const fellBack = [];
  for (const weight of ["400", "700"]) {
    ctx.font = `${weight} 16px "censorwatch Khmer", "censorwatch probe"`;
    for (const c of text) {
      if (!/[\\u200B-\\u200D]/.test(c) && ctx.measureText(c).width >= 40) {
        fellBack.push(`${weight} U+${c.codePointAt(0).toString(16).toUpperCase()}`);
      }
    }
  }
  ctx.font = '16px "censorwatch probe"';
  return {
    text,
    faces,
    check,
    fellBack,
    probeWidth: ctx.measureText("\\u1780").width,
    bodyFont: getComputedStyle(document.body).fontFamily,
  };
}"""


def probe_font() -> str:
    """A TrueType font (base64) drawing every Khmer character as an empty glyph 5 em wide."""
    import base64
    import io

    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.ttGlyphPen import TTGlyphPen

    builder = FontBuilder(1000, isTTF=True)
    builder.setupGlyphOrder([".notdef", "wide"])
    khmer = [*range(0x1780, 0x1800), *range(0x19E0, 0x1A00)]
    builder.setupCharacterMap(dict.fromkeys(khmer, "wide"))
    empty = TTGlyphPen(None).glyph()
    builder.setupGlyf({".notdef": empty, "wide": empty})
    builder.setupHorizontalMetrics({".notdef": (500, 0), "wide": (5000, 0)})
    builder.setupHorizontalHeader(ascent=800, descent=-200)
    builder.setupNameTable({"familyName": "censorwatch probe", "styleName": "Regular"})
    builder.setupOS2()
    builder.setupPost()
    out = io.BytesIO()
    builder.save(out)
    return base64.b64encode(out.getvalue()).decode("ascii")


@pytest.mark.parametrize("width", [1280, 390])
def test_khmer_report_uses_its_embedded_font(browser, report_model, tmp_path, width) -> None:
    html = render_report(report_model(), "km")
    page, requests, errors = open_report(browser, html, tmp_path, width=width)
    page.screenshot(path=str(tmp_path / f"report-km-{width}.png"))
    state = page.evaluate(KHMER_FONT_STATE, probe_font())
    page.context.close()
    assert len(state["text"]) > 40
    assert sorted(state["faces"]) == [["400", "loaded"], ["700", "loaded"]]
    assert state["check"] is True
    assert state["probeWidth"] == pytest.approx(80, abs=0.5)  # the probe: 5 em at 16 px
    assert state["fellBack"] == [], "characters the embedded font does not draw"
    assert state["bodyFont"].startswith('"censorwatch Khmer"')
    assert [u for u in requests if not u.startswith(("file://", "data:"))] == []
    assert errors == []


def test_english_report_has_no_embedded_font(browser, report_model, tmp_path) -> None:
    page, _, errors = open_report(browser, render_report(report_model(), "en"), tmp_path)
    state = page.evaluate(KHMER_FONT_STATE, probe_font())
    page.context.close()
    assert state["text"] == ""
    assert state["faces"] == []
    assert errors == []


# --- Layout: phone and desktop widths, print ------------------------------------------------
#
# The key tables carry class "cards" (see the comment at the top of report.html.j2): on a phone
# each row is a card and each cell sits under its column's label, so neither the page nor a
# key table scrolls sideways. Charts keep their figure-level scroll but are drawn at a size
# whose labels can be read. In print every section starts a page and no table is wider than
# the A4 text block.

#: The key tables: the blocked websites (one table per category), each network's blocked
#: websites, the vetted DNS answers and the annex, and three tables known by their caption.
KEY_TABLES = ("table.sites", "table.network-sites", "table#answers", "table.annex")
KEY_TABLE_CAPTIONS = {
    "Measurements per network",
    "Blocked websites by category",
    "Reachability per network",
}
#: The A4 page less the report's print margins (14 mm each side), in CSS pixels.
A4_TEXT_WIDTH_PX = round((210 - 2 * 14) / 25.4 * 96)


def long_text_model(report_model, synthetic: bool = False):
    """The fixture with the long texts a real report meets: a long URL and ids, long network,
    app and category names, every evidence kind and a vetted DNS answer."""
    import dataclasses
    import datetime as dt

    from censorwatch.reports.model import (
        AnswerRow,
        AppRow,
        Evidence,
        NetworkBlock,
        NetworkRow,
        NetworkSite,
    )

    m = report_model(synthetic=synthetic)
    long_url = (
        "https://independent-cambodian-news-and-current-affairs.example.org/2023/07/23/"
        "an-unusually-long-article-slug-about-the-national-election-and-its-aftermath"
        "?utm_source=newsletter&utm_campaign=election-2023"
    )
    long_net = "Viettel (Cambodia) Public Limited Company, mobile broadband (AS38623)"
    site = dataclasses.replace(
        m.confirmed_sites[0],
        domain="independent-cambodian-news-and-current-affairs.example.org",
        url=long_url,
        networks=(long_net, "Cellcard (AS38901)", "Smart Axiata (AS38901)"),
        methods=("dns", "tcp", "http"),
        evidence=(
            Evidence(
                "20230203T000000Z_webconnectivity_KH_38623_n1_AbCdEfGhIjKlMnOp",
                "https://explorer.ooni.org/m/20230203000000.000000_KH_webconnectivity_abc",
                "ooni",
                "3 Feb 2023, AS38623, OONI",
            ),
            Evidence("cw-2023-02-04-0000000000000000000000000000", None, "censorwatch", "4 Feb"),
            Evidence("x1", None, "censorwatch", "5 Feb"),
            Evidence("x2", None, "censorwatch", "6 Feb"),
        ),
    )
    on_long_net = NetworkSite(
        site.domain,
        "HUMR",
        "Human Rights Issues",
        "confirmed",
        ("dns", "tcp"),
        ("2001:db8:ffff:ffff:ffff:ffff:ffff:fffe", "203.0.113.94", "36.37.242.94"),
        dt.date(2023, 2, 3),
        dt.date(2023, 11, 30),
        1234567,
        1234000,
        1000000,
    )
    block = NetworkBlock(
        38623, long_net, 1200000, 340, dt.date(2023, 1, 1), dt.date(2023, 12, 31), (on_long_net,)
    )
    return dataclasses.replace(
        m,
        network_blocks=[block, *m.network_blocks],
        confirmed_sites=[site, *m.confirmed_sites],
        all_sites=[site, *m.all_sites],
        networks=[NetworkRow(38623, long_net, 1200000, 50000, 30), *m.networks],
        apps=[
            *m.apps,
            AppRow("Facebook Messenger", "facebook_messenger", long_net, 1000, 1, 999, "blocked"),
        ],
        method=dataclasses.replace(
            m.method,
            # A set named after its file, with no break opportunity in its 90 characters.
            fingerprint_sets=(
                (
                    "censorwatch_working_group_fingerprints_cambodia_dns_answers_and_blockpages_2023_08_01.csv",
                    "https://github.com/example/fingerprints/blob/main/cambodia/dns_answers.csv",
                    "1,234",
                    "0123456789abcdef",
                    "1 August 2023",
                ),
            ),
            answers=(
                AnswerRow(
                    "2001:db8:ffff:ffff:ffff:ffff:ffff:fffe",
                    "blocking",
                    "AS38623 " + long_net,
                    (long_net, "Cellcard (AS38901)"),
                    42,
                    ("a censorship fingerprint knows it", "given for 42 unrelated domains"),
                    "blocking, 2023-08-01: the address serves the ministry's blockpage",
                ),
            ),
        ),
    )


def check_screen_layout(page, width: int) -> None:
    """No sideways page scroll; on a phone, key tables as cards that fit, readable charts."""
    # body has overflow-x: hidden, which would hide an overflow from the root's scrollWidth:
    # measure both.
    overflow = page.evaluate(
        "[document.documentElement.scrollWidth - window.innerWidth,"
        " document.body.scrollWidth - document.body.clientWidth]"
    )
    assert overflow[0] <= 0 and overflow[1] <= 0, overflow
    tables = page.evaluate(
        """() => [...document.querySelectorAll('table.cards')].map(t => {
          const heads = [...t.tHead.rows[0].cells].map(c => c.textContent.trim());
          const wrap = t.closest('.table-wrap');
          return {
            caption: t.caption.textContent.trim(),
            overflow: wrap.scrollWidth - wrap.clientWidth,
            rowDisplay: [...t.tBodies[0].rows].map(r => getComputedStyle(r).display),
            headHeight: t.tHead.getBoundingClientRect().height,
            roles: [...t.querySelectorAll('tr, th, td')].filter(e => !e.getAttribute('role'))
                   .map(e => e.outerHTML.slice(0, 60)),
            labels: [...t.tBodies[0].rows].flatMap(r => [...r.cells]
              .filter(c => c.tagName === 'TD' && c.colSpan === 1)
              .map(c => [c.dataset.label, heads[c.cellIndex],
                         getComputedStyle(c, '::before').content])),
          };
        })"""
    )
    assert len(tables) >= 6, [t["caption"] for t in tables]
    for t in tables:
        # Every body cell is labelled with its own column's header text (same msgid).
        assert t["labels"], t["caption"]
        assert all(label == head for label, head, _ in t["labels"]), (t["caption"], t["labels"])
        assert t["roles"] == [], t["caption"]  # explicit ARIA roles on every row and cell
        if width <= 640:
            assert t["overflow"] <= 1, (t["caption"], t["overflow"])
            assert set(t["rowDisplay"]) == {"block"}, t["caption"]
            assert t["headHeight"] <= 1, t["caption"]  # kept for screen readers only
            # The label is drawn before the value (and hidden from screen readers: "/ ''").
            shown = [(label, content) for label, _, content in t["labels"]]
            assert all(c.startswith(f'"{label}"') for label, c in shown), (t["caption"], shown)
        else:
            assert set(t["rowDisplay"]) == {"table-row"}, t["caption"]
            assert {content for _, _, content in t["labels"]} == {"none"}, t["caption"]
    # Chart labels: the smallest axis text as drawn (font size times the svg's scale).
    sizes = page.evaluate(
        """() => [...document.querySelectorAll('svg.chart')].map(s => {
          const scale = s.getBoundingClientRect().width / s.viewBox.baseVal.width;
          const fonts = [...s.querySelectorAll('text')]
            .map(t => parseFloat(getComputedStyle(t).fontSize));
          return Math.min(...fonts) * scale;
        })"""
    )
    assert sizes and min(sizes) >= 10, sizes


def check_axe(page) -> None:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    assert results.response["violations"] == [], results.generate_report()


def check_print_layout(page) -> None:
    """Print media at the A4 text width: tables fit, sections start pages, rows stay whole."""
    page.set_viewport_size({"width": A4_TEXT_WIDTH_PX, "height": 1100})
    page.emulate_media(media="print")
    info = page.evaluate(
        """() => ({
          page: document.documentElement.scrollWidth - window.innerWidth,
          tables: [...document.querySelectorAll('table')].map(t => [
            t.caption ? t.caption.textContent.trim() : t.id,
            t.scrollWidth - t.parentElement.clientWidth,
            Math.ceil(t.getBoundingClientRect().right) - window.innerWidth]),
          breaks: [...document.querySelectorAll('main > section')]
            .map(s => [s.id, getComputedStyle(s).breakBefore]),
          rows: [...new Set([...document.querySelectorAll('tbody tr')]
            .map(r => getComputedStyle(r).breakInside))],
          heads: [...new Set([...document.querySelectorAll('thead')]
            .map(h => getComputedStyle(h).display))],
        })"""
    )
    assert info["page"] <= 0, info["page"]
    assert [t for t in info["tables"] if t[1] > 1 or t[2] > 1] == [], info["tables"]
    assert len(info["breaks"]) >= 8
    assert [s for s, b in info["breaks"] if b != "page"] == [], info["breaks"]
    assert info["rows"] == ["avoid"] and info["heads"] == ["table-header-group"], info


@pytest.mark.parametrize("lang", ["en", "km"])
@pytest.mark.parametrize("width", [1280, 390])
def test_layout_at_desktop_and_phone_width(
    browser, report_model, tmp_path: Path, width: int, lang: str
) -> None:
    html = render_report(long_text_model(report_model, synthetic=True), lang)
    page, requests, errors = open_report(browser, html, tmp_path, width=width)
    assert [u for u in requests if not u.startswith(("file://", "data:"))] == []
    assert errors == []
    page.screenshot(path=str(tmp_path / f"layout-{lang}-{width}.png"), full_page=True)
    for selector in KEY_TABLES:
        cards = page.evaluate(
            f"[...document.querySelectorAll({selector!r})].map(t => t.classList.contains('cards'))"
        )
        assert cards and all(cards), selector
    if lang == "en":
        captions = page.evaluate(
            "[...document.querySelectorAll('table.cards caption')].map(c => c.textContent.trim())"
        )
        assert set(captions) >= KEY_TABLE_CAPTIONS, captions
    check_screen_layout(page, width)
    check_axe(page)
    page.context.close()


@pytest.mark.parametrize("lang", ["en", "km"])
def test_print_layout(browser, report_model, tmp_path: Path, lang: str) -> None:
    import re

    html = render_report(long_text_model(report_model, synthetic=True), lang)
    page, _, errors = open_report(browser, html, tmp_path)
    check_print_layout(page)
    # The PDF itself (A4, as a reader's "Save as PDF"): the cover and each section on its pages.
    pdf = page.pdf(format="A4", print_background=True)
    (tmp_path / f"report-{lang}.pdf").write_bytes(pdf)
    pages = len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf))
    assert pages >= 1 + page.locator("main > section").count(), pages
    assert errors == []
    page.context.close()


def test_demo_report_layout(browser, tmp_path: Path) -> None:
    """The generated demo report at both widths and in print, in both languages."""
    from click.testing import CliRunner

    from censorwatch.cli import cli

    out = tmp_path / "demo"
    result = CliRunner().invoke(
        cli, ["demo", "--output", str(out), "--measurements", "2000"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    for name in ("report.html", "report-km.html"):
        html = (out / name).read_text(encoding="utf-8")
        for width in (1280, 390):
            page, _, errors = open_report(browser, html, tmp_path / f"{name}-{width}", width)
            page.screenshot(path=str(tmp_path / f"{name}-{width}.png"), full_page=True)
            check_screen_layout(page, width)
            if width == 390:
                check_axe(page)  # the 1280 px run is test_demo_report_in_the_browser's
            if width == 1280:
                check_print_layout(page)
            assert errors == []
            page.context.close()
