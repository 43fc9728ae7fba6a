"""Production refuses weak values (issue 11, item 15): a bcrypt cost under 10, an HS256 secret
equal to MUSICEZ_SECRET_KEY, a metrics token shorter than 32 characters."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from musicez.entrypoints.preflight import preflight
from musicez.entrypoints.settings import Settings, SettingsError

SECRET = "s" * 48
PRODUCTION = {
    "MUSICEZ_ENV": "production",
    "MUSICEZ_DATABASE_URL": "postgresql+asyncpg://musicez@db/musicez",
    "MUSICEZ_REDIS_URL": "redis://cache:6379/0",
    "MUSICEZ_SECRET_KEY": SECRET,
    "MUSICEZ_JWT_SIGNING_KEY": "-----BEGIN PRIVATE KEY-----\nnot checked here\n-----END PRIVATE KEY-----",
    "MUSICEZ_SMTP_URL": "smtp://mail:25",
    "MUSICEZ_PASSWORD_RESET_URL": "https://app.example/reset-password",
    "MUSICEZ_MAIL_FROM": "MusicEZ <no-reply@app.example>",
}


def production(**overrides: str) -> Settings:
    return Settings.from_env({**PRODUCTION, **{f"MUSICEZ_{k.upper()}": v for k, v in overrides.items()}})


def test_the_baseline_starts() -> None:
    assert production().is_production
    assert production(bcrypt_rounds="10", metrics_token="m" * 32).bcrypt_rounds == 10


@pytest.mark.parametrize("rounds", ["4", "9"])
def test_a_low_bcrypt_cost_is_refused(rounds: str) -> None:
    with pytest.raises(SettingsError, match="MUSICEZ_BCRYPT_ROUNDS must be at least 10"):
        production(bcrypt_rounds=rounds)


def test_a_low_bcrypt_cost_is_fine_in_development() -> None:
    assert Settings.from_env({"MUSICEZ_BCRYPT_ROUNDS": "4"}).bcrypt_rounds == 4


def test_a_short_metrics_token_is_refused() -> None:
    with pytest.raises(SettingsError, match="MUSICEZ_METRICS_TOKEN must be at least 32"):
        production(metrics_token="m" * 31)


def test_an_hs256_secret_equal_to_the_secret_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="must differ from MUSICEZ_SECRET_KEY"):
        production(jwt_algorithm="HS256", jwt_signing_key=SECRET)
    key_file = tmp_path / "hs256.secret"
    key_file.write_text(SECRET + "\n")
    with pytest.raises(SettingsError, match="must differ from MUSICEZ_SECRET_KEY"):
        Settings.from_env(
            {
                **{k: v for k, v in PRODUCTION.items() if k != "MUSICEZ_JWT_SIGNING_KEY"},
                "MUSICEZ_JWT_ALGORITHM": "HS256",
                "MUSICEZ_JWT_SIGNING_KEY_FILE": str(key_file),
            }
        )
    assert production(jwt_algorithm="HS256", jwt_signing_key="h" * 48).jwt_algorithm == "HS256"


def test_every_weak_value_is_named_at_once() -> None:
    with pytest.raises(SettingsError) as refused:
        production(bcrypt_rounds="4", metrics_token="short", jwt_algorithm="HS256", jwt_signing_key=SECRET)
    for variable in ("MUSICEZ_BCRYPT_ROUNDS", "MUSICEZ_METRICS_TOKEN", "MUSICEZ_JWT_SIGNING_KEY"):
        assert variable in str(refused.value)


def test_the_security_url_defaults_to_not_me_on_the_reset_url_s_origin() -> None:
    """Production refuses the default reset URL; the "this wasn't me" link, unset, follows it to
    the operator's front end instead of pointing at localhost."""
    assert production().mail.security_url == "https://app.example/not-me"
    deep = production(password_reset_url="https://app.example:8443/account/reset?from=mail")
    assert deep.mail.security_url == "https://app.example:8443/not-me"
    assert production(security_url="https://other.example/x").mail.security_url == "https://other.example/x"
    assert Settings.from_env({}).mail.security_url == "http://localhost:8000/not-me"  # development, as before


def test_in_development_the_security_url_defaults_to_the_contract_s_whatever_the_reset_url() -> None:
    """API.md: `MUSICEZ_SECURITY_URL` (default `http://localhost:8000/not-me`). Only production,
    where that would point a real mail at localhost, follows the reset URL instead."""
    development = Settings.from_env({"MUSICEZ_PASSWORD_RESET_URL": "http://front.test:5173/account/reset"})
    assert development.mail.security_url == "http://localhost:8000/not-me"
    assert development.mail.reset_url == "http://front.test:5173/account/reset"
    named = Settings.from_env(
        {"MUSICEZ_PASSWORD_RESET_URL": "http://front.test:5173/r", "MUSICEZ_SECURITY_URL": "http://front.test:5173/x"}
    )
    assert named.mail.security_url == "http://front.test:5173/x"


@settings(max_examples=200, deadline=None)
@given(
    password=st.text(alphabet="abcXYZ019/?#:@%!", min_size=4, max_size=24).filter(lambda p: any(c in p for c in "/?#")),
    scheme=st.sampled_from(["redis", "rediss", "redis+cluster", "smtp", "smtps"]),
)
def test_a_malformed_url_is_refused_without_a_word_of_its_password(password: str, scheme: str) -> None:
    """An unescaped '/', '?' or '#' in a password breaks the URL's authority; the start-up error
    says so without quoting what the parser read (before: "... integer value as 'S3cr'")."""
    variable = "SMTP_URL" if scheme.startswith("smtp") else "REDIS_URL"
    url = f"{scheme}://user:{password}@host.example:6379/0"
    found = preflight(production(**{variable.lower(): url, "port": "1"}))
    problems = [line for line in found if variable in line]
    secret_parts = [part for part in re.split(r"[/?#@:%]", password) if len(part) >= 3]
    for line in problems:
        assert all(part not in line for part in secret_parts), line
