"""Issue #13: a probe run loses nothing and tells the truth when the network is missing.

A loopback lab where the resolver refuses or stays silent, the control answers slowly or
fails, and lists of 1, 5, 33 and 100 URLs: every URL a run starts is stored as exactly one
measurement (judged, or a failure with its reason), every time; offline is never blocking.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from censorship_lab import SILENT, LabResolver
from lab_setup import HONEST, running_lab
from sqlalchemy import select

from censorwatch.probes.diagnosis import OFFLINE
from censorwatch.probes.service import RunOptions, run_probe
from censorwatch.store import open_store
from censorwatch.store.models import JobRun, MeasurementRow, ProbeRun

SIZES = (1, 5, 33, 100)
#: Short steps: the races are about timing, not about the length of a timeout.
STEP = 0.5


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with running_lab(tmp_path_factory.mktemp("runs-lab")) as lab:
        yield lab


class _Helper(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024


def _serve(handler: type[BaseHTTPRequestHandler]) -> tuple[_Helper, str]:
    server = _Helper(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def slow_helper(forward_to: str, delay: tuple[float, float], fail: bool = False):
    """A test helper that answers after a random delay: the real answer, or HTTP 502."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            time.sleep(random.uniform(*delay))
            if fail:
                self.send_response(502)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            answer = requests.post(forward_to, data=body, timeout=30).content
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    return _serve(Handler)


def closed_port() -> int:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def url_list(lab, n: int, name: str, hosts: tuple[str, ...] = ("ok.test", "khmer.test")) -> Path:
    rows = ["url,category_code,category_description,date_added,source,notes"]
    for i in range(n):
        rows.append(f"http://{hosts[i % len(hosts)]}:{lab.port}/p{i},NEWS,,2026-12-05,lab,")
    path = lab.directory / name
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def stored_docs(store, run_id: int) -> list[dict]:
    with store.session() as s:
        rows = s.scalars(select(MeasurementRow).where(MeasurementRow.probe_run_id == run_id)).all()
        return [(r.input, r.verdict_blocking, r.anomaly) for r in rows]


def check_every_url_stored(store, summary, n: int, out: Path) -> list[dict]:
    stats = summary.stats
    assert stats.planned == stats.started == n
    assert stats.measured + stats.failed == n and stats.skipped == 0
    assert summary.stored == n
    rows = stored_docs(store, summary.run_id)
    assert len(rows) == n and len({r[0] for r in rows}) == n
    docs = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(docs) == n and len({d["input"] for d in docs}) == n
    return docs


@pytest.mark.parametrize("resolver", ["refuses", "silent"])
def test_offline_is_stored_as_failures_never_as_blocking(lab, tmp_path, resolver):
    """Resolver, control and sites all fail: every URL is a stored failure, none blocking."""
    silent = LabResolver({h: SILENT for h in HONEST})
    helper, helper_url = slow_helper(lab.control_url, (0.0, 0.3), fail=True)
    try:
        address = f"127.0.0.1:{closed_port()}" if resolver == "refuses" else silent.address
        store = open_store(f"sqlite:///{tmp_path / 'offline.sqlite3'}")
        for n in SIZES:
            cfg = lab.config(tmp_path, resolver=address, control_url=helper_url, timeout=STEP)
            out = tmp_path / f"offline-{n}.jsonl"
            summary = run_probe(
                cfg,
                store,
                RunOptions(testlists=[str(url_list(lab, n, f"off{n}.csv"))], output=str(out)),
            )
            docs = check_every_url_stored(store, summary, n, out)
            assert summary.stats.failed == n and summary.stats.measured == 0
            assert summary.stats.anomalies == 0
            assert summary.diagnosis == OFFLINE
            for doc in docs:
                tk = doc["test_keys"]
                assert tk["blocking"] is None and tk["accessible"] is None
                assert tk["x_failure"].startswith("no DNS answer and no control")
                assert tk["x_failure_kind"] == "offline" and tk["x_partial"] is True
                assert tk["x_verdict"]["anomaly"] is False
            assert all(
                blocking is None and not anomaly
                for _u, blocking, anomaly in stored_docs(store, summary.run_id)
            )
            with store.session() as s:
                run = s.get(ProbeRun, summary.run_id)
                assert run.status == "failed" and run.error == OFFLINE
                job = s.scalars(select(JobRun).order_by(JobRun.id.desc())).first()
                assert job.outcome == "failed" and "offline" in job.error
        store.close()
    finally:
        helper.shutdown()
        helper.server_close()
        silent.close()


def test_a_slow_control_loses_no_url_however_the_race_goes(lab, tmp_path):
    """The control answers after the site, at random: the finishing pool's tail is kept."""
    helper, helper_url = slow_helper(lab.control_url, (0.0, 1.2))
    store = open_store(f"sqlite:///{tmp_path / 'race.sqlite3'}")
    try:
        rounds = 0
        for repeat in range(2):
            for n in SIZES:
                cfg = lab.config(tmp_path, control_url=helper_url, timeout=STEP * 4, concurrency=8)
                out = tmp_path / f"race-{repeat}-{n}.jsonl"
                summary = run_probe(
                    cfg,
                    store,
                    RunOptions(testlists=[str(url_list(lab, n, f"r{n}.csv"))], output=str(out)),
                )
                docs = check_every_url_stored(store, summary, n, out)
                assert summary.stats.measured == n and summary.diagnosis is None, summary
                assert all(d["test_keys"]["blocking"] is False for d in docs)
                rounds += 1
        assert rounds == 2 * len(SIZES)
    finally:
        store.close()
        helper.shutdown()
        helper.server_close()


def test_a_failing_control_with_a_working_resolver_stores_every_url(lab, tmp_path):
    """The helper fails (HTTP 502) but the sites answer: every URL is stored and judged."""
    helper, helper_url = slow_helper(lab.control_url, (0.0, 0.2), fail=True)
    store = open_store(f"sqlite:///{tmp_path / 'ctl.sqlite3'}")
    try:
        for n in SIZES:
            cfg = lab.config(tmp_path, control_url=helper_url, timeout=STEP * 4)
            out = tmp_path / f"ctl-{n}.jsonl"
            summary = run_probe(
                cfg,
                store,
                RunOptions(testlists=[str(url_list(lab, n, f"c{n}.csv"))], output=str(out)),
            )
            docs = check_every_url_stored(store, summary, n, out)
            assert summary.stats.measured == n
            assert all(d["test_keys"]["control_failure"] for d in docs)
            if n >= 3:  # the helper answered nothing: the run says so
                assert summary.diagnosis is not None and "test helper" in summary.diagnosis
    finally:
        store.close()
        helper.shutdown()
        helper.server_close()


def test_an_unreachable_resolver_with_a_working_control_is_stated(lab, tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'res.sqlite3'}")
    try:
        for n in SIZES:
            cfg = lab.config(tmp_path, resolver=f"127.0.0.1:{closed_port()}", timeout=STEP * 2)
            out = tmp_path / f"res-{n}.jsonl"
            summary = run_probe(
                cfg,
                store,
                RunOptions(testlists=[str(url_list(lab, n, f"d{n}.csv"))], output=str(out)),
            )
            check_every_url_stored(store, summary, n, out)
            if n >= 3:
                assert summary.diagnosis is not None and "resolver" in summary.diagnosis
    finally:
        store.close()


def test_cli_offline_run_exits_3_with_one_line_and_stores_everything(
    lab, tmp_path, isolated_env, monkeypatch
):
    from click.testing import CliRunner

    from censorwatch.cli import cli

    monkeypatch.setenv("CENSORWATCH_ACCEPT_RISKS", "1")
    cfg = tmp_path / "censorwatch.toml"
    cfg.write_text(
        f'data_dir = "{tmp_path / "data"}"\ncountry = "KH"\n[probe]\n'
        f'resolver = "127.0.0.1:{closed_port()}"\ncontrol_url = "http://127.0.0.1:{closed_port()}/"\n'
        f"timeout = {STEP}\ncontrol_resolvers = []\npublic_resolvers = []\n"
        'probe_asn = 38623\nprobe_network_name = "Lab ISP"\ndetect_network = false\n',
        encoding="utf-8",
    )
    out = tmp_path / "off.jsonl"
    result = CliRunner().invoke(
        cli,
        [
            "--config",
            str(cfg),
            "probe",
            "run",
            "--testlist",
            str(url_list(lab, 24, "cli-off.csv")),
            "--output",
            str(out),
        ],
    )
    assert result.exit_code == 3, result.output
    assert "0/24 measured, 24 failed, 0 skipped" in result.output
    assert result.output.count(OFFLINE) == 1
    assert len(out.read_text(encoding="utf-8").splitlines()) == 24
