"""Alerts: a website newly found blocked (or no longer blocked), recorded once, then sent.

Recording and sending are separate on purpose. An alert is *recorded* exactly once, by the
unique ``(kind, domain, period)`` key of the ``alerts`` table (``INSERT ... ON CONFLICT DO
NOTHING``), however many times the analysis runs. It is then *delivered* to each configured
channel (a webhook, e-mail) and the channel is ticked off in ``alerts.delivered``; a channel
that failed (relay down, SMTP refused) is tried again at the next run, and a channel that
succeeded is never sent the same alert twice.

What counts as a change: the analysis's own ``newly_blocked`` / ``newly_unblocked`` lists
when its JSON has them; otherwise the verdicts are compared with those of the previous
analysis run (``confirmed`` and ``likely`` count as blocked). The first run only records the
baseline, so installing censorwatch does not announce every long-blocked site as new.

Wording is neutral and factual: "found blocked", "no longer found blocked", with the method,
networks and dates the analysis gives, so a message can be forwarded as it is.
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import ssl
import tempfile
from collections.abc import Iterable, Mapping
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from censorwatch.measurement import utcnow
from censorwatch.store.models import Alert

if TYPE_CHECKING:
    from censorwatch.config import AlertSettings
    from censorwatch.store.engine import Store

log = logging.getLogger("censorwatch.scheduler")

BLOCKED, UNBLOCKED = "blocked", "unblocked"
KINDS = (BLOCKED, UNBLOCKED)
#: Verdicts of the analysis (issue 6) that mean "blocked" for alerts.
BLOCKED_VERDICTS = frozenset({"confirmed", "likely"})
#: Fields of an analysis ``domains`` entry kept with the alert.
DETAIL_KEYS = (
    "verdict",
    "category_code",
    "methods",
    "networks",
    "measurements",
    "anomalies",
    "confirmed",
    "first_blocked",
    "last_blocked",
)


def record_alerts(
    store: Store,
    changes: Iterable[tuple[str, str]],
    period: str,
    *,
    country: str | None = None,
    details: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[int]:
    """Record ``(domain, kind)`` changes; return the ids of the alerts that are new.

    ``kind`` is ``blocked`` or ``unblocked``. A change already recorded for the same period is
    ignored, so calling this again with the same list records nothing.
    """
    now = utcnow()
    rows = []
    seen = set()
    for domain, kind in changes:
        if kind not in KINDS:
            raise ValueError(f"alert kind must be one of {KINDS}, got {kind!r}")
        domain = domain.strip().lower().rstrip(".")
        if not domain or (kind, domain) in seen:
            continue
        seen.add((kind, domain))
        info = dict((details or {}).get(domain) or {})
        rows.append(
            {
                "kind": kind,
                "domain": domain,
                "period": period,
                "country": country,
                "detected_at": now,
                "details": info or None,
                "delivered": None,
                "last_error": None,
            }
        )
    if not rows:
        return []
    table = Alert.__table__
    insert = postgresql.insert(table) if store.dialect == "postgresql" else sqlite.insert(table)
    stmt = insert.on_conflict_do_nothing(index_elements=["kind", "domain", "period"]).returning(
        table.c.id
    )
    new: list[int] = []
    with store.engine.begin() as conn:
        for row in rows:  # one by one: RETURNING with ON CONFLICT is per row on SQLite
            new.extend(r[0] for r in conn.execute(stmt, row))
    for row in rows:
        log.debug("alert %s %s (%s)", row["kind"], row["domain"], period)
    return new


def _domain_list(value: Any) -> list[str]:
    out = []
    for item in value or []:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, Mapping) and isinstance(item.get("domain"), str):
            out.append(item["domain"])
    return out


def blocked_domains(analysis: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The domains the analysis calls blocked, with the details an alert keeps."""
    out: dict[str, dict[str, Any]] = {}
    for entry in analysis.get("domains") or []:
        if (
            isinstance(entry, Mapping)
            and isinstance(entry.get("domain"), str)
            and entry.get("verdict") in BLOCKED_VERDICTS
        ):
            out[entry["domain"].lower()] = {k: entry.get(k) for k in DETAIL_KEYS if k in entry}
    return out


def changes_from_analysis(
    analysis: Mapping[str, Any], previous: Mapping[str, Any] | None
) -> list[tuple[str, str]]:
    """``(domain, kind)`` changes: the analysis's own lists, else a diff with ``previous``."""
    if "newly_blocked" in analysis or "newly_unblocked" in analysis:
        return [(d, BLOCKED) for d in _domain_list(analysis.get("newly_blocked"))] + [
            (d, UNBLOCKED) for d in _domain_list(analysis.get("newly_unblocked"))
        ]
    if previous is None:
        return []
    now = blocked_domains(analysis)
    before = set(previous.get("blocked") or [])
    tested = {
        e["domain"].lower()
        for e in analysis.get("domains") or []
        if isinstance(e, Mapping) and isinstance(e.get("domain"), str)
    }
    changes = [(d, BLOCKED) for d in sorted(set(now) - before)]
    # Unblocked only when the site was measured and judged accessible, not merely missing.
    changes += [
        (d, UNBLOCKED)
        for d in sorted(before - set(now))
        if d in tested and _verdict(analysis, d) == "accessible"
    ]
    return changes


def _verdict(analysis: Mapping[str, Any], domain: str) -> str | None:
    for entry in analysis.get("domains") or []:
        if isinstance(entry, Mapping) and str(entry.get("domain", "")).lower() == domain:
            return entry.get("verdict")
    return None


def alerts_from_analysis(
    store: Store,
    analysis: Mapping[str, Any],
    period: str,
    country: str | None,
    *,
    previous_path: Path | None = None,
) -> int:
    """Record the alerts one analysis result implies; remember its verdicts for next time."""
    previous = None
    if previous_path is not None and previous_path.exists():
        try:
            previous = json.loads(previous_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            log.warning("%s: unreadable, alerts start from a new baseline", previous_path)
    if previous is not None and previous.get("period") != period:
        previous = None  # a new reporting year starts from its own baseline
    details = blocked_domains(analysis)
    for entry in analysis.get("domains") or []:
        if isinstance(entry, Mapping) and isinstance(entry.get("domain"), str):
            details.setdefault(
                entry["domain"].lower(), {k: entry.get(k) for k in DETAIL_KEYS if k in entry}
            )
    new = record_alerts(
        store, changes_from_analysis(analysis, previous), period, country=country, details=details
    )
    if previous_path is not None:
        _write_json_atomic(
            previous_path, {"period": period, "blocked": sorted(blocked_domains(analysis))}
        )
    return len(new)


def _write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, ensure_ascii=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- delivery -------------------------------------------------------------------------------


def alert_text(alert: Alert) -> str:
    """One neutral sentence, then the facts, in plain text."""
    where = f" in {alert.country}" if alert.country else ""
    if alert.kind == BLOCKED:
        head = f"{alert.domain} was found blocked{where}"
    else:
        head = f"{alert.domain} is no longer found blocked{where}"
    lines = [f"{head} (reporting period {alert.period})."]
    d = alert.details or {}
    if d.get("verdict"):
        lines.append(f"Verdict: {d['verdict']}")
    if d.get("methods"):
        lines.append(f"Method: {', '.join(map(str, d['methods']))}")
    if d.get("networks"):
        lines.append(f"Networks: {', '.join(map(str, d['networks']))}")
    if d.get("first_blocked") or d.get("last_blocked"):
        lines.append(f"Observed blocked: {d.get('first_blocked')} to {d.get('last_blocked')}")
    if d.get("measurements") is not None:
        lines.append(
            f"Measurements: {d.get('measurements')}, anomalies {d.get('anomalies')}, "
            f"confirmed {d.get('confirmed')}"
        )
    lines.append(f"Detected {alert.detected_at:%Y-%m-%d %H:%M} UTC by censorwatch.")
    return "\n".join(lines)


def alert_payload(alert: Alert) -> dict[str, Any]:
    """The webhook's JSON body: ``text`` for chat relays, ``alert`` for programs."""
    return {
        "text": alert_text(alert),
        "alert": {
            "id": alert.id,
            "kind": alert.kind,
            "domain": alert.domain,
            "country": alert.country,
            "period": alert.period,
            "detected_at": alert.detected_at.isoformat(timespec="seconds") + "Z",
            "details": alert.details or {},
        },
    }


def send_webhook(url: str, alert: Alert, timeout: float = 30.0) -> None:
    """POST the alert as JSON. Errors never repeat the URL: relay URLs carry their token."""
    try:
        response = requests.post(url, json=alert_payload(alert), timeout=timeout)
    except requests.RequestException as exc:
        raise RuntimeError(f"webhook not reachable ({type(exc).__name__})") from None
    if response.status_code >= 300:
        raise RuntimeError(f"webhook answered HTTP {response.status_code}")


def send_email(settings: AlertSettings, alert: Alert) -> None:
    msg = EmailMessage()
    verb = "found blocked" if alert.kind == BLOCKED else "no longer found blocked"
    msg["Subject"] = f"[censorwatch] {alert.domain} {verb}"
    msg["From"] = settings.smtp_from or settings.smtp_user
    msg["To"] = ", ".join(settings.smtp_to)
    msg.set_content(alert_text(alert))
    if settings.smtp_port == 465:
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(
            settings.smtp_host, settings.smtp_port, timeout=settings.timeout
        )
    else:
        smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.timeout)
    with smtp:
        if settings.smtp_starttls and settings.smtp_port != 465:
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
        smtp.send_message(msg)


def channels(settings: AlertSettings) -> list[str]:
    """The configured delivery channels."""
    out = []
    if settings.webhook_url:
        out.append("webhook")
    if settings.smtp_host and settings.smtp_to:
        out.append("email")
    return out


def deliver_pending(store: Store, settings: AlertSettings, limit: int = 200) -> dict[str, int]:
    """Send every alert not yet delivered to each configured channel; returns counts."""
    wanted = channels(settings)
    sent = failed = 0
    if not wanted:
        return {"alerts_sent": 0, "alerts_failed": 0}
    with store.session() as s:
        pending = [
            a
            for a in s.scalars(select(Alert).order_by(Alert.id))
            if any(ch not in (a.delivered or {}) for ch in wanted)
        ][:limit]
    for alert in pending:
        delivered = dict(alert.delivered or {})
        errors = []
        for channel in wanted:
            if channel in delivered:
                continue
            try:
                if channel == "webhook":
                    send_webhook(settings.webhook_url, alert, settings.timeout)
                else:
                    send_email(settings, alert)
            except Exception as exc:
                # Never log the webhook URL or SMTP password: only the channel and the error.
                errors.append(f"{channel}: {type(exc).__name__}: {exc}"[:500])
                log.warning(
                    "alert %s (%s): %s delivery failed: %s", alert.id, alert.domain, channel, exc
                )
                continue
            delivered[channel] = utcnow().isoformat(timespec="seconds") + "Z"
        with store.session() as s:
            row = s.get(Alert, alert.id)
            if row is not None:
                row.delivered = delivered or None
                row.last_error = "; ".join(errors) or None
        if errors:
            failed += 1
        else:
            sent += 1
    return {"alerts_sent": sent, "alerts_failed": failed}
