"""The probe inside a network namespace, with that namespace's system resolver lying to it.

This exercises the default code path (no ``--resolver``: the nameserver of
``/etc/resolv.conf``, which ``ip netns exec`` takes from ``/etc/netns/<ns>/resolv.conf``) and a
censor that blocks an address by routing. The namespace is linked to the test's own network
namespace by a veth pair in the 198.18.0.0/24 benchmark range; it has no default route, so no
packet can leave the two namespaces. Needs root and iproute2; skipped otherwise. Everything the
test creates is removed afterwards, whatever happens.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from censorship_lab import NXDOMAIN, LabResolver, Site, WebServer, page

from censorwatch.probes.control_server import (
    HelperSettings,
    make_server,
    serve_in_thread,
    server_url,
)

HOST_SIDE = "198.18.0.1"  # our namespace: resolver, web servers, test helper
PROBE_SIDE = "198.18.0.2"  # the probe's namespace
BLOCKPAGE_ADDR = "198.18.0.3"
ROUTED_AWAY = "198.18.0.9"  # unreachable from the probe's namespace (IP blocking)
MIDDLEBOX = page("ERROR: Forbidden", 300)


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


@pytest.fixture
def netns():
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    if shutil.which("ip") is None:
        pytest.skip("iproute2 (`ip`) is not installed")
    tag = secrets.token_hex(3)
    name, host_if, ns_if = f"cwprobe{tag}", f"cwh{tag}", f"cwn{tag}"
    etc = Path("/etc/netns") / name
    try:
        made = _ip("netns", "add", name, check=False)
        if made.returncode != 0:
            pytest.skip(f"cannot create a network namespace: {made.stderr.strip()}")
        _ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _ip("link", "set", ns_if, "netns", name)
        _ip("addr", "add", f"{HOST_SIDE}/24", "dev", host_if)
        _ip("addr", "add", f"{BLOCKPAGE_ADDR}/32", "dev", host_if)
        _ip("addr", "add", f"{ROUTED_AWAY}/32", "dev", host_if)
        _ip("link", "set", host_if, "up")
        _ip("-n", name, "addr", "add", f"{PROBE_SIDE}/24", "dev", ns_if)
        _ip("-n", name, "link", "set", ns_if, "up")
        _ip("-n", name, "link", "set", "lo", "up")
        _ip("-n", name, "route", "add", "unreachable", f"{ROUTED_AWAY}/32")
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "resolv.conf").write_text(f"nameserver {HOST_SIDE}\n", encoding="utf-8")
        yield name
    finally:
        _ip("netns", "del", name, check=False)
        _ip("link", "del", host_if, check=False)
        shutil.rmtree(etc, ignore_errors=True)
    assert name not in _ip("netns", "list", check=False).stdout


def _lying_resolver(zone: dict) -> LabResolver:
    try:
        return LabResolver(zone, host=HOST_SIDE, port=53)
    except OSError as exc:
        pytest.skip(f"cannot bind the namespace's resolver to {HOST_SIDE}:53: {exc}")


def _probe_in(
    netns: str, tmp_path: Path, urls: list[str], control_url: str, expect_rc: int = 0
) -> tuple:
    """Run `censorwatch probe run` inside the namespace; (documents by host, process)."""
    lst = tmp_path / "kh.csv"
    lst.write_text(
        "url,category_code,category_description,date_added,source,notes\n"
        + "".join(f"{u},NEWS,,2026-11-26,lab,\n" for u in urls),
        encoding="utf-8",
    )
    cfg = tmp_path / "censorwatch.toml"
    cfg.write_text(
        f'data_dir = "{tmp_path / "data"}"\ncountry = "KH"\n'
        "[probe]\n"
        f'control_url = "{control_url}"\n'
        "control_resolvers = []\npublic_resolvers = []\n"
        'probe_asn = 38623\nprobe_network_name = "Namespace ISP"\n'
        "detect_network = false\nper_host_rate = 0.0\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CENSORWATCH_", "REQUESTS_"))}
    proc = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            netns,
            sys.executable,
            "-m",
            "censorwatch",
            "--config",
            str(cfg),
            "probe",
            "run",
            "--testlist",
            str(lst),
            "--timeout",
            "2",
            "--accept-risks",
            "--output",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == expect_rc, proc.stderr
    assert "accept_risks" not in cfg.read_text(encoding="utf-8")  # consent for this run only
    docs = {}
    for line in out.read_text(encoding="utf-8").splitlines():
        doc = json.loads(line)
        docs[doc["input"].split("://")[1].split(":")[0].split("/")[0]] = doc
    assert PROBE_SIDE not in out.read_text(encoding="utf-8")
    return docs, proc


def test_probe_in_a_namespace_uses_its_lying_system_resolver(netns, tmp_path):
    honest_zone = {
        "ok.test": [HOST_SIDE],
        "dnsblock.test": [HOST_SIDE],
        "ipblock.test": [ROUTED_AWAY],
        "nx.test": [HOST_SIDE],
    }
    lying_zone = dict(honest_zone, **{"dnsblock.test": [BLOCKPAGE_ADDR], "nx.test": NXDOMAIN})
    servers = []
    try:
        lying = _lying_resolver(lying_zone)
        servers.append(lying)
        honest = LabResolver(honest_zone)
        servers.append(honest)
        real = WebServer(HOST_SIDE, Site(body=page("Namespace News Home")))
        servers.append(real)
        servers.append(WebServer(BLOCKPAGE_ADDR, Site(body=MIDDLEBOX, status=403), port=real.port))
        servers.append(WebServer(ROUTED_AWAY, Site(body=page("Routed Away Home")), port=real.port))
        helper = make_server(
            HOST_SIDE,
            0,
            HelperSettings(
                timeout=2.0, nameservers=[(honest.host, honest.port)], allow_private=True
            ),
        )
        serve_in_thread(helper)
        try:
            docs, proc = _probe_in(
                netns,
                tmp_path,
                [f"http://{h}:{real.port}/" for h in honest_zone],
                server_url(helper),
            )
        finally:
            helper.shutdown()
            helper.server_close()
        verdicts = {h: d["test_keys"]["blocking"] for h, d in docs.items()}
        assert verdicts == {
            "ok.test": False,
            "dnsblock.test": "dns",
            "ipblock.test": "tcp_ip",
            "nx.test": "dns",
        }, {h: d["test_keys"]["x_verdict"]["reasons"] for h, d in docs.items()}
        assert docs["dnsblock.test"]["test_keys"]["x_verdict"]["confirmed"] is True
        query = docs["ok.test"]["test_keys"]["queries"][0]
        assert query["engine"] == "system"
        assert query["resolver_address"] == f"{HOST_SIDE}:53"
        assert any(q.startswith("nx.test/") for q in lying.queries)
        tcp = docs["ipblock.test"]["test_keys"]["tcp_connect"][0]
        assert tcp["status"]["success"] is False
        assert "consent recorded" not in proc.stderr
    finally:
        for s in servers:
            s.close()


def test_cambodian_dns_answers_judged_in_a_namespace_without_a_test_helper(netns, tmp_path):
    """Sinkhole, pfBlockerNG and OpenDNS answers, end to end through the system resolver.

    The answers are outside 198.18.0.0/24, for which the namespace has no route: the probe's
    connects fail at once and no packet leaves the namespace. There is no test helper (that
    would connect to those addresses from outside), so only DNS signals and fingerprints speak.
    """
    lying_zone = {
        "sinkhole.test": ["36.37.242.94"],
        "pfblocker.test": ["10.10.10.1"],
        "opendns.test": ["146.112.197.10"],
        "loopback.test": ["127.0.0.1"],
    }
    lying = _lying_resolver(lying_zone)
    try:
        # The OpenDNS answer is no DNS signal and, with no control and no route to the site,
        # nothing else can judge it: a stored failure, so the run exits 3.
        docs, proc = _probe_in(
            netns, tmp_path, [f"http://{h}/" for h in lying_zone], "", expect_rc=3
        )
    finally:
        lying.close()
    tk = {h: d["test_keys"] for h, d in docs.items()}
    assert tk["sinkhole.test"]["blocking"] == "dns"
    assert tk["sinkhole.test"]["x_verdict"]["confirmed"] is True
    assert tk["sinkhole.test"]["x_verdict"]["fingerprints"] == [
        "cw.kh_dns_viettel_metfone_sinkhole"
    ]
    assert tk["sinkhole.test"]["tcp_connect"][0]["status"]["failure"] == "network_unreachable"
    assert tk["pfblocker.test"]["blocking"] == "dns"
    assert tk["pfblocker.test"]["x_verdict"]["confirmed"] is False
    assert tk["opendns.test"]["blocking"] is None
    assert tk["opendns.test"]["x_verdict"]["anomaly"] is False
    assert tk["opendns.test"]["x_failure_kind"] == "no_control"
    assert "1 of 4 URL(s) could not be judged (1 no_control)" in proc.stderr
    assert tk["loopback.test"]["blocking"] == "dns"
