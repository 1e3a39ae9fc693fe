"""The one rule that gives every stored measurement its effective status and method.

Every count in the analysis (and so in the report) starts here. A measurement is exactly one
of ``failure``, ``confirmed``, ``anomaly`` or ``ok``, decided in this order of evidence:

1. **A pipeline judged it** (``anomaly`` is not NULL: OONI's fastpath flags from the API, or
   our verdict engine's flags for our own probes): ``failure`` if its ``failure`` flag is
   set, else ``confirmed`` if it or our verdict engine confirmed it, else ``anomaly`` if its
   ``anomaly`` flag is set, else ``ok``. These are OONI's own categories, counted the way
   OONI's aggregation API counts them (each measurement in exactly one).
2. **Else our verdict engine recomputed it** (``verdict_blocking`` is not NULL):
   ``confirmed`` if a fingerprint confirmed it, ``ok`` for ``"false"``, ``anomaly`` for a
   blocking method, ``failure`` for anything else. When the engine found no method but a
   fingerprint matched (``verdict_fingerprint`` is not NULL: the measurement's only sign of
   blocking was an answer known as a false positive, such as an address the working group
   rejected), it is ``confirmed`` if a fingerprint confirmed it, else a ``failure``: no
   conclusion, and never the probe's own ``blocking`` read again.
3. **Else the probe's own ``test_keys.blocking``** (raw documents nobody judged), read the way
   OONI's fastpath reads it: a method is an anomaly, ``false`` is ok, NULL or an unknown
   value is a failure.
4. **Else** ``confirmed`` when our verdict engine matched a blocking fingerprint (OONI's
   fastpath, too, keeps a ``blocking: null`` measurement when a fingerprint matched), and
   otherwise a failure: nothing says whether the site was reachable.

The **method** of an anomalous measurement is the verdict engine's ``verdict_blocking``, else
the probe's ``blocking``, else the ``blocking_type`` of OONI's scores (API rows); a confirmed
measurement whose method is not ``dns`` also counts as ``blockpage`` (a known blockpage matched;
a DNS answer known for blocking confirms a ``dns`` measurement, which is no blockpage).

The same rule exists twice: as SQL (:func:`status_sql`, :func:`method_sql`, used by the
aggregation queries so three million rows never leave the database) and as Python
(:func:`measurement_status`, :func:`measurement_method`, for single measurements and tests);
``tests/test_analysis_rules.py`` checks that the two agree row by row.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, Interval, and_, case, func, literal, literal_column, or_

from censorwatch.store.models import MeasurementRow

FAILURE = "failure"
CONFIRMED = "confirmed"
ANOMALY = "anomaly"
OK = "ok"
#: The statuses, in the order of precedence used to decide between them.
STATUSES = (FAILURE, CONFIRMED, ANOMALY, OK)
#: Blocking methods the analysis reports, in the order the report lists them.
METHODS = ("dns", "tcp_ip", "tls", "http-failure", "http-diff")
BLOCKPAGE = "blockpage"
ALL_METHODS = (*METHODS, BLOCKPAGE)
#: Confirmed measurements whose method is an HTTP one: a known blockpage matched (a DNS
#: measurement confirmed by a known blocking answer is not a blockpage).
BLOCKPAGE_COLUMN = "m_blockpage"
#: The methods whose confirmation is a blockpage (a page's body or headers matched).
PAGE_METHODS = ("http-diff", "http-failure", "tcp_ip", "tls")
#: Column-name-safe form of each method (``http-diff`` -> ``http_diff``).
METHOD_COLUMNS = {m: "m_" + m.replace("-", "_") for m in METHODS}

#: Web tests whose input is a URL: the "websites" of the report.
WEB_TESTS = ("web_connectivity",)
#: Instant-messaging and circumvention tests (no input; judged per network and month).
APP_TESTS = ("whatsapp", "telegram", "signal", "facebook_messenger", "tor", "psiphon")

_T = MeasurementRow.__table__.c


#: Small integer codes of the statuses, used inside SQL so that the aggregation compares
#: integers rather than strings (the same order as :data:`STATUSES` would not matter).
STATUS_CODES = {OK: 0, ANOMALY: 1, CONFIRMED: 2, FAILURE: 3}


def _judged_by_blocking(
    col: ColumnElement[Any], confirmed: ColumnElement[bool], v: dict[str, Any]
) -> Any:
    return case(
        (confirmed, literal(v[CONFIRMED])),
        (col == "false", literal(v[OK])),
        (col.in_(METHODS), literal(v[ANOMALY])),
        else_=literal(v[FAILURE]),
    )


def confirmed_sql() -> ColumnElement[bool]:
    return or_(_T.confirmed.is_(True), _T.verdict_confirmed.is_(True))


def status_sql(codes: dict[str, Any] | None = None) -> ColumnElement[Any]:
    """The SQL CASE expression of a measurement's status (see the module docstring).

    It yields the status names, or the values of ``codes`` (e.g. :data:`STATUS_CODES`).
    """
    v = codes or {s: s for s in STATUSES}
    confirmed = confirmed_sql()
    return case(
        (
            _T.anomaly.is_not(None),
            case(
                (_T.failure.is_(True), literal(v[FAILURE])),
                (confirmed, literal(v[CONFIRMED])),
                (_T.anomaly.is_(True), literal(v[ANOMALY])),
                else_=literal(v[OK]),
            ),
        ),
        (
            _T.verdict_blocking.is_not(None),
            _judged_by_blocking(_T.verdict_blocking, confirmed, v),
        ),
        (
            _T.verdict_fingerprint.is_not(None),
            case((confirmed, literal(v[CONFIRMED])), else_=literal(v[FAILURE])),
        ),
        (_T.blocking.is_not(None), _judged_by_blocking(_T.blocking, confirmed, v)),
        (confirmed, literal(v[CONFIRMED])),
        else_=literal(v[FAILURE]),
    )


def _scores_blocking_type(dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return func.jsonb_extract_path_text(_T.scores, "analysis", "blocking_type")
    return func.json_extract(_T.scores, "$.analysis.blocking_type")


def method_sql(dialect: str) -> ColumnElement[str]:
    """The SQL expression of a measurement's blocking method (NULL when none is known).

    OONI's scores are parsed only for rows that carry no method elsewhere and that OONI
    flagged, so the JSON is read for a few anomalous API rows, not for millions.
    """
    return case(
        (_T.verdict_blocking.in_(METHODS), _T.verdict_blocking),
        (_T.blocking.in_(METHODS), _T.blocking),
        (
            and_(_T.scores.is_not(None), _T.anomaly.is_(True)),
            _scores_blocking_type(dialect),
        ),
        else_=None,
    )


# -- the same rule in Python ------------------------------------------------------------------


def _get(row: Any, name: str) -> Any:
    if isinstance(row, Mapping):
        return row.get(name)
    return getattr(row, name, None)


def measurement_status(row: Any) -> str:
    """The status of one measurement (a :class:`Measurement`, a row or a mapping)."""
    anomaly = _get(row, "anomaly")
    confirmed = _get(row, "confirmed") is True or _get(row, "verdict_confirmed") is True
    if anomaly is not None:
        if _get(row, "failure") is True:
            return FAILURE
        if confirmed:
            return CONFIRMED
        return ANOMALY if anomaly is True else OK
    for name in ("verdict_blocking", "verdict_fingerprint", "blocking"):
        value = _get(row, name)
        if value is not None:
            if confirmed:
                return CONFIRMED
            if name == "verdict_fingerprint":
                return FAILURE
            if value == "false":
                return OK
            return ANOMALY if value in METHODS else FAILURE
    return CONFIRMED if confirmed else FAILURE


def measurement_method(row: Any) -> str | None:
    """The blocking method of one measurement, by the same rule as :func:`method_sql`."""
    for name in ("verdict_blocking", "blocking"):
        value = _get(row, name)
        if value in METHODS:
            return value
    scores = _get(row, "scores")
    if isinstance(scores, Mapping) and _get(row, "anomaly") is True:
        analysis = scores.get("analysis")
        if isinstance(analysis, Mapping):
            value = analysis.get("blocking_type")
            return value if isinstance(value, str) else None
    return None


def local_day_sql(segments: list[tuple[Any, Any, int]], dialect: str) -> ColumnElement[str]:
    """The measurement's local calendar day as ``YYYY-MM-DD`` text, for these UTC offsets.

    ``segments`` comes from :meth:`Period.offset_segments`: one for a zone without
    daylight-saving time such as Asia/Phnom_Penh, more when the offset changes inside the
    period.
    """
    t = _T.measurement_start_time

    def shifted(offset: int) -> ColumnElement[str]:
        seconds = int(offset)
        if dialect == "postgresql":
            interval = literal_column(f"interval '{seconds} seconds'", Interval())
            return func.to_char(t + interval, "YYYY-MM-DD")
        return func.date(t, f"{seconds:+d} seconds")

    if len(segments) == 1:
        return shifted(segments[0][2])
    whens = [(t < seg_end, shifted(offset)) for _s, seg_end, offset in segments[:-1]]
    return case(*whens, else_=shifted(segments[-1][2]))
