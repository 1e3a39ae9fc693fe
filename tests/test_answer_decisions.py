"""A working group accepts or rejects suspicious DNS answer addresses (#12).

`fingerprints accept/reject IP --reason` keep who/when/why in `answer_decisions`; accepted
addresses confirm measurements as `local.*` fingerprints (set `local`), rejected ones are known
false positives; `fingerprints export --local` writes OONI's CSV schema.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from censorwatch.answer_decisions import (
    DecisionInputError,
    decision_history,
    latest_decisions,
    local_fingerprints,
    local_source,
    record_decision,
    store_label,
)
from censorwatch.cli import cli
from censorwatch.config import load_config
from censorwatch.fingerprints import (
    default_fingerprints,
    fingerprints_from_config,
    load_fingerprint_file,
)
from censorwatch.store import open_store
from censorwatch.store.models import AnswerDecision, MeasurementRow

#: OONI's blocking-fingerprints CSV header (ooni/blocking-fingerprints, fingerprints_dns.csv).
OONI_HEADER = (
    "name,scope,other_names,location_found,pattern_type,pattern,confidence_no_fp,"
    "expected_countries,source,exp_url,notes"
)
#: The scopes OONI's scripts/validate_csv.py allows.
OONI_SCOPES = ("isp", "nat", "prod", "inst", "fp", "vbw", "injb", "prov")
IR_DOC = "web_connectivity_ir_fp.json"
#: The Iranian measurement's DNS answer (a known OONI fingerprint) ...
IR_ANSWER = "10.10.34.36"
#: ... rewritten to an address no fingerprint knows (a documentation address).
SINKHOLE = "198.51.100.23"
LOCAL_NAME = "local.ir_dns_sinkhole_198_51_100_23"


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _count(store) -> int:
    with store.engine.connect() as conn:
        return conn.execute(
            sa.select(sa.func.count()).select_from(AnswerDecision.__table__)
        ).scalar_one()


# --- the record ------------------------------------------------------------------------------


def test_accept_reject_history_and_the_latest_decision_wins(store):
    t0 = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)
    first = record_decision(
        store,
        " 36.37.1.2 ",
        "accept",
        "answered for blocked sites on Cellcard",
        "Dara",
        country="kh",
        asn="AS38623",
        evidence={"measurements": 42},
        now=t0,
    )
    assert (first.ip, first.country, first.asn, first.decided_by) == (
        "36.37.1.2",
        "KH",
        38623,
        "Dara",
    )
    assert first.decided_at == dt.datetime(2026, 11, 1, 9, 0)  # naive UTC, as the store keeps
    [fp] = local_fingerprints(store)
    assert fp.name == "local.kh_dns_sinkhole_36_37_1_2"
    assert (fp.scope, fp.location_found, fp.pattern_type, fp.pattern) == (
        "isp",
        "dns",
        "full",
        "36.37.1.2",
    )
    assert fp.expected_countries == ("KH",) and fp.expected_asns == (38623,)
    assert fp.source == "accepted by Dara on 2026-11-01"
    assert fp.notes == "answered for blocked sites on Cellcard (seen on AS38623)"
    # isp scope with the network: confirms there, evidence elsewhere.
    assert fp.confirms("KH", 38623) and not fp.confirms("KH", 17976)

    record_decision(store, "2001:DB8::1", "accept", "v6 sinkhole", "Sok", country="KH", now=t0)
    second = record_decision(
        store, "36.37.1.2", "reject", "the CDN of a news site", "Sok", country="KH", now=t0
    )
    assert [d.decision for d in decision_history(store)] == ["accept", "accept", "reject"]
    assert [d.id for d in decision_history(store, "36.37.1.2")] == [first.id, second.id]
    latest = latest_decisions(store)
    assert latest["36.37.1.2"].decision == "reject" and latest["2001:db8::1"].decision == "accept"
    by_ip = {fp.pattern: fp for fp in local_fingerprints(store)}
    rejected = by_ip["36.37.1.2"]
    assert rejected.name == "local.kh_dns_fp_36_37_1_2" and rejected.scope == "fp"
    assert rejected.is_false_positive and not rejected.confirms("KH", 38623)
    v6 = by_ip["2001:db8::1"]
    assert v6.name == "local.kh_dns_sinkhole_2001_db8__1" and v6.scope == "nat"
    assert v6.confirms("KH") and not v6.expected_asns
    assert local_fingerprints(store, country="IR") == []
    source = local_source(store)
    assert source is not None and source.name == "local" and source.rows == 2
    assert source.date == "2026-11-01T09:00:00Z" and len(source.hash) == 64
    assert "password" not in source.source and "@" not in source.source


@pytest.mark.parametrize(
    ("ip", "decision", "reason", "by", "message"),
    [
        ("203.0.113.x", "accept", "why", "Dara", "not an IP address"),
        ("203.0.113.0/24", "accept", "why", "Dara", "not an IP address"),
        ("203.0.113.7", "accept", "   ", "Dara", "--reason"),
        ("203.0.113.7", "maybe", "why", "Dara", "accept or reject"),
        ("203.0.113.7", "accept", "why", "", "--by"),
        ("203.0.113.7", "accept", "why", "192.168.1.20", "not an address"),
    ],
)
def test_bad_decisions_write_nothing(sqlite_url, ip, decision, reason, by, message):
    store = open_store(sqlite_url)
    try:
        with pytest.raises(DecisionInputError, match=message) as caught:
            record_decision(store, ip, decision, reason, by)
        assert caught.value.exit_code == 2
        assert _count(store) == 0
    finally:
        store.close()


def test_store_label_names_no_user_password_or_home(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'home' / 'volunteer' / 'cw.sqlite3'}")
    try:
        assert store_label(store) == "sqlite cw.sqlite3"
    finally:
        store.close()


# --- the command line ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["accept", "not-an-ip", "--reason", "why", "--by", "Dara"], "not an IP address"),
        (["accept", "203.0.113.7", "--reason", "", "--by", "Dara"], "--reason"),
        (["reject", "203.0.113.7", "--reason", " ", "--by", "Dara"], "--reason"),
        (["accept", "203.0.113.7", "--reason", "why"], "--by NAME"),
        (["accept", "203.0.113.7", "--reason", "why", "--by", "D", "--asn", "x1"], "--asn"),
        (["accept", "203.0.113.7", "--reason", "why", "--by", "D", "--country", "KHM"], "--c"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2_and_nothing_written(isolated_env, args, message):
    result = CliRunner().invoke(cli, ["fingerprints", *args])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("censorwatch: error:") and message in lines[0]
    db = isolated_env / "data" / "censorwatch.sqlite3"
    if db.exists():
        store = open_store(f"sqlite:///{db}")
        try:
            assert _count(store) == 0
        finally:
            store.close()


def test_cli_by_defaults_to_the_configured_name_never_the_machine(isolated_env, monkeypatch):
    monkeypatch.setenv("CENSORWATCH_TESTLISTS_AUTHOR", "Chenda (iMAP)")
    result = run("fingerprints", "accept", "203.0.113.7", "--reason", "Metfone sinkhole")
    assert result.exit_code == 0, result.output
    # Two lines: what the machine's vetting said (here: nothing stored), then the decision.
    assert result.output.count("\n") == 2
    assert "kept without the machine's evidence" in result.output.splitlines()[0]
    assert "203.0.113.7 now confirms DNS blocking in KH as local.kh_dns_sinkhole_203_0_113_7" in (
        result.output
    )
    assert "censorwatch rejudge" in result.output
    result = run("fingerprints", "reject", "203.0.113.7", "--reason", "a CDN", "--by", "Dara")
    assert result.exit_code == 0, result.output
    assert "203.0.113.7 no longer confirms measurements" in result.output
    assert "censorwatch rejudge" in result.output
    history = json.loads(run("fingerprints", "decisions", "--json").output)
    assert [(d["decision"], d["decided_by"], d["current"]) for d in history] == [
        ("accept", "Chenda (iMAP)", False),
        ("reject", "Dara", True),
    ]
    assert history[1]["fingerprint"] == "local.kh_dns_fp_203_0_113_7"
    text = run("fingerprints", "decisions").output
    assert "Metfone sinkhole" in text and "* #2" in text


def test_export_local_is_oonis_csv_schema_and_round_trips(isolated_env, tmp_path):
    assert run("fingerprints", "export", "--local").stdout.strip() == OONI_HEADER
    for args in (
        ["accept", "36.37.1.2", "--reason", "Cellcard, sites of the list", "--asn", "38623"],
        ["accept", "2001:db8::1", "--reason", 'quoted "text", with commas'],
        ["reject", "198.51.100.9", "--reason", "the site's own CDN"],
    ):
        assert run("fingerprints", *args, "--by", "Dara").exit_code == 0
    printed = run("fingerprints", "export", "--local").stdout
    out = tmp_path / "local.csv"
    result = run("fingerprints", "export", "--local", "--output", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert text == printed
    assert not list(tmp_path.glob(".local.csv.*"))  # the temporary file was renamed
    assert text.splitlines()[0] == OONI_HEADER
    rows = list(csv.reader(io.StringIO(text)))
    header = rows[0]
    for row in rows[1:]:  # the checks of OONI's scripts/validate_csv.py
        assert len(row) == len(header)
        r = dict(zip(header, row, strict=True))
        assert r["scope"] in OONI_SCOPES and r["pattern"] and r["location_found"] == "dns"
        assert r["pattern_type"] == "full"
        assert r["expected_countries"] == r["expected_countries"].strip() == "KH"
    _, loaded = load_fingerprint_file(out)
    by_name = {fp.name: fp for fp in loaded}
    assert set(by_name) == {
        "local.kh_dns_sinkhole_36_37_1_2",
        "local.kh_dns_sinkhole_2001_db8__1",
        "local.kh_dns_fp_198_51_100_9",
    }
    store = open_store(f"sqlite:///{isolated_env / 'data' / 'censorwatch.sqlite3'}")
    try:
        decided = local_fingerprints(store)
    finally:
        store.close()
    # Every column of OONI's schema comes back; censorwatch's expected_asns (no such column
    # upstream) is said in the notes instead.
    assert [fp.to_row() for fp in loaded] == [
        {k: v for k, v in fp.to_row().items() if k != "expected_asns"} for fp in decided
    ]
    assert by_name["local.kh_dns_sinkhole_36_37_1_2"].scope == "isp"
    assert "AS38623" in by_name["local.kh_dns_sinkhole_36_37_1_2"].notes
    assert by_name["local.kh_dns_sinkhole_2001_db8__1"].notes == 'quoted "text", with commas'
    assert by_name["local.kh_dns_fp_198_51_100_9"].scope == "fp"
    assert by_name["local.kh_dns_fp_198_51_100_9"].source.startswith("rejected by Dara on ")
    # For publishing: the organisation instead of the member's name.
    published = run("fingerprints", "export", "--local", "--source", "DRWG Cambodia").stdout
    assert "Dara" not in published
    assert {r["source"] for r in csv.DictReader(io.StringIO(published))} == {"DRWG Cambodia"}


def test_rejecting_an_address_another_set_confirms_is_refused(isolated_env):
    # OONI's Iranian national sinkhole: a local "fp" row could not undo OONI's confirming one.
    result = CliRunner().invoke(
        cli, ["fingerprints", "reject", "10.10.34.36", "--reason", "no", "--by", "Dara"]
    )
    assert result.exit_code == 2
    assert "ooni.ir_10dot10_ipv4_1" in result.output and "cannot override" in result.output
    assert json.loads(run("fingerprints", "decisions", "--json").output) == []
    # Accepting it is harmless: it confirms already.
    assert run("fingerprints", "accept", "10.10.34.36", "--reason", "x", "--by", "D").exit_code == 0


def test_export_without_local_says_what_to_give(isolated_env):
    result = CliRunner().invoke(cli, ["fingerprints", "export"])
    assert result.exit_code == 2
    assert "give --local" in result.output and len(result.output.strip().splitlines()) == 1


# --- the loaded sets -------------------------------------------------------------------------


def test_without_decisions_the_sets_and_hash_are_exactly_as_before(isolated_env, sqlite_url):
    cfg = load_config(None, cwd=isolated_env)
    store = open_store(sqlite_url)
    try:
        assert fingerprints_from_config(cfg, store) is fingerprints_from_config(cfg)
        assert fingerprints_from_config(cfg, store).hash == default_fingerprints().hash
        listed = json.loads(run("fingerprints", "list", "--json").output)
        assert [s["name"] for s in listed["sets"]] == ["censorwatch", "ooni"]
        assert listed["hash"] == default_fingerprints().hash
        # A decision takes effect at the next call (no stale cache), and the hash moves.
        record_decision(store, "203.0.113.7", "accept", "sinkhole", "Dara", country="KH")
        with_one = fingerprints_from_config(cfg, store)
        assert [s["name"] for s in with_one.sources] == ["censorwatch", "ooni", "local"]
        assert with_one.hash != default_fingerprints().hash
        assert with_one.match_dns("203.0.113.7")[0].fingerprint.name == (
            "local.kh_dns_sinkhole_203_0_113_7"
        )
        assert fingerprints_from_config(cfg, store) is with_one  # cached while unchanged
        record_decision(store, "203.0.113.8", "accept", "sinkhole", "Dara", country="KH")
        with_two = fingerprints_from_config(cfg, store)
        assert with_two.sources[-1]["rows"] == 2 and with_two.hash != with_one.hash
        # Other configured sets are kept: the local set comes after them.
        off = load_config(None, cwd=isolated_env, overrides={})
        off.verdict.ooni_fingerprints = False
        assert [s["name"] for s in fingerprints_from_config(off, store).sources] == [
            "censorwatch",
            "local",
        ]
    finally:
        store.close()


def test_list_shows_the_local_set_with_provenance(isolated_env):
    run("fingerprints", "accept", "203.0.113.7", "--reason", "Cellcard sinkhole", "--by", "Dara")
    listed = json.loads(run("fingerprints", "list", "--country", "KH", "--json").output)
    local = listed["sets"][-1]
    assert local["name"] == "local" and local["rows"] == 1
    assert local["source"] == "answer_decisions in sqlite censorwatch.sqlite3"
    [row] = [f for f in listed["fingerprints"] if f["name"].startswith("local.")]
    assert row["pattern"] == "203.0.113.7" and row["scope"] == "nat"
    assert row["source"].startswith("accepted by Dara on ") and row["notes"] == "Cellcard sinkhole"
    text = run("fingerprints", "list", "--country", "KH").output
    assert "local.kh_dns_sinkhole_203_0_113_7" in text
    assert "203.0.113.7: accepted by Dara on " in text and "Cellcard sinkhole" in text


# --- end to end: a real OONI measurement -----------------------------------------------------


def _verdict(db_url: str) -> tuple:
    store = open_store(db_url)
    try:
        t = MeasurementRow.__table__.c
        with store.engine.connect() as conn:
            row = conn.execute(
                sa.select(
                    t.verdict_blocking,
                    t.verdict_confirmed,
                    t.verdict_fingerprint,
                    t.verdict_fingerprints_hash,
                )
            ).one()
        return tuple(row)
    finally:
        store.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def e2e_db(request, isolated_env):
    if request.param == "sqlite":
        return f"sqlite:///{isolated_env / 'data' / 'censorwatch.sqlite3'}"
    return request.getfixturevalue("pg_url")


def test_accept_then_rejudge_confirms_a_new_sinkhole(isolated_env, shared, e2e_db):
    raw = Path(shared("ooni", "measurements", IR_DOC)).read_text(encoding="utf-8")
    assert IR_ANSWER in raw
    doc = json.loads(raw.replace(IR_ANSWER, SINKHOLE))
    docs = isolated_env / "docs.jsonl"
    docs.write_text(json.dumps(doc) + "\n", encoding="utf-8")
    db = ("--db", e2e_db)
    result = run(*db, "ingest", "file", str(docs))
    assert result.exit_code == 0, result.output
    blocking, confirmed, names, fp_hash = _verdict(e2e_db)
    assert (blocking, confirmed) == ("dns", False) and not names
    assert fp_hash == default_fingerprints().hash  # no decisions: judged exactly as before

    result = run(
        *db,
        "fingerprints",
        "accept",
        SINKHOLE,
        "--reason",
        "answered for every blocked site on this network",
        "--by",
        "Dara",
        "--country",
        "IR",
    )
    assert result.exit_code == 0, result.output
    counts = json.loads(run(*db, "rejudge", "--json").output)
    assert counts["examined"] == 1 and counts["changed"] == 1
    assert counts["fingerprints_hash"] != default_fingerprints().hash
    blocking, confirmed, names, fp_hash = _verdict(e2e_db)
    assert (blocking, confirmed, names) == ("dns", True, LOCAL_NAME)
    assert fp_hash == counts["fingerprints_hash"]
    assert json.loads(run(*db, "rejudge", "--json").output)["examined"] == 0

    result = run(
        *db,
        "--quiet",
        "analyze",
        "--country",
        "IR",
        "--period",
        "2020-01-01..2030-12-31",
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.output
    method = json.loads(result.output)["method"]
    assert [f["name"] for f in method["fingerprints"]] == ["censorwatch", "ooni", "local"]
    assert method["fingerprints"][-1]["rows"] == 1
    assert method["fingerprints_hash"] == fp_hash
    assert method["rows_judged_with_other_fingerprints"] == 0

    # Rejected later (it was a CDN after all): it stops confirming, and the measurement whose
    # only sign of DNS blocking was this answer is no longer counted as blocking.
    result = run(
        *db,
        "fingerprints",
        "reject",
        SINKHOLE,
        "--reason",
        "a CDN",
        "--by",
        "Sok",
        "--country",
        "IR",
    )
    assert "no longer confirms" in result.output
    assert json.loads(run(*db, "rejudge", "--json").output)["changed"] == 1
    blocking, confirmed, names, _ = _verdict(e2e_db)
    assert (blocking, confirmed) == (None, False)
    assert names == "local.ir_dns_fp_198_51_100_23"


def test_accepting_a_known_false_positive_is_refused_and_mapped_addresses_are_ipv4(
    isolated_env,
) -> None:
    """146.112.197.0/24 (Cisco OpenDNS) is a known false positive in the project's set: an
    accepted row would confirm nothing, so accept says so and writes nothing."""
    from click.testing import CliRunner

    from censorwatch.answer_decisions import normalise_ip
    from censorwatch.cli import cli

    runner = CliRunner()
    out = runner.invoke(
        cli, ["fingerprints", "accept", "146.112.197.9", "--reason", "x", "--by", "Dara"]
    )
    assert out.exit_code == 2, out.output
    assert "known false positive" in out.output and "cw.fp_dns_cisco_opendns" in out.output
    listed = runner.invoke(cli, ["fingerprints", "decisions", "--json"])
    assert listed.exit_code == 0 and json.loads(listed.output) == []
    accepted = runner.invoke(
        cli, ["fingerprints", "accept", "203.0.113.61", "--reason", "seen by hand", "--by", "Dara"]
    )
    assert accepted.exit_code == 0, accepted.output
    assert "kept without the machine's evidence" in accepted.output
    assert normalise_ip("::ffff:203.0.113.9") == "203.0.113.9"
    assert normalise_ip(" 2001:DB8::1 ") == "2001:db8::1"
