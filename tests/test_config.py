"""Configuration: defaults < censorwatch.toml < environment < CLI flags, with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from censorwatch.config import MASK, all_keys, effective_items, env_name, load_config
from censorwatch.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults(isolated_env: Path) -> None:
    cfg = load_config(environ={})
    assert cfg.country == "KH"
    assert cfg.probe.timeout == 10.0
    assert cfg.probe.concurrency == 32
    assert cfg.ooni.api_url == "https://api.ooni.io"
    assert cfg.effective_database_url.startswith("sqlite:///")
    assert cfg.effective_database_url.endswith("censorwatch.sqlite3")
    assert cfg.config_file is None
    assert set(cfg.origins.values()) == {"default"}


def test_required_keys_exist() -> None:
    keys = all_keys()
    for key in (
        "database_url",
        "country",
        "data_dir",
        "testlists.paths",
        "probe.timeout",
        "ooni.api_url",
        "schedule.probe",
        "schedule.ingest_ooni",
    ):
        assert key in keys


def test_file_found_in_working_directory(isolated_env: Path) -> None:
    write(
        isolated_env / "censorwatch.toml",
        'country = "th"\ndata_dir = "store"\n[probe]\ntimeout = 4\n'
        '[testlists]\npaths = ["lists/kh.csv"]\n',
    )
    cfg = load_config(environ={}, cwd=isolated_env)
    assert cfg.country == "TH"
    assert cfg.probe.timeout == 4.0
    # Relative paths are relative to the file, not to wherever cron starts the process.
    assert Path(cfg.data_dir) == isolated_env / "store"
    assert cfg.testlists.paths == [str(isolated_env / "lists" / "kh.csv")]
    assert cfg.origins["probe.timeout"] == str(isolated_env / "censorwatch.toml")


def test_precedence_file_env_cli(isolated_env: Path) -> None:
    path = write(
        isolated_env / "c.toml",
        'database_url = "sqlite:///from-file.db"\n[probe]\nconcurrency = 8\n',
    )
    env = {"CENSORWATCH_DB": "sqlite:///from-env.db", "CENSORWATCH_PROBE_CONCURRENCY": "16"}
    cfg = load_config(path, environ=env)
    assert cfg.database_url == "sqlite:///from-env.db"
    assert cfg.probe.concurrency == 16
    assert cfg.origins["database_url"] == "env:CENSORWATCH_DB"
    cfg = load_config(path, overrides={"database_url": "sqlite:///from-cli.db"}, environ=env)
    assert cfg.database_url == "sqlite:///from-cli.db"
    assert cfg.origins["database_url"] == "cli"
    # A flag that was not given (None) does not override anything.
    cfg = load_config(path, overrides={"database_url": None}, environ={})
    assert cfg.database_url == "sqlite:///from-file.db"


def test_every_key_has_an_environment_variable(isolated_env: Path) -> None:
    env = {env_name("ooni.overlap_hours"): "12", env_name("probe.exclude_categories"): "PORN, GMB"}
    env["CENSORWATCH_ACCEPT_RISKS"] = "yes"
    cfg = load_config(environ=env)
    assert cfg.ooni.overlap_hours == 12
    assert cfg.probe.exclude_categories == ["PORN", "GMB"]
    assert cfg.probe.accept_risks is True


def test_config_env_variable_names_the_file(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(isolated_env / "elsewhere.toml", 'country = "VN"\n')
    monkeypatch.setenv("CENSORWATCH_CONFIG", str(path))
    assert load_config().country == "VN"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('contry = "KH"\n', "unknown key 'contry'"),
        ("[probe]\ntimeot = 3\n", "unknown key 'probe.timeot'"),
        ('[probe]\ntimeout = "soon"\n', "probe.timeout: expected a number"),
        ("[probe]\nconcurrency = 2.5x\n", "invalid TOML"),
        ('country = "Cambodia"\n', "two-letter country code"),
        ("probe = 3\n", "[probe] must be a table"),
    ],
)
def test_bad_file_is_named_in_the_error(isolated_env: Path, text: str, message: str) -> None:
    path = write(isolated_env / "bad.toml", text)
    with pytest.raises(ConfigError) as excinfo:
        load_config(path, environ={})
    assert message in str(excinfo.value)
    if "two-letter" not in message:
        assert str(path) in str(excinfo.value)


def test_bad_environment_value_names_the_variable(isolated_env: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"\$CENSORWATCH_PROBE_CONCURRENCY: expected a whole number"
    ):
        load_config(environ={"CENSORWATCH_PROBE_CONCURRENCY": "many"})


def test_missing_explicit_file(isolated_env: Path) -> None:
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_config(isolated_env / "nope.toml", environ={})


def test_secrets_are_masked(isolated_env: Path) -> None:
    cfg = load_config(
        environ={"CENSORWATCH_DB": "postgresql+psycopg://cw:hunter2@db.example/cw"},
    )
    shown = {k: v for k, v, _ in effective_items(cfg)}
    assert "hunter2" not in str(shown)
    assert shown["database_url"] == f"postgresql+psycopg://cw:{MASK}@db.example/cw"
