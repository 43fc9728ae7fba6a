"""The client's address, honouring X-Forwarded-For only from trusted proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from litestar.connection import ASGIConnection

from musicez.application.client_context import bind_client

if TYPE_CHECKING:
    from musicez.entrypoints.http.state import AppState

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
    address = _client_address(connection.scope, trusted)
    bind_client(address)  # security events of this request carry its client id
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
# (peer, X-Forwarded-For values, id(trusted)) -> (trusted, client address). The entry holds the
# networks list itself, so its id cannot be reused by another list while the entry exists. Bounded
# (emptied when full): a client that sends a new X-Forwarded-For each time only evicts entries.
_seen: dict[tuple[str, tuple[bytes, ...], int], tuple[Sequence[Network], str]] = {}


def _client_address(scope: Any, trusted: Sequence[Network]) -> str:
    client = scope.get("client")
    peer = client[0] if client else "unknown"
    if not trusted:
        return peer
    forwarded = tuple(value for name, value in scope["headers"] if name.lower() == b"x-forwarded-for")
    key = (peer, forwarded, id(trusted))
    seen = _seen.get(key)
    if seen is not None and seen[0] is trusted:
        return seen[1]
    address = _worked_out(peer, forwarded, trusted)
    if len(_seen) >= _SEEN_MAX:
        _seen.clear()
    _seen[key] = (trusted, address)
    return address


def _worked_out(peer: str, forwarded: tuple[bytes, ...], trusted: Sequence[Network]) -> str:
    if not _trusted(peer, trusted):
        return peer
    joined = ",".join(value.decode("latin-1") for value in forwarded)
    hops = [hop.strip() for hop in joined.split(",") if hop.strip()]
    # Walk from the nearest hop back; the first address we do not trust is the client.
    for hop in reversed(hops):
        if not _trusted(hop, trusted):
            return hop
    return hops[0] if hops else peer
