"""Render a :class:`ReportModel` to one self-contained HTML file.

Jinja2 with autoescaping on for everything: text that came from the network (page titles,
URLs, network names, notes) can only ever appear as text. The CSS is inlined, the charts are
inline SVG built here, the data files are ``data:`` links: the page makes no request at all,
so it opens offline, from a USB stick, and prints cleanly.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from censorwatch.reports import charts, fonts, vocabulary
from censorwatch.reports.findings import blocked_by_category, key_findings
from censorwatch.reports.i18n import Language, get_language
from censorwatch.reports.model import ReportModel

TEMPLATES = Path(__file__).resolve().parent / "templates"
#: Stands in the page's CSS until the page's characters are known, then becomes its
#: ``@font-face`` rules (or nothing). The ``<`` makes it impossible for escaped text from the
#: network to spell it, so only the one in the ``<style>`` element can be replaced.
FONT_FACE_SLOT = "/*<censorwatch:font-face>*/"


def make_environment(lang: Language) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        lang.gettext, lang.ngettext, newstyle=True
    )
    env.filters["num"] = lang.number
    env.filters["pct"] = lang.percent
    env.filters["date"] = lang.date
    env.filters["month"] = lang.month
    env.filters["digits"] = lang.digits
    env.filters["css_string"] = css_string
    return env


def css_string(text: str) -> Markup:
    """``text`` as a quoted CSS string, safe inside a ``<style>`` element.

    Quotes, backslashes, control characters and the characters of markup are written as CSS
    escapes (a ``<style>`` element's text is not HTML-decoded, so HTML escaping would show).
    """

    def escape(c: str) -> str:
        return f"\\{ord(c):x} " if c in "\"'\\<>&" or ord(c) < 0x20 or ord(c) == 0x7F else c

    return Markup('"' + "".join(map(escape, str(text))) + '"')


def build_charts(model: ReportModel, lang: Language) -> dict[str, Markup]:
    """The report's charts, in the report's language."""
    _ = lang.gettext
    charts.reset_ids()
    out: dict[str, Markup] = {}
    months = model.months
    if months:
        values = [m.measurements for m in months]
        order = sorted(range(len(values)), key=lambda i: (-values[i], i))
        callouts = [charts.Callout(order[0], _("highest"))]
        if len(order) > 1:
            callouts.append(charts.Callout(order[1], _("second")))
        lowest = min(range(len(values)), key=lambda i: (values[i], i))
        if lowest not in {c.index for c in callouts}:
            callouts.append(charts.Callout(lowest, _("lowest")))
        month_index = {m.month: i for i, m in enumerate(months)}
        markers = [
            charts.Marker(month_index[e.start.strftime("%Y-%m")], e.label, lang.digits(str(n)))
            for n, e in enumerate(model.events, start=1)
            if e.start.strftime("%Y-%m") in month_index
        ]
        out["months"] = charts.bar_chart(
            [lang.month_short(m.month) for m in months],
            values,
            title=_("Measurements per month"),
            desc=_(
                "Bar chart of the number of measurements in each month; the same numbers "
                "are in the table below."
            ),
            fmt=lambda v: lang.number(v),
            callouts=callouts,
            markers=markers,
        )
    if model.networks:
        nets = model.networks[:12]
        out["networks"] = charts.hbar_chart(
            [n.label for n in nets],
            [n.measurements for n in nets],
            title=_("Measurements per network"),
            desc=_(
                "Horizontal bar chart of the number of measurements on each network; the "
                "same numbers are in the table below."
            ),
            fmt=lambda v: lang.number(v),
        )
    if model.heat.domains and model.heat.networks:
        out["heat"] = charts.heatmap(
            model.heat.domains,
            model.heat.networks,
            model.heat.shares,
            title=_("Share of anomalous measurements by website and network"),
            desc=_(
                "Grid of websites (rows) and networks (columns); each cell gives the share "
                "of measurements that showed an anomaly. Empty cells were not measured."
            ),
            fmt=lambda v: lang.percent(v),
            not_measured=_("not measured"),
        )
    day_sites = [s for s in model.confirmed_sites + model.likely_sites if s.timeline]
    if day_sites:
        start = model.period_start
        rows = [
            charts.TimelineRow(
                s.domain,
                [((d - start).days, state) for d, state in s.timeline],
                lang.ngettext(
                    "blocked %(blocked)s of %(num)s day measured",
                    "blocked %(blocked)s of %(num)s days measured",
                    s.days_measured or 0,
                )
                % {
                    "blocked": lang.number(s.days_blocked or 0),
                    "num": lang.number(s.days_measured or 0),
                },
            )
            for s in day_sites
        ]
        out["timeline"] = charts.timeline(
            rows,
            period_days=(model.period_end - start).days + 1,
            ticks=[
                ((d - start).days, _month_tick(d, lang, start.year != model.period_end.year))
                for d in _month_starts(model)
            ],
            title=_("Days each website was measured and observed blocked"),
            desc=_(
                "One row per blocked website, one mark per day of the period on which it "
                "was measured: dark orange when it was observed blocked on a network that "
                "blocks it, light grey when it was measured and not blocked there; days "
                "without a measurement are left empty. The counts of days are written "
                "under each name."
            ),
            legend=(_("blocked"), _("measured, not blocked"), _("not measured")),
        )
    return out


def _month_starts(model: ReportModel) -> list[dt.date]:
    """The period's first day and the first day of each later month in it (gridlines);
    every third month only for a period longer than 13 months, so labels do not collide."""
    d = model.period_start
    starts = [d]
    year, month = d.year, d.month
    while True:
        month += 1
        if month > 12:
            month, year = 1, year + 1
        nxt = dt.date(year, month, 1)
        if nxt > model.period_end:
            break
        starts.append(nxt)
    if len(starts) > 13:
        starts = [s for k, s in enumerate(starts) if k % 3 == 0]
    return starts


def _month_tick(day: dt.date, lang: Language, years: bool) -> str:
    """A gridline's label: the short month; with the year when the period spans several
    calendar years (its gridlines are then quarterly, so the longer label fits)."""
    return lang.date(day, "MMM y") if years else lang.date(day, "MMM")


def render_report(model: ReportModel, lang_code: str = "en") -> str:
    """The whole report as one HTML document.

    A page with Khmer text embeds the Khmer font, subset to the characters of the page
    (:mod:`censorwatch.reports.fonts`): it is rendered first, then its characters are known.
    """
    lang = get_language(lang_code)
    env = make_environment(lang)
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    template = env.get_template("report.html.j2")
    html = template.render(
        m=model,
        lang=lang,
        css=Markup(FONT_FACE_SLOT + "\n" + css),
        charts=build_charts(model, lang),
        findings=key_findings(model, lang),
        blocked_groups=blocked_by_category(model, lang),
        method_names=vocabulary.METHOD_NAMES,
        status_names=vocabulary.STATUS_NAMES,
        verdict_names=vocabulary.VERDICT_NAMES,
        answer_verdict_names=vocabulary.ANSWER_VERDICT_NAMES,
        app_status_names=vocabulary.APP_STATUS_NAMES,
        change_names=vocabulary.CHANGE_NAMES,
    )
    return html.replace(FONT_FACE_SLOT + "\n", fonts.font_face_css(html), 1)
