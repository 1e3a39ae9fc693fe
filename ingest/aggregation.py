"""``censorwatch ingest aggregation``: OONI's monthly counts, kept in ``ooni_aggregates``.

The aggregation endpoint is the cheap way to know how much OONI measured in the country (per
month, and per network, domain or category), how much of it was anomalous or confirmed, and so
whether ingest is complete: ``measurement_count`` per month against the rows in the store.
``time_grain=month`` is always sent explicitly (the API's default grain depends on the range).
A refetch replaces the counts of the same row, which grow while late uploads arrive.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from censorwatch.errors import InputError
from censorwatch.measurement import utcnow
from censorwatch.store import Store
from censorwatch.store.models import OoniAggregate

from .api_client import ApiError, OoniApiClient
from .options import AXES

log = logging.getLogger("censorwatch.ingest")

COUNTS = ("measurement_count", "anomaly_count", "confirmed_count", "failure_count", "ok_count")
TIME_GRAIN = "month"
_TABLE = OoniAggregate.__table__


def fetch_aggregation(
    client: OoniApiClient,
    *,
    country: str,
    test_name: str,
    since: datetime | date,
    until: datetime | date,
    axis: str = "",
) -> list[dict[str, Any]]:
    """One aggregation query; its rows ready for :func:`store_aggregates`."""
    if axis not in AXES:
        raise InputError(f"--axis: expected one of {', '.join(a or 'none' for a in AXES)}")
    params = {
        "probe_cc": country,
        "test_name": test_name,
        "since": _day(since),
        "until": _day(until),
        "axis_x": "measurement_start_day",
        "time_grain": TIME_GRAIN,
    }
    if axis:
        params["axis_y"] = axis
    data = client.aggregation(params)
    result = data["result"]
    rows = result if isinstance(result, list) else [result]
    return [
        row
        for raw in rows
        if (row := _row(raw, country=country, test_name=test_name, axis=axis)) is not None
    ]


def _day(value: datetime | date) -> str:
    """The aggregation endpoint takes days (as in OONI Explorer's own queries)."""
    return (value.date() if isinstance(value, datetime) else value).isoformat()


def _row(raw: Any, *, country: str, test_name: str, axis: str) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        return None
    day = raw.get("measurement_start_day")
    try:
        period = date.fromisoformat(str(day)[:10])
    except ValueError:
        log.warning("aggregation row without a usable measurement_start_day: %r", raw)
        return None
    value = raw.get(axis) if axis else ""
    row: dict[str, Any] = {
        "probe_cc": country,
        "test_name": test_name,
        "time_grain": TIME_GRAIN,
        "period_start": period.replace(day=1),
        "axis": axis,
        "axis_value": "" if value is None else str(value)[:255],
    }
    for name in COUNTS:
        count = raw.get(name, 0)
        if isinstance(count, bool) or not isinstance(count, int | float):
            raise ApiError(f"aggregation: {name} is not a number: {count!r}")
        row[name] = int(count)
    return row


def store_aggregates(conn: Connection, rows: Iterable[dict[str, Any]]) -> int:
    """Insert or replace aggregate rows (idempotent); returns how many were written."""
    now = utcnow()
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        key = tuple(row[k] for k in ("probe_cc", "test_name", "time_grain", "period_start"))
        key += (row["axis"], row["axis_value"])
        if key in merged:  # a daily grain folded into months: add the days up
            for name in COUNTS:
                merged[key][name] += row[name]
        else:
            merged[key] = {**row, "fetched_at": now}
    if not merged:
        return 0
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(_TABLE)
    stmt = stmt.on_conflict_do_update(
        index_elements=[
            "probe_cc",
            "test_name",
            "time_grain",
            "period_start",
            "axis",
            "axis_value",
        ],
        set_={name: stmt.excluded[name] for name in (*COUNTS, "fetched_at")},
    )
    conn.execute(stmt, list(merged.values()))
    return len(merged)


def ingest_aggregation(
    store: Store,
    client: OoniApiClient,
    *,
    country: str,
    test_names: list[str],
    since: datetime | date,
    until: datetime | date,
    axes: list[str],
) -> int:
    """Fetch and store every (test name, axis) combination; returns rows written."""
    written = 0
    for test_name in test_names:
        for axis in axes:
            rows = fetch_aggregation(
                client, country=country, test_name=test_name, since=since, until=until, axis=axis
            )
            with store.engine.begin() as conn:
                written += store_aggregates(conn, rows)
    return written
