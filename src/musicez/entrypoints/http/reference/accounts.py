"""The reference of registering, logging in, refreshing, sessions and activity."""

from __future__ import annotations

from musicez.entrypoints.http import samples as s
from musicez.entrypoints.http.reference.common import (
    ACTIVITY,
    CREDENTIAL_ERRORS,
    INVALID_EMAIL,
    REFRESHED,
    REFRESHED_IN_COOKIE,
    SESSIONS,
    TOKEN_RESPONSE,
    TOKENS,
    TOKENS_IN_COOKIE,
    USER,
    USER_ONLY,
    OperationDoc,
    example,
    instant,
    invalid,
    lines,
    uid,
)
from musicez.entrypoints.http.schemas import (
    ActivityPage,
    ApiKeyOut,
    MeApiKey,
    MeSession,
    MeUser,
)

OPERATIONS: dict[str, OperationDoc] = {
    # -- register, log in, refresh, who am I ------------------------------------------------
    "POST /auth/register": OperationDoc(
        summary="Create an account",
        description=lines(
            "Creates an account for the email address and opens its first session, as a login would. The "
            "address is kept as given (trimmed, NFC) and compared case-insensitively after Unicode folding.",
            "**Who:** anyone: the route is public and ignores credentials. Limited per client address.",
            f"**Returns:** 201 with {TOKEN_RESPONSE}, plus a `device_token` for this device. "
            "`Cache-Control: no-store`.",
            "**Errors:** 409 `email_taken`; 422 `weak_password`, with one entry in `errors` for every rule the "
            "password breaks (the policy is in the `password` field's description); 400 `validation_error` for a "
            "missing, mistyped or malformed field (such as an address that is not one); 429 `rate_limited`; "
            "503 `service_unavailable` with `Retry-After` when every password hasher is busy.",
        ),
        problems=INVALID_EMAIL,
        success="Account created, and its first session opened: the token response",
        request={
            "email and password": example(
                "An app that keeps the refresh token", {"email": s.EMAIL, "password": s.PASSWORD}
            ),
            "browser mode": example(
                "A browser app: the refresh token goes into an HttpOnly cookie",
                {
                    "email": s.EMAIL,
                    "password": s.PASSWORD,
                    "device_name": s.DEVICE_NAME,
                    "refresh_token_transport": "cookie",
                },
            ),
        },
        responses={
            201: {
                "tokens": example("Body mode: the refresh token is in the body", TOKENS),
                "browser mode": example("Browser mode: the refresh token is in `Set-Cookie`", TOKENS_IN_COOKIE),
            }
        },
    ),
    "POST /auth/login": OperationDoc(
        summary="Log in with email and password",
        description=lines(
            "Checks the email and password and opens a new session for this device. A login from a device name "
            'the account has not used in 90 days mails the owner a "new sign-in" notice with a "this wasn\'t me" '
            "link.",
            "**Who:** anyone: the route is public and ignores credentials. Send back the `device_token` of this "
            "device's last login: then other clients' failed guesses at the account do not lock this device out.",
            f"**Returns:** 200 with {TOKEN_RESPONSE}, plus a new `device_token`. `Cache-Control: no-store`.",
            "**Errors:** 401 `invalid_credentials` for an unknown email and a wrong password alike (same answer, "
            "same time); 403 `account_disabled` for the right password of a disabled account; 429 `rate_limited` "
            "after repeated failures (per email and client address, per client address, and per account, across "
            "every client); 503 `service_unavailable` with `Retry-After` when every password hasher is busy.",
        ),
        problems={"validation_error": invalid("password", "Object missing required field `password`")},
        success="Logged in: the token response of the new session",
        request={
            "email and password": example("A first login on this device", {"email": s.EMAIL, "password": s.PASSWORD}),
            "returning device": example(
                "A device that logged in before: its name and its device token",
                {
                    "email": s.EMAIL,
                    "password": s.PASSWORD,
                    "device_name": s.DEVICE_NAME,
                    "device_token": s.DEVICE_TOKEN,
                },
            ),
            "browser mode": example(
                "A browser app: the refresh token goes into an HttpOnly cookie",
                {"email": s.EMAIL, "password": s.PASSWORD, "refresh_token_transport": "cookie"},
            ),
        },
        responses={
            200: {
                "tokens": example("Body mode: the refresh token is in the body", TOKENS),
                "browser mode": example("Browser mode: the refresh token is in `Set-Cookie`", TOKENS_IN_COOKIE),
            }
        },
    ),
    "POST /auth/refresh": OperationDoc(
        summary="Get new tokens with the refresh token",
        description=lines(
            "Rotates the session's refresh token: a new access token and a new refresh token for the same "
            "`session_id`; the refresh token presented stops working. Keep the new one. The same token sent again "
            "within the reuse grace (10 s by default) of its rotation is a retry, not theft: it gets the same new "
            "refresh token again.",
            "**Who:** public: the refresh token is the credential, in the body, or (browser mode, with a body of "
            "`{}`) in the refresh cookie, which must come with an `Origin` that may use it.",
            f"**Returns:** 200 with {TOKEN_RESPONSE}; no `device_token`. `Cache-Control: no-store`.",
            "**Errors:** 401 `invalid_refresh_token` (unknown, expired, revoked or malformed; with `reason` when "
            "its session ended); 401 `refresh_token_reused` (a refresh token already rotated away came back: the "
            "whole session is ended as stolen); 403 `csrf_rejected` (the cookie came from an origin that may not "
            "use it); 400 `validation_error` when there is neither a body token nor the cookie; 429 "
            "`rate_limited` (failures per client address, successes per session).",
        ),
        problems={
            "validation_error": invalid(
                "refresh_token", "Send refresh_token in the body, or the refresh cookie (browser mode)"
            )
        },
        success="The session's new tokens: the token response, without `device_token`",
        request={
            "refresh token": example(
                "Body mode: the refresh token of the last token response", {"refresh_token": s.REFRESH_TOKEN}
            ),
            "browser mode": example("Browser mode: the refresh cookie is the credential", {}),
        },
        responses={
            200: {
                "tokens": example("Body mode: keep the new refresh token", REFRESHED),
                "browser mode": example("Browser mode: the new refresh token is in `Set-Cookie`", REFRESHED_IN_COOKIE),
            }
        },
    ),
    "GET /auth/me": OperationDoc(
        summary="Who am I, and until when",
        description=lines(
            'Describes the credential of the request: the "am I logged in, and until when" answer.',
            "**Who:** a user's access token or an API key.",
            "**Returns:** 200: for an access token, `kind: user` with the user and the session, including when "
            "the access token and the session's refresh token expire; for an API key, `kind: api_key` with the "
            "key's id and name. `Cache-Control: no-store`.",
            f"**Errors:** {CREDENTIAL_ERRORS}.",
        ),
        success="The caller: a user and their session, or an API key",
        responses={
            200: {
                "user": example(
                    "A user's access token",
                    MeUser(
                        user=USER,
                        session=MeSession(
                            id=uid(s.SESSION_ID),
                            access_token_expires_at=instant(s.ACCESS_TOKEN_EXPIRES_AT),
                            refresh_expires_at=instant(s.REFRESH_EXPIRES_AT),
                        ),
                    ),
                ),
                "api key": example(
                    "An API key", MeApiKey(api_key=ApiKeyOut(id=uid(s.API_KEY_ID), name=s.API_KEY_NAME))
                ),
            }
        },
    ),
    # -- sessions -----------------------------------------------------------------------------
    "POST /auth/logout": OperationDoc(
        summary="Log out of this session",
        description=lines(
            "Ends the session of the access token: its refresh token and all its access tokens stop working at "
            "once, on every server (they then answer 401 `token_revoked` with `reason: logout`).",
            USER_ONLY,
            "**Returns:** 204. When the request carried the browser-mode refresh cookie, `Set-Cookie` clears it.",
            f"**Errors:** {CREDENTIAL_ERRORS}; 403 `user_token_required`.",
        ),
        success="Logged out: the session ended; when the request carried the refresh cookie, `Set-Cookie` clears it",
    ),
    "POST /auth/logout-all": OperationDoc(
        summary="Log out everywhere",
        description=lines(
            "Ends every session of the user, this one included, at once and on every server.",
            USER_ONLY,
            "**Returns:** 204. When the request carried the browser-mode refresh cookie, `Set-Cookie` clears it.",
            f"**Errors:** {CREDENTIAL_ERRORS}; 403 `user_token_required`.",
        ),
        success=(
            "Every session of the user ended, this one included; when the request carried the refresh cookie, "
            "`Set-Cookie` clears it"
        ),
    ),
    "POST /auth/logout-others": OperationDoc(
        summary="Log out every other device",
        description=lines(
            "Ends every session of the user but this one, at once and on every server (their tokens answer 401 "
            "`token_revoked` with `reason: ended_from_other_device`). This session goes on.",
            USER_ONLY,
            "**Returns:** 204.",
            f"**Errors:** {CREDENTIAL_ERRORS}; 403 `user_token_required`.",
        ),
        success="Every other session of the user ended; this one goes on",
    ),
    "GET /auth/sessions": OperationDoc(
        summary="List my active sessions",
        description=lines(
            "The caller's active sessions, one per logged-in device: to show a \"where you're logged in\" page.",
            USER_ONLY,
            "**Returns:** 200 with the sessions; `current` marks the one of this request. `Cache-Control: no-store`.",
            f"**Errors:** {CREDENTIAL_ERRORS}; 403 `user_token_required`.",
        ),
        success="The caller's active sessions; `current` marks the one making this request",
        responses={200: {"two devices": example("Logged in on a phone and a laptop", SESSIONS)}},
    ),
    "DELETE /auth/sessions/{session_id}": OperationDoc(
        summary="Log one device out",
        description=lines(
            "Ends one of the caller's sessions, at once and on every server: its tokens answer 401 "
            "`token_revoked` (with `reason: ended_from_other_device` when it is not this one).",
            USER_ONLY,
            "**Returns:** 204.",
            f"**Errors:** 404 `session_not_found` when it is not an active session of the caller; "
            f"{CREDENTIAL_ERRORS}; 403 `user_token_required`.",
        ),
        success="That session ended: its tokens no longer work",
        parameters={"session_id": "The session's id, as in `GET /auth/sessions`"},
    ),
    "GET /auth/activity": OperationDoc(
        summary="My security activity",
        description=lines(
            "The caller's security events, newest first: logins (and whether the device was new), failed "
            "logins, logouts, sessions that ended and why, detected refresh-token theft, password changes and "
            "resets, and an admin disabling or enabling the account. Kept 90 days by default; no client address "
            "is stored.",
            USER_ONLY,
            "**Returns:** 200 with a page of events and `next_cursor` (null on the last page): send it as "
            "`cursor` for the next, older page. `Cache-Control: no-store`.",
            f"**Errors:** 400 `validation_error` for a `limit` outside 1 to 100 or a `cursor` that is not a "
            f"`next_cursor`; {CREDENTIAL_ERRORS}; 403 `user_token_required`.",
        ),
        problems={"validation_error": invalid("limit", "Expected `int` <= 100")},
        success="A page of the caller's security events, newest first",
        responses={
            200: {
                "a page": example(
                    "A login from a new phone, a laptop logged out from it, and a failed login",
                    ActivityPage(items=ACTIVITY, next_cursor=s.ACTIVITY_CURSOR),
                ),
                "last page": example("The last page", ActivityPage(items=ACTIVITY[2:], next_cursor=None)),
            }
        },
    ),
    "POST /auth/not-me": OperationDoc(
        summary="This sign-in wasn't me",
        description=lines(
            'Ends the session that a "new sign-in" email was about, at once: the link of the mail carries the '
            "token. The user should then change their password.",
            "**Who:** public: the token of the link is the credential (single-use, valid for 7 days).",
            "**Returns:** 204.",
            "**Errors:** 400 `invalid_security_token` (unknown, used or expired); 400 `validation_error` for a "
            "malformed body; 429 `rate_limited` after too many bad tokens from one client address.",
        ),
        success="The session the email was about ended",
        request={"token": example("The token of the link in the email", {"token": s.SECURITY_TOKEN})},
    ),
}
