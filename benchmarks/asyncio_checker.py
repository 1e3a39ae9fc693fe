"""An independent check of the probe's wall time: the same targets, measured by plain asyncio.

``benchmarks/probe_bench.py`` times ``censorwatch probe run`` over 2,000 URLs of which 10%
hang. This script starts the same loopback lab (``probe_bench.py --lab-only``: the resolver,
the web servers, the hanging "censor" and the test helper), then measures the same test list
with nothing of censorwatch: a few lines of asyncio per URL (a DNS A query over UDP to the
lab's resolver, a TCP connect, ``GET /`` and the answer read to the end), at most
``--concurrency`` at a time, each step bounded by ``--timeout``. Then it runs the probe on
the same lab and prints both wall times and their ratio.

The lower bound of both is set by the hanging URLs: 200 of them, each holding a slot for one
timeout, on 32 slots, is ``ceil(200 / 32) = 7`` rounds of 5 s, about 35 s (not the 31 s of
``200 x 5 / 32``: a slot cannot hold a fraction of a hanging site).

    python benchmarks/asyncio_checker.py [--urls 2000] [--hanging 0.1] [--timeout 5]

Run it on demand; record results in docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent


def dns_query(name: str) -> tuple[int, bytes]:
    qid = random.randrange(65536)
    header = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"
    return qid, header + qname + struct.pack("!HH", 1, 1)


def _skip_name(data: bytes, i: int) -> int:
    while True:
        length = data[i]
        if length == 0:
            return i + 1
        if length & 0xC0 == 0xC0:
            return i + 2
        i += 1 + length


def first_a_record(data: bytes) -> str | None:
    _qid, _flags, qd, an, _ns, _ar = struct.unpack("!HHHHHH", data[:12])
    i = 12
    for _ in range(qd):
        i = _skip_name(data, i) + 4
    for _ in range(an):
        i = _skip_name(data, i)
        rtype, _cls, _ttl, rdlen = struct.unpack("!HHIH", data[i : i + 10])
        i += 10
        if rtype == 1 and rdlen == 4:
            return socket.inet_ntoa(data[i : i + 4])
        i += rdlen
    return None


class _DNS(asyncio.DatagramProtocol):
    def __init__(self, query: bytes) -> None:
        self.query = query
        self.answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport) -> None:  # type: ignore[override]
        transport.sendto(self.query)

    def datagram_received(self, data: bytes, _addr) -> None:  # type: ignore[override]
        if not self.answer.done():
            self.answer.set_result(data)


async def resolve(name: str, server: tuple[str, int], timeout: float) -> str | None:
    _qid, query = dns_query(name)
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(lambda: _DNS(query), remote_addr=server)
    try:
        return first_a_record(await asyncio.wait_for(proto.answer, timeout))
    except (TimeoutError, OSError, struct.error, IndexError):
        return None
    finally:
        transport.close()


async def check(url: str, server: tuple[str, int], timeout: float) -> str:
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 80
    addr = await resolve(host, server, timeout)
    if addr is None:
        return "dns"
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(addr, port), timeout)
    except (TimeoutError, OSError):
        return "connect"
    try:
        writer.write(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        body = await asyncio.wait_for(reader.read(), timeout)
        return "ok" if body.startswith(b"HTTP/1.") else "http"
    except (TimeoutError, OSError):
        return "timeout"
    finally:
        writer.close()


async def check_all(urls: list[str], server: tuple[str, int], timeout: float, slots: int):
    sem = asyncio.Semaphore(slots)
    outcome: dict[str, int] = {}

    async def one(url: str) -> None:
        async with sem:
            result = await check(url, server, timeout)
        outcome[result] = outcome.get(result, 0) + 1

    await asyncio.gather(*(one(u) for u in urls))
    return outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--urls", type=int, default=2000)
    parser.add_argument("--hanging", type=float, default=0.1)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--no-probe", action="store_true", help="only the asyncio checker")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cw-asyncio-check-"))
    state = work / "lab.json"
    lab_proc = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "probe_bench.py"),
            "--lab-only",
            str(state),
            "--urls",
            str(args.urls),
            "--hanging",
            str(args.hanging),
            "--timeout",
            str(args.timeout),
        ],
    )
    try:
        deadline = time.monotonic() + 60
        while not (state.exists() and state.stat().st_size):
            if time.monotonic() > deadline or lab_proc.poll() is not None:
                raise SystemExit("the lab did not start")
            time.sleep(0.05)
        lab = json.loads(state.read_text(encoding="utf-8"))
        host, _, port = lab["resolver"].rpartition(":")
        rows = Path(lab["testlist"]).read_text(encoding="utf-8").splitlines()[1:]
        urls = [r.split(",", 1)[0] for r in rows if r]
        t0 = time.monotonic()
        outcome = asyncio.run(check_all(urls, (host, int(port)), args.timeout, args.concurrency))
        checker_s = time.monotonic() - t0
        hanging = int(args.urls * args.hanging)
        rounds = math.ceil(hanging / args.concurrency)
        result: dict[str, object] = {
            "urls": len(urls),
            "hanging": hanging,
            "timeout_s": args.timeout,
            "concurrency": args.concurrency,
            "lower_bound_s": rounds * args.timeout,
            "rounds": rounds,
            "checker_wall_s": round(checker_s, 1),
            "checker_outcome": outcome,
        }
        if not args.no_probe:
            config = work / "censorwatch.toml"
            config.write_text(
                f'data_dir = "{work / "data"}"\ncountry = "KH"\n[probe]\n'
                f'resolver = "{lab["resolver"]}"\ncontrol_url = "{lab["control_url"]}"\n'
                "control_resolvers = []\npublic_resolvers = []\naccept_risks = true\n"
                'probe_asn = 38623\nprobe_network_name = "Benchmark ISP"\n'
                "detect_network = false\n",
                encoding="utf-8",
            )
            env = {k: v for k, v in os.environ.items() if not k.startswith("CENSORWATCH_")}
            base = [sys.executable, "-m", "censorwatch", "-q", "--config", str(config)]
            subprocess.run([*base, "init"], check=True, capture_output=True, env=env, cwd=work)
            t0 = time.monotonic()
            run = subprocess.run(
                [
                    *base,
                    "probe",
                    "run",
                    "--testlist",
                    lab["testlist"],
                    "--timeout",
                    str(args.timeout),
                    "--concurrency",
                    str(args.concurrency),
                ],
                capture_output=True,
                text=True,
                env=env,
                cwd=work,
            )
            probe_s = time.monotonic() - t0
            result.update(
                probe_wall_s=round(probe_s, 1),
                probe_exit=run.returncode,
                probe_summary=run.stdout.strip().splitlines()[:1],
                probe_over_checker=round(probe_s / checker_s, 3),
                within_5_percent=probe_s <= checker_s * 1.05,
            )
        print(json.dumps(result, indent=2))
    finally:
        lab_proc.terminate()
        try:
            lab_proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            lab_proc.kill()


if __name__ == "__main__":
    main()
