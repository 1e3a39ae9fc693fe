"""Benchmark: the full analysis of one Cambodian year (3 million measurements) on SQLite.

Target (issue 6): under 20 s and under 1 GiB of memory. Run on demand, not by the test suite:

    python benchmarks/analysis_year.py                  # generate (once) and run
    python benchmarks/analysis_year.py --rows 300000    # a quicker look
    python benchmarks/analysis_year.py --regenerate
    python benchmarks/analysis_year.py --db /tmp/bench2y.sqlite3 --previous-year

The store is generated directly with sqlite3 (synthetic rows, fast): about 2,000 URLs, eight
networks (documentation ASNs 64496-64503, RFC 5398), monthly volume varying through the
year, 80% OONI rows with fastpath flags and scores and 20% our own probe's rows with verdict
columns (on three of the networks), about 60 domains blocked by DNS on some networks (a
share of them fingerprint confirmed), background anomalies and failures, and about 1% app
tests. Nothing in it is real.

The analysis runs as ``censorwatch analyze --format json --output DIR`` in a child process,
whose wall time and peak RSS (``ru_maxrss`` of the child) are reported.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from censorwatch.store import open_store

DEFAULT_DB = Path(os.environ.get("TMPDIR", "/tmp")) / "censorwatch-bench-analysis.sqlite3"
ASNS = np.arange(64496, 64504)
ASN_WEIGHTS = np.array([0.30, 0.22, 0.15, 0.12, 0.08, 0.06, 0.04, 0.03])
#: Relative monthly volume (a training in March, a quiet rainy season, an election in July).
MONTH_WEIGHTS = np.array([0.8, 0.9, 1.3, 1.0, 0.9, 0.8, 1.4, 1.1, 0.8, 0.7, 0.9, 1.0])
CATEGORIES = ["NEWS", "HUMR", "POLR", "GRP", "COMT", "SRCH", "MMED", "FILE", "ANON", "GMB"]
APPS = ["whatsapp", "telegram", "signal", "facebook_messenger", "tor", "psiphon"]


def generate(db: Path, rows: int, seed: int = 2023) -> None:
    if db.exists():
        db.unlink()
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    open_store(f"sqlite:///{db}").close()  # schema via the migrations
    rng = np.random.default_rng(seed)

    n_urls = 2000
    urls = []
    for i in range(n_urls):
        scheme = "https" if i % 3 else "http"
        host = f"site{i:04d}.example" if i % 10 else f"www.site{i:04d}.example"
        urls.append((f"{scheme}://{host}/", host, CATEGORIES[i % len(CATEGORIES)]))
    blocked = set(rng.choice(n_urls, size=60, replace=False).tolist())
    blocking_asns = {
        u: set(rng.choice(ASNS, size=rng.integers(2, 6), replace=False).tolist()) for u in blocked
    }
    fingerprinted = {u for u in blocked if rng.random() < 0.4}

    # months of the local year 2023 in Phnom Penh (UTC+7), as naive UTC
    month_starts = [datetime(2023, m, 1) - timedelta(hours=7) for m in range(1, 13)]
    month_starts.append(datetime(2024, 1, 1) - timedelta(hours=7))
    per_month = np.floor(rows * MONTH_WEIGHTS / MONTH_WEIGHTS.sum()).astype(int)
    per_month[-1] += rows - per_month.sum()

    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA synchronous = OFF")
    cols = (
        "measurement_key, measurement_uid, source, test_name, input, domain, category_code, "
        "probe_cc, probe_asn, probe_network_name, report_id, measurement_start_time, anomaly, "
        "confirmed, failure, blocking, verdict_blocking, verdict_confirmed, scores, ingested_at"
    )
    sql = f"INSERT INTO measurements ({cols}) VALUES ({', '.join('?' * 20)})"
    now = "2024-01-02 00:00:00.000000"
    serial = 0
    scores_ok = '{"blocking_general":0.0,"blocking_global":0.0,"blocking_country":0.0}'
    scores_dns = '{"blocking_general":1.0,"analysis":{"blocking_type":"dns"}}'
    scores_cf = '{"blocking_general":2.0,"confirmed":true,"analysis":{"blocking_type":"dns"}}'
    scores_tcp = '{"blocking_general":1.0,"analysis":{"blocking_type":"tcp_ip"}}'
    for m in range(12):
        n = int(per_month[m])
        span = (month_starts[m + 1] - month_starts[m]).total_seconds()
        offsets = np.sort(rng.random(n) * span)
        url_idx = rng.integers(0, n_urls, size=n)
        asn = rng.choice(ASNS, size=n, p=ASN_WEIGHTS)
        # our probes: 20% of all rows, run by volunteers on three of the eight networks
        is_probe = rng.random(n) < 0.2
        asn = np.where(is_probe, rng.choice(ASNS[[0, 1, 3]], size=n), asn)
        is_app = rng.random(n) < 0.01
        app_idx = rng.integers(0, len(APPS), size=n)
        noise = rng.random(n)
        batch = []
        for j in range(n):
            serial += 1
            t = month_starts[m] + timedelta(seconds=float(offsets[j]))
            when = t.strftime("%Y-%m-%d %H:%M:%S.000000")
            a = int(asn[j])
            key = f"{serial:040x}"
            if is_app[j]:
                test = APPS[app_idx[j]]
                anomaly = bool(noise[j] < (0.6 if test == "tor" else 0.05))
                batch.append(
                    (
                        key,
                        f"{t:%Y%m%d%H%M%S}.000000_KH_{test}_{key[-16:]}",
                        "ooni",
                        test,
                        None,
                        None,
                        None,
                        "KH",
                        a,
                        f"Network {a}",
                        f"r{serial}",
                        when,
                        anomaly,
                        False,
                        bool(noise[j] > 0.98),
                        None,
                        None,
                        None,
                        None,
                        now,
                    )
                )
                continue
            u = int(url_idx[j])
            url, host, cat = urls[u]
            blocked_here = u in blocked and a in blocking_asns[u]
            if blocked_here and noise[j] < 0.92:
                confirmed = bool(u in fingerprinted and noise[j] < 0.5)
                method = "dns"
                status = "confirmed" if confirmed else "anomaly"
            elif noise[j] > 0.985:
                status, method, confirmed = "failure", None, False
            elif noise[j] > 0.965:
                status, method, confirmed = "anomaly", "tcp_ip", False
            else:
                status, method, confirmed = "ok", None, False
            if is_probe[j]:
                vb = (
                    method
                    if status in ("anomaly", "confirmed")
                    else (None if status == "failure" else "false")
                )
                batch.append(
                    (
                        key,
                        f"{t:%Y%m%d%H%M%S}.000000_KH_webconnectivity_cw{key[-14:]}",
                        "censorwatch",
                        "web_connectivity",
                        url,
                        host,
                        cat,
                        "KH",
                        a,
                        f"Network {a}",
                        f"p{serial}",
                        when,
                        status in ("anomaly", "confirmed"),
                        confirmed,
                        status == "failure",
                        vb,
                        vb,
                        confirmed,
                        None,
                        now,
                    )
                )
            else:
                if status == "confirmed":
                    sc = scores_cf
                elif status == "anomaly":
                    sc = scores_dns if method == "dns" else scores_tcp
                else:
                    sc = scores_ok
                batch.append(
                    (
                        key,
                        f"{t:%Y%m%d%H%M%S}.000000_KH_webconnectivity_{key[-16:]}",
                        "ooni",
                        "web_connectivity",
                        url,
                        host,
                        cat if noise[j] < 0.9 else None,
                        "KH",
                        a,
                        f"Network {a}",
                        f"o{serial}",
                        when,
                        status in ("anomaly", "confirmed"),
                        confirmed,
                        status == "failure",
                        None,
                        None,
                        None,
                        sc,
                        now,
                    )
                )
        con.executemany(sql, batch)
        con.commit()
        print(f"  month {m + 1:2d}: {n:,} rows", file=sys.stderr)
    con.executemany(
        "INSERT OR REPLACE INTO networks (asn, name, country_code, name_source, updated_at) "
        "VALUES (?, ?, 'KH', 'measurement', ?)",
        [(int(a), f"Network {int(a)}", now) for a in ASNS],
    )
    con.commit()
    con.execute("ANALYZE")
    con.close()


def add_previous_year(db: Path) -> None:
    """Copy every row one year back (2022, new keys and ids), so that the previous period the
    analysis compares with is as full as the year itself, as in a store's second year."""
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA synchronous = OFF")
    cols = [r[1] for r in con.execute("PRAGMA table_info(measurements)") if r[1] != "id"]
    shifted = {
        "measurement_key": "'p' || substr(measurement_key, 2)",
        "measurement_uid": "'p' || measurement_uid",
        "report_id": "'p' || report_id",
        "measurement_start_time": "datetime(measurement_start_time, '-1 year') || '.000000'",
    }
    select = ", ".join(shifted.get(c, c) for c in cols)
    con.execute(
        f"INSERT INTO measurements ({', '.join(cols)}) "
        f"SELECT {select} FROM measurements ORDER BY id"
    )
    con.commit()
    con.execute("ANALYZE")
    con.close()


def calibration() -> float:
    """CPU seconds of a fixed pure-Python loop, to compare machines (about 1 s on a current
    desktop; more on a slow or shared one)."""
    t0 = time.process_time()
    sum(range(10**8))
    return round(time.process_time() - t0, 2)


def run(db: Path, out: Path) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "censorwatch",
        "--quiet",
        "--db",
        f"sqlite:///{db}",
        "analyze",
        "--country",
        "KH",
        "--period",
        "2023-01-01..2023-12-31",
        "--format",
        "json",
        "--output",
        str(out),
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"analyze failed: {proc.stderr}")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    rss_kib = usage.ru_maxrss
    data = json.loads(proc.stdout)
    return {
        "command": " ".join(cmd),
        "wall_seconds": round(wall, 2),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "max_rss_mib": round(rss_kib / 1024, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "calibration_seconds": calibration(),
        "measurements": data["coverage"]["measurements"],
        "urls_tested": data["coverage"]["urls_tested"],
        "blocked": data["headline"]["blocked"],
        "confirmed": data["headline"]["confirmed"],
        "likely": data["headline"]["likely"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, default=DEFAULT_DB)
    ap.add_argument("--rows", type=int, default=3_000_000)
    ap.add_argument("--regenerate", action="store_true")
    ap.add_argument(
        "--previous-year",
        action="store_true",
        help="when generating, also copy the rows one year back (a full previous period)",
    )
    ap.add_argument("--out", type=Path, default=Path("/tmp/censorwatch-bench-analysis-out"))
    args = ap.parse_args()
    if args.regenerate or not args.db.exists():
        t0 = time.perf_counter()
        print(f"generating {args.rows:,} rows in {args.db} ...", file=sys.stderr)
        generate(args.db, args.rows)
        if args.previous_year:
            add_previous_year(args.db)
        print(f"generated in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    print(json.dumps(run(args.db, args.out), indent=2))


if __name__ == "__main__":
    main()
