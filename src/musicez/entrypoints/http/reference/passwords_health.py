"""The reference of the password routes, the health routes and the JWKS."""

from __future__ import annotations

from musicez.entrypoints.http import samples as s
from musicez.entrypoints.http.reference.common import (
    CREDENTIAL_ERRORS,
    INVALID_EMAIL,
    USER_ONLY,
    OperationDoc,
    example,
    lines,
)
from musicez.entrypoints.http.routes.passwords import Accepted
from musicez.entrypoints.http.schemas import (
    DependencyOut,
    HealthOut,
    Status,
)

OPERATIONS: dict[str, OperationDoc] = {
    # -- passwords ----------------------------------------------------------------------------
    "POST /auth/password/forgot": OperationDoc(
        summary="Ask for a password reset link",
        description=lines(
            "Mails a reset link (`MUSICEZ_PASSWORD_RESET_URL?token=…`, valid for 30 minutes by default) to the "
            "account with this address, if there is an enabled one. The answer is the same, in the same time, "
            "whether or not it exists. Earlier links keep working (up to 5 at once).",
            "**Who:** anyone: the route is public and ignores credentials.",
            "**Returns:** 202 for every well-formed request.",
            "**Errors:** 400 `validation_error` for a malformed body or address; 429 `rate_limited` (per client "
            "address, and per address and client).",
        ),
        problems=INVALID_EMAIL,
        success=(
            "Accepted: if an enabled account has this address, a reset link is on its way (the same answer either way)"
        ),
        request={"email": example("The address of the account", {"email": s.EMAIL})},
        responses={202: {"accepted": example("The one answer, whether or not the account exists", Accepted())}},
    ),
    "POST /auth/password/reset": OperationDoc(
        summary="Set a new password with a reset link",
        description=lines(
            "Sets a new password with the token of a reset link. Every session of the user ends and the old "
            "password stops working; every other reset link of the user is voided. The owner is mailed that the "
            "password changed.",
            "**Who:** public: the reset token is the credential (single-use, valid for 30 minutes by default).",
            "**Returns:** 204. When the request carried the browser-mode refresh cookie, `Set-Cookie` clears it.",
            "**Errors:** 400 `invalid_reset_token` (unknown, used or expired); 422 `weak_password`, with every "
            "failed rule in `errors` (the link stays usable); 400 `validation_error` for a malformed body; 429 "
            "`rate_limited` after too many bad tokens from one client address; 503 `service_unavailable` with "
            "`Retry-After` when every password hasher is busy.",
        ),
        success=(
            "Password set; every session of the user ended; when the request carried the refresh cookie, "
            "`Set-Cookie` clears it"
        ),
        request={
            "token and new password": example(
                "The token of the link, and the new password", {"token": s.RESET_TOKEN, "new_password": s.NEW_PASSWORD}
            )
        },
    ),
    "POST /auth/password/change": OperationDoc(
        summary="Change my password",
        description=lines(
            "Changes the caller's password. Every other session of the user ends; this one goes on (and keeps its "
            "browser-mode cookie). The owner is mailed that the password changed.",
            USER_ONLY,
            "**Returns:** 204.",
            "**Errors:** 400 `invalid_current_password` (it counts against the account's failed-login budget, "
            "like a failed login); 422 `weak_password`, with every failed rule in `errors`; 400 "
            f"`validation_error` for a malformed body; {CREDENTIAL_ERRORS}; 403 `user_token_required`; 503 "
            "`service_unavailable` with `Retry-After` when every password hasher is busy.",
        ),
        success="Password changed; every other session of the user ended, this one goes on",
        request={
            "current and new password": example(
                "The password as it is, and the new one",
                {"current_password": s.PASSWORD, "new_password": s.NEW_PASSWORD},
            )
        },
    ),
    # -- health and keys ------------------------------------------------------------------------
    "GET /health/live": OperationDoc(
        summary="Liveness",
        description=lines(
            "Whether the process is up, for a liveness probe. Checks no dependency, so it stays fast when they "
            "are down.",
            "**Who:** anyone: the route is public.",
            '**Returns:** 200 `{"status": "ok"}`, never anything more.',
        ),
        success="The process is up",
        responses={200: {"up": example("The process is up", Status(status="ok"))}},
    ),
    "GET /health/ready": OperationDoc(
        summary="Readiness",
        description=lines(
            "Whether this process can serve requests, for a readiness probe or a load balancer: the database "
            "answers (at the schema revision this version needs) and so does the session store.",
            "**Who:** anyone: the route is public, and tells no details.",
            '**Returns:** 200 `{"status": "ok"}`, or 503 `{"status": "unavailable"}` when a dependency does not '
            "answer (a status document, not a problem document).",
        ),
        success="Ready: the database and the session store answer",
        responses={
            200: {"ready": example("Ready", Status(status="ok"))},
            503: {"unavailable": example("A dependency does not answer", Status(status="unavailable"))},
        },
    ),
    "GET /health": OperationDoc(
        summary="Detailed health",
        description=lines(
            "Each dependency (the database and the session store) with its status and how long its check took, "
            "for operators and monitoring.",
            "**Who:** a user's access token or an API key. When the session store is down, an API key is checked "
            "against the database alone, so the report still comes through.",
            "**Returns:** 200 when every dependency is available; 503 with the same report (a status document, "
            "not a problem document) when one is not, with the error's type.",
            f"**Errors:** {CREDENTIAL_ERRORS}.",
        ),
        success="Every dependency is available: each one's status and latency",
        responses={
            200: {
                "healthy": example(
                    "Both dependencies answer",
                    HealthOut(
                        status="ok",
                        dependencies={
                            "database": DependencyOut(status="ok", latency_ms=1.27),
                            "session_store": DependencyOut(status="ok", latency_ms=0.42),
                        },
                    ),
                )
            },
            503: {
                "session store down": example(
                    "The session store does not answer",
                    HealthOut(
                        status="unavailable",
                        dependencies={
                            "database": DependencyOut(status="ok", latency_ms=1.31),
                            "session_store": DependencyOut(
                                status="unavailable", latency_ms=1000.4, error="TimeoutError"
                            ),
                        },
                    ),
                )
            },
        },
    ),
    "GET /.well-known/jwks.json": OperationDoc(
        summary="Public keys that verify access tokens",
        description=lines(
            "The JSON Web Key Set (RFC 7517) of the keys that sign access tokens (EdDSA or ES256), by `kid`: a "
            "service can verify tokens offline with it. Such a service accepts a token of an ended session until "
            "it expires; `GET /auth/verify` or `POST /auth/introspect` refuse it at once.",
            "**Who:** anyone: the route is public.",
            "**Returns:** 200 with the key set.",
            "**Errors:** 404 `not_found` when tokens are signed with a shared secret (HS256): there is no public "
            "key to publish.",
        ),
        success="The JWK set: the public keys that verify access tokens, by `kid`",
        responses={
            200: {
                "Ed25519": example(
                    "One EdDSA key",
                    {
                        "keys": [
                            {
                                "kty": "OKP",
                                "crv": "Ed25519",
                                "x": s.KEY_X,
                                "kid": s.KEY_ID,
                                "use": "sig",
                                "alg": "EdDSA",
                            }
                        ]
                    },
                )
            }
        },
    ),
}
