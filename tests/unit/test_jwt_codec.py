"""The access-token codec on its own: what it signs, and every way a token is refused."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from musicez.adapters.security.jwt_codec import MAX_TOKEN_LENGTH, TOKEN_TYPE, JwtCodec, TokenSettings
from musicez.adapters.security.keys import KeyRing, asymmetric_ring, generate_private_pem, shared_secret_ring
from musicez.domain.errors import InvalidToken, TokenExpired
from musicez.domain.ids import SessionId, UserId

SETTINGS = TokenSettings(issuer="https://auth.test", audience="musicez-api", ttl_seconds=900)
USER = UserId(uuid.UUID("0190a7e2-0000-7000-8000-000000000001"))
SESSION = SessionId(uuid.UUID("0190a7e2-0000-7000-8000-000000000002"))


@pytest.fixture(scope="module")
def ring() -> KeyRing:
    return asymmetric_ring(generate_private_pem("EdDSA"), "EdDSA")


@pytest.fixture
def codec(ring: KeyRing) -> JwtCodec:
    return JwtCodec(ring, SETTINGS)


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def claims(issued: datetime, **changes: object) -> dict[str, object]:
    payload: dict[str, object] = {
        "iss": SETTINGS.issuer,
        "aud": SETTINGS.audience,
        "sub": str(USER),
        "sid": str(SESSION),
        "jti": "j1",
        "iat": int(issued.timestamp()),
        "exp": int(issued.timestamp()) + SETTINGS.ttl_seconds,
    }
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not None}


def sign(ring: KeyRing, payload: dict[str, object], **header: object) -> str:
    headers: dict[str, object] = {"kid": ring.signing_kid, "typ": TOKEN_TYPE, **header}
    return jwt.encode(payload, ring.signing_key, algorithm=ring.algorithm, headers=headers)


def test_an_issued_token_verifies_to_its_claims(codec: JwtCodec, ring: KeyRing) -> None:
    issued = now()
    access = codec.issue(USER, SESSION, issued)

    assert access.lifetime_seconds == SETTINGS.ttl_seconds
    assert access.expires_at == issued + timedelta(seconds=SETTINGS.ttl_seconds)
    header = jwt.get_unverified_header(access.token)
    assert header["typ"] == TOKEN_TYPE
    assert header["kid"] == ring.signing_kid
    assert header["alg"] == "EdDSA"

    verified = codec.verify(access.token)
    assert (verified.user_id, verified.session_id) == (USER, SESSION)
    assert verified.expires_at == access.expires_at
    assert verified.issued_at == issued
    assert verified.issuer == SETTINGS.issuer
    assert verified.audience == SETTINGS.audience
    assert verified.token_id


def test_each_token_has_its_own_id(codec: JwtCodec) -> None:
    issued = now()
    first, second = codec.issue(USER, SESSION, issued), codec.issue(USER, SESSION, issued)
    assert first.token != second.token
    assert codec.verify(first.token).token_id != codec.verify(second.token).token_id


def test_a_verified_token_is_remembered(codec: JwtCodec) -> None:
    token = codec.issue(USER, SESSION, now()).token
    assert codec.verify(token) is codec.verify(token)


def test_an_expired_token_is_token_expired(codec: JwtCodec) -> None:
    old = codec.issue(USER, SESSION, now() - timedelta(seconds=SETTINGS.ttl_seconds + SETTINGS.leeway_seconds + 5))
    with pytest.raises(TokenExpired):
        codec.verify(old.token)


def test_a_token_just_inside_the_leeway_still_verifies(codec: JwtCodec) -> None:
    recent = codec.issue(USER, SESSION, now() - timedelta(seconds=SETTINGS.ttl_seconds + SETTINGS.leeway_seconds - 5))
    assert codec.verify(recent.token).user_id == USER


@pytest.mark.parametrize(
    ("token", "why"),
    [
        ("", "empty"),
        ("not-a-jwt", "not three parts"),
        ("a.b.c", "not base64 JSON"),
        ("x" * (MAX_TOKEN_LENGTH + 1), "too long"),
        ("ä.ö.ü", "not ASCII"),
    ],
)
def test_a_malformed_token_is_invalid(codec: JwtCodec, token: str, why: str) -> None:
    with pytest.raises(InvalidToken) as caught:
        codec.verify(token)
    assert type(caught.value) is InvalidToken, why


@pytest.mark.parametrize("part", [0, 1, 2])
@pytest.mark.parametrize("padding", ["=", "==", "==="])
def test_a_padded_spelling_of_a_good_token_is_invalid(codec: JwtCodec, part: int, padding: str) -> None:
    """Compact JWS is base64url without '=' (RFC 7515): a token has one spelling, not many (each
    would be a verified-token cache entry of its own)."""
    good = codec.issue(USER, SESSION, now()).token
    parts = good.split(".")
    parts[part] += padding
    with pytest.raises(InvalidToken) as caught:
        codec.verify(".".join(parts))
    assert type(caught.value) is InvalidToken
    assert codec.verify(good).user_id == USER


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"aud": "another-api"}, "another audience"),
        ({"iss": "https://other.test"}, "another issuer"),
        ({"sid": None}, "no session id"),
        ({"sub": None}, "no subject"),
        ({"iat": None}, "no issue time"),
        ({"sub": "not-a-uuid"}, "a subject that is no UUID"),
    ],
)
def test_a_token_with_wrong_or_missing_claims_is_invalid(
    codec: JwtCodec, ring: KeyRing, changes: dict[str, object], why: str
) -> None:
    token = sign(ring, claims(now(), **changes))
    with pytest.raises(InvalidToken) as caught:
        codec.verify(token)
    assert type(caught.value) is InvalidToken, why


def test_a_token_of_another_type_is_invalid(codec: JwtCodec, ring: KeyRing) -> None:
    """An ID token or any other JWT signed with the same key is not an access token (RFC 9068)."""
    with pytest.raises(InvalidToken):
        codec.verify(sign(ring, claims(now()), typ="JWT"))


def test_a_token_of_an_unknown_key_is_invalid(codec: JwtCodec) -> None:
    stranger = asymmetric_ring(generate_private_pem("EdDSA"), "EdDSA")
    with pytest.raises(InvalidToken):
        codec.verify(sign(stranger, claims(now())))
    with pytest.raises(InvalidToken):  # a stranger's signature under our kid
        codec.verify(sign(stranger, claims(now()), kid=codec_kid(codec)))


def codec_kid(codec: JwtCodec) -> str:
    return jwt.get_unverified_header(codec.issue(USER, SESSION, now()).token)["kid"]  # type: ignore[no-any-return]


def test_only_the_rings_algorithm_is_accepted(ring: KeyRing, codec: JwtCodec) -> None:
    """No algorithm confusion: an HS256 token under the ring's kid is refused, whatever its key."""
    forged = jwt.encode(
        claims(now()), b"s" * 32, algorithm="HS256", headers={"kid": ring.signing_kid, "typ": TOKEN_TYPE}
    )
    with pytest.raises(InvalidToken):
        codec.verify(forged)


def test_a_retired_key_still_verifies_and_is_not_used_to_sign() -> None:
    old_pem = generate_private_pem("ES256")
    old = asymmetric_ring(old_pem, "ES256")
    old_public = [j for j in old.public_jwks if j["kid"] == old.signing_kid]
    assert old_public
    retired_pem = _public_pem(old)
    new = asymmetric_ring(generate_private_pem("ES256"), "ES256", retired_public_pem=retired_pem)

    token = JwtCodec(old, SETTINGS).issue(USER, SESSION, now()).token
    assert JwtCodec(new, SETTINGS).verify(token).user_id == USER
    reissued = JwtCodec(new, SETTINGS).issue(USER, SESSION, now()).token
    assert jwt.get_unverified_header(reissued)["kid"] == new.signing_kid != old.signing_kid


def _public_pem(ring: KeyRing) -> str:
    from cryptography.hazmat.primitives import serialization

    public = ring.signing_key.public_key()
    pem: bytes = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem.decode()


def test_a_shared_secret_ring_signs_and_verifies_hs256() -> None:
    ring = shared_secret_ring("s" * 40)
    codec = JwtCodec(ring, SETTINGS)
    token = codec.issue(USER, SESSION, now()).token
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    assert codec.verify(token).session_id == SESSION
    with pytest.raises(InvalidToken):
        JwtCodec(shared_secret_ring("t" * 40), SETTINGS).verify(token)
