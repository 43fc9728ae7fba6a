"""The error body: an RFC 9457 problem, with its field errors."""

from __future__ import annotations

from typing import Annotated

import msgspec

from musicez.entrypoints.http.schemas.fields import doc


class FieldErrorOut(msgspec.Struct, frozen=True):
    field: Annotated[str, doc("The request field at fault", "password")]
    message: Annotated[str, doc("What is wrong with it, for people", "is one of the most common passwords")]


class Problem(msgspec.Struct, frozen=True, omit_defaults=True):
    type: Annotated[
        str, doc("A URI naming the problem: `urn:musicez:problem:<code>`", "urn:musicez:problem:token_revoked")
    ]
    title: Annotated[
        str, doc("A short summary of the problem type, for people", "The session of this access token has ended")
    ]
    status: Annotated[int, doc("The HTTP status code, as in the response", 401)]
    detail: Annotated[
        str,
        doc(
            "This occurrence, and what the client can do about it, for people",
            "Log in again: this session was ended (see `reason`)",
        ),
    ]
    code: Annotated[str, doc("The stable, machine-readable reason: program against this", "token_revoked")]
    errors: (
        Annotated[
            list[FieldErrorOut],
            doc("`validation_error` and `weak_password` only: one entry per field error, or per failed rule"),
        ]
        | None
    ) = None
    reason: (
        Annotated[
            str,
            doc(
                "`token_revoked` and `invalid_refresh_token` for a session that ended: why it ended (`logout`, "
                "`logout_all`, `ended_from_other_device`, `password_changed`, `password_reset`, `reuse_detected`, "
                "`account_disabled`, `admin_logout`, `not_me`, `expired` or `max_age`)",
                "password_changed",
            ),
        ]
        | None
    ) = None  # why the session ended (token_revoked, invalid_refresh_token)
