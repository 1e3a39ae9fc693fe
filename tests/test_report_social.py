"""--social: headline charts as PNG and a plain summary of at most 100 words."""

from __future__ import annotations

import re
import warnings

import pytest

from censorwatch.reports.i18n import get_language
from censorwatch.reports.social import MAX_WORDS, summary_text, write_social


def test_summary_is_short_and_sourced(report_model) -> None:
    text = summary_text(report_model(), get_language("en"))
    assert len(text.split()) <= MAX_WORDS
    assert "36 websites showed confirmed blocking in Cambodia" in text
    assert "Source:" in text


def test_synthetic_summary_says_so(report_model) -> None:
    assert "SYNTHETIC" in summary_text(report_model(synthetic=True), get_language("en"))


def test_pngs_written(report_model, tmp_path) -> None:
    pytest.importorskip("matplotlib")
    paths = write_social(report_model(), get_language("en"), tmp_path)
    names = {p.name for p in paths}
    assert {"measurements-per-month.png", "blocked-by-category.png", "summary.txt"} <= names
    for p in paths:
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_khmer_pngs_draw_khmer_with_the_shipped_font(report_model, tmp_path, monkeypatch) -> None:
    """No "Glyph missing" (a warning is a failure here) and the Khmer title is drawn with the
    Noto Sans Khmer that ships in the package, laid out by libraqm (HarfBuzz shaping)."""
    pytest.importorskip("matplotlib")
    from matplotlib import font_manager, ft2font
    from matplotlib.backends import backend_agg

    from censorwatch.reports import fonts

    assert ft2font.__libraqm_version__  # complex text layout: Khmer is shaped, not just mapped
    drawn: list[tuple[str, object]] = []
    original = backend_agg.RendererAgg.draw_text

    def spy(self, gc, x, y, s, prop, angle, ismath=False, mtext=None):
        drawn.append((s, prop.copy()))
        return original(self, gc, x, y, s, prop, angle, ismath=ismath, mtext=mtext)

    monkeypatch.setattr(backend_agg.RendererAgg, "draw_text", spy)
    lang = get_language("km")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Glyph 6016 ... missing from font(s)" fails the test
        paths = write_social(report_model(), lang, tmp_path)
    assert {p.name for p in paths} >= {"measurements-per-month.png", "blocked-by-category.png"}
    for title in (
        lang.gettext("Measurements per month"),
        lang.gettext("Blocked websites by category"),
    ):
        assert fonts.has_khmer(title)
        props = [prop for s, prop in drawn if s.startswith(title)]
        assert props, f"{title!r} was not drawn"
        for prop in props:
            assert font_manager.findfont(prop) == fonts.font_path(400)
        # Titles say country and period: the picture travels without the report.
        assert any("Cambodia" in s and "២០២៣" in s for s, _ in drawn if s.startswith(title))
    # Khmer month names and Khmer digits on the axes and bars are drawn too.
    assert any(fonts.has_khmer(s) and s != title for s, _ in drawn)


def test_category_chart_ticks_are_whole_websites(report_model, tmp_path, monkeypatch) -> None:
    """Small counts: the category chart's ticks are integers (no 0.5 website), written in the
    report's digits, and each bar carries its number."""
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    seen: list[list[str]] = []
    original = plt.Figure.savefig

    def spy(fig, *args, **kwargs):
        for ax in fig.axes:
            fig.canvas.draw()
            seen.append([t.get_text() for t in ax.get_xticklabels() if t.get_text()])
        return original(fig, *args, **kwargs)

    monkeypatch.setattr(plt.Figure, "savefig", spy)
    write_social(report_model(), get_language("en"), tmp_path)
    ticks = seen[-1]  # the category chart is drawn last
    assert ticks and all(re.fullmatch(r"\d+", t) for t in ticks), ticks
    seen.clear()
    write_social(report_model(), get_language("km"), tmp_path / "km")
    assert all(re.fullmatch("[០-៩]+", t) for t in seen[-1]), seen[-1]


def test_english_pngs_keep_their_latin_font(report_model, tmp_path) -> None:
    pytest.importorskip("matplotlib")
    from censorwatch.reports.social import social_rc

    assert social_rc(get_language("en"))["font.family"][0] == "DejaVu Sans"
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        write_social(report_model(), get_language("en"), tmp_path)
