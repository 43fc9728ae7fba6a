"""Register, log in, refresh, and "who am I"."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dishka.integrations.litestar import FromDishka, inject
from litestar import Request, Response, Router, get, post
from litestar.params import JSONBody
from litestar.response.base import ASGIResponse

from musicez.application.accounts import Credentials, LoginUser, RegisterUser
from musicez.application.sessions import RotateRefresh
from musicez.domain.errors import (
    AccountDisabled,
    CsrfRejected,
    EmailTaken,
    HashingBusy,
    InvalidCredentials,
    InvalidRefreshToken,
    RateLimited,
    RefreshTokenReused,
    TokenRevoked,
    WeakPassword,
)
from musicez.domain.principal import Principal, UserPrincipal
from musicez.entrypoints.http import cookies
from musicez.entrypoints.http.device import device_label
from musicez.entrypoints.http.guard import PUBLIC, current_principal
from musicez.entrypoints.http.routes.common import NO_STORE, client_of, token_response
from musicez.entrypoints.http.schemas import (
    ApiKeyOut,
    LoginBody,
    MeApiKey,
    MeSession,
    MeUser,
    RefreshBody,
    RegisterBody,
    TokenResponse,
    UserOut,
    wire_time,
)

TAGS = ["auth"]


def _credentials(request: Request[Any, Any, Any], data: RegisterBody, device_token: str | None = None) -> Credentials:
    """Register's body or login's (a LoginBody is a RegisterBody with a device token)."""
    device = data.device_name or device_label(request.headers.get("user-agent"))
    return Credentials(data.email, data.password, client_of(request), device, device_token)


@post("/register", opt={**PUBLIC, "raises": (EmailTaken, WeakPassword, RateLimited, HashingBusy)}, status_code=201)
@inject
async def register(
    data: JSONBody[RegisterBody], request: Request[Any, Any, Any], use_case: FromDishka[RegisterUser]
) -> Response[TokenResponse]:
    """Create an account and open its first session."""
    grant = await use_case.execute(_credentials(request, data))
    body = token_response(grant, datetime.now(UTC))
    return cookies.token_response(request, body, data.refresh_token_transport, status_code=201)


@post(
    "/login", opt={**PUBLIC, "raises": (InvalidCredentials, AccountDisabled, RateLimited, HashingBusy)}, status_code=200
)
@inject
async def login(
    data: JSONBody[LoginBody], request: Request[Any, Any, Any], use_case: FromDishka[LoginUser]
) -> Response[TokenResponse]:
    """Open a new session with email and password."""
    grant = await use_case.execute(_credentials(request, data, data.device_token))
    body = token_response(grant, datetime.now(UTC))
    return cookies.token_response(request, body, data.refresh_token_transport, status_code=200)


@post(
    "/refresh",
    opt={**PUBLIC, "raises": (InvalidRefreshToken, RefreshTokenReused, CsrfRejected, RateLimited)},
    status_code=200,
)
@inject
async def refresh(
    data: JSONBody[RefreshBody], request: Request[Any, Any, Any], use_case: FromDishka[RotateRefresh]
) -> Response[TokenResponse]:
    """Trade a refresh token (in the body, or the browser-mode cookie) for a new token pair;
    the old refresh token stops working. A cookie refused for good (401) is cleared."""
    presented, transport = cookies.refresh_credential(request, data.refresh_token)
    try:
        grant = await use_case.execute(presented, client=client_of(request))
    except (InvalidRefreshToken, RefreshTokenReused) as error:
        if transport == "cookie":  # a cookie that can never refresh again: the browser drops it
            return cookies.refused(request, error)
        raise
    return cookies.token_response(request, token_response(grant, datetime.now(UTC)), transport, status_code=200)


class _RenderedOnce(Response[MeUser | MeApiKey]):
    """One principal's `/auth/me` answer, rendered into Litestar's low-level response on its first
    request and replayed after that: the answer depends on the principal alone, and the route sets
    no headers or cookies of its own, so what Litestar passes to `to_asgi_response` is the same on
    every request. A low-level response is safe to replay: each send builds a new start message
    (a new header list, which the outer middleware extends) around the same body bytes. Rendering
    (a `Response`, its headers object, the JSON) is the larger part of a request to this route
    (issue 12: /auth/me is the guarded hot path's yardstick)."""

    __slots__ = ("_rendered",)

    def __init__(self, answer: MeUser | MeApiKey) -> None:
        super().__init__(answer)
        self._rendered: ASGIResponse | None = None

    def to_asgi_response(self, app: Any, request: Request[Any, Any, Any], **kwargs: Any) -> ASGIResponse:
        rendered = self._rendered
        if rendered is None:
            rendered = self._rendered = super().to_asgi_response(app, request, **kwargs)
            self.content = None  # type: ignore[assignment]  # in the body now: the answer keeps only its bytes
        return rendered


# The guard hands out the same principal object for a credential while nothing about it changed
# (`AuthenticateBearer`, `AuthenticateApiKey`), so the answer is built once per principal and
# reused while the request's principal is that very object. One entry per session or API key
# (not per principal object): a session read again (the fence lapsed, or it rotated) makes a new
# principal, which replaces its session's entry instead of adding one, so the table holds the
# sessions and keys in use, not every principal made since it was last emptied (under load the
# fence lapses now and then, and each re-read added an entry). Bounded: emptied when full. A
# rendered answer holds about 1.4 KB (tracemalloc), so 4,096 of them hold about 6 MB a worker; a
# session past that is rendered again (~12 µs) on its next request after the table is emptied.
_answers: dict[object, tuple[Principal, _RenderedOnce]] = {}
KNOWN_ANSWERS = 4_096


# Registered on its own, not in `router`: see ROUTES in app.py.
@get("/auth/me", tags=TAGS)
async def me() -> Response[MeUser | MeApiKey]:
    """Who am I, and until when."""
    # No `request` parameter: Litestar resolves one per request (~4 µs on the hot path, issue 12).
    principal = current_principal()
    slot = principal.session_id if isinstance(principal, UserPrincipal) else principal.key_id
    known = _answers.get(slot)
    if known is not None and known[0] is principal:
        return known[1]
    answer = _RenderedOnce(_answer(principal))
    if len(_answers) >= KNOWN_ANSWERS:
        _answers.clear()
    _answers[slot] = (principal, answer)
    return answer


def _answer(principal: Principal) -> MeUser | MeApiKey:
    if not isinstance(principal, UserPrincipal):
        return MeApiKey(api_key=ApiKeyOut(id=principal.key_id, name=principal.name))
    # The guard's revocation check read the session on this very request: no second read, and no
    # use case to resolve (this route is the guarded hot path's yardstick, issue 12).
    session = principal.session
    if session is None:  # pragma: no cover - the guard always attaches the session it checked
        raise TokenRevoked()
    user_created = session.user_created_at or session.created_at
    return MeUser(
        user=UserOut(id=principal.user_id, email=session.email, created_at=wire_time(user_created)),
        session=MeSession(
            id=session.id,
            access_token_expires_at=wire_time(principal.access_token_expires_at),
            refresh_expires_at=wire_time(session.refresh_expires_at),
        ),
    )


# Each answer holds tokens: never stored by a cache.
router = Router("/auth", route_handlers=[register, login, refresh], tags=TAGS, cache_control=NO_STORE)
