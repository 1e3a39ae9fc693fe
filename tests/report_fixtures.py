"""A hand-made report model for template tests (no store, no analysis)."""

from __future__ import annotations

import datetime as dt

import pytest
from markupsafe import Markup

from censorwatch.reports.model import (
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


def sample_model(synthetic: bool = False, evil: str = "") -> ReportModel:
    def site(d, v, share=(40, 50)):
        return SiteRow(
            domain=d,
            url=f"https://{d}/{evil}",
            category_code="NEWS",
            category_name="News Media",
            verdict=v,
            networks=("Metfone (AS38623)", "Cellcard (AS38901)"),
            methods=("dns",),
            measurements=share[1],
            anomalies=share[0],
            confirmed=share[0] if v == "confirmed" else 0,
            first_blocked=dt.date(2023, 2, 3),
            last_blocked=dt.date(2023, 11, 30),
            still_blocked=True,
            anomaly_share=share[0] / share[1],
            judged=share[1],
            days_measured=4,
            days_blocked=3,
            timeline=(
                (dt.date(2023, 2, 3), "blocked"),
                (dt.date(2023, 2, 4), "blocked"),
                (dt.date(2023, 6, 1), "measured"),
                (dt.date(2023, 11, 30), "blocked"),
            ),
            evidence=(
                Evidence(
                    "20230203T000000Z_webconnectivity_KH",
                    "https://explorer.ooni.org/m/20230203",
                    "ooni",
                ),
            ),
        )

    def on_network(d: str, answers: tuple[str, ...]) -> NetworkSite:
        return NetworkSite(
            d + evil,
            "NEWS",
            "News Media",
            "confirmed",
            ("dns",),
            answers,
            dt.date(2023, 2, 3),
            dt.date(2023, 11, 30),
            50,
            40,
            40,
        )

    whatsapp = AppRow("WhatsApp", "whatsapp", "Metfone (AS38623)", 100, 98, 2, "reachable", 38623)
    months = [
        MonthRow(f"2023-{m:02d}", 1000 * m, 900 * m, 80 * m, 10 * m, 10 * m) for m in range(1, 13)
    ]
    return ReportModel(
        country_code="KH",
        country_name="Cambodia",
        period_start=dt.date(2023, 1, 1),
        period_end=dt.date(2023, 12, 31),
        timezone="Asia/Phnom_Penh",
        title="Internet Censorship Report: Cambodia 2023" + evil,
        edition=Edition(
            "draft",
            "Digital Rights WG" + evil,
            dt.datetime(2024, 1, 15, 8, 30),
            "a" * 64,
            "b" * 64,
            "c" * 64,
            synthetic=synthetic,
        ),
        headline=Headline(2000, 2400000, 5, 36, 7),
        previous=Headline(1900, 2000000, 4, 43, 5),
        previous_period=(dt.date(2022, 1, 1), dt.date(2022, 12, 31)),
        months=months,
        networks=[
            NetworkRow(38623, "Viettel (Cambodia)" + evil, 1200000, 50000, 30),
            NetworkRow(38901, "Cellcard", 800000, 20000, 20),
        ],
        events=[EventRow(dt.date(2023, 7, 23), "National election" + evil, "election")],
        confirmed_sites=[site("vodkhmer.news", "confirmed"), site("rfa.org", "confirmed")],
        likely_sites=[site("cambodiadaily.com", "likely", (30, 60))],
        all_sites=[site("vodkhmer.news", "confirmed"), site("example.org", "accessible", (0, 40))],
        heat=Heat(
            ("vodkhmer.news" + evil, "rfa.org"),
            ("Metfone", "Cellcard"),
            ((0.95, 0.5), (None, 0.02)),
        ),
        categories=[CategoryRow("NEWS", "News Media", 300, 30, 5)],
        newly_blocked=[site("rfa.org", "confirmed")],
        unblocked=[],
        apps=[whatsapp],
        network_blocks=[
            NetworkBlock(
                38623,
                "Viettel (Cambodia)" + evil,
                1200000,
                340,
                dt.date(2023, 1, 1),
                dt.date(2023, 12, 31),
                (
                    on_network("vodkhmer.news", ("36.37.242.94",)),
                    on_network("rfa.org", ("36.37.242.94",)),
                ),
                (whatsapp,),
            ),
            NetworkBlock(
                38901, "Cellcard", 800000, 1, dt.date(2023, 3, 1), dt.date(2023, 3, 1), ()
            ),
        ],
        method=Method(
            sources=("OONI Probe" + evil,),
            rules=("Rule one",),
            thresholds=(Threshold("likely_min_anomaly_rate", "0.5", "share"),),
            limits=("Limit one",),
            testlist_size=2000,
            testlist_by_category=(("NEWS", "News Media", 300),),
            rules_version="1",
        ),
        sections=[Section("Legal context", Markup("<p>Attributed text.</p>"), "context.md")],
        data_files=[DataFile("domains.csv", "per-domain table", 2000, "data:text/csv;base64,YQ==")],
    )


@pytest.fixture
def report_model():
    """A factory: ``report_model(synthetic=True, evil="<script>")``."""
    return sample_model
