"""``testlist sync`` against a loopback HTTP server serving the real upstream files."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from censorwatch.cli import cli
from censorwatch.testlists.csvformat import read_testlist
from censorwatch.testlists.sync import SyncError, local_additions, sync_upstream

FILES = ["kh.csv", "global.csv", "00-LEGEND-new_category_codes.csv"]


class Upstream:
    """A tiny raw.githubusercontent.com: ``/lists/<name>`` -> bytes, on 127.0.0.1."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                upstream.requests.append(self.path)
                body = upstream.files.get(self.path.removeprefix("/lists/"))
                if body is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/lists"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstream(shared) -> Iterator[Upstream]:
    server = Upstream()
    for name in FILES:
        server.files[name] = shared("testlists", name).read_bytes()
    try:
        yield server
    finally:
        server.close()


def test_sync_fetches_checks_and_writes(upstream: Upstream, tmp_path: Path, shared) -> None:
    target = tmp_path / "upstream"
    result = sync_upstream(upstream.url, "KH", target)
    assert [(f.name, f.outcome) for f in result] == [(n, "updated") for n in FILES]
    assert [f.rows for f in result] == [172, 1722, 31]
    for name in FILES:
        assert (target / name).read_bytes() == shared("testlists", name).read_bytes()
    assert upstream.requests == [f"/lists/{n}" for n in FILES]
    again = sync_upstream(upstream.url, "kh", target)
    assert {f.outcome for f in again} == {"unchanged"}


def test_country_without_upstream_list(upstream: Upstream, tmp_path: Path) -> None:
    result = sync_upstream(upstream.url, "LA", tmp_path)
    assert (result[0].name, result[0].outcome) == ("la.csv", "missing upstream")
    assert (tmp_path / "global.csv").is_file()


def test_broken_upstream_changes_nothing(upstream: Upstream, tmp_path: Path) -> None:
    sync_upstream(upstream.url, "KH", tmp_path)
    before = {n: (tmp_path / n).read_bytes() for n in FILES}
    upstream.files["global.csv"] = b"<html>rate limited</html>"
    with pytest.raises(SyncError, match=r"broken file: .*global.csv:1: header"):
        sync_upstream(upstream.url, "KH", tmp_path)
    del upstream.files["global.csv"]
    with pytest.raises(SyncError, match="HTTP 404"):
        sync_upstream(upstream.url, "KH", tmp_path)
    assert {n: (tmp_path / n).read_bytes() for n in FILES} == before


def test_offline_is_one_clear_error(tmp_path: Path) -> None:
    server = Upstream()
    url = server.url
    server.close()  # nothing listens there any more
    with pytest.raises(SyncError, match=r"cannot reach .* are you online"):
        sync_upstream(url, "KH", tmp_path, timeout=2)
    assert not tmp_path.joinpath("kh.csv").exists()


def test_local_additions(shared) -> None:
    upstream = read_testlist(shared("testlists", "kh.csv")).rows
    glob = read_testlist(shared("testlists", "global.csv")).rows
    ours = read_testlist(Path(__file__).parent.parent / "testlists" / "lists" / "kh.csv").rows
    extra = local_additions(ours, upstream, glob)
    urls = {r.url for r in extra}
    assert "https://kiripost.com/" in urls
    assert "https://cchrcambodia.org/" not in urls  # upstream has it already
    assert not urls & {r.url for r in glob}
    assert local_additions(ours, ours) == []


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_cli_sync_export_upstream_and_offline(upstream: Upstream, isolated_env: Path) -> None:
    env = {"CENSORWATCH_TESTLISTS_UPSTREAM_URL": upstream.url}
    result = run("testlist", "sync", env=env)
    assert result.exit_code == 0, result.output
    assert "kh.csv: updated (172 rows)" in result.output
    assert "only in ours" in result.output and "+ https://kiripost.com/" in result.output
    synced = isolated_env / "data" / "testlists" / "upstream"
    assert (synced / "global.csv").is_file()
    # Probe runs now use the shipped country list plus the synced global list.
    shown = json.loads(run("testlist", "show", "--json").output)
    assert [Path(x["path"]).name for x in shown["lists"]] == ["kh.csv", "global.csv"]
    assert shown["urls_tested"] > 1722
    out = isolated_env / "pr.csv"
    result = run("testlist", "export", "--upstream", "-o", str(out))
    assert result.exit_code == 0, result.output
    rows = read_testlist(out).rows
    assert rows and "https://kiripost.com/" in {r.url for r in rows}
    upstream.close()
    result = CliRunner().invoke(cli, ["testlist", "sync"], env=env)
    assert result.exit_code == 1
    assert "are you online" in result.output
    assert (synced / "global.csv").is_file()  # what was synced before is kept
