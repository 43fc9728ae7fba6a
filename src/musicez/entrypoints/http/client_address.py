"""The client's address, honouring X-Forwarded-For only from trusted proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

from litestar.connection import ASGIConnection

from musicez.adapters.events import bind_client

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: Sequence[str]) -> list[Network]:
    return [ipaddress.ip_network(entry, strict=False) for entry in entries]


def _trusted(address: str, networks: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_address(connection: ASGIConnection[Any, Any, Any, Any], trusted: Sequence[Network]) -> str:
    address = _client_address(connection, trusted)
    bind_client(address)  # security events of this request carry its client id
    return address


def note_client(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """Security events of this request carry its client id, worked out only if one is recorded."""
    bind_client(lambda: _client_address(connection, connection.scope["litestar_app"].state.trusted_networks))


def client_address_of(connection: ASGIConnection[Any, Any, Any, Any], trusted: Sequence[Network]) -> str:
    """The address alone, without binding it to this request's security events."""
    return _client_address(connection, trusted)


def _client_address(connection: ASGIConnection[Any, Any, Any, Any], trusted: Sequence[Network]) -> str:
    peer = connection.client.host if connection.client else "unknown"
    if not trusted or not _trusted(peer, trusted):
        return peer
    forwarded = ",".join(connection.headers.getall("x-forwarded-for", []))
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    # Walk from the nearest hop back; the first address we do not trust is the client.
    for hop in reversed(hops):
        if not _trusted(hop, trusted):
            return hop
    return hops[0] if hops else peer
