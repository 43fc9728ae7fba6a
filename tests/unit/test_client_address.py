"""The client's address: X-Forwarded-For is believed only from trusted proxies, and then only
up to the first hop that is not one of them."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from litestar.connection import ASGIConnection

from musicez.entrypoints.http import client_address
from musicez.entrypoints.http.client_address import client_address_of, parse_networks

PROXIES = parse_networks(["10.0.0.0/8", "fd00::/8"])


def connection(peer: str | None, *forwarded: str) -> ASGIConnection[Any, Any, Any, Any]:
    scope: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "query_string": b"",
        "headers": [(b"x-forwarded-for", value.encode()) for value in forwarded],
        "client": (peer, 50000) if peer is not None else None,
    }
    return ASGIConnection(scope)  # type: ignore[arg-type]


def test_networks_are_parsed_leniently() -> None:
    assert parse_networks(["10.1.2.3/8", "127.0.0.1", "::1"]) == [
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("::1/128"),
    ]
    with pytest.raises(ValueError, match="does not appear to be"):
        parse_networks(["not-a-network"])


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert client_address_of(connection("203.0.113.7", "198.51.100.1"), []) == "203.0.113.7"


def test_an_untrusted_peer_cannot_claim_another_address() -> None:
    assert client_address_of(connection("203.0.113.7", "198.51.100.1"), PROXIES) == "203.0.113.7"


def test_a_trusted_proxy_names_the_client() -> None:
    assert client_address_of(connection("10.0.0.2", "198.51.100.1"), PROXIES) == "198.51.100.1"
    assert client_address_of(connection("fd00::2", "2001:db8::1"), PROXIES) == "2001:db8::1"


def test_the_nearest_untrusted_hop_is_the_client_not_what_it_claimed() -> None:
    """The client may send its own X-Forwarded-For; only the hops our proxies added count."""
    chain = connection("10.0.0.2", "1.2.3.4, 198.51.100.1, 10.0.0.3")
    assert client_address_of(chain, PROXIES) == "198.51.100.1"


def test_several_forwarded_headers_are_one_list() -> None:
    chain = connection("10.0.0.2", "1.2.3.4", "198.51.100.1 , 10.0.0.3")
    assert client_address_of(chain, PROXIES) == "198.51.100.1"


def test_when_every_hop_is_a_proxy_the_farthest_is_the_client() -> None:
    assert client_address_of(connection("10.0.0.2", "10.0.0.9, 10.0.0.3"), PROXIES) == "10.0.0.9"


def test_a_trusted_peer_without_forwarded_hops_is_the_client() -> None:
    assert client_address_of(connection("10.0.0.2"), PROXIES) == "10.0.0.2"
    assert client_address_of(connection("10.0.0.2", " , "), PROXIES) == "10.0.0.2"


def test_a_hop_that_is_no_address_is_never_trusted() -> None:
    assert client_address_of(connection("10.0.0.2", "10.0.0.9, garbage"), PROXIES) == "garbage"


def test_without_a_peer_the_client_is_unknown() -> None:
    assert client_address_of(connection(None, "198.51.100.1"), PROXIES) == "unknown"


# -- the remembered answers (the API-key guard asks on every request) -----------------------------

_ADDRESSES = st.sampled_from(["10.0.0.2", "10.9.9.9", "198.51.100.1", "203.0.113.7", "fd00::2", "2001:db8::1", "x"])


@settings(max_examples=300, deadline=None)
@given(peer=_ADDRESSES, hops=st.lists(st.lists(_ADDRESSES, max_size=3), max_size=3), other=st.booleans())
def test_a_remembered_answer_is_the_one_worked_out_afresh(peer: str, hops: list[list[str]], other: bool) -> None:
    """The same question asked twice, or about another networks list, gets what a fresh walk gives."""
    trusted = parse_networks(["10.0.0.0/8"]) if other else PROXIES
    forwarded = [", ".join(values) for values in hops]
    fresh = client_address._worked_out(peer, tuple(v.encode() for v in forwarded), trusted)  # noqa: SLF001 - the walk itself
    assert client_address_of(connection(peer, *forwarded), trusted) == fresh
    assert client_address_of(connection(peer, *forwarded), trusted) == fresh
    assert client_address_of(connection(peer, *forwarded), []) == peer


def test_the_remembered_answers_stay_bounded_whatever_clients_send() -> None:
    for n in range(client_address._SEEN_MAX * 2 + 7):  # noqa: SLF001 - the bound under test
        address = f"198.51.{n // 256 % 256}.{n % 256}"
        assert client_address_of(connection("10.0.0.2", address, f"10.1.{n % 200}.1"), PROXIES) == address
        assert len(client_address._seen) <= client_address._SEEN_MAX  # noqa: SLF001
