"""The scheduler daemon: APScheduler 3 with its jobs kept in censorwatch's own database.

Why each setting:

* **SQLAlchemyJobStore in the store's database** (table ``apscheduler_jobs``): the schedule
  and each job's next run time survive a restart, a reboot or a crash, and a volunteer has one
  file to back up;
* **coalesce** and **misfire_grace_time**: a laptop that was asleep or off at probe time runs
  the missed probe once when it comes back (within the grace time), not once per missed day;
* **max_instances=1** plus the store lock (:mod:`censorwatch.scheduler.locks`): a job never
  overlaps itself, in this process or any other on the same database (a second scheduler or a
  manual ``probe run``); a run that finds its job busy is recorded as ``skipped``;
* every run goes through :func:`censorwatch.store.job_run` (start, end, outcome, counts,
  error in ``job_runs``) and a failure is logged, never raised into the scheduler: the job is
  simply retried at its next time;
* **SIGTERM/SIGINT** stop the scheduler from starting anything new, give a running job
  ``shutdown_grace_seconds`` to finish, then interrupt it (a ``JobInterrupted`` raised in its
  thread unwinds it, rolling back its open transaction, releasing its lock and recording the
  run as ``interrupted``). A second signal interrupts at once.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import inspect, select, text, update

from censorwatch.config import Config
from censorwatch.errors import CensorwatchError
from censorwatch.measurement import utcnow
from censorwatch.scheduler.jobs import JOBS, JobDefinition
from censorwatch.scheduler.locks import (
    JobLockedError,
    current_locks,
    describe_lock,
    installation_id,
    job_lock,
)
from censorwatch.scheduler.locks import release as release_lock
from censorwatch.scheduler.triggers import Schedule, parse_schedule, resolve_timezone
from censorwatch.store import Store, job_run, last_job_runs
from censorwatch.store.models import JobRun

log = logging.getLogger("censorwatch.scheduler")

JOBSTORE_TABLE = "apscheduler_jobs"
#: What APScheduler pickles for every job: a textual reference, resolved at run time.
RUN_JOB_REF = "censorwatch.scheduler.service:run_scheduled_job"
#: After the grace time and the interruption, how long to wait before giving up on a thread.
INTERRUPT_WAIT_SECONDS = 10.0


class JobInterrupted(KeyboardInterrupt):
    """Raised inside a running job's thread when the scheduler stops (unwinds, rolls back).

    A KeyboardInterrupt subclass so ``except Exception`` in a stage does not swallow it and
    :func:`censorwatch.store.job_run` records the run as ``interrupted``.
    """


@dataclass
class RunResult:
    """How one run ended: ``success``, ``failed``, ``interrupted`` or ``skipped``."""

    job: str
    outcome: str
    counts: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    run_id: int | None = None


@dataclass
class _Running:
    job: str
    thread: int
    holder: str
    run_id: int


_running: dict[str, _Running] = {}
_running_guard = threading.Lock()


def _record_skipped(store: Store, job: str, reason: str) -> int:
    now = utcnow()
    with store.session() as s:
        row = JobRun(
            job=job, started_at=now, finished_at=now, outcome="skipped", error=reason[:1000]
        )
        s.add(row)
        s.flush()
        return row.id


def execute_job(config: Config, store: Store, job: JobDefinition) -> RunResult:
    """Run ``job`` once, now, under its lock and recorded in ``job_runs``; never raises
    for an ordinary failure (the result says what happened)."""
    started = time.monotonic()
    installation_id(config.data_path)
    run_id: int | None = None
    counts: dict[str, Any] = {}
    try:
        with job_lock(store, job.name) as holder, job_run(store, job.name) as record:
            run_id = record.id
            with _running_guard:
                _running[job.name] = _Running(job.name, threading.get_ident(), holder, record.id)
            try:
                log.info("job %s: started", job.name)
                # Call first: a stage may replace record.counts (nested job_run, same record).
                produced = job.func(config, store) or {}
                record.counts.update(produced)
                counts = dict(record.counts)
            finally:
                with _running_guard:
                    _running.pop(job.name, None)
    except JobLockedError as exc:
        run_id = _record_skipped(store, job.name, str(exc))
        log.warning("job %s: skipped: %s", job.name, exc)
        return RunResult(job.name, "skipped", error=str(exc), run_id=run_id)
    except KeyboardInterrupt:
        log.warning("job %s: interrupted; its open transaction was rolled back", job.name)
        return RunResult(job.name, "interrupted", error="interrupted", run_id=run_id)
    except Exception as exc:
        message = str(exc) if isinstance(exc, CensorwatchError) else f"{type(exc).__name__}: {exc}"
        log.error("job %s: failed after %.1f s: %s", job.name, time.monotonic() - started, message)
        log.debug("job %s: traceback", job.name, exc_info=True)
        return RunResult(job.name, "failed", error=message, run_id=run_id)
    log.info("job %s: finished in %.1f s %s", job.name, time.monotonic() - started, counts)
    return RunResult(job.name, "success", counts=counts, run_id=run_id)


# -- the daemon -----------------------------------------------------------------------------

_active: SchedulerService | None = None


_NEVER = threading.Event()


def current_stop_event() -> threading.Event:
    """Set when the running scheduler starts to shut down; never set outside a scheduler.

    A job whose stage can stop cooperatively passes this on (e.g. the probe library's
    ``run_probe(..., stop=current_stop_event())``), so SIGTERM ends it cleanly within the
    grace time instead of by interruption.
    """
    service = _active
    return service.stop_requested if service is not None else _NEVER


def run_scheduled_job(name: str) -> None:
    """Entry point APScheduler calls (by textual reference) for every scheduled run."""
    service = _active
    if service is None:
        log.error("job %s: no scheduler is running in this process", name)
        return
    job = service.jobs.get(name)
    if job is None:
        log.error("job %s: not known to this version of censorwatch; skipped", name)
        return
    execute_job(service.config, service.store, job)


def configured_schedules(
    config: Config, jobs: Mapping[str, JobDefinition] | None = None
) -> list[Schedule]:
    """The schedule of every job the configuration turns on."""
    jobs = JOBS if jobs is None else jobs
    tz = resolve_timezone(config.schedule.timezone)
    out = []
    for job in jobs.values():
        if job.schedule_key is None:
            continue
        spec = getattr(config.schedule, job.schedule_key)
        window = getattr(config.schedule, job.window_key) if job.window_key else None
        sched = parse_schedule(
            job.name,
            spec,
            timezone=tz,
            jitter_seconds=config.schedule.jitter_seconds,
            window=window,
            state_dir=config.data_path,
        )
        if sched is not None:
            out.append(sched)
    return out


class SchedulerService:
    """One scheduler process: builds APScheduler, keeps its jobs in line with the config."""

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        jobs: Mapping[str, JobDefinition] | None = None,
        schedules: Iterable[Schedule] | None = None,
        jobstore_table: str = JOBSTORE_TABLE,
    ) -> None:
        self.config = config
        self.store = store
        installation_id(config.data_path)
        self.jobs = dict(JOBS if jobs is None else jobs)
        self.schedules = list(
            configured_schedules(config, self.jobs) if schedules is None else schedules
        )
        self.grace = config.schedule.misfire_grace_seconds
        self.stop_requested = threading.Event()
        self._interrupt_now = threading.Event()
        self.scheduler = BackgroundScheduler(
            jobstores={
                "default": SQLAlchemyJobStore(engine=store.engine, tablename=jobstore_table)
            },
            executors={"default": {"type": "threadpool", "max_workers": 4}},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": self.grace,
            },
            timezone=resolve_timezone(config.schedule.timezone),
        )

    def _job_name(self, sched: Schedule) -> str:
        return f"{sched.job}: {sched.signature}; grace {self.grace}s"

    def sync_jobs(self) -> None:
        """Add new jobs, replace changed ones, drop unconfigured ones, keep unchanged ones.

        An unchanged job keeps its persisted next run time: that is what makes a restart
        catch up a missed run (once) instead of starting the schedule afresh.
        """
        wanted = {s.job: s for s in self.schedules}
        for job in self.scheduler.get_jobs():
            if job.id not in wanted:
                log.info("job %s: no longer scheduled (removed)", job.id)
                self.scheduler.remove_job(job.id)
        for name, sched in wanted.items():
            if name not in self.jobs:
                raise CensorwatchError(f"no job named {name!r} to schedule")
            existing = self.scheduler.get_job(name)
            job_name = self._job_name(sched)
            if existing is not None and existing.name == job_name and existing.args == (name,):
                log.info("job %s: %s, next run %s", name, sched.description, existing.next_run_time)
                continue
            job = self.scheduler.add_job(
                RUN_JOB_REF,
                trigger=sched.trigger,
                args=[name],
                id=name,
                name=job_name,
                replace_existing=True,
            )
            log.info(
                "job %s: %s, next run %s",
                name,
                sched.description,
                getattr(job, "next_run_time", None) or "(when the scheduler resumes)",
            )

    def start(self) -> None:
        """Start processing: paused first, so persisted jobs can be compared with the config."""
        global _active
        _active = self
        self.scheduler.start(paused=True)
        self.sync_jobs()
        self.scheduler.resume()
        log.info("scheduler started on %s", self.store.display_url)

    def running_jobs(self) -> list[_Running]:
        with _running_guard:
            return [r for r in _running.values() if r.job in self.jobs]

    def shutdown(self, grace: float | None = None) -> bool:
        """Stop cleanly: nothing new starts, a running job finishes or is interrupted.

        Returns ``False`` when a job thread could not be stopped (the caller should exit the
        process, which closes its connection and so rolls its transaction back).
        """
        global _active
        grace = self.config.schedule.shutdown_grace_seconds if grace is None else grace
        self.stop_requested.set()  # jobs that watch current_stop_event() wind down now
        if self.scheduler.running:
            self.scheduler.pause()
        running = self.running_jobs()
        if running:
            log.info(
                "stopping: waiting up to %s s for %s to finish",
                grace,
                ", ".join(r.job for r in running),
            )
        deadline = time.monotonic() + max(grace, 0)
        while self.running_jobs() and time.monotonic() < deadline:
            if self._interrupt_now.wait(0.05):
                break
        stuck = self.running_jobs()
        for r in stuck:
            log.warning("stopping: interrupting job %s", r.job)
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(r.thread), ctypes.py_object(JobInterrupted)
            )
        deadline = time.monotonic() + INTERRUPT_WAIT_SECONDS
        while self.running_jobs() and time.monotonic() < deadline:
            time.sleep(0.05)
        clean = True
        for r in self.running_jobs():
            # Blocked in C code: record the truth, free the lock, let the exit roll back.
            clean = False
            self._abandon(r)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=clean)
        _active = None
        log.info("scheduler stopped")
        return clean

    def _abandon(self, r: _Running) -> None:
        log.error("stopping: job %s does not respond; exiting without it", r.job)
        with self.store.session() as s:
            s.execute(
                update(JobRun)
                .where(JobRun.id == r.run_id, JobRun.outcome == "running")
                .values(
                    outcome="interrupted",
                    finished_at=utcnow(),
                    error="the scheduler stopped while the job was blocked; rolled back",
                )
            )
        release_lock(self.store, r.job, r.holder)

    def run_forever(self) -> int:
        """Run in the foreground until SIGTERM or SIGINT; returns the exit status."""

        def on_signal(signum: int, _frame: Any) -> None:
            if self.stop_requested.is_set():
                log.warning("second %s: interrupting now", signal.Signals(signum).name)
                self._interrupt_now.set()
            else:
                log.info("%s received: stopping", signal.Signals(signum).name)
                self.stop_requested.set()

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.start()
            while not self.stop_requested.wait(0.2):
                pass
            clean = self.shutdown()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if not clean:
            logging.shutdown()
            os._exit(1)  # a job thread is stuck in C code: exiting closes its connection
        return 0


# -- status ---------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") + "Z" if value is not None else None


def next_run_times(store: Store) -> dict[str, str | None]:
    """Each persisted job's next run time (UTC ISO), read from APScheduler's table."""
    if not inspect(store.engine).has_table(JOBSTORE_TABLE):
        return {}
    with store.engine.connect() as conn:
        rows = conn.execute(text(f"SELECT id, next_run_time FROM {JOBSTORE_TABLE}")).all()
    out: dict[str, str | None] = {}
    for job_id, ts in rows:
        out[job_id] = (
            datetime.fromtimestamp(ts, UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"
            if ts is not None
            else None
        )
    return out


def schedule_status(
    config: Config, store: Store, jobs: Mapping[str, JobDefinition] | None = None
) -> list[dict[str, Any]]:
    """For every job: its schedule, next run, last run's outcome/duration/error, lock."""
    jobs = JOBS if jobs is None else jobs
    schedules = {s.job: s for s in configured_schedules(config, jobs)}
    upcoming = next_run_times(store)
    last = {r.job: r for r in last_job_runs(store)}
    locks = current_locks(store)
    with store.session() as s:
        last_error = dict(
            s.execute(
                select(JobRun.job, JobRun.error)
                .where(JobRun.outcome == "failed")
                .order_by(JobRun.id)
            ).all()
        )
    out = []
    for name in list(jobs) + sorted(set(upcoming) - set(jobs)):
        run = last.get(name)
        duration = (
            (run.finished_at - run.started_at).total_seconds()
            if run is not None and run.finished_at is not None
            else None
        )
        lock = locks.get(name)
        out.append(
            {
                "job": name,
                "schedule": schedules[name].description if name in schedules else "off",
                "next_run": upcoming.get(name),
                "last_started_at": _iso(run.started_at) if run else None,
                "last_outcome": run.outcome if run else None,
                "last_duration_seconds": duration,
                "last_counts": run.counts if run else None,
                "last_error": last_error.get(name),
                "running": describe_lock(lock) if lock is not None else None,
            }
        )
    return out
