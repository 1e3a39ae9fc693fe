"""Hand-built measurements for tests and benchmarks (never shown as real data).

:func:`measurement` makes one :class:`Measurement` with only the fields the analysis reads,
every other field defaulted, so a test states exactly the evidence it is about::

    measurement("https://vodkhmer.news/", "2023-03-01 10:00", asn=38623, anomaly=True)
"""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

from censorwatch.measurement import (
    SOURCE_OONI,
    Measurement,
    deterministic_uid,
    domain_of,
    measurement_key,
    parse_time,
)

_serial = itertools.count(1)


def measurement(
    input: str | None = "https://example.org/",
    when: str | datetime = "2023-06-01 00:00:00",
    *,
    asn: int = 38623,
    source: str = SOURCE_OONI,
    test_name: str = "web_connectivity",
    cc: str = "KH",
    anomaly: bool | None = None,
    confirmed: bool | None = None,
    failure: bool | None = None,
    blocking: str | None = None,
    verdict_blocking: str | None = None,
    verdict_confirmed: bool | None = None,
    verdict_fingerprint: str | None = None,
    category_code: str | None = None,
    network_name: str | None = None,
    scores: dict[str, Any] | None = None,
    document: dict[str, Any] | None = None,
    report_id: str | None = None,
) -> Measurement:
    """One measurement; each call gets its own report id unless ``report_id`` is given."""
    start = parse_time(when if isinstance(when, datetime) else str(when).replace(" ", "T"))
    rid = report_id or f"20230101T000000Z_{test_name}_{cc}_{asn}_n1_{next(_serial):016d}"
    key = measurement_key(rid, input, start)
    return Measurement(
        measurement_key=key,
        measurement_uid=deterministic_uid(key, start, cc, test_name),
        source=source,
        test_name=test_name,
        measurement_start_time=start,
        probe_cc=cc,
        probe_asn=asn,
        input=input,
        domain=domain_of(input),
        report_id=rid,
        probe_network_name=network_name,
        category_code=category_code,
        anomaly=anomaly,
        confirmed=confirmed,
        failure=failure,
        blocking=blocking,
        verdict_blocking=verdict_blocking,
        verdict_confirmed=verdict_confirmed,
        verdict_fingerprint=verdict_fingerprint,
        scores=scores,
        document=document,
    )


def ooni(input: str, when: str, asn: int = 38623, *, status: str = "ok", **kw: Any) -> Measurement:
    """An OONI API measurement with fastpath flags for ``status`` (ok/anomaly/confirmed/
    failure) and, when anomalous, the blocking type in its scores (``method=``)."""
    method = kw.pop("method", "dns")
    flags = {
        "ok": (False, False, False),
        "anomaly": (True, False, False),
        "confirmed": (True, True, False),
        "failure": (False, False, True),
    }[status]
    scores = {"blocking_general": 1.0 if flags[0] else 0.0}
    if flags[0] and method:
        scores["analysis"] = {"blocking_type": method}
    return measurement(
        input,
        when,
        asn=asn,
        anomaly=flags[0],
        confirmed=flags[1],
        failure=flags[2],
        scores=scores,
        **kw,
    )


def probe(
    input: str, when: str, asn: int = 38623, *, blocking: str = "false", **kw: Any
) -> Measurement:
    """One of our own probe's measurements, judged by the verdict engine as ``blocking``."""
    anomaly = blocking not in ("false",)
    return measurement(
        input,
        when,
        asn=asn,
        source="censorwatch",
        anomaly=anomaly,
        confirmed=kw.pop("confirmed", False),
        failure=False,
        blocking=blocking,
        verdict_blocking=blocking,
        **kw,
    )
