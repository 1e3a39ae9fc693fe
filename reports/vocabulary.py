"""Words the report shows for coded values (statuses, verdicts, methods), marked for gettext.

The template looks these up and translates them; ``N_`` only marks a string for extraction
into the catalogue (``pybabel extract -k N_``), so the Khmer catalogue has every one of them.
"""

from __future__ import annotations


def N_(message: str) -> str:
    return message


STATUS_NAMES = {"draft": N_("Draft"), "review": N_("Review"), "endorsed": N_("Endorsed")}

VERDICT_NAMES = {
    "confirmed": N_("confirmed blocked"),
    "likely": N_("likely blocked"),
    "inconclusive": N_("inconclusive"),
    "accessible": N_("accessible"),
}

METHOD_NAMES = {
    "dns": N_("DNS"),
    "tcp_ip": N_("TCP/IP"),
    "tls": N_("TLS"),
    "http-diff": N_("HTTP (different page)"),
    "http-failure": N_("HTTP (failure)"),
    "blockpage": N_("blockpage"),
}

APP_STATUS_NAMES = {
    "reachable": N_("reachable"),
    "blocked": N_("blocked"),
    "partly": N_("partly blocked"),
    "inconclusive": N_("inconclusive"),
}

CHANGE_NAMES = {
    "added": N_("added"),
    "changed": N_("changed"),
    "removed": N_("removed"),
    "retired": N_("retired"),
}
