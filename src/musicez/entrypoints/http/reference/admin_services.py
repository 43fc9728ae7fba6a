"""The reference of account administration and of the resource-server routes."""

from __future__ import annotations

from musicez.entrypoints.http import samples as s
from musicez.entrypoints.http.problems import STATUS_CODES
from musicez.entrypoints.http.reference.common import (
    ADA,
    ADMIN_ONLY,
    CREDENTIAL_ERRORS,
    GRACE,
    USER_ID_PARAMETER,
    OperationDoc,
    example,
    instant,
    invalid,
    lines,
    problem,
    uid,
)
from musicez.entrypoints.http.schemas import (
    AdminSessionOut,
    AdminUserDetails,
    AdminUserPage,
    IntrospectionOut,
)

OPERATIONS: dict[str, OperationDoc] = {
    # -- administration ------------------------------------------------------------------------
    "GET /admin/users": OperationDoc(
        summary="List user accounts",
        description=lines(
            "User accounts in creation order, optionally filtered by a part of the email address and by the "
            "disabled flag; the same as `musicez users list`.",
            ADMIN_ONLY,
            "**Returns:** 200 with a page of accounts and `next_cursor` (null on the last page): send it as "
            "`cursor` for the next page. `Cache-Control: no-store`.",
            f"**Errors:** 400 `validation_error` for a malformed parameter; {CREDENTIAL_ERRORS}; 403 "
            "`insufficient_scope`.",
        ),
        problems={"validation_error": invalid("limit", "Expected `int` <= 100")},
        success="A page of accounts, in creation order",
        parameters={
            "email_contains": "Only accounts whose email address contains this text (case-insensitively)",
            "disabled": "`true`: only disabled accounts; `false`: only enabled ones; absent: both",
            "limit": "Accounts per page",
            "cursor": "The `next_cursor` of the previous page",
        },
        responses={
            200: {
                "a page": example(
                    "Two accounts, one of them disabled", AdminUserPage(items=[ADA, GRACE], next_cursor=s.USERS_CURSOR)
                ),
                "last page": example("The last page", AdminUserPage(items=[GRACE], next_cursor=None)),
            }
        },
    ),
    "GET /admin/users/{user_id}": OperationDoc(
        summary="Show one user account",
        description=lines(
            "One account and its live sessions; the same as `musicez users show`.",
            ADMIN_ONLY,
            "**Returns:** 200 with the account's fields and its `sessions`. `Cache-Control: no-store`.",
            f"**Errors:** 404 `user_not_found`; {CREDENTIAL_ERRORS}; 403 `insufficient_scope`.",
        ),
        success="The account and its live sessions",
        parameters=USER_ID_PARAMETER,
        responses={
            200: {
                "ada": example(
                    "An account logged in on one device",
                    AdminUserDetails(
                        id=ADA.id,
                        email=ADA.email,
                        created_at=ADA.created_at,
                        disabled=ADA.disabled,
                        disabled_reason=ADA.disabled_reason,
                        last_login_at=ADA.last_login_at,
                        sessions=[
                            AdminSessionOut(
                                id=uid(s.SESSION_ID),
                                device_name=s.DEVICE_NAME,
                                created_at=instant(s.CREATED_AT),
                                last_used_at=instant(s.NOW),
                                expires_at=instant(s.REFRESH_EXPIRES_AT),
                            )
                        ],
                    ),
                )
            }
        },
    ),
    "POST /admin/users/{user_id}/disable": OperationDoc(
        summary="Disable an account",
        description=lines(
            "Blocks the account: every session ends at once, on every server (tokens answer 401 `token_revoked`, "
            "refresh `invalid_refresh_token`, with `reason: account_disabled`); login with the right password "
            "answers 403 `account_disabled`; forgot-password sends nothing; outstanding reset links stop working. "
            "The body is optional.",
            ADMIN_ONLY,
            "**Returns:** 204.",
            f"**Errors:** 404 `user_not_found`; 400 `validation_error` for a malformed body; {CREDENTIAL_ERRORS}; "
            "403 `insufficient_scope`.",
        ),
        success="Account disabled; every session of the user ended",
        parameters=USER_ID_PARAMETER,
        request={
            "with a reason": example("Say why: kept with the account", {"reason": s.DISABLED_REASON}),
            "without a reason": example("No reason given", {}),
        },
    ),
    "POST /admin/users/{user_id}/enable": OperationDoc(
        summary="Enable an account",
        description=lines(
            "Lifts the block of a disabled account: the user can log in again. Sessions that ended and reset "
            "links that were voided stay so.",
            ADMIN_ONLY,
            "**Returns:** 204.",
            f"**Errors:** 404 `user_not_found`; {CREDENTIAL_ERRORS}; 403 `insufficient_scope`.",
        ),
        success="Account enabled; sessions that ended stay ended",
        parameters=USER_ID_PARAMETER,
    ),
    "POST /admin/users/{user_id}/logout": OperationDoc(
        summary="Log a user out everywhere",
        description=lines(
            "Ends every session of the user at once, on every server (tokens answer 401 `token_revoked` with "
            "`reason: admin_logout`). The account stays enabled: the user can log in again.",
            ADMIN_ONLY,
            "**Returns:** 204.",
            f"**Errors:** 404 `user_not_found`; {CREDENTIAL_ERRORS}; 403 `insufficient_scope`.",
        ),
        success="Every session of the user ended",
        parameters=USER_ID_PARAMETER,
    ),
    # -- protecting other services -----------------------------------------------------------
    "GET /auth/verify": OperationDoc(
        summary="Check a credential for a proxy (forward auth)",
        description=lines(
            "For nginx `auth_request`, Traefik ForwardAuth and Envoy `ext_authz` in front of another service: "
            "the proxy forwards the client's credential headers here, and lets the request through on a 200. A "
            "token of an ended session is refused at once. `X-Forwarded-Method` and `X-Forwarded-Uri` from a "
            "trusted proxy are logged, never acted upon.",
            "**Who:** a user's access token or an API key, as on any protected route; rate limited per principal "
            "like one.",
            "**Returns:** 200 with an empty body and the principal in headers: `X-Auth-Kind` (`user` or "
            "`api_key`), `X-Auth-User-Id` and `X-Auth-Session-Id` for a user, `X-Auth-Api-Key-Id` and "
            "`X-Auth-Scope` for a key. `Cache-Control: no-store`.",
            f"**Errors:** exactly what any protected route answers: {CREDENTIAL_ERRORS}; 503 `service_unavailable`.",
        ),
        success="The credential is good: the principal is in the X-Auth-* headers; the body is empty",
    ),
    "POST /auth/introspect": OperationDoc(
        summary="Introspect an access token (RFC 7662)",
        description=lines(
            "Tells a service whether an access token is valid and its session alive, with its claims. A token "
            "of an ended session is inactive at once.",
            "**Who:** a service, with an API key (`X-API-Key`). The body is a form "
            "(`application/x-www-form-urlencoded`, `token=<access token>`), as RFC 7662 says.",
            '**Returns:** 200 with `active: true` and the claims, or just `{"active": false}` for any token that '
            "is not a valid access token of a live session (never an error for a bad token). `Cache-Control: "
            "no-store`.",
            "**Errors:** 401 `missing_credentials` without an API key (a user token alone is not enough), "
            "`invalid_api_key`, or a rejected bearer token sent along (`invalid_token`, `token_expired`, "
            "`token_revoked`); 415 `unsupported_media_type` for a body "
            "that is not a form; 429 `rate_limited`.",
        ),
        problems={
            "validation_error": invalid("token_type_hint", "Expected `str` of length <= 64"),
            "unsupported_media_type": problem(
                "unsupported_media_type",
                415,
                STATUS_CODES[415][1],
                "Send the body as application/x-www-form-urlencoded",
            ),
        },
        success="The token's state: `active` with its claims, or only `active: false`",
        request={
            "access token": example(
                "The access token a client sent the service",
                {"token": s.ACCESS_TOKEN, "token_type_hint": "access_token"},
            )
        },
        responses={
            200: {
                "active": example(
                    "A valid access token of a live session",
                    IntrospectionOut(
                        active=True,
                        token_type="access_token",
                        sub=uid(s.USER_ID),
                        sid=uid(s.SESSION_ID),
                        iss=s.ISSUER,
                        aud=s.AUDIENCE,
                        iat=s.ACCESS_TOKEN_IAT,
                        exp=s.ACCESS_TOKEN_EXP,
                        jti=s.ACCESS_TOKEN_ID,
                    ),
                ),
                "inactive": example(
                    "Expired, revoked, forged, or not an access token at all", IntrospectionOut(active=False)
                ),
            }
        },
    ),
}
