"""``censorwatch probe run``: test lists in, judged measurements out (store and JSONL).

The run is recorded twice over: a ``probe_runs`` row (what was planned, measured, found, with
the content hash of the lists) and a ``job_runs`` row via :func:`censorwatch.store.job_run`.
Measurements are written in small transactions as they arrive, so an interrupted run keeps
everything measured until then, and the JSONL file is completed atomically (temporary file,
then rename) whatever happens.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from censorwatch import __version__
from censorwatch.config import Config
from censorwatch.errors import ConfigError, InputError
from censorwatch.fingerprints import fingerprints_from_config
from censorwatch.measurement import SOURCE_PROBE, Measurement, utcnow
from censorwatch.probes import dns as probe_dns
from censorwatch.probes.diagnosis import ProbeRunFailed, RunTally, diagnose
from censorwatch.probes.document import RunInfo, new_report_id
from censorwatch.probes.identity import network_identity
from censorwatch.probes.measure import ProbeContext, Prober, Result
from censorwatch.probes.runner import RunStats, Target, run_targets
from censorwatch.probes.tls import requests_verify
from censorwatch.store import Store, job_run, write_measurements
from censorwatch.store.models import ProbeRun
from censorwatch.testlists.csvformat import Testlist, content_hash, read_testlist
from censorwatch.verdict import apply_verdict

log = logging.getLogger(__name__)

#: Measurements per store transaction: small enough that Ctrl-C loses nothing measured.
WRITE_BATCH = 25


@dataclass
class RunOptions:
    """What ``probe run`` was asked to do (flags win over the configuration)."""

    testlists: Sequence[str] = ()
    limit: int | None = None
    categories: Sequence[str] = ()
    exclude_categories: Sequence[str] = ()
    output: str | None = None
    show_progress: bool = False


@dataclass
class RunSummary:
    run_id: int
    stats: RunStats
    testlist_hash: str
    network: str
    output: str | None = None
    by_blocking: dict[str, int] = field(default_factory=dict)
    #: One line saying why the run failed (every URL offline, the resolver dead, ...).
    diagnosis: str | None = None
    #: The measurements written to the store (judged and failures).
    stored: int = 0

    @property
    def failed(self) -> bool:
        """Whether the run did not end with every URL measured and judged."""
        return self.stats.measured < self.stats.planned or self.diagnosis is not None


def split_codes(values: Iterable[str]) -> list[str]:
    """``["PORN,GMB", "NEWS"]`` -> ``["PORN", "GMB", "NEWS"]`` (upper case, no blanks)."""
    out: list[str] = []
    for value in values:
        out.extend(v.strip().upper() for v in value.split(",") if v.strip())
    return list(dict.fromkeys(out))


def testlist_paths(cfg: Config, given: Sequence[str]) -> list[Path]:
    """``--testlist`` paths, else ``testlists.paths``, else the test-list stage's default."""
    if given:
        return [Path(p) for p in given]
    if cfg.testlists.paths:
        return [Path(p) for p in cfg.testlists.paths]
    import censorwatch.testlists as testlists

    resolver = getattr(testlists, "resolve_testlist_paths", None)
    if resolver is not None:
        return list(resolver(cfg))
    raise ConfigError(
        "no test list to run: give --testlist PATH (Citizen Lab CSV) or set testlists.paths "
        "in the configuration"
    )


def select_targets(
    lists: Sequence[Testlist],
    *,
    categories: Sequence[str],
    exclude: Sequence[str],
    limit: int | None,
) -> list[Target]:
    """URLs to test, in list order, each once, filtered by category, cut at ``limit``."""
    include = set(split_codes(categories))
    excluded = set(split_codes(exclude))
    seen: set[str] = set()
    targets: list[Target] = []
    for tl in lists:
        for row in tl.rows:
            url = row.url.strip()
            code = row.category_code.strip().upper()
            if not url or url in seen:
                continue
            if include and code not in include:
                continue
            if code in excluded:
                continue
            seen.add(url)
            targets.append(Target(url, code or None))
    if limit is not None:
        if limit < 0:
            raise InputError("--limit: must be 0 or more")
        targets = targets[:limit]
    return targets


def build_context(cfg: Config, run: RunInfo, store: Store | None = None) -> ProbeContext:
    """Resolver, control and trust settings of the run, from the effective configuration."""
    probe = cfg.probe
    if probe.resolver:
        nameservers = [probe_dns.parse_hostport(probe.resolver)]
        engine = "udp"
    else:
        nameservers = probe_dns.system_nameservers()
        engine = "system"
    if probe.timeout <= 0:
        raise ConfigError(f"probe.timeout: must be more than 0, got {probe.timeout}")
    verify = requests_verify()
    doh_timeout = min(probe.timeout, 5.0)
    doh = probe_dns.DoHClient(probe.control_resolvers, doh_timeout, verify=verify)
    public: dict[str, tuple[str, int]] = {}
    for text in probe.public_resolvers:
        host, port = probe_dns.parse_hostport(text)
        public[host] = (host, port)
    return ProbeContext(
        run=run,
        nameservers=nameservers,
        resolver_engine=engine,
        timeout=probe.timeout,
        user_agent=probe.user_agent,
        max_body_bytes=probe.max_body_bytes,
        control_url=probe.control_url,
        doh=doh,
        public_resolvers=public,
        verify=verify,
        fingerprints=fingerprints_from_config(cfg, store),
    )


class _JsonlWriter:
    """Documents one per line into a temporary file, renamed into place at the end."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
        )
        self.fh: IO[str] = os.fdopen(fd, "w", encoding="utf-8")

    def write(self, doc: dict[str, Any]) -> None:
        self.fh.write(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n")

    def close(self) -> None:
        self.fh.close()
        os.replace(self.tmp, self.path)


def run_probe(
    cfg: Config,
    store: Store,
    options: RunOptions,
    say: Callable[[str], None] = lambda _m: None,
    stop: threading.Event | None = None,
) -> RunSummary:
    """Measure the selected URLs, judge them, store them; returns what happened."""
    paths = testlist_paths(cfg, options.testlists)
    lists = [read_testlist(p) for p in paths]
    exclude = [*cfg.probe.exclude_categories, *options.exclude_categories]
    targets = select_targets(
        lists, categories=options.categories, exclude=exclude, limit=options.limit
    )
    list_hash = content_hash(lists)
    start = utcnow()
    resolvers = (
        [probe_dns.parse_hostport(cfg.probe.resolver)]
        if cfg.probe.resolver
        else probe_dns.system_nameservers()
    )
    identity = network_identity(
        cfg.probe.probe_asn,
        cfg.probe.probe_network_name,
        detect=cfg.probe.detect_network,
        resolvers=resolvers,
    )
    if identity.source == "unknown":
        say("network: unknown (AS0): set probe.probe_asn and probe.probe_network_name")
    run_info = RunInfo(
        report_id=new_report_id(start, cfg.country, identity.probe_asn),
        probe_cc=cfg.country,
        probe_asn=identity.probe_asn,
        probe_network_name=identity.probe_network_name,
        test_start_time=start,
        resolver_label=",".join(f"{h}:{p}" for h, p in resolvers),
    )
    ctx = build_context(cfg, run_info, store)
    network = f"AS{identity.probe_asn}" + (
        f" ({identity.probe_network_name})" if identity.probe_network_name else ""
    )
    say(
        f"testing {len(targets)} URL(s) from {', '.join(tl.name for tl in lists)} on {network}, "
        f"{cfg.probe.concurrency} at a time, timeout {cfg.probe.timeout:g} s"
        + ("" if cfg.probe.control_url else "; no test helper (control_url): DNS signals only")
    )
    with store.session() as s:
        row = ProbeRun(
            started_at=start,
            status="running",
            report_id=run_info.report_id,
            probe_cc=cfg.country,
            probe_asn=identity.probe_asn,
            probe_network_name=identity.probe_network_name or None,
            software_version=__version__,
            testlist_hash=list_hash,
            urls_planned=len(targets),
        )
        s.add(row)
        s.flush()
        run_id = row.id

    pending: list[Measurement] = []
    by_blocking: dict[str, int] = {}
    writer = _JsonlWriter(options.output) if options.output else None
    counts = {"stored": 0}

    def flush() -> None:
        if not pending:
            return
        with store.engine.begin() as conn:
            write_measurements(conn, pending, probe_run_id=run_id)
        counts["stored"] += len(pending)
        pending.clear()

    tally = RunTally()

    def on_result(result: Result) -> None:
        m = Measurement.from_document(result.document, SOURCE_PROBE)
        apply_verdict(m, result.verdict, ctx.fingerprints)
        pending.append(m)
        tally.add(result.document.get("test_keys") or {})
        key = "failed" if result.failure else (result.verdict.blocking or "undetermined")
        by_blocking[key] = by_blocking.get(key, 0) + 1
        if writer is not None:
            writer.write(result.document)
        if len(pending) >= WRITE_BATCH:
            flush()

    def on_failure(target: Target, exc: BaseException) -> Result:
        return prober.failed(target.url, target.category_code, exc)

    prober = Prober(ctx, aux_workers=max(8, cfg.probe.concurrency * 4))
    stats = RunStats(planned=len(targets))
    status, error = "failed", None
    diagnosis: str | None = None
    try:
        with job_run(store, "probe") as job:
            stats = run_targets(
                prober,
                targets,
                concurrency=cfg.probe.concurrency,
                per_host_rate=cfg.probe.per_host_rate,
                on_result=on_result,
                on_failure=on_failure,
                show_progress=options.show_progress,
                stop=stop,
            )
            flush()
            job.counts.update(
                planned=stats.planned,
                measured=stats.measured,
                failed=stats.failed,
                skipped=stats.skipped,
                anomalies=stats.anomalies,
                confirmed=stats.confirmed,
            )
            status = "interrupted" if stats.interrupted else "completed"
            if stats.interrupted:
                raise KeyboardInterrupt
            diagnosis = diagnose(
                started=stats.started,
                measured=stats.measured,
                failed=stats.failed,
                failure_kinds=stats.failures,
                tally=tally,
                resolver=run_info.resolver_label,
                control_url=cfg.probe.control_url,
            )
            if diagnosis is None and stats.measured < stats.planned:
                diagnosis = (
                    f"{stats.planned - stats.measured} of {stats.planned} URL(s) not measured"
                )
            if diagnosis is not None:
                raise ProbeRunFailed(f"probe run {run_id}: {diagnosis}")
    except KeyboardInterrupt:
        status = "interrupted"
        stats.interrupted = True
    except ProbeRunFailed:
        status, error = "failed", diagnosis
    except BaseException as exc:
        error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        prober.close()
        try:
            flush()
        finally:
            if writer is not None:
                writer.close()
            with store.session() as s:
                row = s.get(ProbeRun, run_id)
                if row is not None:
                    row.finished_at = utcnow()
                    row.status = status
                    row.urls_measured = stats.measured
                    row.anomalies = stats.anomalies
                    row.error = error
    return RunSummary(
        run_id,
        stats,
        list_hash,
        network,
        options.output,
        by_blocking,
        diagnosis=diagnosis,
        stored=counts["stored"],
    )
