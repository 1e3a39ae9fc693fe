"""Raw files from a fake OONI bucket on loopback: listing, streaming, retries, resumption."""

from __future__ import annotations

import importlib.util
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from censorwatch.store.codec import decode_document
from censorwatch.store.models import MeasurementRow

_spec = importlib.util.spec_from_file_location(
    "_ooni_fake", Path(__file__).with_name("_ooni_fake.py")
)
fake = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fake)

from censorwatch.ingest.pipeline import Ingestor  # noqa: E402
from censorwatch.ingest.raw_files import (  # noqa: E402
    BucketClient,
    BucketError,
    RawRange,
    hour_prefixes,
    ingest_raw,
    raw_source,
)
from censorwatch.ingest.raw_files import test_dir_name as dir_name  # noqa: E402
from censorwatch.ingest.state import load_state  # noqa: E402

DAY = datetime(2023, 3, 1)


@pytest.fixture
def server():
    gen = fake.serve()
    yield next(gen)
    gen.close()


def bucket_for(server, **kw) -> BucketClient:
    opts = {"timeout": 5, "backoff_initial": 0.01, "backoff_max": 0.05}
    opts.update(kw)
    return BucketClient(server.bucket_url, **opts)


def fill(server, shared, files: dict[str, int], first: int = 0) -> dict[str, list[dict]]:
    """Put varied real documents into the bucket: key -> number of documents."""
    made = {}
    n = first
    for key, count in files.items():
        docs = fake.vary_documents(
            fake.real_documents(shared),
            count,
            start=DAY + timedelta(minutes=n),
            step=timedelta(seconds=7),
        )
        for i, doc in enumerate(docs):
            doc["report_id"] += f"-{n + i}"
            doc["test_name"] = key.split("/")[4].replace("webconnectivity", "web_connectivity")
        n += count
        server.objects[key] = fake.jsonl_gz(docs)
        made[key] = docs
    return made


def key(hour: int, test: str = "webconnectivity", cc: str = "KH", n: int = 0) -> str:
    return f"raw/20230301/{hour:02d}/{cc}/{test}/20230301{hour:02d}_{cc}_{test}.n{n}.0.jsonl.gz"


def count(store) -> int:
    with store.session() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(MeasurementRow))


def run(store, server, **kw) -> Ingestor:
    request = RawRange(
        country="KH",
        test_names=kw.pop("test_names", ["web_connectivity", "telegram"]),
        since=kw.pop("since", DAY),
        until=kw.pop("until", DAY + timedelta(days=1)),
        overlap=timedelta(hours=kw.pop("overlap", 2)),
    )
    ingestor = Ingestor(store, batch_size=kw.pop("batch_size", 20))
    ingest_raw(store, bucket_for(server, **kw), ingestor, request)
    return ingestor


def test_prefixes_and_names() -> None:
    assert dir_name("facebook_messenger") == "facebookmessenger"
    got = list(hour_prefixes("KH", datetime(2023, 3, 1, 22, 30), datetime(2023, 3, 2, 1)))
    assert got == ["raw/20230301/22/KH/", "raw/20230301/23/KH/", "raw/20230302/00/KH/"]


def test_lists_pages_and_ingests_wanted_files(store, server, shared) -> None:
    fill(
        server,
        shared,
        {
            key(3): 30,
            key(3, n=1): 12,
            key(3, n=2): 5,
            key(4, "telegram"): 4,
            key(5, "tor"): 6,  # not asked for
            key(5, cc="TH"): 9,  # another country
        },
    )
    server.list_page_size = 2  # continuation tokens in use
    ingestor = run(store, server)
    assert ingestor.stats.inserted == 51 and ingestor.stats.files == 4
    assert ingestor.stats.bytes == sum(len(server.objects[k]) for k in list(server.objects)[:4])
    with store.session() as s:
        names = set(s.scalars(sa.select(MeasurementRow.test_name)))
        doc = decode_document(s.scalars(sa.select(MeasurementRow.document)).first())
    assert names == {"web_connectivity", "telegram"}
    assert "probe_ip" not in doc and fake.FAKE_PROBE_IP not in json.dumps(doc)
    listings = [r for r in server.requests if "list-type=2" in r]
    assert any("prefix=raw%2F20230301%2F03%2FKH%2F" in r for r in listings)
    assert any("continuation-token=" in r for r in listings)


def test_rerun_stores_nothing_twice_and_skips_finished_files(store, server, shared) -> None:
    fill(server, shared, {key(1): 10, key(4): 10})
    until = DAY + timedelta(hours=3)
    run(store, server, until=until)  # lists 00..04h: uploads up to the overlap
    assert count(store) == 20
    # An explicit range is read again, except the files of the last overlap hours, which
    # are remembered; either way nothing is stored twice.
    again = run(store, server, until=until)
    assert again.stats.inserted == 0 and again.stats.merged == 10 and count(store) == 20
    # An incremental run re-lists the overlap hours but fetches only what is new there.
    fill(server, shared, {key(4, n=5): 3}, first=100)
    server.requests.clear()
    late = run(store, server, since=None, until=until)
    assert late.stats.inserted == 3 and late.stats.files == 1 and count(store) == 23
    downloads = [r for r in server.requests if "list-type" not in r]
    assert downloads == ["/ooni-data-eu-fra/" + key(4, n=5)]


def test_truncated_download_and_500_are_retried(store, server, shared) -> None:
    fill(server, shared, {key(6): 200})
    server.object_faults[key(6)] = ["truncated", "500"]
    ingestor = run(store, server)
    assert count(store) == 200 and ingestor.stats.inserted == 200


def test_failed_file_stops_and_rerun_resumes(store, server, shared) -> None:
    fill(server, shared, {key(1): 10, key(2): 10, key(3): 10})
    server.object_faults[key(2)] = ["500", "500", "500"]
    with pytest.raises(BucketError, match="rerun to resume"):
        run(store, server, max_attempts=3)
    assert count(store) == 10
    with store.engine.begin() as conn:
        st = load_state(conn, raw_source("KH"))
    assert json.loads(st.cursor)["last_key"] == key(1) and st.watermark is None
    server.requests.clear()
    ingestor = run(store, server, max_attempts=3)
    assert count(store) == 30 and ingestor.stats.files == 2
    assert not any(r.endswith(key(1)) for r in server.requests)  # finished file not fetched


def test_incremental_run_uses_the_watermark(store, server, shared) -> None:
    fill(server, shared, {key(1): 4})
    run(store, server, until=DAY + timedelta(hours=3), overlap=0)
    with store.engine.begin() as conn:
        st = load_state(conn, raw_source("KH"))
    assert st.watermark == DAY + timedelta(hours=3)
