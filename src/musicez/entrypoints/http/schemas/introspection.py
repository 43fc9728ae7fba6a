"""Bodies of protecting other services: token introspection (v1.1, issue 17)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import msgspec

from musicez.entrypoints.http import samples
from musicez.entrypoints.http.schemas.fields import doc

# -- protecting other services (v1.1, issue 17) ---------------------------------------------


class IntrospectionOut(msgspec.Struct, frozen=True, omit_defaults=True):
    """RFC 7662 §2.2: only `active` for a token that is not (or no longer) valid."""

    active: Annotated[
        bool, doc("Whether the token is a valid access token whose session is alive; alone when false", True)
    ]
    token_type: Annotated[str, doc("Always `access_token`", "access_token")] | None = None
    sub: Annotated[UUID, doc("The user's id", samples.USER_ID)] | None = None
    sid: Annotated[UUID, doc("The session's id", samples.SESSION_ID)] | None = None
    iss: Annotated[str, doc("The token's issuer", samples.ISSUER)] | None = None
    aud: Annotated[str, doc("The token's audience", samples.AUDIENCE)] | None = None
    iat: Annotated[int, doc("When the token was issued (seconds since the epoch)", samples.ACCESS_TOKEN_IAT)] | None = (
        None
    )
    exp: Annotated[int, doc("When the token expires (seconds since the epoch)", samples.ACCESS_TOKEN_EXP)] | None = None
    jti: Annotated[str, doc("The token's own id", samples.ACCESS_TOKEN_ID)] | None = None
