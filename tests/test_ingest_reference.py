"""The optimised ingest paths store exactly what the straightforward model computes.

Real data only: OONI's API rows and documents of ``../shared/fixtures/ooni/`` (the 50 listed
rows, the web_connectivity documents, the 128 of OONI's QA set), plus API rows and documents
varied from them with the same identities, so that API rows meet documents and merge. They
go through the paths ``ingest ooni`` and ``ingest file``/``ingest raw`` use (pages of API
rows, ``.jsonl.gz`` lines, batches, the SQLite bulk writer, COPY on PostgreSQL), twice, in
an order that makes every kind of write happen: new rows, known rows merged, batches that
mix both. The reference takes the same records one at a time the plain way: the standard
library's JSON, the model's constructors, the verdict engine, the row written and merged by
SQLAlchemy. Every stored column must be equal (documents and scores compared decoded: the
compressed bytes and the JSON spacing are the writer's business).
"""

from __future__ import annotations

import gzip
import importlib.util
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from censorwatch.ingest.files import iter_file
from censorwatch.ingest.pipeline import Ingestor, fit_columns, recompute_verdict
from censorwatch.measurement import SOURCE_OONI, SOURCE_PROBE, Measurement, scrub_probe_ip, utcnow
from censorwatch.store import open_store
from censorwatch.store.bulk import _as_row, _write_rows
from censorwatch.store.codec import decode_document

_spec = importlib.util.spec_from_file_location(
    "_ooni_fake", Path(__file__).with_name("_ooni_fake.py")
)
fake = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fake)

START = datetime(2023, 3, 1)
#: Columns compared decoded rather than as stored.
DECODED = {"document", "scores"}
SKIPPED = {"id", "ingested_at"}


def _inputs(shared: Any) -> tuple[list[list[dict[str, Any]]], list[bytes]]:
    """Pages of API rows and document lines, overlapping in identity."""
    real_rows = fake.api_rows(shared)
    varied_rows = fake.vary_rows(real_rows, 40, start=START, step=timedelta(hours=1))
    docs = fake.vary_documents(
        fake.real_documents(shared), 45, start=START, step=timedelta(hours=1)
    )
    docs, unlisted = docs[:40], docs[40:]  # no API row has the identity of the last five
    for doc, row in zip(docs, varied_rows, strict=True):  # the same measurements
        doc["report_id"], doc["input"] = row["report_id"], row["input"]
    # The first batch of documents starts with new ones and holds known ones: inserted first,
    # then merged; a batch that starts with a known one is looked up first.
    lines = [json.dumps(d).encode() for d in unlisted]
    lines += [json.dumps(d).encode() for d in docs[:30]]
    lines += [json.dumps(d).encode() for d in fake.real_documents(shared)]
    qa = shared("ooni", "webconnectivity-qa", "measurements.jsonl").read_bytes()
    lines += [line for line in qa.splitlines() if line.strip()]
    lines += [json.dumps(d).encode() for d in docs[30:]]
    # The first page knows 20 of the documents' identities, the second the other 20.
    pages = [real_rows[:25] + varied_rows[:20], varied_rows[20:] + real_rows[25:]]
    return pages, lines


def _optimised(
    url: str, pages: list[list[dict[str, Any]]], lines: list[bytes], tmp: Path, rounds: int
) -> None:
    path = tmp / "docs.jsonl.gz"
    path.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    with open_store(url) as store, Ingestor(store, batch_size=32) as ingestor:
        for round_ in range(rounds):
            ingestor.ingest_api_page(pages[0], f"page 1, round {round_}")
            ingestor.ingest_records(iter_file(path))
            ingestor.ingest_api_page(pages[1], f"page 2, round {round_}")
        assert ingestor.stats.quarantined == 0
        assert ingestor.stats.verdict_errors == 0


def _reference_document(line: bytes) -> Measurement:
    doc = scrub_probe_ip(json.loads(line))
    source = SOURCE_PROBE if doc.get("software_name") == SOURCE_PROBE else SOURCE_OONI
    m = Measurement.from_document(doc, source=source)
    if m.test_name == "web_connectivity":
        m = recompute_verdict(m, doc)
    return fit_columns(m)


def _reference(
    url: str, pages: list[list[dict[str, Any]]], lines: list[bytes], rounds: int
) -> None:
    def write(m: Measurement) -> None:
        with store.engine.begin() as conn:
            _write_rows(conn, [_as_row(m, utcnow(), None)])

    with open_store(url) as store:
        for _ in range(rounds):
            for rec in pages[0]:
                write(fit_columns(Measurement.from_api_record(rec)))
            for line in lines:
                write(_reference_document(line))
            for rec in pages[1]:
                write(fit_columns(Measurement.from_api_record(rec)))


def _stored(url: str) -> dict[str, dict[str, Any]]:
    with open_store(url) as store, store.engine.connect() as conn:
        result = conn.execute(sa.text("SELECT * FROM measurements"))
        names = list(result.keys())
        out = {}
        for values in result:
            row = {n: v for n, v in zip(names, values, strict=True) if n not in SKIPPED}
            row["document"] = decode_document(row["document"])
            if isinstance(row["scores"], str):
                row["scores"] = json.loads(row["scores"])
            out[row["measurement_key"]] = row
        return out


@pytest.mark.parametrize("rounds", [1, 2])
def test_optimised_ingest_stores_what_the_model_computes(shared, db_url, tmp_path, rounds) -> None:
    """Once (new rows, merges within the first pass), then twice (everything met again)."""
    pages, lines = _inputs(shared)
    _optimised(db_url, pages, lines, tmp_path, rounds)
    got = _stored(db_url)
    reference_url = f"sqlite:///{tmp_path / 'reference.sqlite3'}"
    if db_url.startswith("postgresql"):
        reference_url = db_url  # the same server, after the optimised rows are read
        with open_store(db_url) as store, store.engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM measurements"))
    _reference(reference_url, pages, lines, rounds)
    want = _stored(reference_url)
    assert set(got) == set(want)
    assert len(got) > 140  # QA documents may share an identity (report and input)
    for key, row in want.items():
        assert got[key] == row, key
    # Every kind of row is there: judged documents, API rows merged with documents.
    assert sum(r["verdict_version"] is not None for r in got.values()) > 90
    merged = [r for r in got.values() if r["document"] is not None and r["document_ref"]]
    assert len(merged) == 40
