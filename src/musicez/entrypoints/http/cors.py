"""A disallowed CORS preflight answers a problem document, like every other error.

Litestar's CORS middleware answers it `400 text/plain` ("Disallowed CORS Origin, method"); this
layer, just inside the outer middleware, turns exactly that answer into a 400 `validation_error` problem
document naming what was refused. Every other response passes through untouched.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar.config.cors import CORSConfig

from musicez.domain.errors import ValidationFailed
from musicez.entrypoints.http.problems import PROBLEM_JSON
from musicez.entrypoints.http.schemas import FieldErrorOut, Problem

ASGIApp = Any
_PREFIX = "Disallowed CORS "
_FIELDS = {
    "Origin": "Origin",
    "method": "Access-Control-Request-Method",
    "headers": "Access-Control-Request-Headers",
}


def _problem_body(text: str) -> bytes:
    refused = [part.strip() for part in text.removeprefix(_PREFIX).split(",") if part.strip()]
    errors = [
        FieldErrorOut(_FIELDS.get(part, part), "is not allowed by this service's CORS policy") for part in refused
    ]
    detail = "CORS preflight refused: " + (", ".join(e.field for e in errors) or "not allowed")
    problem = Problem(
        type=f"urn:musicez:problem:{ValidationFailed.code}",
        title=ValidationFailed.title,
        status=400,
        detail=detail,
        code=ValidationFailed.code,
        errors=errors,
    )
    return msgspec.json.encode(problem)


def cors_problem_documents(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") != "OPTIONS":
            await app(scope, receive, send)
            return
        held: dict[str, Any] = {}

        async def send_problem(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and message["status"] == 400:
                content_type = dict(message.get("headers", ())).get(b"content-type", b"")
                if content_type.startswith(b"text/plain"):
                    held["start"] = message
                    held["body"] = b""
                    return
            if "start" in held and message["type"] == "http.response.body":
                held["body"] += message.get("body", b"")
                if message.get("more_body"):
                    return
                text = held["body"].decode("utf-8", "replace")
                if not text.startswith(_PREFIX):  # not the CORS middleware's answer: as it was
                    await send(held.pop("start"))
                    await send({"type": "http.response.body", "body": held["body"]})
                    return
                body = _problem_body(text)
                start = held.pop("start")
                headers = [
                    (name, value)
                    for name, value in start.get("headers", ())
                    if name.lower() not in (b"content-type", b"content-length")
                ]
                headers += [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())]
                await send({**start, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        await app(scope, receive, send_problem)

    return middleware


# -- CORS for the listed origins only (browser mode) ----------------------------------------
# Litestar's CORS middleware adds its origin-independent headers (`Access-Control-Allow-Credentials`,
# `-Expose-Headers`, `-Allow-Methods`, ...) to every response that has an `Origin`. An origin that
# is not listed gets none of them here, on any response; its preflight is refused with the
# problem document above.


def _origin(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    for name, value in headers:
        if name == b"origin":
            return value
    return None


def listed_origins_only(app: ASGIApp, config: CORSConfig) -> ASGIApp:
    async def middleware(scope: dict[str, Any], receive: Any, send: Any) -> None:
        origin = _origin(scope["headers"]) if scope["type"] == "http" else None
        if origin is None or config.is_origin_allowed(origin.decode("latin-1")):
            await app(scope, receive, send)
            return

        async def send_without_cors(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                kept = [(n, v) for n, v in message.get("headers", ()) if not n.lower().startswith(b"access-control-")]
                message = {**message, "headers": kept}
            await send(message)

        await app(scope, receive, send_without_cors)

    return middleware
