"""Local files and bundles: formats, streaming, quarantine, wrong types, privacy, identity."""

from __future__ import annotations

import gzip
import importlib.util
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from censorwatch.measurement import Measurement, scrub_probe_ip
from censorwatch.store import open_store
from censorwatch.store.codec import decode_document
from censorwatch.store.models import MeasurementRow

_spec = importlib.util.spec_from_file_location(
    "_ooni_fake", Path(__file__).with_name("_ooni_fake.py")
)
fake = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fake)

from censorwatch.ingest.files import Record, expand_paths, iter_file  # noqa: E402
from censorwatch.ingest.pipeline import (  # noqa: E402
    Ingestor,
    parse_json,
    scrub_document,
    scrub_text,
    text_to_keep,
)
from censorwatch.ingest.quarantine import Quarantine  # noqa: E402

START = datetime(2023, 3, 1)


def docs(shared, n: int) -> list[dict]:
    return fake.vary_documents(
        fake.real_documents(shared), n, start=START, step=timedelta(minutes=5)
    )


def rows(store) -> list[MeasurementRow]:
    with store.session() as s:
        return list(s.scalars(sa.select(MeasurementRow).order_by(MeasurementRow.id)))


def ingest_paths(store, *paths, quarantine=None, batch_size=50) -> Ingestor:
    ingestor = Ingestor(store, quarantine=quarantine, batch_size=batch_size)
    for path in expand_paths(paths):
        ingestor.ingest_records(iter_file(path))
    return ingestor


def test_all_formats_and_folders(store, shared, tmp_path) -> None:
    d = docs(shared, 40)
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    (folder / "one.json").write_text(json.dumps(d[0]))
    (folder / "list.json").write_text(json.dumps(d[1:5]))
    (folder / "sub" / "lines.jsonl").write_text("".join(json.dumps(x) + "\n" for x in d[5:20]))
    (folder / "sub" / "raw.jsonl.gz").write_bytes(fake.jsonl_gz(d[20:40]))
    (folder / "notes.txt").write_text("not a measurement file")
    ingestor = ingest_paths(store, folder)
    assert ingestor.stats.inserted == 40 and ingestor.stats.quarantined == 0
    assert len(rows(store)) == 40
    again = ingest_paths(store, folder)
    assert again.stats.inserted == 0 and again.stats.merged == 40 and len(rows(store)) == 40


def test_probe_ip_is_never_stored(store, shared, tmp_path) -> None:
    path = tmp_path / "raw.jsonl.gz"
    path.write_bytes(fake.jsonl_gz(docs(shared, 8)))
    ingest_paths(store, path)
    for row in rows(store):
        doc = decode_document(row.document)
        assert "probe_ip" not in doc
        assert fake.FAKE_PROBE_IP not in json.dumps(doc)
        assert doc["test_keys"]["client_resolver"] == "[scrubbed]"


def test_fast_scrub_equals_the_model_scrub(shared) -> None:
    for doc in docs(shared, 4):
        text = json.dumps(doc).encode()
        fast_text, seen = scrub_text(text)
        fast = scrub_document(parse_json(fast_text), seen)
        slow = scrub_probe_ip(json.loads(text))
        assert fast == slow


def test_escaped_probe_ip_falls_back_to_the_full_scrub() -> None:
    text = b'{"probe_ip": "203.0.113.\\u0037\\u0037", "x": ["203.0.113.77"]}'
    scrubbed, seen = scrub_text(text)
    doc = scrub_document(parse_json(scrubbed), seen)
    assert doc == {"x": ["[scrubbed]"]}


def _kept(text: bytes) -> dict | None:
    """What the text path keeps of a raw line, parsed back (None: the tree path is used)."""
    scrubbed, seen = scrub_text(text)
    doc = parse_json(scrubbed)
    kept = text_to_keep(scrubbed, doc, seen)
    return None if kept is None else json.loads(kept)


def test_kept_text_is_the_scrubbed_tree(shared) -> None:
    """Storing the scrubbed raw text keeps exactly what scrubbing the parsed tree keeps."""
    for doc in docs(shared, 6):
        for text in (json.dumps(doc).encode(), json.dumps(doc, indent=1).encode()):
            assert _kept(text) == scrub_probe_ip(json.loads(text))


@pytest.mark.parametrize(
    "text, expected",
    [
        (b'{"probe_ip":"203.0.113.7","a":"203.0.113.7"}', {"a": "[scrubbed]"}),
        (b'{"a":1, "probe_ip" : "203.0.113.7" , "b":2}', {"a": 1, "b": 2}),
        (b'{"a":1,"probe_ip":"203.0.113.7"}', {"a": 1}),
        (b'{"a":1 ,\n "probe_ip":"127.0.0.1"\n}', {"a": 1}),
        (b'{ "probe_ip":"203.0.113.7" }', {}),
        (b'{"a":{"b":"203.0.113.7"}}', {"a": {"b": "203.0.113.7"}}),  # no probe_ip: as is
        # Only a nested key: its address is scrubbed, and (as in the tree) the key stays.
        (b'{"x":{"probe_ip":"1.2.3.4"}}', {"x": {"probe_ip": "[scrubbed]"}}),
    ],
)
def test_kept_text_drops_the_probe_ip_member(text: bytes, expected: dict) -> None:
    assert _kept(text) == expected
    scrubbed, seen = scrub_text(text)
    assert scrub_document(parse_json(scrubbed), seen) == expected  # what the tree path keeps


@pytest.mark.parametrize(
    "text",
    [
        b'{"probe_ip":"203.0.113.7","probe_city":"Phnom Penh"}',  # city keys: the tree decides
        b'{"probe_ip":"203.0.113.7","x":{"probe_ip":"203.0.113.7"}}',  # a second probe_ip key
        b'{"probe_ip": "203.0.113.\\u0037\\u0037", "x": ["203.0.113.77"]}',  # missed by text
    ],
)
def test_kept_text_defers_to_the_tree_when_unsure(text: bytes) -> None:
    assert _kept(text) is None


def test_malformed_lines_are_quarantined_and_the_rest_goes_in(store, shared, tmp_path) -> None:
    d = docs(shared, 10)
    d[2]["measurement_start_time"] = {"not": "a time"}
    d[3]["probe_asn"] = ["AS1"]
    d[4]["probe_cc"] = 7
    d[5]["test_keys"] = "a string"  # wrong type but not needed: stored
    d[6]["annotations"] = 5  # likewise
    d[7]["test_name"] = "x" * 200
    lines = [json.dumps(x) for x in d]
    lines.insert(1, '{"truncated": ')
    lines.insert(3, "[1, 2, 3]")
    lines.insert(5, "")
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    q = Quarantine(tmp_path / "quarantine")
    ingestor = ingest_paths(store, path, quarantine=q)
    q.close()
    assert ingestor.stats.quarantined == 6
    assert len(rows(store)) == 6
    entries = [json.loads(x) for x in q.path.read_text().splitlines()]
    assert [e["line"] for e in entries] == [2, 4, 5, 7, 8, 11]
    assert all(e["ref"] == str(path) for e in entries)
    assert "not valid JSON" in entries[0]["error"]
    assert "list, not a JSON object" in entries[1]["error"]
    assert "measurement_start_time" in entries[2]["error"]
    # Quarantined text is scrubbed of the volunteer's address too.
    assert fake.FAKE_PROBE_IP not in q.path.read_text()


def test_truncated_gzip_keeps_the_complete_lines(store, shared, tmp_path) -> None:
    data = fake.jsonl_gz(docs(shared, 30))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: int(len(data) * 0.6)])
    q = Quarantine(tmp_path / "q")
    ingestor = ingest_paths(store, path, quarantine=q)
    q.close()
    assert 0 < ingestor.stats.inserted < 30
    assert ingestor.stats.quarantined == 1
    assert "truncated" in json.loads(q.path.read_text())["error"]


def test_api_row_and_raw_document_are_one_row(store, shared, tmp_path) -> None:
    api = fake.vary_rows(fake.api_rows(shared), 12, start=START, step=timedelta(minutes=5))
    raw = docs(shared, 12)
    # An API row's start time may disagree with the document's (seen in real data).
    for row, doc in zip(api, raw, strict=True):
        row["measurement_start_time"] = "2023-03-01T09:00:00.000000Z"
        doc["report_id"], doc["input"] = row["report_id"], row["input"]
    Ingestor(store).write(Measurement.from_api_record(r) for r in api)
    path = tmp_path / "raw.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in raw))
    ingestor = ingest_paths(store, path)
    assert ingestor.stats.inserted == 0 and ingestor.stats.merged == 12
    stored = rows(store)
    assert len(stored) == 12
    for row, api_row in zip(stored, api, strict=True):
        assert row.measurement_uid == api_row["measurement_uid"]  # OONI's real uid kept
        assert row.anomaly is api_row["anomaly"]  # OONI's flag kept
        assert row.scores == api_row["scores"]  # and OONI's scores
        assert row.document is not None  # and the document added


def test_every_test_name_is_kept(store, shared, tmp_path) -> None:
    names = [
        "web_connectivity",
        "whatsapp",
        "telegram",
        "signal",
        "facebook_messenger",
        "tor",
        "psiphon",
        "dnscheck",
        "stunreachability",
        "urlgetter",
    ]
    d = docs(shared, len(names))
    for doc, name in zip(d, names, strict=True):
        doc["test_name"] = name
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in d))
    ingest_paths(store, path)
    assert sorted(r.test_name for r in rows(store)) == sorted(names)


def test_our_probe_bundle_keeps_source(store, shared, tmp_path) -> None:
    d = docs(shared, 3)
    for doc in d:
        doc["software_name"] = "censorwatch"
    path = tmp_path / "bundle.jsonl.gz"
    path.write_bytes(fake.jsonl_gz(d))
    ingest_paths(store, path)
    assert {r.source for r in rows(store)} == {"censorwatch"}


def test_nan_and_huge_numbers_do_not_crash(store, shared, tmp_path) -> None:
    base = json.dumps(docs(shared, 1)[0])
    text = base[:-1] + ', "x_nan": NaN, "x_big": 123456789012345678901234567890}\n'
    path = tmp_path / "odd.jsonl"
    path.write_text(text)
    q = Quarantine(None)
    ingestor = ingest_paths(store, path, quarantine=q)
    assert ingestor.stats.inserted == 1


def test_records_from_objects() -> None:
    ingestor_records = list(iter_file.__globals__["_whole_document"](b"[1, {}]", "x.json"))
    assert [r.obj for r in ingestor_records] == [1, {}]
    assert isinstance(ingestor_records[0], Record)


def test_missing_path_is_a_clear_error(tmp_path) -> None:
    from censorwatch.errors import InputError

    with pytest.raises(InputError, match="no such file"):
        expand_paths([tmp_path / "nope.jsonl"])


def test_cli_ingest_file(shared, isolated_env, tmp_path) -> None:
    from click.testing import CliRunner

    from censorwatch.cli import cli

    path = tmp_path / "raw.jsonl.gz"
    path.write_bytes(fake.jsonl_gz(docs(shared, 25)))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"oops"\n')
    result = CliRunner().invoke(cli, ["ingest", "file", str(path), str(bad)])
    assert result.exit_code == 0, result.output
    assert "26 read, 25 new, 0 already known, 1 quarantined" in result.output
    quarantined = list((tmp_path / "data" / "quarantine").glob("ingest-file-*.jsonl"))
    assert len(quarantined) == 1
    store = open_store(f"sqlite:///{tmp_path / 'data' / 'censorwatch.sqlite3'}")
    try:
        with store.session() as s:
            assert s.scalar(sa.select(sa.func.count()).select_from(MeasurementRow)) == 25
    finally:
        store.close()
    result = CliRunner().invoke(cli, ["ingest", "file", str(tmp_path / "missing")])
    assert result.exit_code != 0 and "no such file or folder" in result.output


def test_gzip_stream_is_read_line_by_line(tmp_path) -> None:
    path = tmp_path / "big.jsonl.gz"
    with gzip.open(path, "wb") as fh:
        for i in range(1000):
            fh.write(json.dumps({"i": i}).encode() + b"\n")
    records = iter_file(path)
    first = next(records)
    assert first.line == 1 and json.loads(first.data) == {"i": 0}
    assert sum(1 for _ in records) == 999


def test_documents_written_with_zlib_before_stay_readable() -> None:
    import zlib

    from censorwatch.store.codec import decode_document, encode_document

    doc = {"test_name": "web_connectivity", "input": "https://vodkhmer.news/", "n": [1, 2.5]}
    old = zlib.compress(json.dumps(doc, separators=(",", ":")).encode(), 6)
    assert decode_document(old) == doc
    assert decode_document(encode_document(doc)) == doc
    assert decode_document(memoryview(encode_document(doc))) == doc
    assert encode_document(None) is None and decode_document(None) is None


def test_a_document_twice_in_one_file_adds_up(store, shared, tmp_path) -> None:
    """read = new + already known: the second copy is merged into the first."""
    doc = docs(shared, 1)[0]
    path = tmp_path / "twice.jsonl"
    path.write_text((json.dumps(doc) + "\n") * 2, encoding="utf-8")
    stats = ingest_paths(store, path).stats
    assert (stats.read, stats.inserted, stats.merged) == (2, 1, 1)
    assert len(rows(store)) == 1
