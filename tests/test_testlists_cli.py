"""``censorwatch testlist ...`` end to end with click's CliRunner in an isolated environment."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from censorwatch.cli import cli
from censorwatch.testlists.csvformat import HEADER, read_testlist
from censorwatch.testlists.inputs import SHIPPED_LISTS_DIR
from censorwatch.testlists.sidefile import load_meta

HEAD = ",".join(HEADER) + "\n"


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def env(isolated_env: Path) -> dict[str, str]:
    return {"CENSORWATCH_TESTLISTS_SOURCE": "wg", "CENSORWATCH_TESTLISTS_AUTHOR": "dara"}


def work_copy(isolated_env: Path) -> Path:
    return isolated_env / "data" / "testlists" / "kh.csv"


def test_registered_in_the_main_command(isolated_env: Path) -> None:
    assert "testlist" in run("--help").output
    out = run("testlist", "--help").output
    for name in (
        "lint",
        "add",
        "remove",
        "edit",
        "search",
        "show",
        "diff",
        "sync",
        "export",
        "import",
        "status",
        "tag",
        "untag",
    ):
        assert name in out


def test_lint_exit_codes_and_format(isolated_env: Path) -> None:
    good = isolated_env / "kh.csv"
    good.write_text(HEAD + "https://a.org/,NEWS,News Media,2020-01-01,wg,note\n", "utf-8")
    result = run("testlist", "lint", str(good))
    assert result.exit_code == 0 and result.stdout == ""
    bad = isolated_env / "th.csv"
    bad.write_text(HEAD + "https://a.org,NEWS,News,2020-01-01,,note\n", "utf-8")
    result = run("testlist", "lint", str(bad))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{bad}:2: url-trailing-slash: a bare domain needs a trailing slash",
        f"{bad}:2: category-description: NEWS is 'News Media', not 'News'",
        f"{bad}:2: empty-source: warning: source is empty",
    ]
    assert "2 error(s), 1 warning(s)" in result.stderr


def test_lint_strict_and_fix(isolated_env: Path) -> None:
    path = isolated_env / "kh.csv"
    path.write_text(
        HEAD
        + "https://b.org/,NEWS,News Media,2020-01-01,,\n"
        + "https://A.org,NEWS,News,2020-01-01,wg,\n",
        "utf-8",
    )
    assert run("testlist", "lint", str(path)).exit_code == 1
    result = run("testlist", "lint", "--fix", str(path))
    fixed = f"{path}:3: fixed: url-trailing-slash: 'https://A.org' -> https://a.org/"
    assert fixed in result.stdout
    assert f"{path}:1: fixed: order: sorted 2 rows by URL" in result.stdout
    assert result.exit_code == 0  # only the empty-source warning is left
    assert [r.url for r in read_testlist(path).rows] == ["https://a.org/", "https://b.org/"]
    assert run("testlist", "lint", "--strict", str(path)).exit_code == 1


def test_lint_upstream_fixtures_only_genuine_errors(isolated_env: Path, shared) -> None:
    folder = shared("testlists", "kh.csv").parent
    result = run("testlist", "lint", *[str(p) for p in sorted(folder.glob("*.csv"))])
    errors = [line for line in result.stdout.splitlines() if ": warning: " not in line]
    # The one genuine upstream error (see test_testlists_lint.UPSTREAM_ERRORS).
    assert errors == [
        f"{folder / 'mm.csv'}:645: url-not-normalised: write it as https://www.mmpeacemonitor.org/"
    ]
    assert "a legend, not a list: skipped" in result.stderr
    assert result.exit_code == 1
    for name in ("kh.csv", "th.csv", "vn.csv", "my.csv", "global.csv"):
        assert run("testlist", "lint", str(folder / name)).exit_code == 0


def test_lint_without_paths_lints_the_lists_in_use(isolated_env: Path) -> None:
    result = run("testlist", "lint", "--strict")
    assert result.exit_code == 0, result.output
    assert "rules" not in result.stdout
    rules = run("testlist", "lint", "--rules").stdout
    assert "duplicate-global (error): " in rules and "[upstream: Duplicate URL between" in rules


def test_add_copies_the_shipped_list_then_edits_it(env: dict) -> None:
    result = run(
        "testlist",
        "add",
        "https://Example-NGO.org.kh",
        "--category",
        "humr",
        "--notes",
        "Example NGO",
        "--tag",
        "election-2023",
        env=env,
    )
    assert result.exit_code == 0, result.output
    work = work_copy(Path.cwd())
    assert "copied the country list (shipped with censorwatch)" in result.stderr
    assert "added https://example-ngo.org.kh/ as HUMR" in result.stdout
    rows = read_testlist(work).rows
    assert len(rows) == len(read_testlist(SHIPPED_LISTS_DIR / "kh.csv").rows) + 1
    new = next(r for r in rows if r.url == "https://example-ngo.org.kh/")
    assert (new.source, new.category_description) == ("wg", "Human Rights Issues")
    change = load_meta(work).changes[-1]
    assert (change.author, change.action) == ("dara", "added")
    # The shipped file is never touched.
    assert "example-ngo" not in (SHIPPED_LISTS_DIR / "kh.csv").read_text("utf-8")
    # A duplicate is refused with one line saying why.
    again = run("testlist", "add", "https://example-ngo.org.kh/", "--category", "HUMR", env=env)
    assert again.exit_code == 1
    assert again.stderr.startswith("censorwatch: error: https://example-ngo.org.kh/ is already")
    assert len(again.stderr.strip().splitlines()) == 1


def test_add_needs_a_source(isolated_env: Path) -> None:
    result = run("testlist", "add", "https://x.org/", "--category", "NEWS")
    assert result.exit_code == 1 and "--source" in result.stderr


def test_edit_status_tag_search_show_remove(env: dict) -> None:
    url = "https://vodkhmer.news/"
    assert (
        run(
            "testlist", "edit", url, "--notes", "VOD Khmer", "--reason", "shorter", env=env
        ).exit_code
        == 0
    )
    assert (
        run("testlist", "tag", url, "blocked-2023", "--reason", "OONI: DNS", env=env).exit_code == 0
    )
    assert run("testlist", "untag", url, "blocked-2023", "--reason", "oops", env=env).exit_code == 0
    result = run(
        "testlist", "status", url, "historically-blocked", "--reason", "OONI 2023", env=env
    )
    assert result.exit_code == 0 and "active -> historically-blocked" in result.stdout
    found = run("testlist", "search", "vod khmer", env=env)
    assert f"{url}  NEWS [historically-blocked]  VOD Khmer" in found.stdout
    assert run("testlist", "search", "nothing-like-this", env=env).stdout == ""
    lines = run("testlist", "search", "ministry", "--category", "GOVT", "--json", env=env).stdout
    assert all(json.loads(line)["category_code"] == "GOVT" for line in lines.splitlines())
    shown = run("testlist", "show", url, env=env).stdout
    assert "status                historically-blocked" in shown
    assert "changed by dara: shorter" in shown and "status by dara: OONI 2023" in shown
    # Ever blocked, so remove retires it instead of deleting it.
    result = run("testlist", "remove", url, "--reason", "closed", env=env)
    assert result.exit_code == 0 and "retired" in result.stdout
    assert url in {r.url for r in read_testlist(work_copy(Path.cwd())).rows}
    # A URL never found blocked (empty store) is deleted.
    other = "https://kiripost.com/"
    result = run("testlist", "remove", other, "--reason", "duplicate of another entry", env=env)
    assert result.exit_code == 0 and f"removed {other}" in result.stdout
    assert other not in {r.url for r in read_testlist(work_copy(Path.cwd())).rows}
    # Probe runs no longer see either.
    data = json.loads(run("testlist", "show", "--json", env=env).stdout)
    assert data["lists"][0]["statuses"]["retired"] == 1
    assert data["urls_tested"] == data["lists"][0]["rows"] - 1


def test_reason_is_required(env: dict) -> None:
    result = run("testlist", "remove", "https://vodkhmer.news/", env=env)
    assert result.exit_code == 2 and "--reason" in result.output


def test_diff(isolated_env: Path) -> None:
    old = isolated_env / "old.csv"
    new = isolated_env / "new.csv"
    old.write_text(HEAD + "https://a.org/,NEWS,News Media,2020-01-01,x,\n", "utf-8")
    new.write_text(HEAD + "https://b.org/,NEWS,News Media,2020-01-01,x,\n", "utf-8")
    result = run("testlist", "diff", str(old), str(new))
    assert result.stdout.splitlines() == [
        "+ https://b.org/  NEWS",
        "- https://a.org/  NEWS",
        "old.csv -> new.csv: 1 added, 1 removed, 0 changed",
    ]
    data = json.loads(run("testlist", "diff", "--json", str(old), str(new)).stdout)
    assert data == {"added": ["https://b.org/"], "removed": ["https://a.org/"], "changed": {}}


def test_export_ooni_run(isolated_env: Path) -> None:
    out = isolated_env / "kh-ooni-run.json"
    result = run("testlist", "export", "--ooni-run", "-o", str(out), "--author", "wg@example.org")
    assert result.exit_code == 0, result.output
    d = json.loads(out.read_text("utf-8"))
    shipped = read_testlist(SHIPPED_LISTS_DIR / "kh.csv").rows
    assert d["nettests"][0]["inputs"] == [r.url for r in shipped]
    assert d["author"] == "wg@example.org" and len(d["name"]) <= 50
    assert run("testlist", "export").exit_code == 2


def test_export_upstream_needs_a_synced_copy(isolated_env: Path, shared) -> None:
    result = run("testlist", "export", "--upstream")
    assert result.exit_code == 1 and "testlist sync" in result.stderr
    result = run(
        "testlist", "export", "--upstream", "--against", str(shared("testlists", "kh.csv"))
    )
    assert result.exit_code == 0
    assert result.stdout.startswith(",".join(HEADER) + "\n")


def test_import_and_status(isolated_env: Path, shared) -> None:
    result = run("testlist", "import")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("kh: added 117, changed 0, retired 0, removed 0")
    result = run("testlist", "import", str(shared("testlists", "global.csv")))
    assert "global: added 1722" in result.stdout
    data = json.loads(run("status", "--json").stdout)
    assert data["testlist_entries"] == 117 + 1722
    assert run("testlist", "import").stdout.startswith("kh: added 0, changed 0")
    assert any(j["job"] == "testlist-import" for j in data["jobs"])


def test_import_postgres(pg_url: str, isolated_env: Path) -> None:
    result = run("--db", pg_url, "testlist", "import")
    assert result.exit_code == 0, result.output
    assert "kh: added 117" in result.stdout


def test_bad_list_is_one_line_naming_file_and_line(isolated_env: Path) -> None:
    bad = isolated_env / "kh.csv"
    bad.write_text(HEAD + "https://a.org/,NEWS\n", "utf-8")
    for args in (
        ["show", "--list", str(bad)],
        ["add", "https://b.org/", "--category", "NEWS", "--source", "x", "--list", str(bad)],
    ):
        result = run("testlist", *args)
        assert result.exit_code == 1
        assert result.stderr == f"censorwatch: error: {bad}:2: row: expected 6 columns, found 2\n"
    assert bad.read_text("utf-8") == HEAD + "https://a.org/,NEWS\n"


def test_edit_explicit_list(isolated_env: Path) -> None:
    path = isolated_env / "la.csv"
    shutil.copyfile(SHIPPED_LISTS_DIR / "kh.csv", path)
    result = run(
        "testlist",
        "add",
        "https://rfa.org/lao/",
        "--category",
        "NEWS",
        "--source",
        "wg",
        "--list",
        str(path),
    )
    assert result.exit_code == 0, result.output
    assert not work_copy(isolated_env).exists()


def test_lint_fix_skips_unreadable_files_and_goes_on(isolated_env: Path) -> None:
    broken = isolated_env / "kh.csv"
    broken.write_text(HEAD + "https://a.org/,NEWS\n", "utf-8")
    fine = isolated_env / "th.csv"
    fine.write_text(HEAD + "https://A.org/,NEWS,News Media,2020-01-01,wg,\n", "utf-8")
    result = run("testlist", "lint", "--fix", str(broken), str(fine))
    assert result.exit_code == 1
    assert "cannot fix" in result.stderr
    assert f"{broken}:2: column-count: expected 6 columns, found 2" in result.stdout
    assert f"{fine}:2: fixed: url-not-normalised" in result.stdout
    assert broken.read_text("utf-8") == HEAD + "https://a.org/,NEWS\n"


def test_lint_uses_the_legend_next_to_the_list(isolated_env: Path) -> None:
    folder = isolated_env / "lists"
    folder.mkdir()
    path = folder / "kh.csv"
    path.write_text(HEAD + "https://a.org/,NEWC,New Code,2020-01-01,wg,\n", "utf-8")
    assert run("testlist", "lint", str(path)).exit_code == 1
    (folder / "00-LEGEND-new_category_codes.csv").write_text(
        "Category Description,New Code,Replaces old code(s),Description\n"
        "New Code,NEWC,,A code upstream added after this censorwatch release\n",
        "utf-8",
    )
    assert run("testlist", "lint", str(path)).exit_code == 0
    ours = Path(__file__).resolve().parent.parent / "testlists" / "legend.csv"
    assert run("testlist", "lint", "--legend", str(ours), str(path)).exit_code == 1
