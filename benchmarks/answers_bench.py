"""Benchmark: ``blocking_answers`` (DNS answers vetted by the machine) per candidate document.

The vetting decodes and reads every candidate document (rows of the domains with a DNS
anomaly), so its cost is a cost per candidate. This builds a SQLite store of ``--docs``
candidate documents made from OONI Probe's real v0.5.28 QA measurements
(``../shared/fixtures/ooni/webconnectivity-qa``, rewritten in memory: a sinkhole, an
OpenDNS-style answer and a bogon, over 2,000 domains and four networks, January to June
2023), plus ``--clean`` accessible ones that must not be read, and times the vetting alone:

    python benchmarks/answers_bench.py                 # 20,000 candidates, 20,000 clean
    python benchmarks/answers_bench.py --docs 5000 --clean 0
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from censorwatch.analysis import parse_period
from censorwatch.analysis.answers import blocking_answers
from censorwatch.analysis.load import Scope
from censorwatch.analysis.verdicts import Thresholds
from censorwatch.fingerprints import default_fingerprints
from censorwatch.ingest.files import iter_file
from censorwatch.ingest.pipeline import Ingestor
from censorwatch.store import open_store

REPO = Path(__file__).resolve().parent.parent
QA = REPO.parent / "shared" / "fixtures" / "ooni" / "webconnectivity-qa" / "measurements.jsonl"
ASNS = (23673, 38623, 38901, 131178)
#: QA line -> (the answer address in it, what it becomes)
KINDS = {
    110: ("83.224.65.41", "203.189.136.20"),  # refused connections: a sinkhole
    53: ("130.192.182.17", "146.112.61.106"),  # validates TLS: OpenDNS-style
    27: ("10.10.34.35", "10.20.30.40"),  # a bogon
}
CLEAN = 104  # successWithHTTPS


def documents(n: int, clean: int) -> list[str]:
    lines = QA.read_text(encoding="utf-8").splitlines()
    start = datetime(2023, 1, 1)
    out = []
    kinds = list(KINDS.items())
    for i in range(n + clean):
        if i < n:
            line, (old, new) = kinds[i % len(kinds)]
        else:
            line, (old, new) = CLEAN, ("", "")
        host = f"www.site{i % 2000:04d}.example"
        text = lines[line - 1].replace("www.example.com", host).replace("www.example.org", host)
        if old:
            text = text.replace(old, new)
        doc = json.loads(text)
        when = start + timedelta(seconds=i * (180 * 86400 // (n + clean)))
        asn = ASNS[i % len(ASNS)]
        doc.update(
            probe_cc="KH",
            probe_asn=f"AS{asn}",
            probe_network_name=f"net{asn}",
            measurement_start_time=when.strftime("%Y-%m-%d %H:%M:%S"),
            report_id=f"{when:%Y%m%dT%H%M%SZ}_webconnectivity_KH_{asn}_n1_bench{i}",
        )
        out.append(json.dumps(doc))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--clean", type=int, default=20_000)
    args = ap.parse_args()
    if not QA.is_file():
        print(f"needs the shared fixtures: {QA}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "docs.jsonl"
        path.write_text("\n".join(documents(args.docs, args.clean)) + "\n", encoding="utf-8")
        with open_store(f"sqlite:///{tmp}/bench.sqlite3") as store:
            Ingestor(store).ingest_records(iter_file(path))
            scope = Scope("KH", parse_period("2023-01..2023-06", "Asia/Phnom_Penh"))
            domains = [f"www.site{i:04d}.example" for i in range(2000)]
            fingerprints = default_fingerprints()
            with store.engine.connect() as conn:
                t0, c0 = time.perf_counter(), time.process_time()
                answers = blocking_answers(conn, scope, Thresholds(), fingerprints, {}, domains)
                wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(
        f"{args.docs:,} candidate documents (+{args.clean:,} clean): vetting {wall:.2f} s wall, "
        f"{cpu:.2f} s CPU ({args.docs / wall:,.0f} candidates/s), "
        f"load average {os.getloadavg()[0]:.2f}; "
        + ", ".join(f"{a['ip']} {a['verdict']}" for a in answers)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
