"""The report's method section, generated from the very thresholds the analysis used.

:func:`describe_method` returns the method as data: the thresholds, and a list of
sentences, each with a stable ``key``, an English ``template`` with ``{named}`` parameters,
the ``params`` and the rendered ``text``. The report renders ``text`` in English and looks up
``key`` in its translation catalogue for other languages (Khmer first), formatting the
translated template with the same ``params``, so the numbers in every language come from the
configuration and cannot drift from what was computed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from censorwatch.analysis.period import Period
from censorwatch.analysis.rules import ALL_METHODS
from censorwatch.analysis.verdicts import Thresholds
from censorwatch.fingerprints import FingerprintDB

#: Bump when the rules (not the thresholds) change, so editions can say which rules they used.
METHOD_VERSION = "1"


@dataclass(frozen=True)
class MethodSentence:
    key: str
    template: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.template.format(**self.params)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "template": self.template,
            "params": self.params,
            "text": self.text,
        }


@dataclass(frozen=True)
class Method:
    """What the analysis did, as data and as plain English sentences."""

    version: str
    thresholds: dict[str, float | int]
    timezone: str
    statuses: tuple[str, ...]
    methods: tuple[str, ...]
    sentences: tuple[MethodSentence, ...]
    #: The fingerprint sets loaded when the analysis ran: ``{name, source, rows, hash, date}``.
    fingerprints: tuple[dict[str, Any], ...] = ()
    #: Their combined hash, as kept on each row the verdict engine judged.
    fingerprints_hash: str | None = None
    #: Rows of the period that the engine judged with other sets (``censorwatch rejudge``).
    rows_judged_with_other_fingerprints: int = 0

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.sentences)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "thresholds": dict(self.thresholds),
            "timezone": self.timezone,
            "statuses": list(self.statuses),
            "methods": list(self.methods),
            "sentences": [s.to_dict() for s in self.sentences],
            "fingerprints": [dict(f) for f in self.fingerprints],
            "fingerprints_hash": self.fingerprints_hash,
            "rows_judged_with_other_fingerprints": self.rows_judged_with_other_fingerprints,
        }


def _pct(share: float) -> str:
    return f"{share * 100:g}%"


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def describe_method(
    t: Thresholds,
    period: Period,
    country: str,
    fingerprints: FingerprintDB | None = None,
    rows_judged_with_other_fingerprints: int = 0,
) -> Method:
    """The method for ``period`` in ``country`` with thresholds ``t``; ``fingerprints`` are the
    sets the verdict engine loads (:func:`censorwatch.fingerprints.fingerprints_from_config`)."""
    s = [
        MethodSentence(
            "period",
            "The analysis covers {start} to {end} (both included), with days and months in "
            "local time ({timezone}), for measurements made in {country}.",
            {
                "start": period.start.isoformat(),
                "end": period.end.isoformat(),
                "timezone": period.timezone,
                "country": country,
            },
        ),
        MethodSentence(
            "sources",
            "It uses OONI Probe measurements published by OONI and the measurements of "
            "censorwatch's own probes, which test the same list of websites in the same way.",
        ),
        MethodSentence(
            "status",
            "Each measurement counts once as a failure (no conclusion could be drawn), "
            "confirmed (a known blockpage or blocking answer was seen), an anomaly (signs of "
            "blocking) or OK: as judged by OONI's pipeline where OONI published its judgement "
            "of a measurement, and otherwise (OONI's raw measurements and censorwatch's own) by "
            "censorwatch's verdict engine, which follows OONI's rules; a measurement that one "
            "of the fingerprint sets named in this methodology confirms counts as confirmed "
            "either way.",
        ),
        MethodSentence(
            "judged",
            "Failures are left out of every rate: an anomaly rate is the share of the "
            "remaining measurements that show an anomaly or confirmed blocking.",
        ),
        MethodSentence(
            "confirmed",
            "A website is counted as confirmed blocked when at least {n_confirmed} confirmed "
            "a known blockpage or blocking answer"
            + (
                ", or when our own probe and OONI both observed an anomaly of the same kind for "
                "it on the same network on the same day, on at least {n_agreement}."
                if t.confirmed_min_agreement_days > 0
                else "."
            ),
            {
                "n_confirmed": _plural(t.confirmed_min_measurements, "measurement", "measurements"),
                "n_agreement": _plural(t.confirmed_min_agreement_days, "day", "days"),
            },
        ),
        MethodSentence(
            "likely",
            "It is counted as likely blocked when, on at least {n_networks} (or on every "
            "network that measured it enough, if fewer did), at least {rate} of at least "
            "{n_measurements} measurements show an anomaly, on at least {n_days}.",
            {
                "n_networks": _plural(t.likely_min_networks, "network", "networks"),
                "rate": _pct(t.likely_min_anomaly_rate),
                "n_measurements": str(t.likely_min_measurements),
                "n_days": _plural(t.likely_min_days, "different day", "different days"),
            },
        ),
        MethodSentence(
            "accessible",
            "It is counted as accessible when no more than {rate} of its measurements show an "
            "anomaly, and as inconclusive otherwise (some anomalies, but too few to conclude, "
            "or only failures).",
            {"rate": _pct(t.accessible_max_anomaly_rate)},
        ),
        MethodSentence(
            "blocked",
            "The number of blocked websites is the number of confirmed and likely blocked "
            "websites (counted by domain name).",
        ),
        MethodSentence(
            "dates",
            "The first and last dates a website was observed blocked are the first and last "
            "local days with an anomaly on the networks where it was found blocked; it is "
            "still blocked at the end of the period when, in the last {n_days} of the period, "
            "those networks still showed confirmed blocking or an anomaly rate of at least "
            "{rate}.",
            {
                "n_days": _plural(t.still_blocked_days, "day", "days"),
                "rate": _pct(t.likely_min_anomaly_rate),
            },
        ),
        MethodSentence(
            "methods",
            "The blocking method is the one the measurement reports: DNS tampering (dns), "
            "blocked TCP connections (tcp_ip), TLS interference (tls), failed HTTP requests "
            "(http-failure), altered HTTP responses (http-diff), and a known blockpage "
            "(blockpage) for confirmed measurements.",
        ),
        MethodSentence(
            "apps",
            "An instant messaging or circumvention app is counted as blocked on a network when "
            "at least {rate} of at least {n} measurements show an anomaly, as partly blocked "
            "when fewer but more than {accessible_rate} do, as reachable when no more than "
            "{accessible_rate} do, and as inconclusive when there are too few measurements.",
            {
                "rate": _pct(t.apps_min_anomaly_rate),
                "n": str(t.apps_min_measurements),
                "accessible_rate": _pct(t.accessible_max_anomaly_rate),
            },
        ),
        MethodSentence(
            "changes",
            "Newly blocked and unblocked websites are found by applying the same rules to "
            "the preceding period of the same length ({prev_start} to {prev_end}).",
            {
                "prev_start": period.previous().start.isoformat(),
                "prev_end": period.previous().end.isoformat(),
            },
        ),
        MethodSentence(
            "first-measured",
            "A website blocked in this period that was not measured in the preceding period is "
            "listed as first measured this period, never as newly blocked.",
        ),
    ]
    return Method(
        version=METHOD_VERSION,
        thresholds=t.as_dict(),
        timezone=period.timezone,
        statuses=("ok", "anomaly", "confirmed", "failure"),
        methods=ALL_METHODS,
        sentences=tuple(s),
        fingerprints=fingerprints.sources if fingerprints is not None else (),
        fingerprints_hash=fingerprints.hash if fingerprints is not None else None,
        rows_judged_with_other_fingerprints=rows_judged_with_other_fingerprints,
    )
