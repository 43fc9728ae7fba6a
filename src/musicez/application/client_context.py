"""The client on whose behalf the current request runs.

The HTTP layer binds its address (or how to work it out, so that it is worked out only when
needed); each security event carries a keyed hash of it, never the address.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

# The address, or (a function that works it out, its argument): the HTTP layer binds the latter
# for every request (a tuple costs less to make than a closure), so nothing is worked out unless
# an event is recorded.
ClientBinding = str | tuple[Callable[[Any], str], Any]
_CLIENT: ContextVar[ClientBinding | None] = ContextVar("musicez_client", default=None)


def bind_client(address: ClientBinding) -> None:
    _CLIENT.set(address)


def client_binder() -> Callable[[ClientBinding | None], object]:
    """`bind_client` without the call around it, for a caller that binds on every request."""
    return _CLIENT.set


def bound_client() -> str | None:
    bound = _CLIENT.get()
    if bound is None or isinstance(bound, str):
        return bound
    resolve, argument = bound
    return resolve(argument)
