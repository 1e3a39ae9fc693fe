"""The shared verdict engine: OONI Web Connectivity's classification plus fingerprints.

Public API (other stages code against exactly these names)::

    from censorwatch.verdict import judge, Verdict, RULES_VERSION, apply_verdict

The rules are written down in ``docs/verdicts.md``.
"""

from __future__ import annotations

from censorwatch.verdict.engine import (
    BLOCKING_TYPES,
    DNS,
    HTTP_DIFF,
    HTTP_FAILURE,
    NO_BLOCKING,
    RULES_VERSION,
    TCP_IP,
    TLS,
    Verdict,
    apply_verdict,
    judge,
)

__all__ = [
    "BLOCKING_TYPES",
    "DNS",
    "HTTP_DIFF",
    "HTTP_FAILURE",
    "NO_BLOCKING",
    "RULES_VERSION",
    "TCP_IP",
    "TLS",
    "Verdict",
    "apply_verdict",
    "judge",
]
