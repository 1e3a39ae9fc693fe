"""The `censorwatch ingest` commands end to end against the fake OONI API and bucket."""

from __future__ import annotations

import importlib.util
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from censorwatch.cli import cli
from censorwatch.store import open_store
from censorwatch.store.models import JobRun, MeasurementRow, OoniAggregate

_spec = importlib.util.spec_from_file_location(
    "_ooni_fake", Path(__file__).with_name("_ooni_fake.py")
)
fake = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fake)


@pytest.fixture
def server():
    gen = fake.serve()
    yield next(gen)
    gen.close()


@pytest.fixture
def env(isolated_env: Path) -> Path:
    (isolated_env / "censorwatch.toml").write_text(
        "[ooni]\napi_calls_per_minute = 0\nretry_max_wait = 0.1\noverlap_hours = 1\n"
    )
    return isolated_env


def store_of(env: Path):
    return open_store(f"sqlite:///{env / 'data' / 'censorwatch.sqlite3'}")


def test_cli_raw_measurement_and_aggregation(server, shared, env) -> None:
    docs = fake.vary_documents(
        fake.real_documents(shared), 12, start=datetime(2023, 3, 1, 3), step=timedelta(minutes=1)
    )
    server.objects[
        "raw/20230301/03/KH/webconnectivity/2023030103_KH_webconnectivity.n0.0.jsonl.gz"
    ] = fake.jsonl_gz(docs)
    runner = CliRunner()
    result = runner.invoke(
        cli,
        [
            "ingest",
            "raw",
            "--country",
            "KH",
            "--since",
            "2023-03-01",
            "--until",
            "2023-03-01",
            "--test-name",
            "web_connectivity",
            "--bucket-url",
            server.bucket_url,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "12 read, 12 new" in result.output and "12 verdicts recomputed" in result.output

    path = shared(
        "ooni", "api", "api_v1_measurement_meta__RU_rutor_http-diff_confirmed.recorded.json"
    )
    server.meta = fake.unwrap(path)
    result = runner.invoke(
        cli, ["ingest", "measurement", server.meta["measurement_uid"], "--api-url", server.base_url]
    )
    assert result.exit_code == 0, result.output
    assert "1 read, 1 new" in result.output

    path = shared("ooni", "api", "api_v1_aggregation__web_connectivity_axis_x_day.recorded.json")
    server.aggregation = fake.unwrap(path)
    result = runner.invoke(
        cli,
        [
            "ingest",
            "aggregation",
            "--country",
            "KH",
            "--since",
            "2022-03-01",
            "--until",
            "2022-03-03",
            "--test-name",
            "web_connectivity",
            "--axis",
            "none",
            "--api-url",
            server.base_url,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "1 monthly rows stored" in result.output

    store = store_of(env)
    try:
        with store.session() as s:
            assert s.scalar(sa.select(sa.func.count()).select_from(MeasurementRow)) == 13
            assert s.scalar(sa.select(sa.func.count()).select_from(OoniAggregate)) == 1
            jobs = {j.job: j.outcome for j in s.scalars(sa.select(JobRun))}
            verdicts = set(s.scalars(sa.select(MeasurementRow.verdict_version)))
    finally:
        store.close()
    assert jobs == {
        "ingest-raw": "success",
        "ingest-measurement": "success",
        "ingest-aggregation": "success",
    }
    assert None not in verdicts  # every web_connectivity document was judged

    status = runner.invoke(cli, ["status", "--json"])
    sources = {s["source"] for s in json.loads(status.output)["ingest_state"]}
    assert "ooni-raw:KH" in sources


def test_cli_api_failure_is_one_line_and_recorded(server, env) -> None:
    server.faults = ["500"] * 50
    result = CliRunner().invoke(
        cli,
        [
            "ingest",
            "ooni",
            "--country",
            "KH",
            "--since",
            "2023-03-01",
            "--until",
            "2023-03-02",
            "--test-name",
            "web_connectivity",
            "--api-url",
            server.base_url,
        ],
    )
    assert result.exit_code == 1
    assert "censorwatch: error: OONI API: giving up" in result.output
    store = store_of(env)
    try:
        with store.session() as s:
            job = s.scalars(sa.select(JobRun)).one()
    finally:
        store.close()
    assert job.job == "ingest-ooni" and job.outcome == "failed"


def test_cli_rejects_bad_dates(env) -> None:
    result = CliRunner().invoke(cli, ["ingest", "ooni", "--since", "last tuesday"])
    assert result.exit_code == 2 and "expected YYYY-MM-DD" in result.output


def test_unreachable_api_fails_at_once_with_one_line(env: Path) -> None:
    """Offline (here: a closed loopback port) is said in one line, not retried for minutes."""
    import time

    started = time.monotonic()
    result = CliRunner().invoke(
        cli, ["ingest", "ooni", "--country", "KH", "--api-url", "http://127.0.0.1:9"]
    )
    assert result.exit_code != 0
    assert "cannot reach the OONI API at 127.0.0.1:9" in result.output
    assert time.monotonic() - started < 60
