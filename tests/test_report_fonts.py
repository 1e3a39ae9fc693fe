"""The Khmer font embedded in the report: present where Khmer is, covering it, deterministic."""

from __future__ import annotations

import base64
import io
import re
import time
from html.parser import HTMLParser

import pytest
from fontTools.ttLib import TTFont

from censorwatch.reports import fonts
from censorwatch.reports.render import render_report

FONT_FACE = re.compile(
    r"@font-face \{[^}]*?font-family: \"censorwatch Khmer\";[^}]*?font-weight: (\d+);"
    r"[^}]*?src: url\(data:font/(woff2?);base64,([A-Za-z0-9+/=]+)\)",
    re.S,
)


class _Text(HTMLParser):
    """The text a reader sees: text nodes outside <style> (SVG <text> and <title> included)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs) -> None:
        self._in_style = tag == "style"

    def handle_endtag(self, tag) -> None:
        self._in_style = False

    def handle_data(self, data) -> None:
        if not self._in_style:
            self.parts.append(data)


def page_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return "".join(parser.parts)


def embedded_fonts(html: str) -> dict[int, TTFont]:
    """The embedded faces by CSS weight, parsed back from their base64 ``data:`` URLs."""
    return {
        int(weight): TTFont(io.BytesIO(base64.b64decode(data)))
        for weight, _flavor, data in FONT_FACE.findall(html)
    }


def test_khmer_report_embeds_a_font_covering_its_khmer_text(report_model) -> None:
    html = render_report(report_model(), "km")
    needed = {c for c in page_text(html) if fonts.is_khmer(c)}
    assert len(needed) > 40  # the page really is Khmer
    faces = embedded_fonts(html)
    assert sorted(faces) == [400, 700]
    for weight, font in faces.items():
        assert font.flavor == "woff2"
        cmap = font.getBestCmap()
        missing = sorted(f"U+{ord(c):04X}" for c in needed if ord(c) not in cmap)
        assert missing == [], f"weight {weight} lacks {missing}"
        # Cut to the page: far fewer characters than the shipped font's 175 ...
        assert set(cmap) <= {ord(c) for c in needed} | fonts.JOINERS | {fonts.DOTTED_CIRCLE}
        # ... with the layout that Khmer shaping needs and the glyphs only reached through it
        # (subscript consonants, vowel parts): more glyphs than mapped characters.
        assert {"GSUB", "GPOS", "GDEF"} <= set(font.keys())
        features = {r.FeatureTag for r in font["GSUB"].table.FeatureList.FeatureRecord}
        assert {"pref", "blwf", "abvf", "pstf", "pres", "blws", "abvs"} <= features
        assert len(font.getGlyphOrder()) > len(cmap) + 20
        # The OFL travels with the font: copyright and licence records are kept.
        assert "Open Font License" in str(font["name"].getDebugName(13))
        assert font["name"].getDebugName(0)


def test_font_is_declared_for_khmer_only_and_first_in_the_khmer_stack(report_model) -> None:
    html = render_report(report_model(), "km")
    assert html.count("@font-face") == 2
    assert "unicode-range: U+1780-17FF, U+19E0-19FF, U+200B-200D, U+25CC;" in html
    assert re.search(r'--khmer: "censorwatch Khmer",', html)
    # The slot the font rules replace never reaches the page.
    assert "censorwatch:font-face" not in html


def test_english_report_without_khmer_embeds_no_font(report_model) -> None:
    html = render_report(report_model(), "en")
    assert not fonts.has_khmer(html)
    assert "@font-face" not in html
    assert "data:font/" not in html
    assert "censorwatch:font-face" not in html


def test_khmer_text_from_the_network_in_an_english_report_gets_the_font(report_model) -> None:
    html = render_report(report_model(evil=" ភ្នំពេញ"), "en")  # Phnom Penh, in a network name
    faces = embedded_fonts(html)
    assert sorted(faces) == [400, 700]
    cmap = faces[400].getBestCmap()
    assert all(ord(c) in cmap for c in "ភ្នំពេញ")


def test_rendering_is_deterministic(report_model) -> None:
    fonts.subset_font.cache_clear()
    first = render_report(report_model(), "km")
    render_report(report_model(evil="ក"), "km")  # another page in between
    fonts.subset_font.cache_clear()  # subset again: the font bytes themselves are stable
    assert render_report(report_model(), "km") == first
    assert render_report(report_model(), "en") == render_report(report_model(), "en")


def test_subsetting_is_fast(report_model) -> None:
    html = render_report(report_model(), "km")
    fonts.subset_font.cache_clear()
    start = time.perf_counter()
    css = fonts.font_face_css(html)
    elapsed = time.perf_counter() - start
    assert css.count("@font-face") == 2
    assert elapsed < 2.0, f"subsetting both weights took {elapsed:.2f} s"


def test_subset_shapes_khmer_like_the_whole_font(report_model, tmp_path) -> None:
    """Shaped with HarfBuzz (Pillow's raqm), every Khmer word of the page looks the same in the
    subset as in the whole shipped face: no substitution or mark position was lost.

    Compared at 96 px and then averaged over 4x4 pixels: subsetting moves a vowel part by a
    pixel or two at that size (a grey fringe, at most half a cell), while a lost
    substitution or mark attachment leaves or removes a whole stroke (a black cell, 255).
    """
    image = pytest.importorskip("PIL.Image")
    from PIL import ImageChops, ImageDraw, ImageFont, features

    if not features.check_feature("raqm"):
        pytest.skip("Pillow without raqm (no complex text layout)")
    from fontTools import subset

    html = render_report(report_model(), "km")
    words = sorted(
        {w for w in re.split(r"[^\u1780-\u17ff\u19e0-\u19ff\u200b-\u200d]+", page_text(html)) if w}
    )
    font = embedded_fonts(html)[400]
    font.flavor = None
    subset_ttf = tmp_path / "subset.ttf"
    font.save(subset_ttf)
    # The reference: the whole shipped face with its hinting dropped as the subset's is.
    whole = TTFont(fonts.font_path(400))
    options = subset.Options()
    options.layout_features = ["*"]
    options.hinting = False
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=whole.getBestCmap())
    subsetter.subset(whole)
    whole_ttf = tmp_path / "whole.ttf"
    whole.save(whole_ttf)
    faces = [
        ImageFont.truetype(str(path), 96, layout_engine=ImageFont.Layout.RAQM)
        for path in (subset_ttf, whole_ttf)
    ]

    def draw(face, word: str):
        canvas = image.new("L", (80 * len(word) + 40, 220), 255)
        ImageDraw.Draw(canvas).text((10, 10), word, font=face, fill=0, language="km")
        return canvas.reduce(4)

    worst = {w: ImageChops.difference(*(draw(f, w) for f in faces)).getextrema()[1] for w in words}
    assert {w: d for w, d in worst.items() if d >= 192} == {}


def test_font_ships_with_its_licence() -> None:
    from importlib import resources

    base = resources.files(fonts.FONT_PACKAGE)
    assert "SIL OPEN FONT LICENSE Version 1.1" in base.joinpath("OFL.txt").read_text("utf-8")
    attribution = base.joinpath("ATTRIBUTION.md").read_text("utf-8")
    assert "fonts-noto-core" in attribution and "20201225-1" in attribution
    for name in fonts.FACES.values():
        assert base.joinpath(name).read_bytes()[:4] == b"\x00\x01\x00\x00"
