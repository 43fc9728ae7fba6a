"""Settings: read once from MUSICEZ_* variables, with clear refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from musicez.entrypoints.settings import Settings, SettingsError


@pytest.mark.parametrize(
    ("given", "effective"),
    [
        ("postgresql://u@db:5432/app", "postgresql+asyncpg://u@db:5432/app"),
        ("postgres://u@db/app", "postgresql+asyncpg://u@db/app"),
        ("postgresql+asyncpg://u@db/app", "postgresql+asyncpg://u@db/app"),
        ("sqlite:///tmp/x.db", "sqlite+aiosqlite:///tmp/x.db"),
    ],
)
def test_plain_database_urls_mean_the_async_drivers(given: str, effective: str) -> None:
    assert Settings.from_env({"MUSICEZ_DATABASE_URL": given}).effective_database_url == effective


def test_no_database_url_means_sqlite_in_the_data_dir(tmp_path: object) -> None:
    url = Settings.from_env({"MUSICEZ_DATA_DIR": str(tmp_path)}).effective_database_url
    assert url == f"sqlite+aiosqlite:///{tmp_path}/musicez.db"


def test_numbers_come_from_strings_and_bad_ones_name_the_variable() -> None:
    assert Settings.from_env({"MUSICEZ_ACCESS_TOKEN_TTL": "60"}).access_token_ttl == 60
    with pytest.raises(SettingsError, match="MUSICEZ_ACCESS_TOKEN_TTL"):
        Settings.from_env({"MUSICEZ_ACCESS_TOKEN_TTL": "soon"})
    with pytest.raises(SettingsError, match="MUSICEZ_RATE_LIMIT"):
        Settings.from_env({"MUSICEZ_RATE_LIMIT": "5 per fortnight"})


def test_production_refuses_development_defaults_and_names_each() -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"MUSICEZ_ENV": "production"})
    for variable in ("MUSICEZ_DATABASE_URL", "MUSICEZ_REDIS_URL", "MUSICEZ_SECRET_KEY", "MUSICEZ_JWT_SIGNING_KEY"):
        assert variable in str(refused.value)


@pytest.mark.parametrize("entry", ["app.example.com", "https://app.example.com/path", "ftp://app.example.com", "null"])
def test_a_cors_entry_that_is_no_origin_is_refused(entry: str) -> None:
    with pytest.raises(SettingsError, match=r"CORS_ORIGINS.*not an origin"):
        Settings.from_env({"MUSICEZ_CORS_ORIGINS": f"https://ok.example.com,{entry}"})


def test_cors_entries_in_any_spelling_of_an_origin_are_accepted() -> None:
    Settings.from_env({"MUSICEZ_CORS_ORIGINS": "HTTPS://Up.Example.COM/,https://app.example.com:443,http://[::1]:5173"})


@pytest.mark.parametrize("value", ["auth.example.com", "//auth.example.com", "mailto:a@example.com", "https://"])
def test_a_public_url_that_is_no_http_url_is_refused(value: str) -> None:
    with pytest.raises(SettingsError, match="PUBLIC_URL"):
        Settings.from_env({"MUSICEZ_PUBLIC_URL": value})


def test_a_wildcard_cors_origin_is_refused() -> None:
    with pytest.raises(SettingsError, match="CORS"):
        Settings.from_env({"MUSICEZ_CORS_ORIGINS": "*"})


def test_every_secret_can_come_from_a_file(tmp_path: Path) -> None:
    from musicez.entrypoints.settings import FILE_SECRETS

    env = {}
    for name in FILE_SECRETS:
        path = tmp_path / name
        path.write_text(f"value-of-{name}-0123456789abcdef0123456789\n")
        env[f"MUSICEZ_{name.upper()}_FILE"] = str(path)
    env["MUSICEZ_DATABASE_URL_FILE"] = str(tmp_path / "database_url")
    (tmp_path / "database_url").write_text("postgresql://user:p%2Fss@db/musicez\n")
    env["MUSICEZ_REDIS_URL_FILE"] = str(tmp_path / "redis_url")
    (tmp_path / "redis_url").write_text("redis://:secret@cache:6379/0\n")
    env["MUSICEZ_SMTP_URL_FILE"] = str(tmp_path / "smtp_url")
    (tmp_path / "smtp_url").write_text("smtp://mail:secret@smtp.example:587\n")
    settings = Settings.from_env(env)
    assert settings.secret_key == "value-of-secret_key-0123456789abcdef0123456789"
    assert settings.metrics_token == "value-of-metrics_token-0123456789abcdef0123456789"
    assert settings.database_url == "postgresql://user:p%2Fss@db/musicez"
    assert settings.redis_url == "redis://:secret@cache:6379/0"
    assert settings.smtp_url == "smtp://mail:secret@smtp.example:587"


def test_a_variable_wins_over_its_file_and_a_missing_file_names_the_variable(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("from-the-file-" + "x" * 40)
    assert Settings.from_env(
        {"MUSICEZ_SECRET_KEY": "direct-" + "y" * 40, "MUSICEZ_SECRET_KEY_FILE": str(path)}
    ).secret_key.startswith("direct-")  # type: ignore[union-attr]
    with pytest.raises(SettingsError, match="MUSICEZ_SECRET_KEY_FILE"):
        Settings.from_env({"MUSICEZ_SECRET_KEY_FILE": str(tmp_path / "missing")})


@pytest.mark.parametrize("variable", ["MUSICEZ_REFRESH_SESSION_LIMIT", "MUSICEZ_REFRESH_FAILURE_LIMIT"])
def test_refresh_limits_are_read_and_bad_ones_name_the_variable(variable: str) -> None:
    field = variable.removeprefix("MUSICEZ_").lower()
    assert str(getattr(Settings.from_env({}), field)) == "60/minute"
    assert str(getattr(Settings.from_env({variable: "5/second"}), field)) == "5/second"
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env({variable: "lots"})


# -- hardening (issue 11) -------------------------------------------------------------------


def test_the_account_failure_limit_is_a_list_whose_limits_all_apply() -> None:
    from musicez.domain.rate_limit import RateLimit

    default = Settings.from_env({})
    assert default.account_failure_limit == (RateLimit(10, "minute"), RateLimit(100, "hour"))
    given = Settings.from_env({"MUSICEZ_ACCOUNT_FAILURE_LIMIT": " 5/second , 20/day "})
    assert given.account_failure_limit == (RateLimit(5, "second"), RateLimit(20, "day"))
    for bad in ("10/minute,lots", "10/minute;100/hour", ","):
        with pytest.raises(SettingsError, match="MUSICEZ_ACCOUNT_FAILURE_LIMIT"):
            Settings.from_env({"MUSICEZ_ACCOUNT_FAILURE_LIMIT": bad})


@pytest.mark.parametrize("name", ["RESET_FAILURE_LIMIT", "API_KEY_FAILURE_LIMIT"])
def test_failure_budgets_are_checked_limits(name: str) -> None:
    with pytest.raises(SettingsError, match=f"MUSICEZ_{name}"):
        Settings.from_env({f"MUSICEZ_{name}": "often"})


def test_client_ids_are_keyed_stable_for_a_day_and_never_the_address() -> None:
    from datetime import UTC, datetime, timedelta

    from musicez.adapters.events import ClientIds
    from musicez.adapters.security.keyed_hash import HmacHasher

    ids = ClientIds(HmacHasher(b"k" * 32))
    morning = datetime(2026, 12, 1, 0, 0, 1, tzinfo=UTC)
    evening = morning + timedelta(hours=23, minutes=59)
    assert ids.of("203.0.113.7", morning) == ids.of("203.0.113.7", evening)
    assert ids.of("203.0.113.7", morning) != ids.of("203.0.113.7", morning + timedelta(days=1))
    assert ids.of("203.0.113.7", morning) != ids.of("203.0.113.8", morning)
    assert ids.of("203.0.113.7", morning) != ClientIds(HmacHasher(b"j" * 32)).of("203.0.113.7", morning)


def test_the_metrics_directory_comes_from_prometheus_own_variable() -> None:
    assert Settings.from_env({}).prometheus_multiproc_dir is None
    assert Settings.from_env({"PROMETHEUS_MULTIPROC_DIR": "/run/metrics"}).prometheus_multiproc_dir == "/run/metrics"
    assert Settings.from_env({"PROMETHEUS_MULTIPROC_DIR": ""}).prometheus_multiproc_dir is None
    # Not a MUSICEZ_ variable: prometheus_client reads the same name, so only that one counts.
    assert Settings.from_env({"MUSICEZ_PROMETHEUS_MULTIPROC_DIR": "/elsewhere"}).prometheus_multiproc_dir is None
