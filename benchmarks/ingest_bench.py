"""Ingest speed: API metadata rows and full web_connectivity documents, against the targets.

Run on demand (not a test); numbers and commands go to docs/performance.md.

    python benchmarks/ingest_bench.py api --rows 300000 --db sqlite:////tmp/cw-bench-api.sqlite3
    python benchmarks/ingest_bench.py api --rows 300000 --db postgresql+psycopg://127.0.0.1/test
    python benchmarks/ingest_bench.py raw --docs 50000 --db sqlite:////tmp/cw-bench-raw.sqlite3 \
        --oonidata-python /tmp/venv-oonidata/bin/python

Data: the real OONI rows and documents of ``../shared/fixtures/ooni/`` (or
``$CENSORWATCH_SHARED_FIXTURES``), varied (new report ids, inputs, times, country KH), never
invented. ``api`` times the path of ``ingest ooni`` after the HTTP answer: parse a page,
build the rows, write them with the page's cursor in one transaction. ``raw`` times the path
of ``ingest raw``/``ingest file`` after the download: gunzip, split lines, parse, scrub,
recompute the verdict, encode and store; then, side by side on the same files, oonidata
0.3.0's ``load_measurement`` only parsing (run with the Python of a separate virtual
environment, since oonidata pins old dependencies).

Both wall-clock and CPU time of this process are reported: the machine may be shared, and
PostgreSQL's own work happens in its server process, outside "one core" of ours.
"""

from __future__ import annotations

import argparse
import copy
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("CENSORWATCH_SHARED_FIXTURES", REPO.parent / "shared" / "fixtures"))
START = datetime(2023, 1, 1)
TEST_LIST_URLS = 2000


def real_api_rows() -> list[dict[str, Any]]:
    path = SHARED / "ooni" / "api" / "api_v1_measurements__web_connectivity_limit50.recorded.json"
    return json.loads(json.loads(path.read_text("utf-8"))["body"])["results"]


def real_documents() -> list[dict[str, Any]]:
    folder = SHARED / "ooni" / "measurements"
    return [json.loads(p.read_text("utf-8")) for p in sorted(folder.glob("*.json"))]


def api_pages(n: int, page_size: int) -> list[bytes]:
    """``n`` rows of a Cambodian year varied from the real ones, as API page bodies."""
    base = real_api_rows()
    step = timedelta(days=365) / n
    pages, page = [], []
    for i in range(n):
        row = dict(base[i % len(base)])
        when = START + step * i
        row["probe_cc"] = "KH"
        row["report_id"] = f"{when:%Y%m%dT%H%M%SZ}_webconnectivity_KH_38623_n1_b{i:010d}"
        # Inputs repeat, as in real data (a country's test list is measured again and again).
        row["measurement_start_time"] = when.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
        row["measurement_uid"] = f"{when:%Y%m%d%H%M%S}.000000_KH_webconnectivity_{i:016x}"
        page.append(row)
        if len(page) == page_size:
            pages.append(orjson.dumps({"metadata": {"count": -1}, "results": page}))
            page = []
    if page:
        pages.append(orjson.dumps({"metadata": {"count": -1}, "results": page}))
    return pages


def raw_files(n: int, folder: Path, per_file: int) -> list[Path]:
    """``n`` web_connectivity documents varied from the real ones, in .jsonl.gz files."""
    docs = [d for d in real_documents() if d.get("test_name") == "web_connectivity"]
    step = timedelta(days=30) / n
    files, lines = [], []
    for i in range(n):
        doc = copy.deepcopy(docs[i % len(docs)])
        when = START + step * i
        doc["probe_cc"] = "KH"
        doc["report_id"] = f"{when:%Y%m%dT%H%M%SZ}_webconnectivity_KH_38623_n1_r{i:010d}"
        # Inputs repeat, as in real data: a country's test list (Cambodia's has about 2,000
        # URLs) is measured again and again.
        doc["input"] = f"{doc['input'].rstrip('/')}/r{i % TEST_LIST_URLS}/"
        doc["measurement_start_time"] = when.strftime("%Y-%m-%d %H:%M:%S")
        lines.append(orjson.dumps(doc) + b"\n")
        if len(lines) == per_file or i == n - 1:
            path = folder / f"{when:%Y%m%d%H}_KH_webconnectivity.n{len(files)}.0.jsonl.gz"
            path.write_bytes(gzip.compress(b"".join(lines), 6))
            files.append(path)
            lines = []
    return files


def fresh_store(url: str) -> Any:
    """An empty store at ``url``; on PostgreSQL in a schema of its own, never anyone's tables."""
    import sqlalchemy as sa

    from censorwatch.store import open_store

    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    elif url.startswith("postgresql"):
        admin = sa.create_engine(url)
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE")
            conn.exec_driver_sql(f"CREATE SCHEMA {PG_SCHEMA}")
        admin.dispose()
        sep = "&" if "?" in url else "?"
        url = f"{url}{sep}options=-csearch_path%3D{PG_SCHEMA}"
    return open_store(url)


PG_SCHEMA = "cw_bench_ingest"


def timed(fn: Any) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def bench_api(args: argparse.Namespace) -> None:
    from censorwatch.ingest.api_client import parse_answer
    from censorwatch.ingest.pipeline import Ingestor
    from censorwatch.ingest.state import SourceState, save_state

    pages = api_pages(args.rows, args.page_size)
    store = fresh_store(args.db)
    ingestor = Ingestor(store, batch_size=args.page_size)
    state = SourceState("bench:api")

    def run() -> None:
        for i, body in enumerate(pages):
            data = parse_answer(body)  # as the API client does
            state.cursor = f"page {i}"
            ingestor.ingest_api_page(
                data["results"], f"page {i}", after=lambda conn: save_state(conn, state)
            )

    wall, cpu = timed(run)
    n = ingestor.stats.inserted
    print(
        f"api metadata rows -> {store.dialect}: {n:,} rows in {wall:.2f} s wall "
        f"({n / wall:,.0f}/s), {cpu:.2f} s CPU of this process ({n / cpu:,.0f}/s)"
    )
    # The same pages again: everything is known, nothing is inserted.
    ingestor.stats.inserted = ingestor.stats.merged = 0
    wall, cpu = timed(run)
    print(
        f"  rerun (all known, merged): {ingestor.stats.merged:,} rows in {wall:.2f} s wall "
        f"({ingestor.stats.merged / wall:,.0f}/s), {cpu:.2f} s CPU "
        f"({ingestor.stats.merged / cpu:,.0f}/s); inserted {ingestor.stats.inserted}"
    )
    store.close()
    if store.dialect == "sqlite":
        sqlite_floor(args, pages)


def sqlite_floor(args: argparse.Namespace, pages: list[bytes]) -> None:
    """SQLite alone: the same rows, schema and indexes, plain ``sqlite3`` ``executemany``.

    The parameter rows are the very values censorwatch binds (built before the clock starts),
    written into a fresh store made by the migrations, one transaction per page, on a
    connection with the same settings as the store's writer (WAL, synchronous NORMAL, foreign
    keys, 16 KiB pages, the 64 MiB bulk cache): what no Python code of ours can go below.
    """
    import sqlite3

    from censorwatch.ingest.pipeline import measurement_from_api_row
    from censorwatch.measurement import utcnow
    from censorwatch.store import bulk

    stamp = utcnow().isoformat(" ", "microseconds")
    batches = [
        [bulk._as_sqlite_row(measurement_from_api_row(r), stamp, None) for r in page]
        for page in (orjson.loads(body)["results"] for body in pages)
    ]
    fresh_store(args.db).close()
    conn = sqlite3.connect(args.db.removeprefix("sqlite:///"), isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(f"PRAGMA cache_size = -{bulk.SQLITE_BULK_CACHE_KIB}")

    def run() -> None:
        for rows in batches:
            conn.execute("BEGIN")
            conn.executemany(bulk._SQLITE_INSERT, rows)
            conn.execute("COMMIT")

    wall, cpu = timed(run)
    n = sum(map(len, batches))
    conn.close()
    print(
        f"floor, plain sqlite3 executemany of the same rows (schema, indexes, pages of "
        f"{args.page_size:,}): {n / wall:,.0f}/s wall, {n / cpu:,.0f}/s CPU "
        f"({cpu / n * 1e6:.1f} us a row)"
    )


OONIDATA_SCRIPT = r"""
import gzip, sys, time
import orjson
try:
    from oonidata.models.nettests import load_measurement
except ImportError:  # oonidata 0.3.0 keeps it in dataclient
    from oonidata.dataclient import load_measurement
files = sys.argv[1:]
n = 0
wall, cpu = time.perf_counter(), time.process_time()
for path in files:
    with gzip.open(path, "rb") as fh:
        for line in fh:
            load_measurement(orjson.loads(line))
            n += 1
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
print(f"{n} {wall} {cpu}")
"""


def bench_raw(args: argparse.Namespace) -> None:
    from censorwatch.ingest.files import iter_file
    from censorwatch.ingest.parallel import available_cores, resolve_workers
    from censorwatch.ingest.pipeline import Ingestor

    with tempfile.TemporaryDirectory(prefix="cw-bench-raw-") as tmp:
        files = raw_files(args.docs, Path(tmp), args.per_file)
        size = sum(p.stat().st_size for p in files)
        print(
            f"{args.docs:,} web_connectivity documents in {len(files)} files, {size / 1e6:.1f} MB"
        )

        # Parse + scrub + verdict + encode, no store: the pipeline's own CPU cost.
        parser = Ingestor(None, batch_size=args.batch)  # type: ignore[arg-type]

        def parse_only() -> None:
            for path in files:
                for record in iter_file(path):
                    parser.from_record(record)

        wall, cpu = timed(parse_only)
        print(
            f"censorwatch parse + scrub + verdict + encode (no store): {wall:.2f} s wall "
            f"({args.docs / wall:,.0f}/s), {cpu:.2f} s CPU ({args.docs / cpu:,.0f}/s); "
            f"{parser.stats.verdicts:,} verdicts, {parser.stats.quarantined} quarantined"
        )

        # One process, one core: repeated into a fresh store, the best run counts (on a shared
        # machine the others measure the neighbours' load as much as ours).
        best_wall = best_cpu = float("inf")
        for _ in range(args.repeat):
            store = fresh_store(args.db)
            ingestor = Ingestor(store, batch_size=args.batch, workers=1)

            def full(ingestor: Ingestor = ingestor) -> None:
                for path in files:
                    ingestor.ingest_records(iter_file(path))

            wall, cpu = timed(full)
            best_wall, best_cpu = min(best_wall, wall), min(best_cpu, cpu)
            print(
                f"censorwatch full ingest -> {store.dialect} in one process (parse, scrub, "
                f"verdict, encode, store): {wall:.2f} s wall ({args.docs / wall:,.0f}/s), "
                f"{cpu:.2f} s CPU ({args.docs / cpu:,.0f}/s); {ingestor.stats.inserted:,} "
                f"inserted, {ingestor.stats.verdicts:,} verdicts"
            )
            store.close()
        ours = args.docs / best_wall
        per_core = args.docs / best_cpu

        workers = resolve_workers(args.workers)
        if workers > 1:
            store = fresh_store(args.db)
            ingestor = Ingestor(store, batch_size=args.batch, workers=workers)

            def parallel() -> None:
                for path in files:
                    ingestor.ingest_records(iter_file(path))
                ingestor.close()  # pool start and stop are part of the run

            wall, _cpu = timed(parallel)
            ours = max(ours, args.docs / wall)
            print(
                f"censorwatch full ingest -> {store.dialect} with {workers} worker processes "
                f"on {available_cores()} cores: {wall:.2f} s wall ({ours:,.0f}/s); "
                f"{ingestor.stats.inserted:,} inserted, {ingestor.stats.verdicts:,} verdicts"
            )
            store.close()

        if args.oonidata_python:
            out = subprocess.run(
                [args.oonidata_python, "-c", OONIDATA_SCRIPT, *map(str, files)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            n, o_wall, o_cpu = int(out[0]), float(out[1]), float(out[2])
            theirs = n / o_wall
            print(
                f"oonidata 0.3.0 load_measurement (parse only): {o_wall:.2f} s wall "
                f"({theirs:,.0f}/s), {o_cpu:.2f} s CPU ({n / o_cpu:,.0f}/s)"
            )
            print(
                f"ratio, censorwatch full ingest / oonidata parse only: {ours / theirs:.2f}x "
                f"throughput (our best run, {available_cores()} cores), "
                f"{per_core / (n / o_cpu):.2f}x per core (CPU time)"
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    api = sub.add_parser("api", help="API metadata rows into the store")
    api.add_argument("--rows", type=int, default=300_000)
    api.add_argument("--page-size", type=int, default=5000)
    api.add_argument("--db", default="sqlite:////tmp/cw-bench-api.sqlite3")
    raw = sub.add_parser("raw", help="full web_connectivity documents from .jsonl.gz")
    raw.add_argument("--docs", type=int, default=50_000)
    raw.add_argument("--per-file", type=int, default=5000)
    raw.add_argument("--batch", type=int, default=5000)
    raw.add_argument("--db", default="sqlite:////tmp/cw-bench-raw.sqlite3")
    raw.add_argument("--repeat", type=int, default=3, help="one-process runs (best counts)")
    raw.add_argument(
        "--workers", type=int, default=0, help="worker processes for a second run (0: one per core)"
    )
    raw.add_argument("--oonidata-python", help="python of a venv with oonidata==0.3.0")
    args = parser.parse_args(argv)
    if not SHARED.joinpath("ooni").is_dir():
        sys.exit(f"shared fixtures not found at {SHARED}; set CENSORWATCH_SHARED_FIXTURES")
    {"api": bench_api, "raw": bench_raw}[args.what](args)


if __name__ == "__main__":
    main()
