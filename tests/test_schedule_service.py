"""The scheduler daemon on SQLite and PostgreSQL: order, failures, restarts, two schedulers,
SIGTERM in the middle of a job. Fake jobs only (the real stages are other branches' work);
short intervals, scheduler processes started and killed by the tests themselves."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from apscheduler.events import EVENT_JOB_SUBMITTED
from apscheduler.triggers.date import DateTrigger
from click.testing import CliRunner
from schedule_helper import config_for, schedules_and_jobs

from censorwatch.scheduler import jobs as jobs_module
from censorwatch.scheduler.jobs import JobDefinition
from censorwatch.scheduler.service import (
    JOBSTORE_TABLE,
    SchedulerService,
    execute_job,
    schedule_status,
)
from censorwatch.scheduler.triggers import Schedule
from censorwatch.store import open_store
from censorwatch.store.models import JobLock, JobRun, MeasurementRow

HELPER = Path(__file__).with_name("schedule_helper.py")


def runs(store, job: str | None = None) -> list[JobRun]:
    with store.session() as s:
        q = sa.select(JobRun).order_by(JobRun.id)
        if job:
            q = q.where(JobRun.job == job)
        return list(s.scalars(q))


def wait_for(predicate, timeout: float = 15.0, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def at(seconds: float) -> DateTrigger:
    return DateTrigger(run_date=datetime.now(UTC) + timedelta(seconds=seconds), timezone=UTC)


def test_jobs_fire_in_order_and_a_failure_does_not_stop_the_scheduler(store, tmp_path) -> None:
    order: list[str] = []

    def job(name: str, fail: bool = False):
        def run(config, store):
            order.append(name)
            if fail:
                raise RuntimeError(f"{name} broke")
            return {"n": 1}

        return JobDefinition(name, run, None, name)

    jobs = {"a": job("a"), "b": job("b", fail=True), "c": job("c")}
    schedules = [
        Schedule(n, "test", at(0.3 + 0.3 * i), f"at {i}", f"at {i}") for i, n in enumerate(jobs)
    ]
    cfg = config_for({"db": store.url, "data_dir": str(tmp_path)})
    service = SchedulerService(cfg, store, jobs=jobs, schedules=schedules)
    service.start()
    try:
        assert wait_for(lambda: len(runs(store)) == 3 and runs(store)[-1].outcome != "running")
        assert service.scheduler.running
    finally:
        service.shutdown(grace=5)
    assert order == ["a", "b", "c"]
    recorded = runs(store)
    assert [(r.job, r.outcome) for r in recorded] == [
        ("a", "success"),
        ("b", "failed"),
        ("c", "success"),
    ]
    assert recorded[0].counts == {"n": 1}
    assert "b broke" in recorded[1].error
    assert all(r.finished_at >= r.started_at for r in recorded)


def test_failed_job_is_retried_at_its_next_time(store, tmp_path) -> None:
    calls = []

    def flaky(config, store):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("network down")
        return {"ok": 1}

    from apscheduler.triggers.interval import IntervalTrigger

    trigger = IntervalTrigger(seconds=0.4, timezone=UTC)
    schedules = [Schedule("flaky", "test", trigger, "every 0.4s", "every 0.4s")]
    cfg = config_for({"db": store.url, "data_dir": str(tmp_path)})
    service = SchedulerService(
        cfg, store, jobs={"flaky": JobDefinition("flaky", flaky, None, "")}, schedules=schedules
    )
    service.start()
    try:
        assert wait_for(lambda: any(r.outcome == "success" for r in runs(store)))
    finally:
        service.shutdown(grace=5)
    outcomes = [r.outcome for r in runs(store)]
    assert outcomes[:2] == ["failed", "success"]


def test_status_and_run_now(store, tmp_path, monkeypatch) -> None:
    from censorwatch.cli import cli

    def fake(config, store):
        return {"measurements": 7}

    monkeypatch.setitem(
        jobs_module.JOBS, "probe", JobDefinition("probe", fake, "probe", "x", "probe_window")
    )
    env = {"CENSORWATCH_DATA_DIR": str(tmp_path / "data")}
    runner = CliRunner()
    result = runner.invoke(cli, ["--db", store.url, "schedule", "run-now", "probe"], env=env)
    assert result.exit_code == 0, result.output
    assert "probe: success (measurements: 7)" in result.output

    result = runner.invoke(cli, ["--db", store.url, "schedule", "run-now", "nope"], env=env)
    assert result.exit_code != 0 and "no job named 'nope'" in result.output

    result = runner.invoke(
        cli, ["--db", store.url, "schedule", "status", "--json"], env=env, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    rows = {r["job"]: r for r in json.loads(result.output)}
    assert set(rows) >= {"probe", "ingest-ooni", "analyze", "report"}
    assert rows["probe"]["last_outcome"] == "success"
    assert rows["probe"]["last_counts"] == {"measurements": 7}
    assert rows["probe"]["schedule"].startswith("daily ")
    assert rows["ingest-ooni"]["schedule"].startswith("every 6h")
    assert rows["analyze"]["last_outcome"] is None


def test_probe_job_needs_consent_and_never_asks(store, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # no ./censorwatch.toml, and a fresh user config dir (conftest)
    monkeypatch.delenv("CENSORWATCH_CONFIG", raising=False)
    cfg = config_for({"db": store.url, "data_dir": str(tmp_path)})
    result = execute_job(cfg, store, jobs_module.JOBS["probe"])
    assert result.outcome == "failed"
    assert "needs your consent" in result.error and "probe.accept_risks" in result.error


def test_probe_job_calls_the_probe_library_with_the_stop_event(store, tmp_path, monkeypatch):
    """The real `probe` job, the probe library replaced by a stand-in (no network here)."""
    from censorwatch.probes import service as probe_service
    from censorwatch.probes.runner import RunStats
    from censorwatch.scheduler.service import current_stop_event

    seen = {}

    def fake_run_probe(cfg, store, options, say=None, stop=None):
        seen["stop"] = stop
        stats = RunStats(planned=3, measured=3, anomalies=1, confirmed=1)
        stats.interrupted = stop.is_set()
        return probe_service.RunSummary(run_id=7, stats=stats, testlist_hash="h", network="AS0")

    monkeypatch.setattr(probe_service, "run_probe", fake_run_probe)
    cfg = config_for({"db": store.url, "data_dir": str(tmp_path)})
    cfg.probe.accept_risks = True
    result = execute_job(cfg, store, jobs_module.JOBS["probe"])
    assert result.outcome == "success", result.error
    assert result.counts["measured"] == 3 and result.counts["probe_run"] == 7
    assert seen["stop"] is current_stop_event()
    stopping = threading.Event()
    stopping.set()  # as when the scheduler shuts down during the run
    monkeypatch.setattr("censorwatch.scheduler.service.current_stop_event", lambda: stopping)
    result = execute_job(cfg, store, jobs_module.JOBS["probe"])
    assert result.outcome == "interrupted"
    assert runs(store, "probe")[-1].outcome == "interrupted"


def test_a_failing_probe_run_is_recorded_as_failed_with_its_reason(store, tmp_path, monkeypatch):
    """Every URL failed (offline): the job is `failed` in job_runs, the reason in its error."""
    from censorwatch.probes import service as probe_service
    from censorwatch.probes.diagnosis import OFFLINE
    from censorwatch.probes.runner import RunStats

    def fake_run_probe(cfg, store, options, say=None, stop=None):
        stats = RunStats(planned=4, started=4, failed=4, failures={"offline": 4})
        return probe_service.RunSummary(
            run_id=9, stats=stats, testlist_hash="h", network="AS0", diagnosis=OFFLINE
        )

    monkeypatch.setattr(probe_service, "run_probe", fake_run_probe)
    cfg = config_for({"db": store.url, "data_dir": str(tmp_path)})
    cfg.probe.accept_risks = True
    result = execute_job(cfg, store, jobs_module.JOBS["probe"])
    assert result.outcome == "failed"
    assert "probe run 9" in result.error and "offline" in result.error
    last = runs(store, "probe")[-1]
    assert last.outcome == "failed" and "seems to be offline" in last.error


def idle_jobs() -> dict[str, JobDefinition]:
    """The real jobs with their real schedules, but doing nothing: a test that starts the
    scheduler must never run a real stage (it would go to the network)."""
    import dataclasses

    return {
        name: dataclasses.replace(job, func=lambda config, store: {})
        for name, job in jobs_module.JOBS.items()
    }


def test_status_lists_next_run_after_start(store, tmp_path) -> None:
    cfg = config_for({"db": store.url, "data_dir": str(tmp_path)})
    service = SchedulerService(cfg, store, jobs=idle_jobs())
    service.start()
    service.shutdown(grace=0)
    rows = {r["job"]: r for r in schedule_status(cfg, store)}
    assert rows["ingest-ooni"]["next_run"] is not None
    assert rows["probe"]["next_run"] is not None
    # A second start with the same configuration keeps the persisted next run times.
    before = {r["job"]: r["next_run"] for r in rows.values()}
    again = SchedulerService(cfg, store, jobs=idle_jobs())
    again.start()
    again.shutdown(grace=0)
    after = {r["job"]: r["next_run"] for r in schedule_status(cfg, store)}
    assert after == before


def test_schema_check_ignores_apscheduler_table(store, tmp_path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from censorwatch.store.models import FOREIGN_TABLES, Base

    cfg = config_for({"db": store.url, "data_dir": str(tmp_path)})
    service = SchedulerService(cfg, store, jobs=idle_jobs())
    service.start()
    service.shutdown(grace=0)
    assert sa.inspect(store.engine).has_table(JOBSTORE_TABLE)

    def ours(obj, name, type_, reflected, compare_to):
        return not (type_ == "table" and name in FOREIGN_TABLES)

    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": ours})
        assert compare_metadata(ctx, Base.metadata) == []


# -- scheduler processes --------------------------------------------------------------------


def start_helper(
    db_url: str, data_dir: Path, jobs: list[dict], grace: float = 30, table: str | None = None
):
    spec = {"db": db_url, "data_dir": str(data_dir), "grace": grace, "jobs": jobs, "table": table}
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HELPER.parent), env.get("PYTHONPATH", "")])
    return subprocess.Popen(
        [sys.executable, str(HELPER), json.dumps(spec)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def persisted_jobs(store) -> int:
    if not sa.inspect(store.engine).has_table(JOBSTORE_TABLE):
        return 0
    with store.engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {JOBSTORE_TABLE}")).scalar()


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20) -> str:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(f"scheduler did not stop: {err}") from None
    return err


def ready(proc: subprocess.Popen) -> list[dict]:
    """Wait for the helper's ``ready JOBS`` line; JOBS has the absolute start times it used."""
    line = proc.stdout.readline()
    if not line.startswith("ready "):
        proc.wait(10)
        raise AssertionError(f"scheduler did not start: {line}{proc.stderr.read()}")
    return json.loads(line[len("ready ") :])


def test_killed_scheduler_restarted_runs_the_missed_job_once(db_url, tmp_path) -> None:
    store = open_store(db_url)
    interval = 1.5
    proc = start_helper(
        db_url, tmp_path, [{"name": "tick", "kind": "tick", "interval": interval, "start_in": 2}]
    )
    try:
        spec = ready(proc)
        assert wait_for(lambda: persisted_jobs(store) == 1 or proc.poll() is not None)
        assert proc.poll() is None, proc.stderr.read()
    finally:
        proc.kill()  # SIGKILL: no clean shutdown at all
        proc.communicate()
    start = spec[0]["start"]
    before = len(runs(store, "tick"))
    # Several run times pass while no scheduler runs: start, +1.5, +3.0, +4.5.
    time.sleep(max(0.0, start + 3 * interval + 0.2 - time.time()))

    schedules, jobs = schedules_and_jobs(spec)
    service = SchedulerService(
        config_for({"db": db_url, "data_dir": str(tmp_path)}),
        store,
        jobs=jobs,
        schedules=schedules,
    )
    submitted: list[list[datetime]] = []
    service.scheduler.add_listener(
        lambda ev: submitted.append(list(ev.scheduled_run_times)), EVENT_JOB_SUBMITTED
    )
    service.start()
    try:
        assert wait_for(lambda: len([r for r in runs(store, "tick") if r.finished_at]) > before)
        next_run = service.scheduler.get_job("tick").next_run_time
    finally:
        service.shutdown(grace=5)
    store.close()
    # APScheduler submits a coalesced run with the latest missed time, which was in the past
    # when the scheduler came back; the earlier missed times are not run at all.
    missed = [t.timestamp() for t in submitted[0]]
    assert len(missed) == 1 and (missed[0] - start) / interval >= 2.99
    assert len(runs(store, "tick")) == before + 1
    # And the restarted scheduler kept the persisted schedule's phase.
    phase = (next_run.timestamp() - start) / interval
    assert abs(phase - round(phase)) < 0.01


def test_two_schedulers_never_run_a_job_at_the_same_time(db_url, tmp_path) -> None:
    """Two scheduler processes on one database both want to run `slow` (0.8 s) every 0.5 s.

    The second keeps its schedule in a table of its own, so that both certainly try at every
    tick (sharing one table, whichever wakes first may take every tick and the other never
    try); only the store lock stands between them.
    """
    store = open_store(db_url)
    start = time.time() + 1.0
    spec = [{"name": "slow", "kind": "slow", "seconds": 0.8, "interval": 0.5, "start": start}]
    procs = [
        start_helper(db_url, tmp_path, spec, grace=10),
        start_helper(db_url, tmp_path, spec, grace=10, table="apscheduler_jobs_second"),
    ]
    try:
        assert wait_for(
            lambda: (
                len([r for r in runs(store, "slow") if r.outcome == "success"]) >= 2
                and any(r.outcome == "skipped" for r in runs(store, "slow"))
            ),
            timeout=40,
        )
    finally:
        errs = [stop(p) for p in procs]
    assert all(p.returncode == 0 for p in procs), errs
    done = [r for r in runs(store, "slow") if r.outcome == "success"]
    spans = sorted((r.started_at, r.finished_at) for r in done)
    for (_, end1), (start2, _) in itertools.pairwise(spans):
        assert start2 >= end1, f"overlapping runs: {spans}"
    skipped = [r for r in runs(store, "slow") if r.outcome == "skipped"]
    assert skipped and "already running" in skipped[0].error
    assert not [r for r in runs(store, "slow") if r.outcome == "running"]
    with store.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(JobLock)) == 0
    store.close()


@pytest.mark.parametrize(
    ("grace", "sig"),
    [(0, signal.SIGTERM), (30, signal.SIGINT)],
    ids=["sigterm-interrupted", "sigint-finished"],
)
def test_signal_during_a_job_leaves_the_store_consistent(db_url, tmp_path, grace, sig) -> None:
    """SIGTERM/SIGINT mid-transaction: the job finishes (grace) or is rolled back, never half."""
    store = open_store(db_url)
    rows = 30
    spec = [
        {
            "name": "writer",
            "kind": "writer",
            "rows": rows,
            "pause": 0.05,
            "interval": 3600,
            "start_in": 0.5,
        }
    ]
    proc = start_helper(db_url, tmp_path, spec, grace=grace)
    try:
        ready(proc)
        assert wait_for(lambda: any(r.outcome == "running" for r in runs(store, "writer")))
        time.sleep(0.4)  # in the middle of the job's one transaction
    finally:
        err = stop(proc, sig)
    assert proc.returncode == 0, err
    assert "scheduler stopped" in err
    (run,) = runs(store, "writer")
    with store.session() as s:
        stored = s.scalar(sa.select(sa.func.count()).select_from(MeasurementRow))
        locks = s.scalar(sa.select(sa.func.count()).select_from(JobLock))
    if grace:
        assert (run.outcome, stored) == ("success", rows)
    else:
        assert (run.outcome, stored) == ("interrupted", 0)  # rolled back, nothing half-written
    assert run.finished_at is not None
    assert locks == 0
    store.close()


def test_thread_safety_of_run_now_against_a_running_job(store, tmp_path) -> None:
    """A manual run while the scheduled one runs is refused (the lock), and recorded."""
    started, release = threading.Event(), threading.Event()

    def long(config, store):
        started.set()
        release.wait(10)
        return {}

    job = JobDefinition("long", long, None, "")
    cfg = config_for({"db": store.url, "data_dir": str(tmp_path)})
    worker = threading.Thread(target=execute_job, args=(cfg, store, job))
    worker.start()
    try:
        assert started.wait(10)
        second = execute_job(cfg, store, job)
    finally:
        release.set()
        worker.join(10)
    assert second.outcome == "skipped"
    assert [r.outcome for r in runs(store, "long")] == ["success", "skipped"]


def test_schedule_run_command_end_to_end(sqlite_url, tmp_path) -> None:
    """`censorwatch schedule run` itself: the ingest job runs (and fails: its OONI API is a
    closed loopback port, or the stage is not installed), the daemon goes on, SIGTERM stops it
    with status 0 and no run is left 'running'."""
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on: never the real OONI API
        s.bind(("127.0.0.1", 0))
        dead_api = f"http://127.0.0.1:{s.getsockname()[1]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CENSORWATCH_")}
    env.update(
        {
            "CENSORWATCH_DB": sqlite_url,
            "CENSORWATCH_DATA_DIR": str(tmp_path / "data"),
            "CENSORWATCH_OONI_API_URL": dead_api,
            "CENSORWATCH_OONI_RAW_BUCKET_URL": dead_api,
            "CENSORWATCH_SCHEDULE_PROBE": "off",
            "CENSORWATCH_SCHEDULE_ANALYZE": "off",
            "CENSORWATCH_SCHEDULE_REPORT": "off",
            "CENSORWATCH_SCHEDULE_INGEST_OONI": "every 1s",
            "CENSORWATCH_SCHEDULE_JITTER_SECONDS": "0",
            "CENSORWATCH_SCHEDULE_SHUTDOWN_GRACE_SECONDS": "0",
        }
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "censorwatch", "schedule", "run"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    store = open_store(sqlite_url)
    try:
        assert wait_for(lambda: len(runs(store, "ingest-ooni")) >= 1, timeout=30)
    finally:
        err = stop(proc, signal.SIGTERM)
    assert proc.returncode == 0, err
    recorded = runs(store, "ingest-ooni")
    assert recorded and all(r.outcome != "running" for r in recorded)
    import click

    from censorwatch.cli import cli

    if cli.get_command(click.Context(cli), "ingest") is None:
        assert all(r.outcome == "failed" for r in recorded)
        assert "`censorwatch ingest ooni` is not available" in recorded[0].error
    assert "every 1s" in err and "scheduler stopped" in err
    store.close()


def test_a_stage_recording_its_own_run_joins_the_scheduled_record(store, tmp_path) -> None:
    """`probe run` records job "probe" itself; run by the scheduler it is still ONE row."""
    from censorwatch.store import job_run

    def stage(config, store):
        with job_run(store, "probe") as inner:  # what the stage's own command does
            inner.counts = {"urls_measured": 12}  # (the ingest CLI replaces the dict)
        return {"measurements": 12}

    cfg = config_for({"db": store.url, "data_dir": str(tmp_path)})
    result = execute_job(cfg, store, JobDefinition("probe", stage, None, ""))
    assert result.outcome == "success"
    (run,) = runs(store)
    assert run.counts == {"urls_measured": 12, "measurements": 12}
    # Outside the scheduler the stage records its run as before.
    stage(cfg, store)
    assert [r.job for r in runs(store)] == ["probe", "probe"]


def test_a_cooperative_job_sees_the_stop_request(store, tmp_path) -> None:
    from censorwatch.scheduler.service import current_stop_event

    assert not current_stop_event().is_set()
    started = threading.Event()

    def cooperative(config, store):
        started.set()
        stop_event = current_stop_event()
        for _ in range(200):
            if stop_event.wait(0.05):
                return {"stopped_early": 1}
        return {"stopped_early": 0}

    jobs = {"coop": JobDefinition("coop", cooperative, None, "")}
    cfg = config_for({"db": store.url, "data_dir": str(tmp_path)})
    service = SchedulerService(
        cfg, store, jobs=jobs, schedules=[Schedule("coop", "t", at(0.2), "at", "at")]
    )
    service.start()
    assert started.wait(10)
    t0 = time.monotonic()
    assert service.shutdown(grace=5)
    assert time.monotonic() - t0 < 3
    (run,) = runs(store, "coop")
    assert (run.outcome, run.counts) == ("success", {"stopped_early": 1})


def test_a_stage_that_prompts_fails_clearly(store, tmp_path, monkeypatch) -> None:
    import click

    from censorwatch.cli import cli
    from censorwatch.scheduler.jobs import run_stage_command

    @click.group("probe")
    def fake_probe() -> None:
        pass

    @fake_probe.command("run")
    def fake_run() -> None:
        click.confirm("Do you accept the risks?", abort=True)

    monkeypatch.setitem(cli.commands, "probe", fake_probe)
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(""))
    cfg = config_for({"db": store.url, "data_dir": str(tmp_path)})
    with pytest.raises(Exception, match="question nobody can answer"):
        run_stage_command(cfg, ["probe", "run"])


def test_restart_takes_over_the_lock_of_a_killed_scheduler(db_url, tmp_path, monkeypatch) -> None:
    """Killed mid-job, the scheduler leaves its lock; the next start (same installation) takes
    it over at once instead of waiting for it to expire."""
    from censorwatch.scheduler import locks

    store = open_store(db_url)
    spec = [{"name": "slow", "kind": "slow", "seconds": 60, "interval": 3600, "start_in": 0.3}]
    proc = start_helper(db_url, tmp_path, spec)
    try:
        ready(proc)
        assert wait_for(lambda: any(r.outcome == "running" for r in runs(store, "slow")))
    finally:
        proc.kill()
        proc.communicate()
    holder = locks.current_locks(store)["slow"].holder
    assert holder.split(":")[1] == str(proc.pid)
    monkeypatch.setattr(locks, "_installation_id", None)  # this test process = the restart
    cfg = config_for({"db": db_url, "data_dir": str(tmp_path)})
    job = JobDefinition("slow", lambda c, s: {"ok": 1}, None, "")
    result = execute_job(cfg, store, job)
    assert result.outcome == "success", result.error
    assert locks.current_locks(store) == {}
    killed, restarted = runs(store, "slow")
    assert killed.outcome == "interrupted" and "stopped without finishing" in killed.error
    assert restarted.outcome == "success"
    store.close()


def test_a_stage_calling_sys_exit_does_not_end_the_daemon(store, tmp_path, monkeypatch) -> None:
    import click

    from censorwatch.cli import cli
    from censorwatch.scheduler.jobs import run_stage_command

    @click.command("report")
    @click.option("--code", type=int, default=3)
    def fake_report(code: int) -> None:
        sys.exit(code)

    monkeypatch.setitem(cli.commands, "report", fake_report)
    cfg = config_for({"db": store.url, "data_dir": str(tmp_path)})
    with pytest.raises(Exception, match="exited with status 3"):
        run_stage_command(cfg, ["report"])
    assert run_stage_command(cfg, ["report", "--code", "0"]) == ""
