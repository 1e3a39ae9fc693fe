"""Alerts for newly blocked / unblocked websites: recorded once, delivered to a loopback
webhook and a loopback SMTP server, retried when a channel fails. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import click
import pytest
import sqlalchemy as sa

from censorwatch.config import AlertSettings, load_config
from censorwatch.scheduler import jobs as jobs_module
from censorwatch.scheduler.alerts import (
    alert_text,
    alerts_from_analysis,
    changes_from_analysis,
    deliver_pending,
    record_alerts,
)
from censorwatch.store.models import Alert

PERIOD = "2023-01-01..2023-12-31"


def analysis(*domains: tuple[str, str], extra: dict | None = None) -> dict:
    """An analysis result in the JSON contract of issue 6 (only the keys alerts read)."""
    out = {
        "period": {"start": "2023-01-01", "end": "2023-12-31", "timezone": "Asia/Phnom_Penh"},
        "coverage": {"measurements": 100, "urls_tested": len(domains), "networks": 2},
        "domains": [
            {
                "domain": d,
                "category_code": "NEWS",
                "verdict": v,
                "methods": ["dns"] if v != "accessible" else [],
                "networks": ["AS38623"],
                "measurements": 40,
                "anomalies": 38 if v != "accessible" else 0,
                "confirmed": 30 if v == "confirmed" else 0,
                "first_blocked": "2023-03-02" if v != "accessible" else None,
                "last_blocked": "2023-12-30" if v != "accessible" else None,
            }
            for d, v in domains
        ],
    }
    out.update(extra or {})
    return out


def alerts(store) -> list[Alert]:
    with store.session() as s:
        return list(s.scalars(sa.select(Alert).order_by(Alert.id)))


def test_an_alert_fires_exactly_once_for_a_new_block(store) -> None:
    first = record_alerts(store, [("vod.asia", "blocked")], PERIOD, country="KH")
    assert len(first) == 1
    again = record_alerts(store, [("VOD.asia.", "blocked"), ("vod.asia", "blocked")], PERIOD)
    assert again == []
    other = record_alerts(store, [("vod.asia", "unblocked"), ("rfa.org", "blocked")], PERIOD)
    assert len(other) == 2
    assert [(a.kind, a.domain) for a in alerts(store)] == [
        ("blocked", "vod.asia"),
        ("unblocked", "vod.asia"),
        ("blocked", "rfa.org"),
    ]
    with pytest.raises(ValueError, match="kind"):
        record_alerts(store, [("x.org", "censored")], PERIOD)


def test_changes_from_the_analysis_lists_or_a_diff() -> None:
    own = analysis(
        ("a.org", "confirmed"),
        extra={"newly_blocked": ["a.org"], "newly_unblocked": [{"domain": "b.org"}]},
    )
    assert changes_from_analysis(own, None) == [("a.org", "blocked"), ("b.org", "unblocked")]
    now = analysis(
        ("a.org", "confirmed"),
        ("b.org", "accessible"),
        ("c.org", "likely"),
        ("d.org", "inconclusive"),
    )
    # First run: a baseline, no alerts for long-blocked sites.
    assert changes_from_analysis(now, None) == []
    before = {"period": PERIOD, "blocked": ["b.org", "c.org", "d.org", "gone.org"]}
    # a.org newly blocked; b.org measured accessible -> unblocked; d.org inconclusive and
    # gone.org unmeasured are not called unblocked.
    assert changes_from_analysis(now, before) == [("a.org", "blocked"), ("b.org", "unblocked")]


def test_alerts_from_analysis_keep_a_baseline(store, tmp_path) -> None:
    state = tmp_path / "latest-KH.json"
    year1 = analysis(("vod.asia", "confirmed"), ("rfa.org", "accessible"))
    assert alerts_from_analysis(store, year1, PERIOD, "KH", previous_path=state) == 0
    year2 = analysis(("vod.asia", "confirmed"), ("rfa.org", "likely"))
    assert alerts_from_analysis(store, year2, PERIOD, "KH", previous_path=state) == 1
    assert alerts_from_analysis(store, year2, PERIOD, "KH", previous_path=state) == 0
    (alert,) = alerts(store)
    assert (alert.kind, alert.domain, alert.country) == ("blocked", "rfa.org", "KH")
    assert alert.details["methods"] == ["dns"] and alert.details["verdict"] == "likely"
    text = alert_text(alert)
    assert "rfa.org was found blocked in KH" in text and "Method: dns" in text


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(type(self).status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def webhook():
    handler = type("Hook", (_Hook,), {"received": [], "status": 200})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield handler, f"http://127.0.0.1:{server.server_address[1]}/bot-relay/TOKEN123"
    server.shutdown()
    server.server_close()


@pytest.fixture
def smtp_server():
    """aiosmtpd on 127.0.0.1, port 0 (its Controller cannot report a port-0 binding)."""
    import asyncio

    from aiosmtpd.handlers import Sink
    from aiosmtpd.smtp import SMTP

    class Collect(Sink):
        def __init__(self) -> None:
            self.messages: list[tuple[str, list[str], str]] = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append(
                (envelope.mail_from, list(envelope.rcpt_tos), envelope.content.decode("utf-8"))
            )
            return "250 OK"

    handler = Collect()
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(
        loop.create_server(lambda: SMTP(handler, loop=loop), "127.0.0.1", 0)
    )
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield handler, server.sockets[0].getsockname()[1]
    loop.call_soon_threadsafe(server.close)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def test_delivery_to_webhook_and_email(store, webhook, smtp_server) -> None:
    hook, url = webhook
    mail, port = smtp_server
    settings = AlertSettings(
        webhook_url=url,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_from="censorwatch@example.org",
        smtp_to=["drwg@example.org"],
        smtp_starttls=False,
        timeout=5,
    )
    record_alerts(
        store,
        [("vod.asia", "blocked")],
        PERIOD,
        country="KH",
        details={"vod.asia": {"verdict": "confirmed", "methods": ["dns"]}},
    )
    assert deliver_pending(store, settings) == {"alerts_sent": 1, "alerts_failed": 0}
    assert len(hook.received) == 1
    payload = hook.received[0]
    assert payload["alert"]["domain"] == "vod.asia" and payload["alert"]["kind"] == "blocked"
    assert payload["text"].startswith("vod.asia was found blocked in KH")
    (sender, rcpts, content) = mail.messages[0]
    assert sender == "censorwatch@example.org" and rcpts == ["drwg@example.org"]
    assert "Subject: [censorwatch] vod.asia found blocked" in content
    assert "Verdict: confirmed" in content
    # Delivered once: a second pass sends nothing.
    assert deliver_pending(store, settings) == {"alerts_sent": 0, "alerts_failed": 0}
    assert len(hook.received) == 1 and len(mail.messages) == 1
    (alert,) = alerts(store)
    assert set(alert.delivered) == {"webhook", "email"} and alert.last_error is None


def test_failed_channel_is_retried_and_others_not_resent(store, webhook, smtp_server) -> None:
    hook, url = webhook
    mail, port = smtp_server
    hook.status = 502
    settings = AlertSettings(
        webhook_url=url,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_to=["drwg@example.org"],
        smtp_from="cw@example.org",
        smtp_starttls=False,
        timeout=5,
    )
    record_alerts(store, [("rfa.org", "blocked")], PERIOD)
    assert deliver_pending(store, settings) == {"alerts_sent": 0, "alerts_failed": 1}
    (alert,) = alerts(store)
    assert set(alert.delivered) == {"email"}
    assert "HTTP 502" in alert.last_error and "TOKEN123" not in alert.last_error
    hook.status = 200
    assert deliver_pending(store, settings) == {"alerts_sent": 1, "alerts_failed": 0}
    assert len(mail.messages) == 1  # e-mail was not sent twice
    assert len(hook.received) == 2  # the failed attempt and the retry


def test_unreachable_webhook_error_hides_the_url(store) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = AlertSettings(webhook_url=f"http://127.0.0.1:{port}/botSECRET/send", timeout=2)
    record_alerts(store, [("vod.asia", "blocked")], PERIOD)
    assert deliver_pending(store, settings)["alerts_failed"] == 1
    (alert,) = alerts(store)
    assert "not reachable" in alert.last_error and "SECRET" not in alert.last_error


def test_analyze_job_runs_the_stage_and_alerts(store, tmp_path, monkeypatch, webhook) -> None:
    """The real `analyze` job, with a stand-in `censorwatch analyze` command (other branch)."""
    from censorwatch.cli import cli

    hook, url = webhook
    verdicts = {"value": [("vod.asia", "confirmed"), ("rfa.org", "accessible")]}
    seen_args: list[list[str]] = []

    @click.command("analyze")
    @click.option("--country")
    @click.option("--period")
    @click.option("--format", "fmt")
    @click.option("--output", type=click.Path(path_type=Path))
    def fake_analyze(country, period, fmt, output) -> None:
        seen_args.append([country, period, fmt, str(output)])
        click.echo(json.dumps(analysis(*verdicts["value"])))

    monkeypatch.setitem(cli.commands, "analyze", fake_analyze)
    monkeypatch.setattr(
        jobs_module, "reporting_period", lambda cfg: (date(2023, 1, 1), date(2023, 5, 31), PERIOD)
    )
    cfg = load_config(
        overrides={
            "database_url": store.url,
            "data_dir": str(tmp_path),
            "alerts.webhook_url": url,
        },
        environ={},
    )
    first = jobs_module.run_analyze_stage(cfg, store)
    assert first["domains"] == 2 and first["alerts"] == 0  # baseline
    assert seen_args[0][:3] == ["KH", "2023-01-01..2023-05-31", "json"]
    verdicts["value"] = [("vod.asia", "confirmed"), ("rfa.org", "confirmed")]
    second = jobs_module.run_analyze_stage(cfg, store)
    assert second["alerts"] == 1 and second["alerts_sent"] == 1
    assert hook.received[0]["alert"]["domain"] == "rfa.org"
    third = jobs_module.run_analyze_stage(cfg, store)
    assert third["alerts"] == 0 and len(hook.received) == 1
