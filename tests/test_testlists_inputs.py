"""Which lists a probe run uses, the URLs it gets, the list version, and OONI Run export."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from pathlib import Path

import pytest

from censorwatch.config import load_config
from censorwatch.errors import ConfigError, InputError
from censorwatch.testlists import (
    TestInput,
    content_hash,
    load_inputs,
    read_testlist,
    resolve_testlist_paths,
)
from censorwatch.testlists.csvformat import HEADER
from censorwatch.testlists.inputs import SHIPPED_LISTS_DIR, describe_testlist_paths
from censorwatch.testlists.ooni_run import ooni_run_descriptor
from censorwatch.testlists.sidefile import load_meta, save_meta

HEAD = ",".join(HEADER) + "\n"


def config(tmp_path: Path, **env: str):
    environ = {"CENSORWATCH_DATA_DIR": str(tmp_path / "data"), **env}
    return load_config(environ=environ, cwd=tmp_path)


def test_default_is_shipped_country_list_and_warns_without_global(tmp_path, caplog) -> None:
    cfg = config(tmp_path)
    with caplog.at_level(logging.WARNING, logger="censorwatch.testlists"):
        paths = resolve_testlist_paths(cfg)
    assert paths == [SHIPPED_LISTS_DIR / "kh.csv"]
    assert "global test list is not available" in caplog.text


def test_default_with_synced_global_and_working_copy(tmp_path: Path, shared) -> None:
    cfg = config(tmp_path)
    upstream = tmp_path / "data" / "testlists" / "upstream"
    upstream.mkdir(parents=True)
    shutil.copyfile(shared("testlists", "global.csv"), upstream / "global.csv")
    assert resolve_testlist_paths(cfg) == [SHIPPED_LISTS_DIR / "kh.csv", upstream / "global.csv"]
    work = tmp_path / "data" / "testlists" / "kh.csv"
    shutil.copyfile(SHIPPED_LISTS_DIR / "kh.csv", work)
    described = describe_testlist_paths(cfg)
    assert described[0] == (work, "country list (KH), the working group's copy")
    assert described[1][1] == "global list, synced from Citizen Lab"


def test_configured_paths_win_and_must_exist(tmp_path: Path) -> None:
    mine = tmp_path / "mine.csv"
    mine.write_text(HEAD, encoding="utf-8")
    cfg = config(tmp_path, CENSORWATCH_TESTLISTS_PATHS=str(mine))
    assert resolve_testlist_paths(cfg) == [mine]
    cfg = config(tmp_path, CENSORWATCH_TESTLISTS_PATHS=str(tmp_path / "missing.csv"))
    with pytest.raises(ConfigError, match=r"missing\.csv: no such test list"):
        resolve_testlist_paths(cfg)


def test_country_without_any_list(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no test list for country LA"):
        resolve_testlist_paths(config(tmp_path, CENSORWATCH_COUNTRY="la"))


def write(path: Path, body: str) -> Path:
    path.write_text(HEAD + body, encoding="utf-8")
    return path


def test_load_inputs_dedupes_filters_and_skips_retired(tmp_path: Path) -> None:
    kh = write(
        tmp_path / "kh.csv",
        "https://vodkhmer.news/,NEWS,News Media,2020-01-01,x,\n"
        "https://Twitter.com/,POLR,Political Criticism,2020-01-01,x,\n"
        "https://porn.example/,PORN,Pornography,2020-01-01,x,\n"
        "https://old.example/,NEWS,News Media,2020-01-01,x,\n",
    )
    glob = write(
        tmp_path / "global.csv",
        "https://twitter.com/,GRP,Social Networking,2014-01-01,x,\n"
        "https://www.hrw.org/,HUMR,Human Rights Issues,2014-01-01,x,\n",
    )
    inputs, version = load_inputs([kh, glob])
    assert [(i.url, i.list_name) for i in inputs] == [
        ("https://vodkhmer.news/", "kh"),
        ("https://Twitter.com/", "kh"),  # the country list's entry (and category) wins
        ("https://porn.example/", "kh"),
        ("https://old.example/", "kh"),
        ("https://www.hrw.org/", "global"),
    ]
    assert version == content_hash([read_testlist(kh), read_testlist(glob)])
    assert isinstance(inputs[0], TestInput) and inputs[1].category_code == "POLR"
    meta = load_meta(kh)
    meta.set_status("https://old.example/", "retired")
    meta.add_tags("https://vodkhmer.news/", ["blocked-2023"])
    save_meta(meta)
    inputs2, version2 = load_inputs([kh, glob], exclude_categories=["porn"])
    assert "https://old.example/" not in {i.url for i in inputs2}
    assert "https://porn.example/" not in {i.url for i in inputs2}
    assert inputs2[0].tags == ("blocked-2023",)
    assert version2 != version  # retiring a URL changes what is tested: a new version
    only, _ = load_inputs([kh, glob], categories=["HUMR"])
    assert [i.url for i in only] == ["https://www.hrw.org/"]


def test_load_inputs_bad_file_names_the_line(tmp_path: Path) -> None:
    bad = write(tmp_path / "kh.csv", "https://a.org/,NEWS\n")
    with pytest.raises(InputError, match=r"kh.csv:2: row"):
        load_inputs([bad])


def _inputs() -> list[TestInput]:
    return [
        TestInput("https://vodkhmer.news/", "NEWS", "News Media", "2020-01-01", "x", "", "kh"),
        TestInput("https://www.hrw.org/", "HUMR", "Human Rights Issues", "", "", "", "global"),
    ]


def test_ooni_run_descriptor_follows_the_spec() -> None:
    now = dt.datetime(2026, 11, 26, tzinfo=dt.UTC)
    d = ooni_run_descriptor(
        _inputs(),
        name="KH test list",
        short_description="Test the websites of the Cambodian test list",
        description="Checks whether these websites are blocked.",
        author="wg@example.org",
        list_hash="abc123",
        color="#0588cb",
        now=now,
    )
    assert set(d) == {
        "name",
        "short_description",
        "description",
        "author",
        "expiration_date",
        "nettests",
        "color",
    }
    (nettest,) = d["nettests"]
    assert nettest["test_name"] == "web_connectivity"
    assert nettest["inputs"] == ["https://vodkhmer.news/", "https://www.hrw.org/"]
    assert nettest["inputs_extra"] == [{"category_code": "NEWS"}, {"category_code": "HUMR"}]
    assert len(nettest["inputs_extra"]) == len(nettest["inputs"])
    assert nettest["is_background_run_enabled"] and nettest["is_manual_run_enabled"]
    assert d["expiration_date"] == "2027-05-25T00:00:00Z"
    assert "abc123" in d["description"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "x" * 51}, "name: OONI Run needs 2 to 50"),
        ({"short_description": ""}, "short_description"),
        ({"author": "x" * 101}, "author"),
        ({"color": "blue"}, "color 'blue'"),
    ],
)
def test_ooni_run_limits(kwargs: dict, message: str) -> None:
    args = {
        "name": "KH",
        "short_description": "short",
        "description": "long",
        "author": "wg",
        "list_hash": "h",
        **kwargs,
    }
    with pytest.raises(InputError, match=message):
        ooni_run_descriptor(_inputs(), **args)
    with pytest.raises(InputError, match="the test list is empty"):
        ooni_run_descriptor([], **args)  # checked first: nothing to export


def test_shipped_files_are_package_data() -> None:
    """``pip install .`` (not only -e) must carry the shipped list and the legend."""
    import tomllib

    root = Path(__file__).resolve().parent.parent
    data = tomllib.loads((root / "pyproject.toml").read_text("utf-8"))
    patterns = data["tool"]["setuptools"]["package-data"]
    folder = root / "testlists"
    matched = {
        p.relative_to(folder).as_posix()
        for key in ("*", "censorwatch.testlists")
        for pattern in patterns.get(key, [])
        for p in folder.glob(pattern)
    }
    assert {"legend.csv", "lists/kh.csv", "lists/README.md"} <= matched
