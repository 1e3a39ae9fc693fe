"""Ingest with worker processes stores exactly what ingest in one process stores."""

from __future__ import annotations

import importlib.util
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from censorwatch.fingerprints import Fingerprint, FingerprintDB, load_fingerprints
from censorwatch.store import open_store
from censorwatch.store.codec import decode_document
from censorwatch.store.models import MeasurementRow

_spec = importlib.util.spec_from_file_location(
    "_ooni_fake", Path(__file__).with_name("_ooni_fake.py")
)
fake = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fake)

from censorwatch.ingest.files import iter_file  # noqa: E402
from censorwatch.ingest.parallel import ParallelConverter, resolve_workers  # noqa: E402
from censorwatch.ingest.pipeline import Ingestor  # noqa: E402
from censorwatch.ingest.quarantine import Quarantine  # noqa: E402

START = datetime(2023, 3, 1)
COLUMNS = (
    "measurement_key",
    "measurement_uid",
    "test_name",
    "input",
    "probe_asn",
    "measurement_start_time",
    "verdict_blocking",
    "verdict_confirmed",
    "verdict_fingerprint",
    "blocking",
)


def _files(shared, tmp_path: Path, n: int = 120) -> list[Path]:
    docs = fake.vary_documents(
        fake.real_documents(shared), n, start=START, step=timedelta(minutes=7)
    )
    lines = [json.dumps(d) for d in docs]
    lines[5] = "{not json"  # quarantined in a worker, written to the file by the caller
    if n > 77:
        lines[77] = json.dumps({**docs[77], "probe_cc": "Cambodia"})
    folder = tmp_path / "in"
    folder.mkdir()
    paths = []
    for i in range(0, n, 50):
        path = folder / f"part{i:03d}.jsonl"
        path.write_text("\n".join(lines[i : i + 50]) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def _stored(store) -> list[tuple]:
    with store.session() as s:
        rows = s.scalars(sa.select(MeasurementRow).order_by(MeasurementRow.measurement_key))
        return [(*(getattr(r, c) for c in COLUMNS), decode_document(r.document)) for r in rows]


def _ingest(url: str, paths: list[Path], quarantine_dir: Path, **kw) -> tuple[Ingestor, list]:
    store = open_store(url)
    try:
        quarantine = Quarantine(quarantine_dir, name="t")
        with Ingestor(store, quarantine=quarantine, batch_size=40, **kw) as ingestor:
            for path in paths:
                ingestor.ingest_records(iter_file(path))
        quarantine.close()
        return ingestor, _stored(store)
    finally:
        store.close()


def test_workers_store_what_one_process_stores(shared, tmp_path) -> None:
    paths = _files(shared, tmp_path)
    one, rows_one = _ingest(
        f"sqlite:///{tmp_path / 'one.sqlite3'}", paths, tmp_path / "q1", workers=1
    )
    many, rows_many = _ingest(
        f"sqlite:///{tmp_path / 'many.sqlite3'}",
        paths,
        tmp_path / "q2",
        workers=2,
        parallel_after=30,
    )
    assert many._parallel is None  # closed by the context manager
    assert len(rows_one) == 118
    assert rows_many == rows_one
    for name in ("read", "inserted", "merged", "quarantined", "verdicts"):
        assert getattr(many.stats, name) == getattr(one.stats, name), name
    q1 = sorted((tmp_path / "q1").glob("*.jsonl"))[0].read_text().splitlines()
    q2 = sorted((tmp_path / "q2").glob("*.jsonl"))[0].read_text().splitlines()
    assert [json.loads(x)["line"] for x in q2] == [json.loads(x)["line"] for x in q1] == [6, 28]
    assert [json.loads(x)["error"] for x in q2] == [json.loads(x)["error"] for x in q1]


def test_small_inputs_never_start_the_pool(shared, tmp_path) -> None:
    paths = _files(shared, tmp_path, n=20)
    store = open_store(f"sqlite:///{tmp_path / 's.sqlite3'}")
    try:
        ingestor = Ingestor(store, workers=4, parallel_after=100)
        for path in paths:
            ingestor.ingest_records(iter_file(path))
        assert ingestor._parallel is None and ingestor.stats.inserted == 19
    finally:
        store.close()


def test_workers_judge_with_the_configured_fingerprints(shared, tmp_path) -> None:
    """A working group's fingerprint reaches the worker processes, not only the main one."""
    docs = fake.vary_documents(
        fake.real_documents(shared), 40, start=START, step=timedelta(minutes=3)
    )
    answers = {
        a.get("ipv4")
        for d in docs
        for q in d.get("test_keys", {}).get("queries") or []
        for a in q.get("answers") or []
        if a.get("ipv4")
    }
    address = sorted(answers)[0]
    extra = Fingerprint(
        name="wg.test_sinkhole",
        scope="isp",
        location_found="dns",
        pattern_type="full",
        pattern=address,
        expected_countries=("KH",),
    )
    own = load_fingerprints()
    db = FingerprintDB([*own.fingerprints, extra], [*own.versions, "wg.json@1"])
    path = tmp_path / "in.jsonl.gz"
    path.write_bytes(fake.jsonl_gz(docs))
    results = []
    for workers in (1, 2):
        store = open_store(f"sqlite:///{tmp_path / f'w{workers}.sqlite3'}")
        try:
            with Ingestor(store, workers=workers, parallel_after=5, fingerprints=db) as ing:
                ing.ingest_records(iter_file(path))
            with store.session() as s:
                results.append(
                    sorted(s.scalars(sa.select(MeasurementRow.verdict_fingerprint)), key=str)
                )
        finally:
            store.close()
    assert results[0] == results[1]
    assert any(f and "wg.test_sinkhole" in f for f in results[0])


def test_worker_count() -> None:
    assert resolve_workers(3) == 3
    assert 1 <= resolve_workers(0) <= 8
    with pytest.raises(ValueError):
        resolve_workers(-1)


def test_converter_keeps_order_and_stops_cleanly(shared) -> None:
    from censorwatch.ingest.files import Record

    docs = fake.vary_documents(
        fake.real_documents(shared), 30, start=START, step=timedelta(minutes=3)
    )
    records = [Record("mem", i, data=json.dumps(d).encode()) for i, d in enumerate(docs, 1)]
    converter = ParallelConverter(2)
    try:
        out = [m for c in converter.convert(iter(records), chunk=4) for m in c.measurements]
        assert [m.input for m in out] == [d["input"] for d in docs]
        # Stopping part way (an error in the caller) leaves the pool usable.
        parts = converter.convert(iter(records), chunk=4)
        next(parts)
        parts.close()
        again = [m for c in converter.convert(iter(records[:3])) for m in c.measurements]
        assert len(again) == 3
    finally:
        converter.close()


def test_cli_ingest_file_with_workers(shared, isolated_env, tmp_path, monkeypatch) -> None:
    from click.testing import CliRunner

    from censorwatch.cli import cli
    from censorwatch.ingest import pipeline

    monkeypatch.setattr(pipeline, "PARALLEL_AFTER", 10)
    paths = _files(shared, tmp_path, n=60)
    result = CliRunner().invoke(cli, ["ingest", "file", "--workers", "2", str(paths[0].parent)])
    assert result.exit_code == 0, result.output
    assert "60 read, 59 new, 0 already known, 1 quarantined" in result.output
    result = CliRunner().invoke(cli, ["ingest", "file", "--workers", "-1", str(paths[0])])
    assert result.exit_code != 0 and "--workers" in result.output


def test_a_negative_worker_setting_is_a_config_error(isolated_env, tmp_path, monkeypatch) -> None:
    from click.testing import CliRunner

    from censorwatch.cli import cli

    path = tmp_path / "one.jsonl"
    path.write_text('{"test_name": "x"}\n')
    monkeypatch.setenv("CENSORWATCH_OONI_WORKERS", "-1")
    result = CliRunner().invoke(cli, ["ingest", "file", str(path)])
    assert result.exit_code != 0
    assert "ooni.workers: must be 0 (one per core) or more, got -1" in result.output
    assert "read" not in result.output  # refused before the run started
