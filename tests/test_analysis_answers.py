"""``blocking_answers``: DNS answers vetted by the machine, on a half-year built from real data.

The half-year (January to June 2023, Cambodia) is made of real OONI Probe documents from
``../shared/fixtures`` (the Web Connectivity v0.5.28 QA runs and a v0.4.1 measurement),
rewritten here in memory (country, network, URL, answer addresses and their AS) and ingested
through the normal ingest path:

* an unknown sinkhole inside Cogetel's own network, answered for six unrelated domains (five
  v0.5 documents and one v0.4): **blocking**, no fingerprint;
* a bogon answer (10.20.30.40): **blocking**;
* a Cisco OpenDNS answer (146.112.61.106, AS36692) on which a TLS handshake with the site's
  name validated: **false-positive**;
* a Metfone address answered for two domains only: **unclear**;
* accessible measurements, which are never read.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import shared_fixture

from censorwatch.analysis import analyze, parse_period
from censorwatch.analysis.answers import candidate_query, registrable_domain
from censorwatch.analysis.load import Scope
from censorwatch.cli import cli
from censorwatch.ingest.files import iter_file
from censorwatch.ingest.pipeline import Ingestor
from censorwatch.store import open_store
from censorwatch.store.models import AnswerDecision

KH = "Asia/Phnom_Penh"
COGETEL, METFONE, SMART = 23673, 38623, 38901
NAMES = {COGETEL: "Cogetel Online", METFONE: "Viettel (Cambodia)", SMART: "Smart Axiata"}
SINKHOLE = "203.189.136.20"
BOGON = "10.20.30.40"
OPENDNS = "146.112.61.106"
UNCLEAR_IP = "175.100.10.10"
#: Unrelated domains (and one host of the same registrable domain as another).
SINKHOLED = [
    "www.rfa.org",
    "khmer.rfa.org",
    "www.voacambodia.com",
    "vodkhmer.news",
    "www.cambodiadaily.com",
    "thediplomat.com",
]
V04_SINKHOLED = "www.hrw.org"

ANSWER_KEYS = {
    "ip",
    "verdict",
    "asn",
    "as_org_name",
    "networks",
    "domains",
    "control_returned",
    "tls_valid_for_site",
    "bogon",
    "fingerprint",
    "reasons",
}


def qa(line: int) -> str:
    """Line ``line`` (1-based) of the QA measurements, as JSON text."""
    path = shared_fixture("ooni", "webconnectivity-qa", "measurements.jsonl")
    with path.open(encoding="utf-8") as fh:
        for i, text in enumerate(fh, 1):
            if i == line:
                return text
    raise AssertionError(line)


def rewrite(text: str, replace: dict[str, str], asn: int, when: dt.datetime) -> dict:
    """A real document moved to Cambodia: text replacements, then the probe's fields."""
    for old, new in replace.items():
        text = text.replace(old, new)
    doc = json.loads(text)
    doc.update(
        probe_cc="KH",
        probe_asn=f"AS{asn}",
        probe_network_name=NAMES[asn],
        measurement_start_time=when.strftime("%Y-%m-%d %H:%M:%S"),
        report_id=f"{when:%Y%m%dT%H%M%SZ}_webconnectivity_KH_{asn}_n1_cwtest{asn}",
    )
    return doc


def half_year() -> list[dict]:
    docs = []
    day = dt.datetime(2023, 1, 3, 2, 0)

    def next_day() -> dt.datetime:
        nonlocal day
        day += dt.timedelta(days=9)
        return day

    # v0.5.28 tcpBlockingConnectionRefusedWithInconsistentDNS: the resolver answers an
    # address of the ISP's own network that refuses connections.
    refused = qa(110)
    for host in SINKHOLED:
        docs.append(
            rewrite(
                refused,
                {
                    "www.example.org": host,
                    "83.224.65.41": SINKHOLE,
                    '"asn":30722': f'"asn":{COGETEL}',
                    '"asn": 30722': f'"asn": {COGETEL}',
                    "Vodafone Italia S.p.A.": "Cogetel Online",
                },
                COGETEL,
                next_day(),
            )
        )
    # v0.4.1 (the IR measurement): the system resolver's one answer, no control ip_info.
    ir = shared_fixture("ooni", "measurements", "web_connectivity_ir_fp.json").read_text("utf-8")
    docs.append(
        rewrite(
            ir,
            {"www.facebook.com": V04_SINKHOLED, "10.10.34.36": SINKHOLE},
            COGETEL,
            next_day(),
        )
    )
    # v0.5.28 dnsBlockingBOGON: a private address.
    docs.append(
        rewrite(
            qa(27),
            {"www.example.com": "www.facebook.com", "10.10.34.35": BOGON},
            SMART,
            next_day(),
        )
    )
    # v0.5.28 httpDiffWithInconsistentDNS: the resolver's address serves another page over
    # HTTP, but a TLS handshake with the site's name validates on it (OpenDNS-style).
    for host in ("www.reddit.com", "www.bbc.com"):
        docs.append(
            rewrite(
                qa(53),
                {
                    "www.example.com": host,
                    "130.192.182.17": OPENDNS,
                    '"asn":137,': '"asn":36692,',
                    '"asn": 137,': '"asn": 36692,',
                    "Consortium GARR": "Cisco OpenDNS, LLC",
                },
                METFONE,
                next_day(),
            )
        )
    # The same refused-connection run, for two domains only, on Metfone.
    for host in ("www.khmertimeskh.com", "www.phnompenhpost.com"):
        docs.append(
            rewrite(
                refused,
                {
                    "www.example.org": host,
                    "83.224.65.41": UNCLEAR_IP,
                    '"asn":30722': f'"asn":{METFONE}',
                    '"asn": 30722': f'"asn": {METFONE}',
                    "Vodafone Italia S.p.A.": "Viettel (Cambodia)",
                },
                METFONE,
                next_day(),
            )
        )
    # v0.5.28 successWithHTTPS: accessible, never a candidate.
    for host in ("www.google.com", "www.wikipedia.org"):
        docs.append(rewrite(qa(104), {"www.example.com": host}, SMART, next_day()))
    assert day < dt.datetime(2023, 7, 1)
    return docs


def ingest(store, tmp_path: Path) -> None:
    path = tmp_path / "half-year.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in half_year()), encoding="utf-8")
    ingestor = Ingestor(store, batch_size=7)
    ingestor.ingest_records(iter_file(path))


def by_ip(answers: list[dict]) -> dict[str, dict]:
    return {a["ip"]: a for a in answers}


@pytest.fixture
def vetted(store, tmp_path):
    ingest(store, tmp_path)
    with store.session() as s:
        s.add(
            AnswerDecision(
                ip=SINKHOLE,
                decision="accept",
                reason="Cogetel's sinkhole, seen by the working group",
                decided_by="analyst",
                decided_at=dt.datetime(2023, 7, 2, 9, 0),
                country="KH",
                asn=COGETEL,
            )
        )
        s.commit()
    result = analyze(store, "KH", parse_period("2023-01..2023-06", KH), compare_previous=False)
    return result


def test_unknown_sinkhole_bogon_and_false_positive(vetted) -> None:
    answers = vetted.blocking_answers
    found = by_ip(answers)
    assert set(found) == {SINKHOLE, BOGON, OPENDNS, UNCLEAR_IP}
    for a in answers:
        assert set(a) >= ANSWER_KEYS
        assert a["verdict"] in ("blocking", "false-positive", "unclear")

    sink = found[SINKHOLE]
    assert sink["verdict"] == "blocking"
    assert sink["fingerprint"] is None  # no fingerprint knows it
    assert (sink["asn"], sink["as_org_name"]) == (COGETEL, "Cogetel Online")
    assert sink["in_own_network"] is True
    assert [{k: v for k, v in n.items() if k != "hosts"} for n in sink["networks"]] == [
        {"asn": COGETEL, "name": "Cogetel Online", "domains": 6}
    ]
    assert len(sink["networks"][0]["hosts"]) >= 6
    assert sink["domains"]["count"] == 7 and sink["domains"]["unrelated"] == 6
    assert sink["domains"]["names"] == sorted([*SINKHOLED, V04_SINKHOLED])
    assert sink["measurements"] == 7
    assert (sink["control_returned"], sink["tls_valid_for_site"], sink["bogon"]) == (
        False,
        False,
        False,
    )
    assert any("6 unrelated domains on Cogetel Online" in r for r in sink["reasons"])
    assert any("own network" in r for r in sink["reasons"])
    assert sink["decision"] == {
        "decision": "accept",
        "reason": "Cogetel's sinkhole, seen by the working group",
        "decided_by": "analyst",
        "decided_at": "2023-07-02T09:00:00",
    }

    bogon = found[BOGON]
    assert bogon["verdict"] == "blocking" and bogon["bogon"] is True
    assert bogon["domains"] == {"count": 1, "names": ["www.facebook.com"], "unrelated": 1}
    assert bogon["networks"][0]["asn"] == SMART
    assert any("bogon" in r for r in bogon["reasons"])
    assert bogon["decision"] is None

    fp = found[OPENDNS]
    assert fp["verdict"] == "false-positive"
    assert fp["tls_valid_for_site"] is True and fp["control_returned"] is False
    assert (fp["asn"], fp["as_org_name"]) == (36692, "Cisco OpenDNS, LLC")
    assert fp["in_own_network"] is False
    assert fp["domains"]["names"] == ["www.bbc.com", "www.reddit.com"]
    assert any("TLS handshake" in r for r in fp["reasons"])

    unclear = found[UNCLEAR_IP]
    assert unclear["verdict"] == "unclear" and unclear["asn"] == METFONE
    assert unclear["in_own_network"] is True and unclear["domains"]["unrelated"] == 2
    # blocking first, then unclear, then false positives; by measurements within each
    assert [a["ip"] for a in answers] == [SINKHOLE, BOGON, UNCLEAR_IP, OPENDNS]


def test_thresholds_come_from_the_settings(store, tmp_path) -> None:
    from censorwatch.config import AnalysisSettings

    ingest(store, tmp_path)
    settings = AnalysisSettings(sinkhole_min_domains=7, bogon_min_domains=2)
    result = analyze(
        store, "KH", parse_period("2023-01..2023-06", KH), settings, compare_previous=False
    )
    found = by_ip(result.blocking_answers)
    assert found[SINKHOLE]["verdict"] == "unclear"  # 6 unrelated domains < 7
    assert found[BOGON]["verdict"] == "unclear"
    thresholds = result.to_json()["method"]["thresholds"]
    assert (thresholds["sinkhole_min_domains"], thresholds["bogon_min_domains"]) == (7, 2)


def test_only_candidate_rows_are_read(store, tmp_path) -> None:
    ingest(store, tmp_path)
    scope = Scope("KH", parse_period("2023-01..2023-06", KH))
    with store.engine.connect() as conn:
        rows = conn.execute(candidate_query(scope)).all()
    # 14 documents; the two accessible ones are not candidates
    assert len(half_year()) == 14 and len(rows) == 12


def test_registrable_domains() -> None:
    assert registrable_domain("www.rfa.org") == registrable_domain("khmer.rfa.org") == "rfa.org"
    assert registrable_domain("moi.gov.kh") == "moi.gov.kh"
    assert registrable_domain("Example.COM.") == "example.com"


def test_cli_json(isolated_env: Path, tmp_path: Path) -> None:
    path = tmp_path / "half-year.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in half_year()), encoding="utf-8")
    runner = CliRunner()
    out = runner.invoke(cli, ["ingest", "file", str(path)], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    out = runner.invoke(
        cli,
        ["analyze", "--country", "KH", "--period", "2023-01..2023-06", "--format", "json"],
        catch_exceptions=False,
    )
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    answers = data["blocking_answers"]
    assert [a["verdict"] for a in answers] == ["blocking", "blocking", "unclear", "false-positive"]
    assert set(answers[0]) >= ANSWER_KEYS
    assert answers[0]["ip"] == SINKHOLE and answers[0]["fingerprint"] is None
    assert answers[-1]["ip"] == OPENDNS and answers[-1]["tls_valid_for_site"] is True
    assert data["method"]["thresholds"]["sinkhole_min_domains"] == 5
    assert data["method"]["thresholds"]["bogon_min_domains"] == 1
    out = runner.invoke(
        cli, ["analyze", "--country", "KH", "--period", "2023-01..2023-06"], catch_exceptions=False
    )
    assert out.exit_code == 0, out.output
    assert "suspicious DNS answers, vetted by the machine" in out.stdout
    assert SINKHOLE in out.stdout and "false-positive" in out.stdout


def test_without_shared_data_nothing_is_suspicious(store) -> None:
    result = analyze(store, "KH", parse_period("2023-01..2023-06", KH), compare_previous=False)
    assert result.blocking_answers == []
    assert result.to_json()["blocking_answers"] == []


EVIL = '"><script>alert(1)</script><img src=x onerror=alert(2)>'


def test_report_annex_table(vetted, store) -> None:
    """The methodology shows the vetted answers, in English and Khmer, from the analysis."""
    from censorwatch.reports.build import build_model
    from censorwatch.reports.i18n import get_language
    from censorwatch.reports.model import Edition
    from censorwatch.reports.render import render_report

    edition = Edition("draft", "WG", dt.datetime(2023, 7, 5), "0" * 64, "1" * 64)
    for code, words in (
        ("en", ("Suspicious DNS answers, vetted by the machine", "false positive", "no known")),
        ("km", ("ចម្លើយ DNS ដែលគួរឱ្យសង្ស័យ", "វិជ្ជមានមិនពិត", "គ្មានស្នាមសម្គាល់")),
    ):
        model = build_model(vetted, None, store, get_language(code), edition)
        rows = model.method.answers
        # The half-year's websites are in no test list: one category row says so, once.
        assert [c.code for c in model.categories] == [""]
        if code == "en":
            assert model.categories[0].name == "No category (not in the test lists)"
        assert [r.ip for r in rows] == [SINKHOLE, BOGON, UNCLEAR_IP, OPENDNS]
        assert rows[0].network == "AS23673 Cogetel Online"
        assert rows[0].answered_on == ("Cogetel Online",) and rows[0].domains == 7
        html = render_report(model, code)
        method = html[html.index('id="method"') : html.index('id="coverage"')]
        assert 'id="answers"' in method and SINKHOLE in method and OPENDNS in method
        for word in words:
            assert word in method, word


def test_report_annex_shows_the_decision_without_the_members_name(vetted, store) -> None:
    import dataclasses

    from censorwatch.reports.build import build_model
    from censorwatch.reports.i18n import get_language
    from censorwatch.reports.model import Edition
    from censorwatch.reports.render import render_report

    decided = {
        "decision": "accept",
        "reason": "Cogetel's sinkhole <b>",
        "decided_by": "Dara",
        "decided_at": "2023-07-01T09:00:00Z",
    }
    answers = [
        {**a, "decision": decided} if a["ip"] == SINKHOLE else a for a in vetted.blocking_answers
    ]
    result = dataclasses.replace(vetted, blocking_answers=answers)
    edition = Edition("draft", "WG", dt.datetime(2023, 7, 5), "0" * 64, "1" * 64)
    for code, said in (("en", "accepted on"), ("km", "បានទទួលយក")):
        model = build_model(result, None, store, get_language(code), edition)
        row = model.method.answers[0]
        assert row.ip == SINKHOLE and said in row.decision and "Dara" not in row.decision
        assert model.method.answers[1].decision == ""
        html = render_report(model, code)
        method = html[html.index('id="answers"') : html.index('id="coverage"')]
        assert (
            "Cogetel&#39;s sinkhole &lt;b&gt;" in method or "Cogetel's sinkhole &lt;b&gt;" in method
        )
        assert "Dara" not in method


def test_report_annex_escapes_network_text(report_model) -> None:
    import dataclasses

    from censorwatch.reports.model import AnswerRow
    from censorwatch.reports.render import render_report

    model = report_model(evil=EVIL)
    row = AnswerRow(
        ip="203.0.113.7" + EVIL,
        verdict="blocking",
        network="AS1 Org" + EVIL,
        answered_on=("ISP" + EVIL,),
        domains=5,
        reasons=("given on ISP" + EVIL,),
    )
    model.method = dataclasses.replace(model.method, answers=(row,), answers_min_domains="5")
    html = render_report(model, "en")
    assert 'id="answers"' in html
    assert "<script>" not in html and "<img" not in html
    assert "AS1 Org&#34;&gt;&lt;script&gt;" in html or "AS1 Org&quot;&gt;&lt;script&gt;" in html


OWN_SINK = "103.216.49.10"
OWN_CDN = "104.16.1.1"


def own_document(host: str, answer: str, when: dt.datetime, control_tls_ok: bool) -> dict:
    """A document of censorwatch's own probe (v0.4 shape, as probes/ writes it)."""
    from censorwatch.probes.document import RunInfo, build_document

    site = "93.184.216.34"
    run = RunInfo(
        report_id=f"{when:%Y%m%dT%H%M%SZ}_webconnectivity_KH_{SMART}_n1_cwownprobe",
        probe_cc="KH",
        probe_asn=SMART,
        probe_network_name=NAMES[SMART],
        test_start_time=when,
        resolver_label="system",
    )
    endpoint = f"{answer}:443"
    tk = {
        "queries": [
            {
                "answers": [{"answer_type": "A", "ipv4": answer, "ttl": 300}],
                "engine": "system",
                "failure": None,
                "hostname": host,
                "query_type": "A",
                "resolver_address": "system",
                "tags": ["classic", "depth=0"],
            }
        ],
        "control": {
            "dns": {"failure": None, "addrs": [site]},
            "tcp_connect": {
                endpoint: {"status": True, "failure": None},
                f"{site}:443": {"status": True, "failure": None},
            },
            "tls_handshake": {
                endpoint: {
                    "server_name": host,
                    "status": control_tls_ok,
                    "failure": None if control_tls_ok else "ssl_invalid_hostname",
                }
            },
            "http_request": {
                "body_length": 1256,
                "failure": None,
                "title": "Example Domain",
                "headers": {"Content-Type": "text/html"},
                "status_code": 200,
            },
        },
        "control_failure": None,
        "tcp_connect": [{"ip": answer, "port": 443, "status": {"success": True, "failure": None}}],
        "tls_handshakes": [
            {
                "address": endpoint,
                "server_name": host,
                "failure": "connection_reset",
                "no_tls_verify": False,
            }
        ],
        "requests": [
            {
                "failure": "connection_reset",
                "request": {"url": f"https://{host}/", "method": "GET", "headers": {}},
                "response": {},
            }
        ],
    }
    doc, _verdict = build_document(
        run, url=f"https://{host}/", start=when, runtime=1.0, category_code=None, test_keys=tk
    )
    return doc


def test_own_probe_documents(store, tmp_path) -> None:
    """censorwatch's own probe: a sinkhole for five unrelated domains is blocking; an address
    on which the control's TLS handshake with the site's name validated is a false positive.
    (The probe writes no ASN for its answers: ``asn`` stays null.)"""
    docs = []
    when = dt.datetime(2023, 2, 1, 1, 0)
    hosts = ["www.rfa.org", "vodkhmer.news", "www.hrw.org", "thediplomat.com", "www.voa.gov"]
    for i, host in enumerate(hosts):
        docs.append(own_document(host, OWN_SINK, when + dt.timedelta(days=i), False))
    docs.append(own_document("www.reddit.com", OWN_CDN, when + dt.timedelta(days=9), True))
    path = tmp_path / "own.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    Ingestor(store).ingest_records(iter_file(path))
    result = analyze(store, "KH", parse_period("2023-01..2023-06", KH), compare_previous=False)
    found = by_ip(result.blocking_answers)
    assert set(found) == {OWN_SINK, OWN_CDN}
    sink = found[OWN_SINK]
    assert set(sink) >= ANSWER_KEYS
    assert sink["verdict"] == "blocking" and sink["asn"] is None
    assert [{k: v for k, v in n.items() if k != "hosts"} for n in sink["networks"]] == [
        {"asn": SMART, "name": "Smart Axiata", "domains": 5}
    ]
    assert sink["domains"]["names"] == sorted(hosts)
    cdn = found[OWN_CDN]
    assert cdn["verdict"] == "false-positive" and cdn["tls_valid_for_site"] is True


def test_candidates_read_through_the_domain_index(sqlite_url) -> None:
    """On SQLite the vetting reads the DNS-anomalous domains' rows, not the period's."""
    with open_store(sqlite_url) as store, store.engine.connect() as conn:
        scope = Scope("KH", parse_period("2023-01..2023-06", KH))
        stmt = candidate_query(scope, ["a.example", "b.example"], "sqlite")
        sql = str(stmt.compile(store.engine, compile_kwargs={"literal_binds": True}))
        plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
    assert "USING INDEX ix_measurements_domain" in plan, plan


def test_decisions_beside_the_machines_verdict(isolated_env: Path, tmp_path: Path) -> None:
    """fingerprints accept/reject: the address becomes a local fingerprint (the machine then
    says so) and the latest decision is shown beside the machine's verdict."""
    path = tmp_path / "half-year.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in half_year()), encoding="utf-8")
    runner = CliRunner()

    def run(*args: str):
        out = runner.invoke(cli, list(args), catch_exceptions=False)
        assert out.exit_code == 0, out.output
        return out

    run("ingest", "file", str(path))
    by = ("--by", "analyst")
    half = ("--period", "2023-01..2023-06")
    accepted = run(
        "fingerprints",
        "accept",
        SINKHOLE,
        "--reason",
        "Cogetel sinkhole",
        "--asn",
        "AS23673",
        *by,
        *half,
    )
    assert f"the machine's vetting of {SINKHOLE} (2023-01-01..2023-06-30): blocking" in (
        accepted.output
    )
    run("fingerprints", "reject", UNCLEAR_IP, "--reason", "a hosting provider", *by, *half)
    # Each decision keeps what the machine said about the address when it was made.
    history = json.loads(run("fingerprints", "decisions", "--json").stdout)
    kept = {d["ip"]: d for d in history}
    assert kept[SINKHOLE]["evidence"]["verdict"] == "blocking"
    assert kept[SINKHOLE]["evidence"]["domains"]["count"] >= 5
    assert kept[UNCLEAR_IP]["evidence"]["verdict"] == "unclear"
    data = json.loads(
        run("analyze", "--country", "KH", "--period", "2023-01..2023-06", "--format", "json").stdout
    )
    found = by_ip(data["blocking_answers"])
    sink = found[SINKHOLE]
    assert sink["verdict"] == "blocking" and sink["fingerprint"].startswith("local.")
    assert sink["decision"]["decision"] == "accept"
    assert sink["decision"]["reason"] == "Cogetel sinkhole"
    assert sink["decision"]["decided_by"] == "analyst"
    rejected = found[UNCLEAR_IP]
    assert rejected["verdict"] == "false-positive" and rejected["fingerprint"].startswith("local.")
    assert rejected["decision"]["decision"] == "reject"
    assert found[OPENDNS]["decision"] is None
