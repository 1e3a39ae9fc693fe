"""``censorwatch export``: pack a volunteer's own measurements for the working group.

The bundle is plain OONI JSONL, gzip-compressed: one measurement document per line, exactly
what ``censorwatch ingest file`` (and OONI's own tools) read. Only measurements made by our
probes are exported (never OONI's, which the working group fetches itself), each document
decoded from the store and run through :func:`censorwatch.measurement.scrub_probe_ip` once
more, so no address or other identifying key leaves the laptop even if an older version
stored one. The file is written to a temporary name and renamed, so a bundle is never half
written; ``--upload`` then posts it to a ``censorwatch collect serve`` endpoint.
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from censorwatch.cli import App, pass_app
from censorwatch.errors import CensorwatchError, InputError
from censorwatch.measurement import IDENTIFYING_KEYS, SOURCE_PROBE, scrub_probe_ip

if TYPE_CHECKING:
    from censorwatch.store import Store

# SQLAlchemy, the models and requests are imported by the functions that use them, not for
# `censorwatch export --help` (issue #15).

BUNDLE_CONTENT_TYPE = "application/gzip"


@dataclass
class ExportResult:
    path: Path
    measurements: int
    #: Rows without a stored document (nothing to hand over for them).
    skipped: int
    bytes: int


def parse_since(text: str) -> datetime:
    """``2023-01-01`` (midnight UTC) or a full ISO timestamp, as naive UTC."""
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time())
        from censorwatch.measurement import parse_time

        return parse_time(text, "--since")
    except (ValueError, CensorwatchError):
        raise InputError(f"--since: expected a date such as 2023-01-01, got {text!r}") from None


def bundle_documents(store: Store, since: datetime, stats: dict[str, int]) -> Iterator[dict]:
    """Our probes' documents since ``since``, oldest first, scrubbed again."""
    from sqlalchemy import select

    from censorwatch.store.codec import decode_document
    from censorwatch.store.models import MeasurementRow

    query = (
        select(MeasurementRow.document)
        .where(
            MeasurementRow.source == SOURCE_PROBE,
            MeasurementRow.measurement_start_time >= since,
        )
        .order_by(MeasurementRow.measurement_start_time, MeasurementRow.id)
        .execution_options(yield_per=500)
    )
    with store.session() as s:
        for blob in s.scalars(query):
            doc = decode_document(blob)
            if not isinstance(doc, dict):
                stats["skipped"] += 1
                continue
            scrub_probe_ip(doc)
            for key in IDENTIFYING_KEYS:
                doc.pop(key, None)
            stats["measurements"] += 1
            yield doc


def export_bundle(store: Store, since: datetime, output: Path) -> ExportResult:
    """Write the bundle atomically; an empty bundle is still a valid (empty) file."""
    output = output.expanduser()
    output.parent.mkdir(parents=True, exist_ok=True)
    stats = {"measurements": 0, "skipped": 0}
    fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".tmp")
    try:
        with (
            os.fdopen(fd, "wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz,
        ):
            for doc in bundle_documents(store, since, stats):
                line = json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n"
                gz.write(line.encode("utf-8"))
        os.replace(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return ExportResult(output, stats["measurements"], stats["skipped"], output.stat().st_size)


def upload_bundle(path: Path, url: str, token: str, timeout: float = 120.0) -> dict[str, Any]:
    """POST the bundle to a collector; returns its JSON answer or raises with its error."""
    import requests

    headers = {"Authorization": f"Bearer {token}", "Content-Type": BUNDLE_CONTENT_TYPE}
    try:
        with path.open("rb") as fh:
            response = requests.post(url, data=fh, headers=headers, timeout=timeout)
    except requests.RequestException as exc:
        raise CensorwatchError(f"upload to {url} failed: {type(exc).__name__}") from None
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    if response.status_code != 200:
        reason = answer.get("error") if isinstance(answer, dict) else None
        raise CensorwatchError(
            f"upload to {url} refused (HTTP {response.status_code}): {reason or response.reason}"
        )
    return answer if isinstance(answer, dict) else {}


@click.command("export")
@click.option("--since", required=True, metavar="DATE", help="Measurements from this date (UTC).")
@click.option(
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The bundle to write (OONI JSONL, gzip), e.g. bundle.jsonl.gz.",
)
@click.option("--upload", metavar="URL", help="Then post it to a `censorwatch collect` endpoint.")
@click.option(
    "--token",
    envvar="CENSORWATCH_UPLOAD_TOKEN",
    metavar="T",
    help="The collector's token (or $CENSORWATCH_UPLOAD_TOKEN).",
)
@pass_app
def export(app: App, since: str, output: Path, upload: str | None, token: str | None) -> None:
    """Pack your own probes' measurements (no IP address, no identity) for hand-over.

    The working group takes the file in with `censorwatch ingest file BUNDLE`, or receives it
    directly with --upload.
    """
    start = parse_since(since)
    if upload and not token:
        raise InputError("--upload needs --token (or $CENSORWATCH_UPLOAD_TOKEN)")
    result = export_bundle(app.store(), start, output)
    click.echo(
        f"{result.path}: {result.measurements} measurements since {start:%Y-%m-%d}"
        + (f" ({result.skipped} without a document, left out)" if result.skipped else "")
    )
    if upload:
        assert token is not None
        answer = upload_bundle(result.path, upload, token)
        click.echo(
            f"uploaded to {upload}: {answer.get('inserted', 0)} new, "
            f"{answer.get('merged', 0)} already there"
        )
