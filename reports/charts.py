"""Charts as inline SVG: no JavaScript, no external request, readable by screen readers.

Each chart is an ``<svg role="img">`` with a ``<title>`` and a ``<desc>`` (its text
alternative) and is always printed next to a data table holding the same numbers, so nobody
has to read values off bars. Colours come from the Okabe-Ito palette and a cividis-like ramp,
both distinguishable with the common colour-vision deficiencies; meaning is never carried by
colour alone (callouts are labelled in words).

Every label that may have come from the network (a domain, a network name) is escaped here.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

#: Okabe & Ito (2008), "Color Universal Design".
OKABE_ITO = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "grey": "#6b6b6b",
}
#: Sequential ramp (light to dark) after cividis, for shares from 0 to 1.
RAMP = ("#f4f1e4", "#d9d2a6", "#a8a77a", "#707a6f", "#3f5a78", "#00224e")

_ids = itertools.count(1)


def _uid(prefix: str) -> str:
    return f"{prefix}{next(_ids)}"


def reset_ids() -> None:
    """Number the ids of the next charts from 1 again (one report's ids are unique within it).

    Called at the start of each report, so the same report renders to the same bytes however
    many reports the process rendered before.
    """
    global _ids
    _ids = itertools.count(1)


@dataclass(frozen=True)
class Callout:
    """A labelled bar, e.g. the highest month: ``index`` into the bars, ``label`` in words."""

    index: int
    label: str


@dataclass(frozen=True)
class Marker:
    """An event drawn on a time axis at bar ``index`` (e.g. a training, an election).

    The chart shows ``number`` (default: its position) in a circle; ``label`` is its tooltip
    and belongs in the numbered list printed with the chart.
    """

    index: int
    label: str
    number: str = ""


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5 or 5 x 10^n that is at least ``value`` (axis maximum)."""
    if value <= 0:
        return 1
    exponent = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * exponent >= value:
            return step * exponent
    return 10 * exponent


def axis_ticks(vmax: float, *, integer: bool = True) -> list[float]:
    """The values of the horizontal grid lines, 0 to the axis maximum.

    Counts get whole-number ticks only, however small the counts are: five ticks over a
    maximum of 1 would read 0, 0, 0, 1, 1 once rounded. Other values get quarters.
    """
    if not integer:
        return [vmax * i / 4 for i in range(5)]
    top = max(1, math.ceil(vmax))
    for k in (4, 5, 2, 3, 1):
        if top % k == 0:
            return [top * i // k for i in range(k + 1)]
    return [0, top]


def _svg_open(width: int, height: int, title: str, desc: str, css_class: str) -> tuple[str, str]:
    tid, did = _uid("t"), _uid("d")
    head = (
        f'<svg class="chart {css_class}" viewBox="0 0 {width} {height}" '
        # The natural size: a phone shows the chart at it (text at its real size), scrolling.
        f'width="{width}" height="{height}" role="img" '
        f'aria-labelledby="{tid} {did}" xmlns="http://www.w3.org/2000/svg" '
        f'preserveAspectRatio="xMidYMid meet">'
        f'<title id="{tid}">{escape(title)}</title><desc id="{did}">{escape(desc)}</desc>'
    )
    return head, "</svg>"


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    desc: str,
    fmt: Callable[[float], str] = lambda v: f"{v:,.0f}",
    callouts: Sequence[Callout] = (),
    markers: Sequence[Marker] = (),
    width: int = 720,
    height: int = 300,
    integer: bool = True,
) -> Markup:
    """Vertical bars (e.g. measurements per month) with labelled callouts and event markers;
    ``integer``: the values are counts, so the axis shows whole numbers only."""
    head, tail = _svg_open(width, height, title, desc, "bar-chart")
    if not values:
        return Markup(head + tail)
    left, right, top, bottom = 56, 12, 44, 46
    plot_w, plot_h = width - left - right, height - top - bottom
    ticks = axis_ticks(nice_ceiling(max(values)), integer=integer)
    vmax = ticks[-1]
    slot = plot_w / len(values)
    bar_w = max(slot * 0.7, 1)
    called = {c.index: c.label for c in callouts}
    parts = [head]
    for tick in ticks:
        y = top + plot_h - plot_h * tick / vmax
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" class="axis" text-anchor="end">'
            f"{escape(fmt(tick))}</text>"
        )
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        x = left + i * slot + (slot - bar_w) / 2
        h = plot_h * value / vmax
        y = top + plot_h - h
        colour = OKABE_ITO["orange"] if i in called else OKABE_ITO["blue"]
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
            f'fill="{colour}"><title>{escape(label)}: {escape(fmt(value))}</title></rect>'
            f'<text x="{x + bar_w / 2:.1f}" y="{height - bottom + 16}" class="axis" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
        if i in called:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{max(y - 6, 12):.1f}" class="callout" '
                f'text-anchor="middle">{escape(called[i])}</text>'
            )
    for n, marker in enumerate(markers, start=1):
        # Events are numbered on the chart and named in the numbered list beside it, so long
        # labels never overlap bars, callouts or each other.
        x = left + marker.index * slot + slot / 2
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top - 14}" y2="{top + plot_h}" class="marker">'
            f"<title>{escape(marker.label)}</title></line>"
            f'<circle cx="{x:.1f}" cy="{top - 22}" r="9" class="marker-dot"/>'
            f'<text x="{x:.1f}" y="{top - 18}" class="marker-label" text-anchor="middle">'
            f"{escape(marker.number or str(n))}</text>"
        )
    parts.append(tail)
    return Markup("".join(parts))


def hbar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    desc: str,
    fmt: Callable[[float], str] = lambda v: f"{v:,.0f}",
    width: int = 720,
    bar_height: int = 22,
    label_width: int = 260,
) -> Markup:
    """Horizontal bars with the value written at the end of each bar (e.g. per network)."""
    height = max(len(values), 1) * (bar_height + 8) + 16
    head, tail = _svg_open(width, height, title, desc, "hbar-chart")
    parts = [head]
    vmax = max(values, default=0) or 1
    plot_w = width - label_width - 90
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 8 + i * (bar_height + 8)
        w = plot_w * value / vmax
        parts.append(
            f'<text x="{label_width - 8}" y="{y + bar_height * 0.7:.1f}" class="axis" '
            f'text-anchor="end">{escape(_clip(label, 40))}</text>'
            f'<rect x="{label_width}" y="{y}" width="{max(w, 1):.1f}" height="{bar_height}" '
            f'fill="{OKABE_ITO["blue"]}">'
            f"<title>{escape(label)}: {escape(fmt(value))}</title></rect>"
            f'<text x="{label_width + w + 6:.1f}" y="{y + bar_height * 0.7:.1f}" class="value">'
            f"{escape(fmt(value))}</text>"
        )
    parts.append(tail)
    return Markup("".join(parts))


def ramp_colour(share: float | None) -> str:
    """Colour of a share from 0 to 1 (``None``, not measured, is drawn hatched-grey)."""
    if share is None:
        return "#ffffff"
    step = min(int(share * (len(RAMP) - 1) + 0.5), len(RAMP) - 1)
    return RAMP[max(step, 0)]


def heatmap(
    rows: Sequence[str],
    cols: Sequence[str],
    shares: Sequence[Sequence[float | None]],
    *,
    title: str,
    desc: str,
    fmt: Callable[[float], str] = lambda v: f"{v:.0%}",
    not_measured: str = "not measured",
    cell: int = 34,
    row_label_width: int = 230,
    col_label_height: int = 150,
) -> Markup:
    """A grid of shares (e.g. anomalous share per domain and network), value printed in cells."""
    # Room on the right for the last column's label, which leans over it.
    width = row_label_width + max(len(cols), 1) * cell + 120
    height = col_label_height + max(len(rows), 1) * cell + 10
    head, tail = _svg_open(width, height, title, desc, "heatmap")
    parts = [head]
    for j, col in enumerate(cols):
        x = row_label_width + j * cell + cell / 2
        parts.append(
            f'<text transform="translate({x:.1f},{col_label_height - 6}) rotate(-50)" '
            f'class="axis">{escape(_clip(col, 28))}</text>'
        )
    for i, row in enumerate(rows):
        y = col_label_height + i * cell
        parts.append(
            f'<text x="{row_label_width - 6}" y="{y + cell * 0.62:.1f}" class="axis" '
            f'text-anchor="end">{escape(_clip(row, 32))}</text>'
        )
        for j, share in enumerate(shares[i]):
            x = row_label_width + j * cell
            colour = ramp_colour(share)
            text = not_measured if share is None else fmt(share)
            dark = share is not None and share >= 0.5
            parts.append(
                f'<rect x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" fill="{colour}" '
                f'class="{"cell-none" if share is None else "cell"}">'
                f"<title>{escape(row)} / {escape(cols[j])}: {escape(text)}</title></rect>"
            )
            if share is not None:
                parts.append(
                    f'<text x="{x + (cell - 2) / 2:.1f}" y="{y + cell * 0.6:.1f}" '
                    f'class="{"cell-text dark" if dark else "cell-text"}" text-anchor="middle">'
                    f"{escape(fmt(share))}</text>"
                )
    parts.append(tail)
    return Markup("".join(parts))


#: A day's state in the timeline (as :mod:`censorwatch.analysis.domains` names them).
BLOCKED_DAY, MEASURED_DAY = "blocked", "measured"
#: Measured and not blocked: a light neutral, so blocked days (vermillion) stand out.
MEASURED_FILL = "#d4d4d4"


@dataclass(frozen=True)
class TimelineRow:
    """One website's row: its measured days, each ``(day index from the period's first
    day, "blocked" or "measured")``; days not measured are absent. ``note`` is the counts
    in words (e.g. "blocked 40 of 52 days measured"), printed under the name."""

    label: str
    days: Sequence[tuple[int, str]]
    note: str = ""


def _runs(days: Sequence[tuple[int, str]], state: str) -> list[tuple[int, int]]:
    """Consecutive days in ``state`` as ``(first, count)`` runs (one path segment each: a
    mark per day would be the same pixels in hundreds of times the bytes)."""
    runs: list[tuple[int, int]] = []
    for day in sorted({d for d, s in days if s == state}):
        if runs and runs[-1][0] + runs[-1][1] == day:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((day, 1))
    return runs


def timeline(
    rows: Sequence[TimelineRow],
    *,
    period_days: int,
    ticks: Sequence[tuple[int, str]],
    title: str,
    desc: str,
    legend: tuple[str, str, str] = ("blocked", "measured, not blocked", "not measured"),
    width: int = 720,
    row_height: int = 34,
    label_width: int = 230,
) -> Markup:
    """One row per website with a mark for every day of the period it was measured:
    blocked days in vermillion, measured-not-blocked days in a light neutral, days not
    measured left empty, so gaps in the measurements are never drawn as blocking.

    ``period_days`` is the number of days of the period, ``ticks`` the axis's gridlines as
    ``(day index, label)`` (e.g. each month's first day), ``legend`` the three states in
    words. Each row is a group with a ``<title>`` holding the full name and the counts (the
    name on the chart is shortened with an ellipsis when long); the counts are also written
    under the name, so nothing depends on colour.
    """
    top = 46  # legend, then the axis labels
    height = top + len(rows) * row_height + 8
    head, tail = _svg_open(width, height, title, desc, "timeline")
    plot_x = label_width
    plot_w = width - label_width - 16
    days = max(int(period_days), 1)
    day_w = plot_w / days
    parts = [head]
    swatches = (
        (OKABE_ITO["vermillion"], "none", legend[0]),
        (MEASURED_FILL, "none", legend[1]),
        ("#ffffff", OKABE_ITO["grey"], legend[2]),
    )
    x = plot_x
    for fill, stroke, text in swatches:
        parts.append(
            f'<rect x="{x:.1f}" y="4" width="12" height="12" fill="{fill}" stroke="{stroke}"/>'
            f'<text x="{x + 16:.1f}" y="14" class="axis legend">{escape(text)}</text>'
        )
        x += 16 + 7 * len(text) + 18
    plot_bottom = top + len(rows) * row_height
    for day, text in ticks:
        tx = plot_x + day_w * max(0, min(day, days))
        parts.append(
            f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{top - 8}" y2="{plot_bottom}" class="grid"/>'
            f'<text x="{tx + 2:.1f}" y="{top - 12}" class="axis">{escape(text)}</text>'
        )
    band = row_height - 18
    for i, row in enumerate(rows):
        y = top + i * row_height + 2
        full = f"{row.label}: {row.note}" if row.note else row.label
        # The counts go under the marks, where the whole plot's width leaves room for any
        # language; the name, shortened if long, beside them (whole in the row's title).
        parts.append(
            f'<g class="timeline-row"><title>{escape(full)}</title>'
            f'<text x="{label_width - 8}" y="{y + band * 0.75:.1f}" class="axis" '
            f'text-anchor="end">{escape(_clip(row.label, 32))}</text>'
            f'<rect x="{plot_x}" y="{y}" width="{plot_w:.1f}" height="{band}" '
            f'class="track" fill="none" stroke="#bbbbbb" stroke-width="0.5"/>'
            f'<text x="{plot_x}" y="{y + band + 11}" class="axis note">{escape(row.note)}</text>'
        )
        for state, fill in ((MEASURED_DAY, MEASURED_FILL), (BLOCKED_DAY, OKABE_ITO["vermillion"])):
            runs = _runs(row.days, state)
            if not runs:
                continue
            d = "".join(
                f"M{plot_x + day_w * first:.2f} {y}h{max(day_w * count, 0.8):.2f}v{band}"
                f"h{-max(day_w * count, 0.8):.2f}z"
                for first, count in runs
            )
            n = sum(count for _first, count in runs)
            parts.append(f'<path class="day-{state}" data-days="{n}" fill="{fill}" d="{d}"/>')
        parts.append("</g>")
    parts.append(tail)
    return Markup("".join(parts))


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
