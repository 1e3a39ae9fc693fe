"""A lock in the store, so one job never runs twice at the same time.

APScheduler's ``max_instances=1`` only covers one scheduler process. Two schedulers on one
database (a restart while the old process still finishes, two servers on one PostgreSQL), or a
volunteer's manual ``censorwatch probe run`` while the scheduled one runs, must also not
overlap: they would measure the same list twice and race on the same rows. So every run holds
a row in ``job_locks``:

* acquired atomically: ``INSERT ... ON CONFLICT DO NOTHING``, or a conditional ``UPDATE`` that
  takes over a lock whose holder died (``expires_at`` passed, or a process of this installation
  that no longer exists);
* kept alive by a heartbeat thread that pushes ``expires_at`` forward while the job runs;
* released by deleting the row, only if we still hold it.

The lock is re-entrant within one thread: the scheduled ``probe`` job holds ``probe`` and runs
the probe stage, which takes ``job_lock(store, "probe")`` again without blocking itself.

The holder names a random installation id, the process id and a random token: never a host
name or an address, because the store must hold nothing that identifies a volunteer.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import sqlite

from censorwatch.errors import CensorwatchError
from censorwatch.measurement import utcnow
from censorwatch.store.models import JobLock, JobRun

if TYPE_CHECKING:
    from censorwatch.store.engine import Store

log = logging.getLogger("censorwatch.scheduler")

#: A lock not renewed for this long belongs to a process that died.
DEFAULT_TTL = timedelta(minutes=2)
INSTALLATION_FILENAME = "installation-id"
#: Clocks of two machines sharing one PostgreSQL may differ this much.
CLOCK_SLACK = timedelta(seconds=5)

_installation_id: str | None = None
_process_only_id: str | None = None
_held: dict[tuple[str, str], _Held] = {}
_held_guard = threading.Lock()


class JobLockedError(CensorwatchError):
    """The job is already running elsewhere (another scheduler, or a manual run)."""

    exit_code = 75  # EX_TEMPFAIL: try again later


@dataclass
class _Held:
    holder: str
    thread: int
    depth: int


def installation_id(data_dir: Path | None = None) -> str:
    """A random id for this installation, kept in the data directory; never derived from it.

    The scheduler and ``run-now`` call this with the data directory first, so their locks name
    the installation and a restarted scheduler can take over the lock of its own killed
    predecessor at once. Without a data directory the id is random for this process only.
    """
    global _installation_id, _process_only_id
    if _installation_id is not None:
        return _installation_id
    if data_dir is None:
        if _process_only_id is None:
            _process_only_id = secrets.token_hex(8)
        return _process_only_id
    path = data_dir / INSTALLATION_FILENAME
    try:
        text = path.read_text(encoding="ascii").strip()
        if len(text) == 16 and all(c in "0123456789abcdef" for c in text):
            _installation_id = text
            return text
    except (OSError, UnicodeDecodeError):
        pass
    text = secrets.token_hex(8)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text + "\n", encoding="ascii")
        os.replace(tmp, path)
    except OSError:
        return installation_id()  # read-only data dir: a per-process id; stale locks wait TTL
    _installation_id = text
    return text


def _new_holder() -> str:
    return f"{installation_id()}:{os.getpid()}:{secrets.token_hex(4)}"


def _holder_is_dead(holder: str) -> bool:
    """Whether ``holder`` is a process of this installation that no longer exists."""
    inst, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if inst != installation_id() or not pid_text.isdigit() or os.name != "posix":
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def _insert(store: Store):  # type: ignore[no-untyped-def]
    table = JobLock.__table__
    if store.dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    return sqlite.insert(table)


def try_acquire(store: Store, name: str, holder: str, ttl: timedelta = DEFAULT_TTL) -> bool:
    """Take the lock ``name`` for ``holder`` if it is free or stale; one statement each way."""
    now = utcnow()
    values = {
        "name": name,
        "holder": holder,
        "acquired_at": now,
        "heartbeat_at": now,
        "expires_at": now + ttl,
    }
    with store.engine.begin() as conn:
        # RETURNING, not rowcount: psycopg reports -1 for INSERT ... ON CONFLICT DO NOTHING.
        inserted = conn.execute(
            _insert(store)
            .values(values)
            .on_conflict_do_nothing(index_elements=["name"])
            .returning(JobLock.name)
        ).first()
        if inserted is not None:
            return True
        current = conn.execute(
            select(JobLock.holder, JobLock.acquired_at, JobLock.expires_at).where(
                JobLock.name == name
            )
        ).first()
        if current is None:
            return False  # released between the two statements: the next attempt gets it
        if current.expires_at < now:
            why = "whose holder stopped renewing it"
        elif _holder_is_dead(current.holder):
            why = "of a process that no longer runs"
        else:
            return False
        taken = conn.execute(
            update(JobLock)
            .where(JobLock.name == name, JobLock.holder == current.holder)
            .values(values)
            .returning(JobLock.name)
        ).first()
        if taken is None:
            return False
        log.warning("job %s: took over the lock %s", name, why)
        # The run that lock protected never finished: say so instead of "running" forever.
        conn.execute(
            update(JobRun)
            .where(
                JobRun.job == name,
                JobRun.outcome == "running",
                JobRun.started_at >= current.acquired_at - CLOCK_SLACK,
            )
            .values(
                outcome="interrupted",
                finished_at=now,
                error="the process running it stopped without finishing (killed or crashed)",
            )
        )
        return True


def renew(store: Store, name: str, holder: str, ttl: timedelta = DEFAULT_TTL) -> bool:
    """Push the lock's expiry forward; ``False`` when it is no longer ours."""
    now = utcnow()
    with store.engine.begin() as conn:
        return (
            conn.execute(
                update(JobLock)
                .where(JobLock.name == name, JobLock.holder == holder)
                .values(heartbeat_at=now, expires_at=now + ttl)
                .returning(JobLock.name)
            ).first()
            is not None
        )


def release(store: Store, name: str, holder: str) -> None:
    with store.engine.begin() as conn:
        conn.execute(delete(JobLock).where(JobLock.name == name, JobLock.holder == holder))


def current_locks(store: Store) -> dict[str, JobLock]:
    """The locks held now (expired ones included: the caller can compare ``expires_at``)."""
    with store.session() as s:
        return {row.name: row for row in s.scalars(select(JobLock))}


def describe_lock(row: JobLock, now: datetime | None = None) -> str:
    now = now or utcnow()
    state = "expired" if row.expires_at < now else "held"
    pid = row.holder.split(":")[1] if row.holder.count(":") >= 2 else "?"
    return f"{state} by process {pid} since {row.acquired_at:%Y-%m-%d %H:%M:%S} UTC"


class _Heartbeat(threading.Thread):
    def __init__(self, store: Store, name: str, holder: str, ttl: timedelta) -> None:
        super().__init__(name=f"censorwatch-lock-{name}", daemon=True)
        self.store, self.lock_name, self.holder, self.ttl = store, name, holder, ttl
        self.stopped = threading.Event()

    def run(self) -> None:
        interval = max(self.ttl.total_seconds() / 4, 0.05)
        while not self.stopped.wait(interval):
            try:
                if not renew(self.store, self.lock_name, self.holder, self.ttl):
                    log.error("job %s: lost its lock (taken over as stale)", self.lock_name)
                    return
            except Exception as exc:  # a database hiccup: try again at the next beat
                log.warning("job %s: could not renew its lock: %s", self.lock_name, exc)


@contextlib.contextmanager
def job_lock(store: Store, name: str, *, ttl: timedelta = DEFAULT_TTL) -> Iterator[str]:
    """Hold the store-wide lock of job ``name`` for the ``with`` block, or raise at once.

    Raises :class:`JobLockedError` (a one-line CLI error) when another process or thread runs
    the job. Re-entrant within one thread. Yields the holder string.
    """
    key = (store.url, name)
    me = threading.get_ident()
    with _held_guard:
        held = _held.get(key)
        if held is not None and held.thread == me:
            held.depth += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        assert held is not None
        try:
            yield held.holder
        finally:
            with _held_guard:
                held.depth -= 1
        return

    holder = _new_holder()
    if held is not None or not try_acquire(store, name, holder, ttl):
        row = current_locks(store).get(name)
        since = f" ({describe_lock(row)})" if row is not None else ""
        raise JobLockedError(f"job {name!r} is already running{since}; try again later")
    with _held_guard:
        _held[key] = _Held(holder=holder, thread=me, depth=1)
    beat = _Heartbeat(store, name, holder, ttl)
    beat.start()
    try:
        yield holder
    finally:
        beat.stopped.set()
        with _held_guard:
            _held.pop(key, None)
        try:
            release(store, name, holder)
        except Exception as exc:  # the row expires by itself; never hide the job's own error
            log.warning("job %s: could not release its lock: %s", name, exc)
