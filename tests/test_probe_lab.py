"""Our probe against the censorship lab: each form of censorship gets the right verdict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from lab_setup import CONTROL_SOURCE, LAB_TIMEOUT, SCENARIOS, running_lab
from sqlalchemy import func, select

from censorwatch.measurement import SOURCE_PROBE
from censorwatch.probes.service import RunOptions, run_probe
from censorwatch.store import open_store
from censorwatch.store.models import JobRun, MeasurementRow, ProbeRun
from censorwatch.verdict import RULES_VERSION, judge


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with running_lab(tmp_path_factory.mktemp("lab")) as lab:
        yield lab


@pytest.fixture(scope="module")
def full_run(lab, tmp_path_factory):
    """One run over every scenario, with the test helper; documents by host."""
    tmp = tmp_path_factory.mktemp("run")
    cfg = lab.config(tmp)
    store = open_store(f"sqlite:///{tmp / 'store.sqlite3'}")
    out = tmp / "out.jsonl"
    summary = run_probe(cfg, store, RunOptions(testlists=[str(lab.testlist())], output=str(out)))
    docs = {}
    for line in out.read_text(encoding="utf-8").splitlines():
        doc = json.loads(line)
        docs[doc["input"].split("://")[1].split(":")[0]] = doc
    yield summary, docs, store
    store.close()


@pytest.mark.parametrize("host", list(SCENARIOS))
def test_each_scenario_gets_the_right_verdict(full_run, host):
    _summary, docs, _store = full_run
    doc = docs[host]
    _scheme, _cat, blocking, confirmed = SCENARIOS[host]
    tk = doc["test_keys"]
    expected = False if blocking == "false" else blocking
    assert tk["blocking"] == expected, (host, tk["x_verdict"]["reasons"])
    assert tk["x_verdict"]["confirmed"] is confirmed, tk["x_verdict"]["reasons"]
    # The document is self-describing: judging it again gives the same verdict.
    again = judge(doc)
    assert again.blocking == blocking and again.confirmed is confirmed


def test_documents_are_in_oonis_format_and_never_hold_the_probe_address(full_run):
    _summary, docs, _store = full_run
    doc = docs["ok.test"]
    for key in (
        "test_name",
        "input",
        "measurement_start_time",
        "probe_asn",
        "probe_cc",
        "probe_network_name",
        "report_id",
        "test_keys",
    ):
        assert key in doc
    assert doc["test_name"] == "web_connectivity"
    assert (doc["probe_cc"], doc["probe_asn"], doc["probe_network_name"]) == (
        "KH",
        "AS38623",
        "Lab ISP",
    )
    for key in (
        "queries",
        "tcp_connect",
        "tls_handshakes",
        "requests",
        "control",
        "blocking",
        "accessible",
    ):
        assert key in doc["test_keys"]
    assert doc["test_keys"]["control"]["dns"]["addrs"] == ["127.0.0.2"]
    assert doc["test_keys"]["dns_consistency"] == "consistent"
    response = doc["test_keys"]["requests"][0]["response"]
    assert response["code"] == 200 and response["x_title"] == "Lab News Today"
    assert response["x_body_length"] == len(response["body"].encode("utf-8"))
    assert doc["annotations"]["category_code"] == "NEWS"
    text = json.dumps(docs)
    assert doc["probe_ip"] == "127.0.0.1"  # OONI's placeholder, not an address of ours
    assert CONTROL_SOURCE not in json.dumps(doc["test_keys"]["requests"])
    assert "probe_city" not in text


def test_tls_documents_carry_the_handshake(full_run):
    _summary, docs, _store = full_run
    hs = docs["secure.test"]["test_keys"]["tls_handshakes"][0]
    assert hs["failure"] is None and hs["server_name"] == "secure.test"
    assert hs["peer_certificates"][0]["format"] == "base64"
    blocked = docs["sni.test"]["test_keys"]["tls_handshakes"][0]
    assert blocked["failure"] == "connection_reset"
    assert docs["sni.test"]["test_keys"]["control"]["tls_handshake"]


def test_a_hanging_site_costs_one_timeout(full_run):
    _summary, docs, _store = full_run
    doc = docs["hang.test"]
    assert doc["test_keys"]["requests"][0]["failure"] == "generic_timeout_error"
    assert doc["test_runtime"] < LAB_TIMEOUT * 2


def test_nxdomain_and_silent_resolver_are_recorded_as_ooni_failures(full_run):
    _summary, docs, _store = full_run
    assert docs["nx.test"]["test_keys"]["dns_experiment_failure"] == "dns_nxdomain_error"
    assert docs["slowdns.test"]["test_keys"]["dns_experiment_failure"] == "generic_timeout_error"
    assert docs["gone.test"]["test_keys"]["control"]["dns"]["failure"] == "dns_name_error"


def test_run_is_stored_with_its_probe_run_and_job(full_run):
    summary, _docs, store = full_run
    assert summary.stats.measured == len(SCENARIOS) == summary.stats.planned
    with store.session() as s:
        run = s.get(ProbeRun, summary.run_id)
        assert run.status == "completed"
        assert run.urls_planned == run.urls_measured == len(SCENARIOS)
        assert run.anomalies == sum(1 for v in SCENARIOS.values() if v[2] != "false")
        assert run.testlist_hash == summary.testlist_hash and len(run.testlist_hash) == 64
        assert run.probe_asn == 38623
        rows = s.scalars(select(MeasurementRow)).all()
        assert len(rows) == len(SCENARIOS)
        by_domain = {r.domain: r for r in rows}
        row = by_domain["dnsblock.test"]
        assert row.source == SOURCE_PROBE and row.probe_run_id == summary.run_id
        assert (row.verdict_blocking, row.verdict_confirmed) == ("dns", True)
        assert row.verdict_fingerprint == "cw.kh_http_middlebox_error_forbidden"
        assert row.verdict_version == RULES_VERSION
        assert (row.blocking, row.anomaly, row.confirmed, row.failure) == ("dns", True, True, False)
        assert by_domain["ok.test"].accessible is True
        job = s.scalars(select(JobRun).where(JobRun.job == "probe")).one()
        assert job.outcome == "success" and job.counts["measured"] == len(SCENARIOS)


def test_rerunning_adds_a_new_run_without_touching_the_first(lab, full_run, tmp_path):
    summary, _docs, store = full_run
    cfg = lab.config(tmp_path)
    second = run_probe(
        cfg,
        store,
        RunOptions(testlists=[str(lab.testlist(["ok.test"], "one.csv"))]),
    )
    assert second.run_id != summary.run_id
    with store.session() as s:
        count = s.scalar(select(func.count()).select_from(MeasurementRow))
        assert count == len(SCENARIOS) + 1


def test_without_a_test_helper_doh_is_the_control_and_interception_shows(lab, tmp_path):
    cfg = lab.config(
        tmp_path,
        timeout=5.0,  # nothing hangs here; DoH over TLS may be slow on a loaded machine
        control_url="",
        control_resolvers=[lab.doh_url],
        public_resolvers=[lab.public_lying.address],
    )
    store = open_store(f"sqlite:///{tmp_path / 's.sqlite3'}")
    out = tmp_path / "o.jsonl"
    hosts = ["ok.test", "nx.test", "dnsblock.test"]
    run_probe(
        cfg, store, RunOptions(testlists=[str(lab.testlist(hosts, "x.csv"))], output=str(out))
    )
    store.close()
    docs = {
        json.loads(line)["input"].split("://")[1].split(":")[0]: json.loads(line)
        for line in out.read_text(encoding="utf-8").splitlines()
    }
    assert docs["nx.test"]["test_keys"]["blocking"] == "dns"
    assert docs["nx.test"]["test_keys"]["x_doh"]["queries"][0]["engine"] == "doh"
    ok = docs["ok.test"]["test_keys"]
    assert ok["blocking"] is None and ok["x_verdict"]["failure"] is True
    assert any("only DNS signals" in r for r in ok["x_verdict"]["reasons"])
    blocked = docs["dnsblock.test"]["test_keys"]
    assert blocked["blocking"] == "dns" and blocked["x_verdict"]["confirmed"]
    assert blocked["x_dns_interception"], blocked["x_verdict"]["reasons"]
    assert "x_do53" in blocked


def test_categories_are_filtered_and_limited(lab, tmp_path):
    from censorwatch.probes.service import select_targets
    from censorwatch.testlists.csvformat import read_testlist

    tl = read_testlist(lab.testlist())
    all_targets = select_targets([tl], categories=(), exclude=(), limit=None)
    assert len(all_targets) == len(SCENARIOS)
    no_gmb = select_targets([tl], categories=(), exclude=["GMB,humr"], limit=None)
    assert {t.category_code for t in no_gmb} == {"NEWS", "POLR"}
    only = select_targets([tl, tl], categories=["POLR"], exclude=(), limit=1)
    assert [t.url for t in only] == [lab.url("nx.test")]


def test_the_probe_asks_the_lying_resolver_and_the_helper_the_honest_one(lab, full_run):
    assert any(q.startswith("nx.test/") for q in lab.lying.queries)
    assert any(q.startswith("nx.test/") for q in lab.honest.queries)


def test_output_file_is_written_atomically(full_run, tmp_path):
    _summary, docs, _store = full_run
    assert len(docs) == len(SCENARIOS)
    leftovers = [p for p in Path(tmp_path).parent.glob("**/.out.jsonl.*")]
    assert leftovers == []


# -- the test helper speaks OONI's protocol ---------------------------------------------------


def test_helper_answers_the_ooni_protocol(lab):
    body = {
        "http_request": lab.url("reset.test"),
        "http_request_headers": {"User-Agent": ["lab"], "Accept": ["*/*"]},
        "tcp_connect": [f"127.0.0.5:{lab.port}"],
    }
    resp = requests.post(lab.control_url, json=body, timeout=10)
    assert resp.status_code == 200
    data = resp.json()
    assert set(data) >= {"dns", "tcp_connect", "http_request"}
    assert data["dns"] == {"failure": None, "addrs": ["127.0.0.5"]}
    assert data["tcp_connect"][f"127.0.0.5:{lab.port}"] == {"status": True, "failure": None}
    http = data["http_request"]
    assert http["status_code"] == 200 and http["title"] == "Reset Site Home"
    assert http["failure"] is None and http["body_length"] > 1000
    assert "Content-Type" in http["headers"]


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"not json", 400),
        (b'{"http_request": "ftp://x/"}', 400),
        (b'{"http_request": "http://x.test/", "tcp_connect": "1.2.3.4:80"}', 400),
        (b"[1, 2]", 400),
    ],
)
def test_helper_rejects_bad_requests(lab, payload, code):
    resp = requests.post(lab.control_url, data=payload, timeout=10)
    assert resp.status_code == code and "error" in resp.json()


def test_helper_refuses_oversized_requests(lab):
    resp = requests.post(lab.control_url, data=b"x" * (65 * 1024), timeout=10)
    assert resp.status_code == 413


def test_helper_refuses_private_addresses_by_default(lab):
    from censorwatch.probes.control_server import REFUSED_PRIVATE, Helper, HelperSettings

    helper = Helper(HelperSettings(timeout=1.0, nameservers=[(lab.honest.host, lab.honest.port)]))
    data = helper.measure(
        {
            "http_request": lab.url("ok.test"),
            "http_request_headers": {},
            "tcp_connect": [f"127.0.0.2:{lab.port}"],
        }
    )
    assert data["tcp_connect"][f"127.0.0.2:{lab.port}"]["failure"] == REFUSED_PRIVATE
    assert data["http_request"]["failure"] == REFUSED_PRIVATE
    assert data["dns"]["addrs"] == ["127.0.0.2"]


def test_control_serve_command_runs_a_helper(lab, tmp_path):
    import subprocess
    import sys

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "censorwatch",
            "control",
            "serve",
            "--port",
            "0",
            "--resolver",
            lab.honest.address,
            "--allow-private",
            "--timeout",
            "2",
        ],
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        line = proc.stderr.readline()
        assert "test helper listening on http://127.0.0.1:" in line
        url = line.rsplit(" ", 1)[1].strip()
        info = requests.get(url, timeout=5).json()
        assert "test helper" in info["service"]
        data = requests.post(
            url, json={"http_request": lab.url("ok.test"), "tcp_connect": []}, timeout=10
        ).json()
        assert data["http_request"]["title"] == "Lab News Today"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# -- the command line ---------------------------------------------------------------------------


def _config_file(lab, tmp_path, extra: str = "") -> Path:
    path = tmp_path / "censorwatch.toml"
    path.write_text(
        f'data_dir = "{tmp_path / "data"}"\ncountry = "KH"\n'
        "[probe]\n"
        f'resolver = "{lab.lying.address}"\ncontrol_url = "{lab.control_url}"\n'
        f"timeout = {LAB_TIMEOUT}\ncontrol_resolvers = []\npublic_resolvers = []\n"
        'probe_asn = 38623\nprobe_network_name = "Lab ISP"\ndetect_network = false\n' + extra,
        encoding="utf-8",
    )
    return path


def test_cli_refuses_to_probe_without_consent(lab, tmp_path, isolated_env):
    from click.testing import CliRunner

    from censorwatch.cli import cli

    cfg = _config_file(lab, tmp_path)
    result = CliRunner().invoke(
        cli, ["--config", str(cfg), "probe", "run", "--testlist", str(lab.testlist(["ok.test"]))]
    )
    assert result.exit_code == 2
    assert "consent" in result.output and "--accept-risks" in result.output
    assert "accept_risks" not in cfg.read_text(encoding="utf-8")


def test_cli_interactive_consent_shows_the_notice(lab, tmp_path, isolated_env, monkeypatch):
    from click.testing import CliRunner

    from censorwatch.cli import cli
    from censorwatch.probes import cli as probe_cli

    monkeypatch.setattr(probe_cli, "_interactive", lambda: True)
    cfg = _config_file(lab, tmp_path)
    runner = CliRunner()
    no = runner.invoke(
        cli,
        ["--config", str(cfg), "probe", "run", "--testlist", str(lab.testlist(["ok.test"]))],
        input="n\n",
    )
    assert no.exit_code == 1 and "never records your IP address" in no.output
    assert "accept_risks" not in cfg.read_text(encoding="utf-8")
    yes = runner.invoke(
        cli,
        ["--config", str(cfg), "probe", "run", "--testlist", str(lab.testlist(["ok.test"]))],
        input="y\n",
    )
    assert yes.exit_code == 0, yes.output
    assert "accept_risks = true" in cfg.read_text(encoding="utf-8")
    assert "1/1 measured" in yes.output


def test_cli_interactive_consent_without_config_is_saved_in_the_user_config_dir(
    lab, tmp_path, isolated_env, monkeypatch, private_user_config_dir
):
    """The config file is found in the cwd, not given: consent goes to platformdirs' user
    configuration directory, and the cwd stays as it was; --accept-risks writes nothing."""
    from click.testing import CliRunner

    from censorwatch.cli import cli
    from censorwatch.probes import cli as probe_cli

    cfg = _config_file(lab, tmp_path)  # tmp_path is the cwd (isolated_env)
    before = cfg.read_text(encoding="utf-8")
    testlist = str(lab.testlist(["ok.test"], "u.csv"))
    flag = CliRunner().invoke(cli, ["probe", "run", "--accept-risks", "--testlist", testlist])
    assert flag.exit_code == 0, flag.output
    saved = private_user_config_dir / "censorwatch" / "consent.toml"
    assert not saved.exists() and cfg.read_text(encoding="utf-8") == before
    monkeypatch.setattr(probe_cli, "_interactive", lambda: True)
    yes = CliRunner().invoke(cli, ["probe", "run", "--testlist", testlist], input="y\n")
    assert yes.exit_code == 0, yes.output
    assert f"consent recorded in {saved}" in yes.output
    assert cfg.read_text(encoding="utf-8") == before
    assert not list(tmp_path.glob("*consent*")) and not list(tmp_path.glob(".censorwatch-*"))
    again = CliRunner().invoke(cli, ["probe", "run", "--testlist", testlist], input="")
    assert again.exit_code == 0 and "never records your IP" not in again.output


def test_cli_run_with_env_consent_stores_and_writes_jsonl(lab, tmp_path, isolated_env, monkeypatch):
    from click.testing import CliRunner

    from censorwatch.cli import cli

    monkeypatch.setenv("CENSORWATCH_ACCEPT_RISKS", "1")
    cfg = _config_file(lab, tmp_path)
    out = tmp_path / "m.jsonl"
    result = CliRunner().invoke(
        cli,
        [
            "--config",
            str(cfg),
            "probe",
            "run",
            "--testlist",
            str(lab.testlist(["ok.test", "nx.test", "down.test"], "cli.csv")),
            "--exclude-category",
            "GMB",
            "--concurrency",
            "2",
            "--output",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "2/2 measured, 0 failed, 0 skipped; 1 anomalies" in result.output
    # Consent for this run only: no file written, not the config, not the cwd, not the user's.
    assert "accept_risks" not in cfg.read_text(encoding="utf-8")
    assert "consent recorded" not in result.output
    assert not list(Path(isolated_env).rglob("consent.toml"))
    assert len(out.read_text(encoding="utf-8").splitlines()) == 2
    status = CliRunner().invoke(cli, ["--config", str(cfg), "status", "--json"])
    data = json.loads(status.output)
    assert data["probe_runs"] == 1 and data["by_source"] == {"censorwatch": 2}


def test_cli_without_any_test_list_says_what_to_do(lab, tmp_path, isolated_env, monkeypatch):
    from click.testing import CliRunner

    import censorwatch.testlists as testlists
    from censorwatch.cli import cli

    monkeypatch.delattr(testlists, "resolve_testlist_paths", raising=False)
    cfg = _config_file(lab, tmp_path, "accept_risks = true\n")
    result = CliRunner().invoke(cli, ["--config", str(cfg), "probe", "run"])
    assert result.exit_code != 0
    assert "--testlist" in result.output


def test_ctrl_c_during_a_run_keeps_what_was_measured(lab, tmp_path, monkeypatch):
    from censorwatch.probes import service

    calls = {"n": 0}
    real_apply = service.apply_verdict

    def interrupting_apply(m, v, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_apply(m, v, *args, **kwargs)

    monkeypatch.setattr(service, "apply_verdict", interrupting_apply)
    cfg = lab.config(tmp_path, concurrency=1)
    store = open_store(f"sqlite:///{tmp_path / 'i.sqlite3'}")
    out = tmp_path / "i.jsonl"
    hosts = ["ok.test", "khmer.test", "secure.test", "gone.test", "down.test"]
    summary = run_probe(
        cfg, store, RunOptions(testlists=[str(lab.testlist(hosts, "i.csv"))], output=str(out))
    )
    try:
        assert summary.stats.interrupted
        with store.session() as s:
            run = s.get(ProbeRun, summary.run_id)
            assert run.status == "interrupted" and run.finished_at is not None
            stored = s.scalar(select(func.count()).select_from(MeasurementRow))
            assert stored == 2 == run.urls_measured
            job = s.scalars(select(JobRun).where(JobRun.job == "probe")).one()
            assert job.outcome == "interrupted"
        assert len(out.read_text(encoding="utf-8").splitlines()) == 2
    finally:
        store.close()


def test_helper_serves_over_https(lab):
    from censorwatch.probes.control_server import (
        HelperSettings,
        make_server,
        serve_in_thread,
        server_url,
    )

    cert, key = lab.ca.issue(["127.0.0.1"])
    server = make_server(
        "127.0.0.1",
        0,
        HelperSettings(
            timeout=LAB_TIMEOUT,
            nameservers=[(lab.honest.host, lab.honest.port)],
            allow_private=True,
        ),
        certfile=str(cert),
        keyfile=str(key),
    )
    serve_in_thread(server)
    try:
        url = server_url(server, tls_enabled=True)
        assert url.startswith("https://127.0.0.1:")
        data = requests.post(
            url, json={"http_request": lab.url("ok.test")}, timeout=10, verify=str(lab.ca.ca_file)
        ).json()
        assert data["http_request"]["title"] == "Lab News Today"
    finally:
        server.shutdown()
        server.server_close()


def test_failing_doh_resolvers_are_recorded_and_skipped(lab, tmp_path):
    from censorwatch.probes.dns import DoHClient

    dead = "https://127.0.0.1:9/dns-query"  # nothing listens: connection refused
    client = DoHClient([dead, lab.doh_url], timeout=5.0, verify=str(lab.ca.ca_file))
    answer, failed = client.first_answer("ok.test")
    assert answer is not None and answer.addrs == ["127.0.0.2"]
    assert failed[0].failure == "connection_refused"
    for host in ("khmer.test", "dnsblock.test"):
        client.first_answer(host)
    assert not client.usable(dead)  # three failures in a row: skipped for the rest of the run
    answer, failed = client.first_answer("bogon.test")
    assert failed == [] and answer.resolver == lab.doh_url
