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
