"""The store lock that keeps one job from running twice at once, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from censorwatch.measurement import utcnow
from censorwatch.scheduler import JobLockedError, job_lock
from censorwatch.scheduler.locks import current_locks, installation_id, try_acquire
from censorwatch.store.models import JobLock


def test_lock_is_exclusive_and_released(store) -> None:
    with job_lock(store, "probe") as holder:
        row = current_locks(store)["probe"]
        assert row.holder == holder and row.expires_at > utcnow()
        # Another thread (a manual `probe run` in this process) is refused at once.
        errors = []

        def other() -> None:
            try:
                with job_lock(store, "probe"):
                    pass
            except JobLockedError as exc:
                errors.append(str(exc))

        t = threading.Thread(target=other)
        t.start()
        t.join(10)
        assert errors and "'probe' is already running" in errors[0]
        # A different job is independent.
        with job_lock(store, "ingest-ooni"):
            pass
    assert current_locks(store) == {}


def test_lock_is_reentrant_in_one_thread(store) -> None:
    """The scheduled probe job holds `probe` and runs `probe run`, which takes it again."""
    with job_lock(store, "probe") as outer, job_lock(store, "probe") as inner:
        assert inner == outer
    assert current_locks(store) == {}


def test_lock_is_exclusive_across_processes(store) -> None:
    code = (
        "import sys\n"
        "from censorwatch.store import open_store\n"
        "from censorwatch.scheduler import job_lock, JobLockedError\n"
        "s = open_store(sys.argv[1])\n"
        "try:\n"
        "    with job_lock(s, 'probe'): print('acquired')\n"
        "except JobLockedError as e: print('locked:', e)\n"
    )
    with job_lock(store, "probe"):
        out = subprocess.run(
            [sys.executable, "-c", code, store.url], capture_output=True, text=True, timeout=60
        )
    assert out.stdout.startswith("locked:"), out.stderr
    assert current_locks(store) == {}


def test_expired_lock_is_taken_over(store) -> None:
    assert try_acquire(store, "analyze", "elsewhere:1:aaaa", ttl=timedelta(seconds=-1))
    with job_lock(store, "analyze") as holder:
        assert current_locks(store)["analyze"].holder == holder


def test_live_lock_of_another_installation_is_respected(store) -> None:
    assert try_acquire(store, "analyze", "0123456789abcdef:1:aaaa", ttl=timedelta(minutes=5))
    with pytest.raises(JobLockedError, match="held by process 1"), job_lock(store, "analyze"):
        pass


def test_lock_of_a_dead_local_process_is_taken_over(store) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    dead = f"{installation_id()}:{proc.pid}:dead"
    assert try_acquire(store, "report", dead, ttl=timedelta(minutes=5))
    with job_lock(store, "report") as holder:
        assert holder != dead


def test_heartbeat_keeps_a_long_job_locked(store) -> None:
    ttl = timedelta(seconds=0.4)
    with job_lock(store, "probe", ttl=ttl) as holder:
        time.sleep(1.0)  # longer than the TTL: only the heartbeat keeps the lock ours
        assert not try_acquire(store, "probe", "x:1:y", ttl=ttl)
        assert current_locks(store)["probe"].holder == holder
    with store.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(JobLock)) == 0


def test_holder_names_no_host(store) -> None:
    import socket

    with job_lock(store, "probe") as holder:
        pass
    assert socket.gethostname() not in holder
    assert len(holder.split(":")) == 3


def test_run_now_of_a_locked_job_exits_75(store, tmp_path, monkeypatch) -> None:
    from click.testing import CliRunner

    from censorwatch.cli import cli
    from censorwatch.scheduler import jobs as jobs_module
    from censorwatch.scheduler.jobs import JobDefinition

    monkeypatch.setitem(
        jobs_module.JOBS, "report", JobDefinition("report", lambda c, s: {}, "report", "")
    )
    assert try_acquire(store, "report", "0123456789abcdef:4242:zz", ttl=timedelta(minutes=5))
    result = CliRunner().invoke(
        cli,
        ["--db", store.url, "schedule", "run-now", "report"],
        env={"CENSORWATCH_DATA_DIR": str(tmp_path)},
    )
    assert result.exit_code == 75
    assert "report: skipped: job 'report' is already running" in result.output
    assert "process 4242" in result.output


def test_manual_probe_run_does_not_overlap_a_scheduled_one(store, tmp_path, monkeypatch) -> None:
    """`probe run` takes the `probe` lock: refused at once (75) while the job runs elsewhere."""
    from click.testing import CliRunner

    monkeypatch.chdir(tmp_path)  # --accept-risks writes no file (checked in the probe tests)

    from censorwatch.cli import cli

    assert try_acquire(store, "probe", "0123456789abcdef:4242:zz", ttl=timedelta(minutes=5))
    result = CliRunner().invoke(
        cli,
        ["--db", store.url, "probe", "run", "--accept-risks", "--limit", "1"],
        env={"CENSORWATCH_DATA_DIR": str(tmp_path), "CENSORWATCH_CONFIG": ""},
    )
    assert result.exit_code == 75, result.output
    assert "job 'probe' is already running" in result.output
