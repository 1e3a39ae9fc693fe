"""OONI's fingerprints by default; `fingerprints list`, `fingerprints update`, `rejudge`."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from censorwatch.cli import cli
from censorwatch.fingerprint_sources import ooni_snapshot_dir
from censorwatch.fingerprints import default_fingerprints
from censorwatch.store import open_store
from censorwatch.store.models import MeasurementRow

OONI_COLUMNS = [
    "name",
    "scope",
    "other_names",
    "location_found",
    "pattern_type",
    "pattern",
    "confidence_no_fp",
    "expected_countries",
    "source",
    "exp_url",
    "notes",
]
ID_DOC = "20250527233111.802678_ID_webconnectivity_5a37ec909dbf14e3.json"
IR_DOC = "web_connectivity_ir_fp.json"


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _csv(rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=OONI_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k, "") for k in OONI_COLUMNS})
    return out.getvalue().encode("utf-8")


class _Files(BaseHTTPRequestHandler):
    files: ClassVar[dict[str, bytes]] = {}

    def do_GET(self) -> None:
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def csv_server(shared):
    """A loopback server with OONI's fingerprints as the CSVs of ooni/blocking-fingerprints."""
    dns = json.loads(Path(shared("ooni", "fingerprints", "fingerprints_dns.json")).read_bytes())
    http = json.loads(Path(shared("ooni", "fingerprints", "fingerprints_http.json")).read_bytes())
    handler = type("Files", (_Files,), {"files": {}})
    handler.files = {
        "/fp/fingerprints_dns.csv": _csv(dns),
        "/fp/fingerprints_http.csv": _csv(http),
    }
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/fp/", handler.files
    finally:
        server.shutdown()
        server.server_close()


def test_the_shipped_snapshot_is_oonis_file_with_its_provenance(shared):
    base = ooni_snapshot_dir()
    meta = json.loads((base / "metadata.json").read_text(encoding="utf-8"))
    for name in ("fingerprints_dns.json", "fingerprints_http.json"):
        ours = (base / name).read_bytes()
        assert ours == Path(shared("ooni", "fingerprints", name)).read_bytes()
        assert meta["files"][name]["sha256"] == hashlib.sha256(ours).hexdigest()
    assert meta["licence"] == "BSD-3-Clause" and meta["date"] and "ooni/backend" in meta["source"]
    attribution = (base / "ATTRIBUTION.md").read_text(encoding="utf-8")
    assert "Open Observatory of Network Interference" in attribution
    assert "Redistribution and use in source and binary forms" in attribution


def test_list_shows_the_sets_loaded_by_default(isolated_env):
    result = run("fingerprints", "list", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [(s["name"], s["rows"]) for s in data["sets"]] == [
        ("censorwatch", 5),
        ("ooni", 1849),
    ]
    assert data["hash"] == default_fingerprints().hash
    for s in data["sets"]:
        assert set(s) == {"name", "source", "rows", "hash", "date"} and len(s["hash"]) == 64
    ir = json.loads(run("fingerprints", "list", "--country", "ir", "--json").output)
    names = {f["name"] for f in ir["fingerprints"]}
    assert "ooni.ir_10dot10_ipv4_1" in names
    assert "cw.kh_dns_viettel_metfone_sinkhole" not in names
    assert all(
        not f["expected_countries"] or "IR" in f["expected_countries"] for f in ir["fingerprints"]
    )
    text = run("fingerprints", "list", "--country", "KH").output
    assert "censorwatch" in text and "ooni" in text and "cw.kh_dns_viettel_metfone_sinkhole" in text


def test_update_installs_oonis_current_csvs_atomically(isolated_env, csv_server):
    url, files = csv_server
    before = default_fingerprints().hash
    result = run("fingerprints", "update", "--url", url)
    assert result.exit_code == 0, result.output
    assert "Installed OONI's fingerprints" in result.output
    assert "fingerprints_dns: 150, fingerprints_http: 1,699" in result.output
    root = isolated_env / "data" / "fingerprints" / "ooni"
    current = json.loads((root / "current.json").read_text(encoding="utf-8"))
    assert current["url"] == url and current["rows"] == {
        "fingerprints_dns": 150,
        "fingerprints_http": 1699,
    }
    assert (root / current["dir"] / "fingerprints_dns.csv").is_file()
    listed = json.loads(run("fingerprints", "list", "--json").output)
    ooni = listed["sets"][1]
    assert ooni["source"] == url and ooni["rows"] == 1849 and ooni["date"] == current["fetched"]
    assert listed["hash"] != before
    again = run("fingerprints", "update", "--url", url)
    assert "unchanged" in again.output
    # A broken download replaces nothing.
    files["/fp/fingerprints_http.csv"] = b"name,scope\nbroken,nat\n"
    bad = run("fingerprints", "update", "--url", url)
    assert bad.exit_code != 0
    assert "fingerprints_http.csv" in bad.output and "keeping the current" in bad.output
    assert json.loads((root / "current.json").read_text(encoding="utf-8")) == current
    assert [p.name for p in root.iterdir() if p.is_dir()] == [current["dir"]]


def test_update_offline_says_so_in_one_line_and_keeps_the_snapshot(isolated_env):
    with socket_closed() as port:
        result = run("fingerprints", "update", "--url", f"http://127.0.0.1:{port}/")
    assert result.exit_code == 3
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "cannot reach" in lines[0] and "offline?" in lines[0]
    listed = json.loads(run("fingerprints", "list", "--json").output)
    assert "snapshot shipped with censorwatch" in listed["sets"][1]["source"]


class socket_closed:
    """A loopback port with nothing listening on it."""

    def __enter__(self) -> int:
        import socket

        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        return self.port

    def __exit__(self, *exc: object) -> None:
        pass


def _rows(db: Path) -> dict[str, tuple]:
    store = open_store(f"sqlite:///{db}")
    try:
        t = MeasurementRow.__table__.c
        with store.engine.connect() as conn:
            return {
                r.probe_cc: (r.verdict_blocking, r.verdict_confirmed, r.verdict_fingerprints_hash)
                for r in conn.execute(
                    sa.select(
                        t.probe_cc,
                        t.verdict_blocking,
                        t.verdict_confirmed,
                        t.verdict_fingerprints_hash,
                    )
                )
            }
    finally:
        store.close()


def test_rejudge_applies_new_fingerprint_sets_to_stored_rows(isolated_env, shared):
    docs = isolated_env / "docs.jsonl"
    docs.write_text(
        "".join(
            json.dumps(json.loads(Path(shared("ooni", "measurements", n)).read_text())) + "\n"
            for n in (ID_DOC, IR_DOC)
        ),
        encoding="utf-8",
    )
    off = isolated_env / "off.toml"
    off.write_text("[verdict]\nooni_fingerprints = false\n", encoding="utf-8")
    result = run("--config", str(off), "ingest", "file", str(docs))
    assert result.exit_code == 0, result.output
    db = isolated_env / "data" / "censorwatch.sqlite3"
    judged = _rows(db)
    assert judged["ID"][:2] == ("false", False) and judged["IR"][:2] == ("dns", False)
    # With OONI's sets (the default) both are stale, and rejudge confirms them.
    result = run("rejudge", "--json")
    assert result.exit_code == 0, result.output
    counts = json.loads(result.output)
    assert counts["examined"] == 2 and counts["changed"] == 2
    assert counts["fingerprints_hash"] == default_fingerprints().hash
    rejudged = _rows(db)
    assert rejudged["ID"] == ("http-diff", True, default_fingerprints().hash)
    assert rejudged["IR"] == ("dns", True, default_fingerprints().hash)
    # Idempotent: nothing is stale any more.
    assert json.loads(run("rejudge", "--json").output)["examined"] == 0
    assert json.loads(run("rejudge", "--all", "--json").output)["unchanged"] == 2
    assert (
        json.loads(run("rejudge", "--since", "2030-01-01", "--all", "--json").output)["examined"]
        == 0
    )


def test_analysis_json_names_the_fingerprint_sets(isolated_env, shared):
    docs = isolated_env / "docs.jsonl"
    docs.write_text(Path(shared("ooni", "measurements", IR_DOC)).read_text().strip() + "\n")
    assert run("ingest", "file", str(docs)).exit_code == 0
    result = run(
        "--quiet",
        "analyze",
        "--country",
        "IR",
        "--period",
        "2020-01-01..2030-12-31",
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.output
    method = json.loads(result.output)["method"]
    assert [f["name"] for f in method["fingerprints"]] == ["censorwatch", "ooni"]
    for f in method["fingerprints"]:
        assert set(f) == {"name", "source", "rows", "hash", "date"}
    assert method["fingerprints_hash"] == default_fingerprints().hash
    assert method["rows_judged_with_other_fingerprints"] == 0


def test_sources_never_show_the_users_home_directory(tmp_path, monkeypatch):
    """The sets' sources are printed in the published report: no login name in them."""
    from censorwatch.fingerprint_sources import file_source, own_source

    home = tmp_path / "home" / "sokha"
    home.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    own = own_source()
    assert own.source.startswith("censorwatch ") and "package data" in own.source
    assert "/" not in own.source.split("(")[0]
    extra = home / "kh" / "extra.json"
    extra.parent.mkdir()
    extra.write_text(
        '[{"name": "kh.test", "scope": "isp", "location_found": "dns",'
        ' "pattern_type": "full", "pattern": "192.0.2.7"}]',
        encoding="utf-8",
    )
    assert file_source(extra).source == "~/kh/extra.json"
    assert "sokha" not in file_source(extra).source


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fingerprints", "list", "--country", "KHM"], "two-letter country code"),
        (["fingerprints", "list", "--country", "12"], "two-letter country code"),
        (["fingerprints", "update", "--url", "notaurl"], "--url: not a URL"),
        (["fingerprints", "update", "--url", "ftp://example.org/"], "--url: not a URL"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(isolated_env, args, message):
    from click.testing import CliRunner

    from censorwatch.cli import cli

    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
