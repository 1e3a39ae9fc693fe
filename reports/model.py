"""What the report template shows: plain dataclasses, filled from the analysis.

The template never queries anything: :mod:`censorwatch.reports.build` turns an analysis result
into a :class:`ReportModel`, and the template only formats it. That keeps every number in the
report traceable to one analysis run, and lets tests render the template from a hand-made
model.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from markupsafe import Markup


@dataclass(frozen=True)
class Edition:
    """Which edition this is, and the fingerprints that make it reproducible."""

    status: str  # draft, review, endorsed
    organisation: str
    generated_at: dt.datetime
    data_hash: str
    config_hash: str
    testlist_hash: str | None = None
    snapshot: str | None = None
    #: The demo's synthetic data: every page says so.
    synthetic: bool = False


@dataclass(frozen=True)
class Headline:
    websites_tested: int
    measurements: int
    networks: int
    confirmed: int
    likely: int


@dataclass(frozen=True)
class MonthRow:
    month: str  # YYYY-MM, local time
    measurements: int
    ok: int
    anomaly: int
    confirmed: int
    failure: int


@dataclass(frozen=True)
class NetworkRow:
    asn: int
    name: str
    measurements: int
    anomalies: int
    blocked_sites: int = 0
    #: Local days with at least one measurement (any test) in the period, and the first and
    #: last of them (coverage's ``days``, ``first_day``, ``last_day``).
    days: int = 0
    first_day: dt.date | None = None
    last_day: dt.date | None = None

    @property
    def label(self) -> str:
        return f"{self.name} (AS{self.asn})" if self.name else f"AS{self.asn}"


@dataclass(frozen=True)
class EventRow:
    start: dt.date
    label: str
    kind: str = ""
    end: dt.date | None = None
    source: str = ""


@dataclass(frozen=True)
class Evidence:
    """One measurement cited as evidence: an OONI Explorer link or our own measurement id."""

    #: The measurement's full identifier (OONI measurement_uid or ours).
    label: str
    url: str | None
    source: str  # ooni or censorwatch
    #: What the table shows: date, network and source, e.g. "13 Jan 2023, AS38623, OONI".
    text: str = ""


@dataclass(frozen=True)
class SiteRow:
    domain: str
    url: str
    category_code: str
    category_name: str
    verdict: str  # confirmed, likely, inconclusive, accessible
    networks: tuple[str, ...]
    methods: tuple[str, ...]
    measurements: int
    anomalies: int
    confirmed: int
    first_blocked: dt.date | None = None
    last_blocked: dt.date | None = None
    still_blocked: bool | None = None
    evidence: tuple[Evidence, ...] = ()
    #: Share of judged measurements (failures left out) that showed an anomaly, as analysed.
    anomaly_share: float | None = None
    #: Measurements that could be judged (the denominator of ``anomaly_share``).
    judged: int = 0
    #: Local days with a judged measurement, and days blocked on its blocking networks
    #: (the analysis's ``days_measured``/``days_blocked``; None unless confirmed or likely).
    days_measured: int | None = None
    days_blocked: int | None = None
    #: Per local day measured, ``"blocked"`` or ``"measured"`` (judged, no anomaly on its
    #: blocking networks), in order; days not measured are absent (see
    #: :func:`censorwatch.analysis.domains.domain_day_states`).
    timeline: tuple[tuple[dt.date, str], ...] = ()


@dataclass(frozen=True)
class CategoryRow:
    code: str
    name: str
    tested: int
    confirmed: int
    likely: int


@dataclass(frozen=True)
class AppRow:
    """An instant-messaging or circumvention test on one network."""

    app: str  # display name, e.g. "WhatsApp"
    test_name: str
    network: str
    measurements: int
    ok: int
    anomalies: int
    status: str  # reachable, blocked, partly, inconclusive
    #: The network's ASN (0 when not known), to place the row in its network's block.
    asn: int = 0


@dataclass(frozen=True)
class NetworkSite:
    """A website found blocked on one network: how, with which DNS answers, and when
    (a row of the analysis's ``network_sites``)."""

    domain: str
    category_code: str
    category_name: str
    verdict: str  # confirmed, likely
    methods: tuple[str, ...]
    #: DNS answer addresses vetted ``blocking`` that this network gave for the website.
    answers: tuple[str, ...]
    first_blocked: dt.date | None
    last_blocked: dt.date | None
    measurements: int
    anomalies: int
    #: Measurements on this network that a fingerprint confirmed.
    confirmed: int = 0


@dataclass(frozen=True)
class NetworkBlock:
    """One network (ISP) for the report's networks section."""

    asn: int
    name: str
    measurements: int
    #: Distinct local days with at least one measurement on this network (0: not known).
    days: int
    first_day: dt.date | None
    last_day: dt.date | None
    sites: tuple[NetworkSite, ...]
    apps: tuple[AppRow, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.name} (AS{self.asn})" if self.name else f"AS{self.asn}"

    @property
    def answers(self) -> tuple[str, ...]:
        """Every blocking DNS answer address of the network, in order of first mention."""
        return tuple(dict.fromkeys(ip for s in self.sites for ip in s.answers))


@dataclass(frozen=True)
class Threshold:
    key: str
    value: str
    meaning: str


@dataclass(frozen=True)
class AnswerRow:
    """A suspicious DNS answer address as the machine vetted it (``blocking_answers``)."""

    ip: str
    verdict: str  # blocking, false-positive, unclear
    #: The address's own network, e.g. "AS36692 Cisco OpenDNS, LLC" ("" when unknown).
    network: str
    #: The networks whose resolvers gave it (names or ASNs).
    answered_on: tuple[str, ...]
    domains: int
    #: Why, in the report's language.
    reasons: tuple[str, ...]
    #: The working group's latest decision on the address, with its date and reason ("" when
    #: none); the member's name is not published.
    decision: str = ""


@dataclass(frozen=True)
class Method:
    """The method as configured, for the methodology section (and the key findings' citations)."""

    sources: tuple[str, ...]
    rules: tuple[str, ...]
    thresholds: tuple[Threshold, ...]
    limits: tuple[str, ...]
    testlist_size: int
    testlist_by_category: tuple[tuple[str, str, int], ...] = ()
    testlist_changes: tuple[tuple[dt.date, str, str], ...] = ()
    rules_version: str = ""
    #: The fingerprint sets that judged the data: (name, source, rows, hash, date).
    fingerprint_sets: tuple[tuple[str, str, str, str, str], ...] = ()
    #: Measurements of the period judged with other sets (before ``censorwatch rejudge``).
    fingerprints_other_rows: str = ""
    #: The same count as a number, for the plural form.
    fingerprints_other_count: int = 0
    #: Suspicious DNS answers, vetted by the machine (blocking, unclear, false positives).
    answers: tuple[AnswerRow, ...] = ()
    #: ``sinkhole_min_domains`` as the report writes numbers.
    answers_min_domains: str = ""


@dataclass(frozen=True)
class Heat:
    domains: tuple[str, ...]
    networks: tuple[str, ...]
    shares: tuple[tuple[float | None, ...], ...]


@dataclass(frozen=True)
class Section:
    """An editable Markdown section (context, recommendations), attributed to its authors."""

    title: str
    html: Markup
    source_file: str


@dataclass(frozen=True)
class DataFile:
    """A CSV written next to the report; embedded as a data: link when under the size cap."""

    filename: str
    description: str
    rows: int
    data_uri: str | None = None


@dataclass
class ReportModel:
    country_code: str
    country_name: str
    period_start: dt.date
    period_end: dt.date
    timezone: str
    title: str
    edition: Edition
    headline: Headline
    previous: Headline | None
    months: list[MonthRow]
    networks: list[NetworkRow]
    events: list[EventRow]
    confirmed_sites: list[SiteRow]
    likely_sites: list[SiteRow]
    all_sites: list[SiteRow]
    heat: Heat
    categories: list[CategoryRow]
    newly_blocked: list[SiteRow]
    unblocked: list[SiteRow]
    apps: list[AppRow]
    method: Method
    sections: list[Section] = field(default_factory=list)
    data_files: list[DataFile] = field(default_factory=list)
    previous_period: tuple[dt.date, dt.date] | None = None
    #: Blocked now and not measured in the previous period (never "newly blocked").
    first_measured: list[SiteRow] = field(default_factory=list)
    #: The previous period of the same length when it was compared but holds no measurement
    #: (so no change is stated); None otherwise.
    unmeasured_previous_period: tuple[dt.date, dt.date] | None = None
    #: One block per network with measurements, most measured first.
    network_blocks: list[NetworkBlock] = field(default_factory=list)
