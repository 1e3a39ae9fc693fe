"""``generate_report()``: analysis (or a frozen snapshot) -> model -> one HTML file.

Used by ``censorwatch report``, by ``censorwatch demo`` and by the scheduler's monthly
draft, so the three always produce the same thing from the same store.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from censorwatch.analysis import Period, analyze, country_timezone, parse_period
from censorwatch.config import Config
from censorwatch.errors import InputError
from censorwatch.fingerprints import fingerprints_from_config
from censorwatch.measurement import utcnow
from censorwatch.reports import editions
from censorwatch.reports.build import build_model, read_sections, write_data_files
from censorwatch.reports.i18n import get_language
from censorwatch.reports.model import Edition
from censorwatch.reports.render import render_report
from censorwatch.store import Store
from censorwatch.testlists.csvformat import atomic_write_bytes

log = logging.getLogger(__name__)


@dataclass
class ReportOutput:
    """What a report run wrote."""

    html: Path
    data_dir: Path
    edition_id: int
    data_hash: str
    config_hash: str
    from_snapshot: bool
    social: list[Path] = field(default_factory=list)


#: ``ingest_state`` row that ``censorwatch demo`` writes into its store: any report made from
#: that store carries the synthetic-data warning, whoever makes it.
SYNTHETIC_MARKER = "demo:synthetic-data"


def is_synthetic_store(store: Store) -> bool:
    from censorwatch.store.models import IngestState

    with store.session() as s:
        return s.get(IngestState, SYNTHETIC_MARKER) is not None


def resolve_period(config: Config, country: str, text: str) -> Period:
    settings = config.analysis
    zone = country_timezone(country, settings.timezone, settings.country_timezones)
    return parse_period(text, zone)


def _testlist_hash(config: Config) -> str | None:
    """Content hash of the configured test lists (None when they cannot be read)."""
    try:
        from censorwatch.testlists import resolve_testlist_paths
        from censorwatch.testlists.csvformat import content_hash, read_testlist

        paths = resolve_testlist_paths(config)
        return content_hash([read_testlist(p) for p in paths]) if paths else None
    except Exception as exc:  # a missing list must not stop a report
        log.warning("test list version unknown: %s", exc)
        return None


def generate_report(
    config: Config,
    store: Store,
    *,
    country: str,
    period: Period,
    output: Path,
    lang: str = "en",
    status: str = "draft",
    social: bool = False,
    refresh: bool = False,
    synthetic: bool = False,
    allow_empty: bool = False,
) -> ReportOutput:
    """Render the report of ``country`` over ``period`` to ``output`` (written atomically).

    An edition in review or endorsed status is frozen: its analysis result is snapshotted,
    and later runs for the same country and period render that snapshot (unless
    ``refresh``), so the endorsed figures never move.
    """
    if status not in editions.STATUSES:
        raise InputError(
            f"--status: expected one of {', '.join(editions.STATUSES)}, got {status!r}"
        )
    language = get_language(lang)
    country = country.upper()
    frozen = None if refresh else editions.frozen_edition(store, country, period.start, period.end)
    snapshot_ref = None
    if frozen is not None:
        result, previous = editions.load_snapshot(frozen)
        snapshot_ref = frozen.snapshot_ref
        log.info("rendering the frozen %s edition %s", frozen.status, frozen.id)
    else:
        fingerprints = fingerprints_from_config(config, store)
        result = analyze(store, country, period, config.analysis, fingerprints=fingerprints)
        previous = analyze(
            store,
            country,
            period.previous(),
            config.analysis,
            compare_previous=False,
            fingerprints=fingerprints,
        )
    if result.coverage.measurements == 0 and not allow_empty:
        raise InputError(
            f"no measurements for {country} from {period.start} to {period.end} in "
            f"{store.display_url}: ingest OONI data or run probes first (or check --db); "
            "--allow-empty writes the report anyway"
        )
    synthetic = synthetic or is_synthetic_store(store)
    d_hash = editions.data_hash(result)
    c_hash = editions.config_hash(config)
    if frozen is None and status in editions.FROZEN:
        path, sha = editions.save_snapshot(config, result, previous, d_hash)
        snapshot_ref = f"{path}#sha256={sha}"
    testlist_hash = _testlist_hash(config)
    output = output.expanduser()
    data_dir = output.parent / f"{output.stem}-data"
    data_files = write_data_files(result, data_dir)
    sections_dir = (
        Path(config.report.sections_dir).expanduser() if config.report.sections_dir else None
    )
    info = Edition(
        status=status,
        organisation=config.report.organisation,
        generated_at=utcnow(),
        data_hash=d_hash,
        config_hash=c_hash,
        testlist_hash=testlist_hash,
        snapshot=Path(snapshot_ref.split("#")[0]).name if snapshot_ref else None,
        synthetic=synthetic,
    )
    model = build_model(
        result,
        previous,
        store,
        language,
        info,
        title=config.report.title,
        sections=read_sections(sections_dir),
        data_files=data_files,
    )
    html = render_report(model, lang)
    atomic_write_bytes(output, html.encode("utf-8"))
    edition_id = editions.record_edition(
        store,
        country=country,
        period_start=period.start,
        period_end=period.end,
        lang=lang,
        status=status,
        data_hash=d_hash,
        config_hash=c_hash,
        testlist_hash=testlist_hash,
        snapshot_ref=snapshot_ref,
        output_path=str(output),
    )
    written: list[Path] = []
    if social:
        from censorwatch.reports.social import write_social

        written = write_social(model, language, output.parent / f"{output.stem}-social")
    return ReportOutput(
        html=output,
        data_dir=data_dir,
        edition_id=edition_id,
        data_hash=d_hash,
        config_hash=c_hash,
        from_snapshot=frozen is not None,
        social=written,
    )
