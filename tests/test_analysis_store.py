"""The whole analysis on a small hand-built store, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import uuid
from datetime import datetime, timedelta
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from censorwatch.analysis import analyze, parse_period
from censorwatch.analysis.apps import judge_app_document
from censorwatch.analysis.synthetic import measurement, ooni, probe
from censorwatch.config import AnalysisSettings
from censorwatch.store import open_store, write_measurements
from censorwatch.store.models import TestlistEntry

KH = "Asia/Phnom_Penh"
A, B = 38623, 131178  # two Cambodian networks (names below come from the measurements)


def days(start: str, n: int, hour: int = 3) -> list[str]:
    first = datetime.fromisoformat(start)
    return [(first + timedelta(days=i, hours=hour)).strftime("%Y-%m-%d %H:%M:%S") for i in range(n)]


def build(store) -> None:
    rows = []
    # likely blocked on A only (per-ISP DNS blocking), accessible on B; category from the list
    rows += [
        ooni("https://blocked.example/", d, A, status="anomaly") for d in days("2023-06-01", 12)
    ]
    rows += [ooni("https://blocked.example/", d, A) for d in days("2023-06-20", 2)]
    rows += [ooni("https://blocked.example/", d, B) for d in days("2023-06-01", 12)]
    # blocked in the final 30 days too; blocked in 2022 as well
    rows += [ooni("https://still.example/", d, A, status="anomaly") for d in days("2023-12-10", 12)]
    rows += [ooni("http://still.example/", d, A, status="anomaly") for d in days("2022-05-01", 12)]
    # blocked in January, measured accessible on the same network in December
    rows += [
        ooni("https://lifted.example/", d, A, status="anomaly") for d in days("2023-01-01", 12)
    ]
    rows += [ooni("https://lifted.example/", d, A) for d in days("2023-12-20", 5)]
    # a fingerprint-confirmed blockpage, among accessible measurements on another network
    rows.append(ooni("https://fp.example/", "2023-08-01 02:00:00", B, status="confirmed"))
    rows += [ooni("https://fp.example/", d, A) for d in days("2023-08-01", 5)]
    # our probe and OONI both see tcp_ip blocking on A on 2023-09-01, 09-03 and 09-05
    # (local days), disagree on 09-02; on 09-04 they see different methods
    for d in ("2023-09-03", "2023-09-05"):
        rows.append(
            ooni("https://agree.example/", f"{d} 01:00:00", A, status="anomaly", method="tcp_ip")
        )
        rows.append(probe("https://agree.example/", f"{d} 09:00:00", A, blocking="tcp_ip"))
    rows.append(
        ooni("https://agree.example/", "2023-09-04 01:00:00", A, status="anomaly", method="dns")
    )
    rows.append(probe("https://agree.example/", "2023-09-04 09:00:00", A, blocking="tcp_ip"))
    rows.append(
        ooni("https://agree.example/", "2023-09-01 01:00:00", A, status="anomaly", method="tcp_ip")
    )
    rows.append(probe("https://agree.example/", "2023-09-01 09:00:00", A, blocking="tcp_ip"))
    rows.append(
        ooni("https://agree.example/", "2023-09-02 01:00:00", A, status="anomaly", method="tcp_ip")
    )
    rows.append(probe("https://agree.example/", "2023-09-02 09:00:00", A, blocking="false"))
    rows += [probe("https://agree.example/", d, B) for d in days("2023-09-01", 16)]
    # accessible, and noisy (20% anomalies: inconclusive)
    rows += [ooni("https://ok.example/", d, B, category_code="GRP") for d in days("2023-02-01", 20)]
    rows += [
        ooni(
            "https://noisy.example/",
            d,
            B,
            status="anomaly" if i % 5 == 0 else "ok",
            method="http-failure",
        )
        for i, d in enumerate(days("2023-04-01", 20))
    ]
    rows += [ooni("https://noisy.example/", d, B, status="failure") for d in days("2023-04-01", 3)]
    # blocked in 2022, accessible in 2023
    rows += [ooni("https://gone.example/", d, A, status="anomaly") for d in days("2022-03-01", 12)]
    rows += [ooni("https://gone.example/", d, A) for d in days("2023-03-01", 12)]
    # another country: never counted
    rows += [ooni("https://blocked.example/", d, A, cc="TH") for d in days("2023-06-01", 5)]
    # apps: OONI-judged telegram anomalies; raw signal documents judged from test keys
    rows += [
        measurement(
            None, d, asn=A, test_name="telegram", anomaly=True, confirmed=False, failure=False
        )
        for d in days("2023-05-03", 3)
    ]
    signal_doc = {"test_name": "signal", "test_keys": {"signal_backend_status": "blocked"}}
    rows += [
        measurement(None, d, asn=B, test_name="signal", document=signal_doc)
        for d in days("2023-05-03", 3)
    ]
    rows.append(
        measurement(
            None,
            "2023-05-03 00:00:00",
            asn=B,
            test_name="whatsapp",
            anomaly=False,
            confirmed=False,
            failure=False,
        )
    )
    for row in rows:
        row.probe_network_name = {A: "Viettel (Cambodia)", B: "Metfone"}[row.probe_asn]
    with store.engine.begin() as conn:
        write_measurements(conn, rows)
    with store.session() as s:
        now = datetime(2022, 1, 1)
        for url, cat in (("https://blocked.example/", "NEWS"), ("https://never.example/", "HUMR")):
            s.add(
                TestlistEntry(
                    list_name="kh",
                    url=url,
                    category_code=cat,
                    status="active",
                    first_seen_at=now,
                    last_changed_at=now,
                )
            )


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def result(request, tmp_path_factory):
    """Built and analysed once per database for the read-only tests below."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('analysis') / 'store.sqlite3'}"
        with open_store(url) as store:
            build(store)
            yield analyze(store, "KH", parse_period("2023", KH))
        return
    base = os.environ.get("CENSORWATCH_TEST_PG", "postgresql+psycopg://127.0.0.1:5432/test")
    admin = sa.create_engine(base)
    schema = f"cwtest_{uuid.uuid4().hex[:12]}"
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL is required under CI: {exc}")
        pytest.skip(f"no PostgreSQL at {base}")
    try:
        sep = "&" if "?" in base else "?"
        with open_store(f"{base}{sep}options={quote(f'-csearch_path={schema}')}") as store:
            build(store)
            yield analyze(store, "KH", parse_period("2023", KH))
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def domain(result, name: str) -> dict:
    rows = result.domains[result.domains["domain"] == name]
    assert len(rows) == 1, name
    return rows.iloc[0].to_dict()


def test_verdicts_and_evidence(result) -> None:
    blocked = domain(result, "blocked.example")
    assert blocked["verdict"] == "likely"
    assert blocked["networks"] == (A,) and blocked["methods"] == ("dns",)
    assert (blocked["first_blocked"], blocked["last_blocked"]) == ("2023-06-01", "2023-06-12")
    assert blocked["still_blocked"] is None  # not measured in the last 30 days
    assert blocked["category_code"] == "NEWS"  # from the test list
    assert (blocked["measurements"], blocked["anomalies"]) == (26, 12)

    assert domain(result, "still.example")["still_blocked"] is True
    lifted = domain(result, "lifted.example")
    assert lifted["verdict"] == "likely" and lifted["still_blocked"] is False

    fp = domain(result, "fp.example")
    assert fp["verdict"] == "confirmed" and fp["confirmed_by"] == "fingerprint"
    # A DNS answer known for blocking confirmed it: the method is dns, no blockpage.
    assert fp["methods"] == ("dns",) and fp["networks"] == (B,)
    assert fp["first_blocked"] == fp["last_blocked"] == "2023-08-01"

    agree = domain(result, "agree.example")
    assert agree["verdict"] == "confirmed" and agree["confirmed_by"] == "agreement"
    assert agree["networks"] == (A,) and agree["methods"] == ("tcp_ip", "dns")

    assert domain(result, "ok.example")["verdict"] == "accessible"
    assert domain(result, "ok.example")["category_code"] == "GRP"
    noisy = domain(result, "noisy.example")
    assert noisy["verdict"] == "inconclusive" and noisy["methods"] == ("http-failure",)
    assert (noisy["measurements"], noisy["failures"], noisy["anomalies"]) == (23, 3, 4)
    assert domain(result, "gone.example")["verdict"] == "accessible"

    # ordered by verdict, then domain
    assert list(result.domains["domain"]) == [
        "agree.example",
        "fp.example",
        "blocked.example",
        "lifted.example",
        "still.example",
        "noisy.example",
        "gone.example",
        "ok.example",
    ]
    h = result.headline
    assert (h.blocked, h.confirmed, h.likely, h.inconclusive, h.accessible) == (5, 2, 3, 1, 2)
    assert h.still_blocked == 1


def test_coverage(result) -> None:
    c = result.coverage
    web = 26 + 12 + 17 + 6 + 10 + 16 + 20 + 23 + 12
    assert c.measurements == web + 3 + 3 + 1
    assert c.urls_tested == 8 and c.domains_tested == 8
    assert (c.testlist_urls, c.testlist_urls_tested) == (2, 1)
    months = {r["month"]: r for r in c.to_dict()["by_month"]}
    assert len(months) == 12
    june = months["2023-06"]
    assert june == {
        "month": "2023-06",
        "measurements": 26,
        "ok": 14,
        "anomaly": 12,
        "confirmed": 0,
        "failure": 0,
    }
    assert months["2023-04"]["failure"] == 3
    assert c.busiest_month == "2023-06" and c.quietest_month == "2023-07"
    names = dict(zip(c.by_network["asn"], c.by_network["name"], strict=True))
    assert names == {A: "Viettel (Cambodia)", B: "Metfone"}
    assert set(c.by_source["source"]) == {"ooni", "censorwatch"}


def test_days_measured_per_network(result) -> None:
    """Distinct local days with a measurement of any test (raw app documents judged here
    included), first and last: the same on SQLite's fast path and PostgreSQL's SQL."""
    by = result.coverage.by_network.set_index("asn")
    # A: blocked 14, still 12, lifted 12 + 3 (two December days shared with still),
    # fp 5, agree 5, gone 12, telegram 3.
    assert (by.loc[A, "days"], by.loc[A, "first_day"], by.loc[A, "last_day"]) == (
        66,
        "2023-01-01",
        "2023-12-24",
    )
    # B: blocked 12, fp 1, agree 16, ok 20, noisy 20 (its failures on the same days),
    # signal's raw documents 3 (whatsapp's one on the first of them).
    assert (by.loc[B, "days"], by.loc[B, "first_day"], by.loc[B, "last_day"]) == (
        72,
        "2023-02-01",
        "2023-09-16",
    )
    networks = {n["asn"]: n for n in result.coverage.to_dict()["networks"]}
    assert networks[A]["days"] == 66 and networks[B]["first_day"] == "2023-02-01"
    assert isinstance(networks[A]["days"], int)


def test_days_measured_and_blocked_per_website(result) -> None:
    """days_measured: local days with a judged measurement on any network; days_blocked:
    days with an anomaly on a blocking network; null unless confirmed or likely."""
    got = {
        d: (m, b)
        for d, m, b in zip(
            result.domains["domain"],
            result.domains["days_measured"],
            result.domains["days_blocked"],
            strict=True,
        )
    }
    assert got == {
        # anomalies on A 09-01..05 (09-02 OONI's alone); our probe on B daily to 09-16
        "agree.example": (16, 5),
        # confirmed on B on 08-01; A measured it accessible 08-01..05
        "fp.example": (5, 1),
        # 12 anomalous days on A (B measured the same days), 2 accessible days on A
        "blocked.example": (14, 12),
        "lifted.example": (17, 12),
        "still.example": (12, 12),
        "noisy.example": (None, None),
        "gone.example": (None, None),
        "ok.example": (None, None),
    }
    dd = result.domain_days
    assert list(dd.columns) == [
        "domain",
        "probe_asn",
        "day",
        "measurements",
        "failures",
        "anomalies",
        "confirmed",
    ]
    assert set(dd["domain"]) == set(result.blocked["domain"])
    keys = list(zip(dd["domain"], dd["probe_asn"], dd["day"], strict=True))
    assert keys == sorted(keys)
    fp = dd[dd["domain"] == "fp.example"].set_index(["probe_asn", "day"])
    assert fp.loc[(B, "2023-08-01")].tolist() == ["fp.example", 1, 0, 1, 1]
    assert len(fp) == 6
    blocked = dd[dd["domain"] == "blocked.example"]
    assert blocked["measurements"].sum() == 26 and blocked["anomalies"].sum() == 12
    data = result.to_json()
    by_domain = {d["domain"]: d for d in data["domains"]}
    assert (
        by_domain["agree.example"]["days_measured"],
        by_domain["agree.example"]["days_blocked"],
    ) == (16, 5)
    assert by_domain["ok.example"]["days_measured"] is None
    assert by_domain["ok.example"]["days_blocked"] is None
    assert "domain_days" in result.tables()
    assert len(result.tables()["domain_days"]) == len(dd)


def test_tables_per_category_network_month(result) -> None:
    cats = result.categories.set_index("category_code")
    assert cats.loc["NEWS", "blocked"] == 1 and cats.loc["GRP", "accessible"] == 1
    nets = result.networks.set_index("asn")
    assert nets.loc[A, "domains_blocked"] == 4 and nets.loc[B, "domains_blocked"] == 1
    dm = result.domain_months.set_index(["domain", "month"])
    assert dm.loc[("blocked.example", "2023-06"), "anomalies"] == 12
    dn = result.domain_networks.set_index(["domain", "probe_asn"])
    assert dn.loc[("blocked.example", A), "anomaly_days"] == 12
    assert dn.loc[("agree.example", A), "agreement_days"] == 3
    urls = result.urls.set_index("input")
    assert urls.loc["https://blocked.example/", "networks"] == 2


def test_changes(result) -> None:
    ch = result.changes
    assert ch.previous_period == parse_period("2022", KH)
    # Not measured in 2022: first measured this period, never newly blocked.
    assert list(ch.first_measured["domain"]) == [
        "agree.example",
        "blocked.example",
        "fp.example",
        "lifted.example",
    ]
    assert ch.newly_blocked.empty
    assert list(ch.unblocked["domain"]) == ["gone.example"]
    assert list(ch.still_blocked["domain"]) == ["still.example"]
    assert ch.first_measured.set_index("domain").loc["blocked.example", "previous_verdict"] == (
        "not-measured"
    )
    assert ch.previous_measured and ch.compared


def test_agreement(result) -> None:
    ag = result.agreement
    assert ag.cells == 5 and ag.both_blocked == 4 and ag.only_theirs_blocked == 1
    assert ag.rate == 0.8


def test_apps(result) -> None:
    apps = result.apps.set_index(["test_name", "probe_asn"])
    assert apps.loc[("telegram", A), "status"] == "blocked"
    signal = apps.loc[("signal", B)]
    assert signal["status"] == "blocked" and signal["anomalies"] == 3
    assert apps.loc[("whatsapp", B), "status"] == "reachable"
    assert list(result.apps["test_name"]) == ["whatsapp", "telegram", "signal"]
    summary = result.apps_by_network.set_index(["test_name", "probe_asn"])
    assert summary.loc[("signal", B), "measurements"] == 3 and set(summary["month"]) == {""}


def test_deterministic_json(store) -> None:
    build(store)
    period = parse_period("2023", KH)
    first = json.dumps(analyze(store, "KH", period).to_json())
    second = json.dumps(analyze(store, "KH", period).to_json())
    assert first == second
    data = json.loads(first)
    assert data["period"] == {"start": "2023-01-01", "end": "2023-12-31", "timezone": KH}
    for d in data["domains"]:
        assert d["verdict"] in ("confirmed", "likely", "inconclusive", "accessible")


def test_thresholds_from_settings_change_verdicts(store) -> None:
    build(store)
    strict = AnalysisSettings(likely_min_days=13)
    result = analyze(store, "KH", parse_period("2023", KH), strict, compare_previous=False)
    assert domain(result, "blocked.example")["verdict"] == "inconclusive"
    assert "13 different days" in result.method.text


def test_empty_store(store) -> None:
    result = analyze(store, "KH", parse_period("2023", KH))
    assert result.headline.measurements == 0 and result.domains.empty
    data = result.to_json()
    assert data["domains"] == [] and len(data["coverage"]["by_month"]) == 12
    assert data["coverage"]["busiest_month"] is None


@pytest.mark.parametrize(
    ("test_name", "keys", "expected"),
    [
        ("signal", {"signal_backend_status": "ok"}, "ok"),
        ("signal", {"signal_backend_status": "blocked"}, "anomaly"),
        ("signal", {}, "failure"),
        ("psiphon", {"failure": "bootstrap_failed", "bootstrap_time": 0}, "anomaly"),
        ("psiphon", {"failure": None, "bootstrap_time": 3.2}, "ok"),
        ("psiphon", {"failure": None, "bootstrap_time": 0}, "failure"),
        ("tor", {"targets": {"a": {"failure": None}, "b": {"failure": "eof"}}}, "ok"),
        (
            "tor",
            {"targets": {"a": {"failure": "eof"}, "b": {"failure": "eof"}, "c": {"failure": None}}},
            "anomaly",
        ),
        ("tor", {"targets": {"a": {"failure": False}}}, "failure"),
        (
            "facebook_messenger",
            {"facebook_tcp_blocking": False, "facebook_dns_blocking": False},
            "ok",
        ),
        (
            "facebook_messenger",
            {"facebook_tcp_blocking": True, "facebook_dns_blocking": True},
            "anomaly",
        ),
        ("facebook_messenger", {"facebook_tcp_blocking": True}, "ok"),  # 0.5 is not > 0.5
        (
            "telegram",
            {
                "telegram_web_status": "blocked",
                "tcp_connect": [{"status": {"success": True}}],
                "requests": [{"request": {"url": "http://149.154.167.51/"}, "failure": None}],
            },
            "anomaly",
        ),
        (
            "telegram",
            {
                "telegram_web_status": "ok",
                "tcp_connect": [{"status": {"success": True}}, {"status": {"success": False}}],
                "requests": [{"request": {"url": "http://149.154.167.51/"}, "failure": None}],
            },
            "ok",
        ),
        (
            "whatsapp",
            {
                "requests": [
                    {"request": {"url": "https://web.whatsapp.com/"}, "failure": None},
                    {"request": {"url": "https://v.whatsapp.net/v2/register"}, "failure": None},
                ],
                "tcp_connect": [{"status": {"success": True}}],
            },
            "ok",
        ),
        (
            "whatsapp",
            {
                "requests": [
                    {
                        "request": {"url": "https://web.whatsapp.com/"},
                        "failure": "connection_reset",
                    },
                    {"request": {"url": "https://v.whatsapp.net/v2/register"}, "failure": None},
                ]
            },
            "anomaly",
        ),
        ("whatsapp", {"requests": []}, "failure"),
        ("signal", {"signal_backend_status": "ok", "x_failure": "unknown_failure: eof"}, "failure"),
    ],
)
def test_app_judges(test_name: str, keys: dict, expected: str) -> None:
    assert judge_app_document(test_name, {"test_name": test_name, "test_keys": keys}) == expected


def test_evidence_cites_measurements(result) -> None:
    ev = result.evidence
    assert set(ev["domain"]) == {
        "agree.example",
        "fp.example",
        "blocked.example",
        "lifted.example",
        "still.example",
    }
    blocked = ev[ev["domain"] == "blocked.example"].set_index("role")
    assert list(blocked.index) == ["first", "last"]
    assert (
        blocked.loc["first", "day"] == "2023-06-01" and blocked.loc["last", "day"] == "2023-06-12"
    )
    assert set(ev["probe_asn"][ev["domain"] == "blocked.example"]) == {A}
    first = blocked.loc["first"]
    assert first["url"] == (
        f"https://explorer.ooni.org/measurement/{first['report_id']}?input="
        "https%3A%2F%2Fblocked.example%2F"
    )
    fp = ev[ev["domain"] == "fp.example"]
    assert list(fp["role"]) == ["first"] and list(fp["status"]) == ["confirmed"]
    agree = ev[ev["domain"] == "agree.example"]
    assert set(agree["source"]) == {"ooni", "censorwatch"}
    assert agree.loc[agree["source"] == "censorwatch", "url"].isna().all()
    cited = {d["domain"]: d["evidence"] for d in result.to_json()["domains"]}
    assert cited["ok.example"] == [] and len(cited["blocked.example"]) == 2


def test_explorer_urls() -> None:
    from censorwatch.analysis.evidence import explorer_url

    uid = "20260711174303.899212_ES_webconnectivity_cb7ef25a464d14d4"
    assert explorer_url("ooni", uid, "r1", "https://a/") == f"https://explorer.ooni.org/m/{uid}"
    legacy = "01202003039e13e3e38be1918d3a64c2ec27ea22"
    assert explorer_url("ooni", legacy, "20200303T085244Z_AS42668_x", "http://rutor.org/") == (
        "https://explorer.ooni.org/measurement/20200303T085244Z_AS42668_x?input=http%3A%2F%2Frutor.org%2F"
    )
    assert explorer_url("censorwatch", uid, "r1", "https://a/") is None


def test_blockpage_only_when_a_page_confirmed_it(store) -> None:
    """A known blockpage (an HTTP method, confirmed) is a blockpage; a DNS answer known for
    blocking confirms a dns measurement, which is not (Cambodia has no blockpages)."""
    rows = [
        ooni(
            "https://page.example/",
            "2023-03-01 02:00:00",
            A,
            status="confirmed",
            method="http-diff",
        ),
        ooni(
            "https://sinkhole.example/", "2023-03-01 02:00:00", A, status="confirmed", method="dns"
        ),
    ]
    with store.engine.begin() as conn:
        write_measurements(conn, rows)
    result = analyze(store, "KH", parse_period("2023", KH), AnalysisSettings())
    methods = {d["domain"]: tuple(d["methods"]) for d in result.domains.to_dict(orient="records")}
    assert methods["page.example"] == ("http-diff", "blockpage")
    assert methods["sinkhole.example"] == ("dns",)
