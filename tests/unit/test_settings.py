"""Settings: read once from MUSICEZ_* variables, with clear refusals."""

from __future__ import annotations

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


def test_a_wildcard_cors_origin_is_refused() -> None:
    with pytest.raises(SettingsError, match="CORS"):
        Settings.from_env({"MUSICEZ_CORS_ORIGINS": "*"})


@pytest.mark.parametrize("variable", ["MUSICEZ_REFRESH_SESSION_LIMIT", "MUSICEZ_REFRESH_FAILURE_LIMIT"])
def test_refresh_limits_are_read_and_bad_ones_name_the_variable(variable: str) -> None:
    field = variable.removeprefix("MUSICEZ_").lower()
    assert str(Settings.from_env({}).limit(field)) == "60/minute"
    assert str(Settings.from_env({variable: "5/second"}).limit(field)) == "5/second"
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env({variable: "lots"})
