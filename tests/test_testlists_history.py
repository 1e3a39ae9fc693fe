"""Importing lists into the store: entries and their history, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select

from censorwatch.measurement import Measurement, measurement_key
from censorwatch.store import write_measurements
from censorwatch.store.models import TestlistChange, TestlistEntry
from censorwatch.testlists.csvformat import HEADER
from censorwatch.testlists.edit import ListEditor
from censorwatch.testlists.history import blocked_evidence, import_testlist
from censorwatch.testlists.inputs import load_inputs

HEAD = ",".join(HEADER) + "\n"
T0 = dt.datetime(2026, 1, 1, 12, 0)


@pytest.fixture
def kh(tmp_path: Path) -> Path:
    path = tmp_path / "kh.csv"
    path.write_text(
        HEAD
        + "https://cchrcambodia.org/,HUMR,Human Rights Issues,2016-09-17,cchr,Human Rights NGO\n"
        + "https://vodkhmer.news/,NEWS,News Media,2020-01-01,cchr,Voice of Democracy\n",
        encoding="utf-8",
    )
    return path


def entries(store) -> dict[str, TestlistEntry]:
    with store.session() as s:
        return {e.url: e for e in s.scalars(select(TestlistEntry))}


def changes(store) -> list[TestlistChange]:
    with store.session() as s:
        return list(s.scalars(select(TestlistChange).order_by(TestlistChange.id)))


def test_first_import_then_idempotent(store, kh: Path) -> None:
    result = import_testlist(store, kh, now=T0)
    assert result.counts == {"added": 2, "changed": 0, "retired": 0, "removed": 0}
    got = entries(store)
    e = got["https://vodkhmer.news/"]
    assert (e.list_name, e.category_code, e.status, e.first_seen_at) == ("kh", "NEWS", "active", T0)
    assert e.date_added == dt.date(2020, 1, 1)
    (first, _) = changes(store)
    assert first.action == "added" and first.reason == "in kh.csv when first imported"
    assert first.list_hash == result.list_hash
    _, version = load_inputs([kh])
    assert result.list_hash == version  # the same version the probes record
    again = import_testlist(store, kh, now=T0 + dt.timedelta(days=1))
    assert again.total_changes == 0 and again.unchanged == 2
    assert len(changes(store)) == 2


def test_edits_become_history_with_reasons_and_times(store, kh: Path) -> None:
    import_testlist(store, kh, now=T0)
    ed = ListEditor(kh, author="wg member")
    ed.add("https://licadho-cambodia.org/", "HUMR", source="wg", reason="requested by LICADHO")
    ed.edit("https://cchrcambodia.org/", "more precise", notes="CCHR")
    ed.tag("https://vodkhmer.news/", ["blocked-2023"], "DNS blocking seen by OONI")
    ed.remove("https://vodkhmer.news/", "closed in 2023")  # tagged blocked: retired
    later = dt.datetime(2030, 1, 1)
    result = import_testlist(store, kh, now=later)
    assert result.counts == {"added": 1, "changed": 1, "retired": 1, "removed": 0}
    got = entries(store)
    assert got["https://vodkhmer.news/"].status == "retired"
    assert got["https://vodkhmer.news/"].tags == ["blocked-2023"]
    assert got["https://cchrcambodia.org/"].notes == "CCHR"
    assert got["https://cchrcambodia.org/"].first_seen_at == T0
    new = changes(store)[2:]
    by_url = {c.url: c for c in new}
    added = by_url["https://licadho-cambodia.org/"]
    assert (added.action, added.reason, added.author) == (
        "added",
        "requested by LICADHO",
        "wg member",
    )
    assert added.changed_at < later  # when the change was made, from the side file
    changed = by_url["https://cchrcambodia.org/"]
    assert changed.changes == {"notes": ["Human Rights NGO", "CCHR"]}
    assert changed.reason == "more precise"
    retired = by_url["https://vodkhmer.news/"]
    assert retired.action == "retired" and retired.reason == "closed in 2023"
    assert retired.changes["status"] == ["active", "retired"]
    # Retired URLs are not tested any more.
    inputs, _ = load_inputs([kh])
    assert "https://vodkhmer.news/" not in {i.url for i in inputs}


def test_removal_and_return(store, kh: Path) -> None:
    import_testlist(store, kh, now=T0)
    ListEditor(kh).remove("https://cchrcambodia.org/", "site moved")
    result = import_testlist(store, kh, now=T0 + dt.timedelta(days=1))
    assert result.counts["removed"] == 1
    e = entries(store)["https://cchrcambodia.org/"]
    assert e.removed_at == T0 + dt.timedelta(days=1)
    assert changes(store)[-1].reason == "site moved"
    ListEditor(kh).add("https://cchrcambodia.org/", "HUMR", source="cchr", reason="back online")
    result = import_testlist(store, kh, now=T0 + dt.timedelta(days=2))
    assert result.counts["added"] == 1
    e = entries(store)["https://cchrcambodia.org/"]
    assert e.removed_at is None and e.first_seen_at == T0
    assert changes(store)[-1].reason == "back online"


def test_hand_edits_without_side_file_are_recorded_too(store, kh: Path) -> None:
    import_testlist(store, kh, now=T0)
    kh.write_text(
        HEAD + "https://vodkhmer.news/,POLR,Political Criticism,2020-01-01,cchr,VOD\n", "utf-8"
    )
    result = import_testlist(store, kh, now=T0 + dt.timedelta(hours=1))
    assert result.counts == {"added": 0, "changed": 1, "retired": 0, "removed": 1}
    reasons = {c.reason for c in changes(store)[2:]}
    assert reasons == {"changed in kh.csv", "no longer in kh.csv"}


def test_real_lists_import(store, shared) -> None:
    result = import_testlist(store, shared("testlists", "kh.csv"), now=T0)
    assert result.counts["added"] == 172
    result = import_testlist(store, shared("testlists", "global.csv"), now=T0)
    assert result.counts["added"] == 1722
    assert import_testlist(store, shared("testlists", "global.csv")).total_changes == 0


def _measurement(url: str, **kw) -> Measurement:
    values = {
        "measurement_uid": "20230213000000.000000_KH_webconnectivity_" + url[-6:],
        "source": "ooni",
        "test_name": "web_connectivity",
        "input": url,
        "probe_cc": "KH",
        "probe_asn": 38623,
        "report_id": "20230213T000000Z_webconnectivity_KH_38623_n1_" + url[-6:],
        "measurement_start_time": dt.datetime(2023, 2, 13),
    }
    values.update(kw)
    key = measurement_key(values["report_id"], url, values["measurement_start_time"])
    return Measurement(measurement_key=key, **values)


def test_blocked_evidence(store) -> None:
    with store.engine.begin() as conn:
        write_measurements(
            conn,
            [
                _measurement("http://vodkhmer.news/", blocking="dns", anomaly=True),
                _measurement("https://cchrcambodia.org/", blocking="false", accessible=True),
            ],
        )
    evidence = blocked_evidence(store, "https://vodkhmer.news/")
    assert evidence == "ooni measured dns on AS38623 on 2023-02-13"
    assert blocked_evidence(store, "https://cchrcambodia.org/") is None
    assert blocked_evidence(store, "https://nowhere.example/") is None
