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
