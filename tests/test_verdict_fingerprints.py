"""Fingerprint files: the project's own, OONI's snapshot, CSV, errors that say where."""

from __future__ import annotations

import json
import re

import pytest

from censorwatch.config import load_config
from censorwatch.errors import InputError
from censorwatch.fingerprints import (
    default_fingerprints,
    fingerprints_from_config,
    load_fingerprint_file,
    load_fingerprints,
    own_fingerprint_path,
)

OONI_KEYS = {
    "name",
    "scope",
    "other_names",
    "location_found",
    "pattern_type",
    "pattern",
    "confidence_no_fp",
    "expected_countries",
}


def test_own_file_is_versioned_and_in_oonis_schema():
    data = json.loads(own_fingerprint_path().read_text(encoding="utf-8"))
    assert data["version"]
    names = [row["name"] for row in data["fingerprints"]]
    assert len(names) == len(set(names))
    for row in data["fingerprints"]:
        assert set(row) >= OONI_KEYS, row["name"]
        assert row["name"].startswith("cw.")
    patterns = {row["pattern"] for row in data["fingerprints"]}
    assert {"36.37.242.94", "203.190.164.182", "10.10.10.1", "146.112.197."} <= patterns
    assert "<title>ERROR: Forbidden</title>" in patterns


def test_default_db_is_cached_and_holds_our_rows_and_oonis():
    db = default_fingerprints()
    assert db is default_fingerprints()
    assert [s["name"] for s in db.sources] == ["censorwatch", "ooni"]
    assert [s["rows"] for s in db.sources] == [5, 150 + 1699]
    assert len(db) == 5 + 150 + 1699
    assert [m.fingerprint.name for m in db.match_dns("36.37.242.94")] == [
        "cw.kh_dns_viettel_metfone_sinkhole"
    ]
    assert [m.fingerprint.name for m in db.match_dns("146.112.197.200")] == [
        "cw.fp_dns_cisco_opendns_146_112_197"
    ]
    assert db.match_dns("146.112.198.1") == []


def test_oonis_snapshot_loads_beside_ours(shared):
    db = load_fingerprints(
        [
            shared("ooni", "fingerprints", "fingerprints_dns.json"),
            shared("ooni", "fingerprints", "fingerprints_http.json"),
        ]
    )
    assert len(db) == 5 + 150 + 1699
    assert db.versions[0].startswith("censorwatch@")
    assert [s["name"] for s in db.sources] == [
        "censorwatch",
        "file:fingerprints_dns.json",
        "file:fingerprints_http.json",
    ]
    assert [m.fingerprint.name for m in db.match_dns("10.10.34.36")] == ["ooni.ir_10dot10_ipv4_1"]
    hits = db.match_headers({"Location": "http://lamanlabuh.aduankonten.id/"})
    assert "ooni.id_lamanlabuh_kominfo" in [m.fingerprint.name for m in hits]


def test_csv_files_as_in_oonis_repository(tmp_path):
    path = tmp_path / "fingerprints_http.csv"
    path.write_text(
        "name,scope,other_names,location_found,pattern_type,pattern,confidence_no_fp,"
        "expected_countries,source,exp_url,notes\n"
        'wg.kh_test,isp,,body,regexp,"Blocked by [A-Z]+ ISP",5,KH,,,\n'
        "wg.kh_header,nat,,header.server,full,Censor/1.0,5,KH,,,\n",
        encoding="utf-8",
    )
    version, rows = load_fingerprint_file(path)
    assert version is None and [r.name for r in rows] == ["wg.kh_test", "wg.kh_header"]
    db = load_fingerprints([path], include_own=False)
    assert [m.fingerprint.name for m in db.match_body("<p>Blocked by MPTC ISP</p>")] == [
        "wg.kh_test"
    ]
    assert [m.fingerprint.name for m in db.match_headers({"server": ["Censor/1.0"]})] == [
        "wg.kh_header"
    ]
    assert rows[0].confirms("KH") and rows[0].confirms("TH")  # isp scope confirms anywhere


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"scope": "isp"}, "name: missing"),
        (
            {"name": "x", "scope": "isp", "location_found": "cookie", "pattern_type": "full"},
            "location_found",
        ),
        (
            {
                "name": "x",
                "scope": "isp",
                "location_found": "body",
                "pattern_type": "glob",
                "pattern": "a",
            },
            "pattern_type",
        ),
        (
            {
                "name": "x",
                "scope": "isp",
                "location_found": "body",
                "pattern_type": "regexp",
                "pattern": "(",
            },
            "not a valid regular expression",
        ),
        (
            {
                "name": "x",
                "scope": "isp",
                "location_found": "dns",
                "pattern_type": "full",
                "pattern": "not an address!",
            },
            "pattern",
        ),
        (
            {
                "name": "x",
                "scope": "isp",
                "location_found": "dns",
                "pattern_type": "full",
                "pattern": "1.2.3.4",
                "confidence_no_fp": "high",
            },
            "confidence_no_fp",
        ),
    ],
)
def test_bad_rows_name_file_row_and_field(tmp_path, row, message):
    path = tmp_path / "wg.json"
    path.write_text(json.dumps({"version": "1", "fingerprints": [row]}), encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_fingerprint_file(path)
    assert str(path) in str(err.value) and "row 1" in str(err.value)
    assert message in str(err.value)


def test_bad_json_and_missing_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("[{", encoding="utf-8")
    with pytest.raises(InputError, match="not valid JSON"):
        load_fingerprint_file(bad)
    with pytest.raises(InputError, match="not found"):
        load_fingerprint_file(tmp_path / "nope.json")


def test_config_key_adds_fingerprint_files(tmp_path, isolated_env):
    extra = tmp_path / "wg.json"
    extra.write_text(
        json.dumps(
            [
                {
                    "name": "wg.kh_new_sinkhole",
                    "scope": "isp",
                    "location_found": "dns",
                    "pattern_type": "full",
                    "pattern": "192.0.2.77",
                    "expected_countries": "KH",
                }
            ]
        ),
        encoding="utf-8",
    )
    (tmp_path / "censorwatch.toml").write_text(
        '[verdict]\nfingerprint_files = ["wg.json"]\n', encoding="utf-8"
    )
    cfg = load_config(tmp_path / "censorwatch.toml")
    assert cfg.verdict.fingerprint_files == [str(extra)]
    db = fingerprints_from_config(cfg)
    assert [(s["name"], s["rows"]) for s in db.sources] == [
        ("censorwatch", 5),
        ("ooni", 150 + 1699),
        ("file:wg.json", 1),
    ]
    assert db.hash != default_fingerprints().hash
    assert db.match_dns("192.0.2.77")[0].fingerprint.name == "wg.kh_new_sinkhole"
    assert fingerprints_from_config(load_config(None, cwd=tmp_path / "none")) is (
        default_fingerprints()
    )


def test_expected_asns_limit_confirmation():
    (fp,) = [f for f in default_fingerprints().fingerprints if f.pattern == "36.37.242.94"]
    assert fp.expected_asns == (38623,)
    assert fp.confirms("KH", 38623)
    assert not fp.confirms("KH", 17976)


def _oonis_db(shared):
    return load_fingerprints(
        [
            shared("ooni", "fingerprints", "fingerprints_dns.json"),
            shared("ooni", "fingerprints", "fingerprints_http.json"),
        ]
    )


def _one_by_one_body(db, text: str) -> set[str]:
    """The definition: every body fingerprint whose pattern matches, checked one at a time."""
    return {fp.name for fp in db._body if fp.matches_text(text)}


def test_body_search_in_one_pass_equals_one_by_one(shared):
    """OONI's ~1,300 "contains" patterns are searched in one pass (RE2 set), same result."""
    db = _oonis_db(shared)
    assert db._body_literals is not None
    page = json.loads(
        shared(
            "ooni",
            "measurements",
            "20250527233111.802678_ID_webconnectivity_5a37ec909dbf14e3.json",
        ).read_text("utf-8")
    )["test_keys"]["requests"][0]["response"]["body"]
    contains = [fp for fp in db._body if fp.pattern_type == "contains"]
    texts = [page, "", "nothing to see", page[:100] + contains[0].pattern + page[100:]]
    # Patterns glued together, in the middle of a page, with non-ASCII around them.
    for i in range(0, len(contains), 97):
        texts.append(f"<p>ខ្មែរ {contains[i].pattern}</p>{contains[-i - 1].pattern}")
    for text in texts:
        found = {m.fingerprint.name for m in db.match_body(text)}
        assert found == _one_by_one_body(db, text)
    assert {m.fingerprint.name for m in db.match_body(texts[3])} >= {contains[0].name}


def test_body_regexps_equal_one_by_one(shared):
    """Pages made to match each regexp body fingerprint (and not to): the same names."""
    db = _oonis_db(shared)
    regexps = [fp for fp in db._body if fp.pattern_type == "regexp"]
    assert regexps
    texts = []
    for fp in regexps:
        plain = re.sub(r"\\(.)", r"\1", fp.pattern.replace(".*", " x ").replace(".", "x"))
        texts += [plain, f"<html>{plain}</html>", plain[1:], plain[:-1], plain.upper()]
    for text in texts:
        found = {m.fingerprint.name for m in db.match_body(text)}
        assert found == _one_by_one_body(db, text), text
    assert any(db.match_body(text) for text in texts)


@pytest.mark.parametrize(
    ("pattern", "literals"),
    [
        ("<meta name=.*twitter:card", ("<meta name=", "twitter:card")),
        ('{"msg":.*"id":', ('{"msg":', '"id":')),
        (r"U\.S\..*Command", ("U.S.", "Command")),
        ("<span style=.*color:red;.*>", ("<span style=", "color:red;", ">")),
        ("ab*c", ("a", "c")),
        ("ab+c", ("ab", "c")),
        ("ab?c", ("a", "c")),
        ("ab{2}c", ("a", "c")),
        ("ab*?c", ("a", "c")),
        ("a|b", ()),
        ("x(a|b)", ()),
        ("x(ab)y", ("x",)),
        ("(?i)abc", ()),
        (r"\d+abc", ()),
        (r"ab\sc", ("ab",)),
        (r"a\x41", ("a",)),
        (r"a\.b\+", ("a.b+",)),
        ("[ab]c", ()),
        ("x[ab]c", ("x",)),
        ("^abc$", ("abc",)),
        ("a.b", ("a", "b")),
        ("*a", ()),
        ("", ()),
    ],
)
def test_regex_required_literals(pattern, literals):
    from censorwatch.fingerprints import _regex_required_literals

    assert _regex_required_literals(pattern) == literals
    if literals:  # what the regex matches contains them: an example built from the pattern
        example = "".join(literals)
        compiled = re.compile(pattern)
        for text in (example, "zz" + example + "zz"):
            if compiled.search(text):
                assert all(lit in text for lit in literals)


def test_body_with_undecodable_bytes_is_searched_one_by_one(shared):
    """Bytes that are not UTF-8 become lone surrogates, which RE2 cannot take: same answer."""
    db = _oonis_db(shared)
    pattern = next(fp for fp in db._body if fp.pattern_type == "contains").pattern
    body = b"\xff\xfe<html>" + pattern.encode("utf-8") + b"</html>"
    found = {m.fingerprint.name for m in db.match_body(body)}
    assert found and found == _one_by_one_body(db, body.decode("utf-8", errors="surrogateescape"))


def test_header_index_equals_one_by_one(shared):
    """Every header's index answers what checking each fingerprint in turn answers."""
    db = _oonis_db(shared)
    assert len(db._headers["location"]) > 300
    for name, fps in db._headers.items():
        index = db._header_index[name]
        values = ["", "https://example.com/", "http://lamanlabuh.aduankonten.id/", "\udcff"]
        for fp in fps:
            values.append(fp.pattern)
            values.append("http://x.example/?" + fp.pattern)
            values.append(fp.pattern + "/more")
            values.append(fp.pattern[:-1])
            values.append(fp.pattern + "\udcff")  # a lone surrogate: RE2 refuses the value
        for value in values:
            assert index.matches(value) == [fp for fp in fps if fp.matches_text(value)], value
