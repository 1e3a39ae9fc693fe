"""The full pass on a SQLite file without SQLite's sort: one small record per measurement,
grouped in numpy.

Why. The portable full pass (:func:`censorwatch.analysis.load.load_cells` and
:func:`~censorwatch.analysis.load.load_agreement_cells`) lets the database group three
million rows by URL, network, month and status. PostgreSQL hashes that quickly; SQLite sorts,
and the sort of a Cambodian year took about 30 s, plus as much again for the agreement read.
Here SQLite only scans: every measurement of the period becomes one 64-bit integer (its
status, source, test, blocking method, local day and network, packed by the *same* SQL rule
expressions as the portable path), its URL and its category, and the rows come back as one
``group_concat`` / ``json_group_array`` text per chunk of days. An aggregate query is a
single step of SQLite's engine, so the scan runs without Python's GIL (two chunks at a time
on two cores), and no Python row objects are made: only the URL and category texts become
strings, one chunk at a time, turned into integer codes at once. numpy then groups the rows
by integer codes, once for the monthly cells and once for the agreement cells.

The monthly grouping rebuilds exactly the rows of the portable grouping query, which go
through the same ``cells_from_groups`` as before, so both paths end in the same frames; the
agreement table is built directly and compared with the portable one in the tests
(``tests/test_analysis_fastpass.py``: hand-built, randomised, daylight-saving and real OONI
stores). Whenever a store holds something this encoding cannot carry (a source it does not
know, more than 63 test names, an ASN outside 32 bits, a start time SQLite cannot parse, a
method that is not text, an input "\x00", a period of more than 179 years, a chunk larger
than SQLite's longest string), :class:`Unsupported` is raised and the caller uses the
portable path.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import pandas as pd
from sqlalchemy import Connection, Engine, and_, case, func, literal_column, not_, select
from sqlalchemy.exc import DBAPIError

from censorwatch.analysis.period import Period
from censorwatch.analysis.rules import (
    ANOMALY,
    APP_TESTS,
    CONFIRMED,
    FAILURE,
    METHODS,
    OK,
    STATUS_CODES,
    WEB_TESTS,
    method_sql,
    status_sql,
)
from censorwatch.measurement import SOURCES
from censorwatch.store.models import MeasurementRow

_T = MeasurementRow.__table__.c
_OK, _ANOMALY, _CONFIRMED, _FAILURE = (STATUS_CODES[s] for s in (OK, ANOMALY, CONFIRMED, FAILURE))

# The packed record: status (2 bits), source (3), test (6), method (3), local day (16), ASN.
_SRC_SHIFT, _TEST_SHIFT, _METHOD_SHIFT, _DAY_SHIFT, _ASN_SHIFT = 2, 5, 11, 14, 30
_MAX_TESTS = 63
_MAX_DAYS = 1 << 16
#: Method code of a method that is not one of :data:`METHODS` (its text travels separately).
_OTHER_METHOD = 7
#: Days per chunk: bounds the text SQLite builds per statement (about 60 bytes a row).
CHUNK_DAYS = 7
#: Julian day number of 0001-01-01 minus its proleptic ordinal.
_JDN_OFFSET = 1721425
_MS_PER_DAY = 86_400_000


class Unsupported(Exception):
    """The store holds something the packed encoding cannot carry: use the portable path."""


@dataclass
class Rows:
    """Every measurement of a period, one entry per row (numpy arrays of equal length)."""

    #: Status code (:data:`STATUS_CODES`).
    st: np.ndarray
    #: Index into ``sources`` / ``tests``.
    src: np.ndarray
    test: np.ndarray
    #: 0 none, 1..5 :data:`METHODS`, 7 another method (``other_methods``, in row order).
    method: np.ndarray
    #: Local day, counted from the period's first day.
    day: np.ndarray
    asn: np.ndarray
    #: Index into ``inputs`` (-1: no input) and into ``categories`` (-1: none).
    inp: np.ndarray
    cat: np.ndarray
    sources: list[str]
    tests: list[str]
    inputs: np.ndarray
    categories: np.ndarray
    other_methods: list[Any]
    start: date
    #: The shared grouping keys, computed once (see :func:`_parts`).
    parts: _Parts | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.st)


# -- reading ----------------------------------------------------------------------------------


def _local_day_number(period: Period) -> Any:
    """The local day of ``measurement_start_time`` as a Julian day number (an integer).

    SQLite's ``date(t, '+N seconds')`` (the portable path's day) computes the day from the
    time in integer milliseconds (``iJD``): day = (iJD + N * 1000 + 12 h) div 24 h.
    ``julianday(t)`` is iJD / 86,400,000 as a double, from which ``round(... * 86400000)``
    gets iJD back exactly (the double is exact to well under a millisecond), so this is the
    same day, as an integer, without formatting and parsing a date per row.
    """
    t = _T.measurement_start_time

    def at(offset: int) -> Any:
        shift = int(offset) * 1000 + _MS_PER_DAY // 2
        return literal_column(
            "(CAST(round(julianday(measurements.measurement_start_time) * 86400000) AS INTEGER)"
            f" + {shift}) / {_MS_PER_DAY}"
        )

    segments = period.offset_segments()
    if len(segments) == 1:
        return at(segments[0][2])
    whens = [(t < seg_end, at(offset)) for _s, seg_end, offset in segments[:-1]]
    return case(*whens, else_=at(segments[-1][2]))


def _jdn(day: date) -> int:
    return day.toordinal() + _JDN_OFFSET


def _statement(country: str, period: Period, tests: list[str]) -> Any:
    """The chunk query: the packed records, the URLs and categories, the unusual methods of
    the measurements with ``?`` <= start time < ``?`` (the selection of ``load._classified``).
    """
    method = method_sql("sqlite")
    src = case({s: i for i, s in enumerate(SOURCES, 1)}, value=_T.source, else_=0)
    # CASE tries its values in order: the web tests, most of the rows, first.
    ordered = sorted(range(len(tests)), key=lambda i: tests[i] not in WEB_TESTS)
    test = case({tests[i]: i + 1 for i in ordered}, value=_T.test_name, else_=0)
    # One evaluation of the method per row: NULL (and "", which the portable path's frames
    # treat as none too) is 0.
    codes = {"": 0, **{m: i for i, m in enumerate(METHODS, 1)}}
    mcode = case(codes, value=func.ifnull(method, ""), else_=_OTHER_METHOD)
    day = _local_day_number(period) - _jdn(period.start)
    packed = (
        status_sql(STATUS_CODES)
        + src * (1 << _SRC_SHIFT)
        + test * (1 << _TEST_SHIFT)
        + mcode * (1 << _METHOD_SHIFT)
        + day * (1 << _DAY_SHIFT)
        + _T.probe_asn * (1 << _ASN_SHIFT)
    )
    # group_concat skips NULLs, so a NULL record (an unparseable time) would misalign the
    # arrays: it becomes -1, which the reader refuses.
    other = case((func.ifnull(method, "").not_in(list(codes)), func.json_quote(method)), else_=None)
    return select(
        func.count(),
        func.group_concat(func.ifnull(packed, -1)),
        func.json_group_array(_T.input),
        func.json_group_array(_T.category_code),
        func.group_concat(other),
    ).where(
        _T.probe_cc == country,
        _T.measurement_start_time >= literal_column("?"),
        _T.measurement_start_time < literal_column("?"),
        not_(and_(_T.test_name.in_(APP_TESTS), _T.anomaly.is_(None))),
    )


def _test_names(conn: Connection) -> list[str]:
    """Every test name in the store, through the test-name index (one seek per name)."""
    rows = conn.exec_driver_sql(
        "WITH RECURSIVE t(name) AS ("
        " SELECT min(test_name) FROM measurements"
        " UNION ALL"
        " SELECT (SELECT min(test_name) FROM measurements WHERE test_name > t.name)"
        " FROM t WHERE t.name IS NOT NULL)"
        " SELECT name FROM t WHERE name IS NOT NULL"
    ).all()
    return sorted(str(r[0]) for r in rows)


def _asn_range_ok(conn: Connection) -> bool:
    # Two statements: SQLite answers a lone min() or max() from the index's ends.
    lo = conn.execute(select(func.min(_T.probe_asn))).scalar()
    hi = conn.execute(select(func.max(_T.probe_asn))).scalar()
    return lo is None or (lo >= 0 and hi < (1 << 32))


def chunks(period: Period) -> list[tuple[datetime, datetime]]:
    """The period's UTC range cut into pieces of :data:`CHUNK_DAYS` days."""
    out = []
    lo, end = period.utc_start, period.utc_end
    while lo < end:
        hi = min(lo + timedelta(days=CHUNK_DAYS), end)
        out.append((lo, hi))
        lo = hi
    return out


@dataclass
class _Chunk:
    packed: np.ndarray
    #: Codes into ``inputs`` / ``categories`` (-1: NULL), this chunk's distinct values.
    inp: np.ndarray
    inputs: np.ndarray
    cat: np.ndarray
    categories: np.ndarray
    other_methods: list[Any]


def _read_chunk(conn: Connection, sql: str, bounds: tuple[str, str]) -> _Chunk:
    # The aggregates of one statement consume the same rows in the same order (SQLite steps
    # every aggregate once per row), so the arrays line up row by row whatever order the
    # scan takes; the count checks it.
    try:
        n, packed, inputs, categories, others = conn.exec_driver_sql(sql, bounds).one()
    except DBAPIError as exc:
        if "too big" in str(exc):  # more text than SQLITE_MAX_LENGTH for one chunk
            raise Unsupported(f"a chunk too large for one statement: {exc}") from None
        raise
    if not n:
        empty = np.zeros(0, dtype=np.int64)
        return _Chunk(empty, empty, _objects([]), empty, _objects([]), [])
    values = np.array(orjson.loads(b"[" + packed.encode() + b"]"), dtype=np.int64)
    # Text becomes codes chunk by chunk, so the Python strings of one chunk at a time exist.
    inp, inp_uniques = pd.factorize(_objects(orjson.loads(inputs)))
    cat, cat_uniques = pd.factorize(_objects(orjson.loads(categories)))
    if not (len(values) == len(inp) == len(cat) == n):
        raise Unsupported("rows and columns do not line up")
    other = orjson.loads(b"[" + others.encode() + b"]") if others else []
    return _Chunk(values, inp, _objects(inp_uniques), cat, _objects(cat_uniques), other)


def read_rows(
    conn: Connection,
    country: str,
    period: Period,
    engine: Engine | None = None,
    workers: int = 2,
) -> Rows:
    """Every measurement of ``country`` in ``period`` (see :class:`Rows`), read in chunks of
    days; with ``engine`` (a SQLite file) by ``workers`` threads on connections of their own.
    """
    if conn.dialect.name != "sqlite":
        raise Unsupported("not SQLite")
    if period.days + 1 >= _MAX_DAYS:
        raise Unsupported("period too long")
    if not _asn_range_ok(conn):
        raise Unsupported("ASN outside 32 bits")
    tests = _test_names(conn)
    if len(tests) > _MAX_TESTS:
        raise Unsupported("too many test names")
    if not tests:  # an empty store
        return _decode([], tests, period.start)
    # Constants are written into the SQL: SQLite evaluates a CASE or IN over literals
    # markedly faster than over bound parameters (about 25% of the whole scan here). Every
    # value is the analysis's own (codes, rule constants) or the country code, which
    # SQLAlchemy quotes. Only the chunk's bounds are parameters, stored times' text.
    sql = str(
        _statement(country, period, tests).compile(
            dialect=conn.dialect, compile_kwargs={"literal_binds": True}
        )
    )
    as_text = _T.measurement_start_time.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    assert as_text is not None
    bounds = [(as_text(lo), as_text(hi)) for lo, hi in chunks(period)]
    url = engine.url if engine is not None else None
    if url is None or url.database in (None, "", ":memory:") or workers < 2 or len(bounds) < 2:
        parts = [_read_chunk(conn, sql, b) for b in bounds]
    else:

        def run(b: tuple[str, str]) -> _Chunk:
            with engine.connect() as c:
                return _read_chunk(c, sql, b)

        with ThreadPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(run, bounds))
    return _decode(parts, tests, period.start)


def _merge_codes(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Chunks' ``(codes, distinct values)`` -> codes over all chunks into the sorted distinct
    values of all of them (-1 stays NULL)."""
    index: dict[Any, int] = {}
    maps = [
        np.array([index.setdefault(u, len(index)) for u in uniques], dtype=np.int64)
        for _codes, uniques in parts
    ]
    values = _objects(list(index))
    order = np.argsort(values, kind="stable")
    rank = np.empty(len(values) + 1, dtype=np.int32)
    rank[order] = np.arange(len(values))
    rank[-1] = -1  # NULL, reached through code -1
    out = [
        rank[np.append(m, len(values))[codes]] if len(codes) else np.zeros(0, dtype=np.int32)
        for (codes, _u), m in zip(parts, maps, strict=True)
    ]
    merged = np.concatenate(out) if out else np.zeros(0, dtype=np.int32)
    return merged, values[order]


def _decode(parts: list[_Chunk], tests: list[str], start: date) -> Rows:
    packed = np.concatenate([p.packed for p in parts]) if parts else np.zeros(0, np.int64)
    if (packed < 0).any():
        raise Unsupported("a start time SQLite cannot read")
    src = ((packed >> _SRC_SHIFT) & 7).astype(np.int8)
    test = ((packed >> _TEST_SHIFT) & 63).astype(np.int8)
    if (src == 0).any():
        raise Unsupported("an unknown source")
    if (test == 0).any():
        raise Unsupported("a test name added during the read")
    others = [m for p in parts for m in p.other_methods]
    if not all(isinstance(m, str) for m in others):
        raise Unsupported("a blocking method that is not text")
    inp, inputs = _merge_codes([(p.inp, p.inputs) for p in parts])
    if any(u == "\x00" for u in inputs):
        raise Unsupported('an input "\\x00" (the portable path\'s stand-in for none)')
    cat, categories = _merge_codes([(p.cat, p.categories) for p in parts])
    return Rows(
        st=(packed & 3).astype(np.int8),
        src=src - 1,
        test=test - 1,
        method=((packed >> _METHOD_SHIFT) & 7).astype(np.int8),
        day=((packed >> _DAY_SHIFT) & (_MAX_DAYS - 1)).astype(np.int32),
        asn=packed >> _ASN_SHIFT,
        inp=inp,
        cat=cat,
        sources=list(SOURCES),
        tests=tests,
        inputs=inputs,
        categories=categories,
        other_methods=others,
        start=start,
    )


# -- grouping ---------------------------------------------------------------------------------


def _objects(values: Sequence[Any]) -> np.ndarray:
    """A 1-d object array of ``values`` (whatever they are)."""
    arr = np.empty(len(values), dtype=object)
    arr[:] = list(values)
    return arr


def _rank(values: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct ``values`` and, per value, its position among them."""
    uniques, rank = np.unique(_objects(values), return_inverse=True)
    return uniques, rank.reshape(-1)


def _int_rank(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_inverse=True)`` for integers, by hashing or, for small
    non-negative values such as day numbers, by counting (no sort of every row)."""
    if len(values) and values.min() >= 0 and values.max() < 1 << 20:
        present = np.zeros(int(values.max()) + 1, dtype=bool)
        present[values] = True
        rank_of = (np.cumsum(present) - 1).astype(np.int32)
        return np.flatnonzero(present).astype(values.dtype), rank_of[values]
    codes, uniques = pd.factorize(values, sort=True)
    return np.asarray(uniques, dtype=values.dtype), codes


class _Key:
    """A mixed-radix integer key over several rank columns, ordered like the columns."""

    def __init__(self) -> None:
        self.code: np.ndarray | None = None
        self.sizes: list[int] = []

    def add(self, rank: np.ndarray, size: int) -> None:
        size = max(int(size), 1)
        if int(np.prod([*self.sizes, size], dtype=object)) >= 1 << 62:
            raise Unsupported("too many distinct keys")
        if self.code is None:
            self.code = rank.astype(np.int64)
        else:  # in place: these are arrays of millions
            self.code *= size
            self.code += rank
        self.sizes.append(size)

    def group(self) -> tuple[np.ndarray, int, list[np.ndarray]]:
        """Group ids per row (numbered in key order), the number of groups and, per group,
        the rank of each column."""
        assert self.code is not None
        ids, uniques = pd.factorize(self.code, sort=True)
        ranks = []
        rest = np.asarray(uniques, dtype=np.int64)
        for size in reversed(self.sizes):
            ranks.append(rest % size)
            rest = rest // size
        return ids, len(uniques), ranks[::-1]


def _counts(ids: np.ndarray, mask: np.ndarray | None, n: int) -> np.ndarray:
    sel = ids if mask is None else ids[mask]
    return np.bincount(sel, minlength=n).astype(np.int64)


def _text(values: np.ndarray) -> pd.Series:
    """A text column as ``read_sql`` makes one (pandas infers its dtype from the values)."""
    return pd.Series(_objects(values.tolist()))


@dataclass
class _Parts:
    """Per-row keys shared by the groupings."""

    source_rank: np.ndarray
    source_labels: np.ndarray
    #: Per input rank: the URL (None for no input).
    input_labels: np.ndarray
    input_rank: np.ndarray
    #: The distinct networks, sorted, and each row's position among them.
    asn_labels: np.ndarray
    asn_rank: np.ndarray
    #: Per row: a web test with an input.
    web: np.ndarray


def _parts(rows: Rows) -> _Parts:
    if rows.parts is None:
        rows.parts = _make_parts(rows)
    return rows.parts


def _make_parts(rows: Rows) -> _Parts:
    src_labels, src_rank_of = _rank(rows.sources)
    order = np.argsort(_objects(rows.inputs.tolist()), kind="stable")
    input_rank = np.empty(len(rows.inputs) + 1, dtype=np.int32)
    input_rank[order] = np.arange(len(order))
    input_rank[-1] = len(order)  # no input
    labels = _objects([*rows.inputs[order].tolist(), None])
    web_tests = np.array([t in WEB_TESTS for t in rows.tests], dtype=bool)
    web = web_tests[rows.test] & (rows.inp >= 0)
    asn_labels, asn_rank = _int_rank(rows.asn)
    return _Parts(
        src_rank_of[rows.src].astype(np.int8),
        src_labels,
        labels,
        input_rank[rows.inp],
        asn_labels,
        asn_rank.astype(np.int32),
        web,
    )


def _days_text(start: date, days: np.ndarray) -> np.ndarray:
    """Day numbers (from ``start``) as ``YYYY-MM-DD``."""
    base = np.datetime64(start, "D")
    return np.datetime_as_string(base + days.astype("timedelta64[D]"), unit="D").astype(object)


def _method_labels(rows: Rows) -> tuple[np.ndarray, np.ndarray]:
    """Per row, a code of its method, and the method of each code (None for none)."""
    codes = rows.method.astype(np.int32)
    labels = [None, *METHODS, None, None]
    other = codes == _OTHER_METHOD
    if other.any():
        values, index = np.unique(_objects(rows.other_methods), return_inverse=True)
        codes[other] = len(labels) + index.reshape(-1)
        labels += values.tolist()
    return codes, _objects(labels)


def groups_from_rows(rows: Rows) -> pd.DataFrame:
    """The rows the portable path's grouping query returns (``load._group_cells``: per
    source, test, URL, network, local month and status group, anomalous measurements further
    split by local day and method), grouped from single rows, for ``cells_from_groups``."""
    columns = [
        "source",
        "test_name",
        "input",
        "probe_asn",
        "month",
        "grp",
        "aday",
        "amethod",
        "n",
        "n_confirmed",
        "category_code",
    ]
    if len(rows) == 0:
        return pd.DataFrame(columns=columns)
    p = _parts(rows)
    anomalous = (rows.st == _ANOMALY) | (rows.st == _CONFIRMED)
    grp = np.where(anomalous, _ANOMALY, rows.st).astype(np.int8)
    test_labels, test_rank_of = _rank(rows.tests)
    asn_labels, asn_rank = p.asn_labels, p.asn_rank
    day_labels, day_rank = _int_rank(rows.day)
    dates = [rows.start + timedelta(days=int(d)) for d in day_labels]
    month_of_day = np.array([d.year * 12 + d.month - 1 for d in dates], dtype=np.int64)
    month_labels, month_rank_of_day = np.unique(month_of_day, return_inverse=True)
    month_rank_of_day = month_rank_of_day.reshape(-1).astype(np.int32)
    method_codes, method_labels = _method_labels(rows)

    key = _Key()
    key.add(p.source_rank, len(p.source_labels))
    key.add(test_rank_of[rows.test], len(test_labels))
    key.add(p.input_rank, len(p.input_labels))
    key.add(asn_rank.reshape(-1), len(asn_labels))
    key.add(month_rank_of_day[day_rank], len(month_labels))
    key.add(grp, 4)
    key.add(np.where(anomalous, day_rank + 1, 0).astype(np.int32), len(day_labels) + 1)
    key.add(np.where(anomalous, method_codes, 0).astype(np.int32), len(method_labels))
    ids, n, (r_src, r_test, r_inp, r_asn, r_month, r_grp, r_aday, r_method) = key.group()

    cat_max = np.full(n, -1, dtype=np.int64)
    np.maximum.at(cat_max, ids, rows.cat)
    month_text = _objects([f"{m // 12:04d}-{m % 12 + 1:02d}" for m in month_labels])
    day_text = _objects([None, *_days_text(rows.start, day_labels).tolist()])
    categories = _objects([*rows.categories.tolist(), None])
    return pd.DataFrame(
        {
            "source": _text(p.source_labels[r_src]),
            "test_name": _text(test_labels[r_test]),
            "input": _text(p.input_labels[r_inp]),
            "probe_asn": asn_labels[r_asn].astype(np.int64),
            "month": _text(month_text[r_month]),
            "grp": r_grp.astype(np.int64),
            "aday": _text(day_text[r_aday]),
            "amethod": _text(method_labels[r_method]),
            "n": _counts(ids, None, n),
            "n_confirmed": _counts(ids, rows.st == _CONFIRMED, n),
            "category_code": _text(categories[cat_max]),
        }
    )


def agreement_from_rows(rows: Rows, ours: str, theirs: str, asns: list[int] | None) -> pd.DataFrame:
    """The table of :func:`censorwatch.analysis.load.load_agreement_cells`, from single rows."""
    from censorwatch.analysis.load import _domains_of

    counts = [f"{n}_{k}" for n in ("ours", "theirs") for k in ("n", "judged", "anomalies")]
    columns = ["input", "domain", "probe_asn", "day", *counts]
    code = {s: i for i, s in enumerate(rows.sources)}
    if len(rows) == 0 or ours not in code or theirs not in code:
        return pd.DataFrame(columns=columns)
    p = _parts(rows)
    is_ours, is_theirs = rows.src == code[ours], rows.src == code[theirs]
    mask = p.web & (is_ours | is_theirs)
    if asns is not None:
        mask &= np.isin(p.asn_labels, np.asarray(asns, dtype=np.int64))[p.asn_rank]
    if not mask.any():
        return pd.DataFrame(columns=columns)
    asn_labels, asn_rank = p.asn_labels, p.asn_rank[mask]
    day_labels, day_rank = _int_rank(rows.day[mask])
    key = _Key()
    key.add(p.input_rank[mask], len(p.input_labels))
    key.add(asn_rank.reshape(-1), len(asn_labels))
    key.add(day_rank.reshape(-1), len(day_labels))
    ids, n, (r_inp, r_asn, r_day) = key.group()
    st = rows.st[mask]
    judged = st != _FAILURE
    anomalous = (st == _ANOMALY) | (st == _CONFIRMED)
    values: dict[str, np.ndarray] = {}
    for name, side in (("ours", is_ours[mask]), ("theirs", is_theirs[mask])):
        values[f"{name}_n"] = _counts(ids, side, n)
        values[f"{name}_judged"] = _counts(ids, side & judged, n)
        values[f"{name}_anomalies"] = _counts(ids, side & anomalous, n)
    keep = (values["ours_n"] > 0) & (values["theirs_n"] > 0)
    if not keep.any():
        return pd.DataFrame(columns=columns)
    out = pd.DataFrame(
        {
            "input": _text(p.input_labels[r_inp[keep]]),
            "domain": None,
            "probe_asn": asn_labels[r_asn[keep]].astype(np.int64),
            "day": _text(_days_text(rows.start, day_labels[r_day[keep]])),
            **{k: v[keep] for k, v in values.items()},
        }
    )
    out["domain"] = _domains_of(out["input"])
    return out[columns]


def network_days_from_rows(rows: Rows) -> pd.DataFrame:
    """The table of :func:`censorwatch.analysis.load.load_network_days` (measurements per
    network and local day), from the rows already read: one ``bincount`` over network x day,
    no second scan of the store."""
    columns = ["probe_asn", "day", "measurements"]
    if len(rows) == 0:
        return pd.DataFrame(columns=columns)
    p = _parts(rows)
    ndays = int(rows.day.max()) + 1
    code = p.asn_rank.astype(np.int64) * ndays + rows.day
    counts = np.bincount(code, minlength=len(p.asn_labels) * ndays)
    present = np.flatnonzero(counts)
    return pd.DataFrame(
        {
            "probe_asn": p.asn_labels[present // ndays].astype(np.int64),
            "day": _text(_days_text(rows.start, present % ndays)),
            "measurements": counts[present].astype(np.int64),
        }
    )
