"""Key loading: which PEMs and secrets make a key ring, the JWK set it publishes, and the
development secret file."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from musicez.adapters.security.keys import (
    UnusableKeyError,
    asymmetric_ring,
    generate_private_pem,
    read_or_create_secret_file,
    shared_secret_ring,
)


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _private_pem(key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _public_pem(pem: str) -> str:
    private = serialization.load_pem_private_key(pem.encode(), password=None)
    public = private.public_key()
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def test_the_kid_is_the_rfc_7638_thumbprint_of_the_rfc_8037_example_key() -> None:
    """RFC 8037, appendix A.1 (the key) and A.3 (its JWK thumbprint)."""
    d = _b64decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
    ring = asymmetric_ring(_private_pem(ed25519.Ed25519PrivateKey.from_private_bytes(d)), "EdDSA")

    assert ring.signing_kid == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    assert ring.jwks() == {
        "keys": [
            {
                "kty": "OKP",
                "crv": "Ed25519",
                "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
                "kid": "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k",
                "use": "sig",
                "alg": "EdDSA",
            }
        ]
    }


@pytest.mark.parametrize(("algorithm", "kty", "crv"), [("EdDSA", "OKP", "Ed25519"), ("ES256", "EC", "P-256")])
def test_a_generated_key_makes_a_ring_that_publishes_only_public_parts(algorithm: str, kty: str, crv: str) -> None:
    ring = asymmetric_ring(generate_private_pem(algorithm), algorithm)

    assert ring.algorithm == algorithm
    assert ring.asymmetric
    assert list(ring.verifiers) == [ring.signing_kid]
    (jwk,) = ring.public_jwks
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"], jwk["kid"]) == (
        kty,
        crv,
        algorithm,
        "sig",
        ring.signing_kid,
    )
    assert "d" not in jwk


def test_retired_public_keys_are_verifiers_after_the_signing_key() -> None:
    retired = [generate_private_pem("EdDSA") for _ in range(2)]
    bundle = "".join(_public_pem(pem) for pem in retired)
    ring = asymmetric_ring(generate_private_pem("EdDSA"), "EdDSA", retired_public_pem=bundle)

    kids = [jwk["kid"] for jwk in ring.public_jwks]
    assert len(kids) == len(set(kids)) == 3
    assert kids[0] == ring.signing_kid
    assert list(ring.verifiers) == kids
    assert kids[1:] == [asymmetric_ring(pem, "EdDSA").signing_kid for pem in retired]


def test_the_verification_key_is_looked_up_by_a_string_kid_only() -> None:
    ring = asymmetric_ring(generate_private_pem("EdDSA"), "EdDSA")
    assert ring.verification_key(ring.signing_kid) is not None
    assert ring.verification_key("unknown") is None
    assert ring.verification_key(None) is None
    assert ring.verification_key(["a", "list"]) is None


@pytest.mark.parametrize(
    ("pem", "algorithm", "message"),
    [
        ("not a key", "EdDSA", "not a PEM private key"),
        (generate_private_pem("EdDSA"), "ES256", "does not fit ES256"),
        (generate_private_pem("ES256"), "EdDSA", "does not fit EdDSA"),
        (_private_pem(ec.generate_private_key(ec.SECP384R1())), "ES256", "does not fit ES256"),
    ],
)
def test_a_signing_key_that_does_not_fit_is_refused(pem: str, algorithm: str, message: str) -> None:
    with pytest.raises(UnusableKeyError, match=message):
        asymmetric_ring(pem, algorithm)


def test_a_retired_key_that_does_not_fit_is_refused() -> None:
    wrong_kind = _public_pem(generate_private_pem("ES256"))
    with pytest.raises(UnusableKeyError, match="does not fit EdDSA"):
        asymmetric_ring(generate_private_pem("EdDSA"), "EdDSA", retired_public_pem=wrong_kind)
    garbled = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
    with pytest.raises(UnusableKeyError, match="not a PEM public key"):
        asymmetric_ring(generate_private_pem("EdDSA"), "EdDSA", retired_public_pem=garbled)


def test_an_unusable_key_is_a_value_error() -> None:
    """Settings validation and the CLI report it as a configuration error."""
    assert issubclass(UnusableKeyError, ValueError)


def test_a_shared_secret_ring() -> None:
    ring = shared_secret_ring("a" * 32, ["b" * 32, ""])
    assert ring.algorithm == "HS256"
    assert not ring.asymmetric
    assert ring.signing_key == b"a" * 32
    assert ring.public_jwks == []  # nothing to publish
    assert len(ring.verifiers) == 2
    assert next(iter(ring.verifiers)) == ring.signing_kid
    assert "a" * 32 not in ring.signing_kid  # the kid does not reveal the secret
    assert shared_secret_ring("a" * 32).signing_kid == ring.signing_kid  # stable across restarts
    assert shared_secret_ring("c" * 32).signing_kid != ring.signing_kid


def test_a_short_shared_secret_is_refused() -> None:
    with pytest.raises(UnusableKeyError, match="at least 32 bytes"):
        shared_secret_ring("a" * 31)


def test_the_development_secret_file_is_made_once_and_private(tmp_path: Path) -> None:
    path = tmp_path / "data" / "jwt.key"
    made: list[str] = []

    def make() -> str:
        made.append("x")
        return f"secret-{len(made)}"

    assert read_or_create_secret_file(path, make) == "secret-1"
    assert read_or_create_secret_file(path, make) == "secret-1"
    assert made == ["x"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert list(path.parent.iterdir()) == [path]  # no temporary file left
