"""Signing and verification keys for access tokens, and their public JWK set."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from jwt.algorithms import ECAlgorithm, OKPAlgorithm

from musicez.domain import base64url

ASYMMETRIC = ("EdDSA", "ES256")
ALGORITHMS = (*ASYMMETRIC, "HS256")
_PEM_BLOCK_END = "-----END"

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey


class UnusableKeyError(ValueError):
    """A configured key cannot be used."""


@dataclass(frozen=True, slots=True)
class KeyRing:
    algorithm: str
    signing_key: Any
    signing_kid: str
    # kid -> key: the signing key's own verifier first, then retired keys still accepted.
    verifiers: dict[str, Any] = field(default_factory=dict)
    public_jwks: list[dict[str, Any]] = field(default_factory=list)

    def verification_key(self, kid: object) -> Any | None:
        return self.verifiers.get(kid) if isinstance(kid, str) else None

    def jwks(self) -> dict[str, Any]:
        return {"keys": self.public_jwks}

    @property
    def asymmetric(self) -> bool:
        return self.algorithm in ASYMMETRIC


def public_jwk(public_key: PublicKey, algorithm: str) -> dict[str, Any]:
    jwk: dict[str, Any]
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        jwk = OKPAlgorithm.to_jwk(public_key, as_dict=True)
    else:
        jwk = ECAlgorithm.to_jwk(public_key, as_dict=True)
    required = ("crv", "kty", "x") if jwk["kty"] == "OKP" else ("crv", "kty", "x", "y")
    canonical = json.dumps({k: jwk[k] for k in required}, separators=(",", ":"), sort_keys=True)
    jwk["kid"] = base64url.encode(hashlib.sha256(canonical.encode()).digest())  # RFC 7638 thumbprint
    jwk.update(use="sig", alg=algorithm)
    return jwk


def _load_private(pem: str, algorithm: str) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise UnusableKeyError(f"the JWT signing key is not a PEM private key: {exc}") from None
    expected = ed25519.Ed25519PrivateKey if algorithm == "EdDSA" else ec.EllipticCurvePrivateKey
    if not isinstance(key, expected) or (isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name != "secp256r1"):
        raise UnusableKeyError(f"the JWT signing key does not fit {algorithm} (Ed25519 for EdDSA, P-256 for ES256)")
    return key


def _split_pem(text: str) -> list[str]:
    blocks, current = [], []
    for line in text.splitlines():
        current.append(line)
        if line.startswith(_PEM_BLOCK_END):
            blocks.append("\n".join(current) + "\n")
            current = []
    return [b for b in blocks if b.strip()]


def _load_public(pem: str, algorithm: str) -> PublicKey:
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError) as exc:
        raise UnusableKeyError(f"a JWT verification key is not a PEM public key: {exc}") from None
    expected = ed25519.Ed25519PublicKey if algorithm == "EdDSA" else ec.EllipticCurvePublicKey
    if not isinstance(key, expected):
        raise UnusableKeyError(f"a JWT verification key does not fit {algorithm}")
    return key


def asymmetric_ring(private_pem: str, algorithm: str, retired_public_pem: str = "") -> KeyRing:
    private = _load_private(private_pem, algorithm)
    publics = [private.public_key(), *(_load_public(b, algorithm) for b in _split_pem(retired_public_pem))]
    jwks = [public_jwk(p, algorithm) for p in publics]
    verifiers = {jwk["kid"]: p for jwk, p in zip(jwks, publics, strict=True)}
    return KeyRing(algorithm, private, jwks[0]["kid"], verifiers, jwks)


def _secret_kid(secret: bytes) -> str:
    return base64url.encode(hmac.new(secret, b"musicez key id", hashlib.sha256).digest()[:12])


def shared_secret_ring(secret: str, retired_secrets: list[str] | None = None) -> KeyRing:
    keys = [s.encode() for s in [secret, *(retired_secrets or [])] if s]
    if len(keys[0]) < 32:
        raise UnusableKeyError("the HS256 secret must be at least 32 bytes")
    verifiers = {_secret_kid(k): k for k in keys}
    return KeyRing("HS256", keys[0], _secret_kid(keys[0]), verifiers, [])


def generate_private_pem(algorithm: str) -> str:
    key: PrivateKey = (
        ed25519.Ed25519PrivateKey.generate() if algorithm == "EdDSA" else ec.generate_private_key(ec.SECP256R1())
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def read_or_create_secret_file(path: Path, make: Any) -> str:
    """Development only: a generated secret kept in the data dir, so restarts keep it."""
    if path.exists():
        return path.read_text()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # the data dir: private
    value: str = make()
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    try:
        os.link(tmp, path)  # fails if another worker won the race: then use its file
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text()
