"""The scheduled pipeline: triggers, store locks, the APScheduler daemon, alerts, hand-over.

``censorwatch schedule run`` keeps probes, OONI ingest, analysis and the draft report running
on their own; ``export`` and ``collect`` move a volunteer's measurements to the working group.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from censorwatch.scheduler.locks import JobLockedError, job_lock

__all__ = ["JobLockedError", "job_lock"]


def __getattr__(name: str) -> Any:
    """The lock names, from :mod:`censorwatch.scheduler.locks` (SQLAlchemy, the ORM models)
    when first used: ``censorwatch schedule --help`` and ``export``/``collect`` do not need
    them to start (issue #15)."""
    if name in __all__:
        from censorwatch.scheduler import locks

        return getattr(locks, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
