"""Benchmark: ``censorwatch probe run`` over 2,000 URLs, 10% of them hanging, on loopback.

Targets: issue 4, with ``--timeout 5`` and the default concurrency (32), finished in under
45 s; issue 13, every URL stored (exit status 0, 2,000 documents) and a peak below 80 MiB
(the probe imports no analysis or report code). The lower bound of the wall time is 7 rounds
of 5 s, about 35 s (docs/performance.md; ``benchmarks/asyncio_checker.py`` checks it
independently on the same targets).

Everything runs on this machine, on 127.0.0.0/8: a lab process (a resolver answering 2,000
names, a web server, and a "hanging" web server that accepts connections and never answers),
a test helper (``censorwatch control serve``) and the probe itself, each in its own process,
as a real deployment would have them. The probe's peak memory is its maximum resident set
size (``getrusage(RUSAGE_CHILDREN)``, measured for the probe process alone).

    python benchmarks/probe_bench.py [--urls 2000] [--hanging 0.1] [--timeout 5]

Run it on demand (it is not part of the test suite); record results in docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

NORMAL_ADDR = "127.0.0.2"
HANGING_ADDR = "127.0.0.6"
#: The test helper connects from here; the "censor" lets it through (a blocked site hangs
#: for the probe only, as when a middlebox drops the probe's traffic).
CONTROL_SOURCE = "127.0.0.100"


def hostnames(n: int, hanging: float) -> list[tuple[str, bool]]:
    """``n`` names; every ``1/hanging``-th one points to the hanging server."""
    step = round(1 / hanging) if hanging > 0 else 0
    return [(f"site{i:05d}.bench.test", bool(step) and i % step == 0) for i in range(n)]


def serve_lab(state_file: Path, n: int, hanging: float, role: str) -> None:
    """A lab process: the resolver (``dns``) or the web servers (``web``); writes where they
    listen to ``state_file``, then waits to be terminated."""
    from censorship_lab import HANG, LabResolver, Site, WebServer, page

    zone = {name: [HANGING_ADDR if hangs else NORMAL_ADDR] for name, hangs in hostnames(n, hanging)}
    if role == "dns":
        resolver = LabResolver(zone)
        state = {"resolver": resolver.address}
    else:
        web = hang = None
        for _ in range(20):
            web = WebServer(NORMAL_ADDR, Site(body=page("Benchmark Site Home", 8000)))
            try:
                hang = WebServer(
                    HANGING_ADDR,
                    Site(body=page("Blocked Site Home", 8000)),
                    sites={name: Site(body=page("Blocked Site Home", 8000)) for name in zone},
                    censor={name: Site(HANG) for name in zone},
                    uncensored={CONTROL_SOURCE},
                    port=web.port,
                )
                break
            except OSError:
                web.close()
        if web is None or hang is None:
            raise SystemExit("no shared free port")
        state = {"port": web.port}
    state_file.write_text(json.dumps(state), encoding="utf-8")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


def _wait_for(path: Path, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size:
            return json.loads(path.read_text(encoding="utf-8"))
        time.sleep(0.05)
    raise SystemExit(f"lab did not start ({path})")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--urls", type=int, default=2000)
    parser.add_argument("--hanging", type=float, default=0.1)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=None, help="default: the probe's")
    parser.add_argument("--no-control", action="store_true", help="run without a test helper")
    parser.add_argument("--serve-lab", metavar="STATE_FILE", help=argparse.SUPPRESS)
    parser.add_argument("--role", default="web", help=argparse.SUPPRESS)
    parser.add_argument("--wrap", default="", help="prefix for the probe command (e.g. a profiler)")
    parser.add_argument(
        "--fresh-store",
        action="store_true",
        help="measure the first run on a new store (schema created by the run itself); "
        "by default `censorwatch init` creates it first, as a set-up would",
    )
    parser.add_argument(
        "--lab-only",
        metavar="STATE_FILE",
        help="start the lab and the helper, write where they listen, and wait (for "
        "asyncio_checker.py)",
    )
    args = parser.parse_args()
    if args.serve_lab:
        serve_lab(Path(args.serve_lab), args.urls, args.hanging, args.role)
        return

    work = Path(tempfile.mkdtemp(prefix="cw-probe-bench-"))
    procs: list[subprocess.Popen] = []
    try:
        for role in ("dns", "web"):
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        __file__,
                        "--serve-lab",
                        str(work / f"{role}.json"),
                        "--role",
                        role,
                        "--urls",
                        str(args.urls),
                        "--hanging",
                        str(args.hanging),
                    ]
                )
            )
        lab = {**_wait_for(work / "dns.json"), **_wait_for(work / "web.json")}
        control_url = ""
        if not args.no_control:
            helper = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "censorwatch",
                    "control",
                    "serve",
                    "--port",
                    "0",
                    "--resolver",
                    lab["resolver"],
                    "--allow-private",
                    "--source-address",
                    CONTROL_SOURCE,
                    "--timeout",
                    str(args.timeout),
                ],
                stderr=subprocess.PIPE,
                text=True,
                cwd=work,
            )
            procs.append(helper)
            assert helper.stderr is not None
            control_url = helper.stderr.readline().rsplit(" ", 1)[1].strip()
        testlist = work / "bench.csv"
        rows = ["url,category_code,category_description,date_added,source,notes"]
        rows += [
            f"http://{name}:{lab['port']}/,NEWS,,2026-11-26,bench,"
            for name, _ in hostnames(args.urls, args.hanging)
        ]
        testlist.write_text("\n".join(rows) + "\n", encoding="utf-8")
        if args.lab_only:
            Path(args.lab_only).write_text(
                json.dumps({**lab, "control_url": control_url, "testlist": str(testlist)}),
                encoding="utf-8",
            )
            # Stopped by SIGTERM (asyncio_checker.py) as by Ctrl-C: the finally below stops the
            # lab's processes, which would otherwise outlive us and hold the caller's pipes.
            signal.signal(signal.SIGTERM, _interrupt)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                return
        config = work / "censorwatch.toml"
        config.write_text(
            f'data_dir = "{work / "data"}"\ncountry = "KH"\n[probe]\n'
            f'resolver = "{lab["resolver"]}"\ncontrol_url = "{control_url}"\n'
            "control_resolvers = []\npublic_resolvers = []\naccept_risks = true\n"
            'probe_asn = 38623\nprobe_network_name = "Benchmark ISP"\n'
            "detect_network = false\n",
            encoding="utf-8",
        )
        cmd = [
            sys.executable,
            "-m",
            "censorwatch",
            "-q",
            "--config",
            str(config),
            "probe",
            "run",
            "--testlist",
            str(testlist),
            "--timeout",
            str(args.timeout),
            "--output",
            str(work / "out.jsonl"),
        ]
        if args.concurrency:
            cmd += ["--concurrency", str(args.concurrency)]
        if args.wrap:
            cmd = [*args.wrap.split(), *cmd]
        env = {k: v for k, v in os.environ.items() if not k.startswith("CENSORWATCH_")}
        if not args.fresh_store:
            subprocess.run(
                [sys.executable, "-m", "censorwatch", "-q", "--config", str(config), "init"],
                check=True,
                capture_output=True,
                env=env,
                cwd=work,
            )
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        run = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=work)
        elapsed = time.monotonic() - t0
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        # ru_maxrss of the children is the largest of any waited-for child: `init` is far
        # smaller than the probe, so this is the probe's peak.
        peak_kib = usage.ru_maxrss
        cpu = (usage.ru_utime - before.ru_utime) + (usage.ru_stime - before.ru_stime)
        if run.returncode != 0:
            raise SystemExit(f"probe run failed ({run.returncode}): {run.stderr[-2000:]}")
        blocking: dict[str, int] = {}
        count = 0
        for line in (work / "out.jsonl").read_text(encoding="utf-8").splitlines():
            doc = json.loads(line)
            key = str(doc["test_keys"]["blocking"])
            blocking[key] = blocking.get(key, 0) + 1
            count += 1
        peak_mb = peak_kib / 1024
        result = {
            "urls": args.urls,
            "hanging": int(args.urls * args.hanging),
            "timeout_s": args.timeout,
            "concurrency": args.concurrency or 32,
            "control": bool(control_url),
            "measured": count,
            "wall_s": round(elapsed, 1),
            "peak_rss_mb": round(peak_mb, 1),
            "probe_cpu_s": round(cpu, 1),
            "fresh_store": args.fresh_store,
            "verdicts": blocking,
            "summary": run.stdout.strip(),
            "within_target": elapsed < 45 and peak_mb < 80 and count == args.urls,
        }
        print(json.dumps(result, indent=2))
        if not result["within_target"]:
            raise SystemExit(1)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main()
