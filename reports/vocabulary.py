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

#: The machine's verdict on a suspicious DNS answer address (``blocking_answers``).
ANSWER_VERDICT_NAMES = {
    "blocking": N_("blocking"),
    "false-positive": N_("false positive"),
    "unclear": N_("unclear"),
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

#: Citizen Lab category names (testlists/legend.csv), for the Khmer catalogue.
CATEGORY_NAMES = {
    "ALDR": N_("Alcohol & Drugs"),
    "REL": N_("Religion"),
    "PORN": N_("Pornography"),
    "PROV": N_("Provocative Attire"),
    "POLR": N_("Political Criticism"),
    "HUMR": N_("Human Rights Issues"),
    "ENV": N_("Environment"),
    "MILX": N_("Terrorism and Militants"),
    "HATE": N_("Hate Speech"),
    "NEWS": N_("News Media"),
    "XED": N_("Sex Education"),
    "PUBH": N_("Public Health"),
    "GMB": N_("Gambling"),
    "ANON": N_("Anonymization and circumvention tools"),
    "DATE": N_("Online Dating"),
    "GRP": N_("Social Networking"),
    "LGBT": N_("LGBT"),
    "FILE": N_("File-sharing"),
    "HACK": N_("Hacking Tools"),
    "COMT": N_("Communication Tools"),
    "MMED": N_("Media sharing"),
    "HOST": N_("Hosting and Blogging Platforms"),
    "SRCH": N_("Search Engines"),
    "GAME": N_("Gaming"),
    "CULTR": N_("Culture"),
    "ECON": N_("Economics"),
    "GOVT": N_("Government"),
    "COMM": N_("E-commerce"),
    "CTRL": N_("Control content"),
    "IGO": N_("Intergovernmental Organizations"),
    "MISC": N_("Miscellaneous content"),
}
