"""A request to a per-client-limited public route refused before its use case ran.

API.md, Rate limits: "Responses of limited routes carry `RateLimit-*`". Login, register and
forgot-password count each request against the client address's limit inside their use case;
a request the framework refuses first (a body that does not decode, or is of the wrong type,
415, or too large, 413) never reaches it, so it counted nothing and its response said nothing.
Such a request is now counted here, against the same limit under the same key, when its
response starts: its `RateLimit-*` describe that limit, and a malformed request is no free way
past it. A request the use case counted is not counted again (its decisions are there already).
"""

from __future__ import annotations

import logging
from typing import Any

from musicez.application.policies import ThrottlePolicy, client_limit
from musicez.application.throttle import Throttle
from musicez.entrypoints.http.client_address import limited_client

log = logging.getLogger("musicez.http")

# The routes' templates (`scope["path_template"]`), and which per-client limit each has.
ROUTE_OF_TEMPLATE = {"/auth/login": "login", "/auth/register": "register", "/auth/password/forgot": "forgot"}


class RefusedEarly:
    __slots__ = ("_client_of", "_ipv6_prefix", "_policy", "_throttle")

    def __init__(self, throttle: Throttle, policy: ThrottlePolicy, client_of: Any, ipv6_prefix: int) -> None:
        self._throttle = throttle
        self._policy = policy
        self._client_of = client_of  # the scope's client address, through the trusted proxies
        self._ipv6_prefix = ipv6_prefix

    @staticmethod
    def concerns(scope: dict[str, Any], status: int) -> bool:
        """A 4xx (not a 429: that one counted) of a POST to one of the routes."""
        return (
            400 <= status < 500
            and status != 429
            and scope["method"] == "POST"
            and scope.get("path_template") in ROUTE_OF_TEMPLATE
        )

    async def count(self, scope: dict[str, Any]) -> None:
        """Count the request against its route's per-client limit; the decision goes where the
        response's `RateLimit-*` are taken from. A store that cannot count (an outage) leaves the
        response as it is: it was refused already, for its own reason."""
        route = ROUTE_OF_TEMPLATE[scope["path_template"]]
        client = limited_client(self._client_of(scope), self._ipv6_prefix)
        key, limit = client_limit(route, client, self._policy)
        try:
            await self._throttle.count(key, limit)
        except Exception as error:  # the response goes out without the headers
            log.warning("a refused %s request was not counted: %s", route, type(error).__name__)
