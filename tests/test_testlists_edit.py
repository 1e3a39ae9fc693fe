"""Editing lists: validated before writing, duplicates refused, reasons recorded, atomic."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from censorwatch.errors import InputError
from censorwatch.testlists import csvformat
from censorwatch.testlists.csvformat import HEADER, read_testlist
from censorwatch.testlists.diff import diff_lists
from censorwatch.testlists.edit import ListEditor
from censorwatch.testlists.lint import GlobalIndex, Linter, fix_file
from censorwatch.testlists.sidefile import load_meta, meta_path, save_meta

TODAY = dt.date(2026, 11, 26)
HEAD = ",".join(HEADER) + "\n"


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


@pytest.fixture
def glob(tmp_path: Path) -> GlobalIndex:
    path = tmp_path / "global.csv"
    path.write_text(
        HEAD
        + "https://twitter.com/,GRP,Social Networking,2014-04-15,citizenlab,\n"
        + "https://www.hrw.org/,HUMR,Human Rights Issues,2014-04-15,citizenlab,\n",
        encoding="utf-8",
    )
    return GlobalIndex.load(path)


def editor(path: Path, glob: GlobalIndex | None = None, **kw) -> ListEditor:
    return ListEditor(path, global_index=glob, author="wg", today=TODAY, **kw)


def test_add_fills_date_source_description_and_keeps_order(kh: Path, glob) -> None:
    out = editor(kh, glob).add(
        "https://LICADHO-cambodia.org", "humr", notes="LICADHO", source="wg", tags=["ngo"]
    )
    assert out.url == "https://licadho-cambodia.org/"
    assert "(normal form of 'https://LICADHO-cambodia.org')" in out.message
    rows = read_testlist(kh).rows
    # Sorted lists stay sorted (upstream order: by URL without the scheme).
    assert [r.url for r in rows] == [
        "https://cchrcambodia.org/",
        "https://licadho-cambodia.org/",
        "https://vodkhmer.news/",
    ]
    new = rows[1]
    assert (new.category_code, new.category_description) == ("HUMR", "Human Rights Issues")
    assert (new.date_added, new.source, new.notes) == ("2026-11-26", "wg", "LICADHO")
    meta = load_meta(kh)
    assert meta.tags(new.url) == ["ngo"]
    (change,) = meta.changes
    assert (change.action, change.author, change.url) == ("added", "wg", new.url)
    assert change.fields["category_code"] == "HUMR"
    assert Linter(today=TODAY, global_index=glob).lint_file(kh).ok(strict=True)


def test_add_appends_to_an_unsorted_list(kh: Path) -> None:
    text = kh.read_text(encoding="utf-8").splitlines(keepends=True)
    kh.write_text(text[0] + text[2] + text[1], encoding="utf-8")
    editor(kh).add("https://adhoccambodia.org/", "HUMR", source="wg")
    assert read_testlist(kh).rows[-1].url == "https://adhoccambodia.org/"


@pytest.mark.parametrize(
    ("url", "kwargs", "message"),
    [
        ("https://cchrcambodia.org/", {}, r"already in kh.csv \(line 2, added 2016-09-17 by cchr"),
        ("HTTPS://CCHRCAMBODIA.ORG", {}, "already in kh.csv"),
        ("http://cchrcambodia.org/", {}, "another scheme, letter case or trailing slash"),
        ("https://vodkhmer.news/?", {}, "already in kh.csv"),
        ("https://twitter.com/", {}, r"already in the global list \(global.csv:2\)"),
        ("http://hrw.org/", {}, "global list already tests this site as https://www.hrw.org/"),
        ("ftp://x.org/", {}, "url-scheme"),
        ("https://x.org/", {"category": "NOPE"}, "not a Citizen Lab category code"),
        ("https://x.org/", {"source": ""}, "say where the URL comes from"),
        ("https://x.org/", {"date": "2026-13-01"}, "date"),
        ("https://x.org/", {"date": "2030-01-01"}, "date-future"),
        ("https://x.org/", {"notes": "a\\b"}, "notes"),
        ("https://x.org/", {"tags": ["Bad Tag"]}, "tag 'Bad Tag'"),
    ],
)
def test_add_refuses_and_explains(kh: Path, glob, url: str, kwargs: dict, message: str) -> None:
    before = kh.read_bytes()
    args = {"category": "NEWS", "source": "wg", **kwargs}
    category = args.pop("category")
    with pytest.raises(InputError, match=message):
        editor(kh, glob).add(url, category, **args)
    assert kh.read_bytes() == before
    assert not meta_path(kh).exists()


def test_allow_variant(kh: Path, glob) -> None:
    editor(kh, glob).add("http://cchrcambodia.org/", "HUMR", source="wg", allow_variant=True)
    assert len(read_testlist(kh).rows) == 3
    with pytest.raises(InputError, match="already in the global list"):
        editor(kh, glob).add("https://twitter.com/", "GRP", source="wg", allow_variant=True)


def test_remove_deletes_a_never_blocked_url_with_its_reason(kh: Path) -> None:
    out = editor(kh).remove("https://cchrcambodia.org", "site moved")
    assert out.action == "removed"
    assert [r.url for r in read_testlist(kh).rows] == ["https://vodkhmer.news/"]
    change = load_meta(kh).changes[-1]
    assert (change.action, change.reason) == ("removed", "site moved")
    assert change.fields["notes"] == "Human Rights NGO"


def test_remove_retires_a_url_that_was_found_blocked(kh: Path) -> None:
    lookup = {"https://vodkhmer.news/": "ooni measured dns on AS38623 on 2023-02-13"}.get
    out = editor(kh, blocked_lookup=lookup).remove("https://vodkhmer.news/", "outlet closed")
    assert out.action == "retired" and "instead of deleting" in out.message
    assert len(read_testlist(kh).rows) == 2  # still in the CSV, with its history
    meta = load_meta(kh)
    assert meta.status("https://vodkhmer.news/") == "retired"
    assert meta.changes[-1].fields["evidence"].startswith("ooni measured dns")
    with pytest.raises(InputError, match="already retired"):
        editor(kh, blocked_lookup=lookup).remove("https://vodkhmer.news/", "again")


def test_remove_retires_historically_blocked_or_tagged_urls(kh: Path) -> None:
    ed = editor(kh)
    ed.set_status("https://vodkhmer.news/", "historically-blocked", "blocked in 2023 (OONI)")
    assert editor(kh).remove("https://vodkhmer.news/", "closed").action == "retired"
    ed = editor(kh)
    ed.tag("https://cchrcambodia.org/", ["officially-blocked-2018"], "MPTC order")
    assert editor(kh).remove("https://cchrcambodia.org/", "x").action == "retired"
    assert [c.action for c in load_meta(kh).changes] == ["status", "retired", "tagged", "retired"]


def test_remove_with_retire_flag_and_unknown_url(kh: Path) -> None:
    assert editor(kh).remove("https://cchrcambodia.org/", "keep", retire=True).action == "retired"
    with pytest.raises(InputError, match=r"not in the list; did you mean https://vodkhmer\.news/"):
        editor(kh).remove("http://vodkhmer.news/", "x")
    with pytest.raises(InputError, match="needs a reason"):
        editor(kh).remove("https://vodkhmer.news/", " ")


def test_edit_changes_fields_and_records_them(kh: Path) -> None:
    out = editor(kh).edit("https://vodkhmer.news/", "recategorised", category="polr", notes="VOD")
    assert "category_code: 'NEWS' -> 'POLR'" in out.message
    row = read_testlist(kh).rows[1]
    assert (row.category_code, row.category_description, row.notes) == (
        "POLR",
        "Political Criticism",
        "VOD",
    )
    change = load_meta(kh).changes[-1]
    assert change.fields["notes"] == ["Voice of Democracy", "VOD"]
    with pytest.raises(InputError, match="nothing to change"):
        editor(kh).edit("https://vodkhmer.news/", "x", notes="VOD")
    editor(kh).edit("https://vodkhmer.news/", "x", notes="  VOD English  ")
    assert read_testlist(kh).rows[1].notes == "VOD English"  # never whitespace-only notes


def test_status_and_tags(kh: Path) -> None:
    ed = editor(kh)
    ed.set_status("https://vodkhmer.news/", "retired", "closed in 2023")
    with pytest.raises(InputError, match="already retired"):
        ed.set_status("https://vodkhmer.news/", "retired", "again")
    ed.tag("https://vodkhmer.news/", ["election-2023", "blocked-2023"], "DNS blocking")
    ed.tag("https://vodkhmer.news/", ["election-2023"], "wrong tag", remove=True)
    meta = load_meta(kh)
    assert meta.entry("https://vodkhmer.news/").tags == ["blocked-2023"]
    assert [c.action for c in meta.changes] == ["retired", "tagged", "untagged"]
    data = json.loads(meta_path(kh).read_text(encoding="utf-8"))
    assert data["entries"]["https://vodkhmer.news/"]["status"] == "retired"
    assert data["format"] == 1 and data["list"] == "kh"
    with pytest.raises(InputError, match="status 'gone'"):
        ed.set_status("https://vodkhmer.news/", "gone", "x")


def test_failed_csv_write_leaves_both_files_untouched(kh: Path, monkeypatch) -> None:
    editor(kh).tag("https://vodkhmer.news/", ["x"], "first")
    before_csv, before_meta = kh.read_bytes(), meta_path(kh).read_bytes()
    real = csvformat.os.replace

    def boom(src, dst):
        if str(dst).endswith(".csv"):
            raise OSError("disk full")
        return real(src, dst)

    monkeypatch.setattr(csvformat.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        editor(kh).add("https://adhoccambodia.org/", "HUMR", source="wg")
    monkeypatch.undo()
    assert kh.read_bytes() == before_csv
    assert meta_path(kh).read_bytes() == before_meta
    assert not [p for p in kh.parent.iterdir() if p.name.endswith(".tmp")]


def test_unreadable_list_is_not_edited(tmp_path: Path) -> None:
    path = tmp_path / "kh.csv"
    path.write_text(HEAD + "https://a.org/,NEWS\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"kh.csv:2: row: expected 6 columns"):
        editor(path)


def test_bad_side_file_names_the_file(kh: Path) -> None:
    meta_path(kh).write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match=r"kh.meta.json:1: json"):
        editor(kh)
    meta_path(kh).write_text('{"entries": {"https://a.org/": {"status": "gone"}}}', "utf-8")
    with pytest.raises(InputError, match="status 'gone'"):
        editor(kh)


def test_new_list_is_created_by_add(tmp_path: Path) -> None:
    path = tmp_path / "new" / "la.csv"
    editor(path).add("https://rfa.org/lao/", "NEWS", source="wg")
    assert read_testlist(path).rows[0].url == "https://rfa.org/lao/"


def test_diff_matches_rows_by_normal_form(kh: Path, tmp_path: Path) -> None:
    old = read_testlist(kh).rows
    editor(kh).add("https://adhoccambodia.org/", "HUMR", source="wg")
    editor(kh).edit("https://vodkhmer.news/", "x", notes="VOD")
    editor(kh).remove("https://cchrcambodia.org/", "x")
    d = diff_lists(old, read_testlist(kh).rows)
    assert [r.url for r in d.added] == ["https://adhoccambodia.org/"]
    assert [r.url for r in d.removed] == ["https://cchrcambodia.org/"]
    assert d.changed[0].fields == {"notes": ("Voice of Democracy", "VOD")}
    assert d.summary() == "1 added, 1 removed, 1 changed"
    assert d.lines()[0].startswith("+ https://adhoccambodia.org/")


def test_side_file_follows_urls_that_lint_fix_normalised(tmp_path: Path) -> None:
    path = tmp_path / "kh.csv"
    path.write_text(HEAD + "https://VOD.example,NEWS,News Media,2020-01-01,x,\n", "utf-8")
    meta = load_meta(path)
    meta.set_status("https://VOD.example", "historically-blocked")
    meta.record("status", "https://VOD.example", "blocked in 2023")
    save_meta(meta)
    fix_file(path)
    assert read_testlist(path).rows[0].url == "https://vod.example/"
    assert load_meta(path).status("https://vod.example/") == "historically-blocked"
    assert len(load_meta(path).changes_for("https://vod.example/")) == 1
    out = editor(path).remove("https://vod.example/", "closed")
    assert out.action == "retired"
    meta = load_meta(path)
    assert list(meta.entries) == ["https://vod.example/"]  # re-keyed to the URL as written now


def test_adding_a_retired_url_says_how_to_bring_it_back(kh: Path) -> None:
    editor(kh).set_status("https://vodkhmer.news/", "retired", "closed")
    with pytest.raises(InputError, match="it is retired: `censorwatch testlist status"):
        editor(kh).add("https://vodkhmer.news/", "NEWS", source="wg")
