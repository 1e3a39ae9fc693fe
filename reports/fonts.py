"""The Khmer font of the report: Noto Sans Khmer, shipped with the package, subset per page.

Most computers and many phones in the report's audience have no Khmer font, and a browser
without one draws every Khmer letter as a box. The report is one self-contained file that
makes no request (its Content-Security-Policy allows ``font-src data:`` only), so the font
travels inside it: at render time the page's Khmer characters are collected, the shipped
Noto Sans Khmer (SIL Open Font License 1.1, ``censorwatch/data/fonts/``) is cut down to
them with fontTools, and the result is embedded as a WOFF2 ``data:`` URL in an
``@font-face`` rule for the family ``"censorwatch Khmer"``. A report without Khmer
characters (the English one) gets no font at all.

The subset keeps every OpenType layout feature and the glyph closure through GSUB, because
Khmer shaping substitutes and positions glyphs that no character maps to (subscript
consonants, vowel parts, ligatures); a subset by the cmap alone would cut them. TrueType
hinting is dropped: it halves the embedded size, and the browsers people read the report
in (Chromium and Safari on phones, DirectWrite on Windows) draw Khmer well without it.

The ``@font-face`` rules carry a ``unicode-range`` of the Khmer blocks, so the family can
stand first in any font stack and is only used for Khmer characters; Latin text keeps the
page's own fonts.

Output is deterministic (no timestamp in the font, fixed compression), so the same report
renders to the same bytes. Speed: subsetting both weights takes about 0.4 s on a small
machine, most of it the WOFF2 compression; parsing is lazy and costs next to nothing, so the
shipped files are kept as bytes (read once per process) and parsed afresh for each subset
(the subsetter changes the font it is given), and each finished subset is cached, so
rendering the same page again costs nothing.
"""

from __future__ import annotations

import base64
import functools
import io
from collections.abc import Iterable
from importlib import resources

#: The CSS family name of the embedded font (first in the report's ``--khmer`` stack).
FAMILY = "censorwatch Khmer"
#: The package that ships the font files with OFL.txt and ATTRIBUTION.md.
FONT_PACKAGE = "censorwatch.data.fonts"
#: CSS font-weight -> shipped file. Bold is real, not synthesised: headings are bold.
FACES: dict[int, str] = {400: "NotoSansKhmer-Regular.ttf", 700: "NotoSansKhmer-Bold.ttf"}

#: Khmer (U+1780-U+17FF) and Khmer Symbols (U+19E0-U+19FF).
KHMER_BLOCKS: tuple[tuple[int, int], ...] = ((0x1780, 0x17FF), (0x19E0, 0x19FF))
#: Zero-width space, non-joiner and joiner: Khmer text uses them to mark word breaks and to
#: steer shaping, so they belong to the Khmer text even though they are not in its blocks.
JOINERS = frozenset({0x200B, 0x200C, 0x200D})
#: The dotted circle a shaper draws under a mark that has no base: kept so such a mark still
#: shows as the font draws it.
DOTTED_CIRCLE = 0x25CC
#: The ``unicode-range`` of the @font-face rules: the font is only used for these.
UNICODE_RANGE = "U+1780-17FF, U+19E0-19FF, U+200B-200D, U+25CC"


#: ០-៩, drawn by CSS counters (``counter(section, khmer)``) as well as written in the text.
KHMER_DIGITS = frozenset(chr(c) for c in range(0x17E0, 0x17EA))


def is_khmer(char: str) -> bool:
    """Whether a character is Khmer text (the Khmer blocks or a joiner used in it)."""
    code = ord(char)
    return code in JOINERS or any(lo <= code <= hi for lo, hi in KHMER_BLOCKS)


def khmer_characters(text: str) -> frozenset[str]:
    """The distinct Khmer characters of ``text`` (empty when it has none)."""
    return frozenset(c for c in set(text) if is_khmer(c))


def has_khmer(text: str) -> bool:
    """Whether ``text`` has a Khmer letter, digit or sign (joiners alone do not count)."""
    return any(is_khmer(c) and ord(c) not in JOINERS for c in text)


@functools.cache
def _font_bytes(filename: str) -> bytes:
    """A shipped font file, read once per process."""
    return resources.files(FONT_PACKAGE).joinpath(filename).read_bytes()


def font_path(weight: int = 400) -> str:
    """The file system path of a shipped face (for matplotlib, which wants a file)."""
    return str(resources.files(FONT_PACKAGE).joinpath(FACES[weight]))


def _woff_flavor() -> str:
    """WOFF2 (Brotli) when brotli is importable (a core dependency), else WOFF (zlib)."""
    try:
        import brotli  # noqa: F401
    except ImportError:  # pragma: no cover - brotli is a dependency; kept for odd installs
        return "woff"
    return "woff2"


@functools.lru_cache(maxsize=32)
def subset_font(weight: int, characters: frozenset[str]) -> tuple[str, bytes]:
    """A face cut down to ``characters`` with all Khmer layout: ``(flavor, font bytes)``."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    flavor = _woff_flavor()
    # recalcTimestamp=False: saving would otherwise stamp head.modified with the time of
    # day, and the same report would not render to the same bytes.
    font = TTFont(io.BytesIO(_font_bytes(FACES[weight])), recalcTimestamp=False)
    options = subset.Options()
    options.layout_features = ["*"]  # every GSUB/GPOS feature: Khmer shaping needs them
    options.layout_closure = True  # glyphs reached only through substitutions
    options.name_IDs = ["*"]  # keep the copyright and licence records (OFL condition 2)
    options.hinting = False
    options.notdef_outline = True
    options.flavor = flavor
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=sorted({ord(c) for c in characters} | {DOTTED_CIRCLE}))
    subsetter.subset(font)
    out = io.BytesIO()
    font.flavor = flavor
    font.save(out)
    return flavor, out.getvalue()


def font_face_css(characters: Iterable[str]) -> str:
    """``@font-face`` rules (regular and bold) embedding the font for ``characters``.

    Empty when there is no Khmer character among them: a page without Khmer needs no font.
    """
    chars = khmer_characters("".join(characters))
    if not any(ord(c) not in JOINERS for c in chars):
        return ""
    # The Khmer digits always: the stylesheet generates some (section numbers and list
    # markers in Khmer counters) that are not in the page's text.
    chars = chars | KHMER_DIGITS
    rules = []
    for weight in sorted(FACES):
        flavor, data = subset_font(weight, chars)
        encoded = base64.b64encode(data).decode("ascii")
        rules.append(
            "@font-face {\n"
            f'  font-family: "{FAMILY}"; font-style: normal; font-weight: {weight};\n'
            "  font-display: block;\n"
            f"  unicode-range: {UNICODE_RANGE};\n"
            f'  src: url(data:font/{flavor};base64,{encoded}) format("{flavor}");\n'
            "}\n"
        )
    return (
        f"/* {FAMILY}: Noto Sans Khmer 2.001, SIL Open Font License 1.1, subset to this page's"
        " Khmer characters (censorwatch/data/fonts/). */\n" + "".join(rules)
    )
