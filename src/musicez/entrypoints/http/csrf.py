"""Tokenless CSRF protection for the requests that the refresh cookie authenticates.

A browser sends the cookie with any request to the service's site, whoever asked for it; what it
cannot be made to lie about are `Origin` (sent on every cross-origin request and on every POST)
and `Sec-Fetch-Site`. So a cookie-authenticated request is accepted only from the service's own
origin or a listed one (API.md, browser mode), and a browser that says the request is
`cross-site` must name a listed origin: the service's own origin is never cross-site to itself.
Forms cannot send `application/json` (415 before this runs), and a cross-origin `fetch` with
that content type needs a CORS preflight, which unlisted origins fail.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from litestar import Request

from musicez.domain.errors import CsrfRejected
from musicez.entrypoints.origins import origin_of
from musicez.entrypoints.settings import Settings


@lru_cache(maxsize=16)
def _configured(cors_origins: tuple[str, ...], public_url: str | None) -> tuple[frozenset[str], str | None]:
    listed = {origin_of(entry) for entry in cors_origins}
    return frozenset(o for o in listed if o), origin_of(public_url, of_url=True) if public_url else None


def _headers(scope: Any, name: bytes) -> list[str]:
    return [value.decode("latin-1") for key, value in scope["headers"] if key.lower() == name]


def own_origin(request: Request[Any, Any, Any], settings: Settings) -> str | None:
    """`MUSICEZ_PUBLIC_URL` when set, else the request's scheme and `Host`."""
    _, public = _configured(settings.cors_origins, settings.public_url)
    if settings.public_url:
        return public
    hosts = _headers(request.scope, b"host")
    if len(hosts) != 1:
        return None
    return origin_of(f"{request.scope.get('scheme', 'http')}://{hosts[0]}")


def require_allowed_origin(request: Request[Any, Any, Any], settings: Settings) -> None:
    """Refuse (403 `csrf_rejected`) a cookie-authenticated request from anywhere else."""
    origins = _headers(request.scope, b"origin")
    if len(origins) != 1:
        raise CsrfRejected("A request authenticated by the refresh cookie must carry one Origin header")
    origin = origin_of(origins[0])
    listed, _ = _configured(settings.cors_origins, settings.public_url)
    is_listed = origin is not None and origin in listed
    if origin is None or not (is_listed or origin == own_origin(request, settings)):
        raise CsrfRejected("This origin may not use the refresh cookie")
    fetch_sites = _headers(request.scope, b"sec-fetch-site")
    if not is_listed and any(site.strip().lower() == "cross-site" for site in fetch_sites):
        raise CsrfRejected("A cross-site request may use the refresh cookie only from a listed origin")
