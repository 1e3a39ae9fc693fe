"""The key findings: sentences an advocate can quote as they stand, in the report's language.

Each finding is a measured fact with its numbers, period and place, written from the report
model (which reads the analysis and never recomputes it), so every number in a finding is
also in ``censorwatch analyze --format json``:

* how many websites showed confirmed and likely blocking, and how much was measured;
* which websites, by category, news media and political and human-rights content first (the
  categories whose blocking matters most to the report's readers), naming the most measured;
* on which networks (ISP name and ASN), by which method in plain words ("DNS answers
  pointing to the address 192.0.2.1"), and from when to when each was seen blocked;
* how many were still blocked at the end of the period, and what changed against the
  previous period ("first measured this period" is never counted as newly blocked).

Counts go through ``ngettext`` (no "1 websites"); lists are joined the language's way
(Babel's list patterns). Nothing here says who ordered a block: that is not measured.
"""

from __future__ import annotations

from dataclasses import dataclass

from babel.lists import format_list

from censorwatch.reports.build import category_name
from censorwatch.reports.i18n import Language
from censorwatch.reports.model import NetworkBlock, NetworkSite, ReportModel, SiteRow

#: Categories named first in the findings, in this order; then the others by websites blocked.
PRIORITY_CATEGORIES = ("NEWS", "POLR", "HUMR", "LGBT", "ANON", "COMT", "GRP", "MMED")
#: Websites named per category sentence; the rest are counted ("and 3 more").
NAMES_PER_CATEGORY = 4
#: Categories with their own sentence; websites of the others are counted in one sentence.
MAX_CATEGORY_FINDINGS = 4
#: Networks with their own sentence (the most websites blocked first).
MAX_NETWORK_FINDINGS = 5
#: Websites named per network sentence.
NAMES_PER_NETWORK = 3
#: Blocking addresses named per network.
MAX_ADDRESSES = 3
#: Websites named in the changes sentence.
MAX_CHANGE_NAMES = 5


@dataclass(frozen=True)
class Finding:
    """One key finding: an optional figure shown large before its sentence."""

    text: str
    figure: str = ""
    #: What the finding is about (for tests and styling): headline, category, network,
    #: still, changes, previous.
    kind: str = "headline"


def join_list(items: list[str], lang: Language) -> str:
    """``a, b and c`` the language's way (CLDR list patterns). Khmer's pattern joins with a
    zero-width space, which glues "និង" to a Latin domain name: a visible space there."""
    return format_list(items, locale=lang.code).replace("\u200b", " ")


def _names(names: list[str], total: int, lang: Language) -> str:
    """``a, b and 3 more`` in the language's list style."""
    shown = list(names)
    if total > len(shown):
        more = total - len(shown)
        shown.append(
            lang.ngettext("%(num)s more", "%(num)s more", more) % {"num": lang.number(more)}
        )
    return join_list(shown, lang) if shown else ""


def _category_order(sites: list[SiteRow]) -> list[str]:
    counts: dict[str, int] = {}
    for s in sites:
        counts[s.category_code] = counts.get(s.category_code, 0) + 1
    rank = {c: i for i, c in enumerate(PRIORITY_CATEGORIES)}
    return sorted(counts, key=lambda c: (rank.get(c, len(rank)), -counts[c], c or "~"))


def blocked_by_category(model: ReportModel, lang: Language) -> list[tuple[str, list[SiteRow]]]:
    """The blocked websites (confirmed and likely) grouped by category, in the order the
    key findings name them: (heading, websites) with confirmed websites first."""
    blocked = sorted([*model.confirmed_sites, *model.likely_sites], key=_site_rank)
    groups = []
    for code in _category_order(blocked):
        sites = [s for s in blocked if s.category_code == code]
        heading = (
            f"{lang.gettext(category_name(code))} ({code})"
            if code
            else lang.gettext("No category (not in the test lists)")
        )
        groups.append((heading, sites))
    return groups


def ranked_sites(sites: list[SiteRow]) -> list[SiteRow]:
    """``sites`` in the order the findings name them (see :func:`_site_rank`)."""
    return sorted(sites, key=lambda s: (_category_rank(s.category_code), *_site_rank(s)))


def _category_rank(code: str) -> int:
    return PRIORITY_CATEGORIES.index(code) if code in PRIORITY_CATEGORIES else 99


def _site_rank(s: SiteRow) -> tuple[int, int, int, str]:
    """Confirmed first, then blocked on most networks, then most measured."""
    return (0 if s.verdict == "confirmed" else 1, -len(s.networks), -s.measurements, s.domain)


def _method_phrases(block: NetworkBlock, lang: Language) -> list[str]:
    """How the websites were blocked on one network, in plain words, with counts when the
    network used more than one method (each website under its main method there)."""
    _ = lang.gettext
    groups: dict[str, list[NetworkSite]] = {}
    addresses: list[str] = []
    for s in block.sites:
        # A website counts under its main method there (its most frequent; methods are
        # ordered so), and under "blockpage" when a known blockpage confirmed it: a stray
        # anomaly of another kind (a site down for a moment) does not make a method.
        keys = ["blockpage"] if "blockpage" in s.methods else []
        main = next((m for m in s.methods if m != "blockpage"), None)
        if main == "dns" and s.answers:
            keys.append("dns-answer")
            addresses.extend(ip for ip in s.answers if ip not in addresses)
        elif main is not None:
            keys.append(main)
        for k in keys:
            groups.setdefault(k, []).append(s)
    words = {
        "dns": _("DNS answers that differed from those of the uncensored control"),
        "blockpage": _("a blockpage served in place of the website"),
        "tcp_ip": _("failed connections to the website's addresses (TCP/IP)"),
        "tls": _("interference with the encrypted connection (TLS)"),
        "http-failure": _("interrupted web requests (HTTP)"),
        "http-diff": _("web pages that differed from those the uncensored control received"),
    }
    if addresses:
        shown = addresses[:MAX_ADDRESSES]
        ips = _names(shown, len(addresses), lang)
        words["dns-answer"] = lang.ngettext(
            "DNS answers pointing to the address %(ips)s",
            "DNS answers pointing to the addresses %(ips)s",
            len(addresses),
        ) % {"ips": ips}
    order = ["dns-answer", "dns", "blockpage", "tcp_ip", "tls", "http-failure", "http-diff"]
    keys = sorted(groups, key=lambda k: (-len(groups[k]), order.index(k) if k in order else 99))
    if len(keys) == 1:
        return [words.get(keys[0], keys[0])]
    return [
        lang.ngettext("%(method)s (%(num)s website)", "%(method)s (%(num)s websites)", n)
        % {"method": words.get(k, k), "num": lang.number(n)}
        for k in keys
        for n in [len(groups[k])]
    ]


def _network_finding(block: NetworkBlock, lang: Language) -> Finding:
    n = len(block.sites)
    firsts = [s.first_blocked for s in block.sites if s.first_blocked]
    lasts = [s.last_blocked for s in block.sites if s.last_blocked]
    ranked = sorted(
        block.sites,
        key=lambda x: (
            _category_rank(x.category_code),
            x.verdict != "confirmed",
            -x.anomalies,
            x.domain,
        ),
    )
    names = _names([x.domain for x in ranked[:NAMES_PER_NETWORK]], n, lang)
    text = lang.ngettext(
        "On %(network)s, %(num)s website was blocked (%(names)s), through %(methods)s; the "
        "first block was observed on %(first)s and the last on %(last)s.",
        "On %(network)s, %(num)s websites were blocked (%(names)s), through %(methods)s; the "
        "first block was observed on %(first)s and the last on %(last)s.",
        n,
    ) % {
        "network": block.label,
        "num": lang.number(n),
        "names": names,
        "methods": join_list(_method_phrases(block, lang), lang),
        "first": lang.date(min(firsts) if firsts else None),
        "last": lang.date(max(lasts) if lasts else None),
    }
    return Finding(text, kind="network")


def key_findings(model: ReportModel, lang: Language) -> list[Finding]:
    """The key findings of ``model``, in ``lang`` (see the module docstring)."""
    _ = lang.gettext
    h = model.headline
    period = f"{lang.date(model.period_start)} – {lang.date(model.period_end)}"
    out = [
        Finding(
            lang.ngettext(
                "website showed confirmed blocking in %(country)s in the period %(period)s: at "
                "least one measurement matched a known blocking fingerprint (a blockpage or a "
                "DNS answer used for blocking), or our own probes and OONI Probe both "
                "observed the block.",
                "websites showed confirmed blocking in %(country)s in the period %(period)s: at "
                "least one measurement matched a known blocking fingerprint (a blockpage or a "
                "DNS answer used for blocking), or our own probes and OONI Probe both "
                "observed the block.",
                h.confirmed,
            )
            % {"country": model.country_name, "period": period},
            lang.number(h.confirmed),
        ),
        Finding(
            lang.ngettext(
                "further website was likely blocked in the same period: on at least one "
                "network, a high share of its measurements showed an anomaly, on enough days "
                "to meet the thresholds in the methodology.",
                "further websites were likely blocked in the same period: on at least one "
                "network, a high share of their measurements showed an anomaly, on enough days "
                "to meet the thresholds in the methodology.",
                h.likely,
            ),
            lang.number(h.likely),
        ),
    ]

    blocked = sorted([*model.confirmed_sites, *model.likely_sites], key=_site_rank)
    categories = _category_order(blocked)
    for code in categories[:MAX_CATEGORY_FINDINGS]:
        sites = [s for s in blocked if s.category_code == code]
        names = _names([s.domain for s in sites[:NAMES_PER_CATEGORY]], len(sites), lang)
        if code:
            category = f"{lang.gettext(_category_label(sites))} ({code})"
            text = lang.ngettext(
                "%(category)s: %(num)s website blocked: %(names)s.",
                "%(category)s: %(num)s websites blocked: %(names)s.",
                len(sites),
            ) % {"category": category, "num": lang.number(len(sites)), "names": names}
        else:
            text = lang.ngettext(
                "Not in the test lists: %(num)s website blocked: %(names)s.",
                "Not in the test lists: %(num)s websites blocked: %(names)s.",
                len(sites),
            ) % {"num": lang.number(len(sites)), "names": names}
        out.append(Finding(text, kind="category"))
    rest = [s for s in blocked if s.category_code in categories[MAX_CATEGORY_FINDINGS:]]
    if rest:
        out.append(
            Finding(
                lang.ngettext(
                    "%(num)s more website was blocked in other categories (%(codes)s); all "
                    "are listed in section 4.",
                    "%(num)s more websites were blocked in other categories (%(codes)s); all "
                    "are listed in section 4.",
                    len(rest),
                )
                % {
                    "num": lang.number(len(rest)),
                    "codes": join_list(
                        [c or _("no category") for c in categories[MAX_CATEGORY_FINDINGS:]], lang
                    ),
                },
                kind="category",
            )
        )

    networks = sorted(
        (b for b in model.network_blocks if b.sites), key=lambda b: (-len(b.sites), b.asn)
    )
    for block in networks[:MAX_NETWORK_FINDINGS]:
        out.append(_network_finding(block, lang))
    if len(networks) > MAX_NETWORK_FINDINGS:
        more = len(networks) - MAX_NETWORK_FINDINGS
        out.append(
            Finding(
                lang.ngettext(
                    "Websites were also blocked on %(num)s more network (section 5).",
                    "Websites were also blocked on %(num)s more networks (section 5).",
                    more,
                )
                % {"num": lang.number(more)},
                kind="network",
            )
        )

    still = [s for s in blocked if s.still_blocked]
    if blocked:
        out.append(
            Finding(
                lang.ngettext(
                    "of the blocked websites was still blocked at the end of the period.",
                    "of the blocked websites were still blocked at the end of the period.",
                    len(still),
                ),
                lang.number(len(still)),
                "still",
            )
        )

    out.append(
        Finding(
            lang.ngettext(
                "website was tested, in %(measurements)s on %(networks)s.",
                "websites were tested, in %(measurements)s on %(networks)s.",
                h.websites_tested,
            )
            % measured_on(h.measurements, h.networks, lang),
            lang.number(h.websites_tested),
        )
    )

    if model.unmeasured_previous_period and not model.previous_period:
        start, end = model.unmeasured_previous_period
        out.append(
            Finding(
                _(
                    "The previous period of the same length (%(prev)s) has no measurements, so "
                    "no change since then is stated: the websites blocked now are first "
                    "measured this period, not newly blocked."
                )
                % {"prev": f"{lang.date(start)} – {lang.date(end)}"},
                kind="changes",
            )
        )
    if model.previous_period:
        prev = f"{lang.date(model.previous_period[0])} – {lang.date(model.previous_period[1])}"
        parts = [
            lang.ngettext(
                "%(num)s website newly blocked%(names)s",
                "%(num)s websites newly blocked%(names)s",
                len(model.newly_blocked),
            )
            % {
                "num": lang.number(len(model.newly_blocked)),
                "names": _parenthesised(model.newly_blocked, lang),
            },
            lang.ngettext(
                "%(num)s no longer blocked%(names)s",
                "%(num)s no longer blocked%(names)s",
                len(model.unblocked),
            )
            % {
                "num": lang.number(len(model.unblocked)),
                "names": _parenthesised(model.unblocked, lang),
            },
        ]
        if model.first_measured:
            parts.append(
                lang.ngettext(
                    "%(num)s blocked but first measured this period, so not counted as newly "
                    "blocked",
                    "%(num)s blocked but first measured this period, so not counted as newly "
                    "blocked",
                    len(model.first_measured),
                )
                % {"num": lang.number(len(model.first_measured))}
            )
        out.append(
            Finding(
                _("Compared with the previous period (%(prev)s): %(changes)s.")
                % {"prev": prev, "changes": join_list(parts, lang)},
                kind="changes",
            )
        )
        if model.previous:
            p = model.previous
            out.append(
                Finding(
                    lang.ngettext(
                        "In that previous period: %(confirmed)s confirmed blocked and "
                        "%(likely)s likely blocked, in %(num)s measurement.",
                        "In that previous period: %(confirmed)s confirmed blocked and "
                        "%(likely)s likely blocked, in %(num)s measurements.",
                        p.measurements,
                    )
                    % {
                        "confirmed": lang.number(p.confirmed),
                        "likely": lang.number(p.likely),
                        "num": lang.number(p.measurements),
                    },
                    kind="previous",
                )
            )
    return out


def measured_on(measurements: int, networks: int, lang: Language) -> dict[str, str]:
    """``{"measurements": "1 measurement", "networks": "3 networks"}``, each through ngettext,
    for sentences that count both."""
    return {
        "measurements": lang.ngettext("%(num)s measurement", "%(num)s measurements", measurements)
        % {"num": lang.number(measurements)},
        "networks": lang.ngettext("%(num)s network", "%(num)s networks", networks)
        % {"num": lang.number(networks)},
    }


def _category_label(sites: list[SiteRow]) -> str:
    """The category's (English) name, for gettext."""
    return category_name(sites[0].category_code)


def _parenthesised(sites: list[SiteRow], lang: Language) -> str:
    if not sites:
        return ""
    names = _names([s.domain for s in sites[:MAX_CHANGE_NAMES]], len(sites), lang)
    return f" ({names})"


__all__ = [
    "Finding",
    "blocked_by_category",
    "join_list",
    "key_findings",
    "measured_on",
    "ranked_sites",
]
