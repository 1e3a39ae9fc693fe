"""Property tests: arbitrary rows and bytes never crash the parser, linter or editor, and a
failed write never leaves half a file."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from censorwatch.errors import InputError
from censorwatch.testlists import csvformat
from censorwatch.testlists.csvformat import (
    HEADER,
    TestlistRow,
    format_testlist,
    parse_testlist,
    read_testlist,
    write_testlist,
)
from censorwatch.testlists.edit import ListEditor
from censorwatch.testlists.lint import Linter, read_lenient
from censorwatch.testlists.normalise import normalise_url, url_problems

SETTINGS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
TODAY = dt.date(2026, 11, 26)
field = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
csvish = st.text(alphabet=st.sampled_from(list('ab,"\n\r\t \\:/.{}é\ufffd')), max_size=200)
rows = st.lists(st.tuples(*[field] * 6), max_size=8)


def to_rows(records: list[tuple[str, ...]]) -> list[TestlistRow]:
    return [TestlistRow(*r) for r in records]


@SETTINGS
@given(text=st.one_of(csvish, field))
def test_parser_raises_only_input_error(text: str) -> None:
    for candidate in (text, ",".join(HEADER) + "\n" + text):
        try:
            parse_testlist(candidate, "x.csv")
        except InputError as exc:
            assert str(exc).startswith("x.csv:")


@SETTINGS
@given(records=rows)
def test_any_rows_round_trip(records: list[tuple[str, ...]]) -> None:
    text = format_testlist(to_rows(records))
    parsed = parse_testlist(text, "x.csv")
    assert [r.as_record() for r in parsed] == [list(r) for r in records]
    assert format_testlist(parsed) == text


@SETTINGS
@given(data=st.binary(max_size=300))
def test_read_and_lint_arbitrary_bytes(data: bytes, tmp_path_factory) -> None:
    path = tmp_path_factory.mktemp("b") / "kh.csv"
    path.write_bytes(data)
    try:
        read_testlist(path)
    except InputError as exc:
        assert str(exc).startswith(str(path))
    result = Linter(today=TODAY).lint_file(path)  # never raises
    assert all(i.path == str(path) for i in result.issues)
    read_lenient(path, (",".join(HEADER) + "\n").encode() + data)


@SETTINGS
@given(records=rows)
def test_lint_any_rows(records: list[tuple[str, ...]]) -> None:
    issues = Linter(today=TODAY).check_rows(to_rows(records), "kh.csv")
    assert all(i.line >= 0 for i in issues)


@SETTINGS
@given(url=field)
def test_normalise_is_idempotent_and_never_raises(url: str) -> None:
    once = normalise_url(url)
    assert normalise_url(once) == once
    url_problems(url)


@settings(SETTINGS, max_examples=30)
@given(old=rows, new=rows)
def test_a_failed_write_keeps_the_old_file(old, new, monkeypatch) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "kh.csv"
        write_testlist(path, to_rows(old))
        before = path.read_bytes()

        def boom(src, dst):
            raise OSError("power cut")

        monkeypatch.setattr(csvformat.os, "replace", boom)
        with pytest.raises(OSError):
            write_testlist(path, to_rows(new))
        monkeypatch.undo()
        assert path.read_bytes() == before
        assert os.listdir(d) == ["kh.csv"]


@SETTINGS
@given(
    url=st.one_of(field, st.builds(lambda h: f"https://{h}/", field)),
    category=st.sampled_from(["NEWS", "HUMR", "news", "XXX", ""]),
    notes=field,
    source=field,
    date=st.one_of(st.none(), field, st.sampled_from(["2020-02-29", "2021-02-29"])),
)
def test_editor_never_saves_a_wrong_list(url, category, notes, source, date, tmp_path_factory):
    path = tmp_path_factory.mktemp("e") / "kh.csv"
    path.write_text(
        ",".join(HEADER) + "\nhttps://a.org/,NEWS,News Media,2020-01-01,wg,note\n", "utf-8"
    )
    try:
        ListEditor(path, today=TODAY).add(url, category, notes=notes, source=source, date=date)
    except InputError:
        assert len(read_testlist(path).rows) == 1
        return
    result = Linter(today=TODAY).lint_file(path)
    assert result.ok(), [i.format() for i in result.issues]
