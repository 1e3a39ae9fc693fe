"""The linter: upstream Citizen Lab's rules, our warnings, --fix, and the real upstream lists."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from censorwatch.errors import InputError
from censorwatch.testlists.csvformat import HEADER, TestlistRow, read_testlist
from censorwatch.testlists.legend import default_legend, load_legend
from censorwatch.testlists.lint import RULES, GlobalIndex, Linter, fix_file, read_lenient
from censorwatch.testlists.normalise import (
    is_homepage,
    loose_key,
    normalise_url,
    site_key,
    url_problems,
)

SHIPPED = Path(__file__).resolve().parent.parent / "testlists" / "lists" / "kh.csv"
TODAY = dt.date(2026, 11, 26)
HEAD = ",".join(HEADER) + "\n"


def rules_of(url: str) -> set[str]:
    return {rule for rule, _ in url_problems(url)}


# -- URLs ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "https://vodkhmer.news/",
        "http://km.rfi.fr/",
        "https://www.rfa.org/khmer/",
        "https://example.org/a?b=c",
        "http://1.2.3.4/",
        "https://example.org:8443/x",
        "https://xn--fiqs8s.example/",
        "https://www.facebook.com/cambodiapride/",
    ],
)
def test_good_urls(url: str) -> None:
    assert url_problems(url) == []


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("https://example.org", "url-trailing-slash"),
        ("ftp://example.org/", "url-scheme"),
        ("example.org/", "url-syntax"),
        ("https://exa mple.org/", "url-whitespace"),
        (" https://example.org/", "url-whitespace"),
        ("https://example.org/ ", "url-whitespace"),
        ("https://example.org/a\tb", "url-bad-chars"),
        ("https://example.org/a\\b", "url-bad-chars"),
        ("https://localhost/", "url-syntax"),
        ("https://under_score.org/", "url-syntax"),
        ("https://user:pw@example.org/", "url-syntax"),
        ("https://example.org:99999/", "url-syntax"),
        ("https://300.1.1.1/", "url-syntax"),
        ("https://ខ្មែរ.com/", "url-syntax"),
        ("https://Example.org/", "url-not-normalised"),
        ("HTTPS://example.org/", "url-not-normalised"),
        ("https://example.org:443/", "url-not-normalised"),
        ("https://example.org/#/page", "url-fragment"),
    ],
)
def test_bad_urls(url: str, rule: str) -> None:
    assert rule in rules_of(url)


def test_normal_form() -> None:
    assert normalise_url("  HTTP://WWW.Example.ORG:80  ") == "http://www.example.org/"
    assert normalise_url("https://example.org:8443") == "https://example.org:8443/"
    assert normalise_url("https://example.org?q=1") == "https://example.org/?q=1"
    # The path keeps its case: servers may treat /News and /news differently.
    assert normalise_url("https://Example.org/News") == "https://example.org/News"
    assert normalise_url("not a url") == "not a url"
    assert loose_key("http://example.org/A") == loose_key("https://EXAMPLE.org/a")
    assert site_key("https://www.Example.org/x") == "example.org"
    assert is_homepage("https://example.org/") and not is_homepage("https://example.org/a")


# -- legend ----------------------------------------------------------------------------------
def test_shipped_legend_matches_upstream_codes_and_names(shared) -> None:
    ours = default_legend()
    upstream = load_legend(shared("testlists", "00-LEGEND-new_category_codes.csv"))
    assert len(ours) == 31
    assert {c: x.name for c, x in ours.items()} == {c: x.name for c, x in upstream.items()}
    # The descriptions are our own words, not a copy of upstream's (CC BY-NC-SA) text.
    assert all(ours[c].description != upstream[c].description for c in ours)


def test_legend_errors(tmp_path: Path) -> None:
    bad = tmp_path / "legend.csv"
    bad.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"legend.csv:1: header"):
        load_legend(bad)


# -- rows ------------------------------------------------------------------------------------
def row(**kw: str) -> TestlistRow:
    values = {
        "url": "https://example.org/",
        "category_code": "NEWS",
        "category_description": "News Media",
        "date_added": "2020-01-01",
        "source": "cchr",
        "notes": "",
    }
    values.update(kw)
    return TestlistRow(**values, line=2)


@pytest.mark.parametrize(
    ("changes", "rule"),
    [
        ({"category_code": "NOPE"}, "category-code"),
        ({"category_description": "News"}, "category-description"),
        ({"date_added": "2020-1-1"}, "date"),
        ({"date_added": "2020-02-30"}, "date"),
        ({"date_added": "01/02/2020"}, "date"),
        ({"date_added": "2027-01-01"}, "date-future"),
        ({"date_added": "2013-12-31"}, "date-too-old"),
        ({"notes": "a\tb"}, "notes"),
        ({"notes": "a\nb"}, "notes"),
        ({"notes": '{"notes": "x", "other": 1}'}, "notes"),
        ({"notes": "{not json"}, "notes"),
        ({"source": "a\\b"}, "source"),
        ({"source": ""}, "empty-source"),
        ({"notes": "   "}, "blank-notes"),
        ({"notes": "caf\ufffd"}, "notes-replacement-char"),
    ],
)
def test_row_rules(changes: dict[str, str], rule: str) -> None:
    issues = Linter(today=TODAY).check_row(row(**changes), "kh.csv")
    assert rule in {i.rule for i in issues}


def test_json_notes_upstream_style_are_fine() -> None:
    assert Linter(today=TODAY).check_row(row(notes='{"notes": "ok"}'), "kh.csv") == []


def test_issue_format_and_severity() -> None:
    issues = Linter(today=TODAY).check_row(row(source="", category_code="X"), "kh.csv")
    lines = [i.format() for i in issues]
    assert "kh.csv:2: category-code: unknown category code 'X'" in lines
    assert "kh.csv:2: empty-source: warning: source is empty" in lines
    assert all(r.severity in {"error", "warning"} for r in RULES.values())


# -- whole files -----------------------------------------------------------------------------
def write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_bytes((HEAD + body).encode("utf-8"))
    return path


def test_duplicates_and_near_duplicates(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "kh.csv",
        "https://a.org/,NEWS,News Media,2020-01-01,x,\n"
        "https://a.org/,NEWS,News Media,2020-01-01,x,\n"
        "https://A.org/,NEWS,News Media,2020-01-01,x,\n"
        "http://b.org/,NEWS,News Media,2020-01-01,x,\n"
        "https://b.org/,NEWS,News Media,2020-01-01,x,\n"
        "https://c.org/X,NEWS,News Media,2020-01-01,x,\n"
        "https://c.org/x,NEWS,News Media,2020-01-01,x,\n"
        "https://d.org/page,NEWS,News Media,2020-01-01,x,\n"
        "https://d.org/page/,NEWS,News Media,2020-01-01,x,\n"
        "https://d.org/?q=1,NEWS,News Media,2020-01-01,x,\n"
        "https://d.org/?q=1/,NEWS,News Media,2020-01-01,x,\n",
    )
    result = Linter(today=TODAY).lint_file(path)
    found = {(i.line, i.rule) for i in result.issues}
    assert (3, "duplicate") in found
    assert (4, "duplicate") in found  # the same URL in its normal form
    assert (6, "http-https-duplicate") in found
    assert (8, "case-duplicate") in found
    assert (10, "slash-duplicate") in found
    assert not {(11, r) for r in RULES} & found and not {(12, r) for r in RULES} & found
    assert not result.ok() and not result.ok(strict=True)


def test_structural_problems_are_issues_not_crashes(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "kh.csv",
        "https://a.org/,NEWS,News Media,2020-01-01,x,\n\nhttps://b.org/,NEWS\n",
    )
    result = Linter(today=TODAY).lint_file(path)
    assert [(i.line, i.rule) for i in result.issues] == [(3, "column-count"), (4, "column-count")]
    assert not result.complete
    header = tmp_path / "x.csv"
    header.write_bytes(b"url,category\r\nhttps://a.org/,NEWS\r\n")
    rules = {i.rule for i in Linter(today=TODAY).lint_file(header).issues}
    assert {"header", "file-format", "column-count"} <= rules
    broken = tmp_path / "y.csv"
    broken.write_bytes((HEAD + '"https://a.org/,NEWS,News Media,2020-01-01,x,\n').encode())
    assert "csv" in {i.rule for i in read_lenient(broken).issues}
    latin = tmp_path / "z.csv"
    latin.write_bytes(
        (HEAD + "https://a.org/,NEWS,News Media,2020-01-01,x,caf").encode() + b"\xe9\n"
    )
    issues = Linter(today=TODAY).lint_file(latin).issues
    assert (issues[0].line, issues[0].rule) == (2, "encoding")
    bom = tmp_path / "w.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + HEAD.encode())
    assert "encoding" in {i.rule for i in read_lenient(bom).issues}
    missing_newline = write(tmp_path, "v.csv", "https://a.org/,NEWS,News Media,2020-01-01,x,")
    assert "file-format" in {i.rule for i in read_lenient(missing_newline).issues}


def test_global_rules(tmp_path: Path) -> None:
    glob = write(
        tmp_path,
        "global.csv",
        "https://twitter.com/,GRP,Social Networking,2014-04-15,citizenlab,\n"
        "https://www.hrw.org/,HUMR,Human Rights Issues,2014-04-15,citizenlab,\n",
    )
    kh = write(
        tmp_path,
        "kh.csv",
        "http://hrw.org/,HUMR,Human Rights Issues,2020-01-01,x,\n"
        "https://twitter.com/,GRP,Social Networking,2020-01-01,x,\n"
        "https://www.hrw.org/asia/cambodia,HUMR,Human Rights Issues,2020-01-01,x,\n",
    )
    linter = Linter(global_index=GlobalIndex.load(glob), today=TODAY)
    found = {(i.line, i.rule) for i in linter.lint_file(kh).issues}
    assert found == {(3, "duplicate-global"), (2, "belongs-in-global")}
    # The global list itself is not checked against itself.
    assert not Linter(global_index=GlobalIndex.load(glob), today=TODAY).lint_file(glob).issues


# -- the real upstream lists -------------------------------------------------------------------
#: Every error the linter finds in the upstream snapshot (../shared/fixtures/testlists), with
#: why it is a genuine upstream problem. Anything else is a bug in the linter.
UPSTREAM_ERRORS = {
    # mm.csv writes the host with capitals (www.mmpeaceMonitor.org): hosts are case-insensitive,
    # so the normal form is lower case and this row would escape duplicate detection upstream.
    ("mm.csv", 645, "url-not-normalised"),
}
UPSTREAM_LISTS = ["global.csv", "kh.csv", "th.csv", "vn.csv", "mm.csv", "my.csv"]


def lint_upstream(shared, name: str):
    glob = GlobalIndex.load(shared("testlists", "global.csv"))
    return Linter(global_index=glob, today=TODAY).lint_file(shared("testlists", name))


@pytest.mark.parametrize("name", UPSTREAM_LISTS)
def test_upstream_lists_have_only_known_errors(shared, name: str) -> None:
    result = lint_upstream(shared, name)
    assert result.complete
    errors = {(name, i.line, i.rule) for i in result.errors()}
    assert errors == {e for e in UPSTREAM_ERRORS if e[0] == name}


def test_known_upstream_edge_cases_are_warnings(shared) -> None:
    """The quirks SOURCES.md lists are reported as warnings, never as errors or crashes."""
    kh = lint_upstream(shared, "kh.csv")
    warnings = {(i.line, i.rule) for i in kh.issues if i.severity == "warning"}
    assert (37, "blank-notes") in warnings  # http://www.dtn7.com/ with notes "  "
    assert (39, "http-https-duplicate") in warnings  # facebook.com/cambodiapride twice
    assert sum(1 for i in kh.issues if i.rule == "empty-source") == 21
    assert kh.ok() and not kh.ok(strict=True)
    vn = lint_upstream(shared, "vn.csv")
    assert [i.line for i in vn.issues if i.rule == "notes-replacement-char"] == [369, 384]
    my = lint_upstream(shared, "my.csv")
    assert [i.line for i in my.issues if i.rule == "slash-duplicate"] == [270, 338, 360, 361]
    th = lint_upstream(shared, "th.csv")  # doubled quotes inside quoted notes parse fine
    assert not {i.rule for i in th.issues} & {"csv", "column-count", "notes"}
    # Single-page-application URLs (#/...) pass upstream's regex: only a warning here.
    assert "url-fragment" in {i.rule for i in lint_upstream(shared, "global.csv").issues}


def test_fix_on_upstream_copy(shared, tmp_path: Path) -> None:
    src = shared("testlists", "mm.csv")
    path = tmp_path / "mm.csv"
    path.write_bytes(src.read_bytes())
    result = fix_file(path)
    assert result.written
    assert any("url-not-normalised" in c and "mmpeacemonitor" in c for c in result.changes)
    assert any(": fixed: order:" in c for c in result.changes)
    after = Linter(today=TODAY).lint_file(path)
    assert after.ok() and "order" not in {i.rule for i in after.issues}
    # Nothing but the host's case and the order changed: same set of rows otherwise.
    before = {r.as_record()[0].lower() for r in read_testlist(src).rows}
    assert {r.url.lower() for r in read_testlist(path).rows} == before
    # Fixing again changes nothing.
    assert not fix_file(path).written


def test_fix_rewrites_safe_things_only(tmp_path: Path) -> None:
    path = tmp_path / "kh.csv"
    path.write_bytes(
        (
            HEAD + "HTTPS://B.org,NEWS,News,2020-01-01,x,\r\n"
            "https://a.org/,NEWS,News Media,2020-01-01,x,\r\n"
            "https://a.org/,NEWS,News Media,2020-01-01,x,\r\n"
            "https://a.org/,HUMR,Human Rights Issues,2020-01-01,y,\r\n"
            "ftp://c.org/,NEWS,News Media,2020-01-01,x,\r\n"
        ).encode()
    )
    result = fix_file(path, sort=False)
    text = path.read_text(encoding="utf-8")
    assert "\r" not in text and text.endswith("\n")
    assert "https://b.org/,NEWS,News Media," in text
    assert text.count("https://a.org/,NEWS") == 1  # the identical copy is gone
    assert "https://a.org/,HUMR" in text  # a conflicting duplicate is left for a person
    assert "ftp://c.org/" in text  # an unfixable URL is left alone
    assert any("category-description" in c for c in result.changes)
    rules = {i.rule for i in Linter(today=TODAY).lint_file(path).issues}
    assert rules == {"duplicate", "url-scheme", "order"}


def test_fix_refuses_unreadable_files_and_leaves_them_intact(tmp_path: Path) -> None:
    path = write(tmp_path, "kh.csv", "https://a.org,NEWS\n")
    before = path.read_bytes()
    with pytest.raises(InputError, match=r"cannot fix .*column-count"):
        fix_file(path)
    assert path.read_bytes() == before


def test_shipped_list_passes_strict_lint(shared) -> None:
    glob = GlobalIndex.load(shared("testlists", "global.csv"))
    result = Linter(global_index=glob).lint_file(SHIPPED)
    assert result.issues == []
    rows = read_testlist(SHIPPED).rows
    assert len(rows) >= 100
    assert all(r.notes.strip() and r.source for r in rows)
    codes = {r.category_code for r in rows}
    assert {"NEWS", "HUMR", "POLR", "LGBT", "ENV", "GOVT"} <= codes


def test_shipped_list_is_ours_not_upstreams(shared) -> None:
    upstream = shared("testlists", "kh.csv")
    assert SHIPPED.read_bytes() != upstream.read_bytes()
    ours = {r.url for r in read_testlist(SHIPPED).rows}
    theirs = {r.url for r in read_testlist(upstream).rows}
    assert len(ours & theirs) < len(ours) // 2  # well-known sites overlap, naturally
    theirs_rows = {r.as_record()[0]: r.as_record() for r in read_testlist(upstream).rows}
    assert not [r for r in read_testlist(SHIPPED).rows if theirs_rows.get(r.url) == r.as_record()]


def test_side_file_is_linted_too(tmp_path: Path) -> None:
    path = write(tmp_path, "kh.csv", "https://a.org/,NEWS,News Media,2020-01-01,x,\n")
    side = tmp_path / "kh.meta.json"
    side.write_text('{"entries": {"https://gone.org/": {"status": "retired"}}}', "utf-8")
    issues = Linter(today=TODAY).lint_file(path).issues
    assert [i.format() for i in issues] == [
        f"{side}:1: side-file-orphan: warning: https://gone.org/ is not in kh.csv"
    ]
    side.write_text('{"entries": {"https://a.org/": {"status": "gone"}}}', "utf-8")
    (issue,) = Linter(today=TODAY).lint_file(path).issues
    assert (issue.rule, issue.path) == ("side-file", str(side))
    assert "status 'gone'" in issue.message


def test_default_today_tolerates_time_zones() -> None:
    from censorwatch.testlists.lint import latest_today

    utc = dt.datetime.now(dt.UTC).date()
    assert latest_today() >= utc and latest_today() >= dt.date.today()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("https://a.org/,NEWS,News Media,2020-01-01,x,\r\n", "line endings must be LF"),
        ("https://a.org/,NEWS,News Media,2020-01-01,x,", "no newline at end of file"),
        ('"https://a.org/",NEWS,News Media,2020-01-01,x,\n', "quotes only where needed"),
    ],
)
def test_file_format_and_its_fix(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "kh.csv"
    path.write_bytes((HEAD + body).encode())
    (issue,) = Linter(today=TODAY).lint_file(path).issues
    assert (issue.rule, issue.line) == ("file-format", 2)
    assert message in issue.message
    result = fix_file(path)
    assert result.changes == [f"{path}:1: fixed: file-format: rewritten as upstream writes lists"]
    assert Linter(today=TODAY).lint_file(path).issues == []


def test_a_quoted_carriage_return_is_a_notes_error_not_a_format_loop(tmp_path: Path) -> None:
    path = tmp_path / "kh.csv"
    path.write_bytes((HEAD + 'https://a.org/,NEWS,News Media,2020-01-01,x,"a\rb"\n').encode())
    rules = [i.rule for i in Linter(today=TODAY).lint_file(path).issues]
    assert rules == ["notes"]
