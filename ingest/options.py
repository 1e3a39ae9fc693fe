"""What the ``censorwatch ingest`` options accept, in a module that imports nothing.

``censorwatch ingest --help`` and its subcommands' help list these choices; the modules that
use them (:mod:`.api_ingest`, :mod:`.aggregation`) build on the store's models and the HTTP
client, which the help need not load (issue #15).
"""

from __future__ import annotations

#: What ``--only`` may ask the measurement list for.
FILTERS: dict[str, dict[str, str]] = {
    "all": {},
    "anomaly": {"anomaly": "true"},
    "confirmed": {"confirmed": "true"},
}

#: Second dimensions the report uses; "" is the country total per month.
AXES = ("", "probe_asn", "domain", "category_code")
