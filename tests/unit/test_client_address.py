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


def test_a_hop_that_is_no_address_is_the_nearest_trusted_hop() -> None:
    """Garbage is no client address, and what came before it cannot be believed: the proxy that
    wrote it stands for the client."""
    assert client_address_of(connection("10.0.0.2", "10.0.0.9, garbage"), PROXIES) == "10.0.0.2"
    assert client_address_of(connection("10.0.0.2", "198.51.100.1, garbage, 10.0.0.9"), PROXIES) == "10.0.0.9"
    assert client_address_of(connection("10.0.0.2", "unknown"), PROXIES) == "10.0.0.2"


def test_a_trusted_hop_may_carry_a_port_or_be_mapped() -> None:
    chain = connection("::ffff:10.0.0.2", "198.51.100.1:5000, [::ffff:10.0.0.3]:80")
    assert client_address_of(chain, PROXIES) == "198.51.100.1"


def test_an_ipv4_mapped_network_is_trusted_as_ipv4() -> None:
    mapped = parse_networks(["::ffff:10.0.0.0/104"])
    assert mapped == [ipaddress.ip_network("10.0.0.0/8")]
    assert client_address_of(connection("10.0.0.2", "198.51.100.1"), mapped) == "198.51.100.1"
    assert client_address_of(connection("::ffff:10.0.0.2", "198.51.100.1"), mapped) == "198.51.100.1"


def test_the_peer_is_canonical_without_proxies() -> None:
    assert client_address_of(connection("::ffff:203.0.113.10"), []) == "203.0.113.10"
    assert client_address_of(connection("2001:DB8:0::9"), []) == "2001:db8::9"
    # what the server reports that is no address (a Unix socket, a test client) stays as it is
    assert client_address_of(connection("testclient"), []) == "testclient"


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


@settings(max_examples=60, deadline=None)
@given(
    filler=st.text(alphabet="0123456789abcdef:.[]% ,", min_size=600, max_size=4000),
    client=_ADDRESSES,
    requests=st.integers(2, 6),
)
def test_what_is_remembered_is_small_whatever_the_size_of_what_clients_send(
    filler: str, client: str, requests: int
) -> None:
    """Servers take headers of hundreds of KB: a huge X-Forwarded-For (or hop) is answered as a
    fresh walk answers it, and none of it is kept (the caches are bounded in size, not only in
    entries: before, 4,096 entries of 400 KB each)."""
    client_address._seen.clear()  # noqa: SLF001 - the bound under test
    for n in range(requests):
        forwarded = f"{filler}{n}, {client}"
        fresh = client_address._worked_out("10.0.0.2", (forwarded.encode(),), PROXIES)  # noqa: SLF001
        assert client_address_of(connection("10.0.0.2", forwarded), PROXIES) == fresh
    assert all(sum(map(len, key[1])) <= 512 for key in client_address._seen)  # noqa: SLF001
    kept = client_address._parsed_short.cache_info()  # noqa: SLF001
    assert kept.currsize <= (kept.maxsize or 0)
    assert client_address.canonical_address(" " * 200 + "10.0.0.1") is None  # a hop that long is no address


# -- one canonical key per address, whatever its spelling ------------------------------------------


def _hex_groups(address: ipaddress.IPv6Address, upper: bool, zeros: bool) -> str:
    groups = [f"{group:04x}" if zeros else f"{group:x}" for group in _groups(address)]
    text = ":".join(groups)
    return text.upper() if upper else text


def _groups(address: ipaddress.IPv6Address) -> list[int]:
    packed = address.packed
    return [int.from_bytes(packed[i : i + 2], "big") for i in range(0, 16, 2)]


@st.composite
def spellings(draw: st.DrawFn) -> tuple[str, str]:
    """(a spelling of an address, the address's canonical form)."""
    address = draw(st.ip_addresses())
    if isinstance(address, ipaddress.IPv4Address):
        canonical = str(address)
        as_v6 = ipaddress.IPv6Address(b"\0" * 10 + b"\xff\xff" + address.packed)
        texts = [str(address), str(as_v6), f"::ffff:{address}", _hex_groups(as_v6, draw(st.booleans()), False)]
    else:
        mapped = address.ipv4_mapped
        canonical = str(mapped if mapped is not None else address)
        texts = [str(address), address.exploded, _hex_groups(address, draw(st.booleans()), draw(st.booleans()))]
    text = draw(st.sampled_from(texts))
    text = text.upper() if draw(st.booleans()) else text
    port = draw(st.none() | st.integers(0, 65535))
    if port is not None:
        text = f"{text}:{port}" if ":" not in text else f"[{text}]:{port}"
    elif ":" in text and draw(st.booleans()):
        text = f"[{text}]"
    return draw(st.sampled_from(["", " "])) + text + draw(st.sampled_from(["", " "])), canonical


@settings(max_examples=500, deadline=None)
@given(spelled=spellings())
def test_every_spelling_of_an_address_is_one_key(spelled: tuple[str, str]) -> None:
    text, canonical = spelled
    assert client_address.canonical_address(text) == canonical
    # as a forwarded hop (the client, or the farthest proxy) and as the peer itself
    assert client_address_of(connection("10.0.0.2", text), PROXIES) == canonical
    assert client_address_of(connection(text.strip()), []) == canonical


def _is_canonical(key: str) -> bool:
    try:
        address = ipaddress.ip_address(key)
    except ValueError:
        return False
    return str(address) == key and not (isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped)


_HOP_CHARACTERS = st.characters(codec="latin-1", exclude_characters=",")
_HOPS = st.text(_HOP_CHARACTERS, max_size=45) | st.text("0123456789abcdefABCDEF:.[]% ", max_size=45)


@settings(max_examples=500, deadline=None)
@given(hops=st.lists(_HOPS, max_size=4), peer=st.sampled_from(["10.0.0.2", "::ffff:10.0.0.2", "fd00::2"]))
def test_a_key_is_always_a_canonical_address(hops: list[str], peer: str) -> None:
    """Whatever a client or a proxy writes, the key is an address in its canonical form: a hop
    that is no address never becomes one."""
    key = client_address_of(connection(peer, ", ".join(hops)), PROXIES)
    assert _is_canonical(key), (hops, key)
    found = client_address.canonical_address(key)
    assert found == key


@settings(max_examples=300, deadline=None)
@given(text=_HOPS)
def test_no_address_is_no_key(text: str) -> None:
    try:
        ipaddress.ip_address(text.strip())  # a bare address, an IPv6 one with its zone too
        address = True
    except ValueError:
        address = False
    key = client_address.canonical_address(text)
    assert key is None or _is_canonical(key)
    if key is None:
        assert client_address_of(connection("10.0.0.2", text), PROXIES) == "10.0.0.2"
    if address:  # a bare address (without port) is always one
        assert key is not None


@pytest.mark.parametrize(
    "text",
    [
        "garbage",
        "unknown",
        "_hidden",
        "",
        "1.2.3.4:",
        "1.2.3.4:65536",
        "1.2.3.4:-1",
        "[::1",
        "[::1]x",
        "[::1]:",
        "::1:80:",
    ],
)
def test_text_that_is_no_address(text: str) -> None:
    assert client_address.canonical_address(text) is None


# -- what the per-client limits count (MUSICEZ_IPV6_CLIENT_PREFIX) -------------------------------

ipv6_addresses = st.integers(min_value=0, max_value=2**128 - 1).map(ipaddress.IPv6Address)


@settings(max_examples=500)
@given(a=ipv6_addresses, b=ipv6_addresses, prefix=st.sampled_from([48, 56, 64, 96]))
def test_an_ipv6_client_is_counted_by_its_network(
    a: ipaddress.IPv6Address, b: ipaddress.IPv6Address, prefix: int
) -> None:
    """Two addresses are one budget exactly when they share the network of `prefix` bits, and the
    key is that network, whatever spelling of the address arrived."""
    canonical = [client_address.canonical_address(str(x)) for x in (a, b)]
    if any(c is None or "." in c for c in canonical):  # IPv4-mapped: an IPv4 client, counted as itself
        return
    key_a, key_b = (client_address.limited_client(c, prefix) for c in canonical if c is not None)
    same_network = int(a) >> (128 - prefix) == int(b) >> (128 - prefix)
    assert (key_a == key_b) == same_network
    assert key_a == str(ipaddress.IPv6Network((a, prefix), strict=False))
    shouted = client_address.canonical_address(a.exploded.upper())
    assert shouted is not None
    assert client_address.limited_client(shouted, prefix) == key_a


@given(address=st.integers(min_value=0, max_value=2**32 - 1).map(ipaddress.IPv4Address), prefix=st.integers(32, 128))
def test_an_ipv4_client_is_counted_by_its_address(address: ipaddress.IPv4Address, prefix: int) -> None:
    assert client_address.limited_client(str(address), prefix) == str(address)


def test_by_default_each_address_is_counted_and_a_peer_that_is_no_address_as_it_is() -> None:
    assert client_address.limited_client("2001:db8::1", 128) == "2001:db8::1"
    assert client_address.limited_client("2001:db8:1:2:3:4:5:6", 64) == "2001:db8:1:2::/64"
    assert client_address.limited_client("testclient", 64) == "testclient"
    assert client_address.limited_client("not:an:address", 64) == "not:an:address"


def test_the_limit_key_is_the_network_and_the_events_keep_the_address() -> None:
    from musicez.application.client_context import bound_client

    proxy = parse_networks(["10.0.0.0/8"])
    seen = client_address.client_address(connection("10.0.0.1", "2001:db8:1:2:aaaa::9"), proxy, 64)
    assert seen == "2001:db8:1:2::/64"
    assert bound_client() == "2001:db8:1:2:aaaa::9"
    assert (
        client_address.client_address(connection("10.0.0.1", "2001:db8:1:2:aaaa::9"), proxy) == "2001:db8:1:2:aaaa::9"
    )
