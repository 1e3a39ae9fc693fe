"""From an analysis result to the report's model, in the report's language.

This is the one place where analysis numbers become report figures: every figure in the
report is read from the :class:`~censorwatch.analysis.AnalysisResult` (or, for the test list,
from the store's test-list tables), never recomputed, so the report and
``censorwatch analyze`` always agree.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
from pathlib import Path
from typing import Any

import pandas as pd
from babel import Locale
from sqlalchemy import func, select

from censorwatch.analysis import AnalysisResult
from censorwatch.analysis.domains import domain_day_states
from censorwatch.analysis.verdicts import BLOCKED_VERDICTS
from censorwatch.errors import InputError
from censorwatch.reports.i18n import Language
from censorwatch.reports.markdown import read_markdown_section
from censorwatch.reports.model import (
    AnswerRow,
    AppRow,
    CategoryRow,
    DataFile,
    Edition,
    EventRow,
    Evidence,
    Headline,
    Heat,
    Method,
    MonthRow,
    NetworkBlock,
    NetworkRow,
    NetworkSite,
    ReportModel,
    Section,
    SiteRow,
    Threshold,
)
from censorwatch.reports.vocabulary import N_
from censorwatch.store import Store
from censorwatch.store.models import TestlistChange, TestlistEntry
from censorwatch.testlists.legend import category_name as legend_name

#: Embed a CSV in the report as a download link up to this size; larger ones stay beside it.
EMBED_MAX_BYTES = 512 * 1024
#: ...and no more than this in all, so the report stays light enough for a phone.
EMBED_TOTAL_MAX_BYTES = 2 * 1024 * 1024
#: How many blocked websites and networks the heat map shows.
HEAT_MAX_DOMAINS = 30
HEAT_MAX_NETWORKS = 10

APP_NAMES = {
    "whatsapp": "WhatsApp",
    "telegram": "Telegram",
    "signal": "Signal",
    "facebook_messenger": "Facebook Messenger",
    "tor": "Tor",
    "psiphon": "Psiphon",
}

#: What each configured threshold means, for the methodology table.
THRESHOLD_MEANINGS = {
    "likely_min_anomaly_rate": N_(
        "Smallest share of judged measurements on a network that must show an anomaly for "
        "a website to be likely blocked there."
    ),
    "likely_min_measurements": N_(
        "Fewest judged measurements on a network for a likely-blocked verdict."
    ),
    "likely_min_days": N_(
        "Fewest distinct local days with an anomaly for a likely-blocked verdict."
    ),
    "likely_min_networks": N_("Fewest networks on which a website must be likely blocked."),
    "confirmed_min_measurements": N_(
        "Fewest measurements matching a known blocking fingerprint for a confirmed verdict."
    ),
    "confirmed_min_agreement_days": N_(
        "Days on which our probes and OONI Probe must both see an anomaly on the same network "
        "for a confirmed verdict (0: this rule is off)."
    ),
    "accessible_max_anomaly_rate": N_(
        "Largest share of anomalous measurements for a website still to count as accessible."
    ),
    "still_blocked_days": N_(
        "Final days of the period examined to say whether a website is still blocked."
    ),
    "apps_min_anomaly_rate": N_(
        "Smallest share of anomalous measurements for an app to count as blocked on a network."
    ),
    "apps_min_measurements": N_("Fewest judged measurements for a verdict on an app."),
    "sinkhole_min_domains": N_(
        "Fewest unrelated domains for which one network's resolver gave a suspicious address "
        "for the machine to call that address blocking (a sinkhole)."
    ),
    "bogon_min_domains": N_(
        "Fewest domains answered with a reserved (bogon) address for the machine to call that "
        "address blocking."
    ),
}

LIMITS = (
    N_(
        "Measurements show what a probe saw on one network at one moment. A website can be "
        "blocked on networks or at times that no volunteer measured."
    ),
    N_(
        "An anomaly can have causes other than censorship (a website down, a network fault); "
        "this is why a single anomaly is never reported as a block and why thresholds apply."
    ),
    N_(
        "Confirmed blocking rests on known blocking fingerprints (OONI's, the project's and "
        "the working group's own). A new sinkhole address is found by the machine's vetting "
        "of DNS answers (the table in the methodology) but confirms measurements only once the "
        "working group has accepted it; a new blockpage is only recognised once it has been "
        "added to the fingerprint files."
    ),
    N_(
        "The number of measurements depends on how many volunteers ran tests and when: "
        "changes in volume are not changes in censorship."
    ),
    N_(
        "The measurements say how a website was blocked, not who decided it or why; such "
        "statements are attributed to their sources in section 8."
    ),
)


def category_name(code: str) -> str:
    """The legend's English name of a category code, or the code itself when unknown."""
    try:
        return legend_name(code)
    except InputError:
        return code


def country_name(code: str, lang: Language) -> str:
    return Locale.parse(lang.code).territories.get(code.upper(), code.upper())


def default_title(country: str, result: AnalysisResult, lang: Language) -> str:
    p = result.period
    if p.start.month == 1 and p.start.day == 1 and p.end == dt.date(p.start.year, 12, 31):
        span = lang.digits(str(p.start.year))
    else:
        span = f"{lang.date(p.start, 'MMM y')} – {lang.date(p.end, 'MMM y')}"
    return lang.gettext("Internet Censorship Report: %(country)s %(period)s") % {
        "country": country,
        "period": span,
    }


def _date(value: Any) -> dt.date | None:
    if value is None or value is pd.NaT or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, pd.Timestamp):
        return value.date()
    return dt.date.fromisoformat(str(value)[:10])


def _opt_bool(value: Any) -> bool | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    return bool(value)


def _opt_int(value: Any) -> int | None:
    if value is None or value is pd.NA or (isinstance(value, float) and pd.isna(value)):
        return None
    return int(value)


def _headline(result: AnalysisResult) -> Headline:
    h = result.headline
    return Headline(
        websites_tested=h.domains_tested,
        measurements=h.measurements,
        networks=h.networks,
        confirmed=h.confirmed,
        likely=h.likely,
    )


def _evidence_text(ev: dict[str, Any], lang: Language) -> str:
    day = _date(ev.get("day")) or _date(ev.get("measurement_start_time"))
    source = "OONI" if ev.get("source") == "ooni" else "censorwatch"
    asn = ev.get("probe_asn")
    parts = [lang.date(day, "d MMM y") if day else "", f"AS{int(asn)}" if asn else "", source]
    return ", ".join(p for p in parts if p)


def _sites(
    result: AnalysisResult, lang: Language, verdicts: tuple[str, ...], *, links: bool = True
) -> list[SiteRow]:
    urls_by_domain: dict[str, str] = {}
    if not result.urls.empty:
        for rec in result.urls.sort_values(["domain", "input"]).to_dict(orient="records"):
            urls_by_domain.setdefault(rec["domain"], rec["input"])
    evidence: dict[str, list[Evidence]] = {}
    for ev in result.evidence.to_dict(orient="records"):
        label = ev.get("measurement_uid") or ev.get("report_id") or ""
        url = ev.get("url") if links and isinstance(ev.get("url"), str) and ev.get("url") else None
        evidence.setdefault(ev["domain"], []).append(
            Evidence(str(label), url, str(ev["source"]), _evidence_text(ev, lang))
        )
    # The analysis's own day rule, applied to its own table: the timeline and the counts
    # (days_measured/days_blocked) come from the same rows, so they always agree.
    blocking = {
        str(rec["domain"]): tuple(int(a) for a in rec["networks"])
        for rec in result.domains.to_dict(orient="records")
        if rec["verdict"] in BLOCKED_VERDICTS
    }
    timelines: dict[str, list[tuple[dt.date, str]]] = {}
    states = domain_day_states(result.blocked_days, blocking)
    for domain, day, state in zip(states["domain"], states["day"], states["state"], strict=True):
        timelines.setdefault(str(domain), []).append((dt.date.fromisoformat(str(day)), state))
    rows = []
    for rec in result.domains.to_dict(orient="records"):
        if rec["verdict"] not in verdicts:
            continue
        code = rec["category_code"] if isinstance(rec["category_code"], str) else ""
        rows.append(
            SiteRow(
                domain=rec["domain"],
                url=urls_by_domain.get(rec["domain"], rec["domain"]),
                category_code=code,
                category_name=lang.gettext(category_name(code)) if code else "",
                verdict=rec["verdict"],
                networks=tuple(result.network_name(a) for a in rec["networks"]),
                methods=tuple(rec["methods"]),
                measurements=int(rec["measurements"]),
                anomalies=int(rec["anomalies"]),
                confirmed=int(rec["confirmed"]),
                first_blocked=_date(rec["first_blocked"]),
                last_blocked=_date(rec["last_blocked"]),
                still_blocked=_opt_bool(rec["still_blocked"]),
                evidence=tuple(evidence.get(rec["domain"], ())),
                anomaly_share=float(rec["anomaly_rate"]) if rec["judged"] else None,
                judged=int(rec["judged"]),
                days_measured=_opt_int(rec.get("days_measured")),
                days_blocked=_opt_int(rec.get("days_blocked")),
                timeline=tuple(timelines.get(rec["domain"], ())),
            )
        )
    return rows


def _heat(result: AnalysisResult, blocked: list[SiteRow]) -> Heat:
    if not blocked or result.domain_networks.empty:
        return Heat((), (), ())
    domains = [s.domain for s in blocked[:HEAT_MAX_DOMAINS]]
    by_net = result.coverage.by_network.sort_values(
        ["measurements", "asn"], ascending=[False, True], kind="mergesort"
    )
    asns = [int(a) for a in by_net["asn"].head(HEAT_MAX_NETWORKS)]
    dn = result.domain_networks.set_index(["domain", "probe_asn"])
    shares = []
    for d in domains:
        row: list[float | None] = []
        for a in asns:
            if (d, a) in dn.index:
                rate = dn.loc[(d, a), "anomaly_rate"]
                row.append(None if pd.isna(rate) else float(rate))
            else:
                row.append(None)
        shares.append(tuple(row))
    return Heat(tuple(domains), tuple(result.network_name(a) for a in asns), tuple(shares))


def _network_blocks(
    result: AnalysisResult, lang: Language, apps: list[AppRow]
) -> list[NetworkBlock]:
    """One block per network with measurements (most measured first): its coverage from
    ``coverage.by_network``, the websites blocked there from ``network_sites``, its apps."""
    sites: dict[int, list[NetworkSite]] = {}
    for r in result.network_sites.to_dict(orient="records"):
        code = r["category_code"] if isinstance(r["category_code"], str) else ""
        sites.setdefault(int(r["asn"]), []).append(
            NetworkSite(
                domain=str(r["domain"]),
                category_code=code,
                category_name=lang.gettext(category_name(code)) if code else "",
                verdict=str(r["verdict"]),
                methods=tuple(r["methods"]),
                answers=tuple(r["answers"]),
                first_blocked=_date(r["first_blocked"]),
                last_blocked=_date(r["last_blocked"]),
                measurements=int(r["measurements"]),
                anomalies=int(r["anomalies"]),
                confirmed=int(r["confirmed"]),
            )
        )
    apps_by_asn: dict[int, list[AppRow]] = {}
    for a in apps:
        apps_by_asn.setdefault(a.asn, []).append(a)
    by_net = result.coverage.by_network.sort_values(
        ["measurements", "asn"], ascending=[False, True], kind="mergesort"
    )
    blocks = []
    for r in by_net.to_dict(orient="records"):
        asn = int(r["asn"])
        name = result.network_names.get(asn, "")
        blocks.append(
            NetworkBlock(
                asn=asn,
                name=name,
                measurements=int(r["measurements"]),
                days=int(r.get("days") or 0),
                first_day=_date(r.get("first_day")),
                last_day=_date(r.get("last_day")),
                sites=tuple(sites.get(asn, ())),
                apps=tuple(apps_by_asn.get(asn, ())),
            )
        )
    return blocks


def _method(result: AnalysisResult, store: Store, lang: Language) -> Method:
    _ = lang.gettext
    m = result.method
    sentences = tuple(_method_sentence(s, m.thresholds, result, lang) for s in m.sentences)
    thresholds = tuple(
        Threshold(
            key,
            lang.digits(f"{value:g}" if isinstance(value, float) else str(value)),
            _(THRESHOLD_MEANINGS.get(key, "")) if key in THRESHOLD_MEANINGS else "",
        )
        for key, value in m.thresholds.items()
    )
    sources = []
    for rec in result.coverage.by_source.to_dict(orient="records"):
        name = (
            _("OONI Probe, run by volunteers (OONI open data)")
            if rec["source"] == "ooni"
            else _("censorwatch probes, run by the working group's volunteers")
        )
        n = int(rec["measurements"])
        sources.append(
            lang.ngettext(
                "%(source)s: %(num)s measurement.", "%(source)s: %(num)s measurements.", n
            )
            % {"source": name, "num": lang.number(n)}
        )
    with store.session() as s:
        active = TestlistEntry.removed_at.is_(None)
        size = s.scalar(select(func.count()).select_from(TestlistEntry).where(active)) or 0
        by_cat = s.execute(
            select(TestlistEntry.category_code, func.count())
            .where(active)
            .group_by(TestlistEntry.category_code)
            .order_by(func.count().desc(), TestlistEntry.category_code)
        ).all()
        start = dt.datetime.combine(result.period.start, dt.time())
        end = dt.datetime.combine(result.period.end, dt.time.max)
        changes = s.execute(
            select(TestlistChange.changed_at, TestlistChange.action, TestlistChange.url)
            .where(TestlistChange.changed_at.between(start, end))
            .order_by(TestlistChange.changed_at, TestlistChange.url)
            .limit(200)
        ).all()
    return Method(
        sources=tuple(sources),
        rules=sentences,
        thresholds=thresholds,
        limits=tuple(_(text) for text in LIMITS),
        testlist_size=int(size) or int(result.coverage.testlist_urls),
        testlist_by_category=tuple((code, _(category_name(code)), int(n)) for code, n in by_cat),
        testlist_changes=tuple((c.date(), action, url) for c, action, url in changes),
        rules_version=m.version,
        fingerprint_sets=tuple(
            (
                str(f["name"]),
                str(f["source"]),
                lang.number(int(f["rows"])),
                str(f["hash"])[:16],
                str(f.get("date") or ""),
            )
            for f in getattr(m, "fingerprints", ())
        ),
        fingerprints_other_rows=(
            lang.number(int(getattr(m, "rows_judged_with_other_fingerprints", 0)))
            if getattr(m, "rows_judged_with_other_fingerprints", 0)
            else ""
        ),
        fingerprints_other_count=int(getattr(m, "rows_judged_with_other_fingerprints", 0)),
        answers=tuple(
            _answer_row(a, lang) for a in getattr(result, "blocking_answers", None) or ()
        ),
        answers_min_domains=lang.number(int(m.thresholds.get("sinkhole_min_domains", 5))),
    )


def _answer_row(answer: dict[str, Any], lang: Language) -> AnswerRow:
    """One ``blocking_answers`` object for the methodology table; the reasons are written
    from its fields in the report's language (the JSON's reasons are English)."""
    _ = lang.gettext
    reasons = []
    if answer["tls_valid_for_site"]:
        reasons.append(_("a TLS handshake with the website's name validated on this address"))
    if answer["control_returned"]:
        reasons.append(_("the uncensored control returned this address"))
    if answer["bogon"]:
        reasons.append(_("a reserved (bogon) address that no public website has"))
    networks = answer["networks"]
    if networks:
        top = networks[0]
        n = int(top["domains"])
        reasons.append(
            lang.ngettext(
                "given for %(n)s unrelated domain on %(network)s",
                "given for %(n)s unrelated domains on %(network)s",
                n,
            )
            % {"n": lang.number(n), "network": top["name"]}
        )
    if answer.get("in_own_network"):
        reasons.append(_("inside the answering network's own addresses"))
    if answer["fingerprint"]:
        reasons.append(_("known fingerprint: %(name)s") % {"name": answer["fingerprint"]})
    else:
        reasons.append(_("no known fingerprint"))
    asn = answer.get("asn")
    network = f"AS{asn} {answer.get('as_org_name') or ''}".strip() if asn else ""
    decided = answer.get("decision") or None
    decision = ""
    if decided:
        when = lang.date(str(decided.get("decided_at") or "")[:10] or None)
        said = (
            _("accepted on %(date)s")
            if decided.get("decision") == "accept"
            else _("rejected on %(date)s")
        ) % {"date": when}
        decision = f"{said}: {decided['reason']}" if decided.get("reason") else said
    return AnswerRow(
        ip=str(answer["ip"]),
        verdict=str(answer["verdict"]),
        network=network,
        answered_on=tuple(str(n["name"]) for n in networks),
        domains=int(answer["domains"]["count"]),
        reasons=tuple(reasons),
        decision=decision,
    )


def _method_sentence(
    sentence: Any, thresholds: dict[str, Any], result: AnalysisResult, lang: Language
) -> str:
    """One sentence of the analysis's method, in the report's language.

    English is the analysis's own text. A translation is looked up by the English template
    and filled with language-neutral values: every threshold by its configuration name
    (shares as percentages), the period's dates and the country's name, so a translation
    never has to reuse English words such as "3 days".
    """
    if lang.code == "en":
        return str(sentence.text)
    translated = lang.gettext(sentence.template)
    if translated == sentence.template:
        return str(sentence.text)
    values: dict[str, str] = {k: _param(v, lang) for k, v in sentence.params.items()}
    for key, value in thresholds.items():
        is_share = key.endswith("_rate") and isinstance(value, float)
        values[key] = lang.percent(value) if is_share else _param(value, lang)
    period, previous = result.period, result.changes.previous_period
    values.update(
        start=lang.date(period.start),
        end=lang.date(period.end),
        prev_start=lang.date(previous.start),
        prev_end=lang.date(previous.end),
        country_name=country_name(result.country, lang),
    )
    return translated.format(**values)


def _param(value: Any, lang: Language) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return lang.number(value)
    if isinstance(value, float):
        return lang.digits(f"{value:g}")
    return str(value)


def read_sections(directory: Path | None) -> list[Section]:
    """The editable Markdown sections (``*.md`` in ``directory``, in file-name order)."""
    if directory is None:
        return []
    if not directory.is_dir():
        raise InputError(f"{directory}: report sections directory not found")
    sections = []
    for path in sorted(directory.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        first = next((ln for ln in text.splitlines() if ln.strip()), "")
        title = first.lstrip("#").strip() if first.startswith("#") else path.stem.replace("-", " ")
        html = read_markdown_section(path)
        if first.startswith("#"):
            # The title is shown as the section heading; drop the duplicate from the body.
            html = type(html)(html.split("\n", 1)[1] if "\n" in html else "")
        sections.append(Section(title=title, html=html, source_file=path.name))
    return sections


def write_data_files(result: AnalysisResult, directory: Path) -> list[DataFile]:
    """Write every analysis table as CSV beside the report; embed the small ones."""
    directory.mkdir(parents=True, exist_ok=True)
    descriptions = {
        "domains": N_("one row per website: verdict, methods, networks, counts, dates"),
        "urls": N_("one row per URL tested"),
        "domain_networks": N_("per website and network"),
        "domain_months": N_("per website and month"),
        "domain_days": N_("per blocked website, network and day measured"),
        "categories": N_("verdicts per category"),
        "networks": N_("per network"),
        "coverage_by_month": N_("measurements per month"),
        "coverage_by_network": N_("measurements per network"),
        "apps_by_network": N_("instant messaging and circumvention tools per network"),
        "changes": N_("changes since the previous period"),
        "evidence": N_("measurements cited as evidence"),
        "blocking_answers": N_("suspicious DNS answers, vetted by the machine"),
    }
    files: list[DataFile] = []
    embedded = 0
    for name, df in result.tables().items():
        buffer = io.StringIO()
        df.to_csv(buffer, index=False, lineterminator="\n")
        data = buffer.getvalue().encode("utf-8")
        path = directory / f"{name}.csv"
        tmp = path.with_suffix(".csv.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        if name not in descriptions:
            continue
        uri = None
        if len(data) <= EMBED_MAX_BYTES and embedded + len(data) <= EMBED_TOTAL_MAX_BYTES:
            uri = "data:text/csv;charset=utf-8;base64," + base64.b64encode(data).decode("ascii")
            embedded += len(data)
        files.append(DataFile(f"{directory.name}/{path.name}", descriptions[name], len(df), uri))
    return files


def build_model(
    result: AnalysisResult,
    previous: AnalysisResult | None,
    store: Store,
    lang: Language,
    edition: Edition,
    *,
    title: str = "",
    sections: list[Section] | None = None,
    data_files: list[DataFile] | None = None,
) -> ReportModel:
    """The report model for ``result`` (``previous``: the period before, for the comparison)."""
    country = country_name(result.country, lang)
    # Synthetic measurements have no page on OONI Explorer: cite them without links.
    links = not edition.synthetic
    confirmed = _sites(result, lang, ("confirmed",), links=links)
    likely = _sites(result, lang, ("likely",), links=links)
    everything = _sites(
        result, lang, ("confirmed", "likely", "inconclusive", "accessible"), links=links
    )
    by_domain = {s.domain: s for s in everything}
    blocked_per_asn = (
        {int(r["asn"]): int(r["domains_blocked"]) for r in result.networks.to_dict("records")}
        if not result.networks.empty
        else {}
    )
    months = [
        MonthRow(
            str(r["month"]),
            int(r["measurements"]),
            int(r["ok"]),
            int(r["anomaly"]),
            int(r["confirmed"]),
            int(r["failure"]),
        )
        for r in result.coverage.by_month.to_dict(orient="records")
    ]
    networks = [
        NetworkRow(
            asn=int(r["asn"]),
            name=str(r["name"]) if isinstance(r["name"], str) else "",
            measurements=int(r["measurements"]),
            anomalies=int(r["anomaly"]) + int(r["confirmed"]),
            blocked_sites=blocked_per_asn.get(int(r["asn"]), 0),
            # Results snapshotted before coverage had days lack them: 0 and no dates.
            days=_opt_int(r.get("days")) or 0,
            first_day=_date(r.get("first_day")),
            last_day=_date(r.get("last_day")),
        )
        for r in result.coverage.by_network.sort_values(
            ["measurements", "asn"], ascending=[False, True], kind="mergesort"
        ).to_dict(orient="records")
    ]
    categories = [
        CategoryRow(
            # Websites measured but in no test list have no category ("(none)" in the CSV).
            code="" if str(r["category_code"]) == "(none)" else str(r["category_code"]),
            name=(
                lang.gettext("No category (not in the test lists)")
                if str(r["category_code"]) == "(none)"
                else lang.gettext(category_name(str(r["category_code"])))
            ),
            tested=int(r["domains"]),
            confirmed=int(r["confirmed"]),
            likely=int(r["likely"]),
        )
        for r in result.categories.to_dict(orient="records")
    ]

    def change_rows(df: pd.DataFrame) -> list[SiteRow]:
        rows = []
        for r in df.to_dict(orient="records"):
            known = by_domain.get(r["domain"])
            code = r["category_code"] if isinstance(r["category_code"], str) else ""
            rows.append(
                known
                or SiteRow(r["domain"], r["domain"], code, "", str(r["verdict"]), (), (), 0, 0, 0)
            )
        return rows

    apps = [
        AppRow(
            app=APP_NAMES.get(r["test_name"], r["test_name"]),
            test_name=r["test_name"],
            network=f"{r['network_name']} (AS{int(r['probe_asn'])})"
            if isinstance(r["network_name"], str) and r["network_name"]
            else f"AS{int(r['probe_asn'])}",
            measurements=int(r["measurements"]),
            ok=int(r["ok"]),
            anomalies=int(r["anomalies"]),
            status=str(r["status"]),
            asn=int(r["probe_asn"]),
        )
        for r in result.apps_by_network.to_dict(orient="records")
    ]
    prev_headline = _headline(previous) if previous and previous.coverage.measurements else None
    return ReportModel(
        country_code=result.country,
        country_name=country,
        period_start=result.period.start,
        period_end=result.period.end,
        timezone=result.period.timezone,
        title=title or default_title(country, result, lang),
        edition=edition,
        headline=_headline(result),
        previous=prev_headline,
        # The comparison is the analysis's own (result.changes), as in analyze --format json.
        previous_period=(
            (result.changes.previous_period.start, result.changes.previous_period.end)
            if getattr(result.changes, "previous_measured", True)
            else None
        ),
        unmeasured_previous_period=(
            (result.changes.previous_period.start, result.changes.previous_period.end)
            if getattr(result.changes, "compared", False)
            and not getattr(result.changes, "previous_measured", True)
            else None
        ),
        months=months,
        networks=networks,
        events=[
            EventRow(
                e.date, e.label, e.kind, e.end_date if e.end_date != e.date else None, e.source
            )
            for e in result.events
        ],
        confirmed_sites=confirmed,
        likely_sites=likely,
        all_sites=everything,
        heat=_heat(result, confirmed + likely),
        categories=categories,
        # The same lists as analyze's JSON `changes` (censorwatch.analysis.changes decides):
        # a site not measured in the previous period is first measured, never newly blocked.
        newly_blocked=change_rows(result.changes.newly_blocked),
        unblocked=change_rows(result.changes.unblocked),
        first_measured=change_rows(result.changes.first_measured),
        apps=apps,
        network_blocks=_network_blocks(result, lang, apps),
        method=_method(result, store, lang),
        sections=sections or [],
        data_files=data_files or [],
    )
