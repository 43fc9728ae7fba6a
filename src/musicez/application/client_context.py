"""The client on whose behalf the current request runs.

The HTTP layer binds its address (or how to work it out, so that it is worked out only when
needed); each security event carries a keyed hash of it, never the address.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

_CLIENT: ContextVar[str | Callable[[], str] | None] = ContextVar("musicez_client", default=None)


def bind_client(address: str | Callable[[], str]) -> None:
    _CLIENT.set(address)


def bound_client() -> str | None:
    bound = _CLIENT.get()
    if bound is None:
        return None
    return bound if isinstance(bound, str) else bound()
