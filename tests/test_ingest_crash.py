"""An ingest killed mid-way (SIGKILL) and run again loses nothing and duplicates nothing."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from censorwatch.store import make_engine, open_store
from censorwatch.store.models import MeasurementRow

_spec = importlib.util.spec_from_file_location(
    "_ooni_fake", Path(__file__).with_name("_ooni_fake.py")
)
fake = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fake)

START = datetime(2023, 3, 1)


_ENGINES: dict[str, sa.Engine] = {}


def counts(url: str) -> tuple[int, int]:
    """(rows, distinct keys) in the store at ``url``, with a cheap plain connection."""
    if url not in _ENGINES:
        open_store(url).close()  # the schema exists before anyone polls it
        _ENGINES[url] = make_engine(url)
    with _ENGINES[url].connect() as conn:
        total = conn.scalar(sa.select(sa.func.count()).select_from(MeasurementRow))
        distinct = conn.scalar(
            sa.select(sa.func.count(sa.distinct(MeasurementRow.measurement_key)))
        )
    return total, distinct


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CENSORWATCH_")}
    env.update(
        CENSORWATCH_DATA_DIR=str(tmp_path / "data"),
        CENSORWATCH_OONI_API_CALLS_PER_MINUTE="0",
        CENSORWATCH_OONI_RETRY_MAX_WAIT="0.1",
        CENSORWATCH_OONI_PAGE_SIZE="20",
        **extra,
    )
    return env


def kill_when(proc: subprocess.Popen, url: str, at_least: int, timeout: float = 60) -> int:
    """SIGKILL ``proc`` once the store holds ``at_least`` rows; return how many it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the ingest finished before it could be killed"
        n = counts(url)[0]
        if n >= at_least:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            return n
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("the ingest made no progress")


def test_api_ingest_killed_then_rerun(db_url, shared, tmp_path) -> None:
    gen = fake.serve()
    server = next(gen)
    try:
        server.rows = fake.vary_rows(
            fake.api_rows(shared), 400, start=START, step=timedelta(minutes=30)
        )
        server.delay = 0.05
        cmd = [
            sys.executable,
            "-m",
            "censorwatch",
            "--db",
            db_url,
            "ingest",
            "ooni",
            "--country",
            "KH",
            "--since",
            "2023-03-01",
            "--until",
            "2023-03-31",
            "--test-name",
            "web_connectivity",
            "--api-url",
            server.base_url,
            "--only",
            "all",
        ]
        env = env_for(tmp_path)
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        held = kill_when(proc, db_url, 100)
        assert 100 <= held < 400
        server.delay = 0
        server.requests.clear()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert counts(db_url) == (400, 400)
        # It went on from the last committed page, not from the first.
        assert "offset=0" not in server.api_requests()[0] and "offset=" in server.api_requests()[0]
        again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert again.returncode == 0 and counts(db_url) == (400, 400)
    finally:
        gen.close()


def test_file_ingest_killed_then_rerun(db_url, shared, tmp_path) -> None:
    docs = fake.vary_documents(
        fake.real_documents(shared), 1200, start=START, step=timedelta(seconds=30)
    )
    path = tmp_path / "big.jsonl.gz"
    path.write_bytes(fake.jsonl_gz(docs))
    cmd = [sys.executable, "-m", "censorwatch", "--db", db_url, "ingest", "file", str(path)]
    env = env_for(tmp_path, CENSORWATCH_OONI_BATCH_SIZE="50")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    held = kill_when(proc, db_url, 100)
    assert held < 1200
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert counts(db_url) == (1200, 1200)
