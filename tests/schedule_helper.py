"""A scheduler process with fake jobs, for the tests that kill, stop or duplicate one.

Run as ``python schedule_helper.py SPEC_JSON``. SPEC holds ``db``, ``data_dir``, ``grace``
(shutdown grace seconds) and ``jobs``: ``{"name", "kind", "interval", "start" | "start_in"}``
where kind is ``tick`` (returns at once), ``slow`` (sleeps ``seconds``) or ``writer``
(writes ``rows`` measurements in ONE transaction, slowly, so a signal can arrive mid-way).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime, timedelta

from apscheduler.triggers.interval import IntervalTrigger

from censorwatch.config import load_config
from censorwatch.measurement import Measurement
from censorwatch.scheduler.jobs import JobDefinition
from censorwatch.scheduler.service import SchedulerService
from censorwatch.scheduler.triggers import Schedule
from censorwatch.store import open_store, write_measurements


def make_doc(i: int) -> dict:
    return {
        "test_name": "web_connectivity",
        "report_id": f"20240101T000000Z_webconnectivity_KH_38623_n1_{i:016d}",
        "input": f"https://site{i}.example.org/",
        "measurement_start_time": (datetime(2024, 1, 1) + timedelta(seconds=i)).strftime(
            "%Y-%m-%d %H:%M:%S"
        ),
        "probe_cc": "KH",
        "probe_asn": "AS38623",
        "test_keys": {"blocking": False, "accessible": True},
    }


def job_function(spec: dict):
    kind = spec["kind"]

    def tick(config, store):
        return {"ticks": 1}

    def slow(config, store):
        time.sleep(spec.get("seconds", 1.0))
        return {"slept": spec.get("seconds", 1.0)}

    def writer(config, store):
        rows = spec.get("rows", 40)
        with store.engine.begin() as conn:
            for i in range(rows):
                write_measurements(conn, [Measurement.from_document(make_doc(i))])
                time.sleep(spec.get("pause", 0.1))
        return {"measurements": rows}

    return {"tick": tick, "slow": slow, "writer": writer}[kind]


def schedules_and_jobs(specs: list[dict]) -> tuple[list[Schedule], dict[str, JobDefinition]]:
    schedules, jobs = [], {}
    for spec in specs:
        start = datetime.fromtimestamp(spec["start"], UTC)
        trigger = IntervalTrigger(seconds=spec["interval"], start_date=start, timezone=UTC)
        signature = f"test interval {spec['interval']} from {spec['start']}"
        schedules.append(Schedule(spec["name"], "test", trigger, signature, signature))
        jobs[spec["name"]] = JobDefinition(spec["name"], job_function(spec), None, spec["kind"])
    return schedules, jobs


def config_for(spec: dict):
    return load_config(
        overrides={
            "database_url": spec["db"],
            "data_dir": spec["data_dir"],
            "schedule.shutdown_grace_seconds": spec.get("grace", 30),
            "schedule.misfire_grace_seconds": 3600,
        },
        environ={},
    )


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    spec = json.loads(sys.argv[1])
    store = open_store(spec["db"])
    # "start_in": seconds from now, counted once this (slow to import) process is up.
    for job in spec["jobs"]:
        if "start_in" in job:
            job["start"] = time.time() + job.pop("start_in")
    schedules, jobs = schedules_and_jobs(spec["jobs"])
    kwargs = {"jobstore_table": spec["table"]} if spec.get("table") else {}
    service = SchedulerService(config_for(spec), store, jobs=jobs, schedules=schedules, **kwargs)
    print("ready " + json.dumps(spec["jobs"]), flush=True)
    return service.run_forever()


if __name__ == "__main__":
    sys.exit(main())
