"""Per URL and per domain: what was measured, what looked blocked, where, how and when.

Everything here is a pure function of the aggregated tables from :mod:`load`: the URL table,
the domain x network table the verdicts are computed from, the domain x month table, and the
final domain table with verdict, methods, blocking networks, first and last day observed
blocked and whether the domain was still blocked at the end of the period.
"""

from __future__ import annotations

import pandas as pd

from censorwatch.analysis.coverage import normalise_url
from censorwatch.analysis.frames import count_distinct, day_text, max_text
from censorwatch.analysis.rules import (
    ANOMALY,
    BLOCKPAGE,
    BLOCKPAGE_COLUMN,
    CONFIRMED,
    FAILURE,
    METHOD_COLUMNS,
    OK,
    WEB_TESTS,
)
from censorwatch.analysis.verdicts import BLOCKED_VERDICTS, INCONCLUSIVE, Thresholds

METHOD_COLS = list(METHOD_COLUMNS.values())
SUMMED = ["measurements", OK, ANOMALY, CONFIRMED, FAILURE, *METHOD_COLS, BLOCKPAGE_COLUMN]


def web_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """The website measurements (web_connectivity with a URL) among the cells."""
    return cells[cells["test_name"].isin(WEB_TESTS) & cells["domain"].notna()]


def _finish_counts(df: pd.DataFrame) -> pd.DataFrame:
    df["anomalies"] = df[ANOMALY] + df[CONFIRMED]
    df = df.rename(columns={FAILURE: "failures"})
    judged = (df["measurements"] - df["failures"]).where(lambda s: s > 0)
    df["anomaly_rate"] = (df["anomalies"] / judged).fillna(0.0)
    return df


def methods_of(row: pd.Series | dict) -> tuple[str, ...]:
    """Methods seen in a row of method counts, most frequent first; ``blockpage`` when a
    known blockpage confirmed a measurement (not for a DNS answer known for blocking)."""
    counts = [(method, int(row[col])) for method, col in METHOD_COLUMNS.items() if row[col] > 0]
    counts.sort(key=lambda mc: -mc[1])  # stable: ties keep the METHODS order
    methods = [m for m, _ in counts]
    if row.get(BLOCKPAGE_COLUMN, 0) > 0:
        methods.append(BLOCKPAGE)
    return tuple(methods)


def url_table(web: pd.DataFrame, testlist: pd.DataFrame) -> pd.DataFrame:
    """One row per measured URL: counts, category, networks, first and last anomaly."""
    cols = [
        "input",
        "domain",
        "category_code",
        "measurements",
        OK,
        "anomalies",
        CONFIRMED,
        "failures",
        "anomaly_rate",
        "methods",
        "networks",
        "first_anomaly",
        "last_anomaly",
    ]
    if web.empty:
        return pd.DataFrame(columns=cols)
    g = web.groupby(["input", "domain"], sort=True)
    df = g[SUMMED].sum()
    df["category_code"] = max_text(web, ["input", "domain"], "category_code")
    df["networks"] = g["probe_asn"].nunique()
    df["first_anomaly"] = g["first_anomaly"].min()
    df["last_anomaly"] = g["last_anomaly"].max()
    df = _finish_counts(df.reset_index())
    listed = {}
    if not testlist.empty:
        for url, cat in zip(testlist["url"], testlist["category_code"], strict=True):
            listed.setdefault(normalise_url(url), cat)
    missing = df["category_code"].isna()
    df.loc[missing, "category_code"] = [
        listed.get(normalise_url(u)) for u in df.loc[missing, "input"]
    ]
    df["methods"] = [methods_of(r) for r in df.to_dict(orient="records")]
    for col in ("first_anomaly", "last_anomaly"):
        df[col] = day_text(df[col])
    return df[cols]


def anomaly_days_per_domain(anomalous_days: pd.DataFrame) -> pd.DataFrame:
    """Distinct local days with an anomaly per domain and network (any source, any URL of
    the domain: one day counts once)."""
    keys = ["domain", "probe_asn"]
    if anomalous_days.empty:
        return pd.DataFrame(columns=[*keys, "anomaly_days"])
    out = count_distinct(anomalous_days, keys, "day").rename("anomaly_days")
    return out.reset_index()


def domain_network_table(
    web: pd.DataFrame, days: pd.DataFrame, agreement_days: pd.DataFrame
) -> pd.DataFrame:
    """One row per domain and network: counts, methods, first/last anomaly, anomalous days
    (``days``: domain, probe_asn, anomaly_days), agreement days."""
    keys = ["domain", "probe_asn"]
    if web.empty:
        return pd.DataFrame(
            columns=[
                *keys,
                *SUMMED,
                "anomalies",
                "failures",
                "anomaly_rate",
                "first_anomaly",
                "last_anomaly",
                "anomaly_days",
                "agreement_days",
            ]
        )
    g = web.groupby(keys, sort=True)
    df = g[SUMMED].sum()
    df["first_anomaly"] = g["first_anomaly"].min()
    df["last_anomaly"] = g["last_anomaly"].max()
    df = _finish_counts(df.reset_index())
    df = df.merge(days, on=keys, how="left").merge(agreement_days, on=keys, how="left")
    for col in ("anomaly_days", "agreement_days"):
        df[col] = df[col].fillna(0).astype("int64")
    return df.sort_values(keys, kind="mergesort").reset_index(drop=True)


def domain_month_table(web: pd.DataFrame) -> pd.DataFrame:
    """One row per domain and local month: counts of each status."""
    if web.empty:
        return pd.DataFrame(columns=["domain", "month", *SUMMED, "anomalies", "anomaly_rate"])
    df = web.groupby(["domain", "month"], as_index=False, sort=True)[SUMMED].sum()
    return _finish_counts(df)


def domain_network_month_table(web: pd.DataFrame) -> pd.DataFrame:
    """One row per domain, network and local month."""
    keys = ["domain", "probe_asn", "month"]
    if web.empty:
        return pd.DataFrame(columns=[*keys, *SUMMED, "anomalies", "anomaly_rate"])
    df = web.groupby(keys, as_index=False, sort=True)[SUMMED].sum()
    return _finish_counts(df)


def domain_categories(urls: pd.DataFrame) -> dict[str, str | None]:
    """A domain's category: that of its most measured URL category (ties: alphabetical)."""
    out: dict[str, str | None] = {}
    known = urls[urls["category_code"].notna()]
    if not known.empty:
        per = known.groupby(["domain", "category_code"], as_index=False)["measurements"].sum()
        per = per.sort_values(
            ["domain", "measurements", "category_code"],
            ascending=[True, False, True],
            kind="mergesort",
        )
        for domain, cat in zip(per["domain"], per["category_code"], strict=True):
            out.setdefault(domain, cat)
    return out


def still_blocked(
    window: pd.DataFrame, verdicts: pd.DataFrame, t: Thresholds
) -> dict[str, bool | None]:
    """Per blocked domain: still blocked in the final window on its blocking networks?

    ``True`` when a blocking network showed a confirmed measurement or an anomaly rate of at
    least ``likely_min_anomaly_rate`` in the window, ``False`` when blocking networks were
    measured there without that, ``None`` (unknown) when none was measured there.
    """
    out: dict[str, bool | None] = {}
    per = (
        window.groupby(["domain", "probe_asn"])[["measurements", ANOMALY, CONFIRMED, FAILURE]].sum()
        if not window.empty
        else None
    )
    for domain, verdict, asns in zip(
        verdicts["domain"], verdicts["verdict"], verdicts["blocking_asns"], strict=True
    ):
        if verdict not in BLOCKED_VERDICTS:
            continue
        state: bool | None = None
        for asn in asns:
            if per is None or (domain, asn) not in per.index:
                continue
            row = per.loc[(domain, asn)]
            judged = int(row["measurements"] - row[FAILURE])
            if judged <= 0:
                continue
            anomalies = int(row[ANOMALY] + row[CONFIRMED])
            if row[CONFIRMED] > 0 or anomalies / judged >= t.likely_min_anomaly_rate:
                state = True
                break
            state = False
        out[domain] = state
    return out


DOMAIN_COLUMNS = [
    "domain",
    "category_code",
    "verdict",
    "confirmed_by",
    "methods",
    "networks",
    "measurements",
    "judged",
    "anomalies",
    "confirmed",
    "failures",
    "anomaly_rate",
    "first_blocked",
    "last_blocked",
    "still_blocked",
    "networks_measured",
    "urls",
]
#: Added by :func:`add_day_counts` (after the table is built: they need the blocked domains'
#: days, read after the verdicts).
DAY_COUNT_COLUMNS = ["days_measured", "days_blocked"]


def domain_table(
    verdicts: pd.DataFrame,
    per_network: pd.DataFrame,
    urls: pd.DataFrame,
    still: dict[str, bool | None],
) -> pd.DataFrame:
    """The final per-domain table the report and the JSON output use.

    ``networks`` is the tuple of ASNs where the domain was found blocked (empty unless
    confirmed or likely); ``methods`` and ``first_blocked``/``last_blocked`` come from those
    networks, or from every network for an inconclusive domain's methods.
    """
    if verdicts.empty:
        return pd.DataFrame(columns=DOMAIN_COLUMNS)
    categories = domain_categories(urls)
    url_counts = count_distinct(urls, ["domain"], "input").to_dict() if not urls.empty else {}
    v = verdicts.set_index("domain")
    pn = per_network.assign(verdict=per_network["domain"].map(v["verdict"]))
    blocking_sets = {d: set(a) for d, a in v["blocking_asns"].items()}
    on_blocking = pd.Series(
        [
            int(a) in blocking_sets.get(d, ())
            for d, a in zip(pn["domain"], pn["probe_asn"], strict=True)
        ],
        index=pn.index,
        dtype=bool,
    )
    blocked_rows = pn[on_blocking & pn["verdict"].isin(BLOCKED_VERDICTS)]
    method_rows = pd.concat([blocked_rows, pn[pn["verdict"] == INCONCLUSIVE]])
    sums = method_rows.groupby("domain", sort=True)[[*METHOD_COLS, BLOCKPAGE_COLUMN]].sum()
    methods = {d: methods_of(row) for d, row in sums.to_dict(orient="index").items()}
    g = blocked_rows.groupby("domain", sort=True)
    first = day_text(g["first_anomaly"].min()).to_dict() if len(blocked_rows) else {}
    last = day_text(g["last_anomaly"].max()).to_dict() if len(blocked_rows) else {}
    out = verdicts.copy()
    blocked = out["verdict"].isin(BLOCKED_VERDICTS)
    out["category_code"] = out["domain"].map(categories)
    out["methods"] = [methods.get(d, ()) for d in out["domain"]]
    out["networks"] = out["blocking_asns"].map(tuple)
    out["first_blocked"] = [
        first.get(d) if b else None for d, b in zip(out["domain"], blocked, strict=True)
    ]
    out["last_blocked"] = [
        last.get(d) if b else None for d, b in zip(out["domain"], blocked, strict=True)
    ]
    out["still_blocked"] = [
        still.get(d) if b else None for d, b in zip(out["domain"], blocked, strict=True)
    ]
    out["urls"] = [int(url_counts.get(d, 0)) for d in out["domain"]]
    out["confirmed_by"] = (
        out["confirmed_by"].astype(object).where(out["confirmed_by"].notna(), None)
    )
    out["category_code"] = (
        out["category_code"].astype(object).where(out["category_code"].notna(), None)
    )
    return out[DOMAIN_COLUMNS].reset_index(drop=True)


def category_table(domains: pd.DataFrame) -> pd.DataFrame:
    """Per category: domains tested and how many of each verdict."""
    from censorwatch.analysis.verdicts import VERDICTS

    cols = ["category_code", "domains", "blocked", *VERDICTS]
    if domains.empty:
        return pd.DataFrame(columns=cols)
    df = domains.assign(category_code=domains["category_code"].fillna("(none)"))
    counts = pd.crosstab(df["category_code"], df["verdict"])
    for v in VERDICTS:
        if v not in counts.columns:
            counts[v] = 0
    counts = counts[list(VERDICTS)]
    counts.insert(0, "domains", counts.sum(axis=1))
    counts.insert(1, "blocked", counts[list(BLOCKED_VERDICTS)].sum(axis=1))
    out = counts.reset_index().sort_values(
        ["blocked", "category_code"], ascending=[False, True], kind="mergesort"
    )
    out.columns.name = None
    return out[cols].reset_index(drop=True)


def network_table(
    per_network: pd.DataFrame, domains: pd.DataFrame, names: dict[int, str]
) -> pd.DataFrame:
    """Per network: website measurements, domains tested and domains found blocked there."""
    cols = [
        "asn",
        "name",
        "domains_tested",
        "domains_blocked",
        "measurements",
        "anomalies",
        "confirmed",
        "failures",
        "anomaly_rate",
    ]
    if per_network.empty:
        return pd.DataFrame(columns=cols)
    g = per_network.groupby("probe_asn", sort=True)
    df = g[["measurements", "anomalies", CONFIRMED, "failures"]].sum()
    df["domains_tested"] = g["domain"].nunique()
    blocked: dict[int, int] = {}
    for asns, verdict in zip(domains["networks"], domains["verdict"], strict=True):
        if verdict in BLOCKED_VERDICTS:
            for a in asns:
                blocked[int(a)] = blocked.get(int(a), 0) + 1
    df = df.reset_index().rename(columns={"probe_asn": "asn"})
    df["domains_blocked"] = [blocked.get(int(a), 0) for a in df["asn"]]
    judged = (df["measurements"] - df["failures"]).where(lambda s: s > 0)
    df["anomaly_rate"] = (df["anomalies"] / judged).fillna(0.0)
    df["name"] = [names.get(int(a), f"AS{int(a)}") for a in df["asn"]]
    return df[cols]


#: A day's state in a blocked website's timeline (see :func:`domain_day_states`).
DAY_BLOCKED = "blocked"
DAY_MEASURED = "measured"


def domain_day_states(
    domain_days: pd.DataFrame, networks: dict[str, tuple[int, ...]]
) -> pd.DataFrame:
    """Per blocked website and local day it was measured: ``blocked`` or ``measured``.

    ``blocked``: an anomalous (or confirmed) measurement on one of its blocking
    ``networks`` that day; ``measured``: at least one judged (non-failure) measurement on
    any network and no anomaly on its blocking networks. Days with only failures, or not
    measured, are absent. An anomaly is itself judged, so every blocked day is a measured
    day. The one rule behind ``days_measured``/``days_blocked`` and the report's
    timeline, so they cannot disagree. Ordered by domain and day.
    """
    columns = ["domain", "day", "state"]
    if domain_days.empty:
        return pd.DataFrame(columns=columns)
    dd = domain_days
    on_blocking = pd.Series(
        [int(a) in networks.get(d, ()) for d, a in zip(dd["domain"], dd["probe_asn"], strict=True)],
        index=dd.index,
        dtype=bool,
    )
    flags = pd.DataFrame(
        {
            "domain": dd["domain"],
            "day": dd["day"],
            "judged": (dd["measurements"] - dd["failures"]) > 0,
            "blocked": on_blocking & (dd["anomalies"] > 0),
        }
    )
    per_day = flags.groupby(["domain", "day"], sort=True)[["judged", "blocked"]].any()
    per_day = per_day[per_day["judged"] | per_day["blocked"]].reset_index()
    per_day["state"] = [DAY_BLOCKED if b else DAY_MEASURED for b in per_day["blocked"]]
    return per_day[columns]


def add_day_counts(domains: pd.DataFrame, domain_days: pd.DataFrame) -> pd.DataFrame:
    """``domains`` with ``days_measured`` and ``days_blocked`` (ints for confirmed and
    likely websites, None for the others), from :func:`domain_day_states`.

    A count of measurements hides how often a site was looked at; the days measured and
    blocked say whether "blocked" rests on two days or on two hundred.
    """
    out = domains.copy()
    if out.empty:
        out["days_measured"] = pd.Series(dtype=object)
        out["days_blocked"] = pd.Series(dtype=object)
        return out
    networks = {
        str(d): tuple(int(a) for a in n)
        for d, n, v in zip(out["domain"], out["networks"], out["verdict"], strict=True)
        if v in BLOCKED_VERDICTS
    }
    states = domain_day_states(domain_days, networks)
    measured = states.groupby("domain").size().to_dict() if not states.empty else {}
    blocked_days = (
        states[states["state"] == DAY_BLOCKED].groupby("domain").size().to_dict()
        if not states.empty
        else {}
    )
    blocked = out["verdict"].isin(BLOCKED_VERDICTS)
    out["days_measured"] = pd.Series(
        [
            int(measured.get(d, 0)) if b else None
            for d, b in zip(out["domain"], blocked, strict=True)
        ],
        index=out.index,
        dtype=object,
    )
    out["days_blocked"] = pd.Series(
        [
            int(blocked_days.get(d, 0)) if b else None
            for d, b in zip(out["domain"], blocked, strict=True)
        ],
        index=out.index,
        dtype=object,
    )
    return out
