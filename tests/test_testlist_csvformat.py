"""The Citizen Lab CSV format: every real upstream list round-trips byte for byte."""

from __future__ import annotations

import pytest

from censorwatch.errors import InputError
from censorwatch.testlists.csvformat import (
    HEADER,
    content_hash,
    format_testlist,
    parse_testlist,
    read_testlist,
    write_testlist,
)

UPSTREAM = ["kh.csv", "global.csv", "th.csv", "vn.csv", "mm.csv", "my.csv"]


@pytest.mark.parametrize("name", UPSTREAM)
def test_upstream_lists_round_trip(shared, name: str, tmp_path) -> None:
    path = shared("testlists", name)
    tl = read_testlist(path)
    assert tl.name == name[:-4]
    assert format_testlist(tl.rows).encode("utf-8") == path.read_bytes()
    out = tmp_path / name
    assert write_testlist(out, tl.rows) == tl.sha256
    assert out.read_bytes() == path.read_bytes()


def test_line_numbers_and_fields(shared) -> None:
    tl = read_testlist(shared("testlists", "kh.csv"))
    first = tl.rows[0]
    assert first.line == 2
    assert first.url.startswith("http")
    assert len(tl.rows) == 172


def test_content_hash_is_order_independent(shared) -> None:
    kh = read_testlist(shared("testlists", "kh.csv"))
    gl = read_testlist(shared("testlists", "global.csv"))
    assert content_hash([kh, gl]) == content_hash([gl, kh])
    assert content_hash([kh]) != content_hash([kh, gl])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", ":1: header: the file is empty"),
        ("url,category\n", ":1: header: expected"),
        (",".join(HEADER) + "\nhttps://a.example/,NEWS\n", ":2: row: expected 6 columns, found 2"),
        (",".join(HEADER) + '\n"https://a.example/,NEWS,News,2020-01-01,x,y\n', ":2: csv:"),
    ],
)
def test_unreadable_files_name_the_line(text: str, message: str) -> None:
    with pytest.raises(InputError, match="bad.csv" + message):
        parse_testlist(text, "bad.csv")


def test_not_utf8_names_the_line(tmp_path) -> None:
    path = tmp_path / "kh.csv"
    path.write_bytes(
        (",".join(HEADER) + "\nhttps://a.example/,NEWS,News,2020-01-01,x,caf").encode() + b"\xe9\n"
    )
    with pytest.raises(InputError, match=r"kh.csv:2: encoding: not UTF-8"):
        read_testlist(path)
