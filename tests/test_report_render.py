"""The report template: sections, languages, escaping, self-containment."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from babel.messages.pofile import read_po
from markupsafe import escape

from censorwatch.reports.charts import (
    Callout,
    TimelineRow,
    bar_chart,
    heatmap,
    ramp_colour,
    timeline,
)
from censorwatch.reports.i18n import LOCALE_DIR, get_language
from censorwatch.reports.markdown import render_markdown
from censorwatch.reports.render import render_report

EVIL = '"><script>alert(1)</script><img src=x onerror=alert(2)>'


class TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(html: str) -> list[tuple[str, dict]]:
    parser = TagCollector()
    parser.feed(html)
    return parser.tags


def test_all_sections_present(report_model) -> None:
    html = render_report(report_model(), "en")
    for anchor in (
        "cover",
        "findings",
        "method",
        "coverage",
        "blocked",
        "changes",
        "apps",
        "context",
        "annex",
    ):
        assert f'id="{anchor}"' in html
    assert "vodkhmer.news" in html
    assert "Viettel (Cambodia)" in html
    assert "<svg" in html and 'role="img"' in html


def test_self_contained(report_model) -> None:
    """No external request: no script, no stylesheet link, no remote src or url()."""
    html = render_report(report_model(), "en")
    for tag, attrs in tags(html):
        assert tag not in {"script", "iframe", "object", "embed", "link"}
        for name in ("src", "srcset", "poster", "data"):
            assert name not in attrs or attrs[name].startswith("data:"), (tag, attrs)
    assert "@import" not in html
    assert not re.search(r"url\((?!data:)", html)
    assert "Content-Security-Policy" in html


def test_network_text_is_escaped(report_model) -> None:
    html = render_report(report_model(evil=EVIL), "en")
    assert "<script>" not in html
    assert "onerror=alert" not in html.replace("onerror=alert(2)&gt;", "")
    assert not any(tag == "script" for tag, _ in tags(html))
    assert not any(tag == "img" for tag, _ in tags(html))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


@pytest.mark.parametrize(
    ("rows", "lang", "text"),
    [
        (1, "en", "1 measurement of the period was judged with other fingerprint sets"),
        (2400, "en", "2,400 measurements of the period were judged with other fingerprint sets"),
        (1, "km", "ការវាស់វែងចំនួន ១ ក្នុងអំឡុងពេលនេះ"),
        (2400, "km", "ការវាស់វែងចំនួន ២,៤០០ ក្នុងអំឡុងពេលនេះ"),
    ],
)
def test_rows_judged_with_other_fingerprints_counted_in_words(report_model, rows, lang, text):
    import dataclasses

    model = report_model()
    model = dataclasses.replace(
        model,
        method=dataclasses.replace(
            model.method,
            fingerprints_other_rows=get_language(lang).number(rows),
            fingerprints_other_count=rows,
            fingerprint_sets=(("ooni", "snapshot", 1849, "0" * 16, "2023-03-16"),),
        ),
    )
    assert text in render_report(model, lang)


def test_synthetic_banner(report_model) -> None:
    assert "synthetic data" in render_report(report_model(synthetic=True), "en")
    assert 'class="synthetic-banner"' not in render_report(report_model(synthetic=False), "en")


def test_khmer_report(report_model) -> None:
    html = render_report(report_model(), "km")
    assert '<html lang="km">' in html
    assert "លទ្ធផលសំខាន់ៗ" in html  # "Key findings"
    assert "២,៤០០,០០០" in html  # Khmer digits
    assert "មករា" in html  # January
    assert "draft-translation" in html  # marked for native-speaker review


def test_khmer_catalogue_is_complete() -> None:
    """Every message of the template and code has a Khmer translation with the same fields."""
    with (LOCALE_DIR / "messages.pot").open("rb") as fh:
        template = read_po(fh)
    with (LOCALE_DIR / "km" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        km = read_po(fh, locale="km")
    for message in template:
        if not message.id:
            continue
        translated = km.get(message.id)
        assert translated is not None and translated.string, f"untranslated: {message.id!r}"
        source = message.id if isinstance(message.id, str) else message.id[0]
        target = translated.string if isinstance(translated.string, str) else translated.string[0]
        assert set(re.findall(r"%\(\w+\)s", source)) == set(re.findall(r"%\(\w+\)s", target))


def test_catalogue_template_is_current(tmp_path) -> None:
    """messages.pot holds every string the template and code mark (re-extract when it fails)."""
    from babel.messages.extract import extract_from_dir

    from censorwatch.reports import render

    root = render.TEMPLATES.parent
    method_map = [("**.py", "python"), ("templates/**.j2", "jinja2")]
    options = {"templates/**.j2": {"extensions": "jinja2.ext.i18n"}}
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    found = {msg for _, _, msg, _, _ in extract_from_dir(str(root), method_map, options, keywords)}
    with (LOCALE_DIR / "messages.pot").open("rb") as fh:
        known = {m.id for m in read_po(fh) if m.id}
    assert found <= known, f"run pybabel extract (see reports/babel.cfg): {found - known}"


def test_language_formats() -> None:
    en, km = get_language("en"), get_language("km")
    assert en.number(2412345) == "2,412,345"
    assert km.percent(0.456) == "៤៦%"
    assert en.month("2023-07") == "July 2023"
    assert en.date(None) == "–"


def test_charts_have_text_alternatives() -> None:
    svg = bar_chart(
        ["Jan", "Feb"], [10, 5], title="T<x>", desc="D", callouts=[Callout(0, "highest")]
    )
    assert "<title" in svg and "<desc" in svg and "T&lt;x&gt;" in svg
    assert "highest" in svg
    grid = heatmap(["a<b>"], ["net"], [[None]], title="H", desc="D")
    assert "a&lt;b&gt;" in grid and "not measured" in grid
    assert ramp_colour(0) != ramp_colour(1)


def test_small_counts_get_whole_number_ticks() -> None:
    import re

    from censorwatch.reports.charts import axis_ticks

    assert axis_ticks(1) == [0, 1]
    assert axis_ticks(2) == [0, 1, 2]
    assert axis_ticks(2.5) == [0, 1, 2, 3]
    assert axis_ticks(5) == [0, 1, 2, 3, 4, 5]
    assert axis_ticks(200) == [0, 50, 100, 150, 200]
    assert axis_ticks(1, integer=False) == [0, 0.25, 0.5, 0.75, 1]
    svg = bar_chart(["Jan", "Feb"], [1, 0], title="T", desc="D")
    labels = re.findall(r'class="axis" text-anchor="end">([^<]*)<', str(svg))
    assert labels == ["0", "1"]


def test_markdown_sections_are_safe() -> None:
    html = render_markdown("<script>x()</script> [a](javascript:x()) [b](https://ok.example/)")
    assert "<script>" not in html
    assert 'href="javascript' not in html
    assert 'href="https://ok.example/"' in html


def test_our_evidence_ids_are_shown_whole(report_model) -> None:
    """A measurement id without a link is printed in full (it wraps, it is never cut)."""
    import dataclasses

    from censorwatch.reports.model import Evidence

    model = report_model()
    uid = "cw-20230113T020000Z-0123456789abcdef0123456789abcdef"
    site = dataclasses.replace(
        model.confirmed_sites[0], evidence=(Evidence(uid, None, "censorwatch", "13 Jan 2023"),)
    )
    model = dataclasses.replace(model, confirmed_sites=[site, *model.confirmed_sites[1:]])
    assert f"<code>{uid}</code>" in render_report(model, "en")


def _timeline_rows(svg: str) -> list[str]:
    return re.findall(r'<g class="timeline-row">.*?</g>', svg, re.S)


def test_timeline_marks_days_measured_and_blocked() -> None:
    """One row per site; blocked days marked, measured days marked apart, gaps left empty:
    no solid bar from the first to the last blocked day."""
    hostile = 'evil"><script>alert(1)</script>.example'
    rows = [
        TimelineRow(
            "a.example",
            [(1, "blocked"), (2, "blocked"), (5, "blocked"), (3, "measured")],
            "blocked 3 of 4 days measured",
        ),
        TimelineRow(
            hostile + "-with-a-very-long-name-indeed",
            [(9, "measured")],
            "blocked 0 of 1 day measured",
        ),
    ]
    svg = str(
        timeline(
            rows,
            period_days=10,
            ticks=[(0, "Jan"), (5, "Feb<")],
            title="Days <measured>",
            desc="What it shows",
            legend=("blocked", "measured, not blocked", "not measured"),
            width=260 + 100 + 16,  # the plot is 100 px wide (16 px margin on the right)
            label_width=260,
        )
    )
    assert "<title" in svg and "<desc" in svg and "Days &lt;measured&gt;" in svg
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "Feb&lt;" in svg
    got = _timeline_rows(svg)
    assert len(got) == 2
    # The whole name and the counts in the row's title; the label is shortened on the chart.
    assert escape(hostile) + "-with-a-very-long-name-indeed: blocked 0 of 1 day measured" in got[1]
    assert "…" in got[1]
    assert "blocked 3 of 4 days measured" in got[0]
    # Day width = 100 / 10 = 10 px from x=260: blocked days 1-2 as one run, day 5 alone.
    blocked = re.search(r'<path class="day-blocked" data-days="(\d+)"[^>]* d="([^"]+)"', got[0])
    assert blocked and blocked.group(1) == "3"
    starts = [float(x) for x in re.findall(r"M([\d.]+) ", blocked.group(2))]
    widths = [float(w) for w in re.findall(r"h([\d.]+)v", blocked.group(2))]
    assert starts == [270.0, 310.0] and widths == [20.0, 10.0]
    measured = re.search(r'<path class="day-measured" data-days="(\d+)"[^>]* d="M([\d.]+) ', got[0])
    assert measured and measured.group(1) == "1" and float(measured.group(2)) == 290.0
    assert 'class="day-blocked"' not in got[1]  # never blocked: no blocked mark


def test_report_timeline_in_both_languages() -> None:
    from report_fixtures import sample_model

    for lang in ("en", "km"):
        html = render_report(sample_model(), lang)
        svg = re.search(r'<svg class="chart timeline".*?</svg>', html, re.S).group(0)
        model = sample_model()
        sites = model.confirmed_sites + model.likely_sites
        assert len(_timeline_rows(svg)) == len(sites)
        assert svg.count('class="day-blocked" data-days="3"') == len(sites)
    assert "blocked 3 of 4 days measured" in render_report(sample_model(), "en")
    assert "បានបិទ ៣ ថ្ងៃ ក្នុងចំណោម ៤ ថ្ងៃដែលបានវាស់វែង" in render_report(sample_model(), "km")


def test_css_string_escapes_for_a_style_element() -> None:
    from censorwatch.reports.render import css_string

    assert css_string("plain ខ្មែរ") == '"plain ខ្មែរ"'
    assert css_string("a\"b\\c</style>\n'") == '"a\\22 b\\5c c\\3c /style\\3e \\a \\27 "'


def test_synthetic_warning_repeats_on_printed_pages(report_model) -> None:
    # Printed, the demo's warning is in every page's top margin (it no longer covers content).
    for lang in ("en", "km"):
        html = render_report(report_model(synthetic=True), lang)
        style = html.split("<style>@media print { @page { margin-top: 26mm; @top-center {", 1)[1]
        assert style.startswith(' content: "') and "</style>" in style
    assert '@top-center { content: "' not in render_report(report_model(), "en")
