"""Material for Facebook and radio: headline charts as PNG and a 100-word plain summary.

Advocates post the findings where their audience is, which is rarely a long HTML page. The
PNGs repeat the report's charts with their numbers written on them (an image is often shared
without its caption); the summary is plain text of at most 100 words that a radio host can
read aloud, with the period and the source in it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from censorwatch.errors import CensorwatchError
from censorwatch.reports import fonts
from censorwatch.reports.charts import OKABE_ITO
from censorwatch.reports.findings import key_findings, measured_on, ranked_sites
from censorwatch.reports.i18n import Language
from censorwatch.reports.model import ReportModel

MAX_WORDS = 100


def summary_text(model: ReportModel, lang: Language) -> str:
    """The plain-text summary (English words are counted; Khmer is kept to the same content)."""
    _ = lang.gettext
    h = model.headline
    parts = [
        lang.ngettext(
            "From %(start)s to %(end)s, %(num)s website showed confirmed blocking in %(country)s.",
            "From %(start)s to %(end)s, %(num)s websites showed confirmed blocking in %(country)s.",
            h.confirmed,
        )
        % {
            "start": lang.date(model.period_start),
            "end": lang.date(model.period_end),
            "num": lang.number(h.confirmed),
            "country": model.country_name,
        },
        lang.ngettext(
            "%(num)s more was likely blocked.", "%(num)s more were likely blocked.", h.likely
        )
        % {"num": lang.number(h.likely)},
        lang.ngettext(
            "%(num)s website was tested in %(measurements)s on %(networks)s.",
            "%(num)s websites were tested in %(measurements)s on %(networks)s.",
            h.websites_tested,
        )
        % {
            "num": lang.number(h.websites_tested),
            **measured_on(h.measurements, h.networks, lang),
        },
    ]
    if model.confirmed_sites:
        # In the key findings' order (news media first), not alphabetically.
        names = ", ".join(s.domain for s in ranked_sites(model.confirmed_sites)[:3])
        parts.append(_("Confirmed blocked websites include %(names)s.") % {"names": names})
    # The network where most websites were blocked, in the key finding's own words.
    network = next((f.text for f in key_findings(model, lang) if f.kind == "network"), None)
    if network:
        parts.append(network)
    parts.append(
        _("Source: OONI Probe and censorwatch measurements; full method in the report by %(org)s.")
        % {"org": model.edition.organisation}
        if model.edition.organisation
        else _("Source: OONI Probe and censorwatch measurements; full method in the report.")
    )
    if model.edition.synthetic:
        parts.insert(0, _("DEMONSTRATION WITH SYNTHETIC DATA, NOT A REAL FINDING."))
    text = " ".join(parts)
    words = text.split()
    if len(words) > MAX_WORDS:
        text = " ".join(words[:MAX_WORDS]).rstrip(",;") + "…"
    return text


def register_khmer_font() -> None:
    """Make the shipped Noto Sans Khmer known to matplotlib as the family "censorwatch Khmer".

    A machine without a Khmer font would otherwise draw boxes and warn "Glyph missing". It is
    registered under the package's own family name so that the PNGs are drawn with the shipped
    files even where another copy of Noto Sans Khmer is installed: the same picture on every
    machine. Idempotent.
    """
    from matplotlib import font_manager, ft2font

    manager = font_manager.fontManager
    if any(entry.name == fonts.FAMILY for entry in manager.ttflist):
        return
    for weight in sorted(fonts.FACES):
        entry = font_manager.ttfFontProperty(ft2font.FT2Font(fonts.font_path(weight)))
        manager.ttflist.append(dataclasses.replace(entry, name=fonts.FAMILY))


def social_rc(lang: Language) -> dict[str, Any]:
    """matplotlib settings for the PNGs of ``lang``.

    matplotlib (3.11 and later) lays text out with libraqm (HarfBuzz), which shapes Khmer:
    subscript consonants and vowels are placed as in the HTML report. A Khmer chart asks for
    the Khmer font first (its spaces and punctuation then match the Khmer letters) and falls
    back to DejaVu Sans, which matplotlib ships, for Latin names and numbers; an English chart
    asks the other way round, so Khmer text from the network still shows.
    """
    if lang.code == "km":
        return {"font.family": [fonts.FAMILY, "DejaVu Sans"], "text.language": "km"}
    return {"font.family": ["DejaVu Sans", fonts.FAMILY]}


def write_social(model: ReportModel, lang: Language, out_dir: Path) -> list[Path]:
    """Write the headline charts as PNG files and the summary as text; return the paths."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise CensorwatchError(
            "--social needs matplotlib: pip install 'censorwatch[social]'"
        ) from None
    from matplotlib import ft2font

    if lang.code == "km" and not hasattr(ft2font, "__libraqm_version__"):
        # Without libraqm the Khmer letters come out in the wrong places: refuse rather than
        # publish a picture that native readers cannot read.
        raise CensorwatchError(
            "Khmer PNGs need matplotlib 3.11 or later (complex text layout): "
            "pip install -U 'censorwatch[social]'"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    register_khmer_font()
    with plt.rc_context(social_rc(lang)):
        written = _write_pngs(model, lang, out_dir, plt)
    summary = out_dir / "summary.txt"
    summary.write_text(summary_text(model, lang) + "\n", encoding="utf-8")
    written.append(summary)
    return written


def _write_pngs(model: ReportModel, lang: Language, out_dir: Path, plt: Any) -> list[Path]:
    """The headline charts, drawn with the settings in force (:func:`social_rc`)."""
    _ = lang.gettext
    written: list[Path] = []
    footer = " · ".join(
        part
        for part in (
            _("Source: OONI Probe and censorwatch measurements"),
            model.edition.organisation,
        )
        if part
    )
    if model.edition.synthetic:
        footer = _("SYNTHETIC DEMONSTRATION DATA") + " · " + footer
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    # Country and period in every title: the picture is shared without the report.
    span = (
        f" · {model.country_name}, {lang.date(model.period_start)} – {lang.date(model.period_end)}"
    )

    if model.months:
        fig, ax = plt.subplots(figsize=(12, 6.3), dpi=100)
        labels = [lang.month_short(m.month) for m in model.months]
        values = [m.measurements for m in model.months]
        bars = ax.bar(labels, values, color=OKABE_ITO["blue"])
        for bar, value in zip(bars, values, strict=True):
            ax.annotate(
                lang.number(value),
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=9,
            )
        ax.set_title(_("Measurements per month") + span, fontsize=16, loc="left")
        ax.spines[["top", "right"]].set_visible(False)
        ax.set_yticks([])
        fig.text(0.01, 0.01, footer, fontsize=9, color="#555")
        path = out_dir / "measurements-per-month.png"
        fig.savefig(path, bbox_inches="tight")
        plt.close(fig)
        written.append(path)

    sites = model.confirmed_sites + model.likely_sites
    if sites:
        fig, ax = plt.subplots(figsize=(12, 6.3), dpi=100)
        counts: dict[str, list[int]] = {}
        for s in sites:
            c = counts.setdefault(s.category_name or s.category_code, [0, 0])
            c[0 if s.verdict == "confirmed" else 1] += 1
        names = sorted(counts, key=lambda k: (-sum(counts[k]), k))[:10]
        confirmed = [counts[n][0] for n in names]
        likely = [counts[n][1] for n in names]
        ax.barh(names, confirmed, color=OKABE_ITO["vermillion"], label=_("Confirmed blocked"))
        ax.barh(
            names,
            likely,
            left=confirmed,
            color=OKABE_ITO["orange"],
            hatch="//",
            edgecolor="white",
            label=_("Likely blocked"),
        )
        for y, (c, lk) in enumerate(zip(confirmed, likely, strict=True)):
            # The number on the bar: a shared image often travels without its axis.
            ax.annotate(
                lang.number(c + lk),
                (c + lk, y),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                fontsize=11,
            )
        ax.invert_yaxis()
        ax.margins(x=0.06)  # room for the number after the longest bar
        # Whole websites: integer ticks, written in the report's digits.
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: lang.number(int(v))))
        # Below the bars (the longest are at the top), clear of them.
        ax.legend(frameon=False, loc="lower right")
        ax.set_title(_("Blocked websites by category") + span, fontsize=16, loc="left")
        ax.spines[["top", "right"]].set_visible(False)
        fig.text(0.01, 0.01, footer, fontsize=9, color="#555")
        path = out_dir / "blocked-by-category.png"
        fig.savefig(path, bbox_inches="tight")
        plt.close(fig)
        written.append(path)
    return written
