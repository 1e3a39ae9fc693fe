"""``censorwatch analyze``: formats, the JSON contract, written tables, errors."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from click.testing import CliRunner

from censorwatch.analysis.synthetic import ooni, probe
from censorwatch.cli import cli
from censorwatch.store import open_store, write_measurements

A = 38623


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def seed(env: Path) -> str:
    url = f"sqlite:///{env / 'data' / 'censorwatch.sqlite3'}"
    rows = [
        ooni(
            "https://vod.example/",
            f"2023-03-{d:02d} 02:00:00",
            A,
            status="anomaly",
            category_code="NEWS",
            network_name="Viettel",
        )
        for d in range(1, 13)
    ]
    rows += [ooni("https://ok.example/", f"2023-03-{d:02d} 02:00:00", A) for d in range(1, 13)]
    rows.append(probe("https://vod.example/", "2023-03-01 05:00:00", A, blocking="dns"))
    rows.append(ooni("https://late.example/", "2023-12-31 18:00:00", A, status="confirmed"))
    with open_store(url) as store, store.engine.begin() as conn:
        write_measurements(conn, rows)
    return url


def test_registered_in_help(isolated_env: Path) -> None:
    assert "analyze" in run("--help").output
    out = run("analyze", "--help").output
    for flag in ("--country", "--period", "--format", "--output"):
        assert flag in out


def test_json_contract(isolated_env: Path) -> None:
    seed(isolated_env)
    result = run(
        "analyze", "--country", "KH", "--period", "2023-01-01..2023-12-31", "--format", "json"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["period"] == {
        "start": "2023-01-01",
        "end": "2023-12-31",
        "timezone": "Asia/Phnom_Penh",
    }
    cov = data["coverage"]
    assert cov["measurements"] == 25 and cov["urls_tested"] == 2
    assert [n["asn"] for n in cov["networks"]] == [A]
    march = next(m for m in cov["by_month"] if m["month"] == "2023-03")
    assert set(march) >= {"month", "measurements", "ok", "anomaly", "confirmed", "failure"}
    assert (march["measurements"], march["anomaly"], march["ok"]) == (25, 13, 12)
    vod = data["domains"][0]
    assert set(vod) >= {
        "domain",
        "category_code",
        "verdict",
        "methods",
        "networks",
        "measurements",
        "anomalies",
        "confirmed",
        "first_blocked",
        "last_blocked",
    }
    assert vod["domain"] == "vod.example" and vod["verdict"] == "likely"
    assert vod["methods"] == ["dns"] and vod["networks"] == [{"asn": A, "name": "Viettel"}]
    assert vod["category_code"] == "NEWS" and vod["first_blocked"] == "2023-03-01"
    assert [d["domain"] for d in data["domains"]] == ["vod.example", "ok.example"]
    assert data["method"]["sentences"][0]["key"] == "period"


def test_table_and_csv(isolated_env: Path) -> None:
    seed(isolated_env)
    table = run("analyze", "--period", "2023")
    assert table.exit_code == 0, table.output
    assert "blocked websites: 1" in table.stdout and "vod.example" in table.stdout
    out = run("analyze", "--period", "2023", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [r["domain"] for r in rows] == ["vod.example", "ok.example"]
    assert rows[0]["networks"] == str(A) and rows[0]["methods"] == "dns"


def test_output_directory(isolated_env: Path) -> None:
    seed(isolated_env)
    out_dir = isolated_env / "out"
    result = run(
        "analyze", "--period", "2024-01..2024-01", "--output", str(out_dir), "--format", "json"
    )
    assert result.exit_code == 0, result.output
    names = {p.name for p in out_dir.iterdir()}
    assert {
        "domains.csv",
        "urls.csv",
        "coverage_by_month.csv",
        "apps.csv",
        "changes.csv",
        "agreement.csv",
        "events.csv",
        "analysis.json",
        "method.txt",
    } <= names
    assert not [n for n in names if n.endswith(".tmp")]
    written = json.loads((out_dir / "analysis.json").read_text(encoding="utf-8"))
    assert written == json.loads(result.stdout)
    # 2023-12-31 18:00 UTC is 1 January 2024 in Phnom Penh
    assert [d["domain"] for d in written["domains"]] == ["late.example"]
    assert "2024-01-01 to 2024-01-31" in (out_dir / "method.txt").read_text(encoding="utf-8")


def test_errors_are_one_line(isolated_env: Path) -> None:
    bad = run("analyze", "--period", "last year")
    assert bad.exit_code != 0 and "not a period" in bad.stderr
    assert "Traceback" not in bad.output
    (isolated_env / "censorwatch.toml").write_text(
        '[analysis]\nevents_path = "events.csv"\n', encoding="utf-8"
    )
    (isolated_env / "events.csv").write_text(
        "date,end_date,label,kind,source\n2023-01-01,,x,nonsense,\n", encoding="utf-8"
    )
    result = run("analyze", "--period", "2023")
    assert result.exit_code != 0
    assert f"{isolated_env / 'events.csv'}:2: kind" in result.stderr
    no_zone = run("analyze", "--country", "US", "--period", "2023")
    assert no_zone.exit_code != 0 and "analysis.timezone" in no_zone.stderr


def test_warns_when_ooni_ingest_is_incomplete(isolated_env: Path) -> None:
    """With only OONI's anomalous measurements stored (the API ingest's default), rates
    would be wrong: OONI's own counts show it and the command says so."""
    from datetime import date, datetime

    from censorwatch.store.models import OoniAggregate

    url = seed(isolated_env)
    with open_store(url) as store, store.session() as s:
        s.add(
            OoniAggregate(
                probe_cc="KH",
                test_name="web_connectivity",
                time_grain="month",
                period_start=date(2023, 3, 1),
                axis="",
                axis_value="",
                measurement_count=240,
                anomaly_count=12,
                confirmed_count=0,
                failure_count=4,
                ok_count=224,
                fetched_at=datetime(2024, 1, 2),
            )
        )
    result = run("analyze", "--period", "2023", "--format", "json")
    assert result.exit_code == 0
    cov = json.loads(result.stdout)["coverage"]
    assert cov["ooni_reported"]["measurements"] == 240
    assert cov["ooni_completeness"] == 0.1  # 24 stored of 240
    assert "warning: the store holds 10%" in result.stderr
    quiet = run("analyze", "--period", "2022", "--format", "json")
    assert json.loads(quiet.stdout)["coverage"]["ooni_completeness"] is None
    assert "warning" not in quiet.stderr
