"""Every keyed MAC's label and byte layout, pinned: stored hashes (Postgres, Redis) and handed-out
tags and device tokens must still verify after any refactoring. A change here logs users out."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from musicez.adapters.events import ClientIds
from musicez.adapters.security.keyed_hash import HmacHasher
from musicez.application import macs
from musicez.application.session_opening import signed, successor_of
from musicez.domain.ids import ApiKeyId, SessionId, UserId
from musicez.domain.refresh_token import RefreshToken

HASHER = HmacHasher(b"k" * 32)
USER = UserId(UUID("01890000-0000-7000-8000-000000000001"))
SESSION = SessionId(UUID("01890000-0000-7000-8000-000000000002"))
TOKEN = RefreshToken(USER, SESSION, 3, b"\x07" * 32)


def test_each_label_gives_its_known_digest() -> None:
    expiry = (1700000000).to_bytes(8, "big")
    assert macs.refresh_hash(HASHER, "A" * 43) == "625834c861f4a121e0dce1aa525dfcee50be4e1c5008021f23d843257212f5b5"
    assert signed(HASHER, TOKEN).tag.hex() == "6022d563f126a8c15483de0772a19d3b"
    assert (
        successor_of(HASHER, TOKEN, "B" * 118).secret.hex()
        == "fc22496a99db9934d1490c8fa474a3a3edd80774e54698e14f35ebf11ff4c48b"
    )
    assert macs.api_key_hash(HASHER, "C" * 43) == "2e06dc5a91324eed65500e102b3bd793c5c020e1e49418ff059931f3db6942ab"
    assert macs.reset_token_hash(HASHER, "D" * 43) == "6f9422759653d64bb4758f6f6fb6ef28ced19aa17e2de039ae1f71dac0099352"
    assert (
        macs.security_link_hash(HASHER, "E" * 43) == "3c051726d159f4e644844784c255c3414278ea9a3573e6eda63487f517863500"
    )
    assert (
        macs.device_token_mac(HASHER, USER, 1_699_000_000_000_000, expiry, b"\x09" * 16).hex()
        == "fd77194593ea6a128a1a4d025bec95d7bd36f9e950ec65c40ce45ba27b8b13dc"
    )
    assert ClientIds(HASHER).of("203.0.113.7", datetime(2026, 1, 2, 3, tzinfo=UTC)) == "f7b9fdf1a0f4dadd77e908df"
    assert macs.rate_limit_key(HASHER, "a@example.com|203.0.113.7") == "34ebfebc1a098b356607e0eb8d254fe8"


def test_the_labels_are_the_stored_ones_and_distinct() -> None:
    assert macs.LABELS == (
        "refresh-token",
        "refresh-token-tag",
        "refresh-successor",
        "api-key",
        "reset-token",
        "security-link",
        "device-token",
        "client-id",
        "rate-limit-key",
    )
    assert len(set(macs.LABELS)) == len(macs.LABELS)


def test_a_label_separates_uses() -> None:
    assert macs.reset_token_hash(HASHER, "X" * 43) != macs.security_link_hash(HASHER, "X" * 43)


def test_secret_bearing_values_hide_their_secrets() -> None:
    from musicez.adapters.mail.smtp import SmtpTarget
    from musicez.application.ports import AccessToken
    from musicez.domain.api_key import PresentedKey

    shown = [
        repr(AccessToken("sekrit-at", datetime(2026, 1, 1, tzinfo=UTC), 900)),
        repr(PresentedKey(ApiKeyId(USER), "sekrit-key")),
    ]
    assert all("sekrit" not in text for text in shown)
    assert "sekrit" not in repr(SmtpTarget.parse("smtp://user:sekrit-pw@mail.example:25"))
