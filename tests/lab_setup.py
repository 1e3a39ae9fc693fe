"""The scenarios of the censorship lab, started once per test module that needs them.

Every name resolves to a 127.0.0.x address. The probe asks the *lying* resolver, the control
helper asks the *honest* one and connects from 127.0.0.100, which the lab's "middlebox" web
servers leave alone while they reset, silence or replace what the probe gets.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from censorship_lab import (
    HANG,
    NXDOMAIN,
    RESET,
    SILENT,
    DoHServer,
    LabCA,
    LabResolver,
    Site,
    WebServer,
    page,
)

from censorwatch.config import Config
from censorwatch.probes.control_server import (
    HelperSettings,
    make_server,
    serve_in_thread,
    server_url,
)

CONTROL_SOURCE = "127.0.0.100"
#: Seconds per step: long enough for a loaded CI machine, short enough for the hanging site.
LAB_TIMEOUT = 3.0
KHMER_TITLE = "វិទ្យុអាស៊ីសេរី - ព័ត៌មាន"
MIDDLEBOX = page("ERROR: Forbidden", 300)

HONEST: dict[str, Any] = {
    "ok.test": ["127.0.0.2"],
    "khmer.test": ["127.0.0.2"],
    "dnsblock.test": ["127.0.0.2"],
    "bogon.test": ["127.0.0.2"],
    "nx.test": ["127.0.0.2"],
    "slowdns.test": ["127.0.0.2"],
    "gone.test": NXDOMAIN,
    "reset.test": ["127.0.0.5"],
    "hang.test": ["127.0.0.5"],
    "inject.test": ["127.0.0.5"],
    "secure.test": ["127.0.0.3"],
    "sni.test": ["127.0.0.3"],
    "down.test": ["127.0.0.9"],
}
LYING: dict[str, Any] = dict(
    HONEST,
    **{
        "dnsblock.test": ["127.0.0.4"],
        "bogon.test": ["127.0.0.1"],
        "nx.test": NXDOMAIN,
        "slowdns.test": SILENT,
    },
)

#: host -> (scheme, category, expected blocking, expected confirmed)
SCENARIOS: dict[str, tuple[str, str, str | None, bool]] = {
    "ok.test": ("http", "NEWS", "false", False),
    "khmer.test": ("http", "NEWS", "false", False),
    "dnsblock.test": ("http", "NEWS", "dns", True),
    "bogon.test": ("http", "HUMR", "dns", False),
    "nx.test": ("http", "POLR", "dns", False),
    "slowdns.test": ("http", "POLR", "dns", False),
    "gone.test": ("http", "NEWS", "false", False),
    "reset.test": ("http", "NEWS", "http-failure", False),
    "hang.test": ("http", "NEWS", "http-failure", False),
    "inject.test": ("http", "NEWS", "http-diff", True),
    "secure.test": ("https", "NEWS", "false", False),
    "sni.test": ("https", "NEWS", "tls", False),
    "down.test": ("http", "GMB", "false", False),
}


@dataclass
class Lab:
    directory: Path
    port: int
    ca: LabCA
    lying: LabResolver
    honest: LabResolver
    control_url: str
    doh_url: str
    public_lying: LabResolver
    servers: list[Any] = field(default_factory=list)

    def url(self, host: str) -> str:
        scheme = SCENARIOS[host][0]
        return f"{scheme}://{host}:{self.port}/"

    def testlist(self, hosts: list[str] | None = None, name: str = "kh.csv") -> Path:
        rows = ["url,category_code,category_description,date_added,source,notes"]
        for host in hosts or list(SCENARIOS):
            rows.append(f"{self.url(host)},{SCENARIOS[host][1]},,2026-11-26,lab,")
        path = self.directory / name
        path.write_text("\n".join(rows) + "\n", encoding="utf-8")
        return path

    def config(self, tmp: Path, **probe: Any) -> Config:
        cfg = Config()
        cfg.data_dir = str(tmp / "data")
        cfg.country = "KH"
        cfg.probe.resolver = self.lying.address
        cfg.probe.control_url = self.control_url
        cfg.probe.timeout = LAB_TIMEOUT
        cfg.probe.control_resolvers = []
        cfg.probe.public_resolvers = []
        cfg.probe.probe_asn = 38623
        cfg.probe.probe_network_name = "Lab ISP"
        cfg.probe.detect_network = False
        cfg.probe.per_host_rate = 0
        cfg.probe.accept_risks = True
        for key, value in probe.items():
            setattr(cfg.probe, key, value)
        return cfg


def _web_servers(ca: LabCA, port: int) -> list[Any]:
    """The lab's web servers, all on ``port``; on failure nothing stays bound."""
    started: list[Any] = []
    try:
        return _start_web_servers(ca, port, started)
    except OSError:
        for server in started:
            server.close()
        raise


def _start_web_servers(ca: LabCA, port: int, started: list[Any]) -> list[Any]:
    real = WebServer(
        "127.0.0.2",
        Site(body=page("Lab default")),
        sites={
            "ok.test": Site(body=page("Lab News Today")),
            "khmer.test": Site(body=page(KHMER_TITLE, 4000)),
            "dnsblock.test": Site(body=page("Independent Radio")),
            "bogon.test": Site(body=page("Human Rights Watchers")),
            "nx.test": Site(body=page("Opposition Party")),
            "slowdns.test": Site(body=page("Opposition Party")),
        },
        port=port,
    )
    started.append(real)
    blockpage = WebServer(
        "127.0.0.4", Site(body=MIDDLEBOX, status=403, headers={"Server": "squid"}), port=port
    )
    started.append(blockpage)
    middlebox = WebServer(
        "127.0.0.5",
        sites={
            "reset.test": Site(body=page("Reset Site Home")),
            "hang.test": Site(body=page("Hanging Site Home")),
            "inject.test": Site(body=page("Injected Site Home")),
        },
        censor={
            "reset.test": Site(RESET),
            "hang.test": Site(HANG),
            "inject.test": Site(body=MIDDLEBOX, status=403),
        },
        uncensored={CONTROL_SOURCE},
        port=port,
    )
    started.append(middlebox)
    secure = WebServer(
        "127.0.0.3",
        Site(body=page("Secure Site Home")),
        tls=ca.issue(["secure.test", "sni.test"]),
        reset_sni={"sni.test"},
        uncensored={CONTROL_SOURCE},
        port=port,
    )
    return [real, blockpage, middlebox, secure]


@contextmanager
def running_lab(directory: Path) -> Iterator[Lab]:
    """Start every server of the lab; stop them all afterwards."""
    ca = LabCA(directory)
    servers: list[Any] = []
    old_bundle = os.environ.get("REQUESTS_CA_BUNDLE")
    os.environ["REQUESTS_CA_BUNDLE"] = str(ca.ca_file)
    try:
        for _attempt in range(20):
            first = WebServer("127.0.0.2", Site(body=page("probe port")))
            port = first.port
            first.close()
            try:
                servers = _web_servers(ca, port)
                break
            except OSError as exc:  # another process holds that port on one address
                if exc.errno != errno.EADDRINUSE:
                    raise
        else:  # pragma: no cover
            raise RuntimeError("no free port shared by the lab's addresses")
        lying = LabResolver(LYING)
        honest = LabResolver(HONEST)
        public_lying = LabResolver(LYING, host="127.0.0.8")
        doh = DoHServer("127.0.0.8", HONEST, ca.issue(["127.0.0.8"]))
        helper = make_server(
            "127.0.0.1",
            0,
            HelperSettings(
                timeout=LAB_TIMEOUT,
                nameservers=[(honest.host, honest.port)],
                allow_private=True,
                source_address=CONTROL_SOURCE,
            ),
        )
        serve_in_thread(helper)
        servers += [lying, honest, public_lying, doh]
        yield Lab(
            directory=directory,
            port=port,
            ca=ca,
            lying=lying,
            honest=honest,
            control_url=server_url(helper),
            doh_url=doh.url,
            public_lying=public_lying,
            servers=servers,
        )
        helper.shutdown()
        helper.server_close()
    finally:
        for s in servers:
            s.close()
        if old_bundle is None:
            os.environ.pop("REQUESTS_CA_BUNDLE", None)
        else:
            os.environ["REQUESTS_CA_BUNDLE"] = old_bundle
