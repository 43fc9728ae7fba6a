"""The client's address, honouring X-Forwarded-For only from trusted proxies.

Every address is used in one canonical form (`canonical_address`): the limits count per client
address, so the spellings of one address (`2001:DB8::9` and `2001:db8:0::9`, `::ffff:203.0.113.10`
and `203.0.113.10`, `203.0.113.7:1000` and `203.0.113.7:1001`) must be one client, or each would
be a fresh budget. The limit keys, the client id of security events and of the access log all
come from `_client_address`, so they all see that form; with `MUSICEZ_IPV6_CLIENT_PREFIX` under
128 the limit keys count an IPv6 client by its network instead (`limited_client`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from litestar.connection import ASGIConnection

from musicez.application.client_context import bind_client

if TYPE_CHECKING:
    from musicez.entrypoints.http.state import AppState

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_MAPPED_PREFIX = 96  # ::ffff:0:0/96 holds the IPv4-mapped addresses


def parse_networks(entries: Sequence[str]) -> list[Network]:
    """The trusted networks; an IPv4-mapped one (`::ffff:10.0.0.5`) as the IPv4 network it maps,
    since every address is compared unmapped (a dual-stack socket reports an IPv4 proxy so)."""
    return [_unmapped_network(ipaddress.ip_network(entry, strict=False)) for entry in entries]


def _unmapped_network(network: Network) -> Network:
    if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= _MAPPED_PREFIX:
        mapped = network.network_address.ipv4_mapped
        if mapped is not None:
            return ipaddress.IPv4Network((mapped, network.prefixlen - _MAPPED_PREFIX))
    return network


def canonical_address(text: str) -> str | None:
    """The canonical form of an address as a proxy or a socket may spell it, or None when the text
    is no IP address: a port is dropped (`203.0.113.7:80`, `[2001:db8::1]:443`), as are an IPv6
    zone (`fe80::1%eth0`) and surrounding blanks; IPv6 is lower-case and compressed (RFC 5952), and
    an IPv4-mapped IPv6 address (`::ffff:203.0.113.10`) is its IPv4 address."""
    parsed = _parsed(text)
    return None if parsed is None else parsed[0]


def is_trusted(text: str, networks: Sequence[Network]) -> bool:
    """Whether the address in `text` (any spelling) is in one of the networks; no address is not."""
    parsed = _parsed(text)
    return parsed is not None and _in(parsed[1], networks)


def _in(address: Address, networks: Sequence[Network]) -> bool:
    return any(address in network for network in networks)  # never across IP versions


# The longest spelling of an address a proxy writes, `[v6 with an embedded v4%zone]:port`, is
# under 70 characters: a longer hop is no address, and is neither parsed nor kept.
MAX_HOP = 100


def _parsed(text: str) -> tuple[str, Address] | None:
    return None if len(text) > MAX_HOP else _parsed_short(text)


# Bounded in entries and, through MAX_HOP, in size: the text comes from clients
# (X-Forwarded-For), so a client that sends a new one each time only evicts entries. A hit is a
# dictionary look-up; a parse costs a few µs.
@lru_cache(maxsize=4096)
def _parsed_short(text: str) -> tuple[str, Address] | None:
    host = text.strip()
    if host.startswith("["):  # [v6] or [v6]:port
        end = host.find("]")
        if end < 0 or not _port_or_nothing(host[end + 1 :]):
            return None
        host = host[1:end]
    elif host.count(":") == 1:  # v4:port (a bare IPv6 address has at least two colons)
        host, port = host.split(":")
        if not _port_or_nothing(":" + port):
            return None
    try:
        address: Address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped
        if mapped is not None:
            address = mapped
        elif address.scope_id is not None:  # one host whichever interface the proxy saw it on
            address = ipaddress.IPv6Address(int(address))
    return str(address), address


def _port_or_nothing(rest: str) -> bool:
    return rest == "" or (rest[0] == ":" and rest[1:].isascii() and rest[1:].isdigit() and int(rest[1:]) <= 65535)


def client_address(
    connection: ASGIConnection[Any, Any, Any, Any], trusted: Sequence[Network], ipv6_prefix: int = 128
) -> str:
    """The client the per-client limits count (`limited_client`), binding its address to this
    request's security events."""
    address = _client_address(connection.scope, trusted)
    bind_client(address)  # security events of this request carry its client id (the whole address)
    return address if ipv6_prefix >= _IPV6_BITS else limited_client(address, ipv6_prefix)


_IPV6_BITS = 128


@lru_cache(maxsize=4096)
def limited_client(address: str, ipv6_prefix: int) -> str:
    """What a per-client limit counts for a canonical client address: an IPv4 address itself; an
    IPv6 address as its network of `ipv6_prefix` bits (`MUSICEZ_IPV6_CLIENT_PREFIX`), in canonical
    form (`2001:db8:1:2::/64`), so that a client rotating through the addresses of the network it
    was given gets one budget. A peer that is no IP address (a Unix socket) is kept as it is."""
    if ":" not in address or ipv6_prefix >= _IPV6_BITS:
        return address
    try:
        return str(ipaddress.IPv6Network((address, ipv6_prefix), strict=False))
    except ValueError:
        return address


def client_of_scope(state: AppState) -> Callable[[Any], str]:
    """The client address of an ASGI scope, through the app's trusted proxies (read when called:
    they are set at start-up). The outer middleware binds it with each request's scope, so
    security events of every route carry the client id, worked out only if one is recorded."""

    def client_of(scope: Any) -> str:
        return _client_address(scope, state.trusted_networks)

    return client_of


def client_address_of(connection: ASGIConnection[Any, Any, Any, Any], trusted: Sequence[Network]) -> str:
    """The address alone, without binding it to this request's security events."""
    return _client_address(connection.scope, trusted)


_SEEN_MAX = 4096
_SEEN_MAX_FORWARDED = 512  # bytes of X-Forwarded-For an entry may hold (a longer one is walked each time)
# (peer, X-Forwarded-For values, id(trusted)) -> (trusted, client address). The entry holds the
# networks list itself, so its id cannot be reused by another list while the entry exists. Bounded
# (emptied when full) in entries and in size: a client that sends a new X-Forwarded-For each time
# only evicts entries, and one that sends a huge one (servers take headers of hundreds of KB) is
# not kept.
_seen: dict[tuple[str, tuple[bytes, ...], int], tuple[Sequence[Network], str]] = {}


def _client_address(scope: Any, trusted: Sequence[Network]) -> str:
    client = scope.get("client")
    peer = client[0] if client else "unknown"
    if not trusted:
        return _peer_key(peer)
    forwarded = tuple(value for name, value in scope["headers"] if name.lower() == b"x-forwarded-for")
    key = (peer, forwarded, id(trusted))
    seen = _seen.get(key)
    if seen is not None and seen[0] is trusted:
        return seen[1]
    address = _worked_out(peer, forwarded, trusted)
    if sum(len(value) for value in forwarded) > _SEEN_MAX_FORWARDED:
        return address
    if len(_seen) >= _SEEN_MAX:
        _seen.clear()
    _seen[key] = (trusted, address)
    return address


@lru_cache(maxsize=4096)  # one look-up per request when no proxy is trusted
def _peer_key(peer: str) -> str:
    """The socket's peer, canonical (a dual-stack socket reports an IPv4 client as
    `::ffff:203.0.113.10`). A peer that is no IP address (a Unix socket, a test client's name) is
    kept as it is: the server reports it, not the client, so it is no spelling a client chose."""
    parsed = _parsed(peer)
    return peer if parsed is None else parsed[0]


def _worked_out(peer: str, forwarded: tuple[bytes, ...], trusted: Sequence[Network]) -> str:
    """Walk X-Forwarded-For from the nearest hop back; the first address we do not trust is the
    client. A hop that is no IP address (`garbage`, `unknown`, an obfuscated `_hidden`) is no usable
    client address, and the walk stops there with the nearest trusted hop (or the peer): that proxy
    wrote it, so what lies beyond it came from the client and cannot be believed (walking on would
    let a client pick its own key). Every proxy-mangled hop then shares that proxy's budget."""
    parsed_peer = _parsed(peer)
    if parsed_peer is None or not _in(parsed_peer[1], trusted):
        return _peer_key(peer)
    nearest = parsed_peer[0]
    joined = ",".join(value.decode("latin-1") for value in forwarded)
    for hop in reversed(joined.split(",")):
        if not hop.strip():
            continue
        parsed = _parsed(hop)
        if parsed is None:
            return nearest
        if not _in(parsed[1], trusted):
            return parsed[0]
        nearest = parsed[0]
    return nearest  # every hop a proxy: the farthest is the client
