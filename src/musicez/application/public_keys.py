"""The JWK set that resource servers verify access tokens with."""

from __future__ import annotations

from typing import Any, Protocol


class PublicKeys(Protocol):
    """The signing keys' public halves. With a shared secret (HS256) there is nothing to publish."""

    @property
    def asymmetric(self) -> bool: ...

    def jwks(self) -> dict[str, Any]: ...
