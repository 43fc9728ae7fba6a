"""Web origins as a browser serialises them: what `Origin` carries, what browser mode's settings
(`MUSICEZ_CORS_ORIGINS`, `MUSICEZ_PUBLIC_URL`) are compared with. One function, so the CSRF
check, the CORS middleware and the settings' own check read an origin the same way."""

from __future__ import annotations

from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
_MAX_ORIGIN = 2048


def origin_of(text: str, *, of_url: bool = False) -> str | None:
    """`scheme://host[:port]` as a browser serialises it (lower case, default port omitted),
    or None when `text` is not an http(s) origin (a path, a query, user info, `null`, ...);
    with `of_url`, the origin of a URL (whatever its path)."""
    if not text or len(text) > _MAX_ORIGIN or not text.isascii():
        return None
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in _DEFAULT_PORTS or not host or parts.username is not None or parts.password is not None:
        return None
    if not of_url and (parts.path not in ("", "/") or parts.query or parts.fragment):
        return None
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}" if port in (None, _DEFAULT_PORTS[scheme]) else f"{scheme}://{host}:{port}"
