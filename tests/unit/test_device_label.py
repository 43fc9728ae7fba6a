"""The device label a session gets from its User-Agent when the client names no device."""

from __future__ import annotations

import pytest

from musicez.entrypoints.http.device import device_label


@pytest.mark.parametrize(
    ("user_agent", "label"),
    [
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0.0.0 Safari/537.36",
            "Chrome on Mac OS X",
        ),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", "Firefox on Linux"),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/17.1 Mobile/15E148 Safari/604.1",
            "Mobile Safari on iOS",
        ),
    ],
)
def test_a_browser_is_named_with_its_system(user_agent: str, label: str) -> None:
    assert device_label(user_agent) == label


def test_a_client_the_parser_does_not_know_is_named_by_its_product_token() -> None:
    assert device_label("MusicEZ-Desktop/3.2 (build 77)") == "MusicEZ-Desktop"
    assert device_label("a-very-long-product-name-that-goes-on-and-on-and-on/1.0") == (
        "a-very-long-product-name-that-goes-on-an"
    )


@pytest.mark.parametrize("user_agent", [None, ""])
def test_no_user_agent_no_label(user_agent: str | None) -> None:
    assert device_label(user_agent) is None
