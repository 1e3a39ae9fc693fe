"""The probe's parts on their own: resolver addresses, failures, consent, identity, runner."""

from __future__ import annotations

import errno
import random
import socket
import ssl
import threading
import time
import tomllib
from datetime import UTC, datetime

import pytest
import requests
from censorship_lab import SILENT, LabResolver

from censorwatch.config import Config
from censorwatch.errors import ConfigError
from censorwatch.probes import consent, failures
from censorwatch.probes.dns import parse_hostport, resolve
from censorwatch.probes.identity import detect_network, network_identity
from censorwatch.probes.pool import DaemonPool
from censorwatch.probes.runner import HostRateLimiter, Target, run_targets


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.1.1.1", ("1.1.1.1", 53)),
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("[::1]:53", ("::1", 53)),
        ("2001:db8::1", ("2001:db8::1", 53)),
    ],
)
def test_resolver_addresses(text, expected):
    assert parse_hostport(text) == expected


@pytest.mark.parametrize("text", ["", "dns.example", "1.1.1.1:99999", "1.1.1.1:x"])
def test_bad_resolver_addresses_are_config_errors(text):
    with pytest.raises(ConfigError, match="resolver"):
        parse_hostport(text)


@pytest.mark.parametrize(
    ("exc", "failure"),
    [
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), "connection_refused"),
        (ConnectionResetError(errno.ECONNRESET, "reset"), "connection_reset"),
        (TimeoutError("timed out"), "generic_timeout_error"),
        (OSError(errno.EHOSTUNREACH, "no route"), "host_unreachable"),
        (OSError(errno.ENETUNREACH, "unreachable"), "network_unreachable"),
        (ssl.SSLEOFError(8, "EOF occurred"), "eof_error"),
        (requests.exceptions.ReadTimeout("read timed out"), "generic_timeout_error"),
        (ValueError("odd"), "unknown_failure: odd"),
    ],
)
def test_failures_use_oonis_words(exc, failure):
    assert failures.classify(exc) == failure


def test_wrapped_failures_are_found_under_requests_exceptions():
    try:
        try:
            raise ConnectionResetError(errno.ECONNRESET, "reset by peer")
        except ConnectionResetError as inner:
            raise requests.exceptions.ConnectionError("boom") from inner
    except requests.exceptions.ConnectionError as exc:
        assert failures.classify(exc) == "connection_reset"


def test_resolve_records_a_silent_resolver_as_one_timeout():
    silent = LabResolver({"slow.test": SILENT})
    try:
        t0 = time.monotonic()
        lookup = resolve("slow.test", [(silent.host, silent.port)], 0.5)
        assert time.monotonic() - t0 < 0.9  # A and AAAA wait together: one timeout
        assert lookup.failure == "generic_timeout_error"
        assert [q["query_type"] for q in lookup.queries] == ["A", "AAAA"]
        assert sorted(silent.queries) == ["slow.test/A", "slow.test/AAAA"]
    finally:
        silent.close()


def test_resolve_an_ip_literal_without_asking():
    lookup = resolve("192.0.2.1", [("127.0.0.1", 9)], 0.5)
    assert lookup.addrs == ["192.0.2.1"] and lookup.queries == []


# -- consent ----------------------------------------------------------------------------------

WHEN = datetime(2026, 11, 26, 1, 2, tzinfo=UTC)


def test_consent_is_added_to_an_existing_probe_section():
    text = 'country = "KH"\n\n[probe]\ntimeout = 5.0\n\n[ooni]\noverlap_hours = 24\n'
    new = consent.with_consent(text, WHEN)
    data = tomllib.loads(new)
    assert data["probe"] == {"timeout": 5.0, "accept_risks": True}
    assert data["ooni"] == {"overlap_hours": 24}
    assert "2026-11-26 01:02 UTC" in new


def test_consent_replaces_a_false_and_appends_a_missing_section():
    replaced = consent.with_consent("[probe]\naccept_risks = false\n", WHEN)
    assert tomllib.loads(replaced)["probe"]["accept_risks"] is True
    assert replaced.count("accept_risks") == 1
    appended = consent.with_consent('country = "KH"\n', WHEN)
    assert tomllib.loads(appended) == {"country": "KH", "probe": {"accept_risks": True}}


def test_record_consent_writes_the_config_file_given(tmp_path):
    path = tmp_path / "censorwatch.toml"
    path.write_text('country = "KH"\n', encoding="utf-8")
    cfg = Config()
    cfg.config_file = str(path)
    assert not consent.recorded_in_file(cfg)
    assert consent.record_consent(cfg, str(path)) == path
    assert consent.recorded_in_file(cfg) and cfg.probe.accept_risks
    assert not list(tmp_path.glob(".censorwatch-*"))


def test_record_consent_without_config_goes_to_the_user_config_dir_never_the_cwd(
    tmp_path, monkeypatch, private_user_config_dir
):
    monkeypatch.delenv("CENSORWATCH_CONFIG", raising=False)
    cwd = tmp_path / "work"
    cwd.mkdir()
    (cwd / "censorwatch.toml").write_text('country = "KH"\n', encoding="utf-8")
    monkeypatch.chdir(cwd)
    cfg = Config()
    cfg.config_file = str(cwd / "censorwatch.toml")  # found in the cwd, not given
    path = consent.record_consent(cfg)
    assert path == private_user_config_dir / "censorwatch" / "consent.toml"
    assert tomllib.loads(path.read_text(encoding="utf-8"))["probe"]["accept_risks"] is True
    assert (cwd / "censorwatch.toml").read_text(encoding="utf-8") == 'country = "KH"\n'
    assert sorted(p.name for p in cwd.iterdir()) == ["censorwatch.toml"]
    fresh = Config()
    assert consent.recorded_in_file(fresh)


def test_notice_is_plain_language():
    assert "IP address" in consent.NOTICE and "Ctrl-C" in consent.NOTICE


# -- network identity ------------------------------------------------------------------------

CYMRU_ZONE = {
    "o-o.myaddr.l.google.com": {"TXT": ["36.37.1.2"]},
    "2.1.37.36.origin.asn.cymru.com": {"TXT": ["38623 | 36.37.0.0/16 | KH | apnic | 2008-01-01"]},
    "as38623.asn.cymru.com": {
        "TXT": ["38623 | KH | apnic | 2007-10-10 | VIETTEL-KH Viettel (Cambodia) Pte., Ltd., KH"]
    },
}


def test_network_is_detected_without_keeping_the_address():
    server = LabResolver(CYMRU_ZONE)
    try:
        found = detect_network(
            (server.host, server.port), timeout=1.0, whoami_server=(server.host, server.port)
        )
    finally:
        server.close()
    assert found is not None
    assert (found.probe_asn, found.source) == (38623, "detected")
    assert found.probe_network_name.startswith("VIETTEL-KH")
    assert "36.37.1.2" not in repr(found)


def test_configured_identity_wins_and_failure_is_as0():
    ident = network_identity(17976, "CamGSM", detect=True, resolvers=[("127.0.0.1", 9)])
    assert (ident.probe_asn, ident.source) == (17976, "config")
    silent = LabResolver({"o-o.myaddr.l.google.com": SILENT})
    try:
        unknown = network_identity(
            0,
            "",
            detect=True,
            resolvers=[(silent.host, silent.port)],
            timeout=0.3,
            whoami_server=(silent.host, silent.port),
        )
    finally:
        silent.close()
    assert (unknown.probe_asn, unknown.source) == (0, "unknown")


# -- runner ------------------------------------------------------------------------------------


class FakeVerdict:
    def __init__(self, anomaly: bool) -> None:
        self.anomaly = anomaly
        self.confirmed = False


class FakeResult:
    def __init__(self, url: str) -> None:
        self.url = url
        self.verdict = FakeVerdict("blocked" in url)


class FakeProber:
    """Measures instantly, except URLs containing 'hang', which take ``hang`` seconds."""

    def __init__(self, hang: float = 0.0) -> None:
        self.hang = hang
        self.started: list[tuple[str, float]] = []
        self.lock = threading.Lock()

    def start(self, url: str, category_code: str | None = None):
        return self.measure(url, category_code)

    def finish(self, started):
        return started

    def measure(self, url: str, category_code: str | None = None):
        with self.lock:
            self.started.append((url, time.monotonic()))
        if "hang" in url:
            time.sleep(self.hang)
        if "crash" in url:
            raise RuntimeError("bug")
        return FakeResult(url)


def test_runner_measures_everything_concurrently():
    prober = FakeProber(hang=0.5)
    targets = [Target(f"http://s{i}.test/{'hang' if i % 4 == 0 else 'ok'}") for i in range(40)]
    targets += [Target("http://blocked.test/"), Target("http://crash.test/")]
    seen = []
    t0 = time.monotonic()
    stats = run_targets(
        prober, targets, concurrency=16, per_host_rate=0, on_result=lambda r: seen.append(r.url)
    )
    elapsed = time.monotonic() - t0
    assert stats.measured == 41 and stats.errors == 1 and stats.anomalies == 1
    assert len(seen) == 41
    assert elapsed < 10 * 0.5  # ten hanging sites, sixteen at a time: ~one hang, not ten


def test_ctrl_c_stops_at_once_and_keeps_what_was_measured():
    prober = FakeProber(hang=30)
    targets = [Target(f"http://s{i}.test/ok") for i in range(3)]
    targets += [Target(f"http://h{i}.test/hang") for i in range(10)]
    kept = []

    def on_result(result):
        kept.append(result.url)
        if len(kept) == 3:
            raise KeyboardInterrupt

    t0 = time.monotonic()
    stats = run_targets(prober, targets, concurrency=4, per_host_rate=0, on_result=on_result)
    assert stats.interrupted and len(kept) == 3 and stats.measured == 2
    assert time.monotonic() - t0 < 5


def test_per_host_rate_limit_spaces_out_one_host_only():
    limiter = HostRateLimiter(rate=10)
    stop = threading.Event()
    t0 = time.monotonic()
    for _ in range(3):
        assert limiter.wait("same.test", stop)
    assert time.monotonic() - t0 >= 0.19
    t1 = time.monotonic()
    for i in range(5):
        assert limiter.wait(f"h{i}.test", stop)
    assert time.monotonic() - t1 < 0.05
    stop.set()
    assert limiter.wait("same.test", stop) is False


def test_daemon_pool_returns_results_and_errors():
    pool = DaemonPool(3, name="t")
    assert pool.map(lambda x: x * 2, [1, 2, 3]) == [2, 4, 6]
    future = pool.submit(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        future.result(timeout=2)
    assert all(t.daemon for t in pool._threads)
    pool.shutdown()
    with pytest.raises(RuntimeError):
        pool.submit(lambda: None)


def test_tcp_connect_to_a_closed_port_is_refused():
    from censorwatch.probes.tcp import connect

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    entry = connect("127.0.0.1", port, 1.0)
    assert entry["status"] == {"success": False, "failure": "connection_refused", "blocked": None}


class SlowFinishProber(FakeProber):
    """The site answers at once, the control later (at random): the finishing pool's tail."""

    def start(self, url: str, category_code: str | None = None):
        return url

    def finish(self, started):
        time.sleep(random.uniform(0, 0.05))
        if "crash" in started:
            raise RuntimeError("bug in finish")
        return FakeResult(started)


def test_every_started_url_comes_back_once_however_slow_its_control():
    for _ in range(30):
        for n in (1, 5, 33, 100):
            targets = [Target(f"http://s{i}.test/{'crash' if i == 3 else 'ok'}") for i in range(n)]
            seen: list[str] = []
            failed: list[str] = []
            stats = run_targets(
                SlowFinishProber(),
                targets,
                concurrency=32,
                per_host_rate=0,
                on_result=lambda r, seen=seen: seen.append(r.url),
                on_failure=lambda t, exc, failed=failed: failed.append(t.url) or FakeResult(t.url),
            )
            assert sorted(seen) == sorted(t.url for t in targets)
            assert stats.started == n and stats.measured + stats.failed == n
            assert stats.skipped == 0 and failed == (["http://s3.test/crash"] if n > 3 else [])


def test_the_runner_never_sets_the_callers_stop_event():
    """The scheduler's stop event is read, never set: a probe job must not stop the daemon."""
    stop = threading.Event()
    stats = run_targets(
        FakeProber(),
        [Target("http://a.test/"), Target("http://b.test/")],
        concurrency=2,
        per_host_rate=0,
        on_result=lambda r: None,
        stop=stop,
    )
    assert stats.measured == 2 and not stop.is_set()


def test_a_stop_from_outside_ends_the_run_and_counts_the_rest_as_skipped():
    stop = threading.Event()
    prober = FakeProber(hang=30)
    targets = [Target(f"http://s{i}.test/ok") for i in range(2)]
    targets += [Target(f"http://h{i}.test/hang") for i in range(6)]
    kept: list[str] = []

    def on_result(result):
        kept.append(result.url)
        if len(kept) == 2:
            stop.set()

    t0 = time.monotonic()
    stats = run_targets(
        prober, targets, concurrency=2, per_host_rate=0, on_result=on_result, stop=stop
    )
    assert stats.interrupted and stats.measured == 2 and stats.skipped == 6
    assert time.monotonic() - t0 < 5
