"""The scheduled pipeline: triggers, store locks, the APScheduler daemon, alerts, hand-over.

``censorwatch schedule run`` keeps probes, OONI ingest, analysis and the draft report running
on their own; ``export`` and ``collect`` move a volunteer's measurements to the working group.
"""

from __future__ import annotations

from censorwatch.scheduler.locks import JobLockedError, job_lock

__all__ = ["JobLockedError", "job_lock"]
