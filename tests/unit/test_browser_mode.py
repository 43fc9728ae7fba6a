"""Browser mode's pure parts: the refresh cookie's settings and how origins are compared."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from musicez.entrypoints.origins import origin_of
from musicez.entrypoints.settings import Settings, SettingsError


def test_the_refresh_cookie_defaults_follow_api_md() -> None:
    settings = Settings.from_env({})
    assert (settings.refresh_cookie_name, settings.refresh_cookie_path) == ("__Secure-musicez_refresh", "/auth")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MUSICEZ_REFRESH_COOKIE_NAME", "refresh token"),
        ("MUSICEZ_REFRESH_COOKIE_NAME", "rt;Path=/"),
        ("MUSICEZ_REFRESH_COOKIE_NAME", "rt=x"),
        ("MUSICEZ_REFRESH_COOKIE_NAME", "__Host-refresh"),  # needs Path=/
        ("MUSICEZ_REFRESH_COOKIE_PATH", "auth"),
        ("MUSICEZ_REFRESH_COOKIE_PATH", "/auth; Domain=evil.example"),
        ("MUSICEZ_REFRESH_COOKIE_PATH", "/au th"),
    ],
)
def test_a_cookie_name_or_path_that_would_break_the_header_is_refused(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env({variable: value})


@pytest.mark.parametrize(
    ("name", "path"), [("mez_rt", "/api/auth"), ("__Host-musicez_refresh", "/"), ("__Secure-x", "/auth/")]
)
def test_other_sane_cookie_names_and_paths_are_accepted(name: str, path: str) -> None:
    settings = Settings.from_env({"MUSICEZ_REFRESH_COOKIE_NAME": name, "MUSICEZ_REFRESH_COOKIE_PATH": path})
    assert (settings.refresh_cookie_name, settings.refresh_cookie_path) == (name, path)


@pytest.mark.parametrize(
    ("given", "origin"),
    [
        ("https://app.example.com", "https://app.example.com"),
        ("HTTPS://App.Example.COM:443", "https://app.example.com"),
        ("http://localhost:5173", "http://localhost:5173"),
        ("http://localhost:80/", "http://localhost"),
        ("http://[::1]:8000", "http://[::1]:8000"),
        ("null", None),
        ("file://", None),
        ("https://app.example.com/path", None),
        ("https://user@app.example.com", None),
        ("https://app.example.com:99999", None),
        ("https://app.example.com?x", None),
        ("", None),
    ],
)
def test_origins_compare_as_browsers_serialise_them(given: str, origin: str | None) -> None:
    assert origin_of(given) == origin


def test_the_public_url_may_have_a_path() -> None:
    assert origin_of("https://example.com/auth/", of_url=True) == "https://example.com"


@given(st.text(max_size=80))
def test_any_text_is_refused_or_becomes_a_canonical_origin(text: str) -> None:
    origin = origin_of(text)
    if origin is not None:
        assert origin_of(origin) == origin
        assert origin == origin.lower()
        assert origin.startswith(("http://", "https://"))
