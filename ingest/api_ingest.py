"""``censorwatch ingest ooni``: OONI's measurement list, incrementally, resumably, idempotently.

For each test name the store keeps a source state ``ooni-api:<CC>:<test>:<filter>``:

* ``watermark``: the end of the last range fully ingested; the next run starts
  ``overlap_hours`` before it, so measurements uploaded late (OONI Probe uploads whenever the
  phone is online again) are still picked up, and the idempotent writes make the overlap free;
* ``cursor``: the page to continue from, committed in the same transaction as the page before
  it, so a crash or Ctrl-C loses at most the page in flight and the next run goes on from there.

Ranges are cut into windows of at most 180 days; pages follow ``metadata.next_url`` in
ascending start time. The list is OONI's metadata (flags, scores, a pointer to the document);
by default only anomalous measurements are listed (``--only anomaly``, which includes the
confirmed ones), the evidence a report cites, because the API quota makes the whole list slow:
the complete data comes cheaper from the raw files (``censorwatch ingest raw``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from censorwatch.errors import InputError
from censorwatch.measurement import parse_time, utcnow
from censorwatch.store import Store

from .api_client import OoniApiClient, Page, api_time, windows
from .options import FILTERS
from .pipeline import Ingestor, scrub_document
from .state import SourceState, load_state, save_state

log = logging.getLogger("censorwatch.ingest")


def api_source(country: str, test_name: str, only: str) -> str:
    return f"ooni-api:{country}:{test_name}:{only}"


@dataclass
class ApiRange:
    """What one run of ``ingest ooni`` asks for."""

    country: str
    test_names: list[str]
    since: datetime | None = None
    until: datetime | None = None
    only: str = "anomaly"
    page_size: int = 1000
    overlap: timedelta = timedelta(hours=48)
    initial: timedelta = timedelta(days=365)


def ingest_api(
    store: Store,
    client: OoniApiClient,
    ingestor: Ingestor,
    request: ApiRange,
    on_window: Callable[[str, datetime, datetime], None] | None = None,
) -> None:
    """Ingest the measurement list for every test name of ``request``."""
    if request.only not in FILTERS:
        raise InputError(f"--only: expected one of {', '.join(FILTERS)}, got {request.only!r}")
    for test_name in request.test_names:
        _ingest_test(store, client, ingestor, request, test_name, on_window)


def _ingest_test(
    store: Store,
    client: OoniApiClient,
    ingestor: Ingestor,
    request: ApiRange,
    test_name: str,
    on_window: Callable[[str, datetime, datetime], None] | None,
) -> None:
    source = api_source(request.country, test_name, request.only)
    with store.engine.begin() as conn:
        state = load_state(conn, source)
    now = utcnow().replace(microsecond=0)
    end = request.until or now
    if request.since is not None:
        start = request.since
    elif state.watermark is not None:
        start = state.watermark - request.overlap
    else:
        start = now - request.initial
    if start >= end:
        log.info("%s: nothing to do (%s >= %s)", source, start, end)
        return

    cursor = _read_cursor(state)
    explicit = request.since is not None or request.until is not None
    resumable = cursor is not None and (
        not explicit or cursor["range"] == [api_time(start), api_time(end)]
    )
    if resumable:
        assert cursor is not None
        start = parse_time(cursor["range"][0])
        w_start, w_end = parse_time(cursor["window"][0]), parse_time(cursor["window"][1])
        log.info("%s: resuming the window %s..%s", source, w_start, w_end)
        if cursor.get("next_url"):
            if on_window:
                on_window(test_name, w_start, w_end)
            pages = client.measurement_pages(start_url=cursor["next_url"])
            _ingest_pages(store, ingestor, state, pages, start, end, (w_start, w_end))
        plan = list(windows(w_end, end))
    else:
        plan = list(windows(start, end))

    for w_start, w_end in plan:
        if on_window:
            on_window(test_name, w_start, w_end)
        params: dict[str, Any] = {
            "probe_cc": request.country,
            "test_name": test_name,
            "since": api_time(w_start),
            "until": api_time(w_end),
            "limit": request.page_size,
            "order_by": "measurement_start_time",
            "order": "asc",
            **FILTERS[request.only],
        }
        pages = client.measurement_pages(params)
        _ingest_pages(store, ingestor, state, pages, start, end, (w_start, w_end))

    # The whole range is in: move the watermark, drop the cursor (one transaction).
    state.cursor = None
    state.watermark = max(end, state.watermark) if state.watermark else end
    state.details = {**state.details, "last_range": [api_time(start), api_time(end)]}
    with store.engine.begin() as conn:
        save_state(conn, state)


def _ingest_pages(
    store: Store,
    ingestor: Ingestor,
    state: SourceState,
    pages: Iterable[Page],
    start: datetime,
    end: datetime,
    window: tuple[datetime, datetime],
) -> None:
    for page in pages:
        state.cursor = json.dumps(
            {
                "range": [api_time(start), api_time(end)],
                "window": [api_time(window[0]), api_time(window[1])],
                "next_url": page.next_url,
            }
        )
        state.details = {**state.details, "pages": int(state.details.get("pages", 0)) + 1}
        # The page's rows and the cursor past it are committed together, or not at all.
        ingestor.ingest_api_page(page.results, page.url, after=lambda conn: save_state(conn, state))


def _read_cursor(state: SourceState) -> dict[str, Any] | None:
    if not state.cursor:
        return None
    try:
        cursor = json.loads(state.cursor)
        if isinstance(cursor, dict) and {"range", "window"} <= cursor.keys():
            return cursor
    except ValueError:
        pass
    log.warning("%s: ignoring an unreadable cursor %r", state.source, state.cursor)
    return None


def ingest_measurement(client: OoniApiClient, ingestor: Ingestor, measurement_uid: str) -> None:
    """Fetch one measurement's full document and OONI's flags (``measurement_meta``), store it."""
    meta = client.measurement_meta(measurement_uid, full=True)
    ref = client.url(f"api/v1/measurement_meta?measurement_uid={measurement_uid}")
    ingestor.stats.read += 1
    try:
        m = measurement_from_meta(ingestor, meta)
    except Exception as exc:  # quarantined with the reason
        ingestor.reject(ref, None, f"{type(exc).__name__}: {exc}", json.dumps(meta))
        return
    ingestor.write([m])


def measurement_from_meta(ingestor: Ingestor, meta: dict[str, Any]) -> Any:
    """A measurement_meta answer -> Measurement: the raw document plus OONI's own flags.

    ``raw_measurement`` and ``scores`` come as JSON strings. Without a raw document (OONI
    sometimes lacks it) the metadata alone is stored, like a list row.
    """
    from censorwatch.measurement import Measurement

    scores = meta.get("scores")
    if isinstance(scores, str):
        try:
            scores = json.loads(scores)
        except ValueError:
            scores = None
    raw = meta.get("raw_measurement")
    if isinstance(raw, str) and raw.strip():
        raw = json.loads(raw)
    if isinstance(raw, dict):
        doc = scrub_document(raw)
        flags = {
            "anomaly": _flag(meta.get("anomaly")),
            "confirmed": _flag(meta.get("confirmed")),
            "failure": _flag(meta.get("failure")),
            "scores": scores if isinstance(scores, dict) else None,
        }
        m = ingestor.from_document(doc, **flags)
        uid = meta.get("measurement_uid")
        if isinstance(uid, str) and uid:
            m.measurement_uid = uid
        return m
    return Measurement.from_api_record({**meta, "scores": scores})


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None
