"""``censorwatch ingest raw``: OONI's raw measurement files from the public bucket.

OONI publishes every measurement in the bucket ``ooni-data-eu-fra`` (readable without an AWS
account) as ``raw/YYYYMMDD/HH/CC/<testname without underscores>/*.jsonl.gz``, one document per
line. Files are filed by the hour they were *uploaded*, not measured, so a range of
measurement days is listed with ``overlap`` hours more at its end (phones upload late).

Listing is S3's ``ListObjectsV2`` over plain HTTPS (unsigned ``GET ?list-type=2&prefix=``, XML
answer, paged by ``continuation-token``), one prefix per hour and country; each file is then
streamed through gzip into the pipeline in batches, never held whole in memory.

Progress (source ``ooni-raw:<CC>``): files are ingested in key order, which is upload order;
after a file's last batch its key is committed with that batch as the cursor, so a rerun of an
interrupted range skips what was finished. The keys of the last ``overlap`` hours are
remembered (with their sizes) so an incremental run re-lists those hours for late files
without fetching again what it already has.
"""

from __future__ import annotations

import json
import logging
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import requests
import urllib3
from isal import igzip

from censorwatch.errors import CensorwatchError, InputError
from censorwatch.measurement import parse_time, utcnow
from censorwatch.store import Store

from .api_client import USER_AGENT, TransientError, api_time, make_retrying
from .files import ByteCounter, Record, iter_lines
from .pipeline import Ingestor
from .state import SourceState, load_state, save_state

log = logging.getLogger("censorwatch.ingest")

_S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


class BucketError(CensorwatchError):
    """The bucket could not be listed or a file could not be fetched, even after retries."""


@dataclass(frozen=True)
class RawFile:
    """One object of the bucket."""

    key: str
    size: int

    @property
    def test_dir(self) -> str:
        parts = self.key.split("/")
        return parts[4] if len(parts) > 5 else ""


def test_dir_name(test_name: str) -> str:
    """``web_connectivity`` -> ``webconnectivity``, as the bucket spells test folders."""
    return test_name.replace("_", "")


def hour_prefixes(country: str, since: datetime, until: datetime) -> Iterator[str]:
    """``raw/YYYYMMDD/HH/CC/`` for every upload hour that overlaps ``[since, until)``."""
    hour = since.replace(minute=0, second=0, microsecond=0)
    while hour < until:
        yield f"raw/{hour:%Y%m%d}/{hour:%H}/{country}/"
        hour += timedelta(hours=1)


def prefix_hour(key: str) -> datetime | None:
    """The upload hour a key is filed under."""
    parts = key.split("/")
    try:
        return datetime.strptime(parts[1] + parts[2], "%Y%m%d%H")
    except (IndexError, ValueError):
        return None


class BucketClient:
    """Unsigned listing and streaming downloads of a public S3 bucket over HTTPS."""

    def __init__(
        self,
        bucket_url: str,
        *,
        timeout: float = 60.0,
        max_attempts: int = 8,
        backoff_initial: float = 2.0,
        backoff_max: float = 300.0,
        session: requests.Session | None = None,
        sleep: Any = None,
    ) -> None:
        self.bucket_url = bucket_url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()
        self.session.headers.setdefault("User-Agent", USER_AGENT)
        kwargs: dict[str, Any] = {
            "max_attempts": max_attempts,
            "backoff_initial": backoff_initial,
            "backoff_max": backoff_max,
        }
        if sleep is not None:
            kwargs["sleep"] = sleep
        self.retrying = make_retrying("OONI bucket", **kwargs)
        self.max_attempts = max_attempts

    def object_url(self, key: str) -> str:
        return f"{self.bucket_url}/{quote(key, safe='/')}"

    def list(self, prefix: str) -> Iterator[RawFile]:
        """Every object under ``prefix``, in key order, page after page."""
        token: str | None = None
        while True:
            params = {"list-type": "2", "prefix": prefix}
            if token:
                params["continuation-token"] = token
            try:
                root = self.retrying(self._list_once, params)
            except TransientError as exc:
                raise BucketError(f"cannot list {prefix}: {exc}") from None
            for item in root.iter(f"{_S3_NS}Contents"):
                key = item.findtext(f"{_S3_NS}Key") or ""
                size = int(item.findtext(f"{_S3_NS}Size") or 0)
                if key.endswith(".jsonl.gz"):
                    yield RawFile(key, size)
            truncated = (root.findtext(f"{_S3_NS}IsTruncated") or "").lower() == "true"
            token = root.findtext(f"{_S3_NS}NextContinuationToken")
            if not truncated or not token:
                return

    def _list_once(self, params: dict[str, str]) -> ET.Element:
        try:
            resp = self.session.get(self.bucket_url + "/", params=params, timeout=self.timeout)
            body = resp.content
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise TransientError(f"listing failed: {exc}") from None
        except requests.exceptions.ChunkedEncodingError as exc:
            raise TransientError(f"listing cut short: {exc}") from None
        if resp.status_code in (429, 503) or resp.status_code >= 500:
            raise TransientError(f"HTTP {resp.status_code} listing {params['prefix']}")
        if resp.status_code >= 400:
            raise BucketError(f"HTTP {resp.status_code} listing {params['prefix']}: {body[:200]!r}")
        try:
            root = ET.fromstring(body)
        except ET.ParseError as exc:
            raise TransientError(f"listing is not complete XML ({exc})") from None
        if not root.tag.endswith("ListBucketResult"):
            raise BucketError(f"unexpected listing answer <{root.tag}> for {params['prefix']}")
        return root

    def open(self, key: str) -> requests.Response:
        """A streaming response for ``key`` (the caller reads ``.raw`` and closes it)."""
        try:
            resp = self.session.get(self.object_url(key), stream=True, timeout=self.timeout)
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise TransientError(f"download of {key} failed: {exc}") from None
        if resp.status_code == 429 or resp.status_code >= 500:
            resp.close()
            raise TransientError(f"HTTP {resp.status_code} fetching {key}")
        if resp.status_code >= 400:
            resp.close()
            raise BucketError(f"HTTP {resp.status_code} fetching {key}")
        resp.raw.decode_content = False  # the gzip is the file itself; we unzip while reading
        return resp


@dataclass
class RawRange:
    """What one run of ``ingest raw`` asks for."""

    country: str
    test_names: list[str]
    since: datetime | None = None
    until: datetime | None = None
    overlap: timedelta = timedelta(hours=48)
    initial: timedelta = timedelta(days=2)


def raw_source(country: str) -> str:
    return f"ooni-raw:{country}"


def ingest_raw(store: Store, bucket: BucketClient, ingestor: Ingestor, request: RawRange) -> None:
    """List and ingest the raw files of ``request``; resumable and incremental."""
    if not request.test_names:
        raise InputError("no test names to ingest")
    source = raw_source(request.country)
    with store.engine.begin() as conn:
        state = load_state(conn, source)
    now = utcnow().replace(microsecond=0)
    if request.since is not None:
        start = request.since
        # Measurements of [since, until) were uploaded in [since, until + overlap).
        end = (request.until or now) + request.overlap
    else:
        start = (state.watermark - request.overlap) if state.watermark else now - request.initial
        end = request.until + request.overlap if request.until else now
    end = min(end, now + timedelta(hours=1))
    done: dict[str, int] = dict(state.details.get("done", {}))
    cursor = _read_cursor(state)
    rng = [api_time(start), api_time(end)]
    last_key = cursor["last_key"] if cursor and cursor.get("range") == rng else ""
    if last_key:
        log.info("%s: resuming after %s", source, last_key)
    wanted = {test_dir_name(t) for t in request.test_names}

    for prefix in hour_prefixes(request.country, start, end):
        for raw in bucket.list(prefix):
            if raw.test_dir not in wanted:
                continue
            if (last_key and raw.key <= last_key) or done.get(raw.key) == raw.size:
                continue
            _ingest_file(bucket, ingestor, raw, store, state, rng, done)

    # Keep only the keys the next incremental run will list again.
    horizon = end - request.overlap
    state.details = {
        **state.details,
        "done": {k: v for k, v in done.items() if (prefix_hour(k) or end) >= horizon},
        "last_range": rng,
    }
    state.cursor = None
    state.watermark = max(end, state.watermark) if state.watermark else end
    with store.engine.begin() as conn:
        save_state(conn, state)


def _ingest_file(
    bucket: BucketClient,
    ingestor: Ingestor,
    raw: RawFile,
    store: Store,
    state: SourceState,
    rng: list[str],
    done: dict[str, int],
) -> None:
    """One file, retried whole on a broken download (what was written is simply met again)."""

    def mark_done(conn: Any) -> None:
        done[raw.key] = raw.size
        state.cursor = json.dumps({"range": rng, "last_key": raw.key})
        state.details = {**state.details, "done": dict(done)}
        save_state(conn, state)

    url = bucket.object_url(raw.key)
    try:
        bucket.retrying(_ingest_stream, bucket, raw, url, ingestor)
    except TransientError as exc:
        # Stop here: the cursor stays on the last finished file, so a rerun retries this one
        # (going on would let the watermark pass a file we do not have).
        raise BucketError(
            f"{url}: failed after {bucket.max_attempts} tries ({exc}); rerun to resume"
        ) from None
    ingestor.stats.files += 1
    # The file is complete: its key becomes the cursor, in a transaction of its own.
    with store.engine.begin() as conn:
        mark_done(conn)


def _ingest_stream(bucket: BucketClient, raw: RawFile, url: str, ingestor: Ingestor) -> None:
    resp = bucket.open(raw.key)
    counter = ByteCounter(resp.raw)
    base = ingestor.stats.bytes
    try:
        with igzip.IGzipFile(fileobj=counter, mode="rb") as stream:  # type: ignore[arg-type]
            ingestor.ingest_records(_checked(iter_lines(stream, url), counter, ingestor, base))
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError, EOFError) as exc:
        ingestor.stats.bytes = base
        raise TransientError(f"download of {raw.key} broke off: {exc}") from None
    except _Truncated as exc:
        ingestor.stats.bytes = base
        raise TransientError(str(exc)) from None
    finally:
        resp.close()
    ingestor.stats.bytes = base + counter.count


class _Truncated(Exception):
    pass


def _checked(
    records: Iterable[Record], counter: ByteCounter, ingestor: Ingestor, base: int
) -> Iterator[Record]:
    """Records of a download; a truncated gzip is a failed download (retried), not bad data."""
    for i, record in enumerate(records):
        if record.error is not None and record.data is None:
            raise _Truncated(f"{record.ref}: {record.error}")
        if i % 256 == 0:
            ingestor.stats.bytes = base + counter.count
        yield record


def _read_cursor(state: SourceState) -> dict[str, Any] | None:
    if not state.cursor:
        return None
    try:
        value = json.loads(state.cursor)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def parse_day(value: str) -> datetime:
    """``--since``/``--until``: a date (midnight UTC) or a full timestamp."""
    return parse_time(value, "date")
