"""Sign and verify the JWT assertions the vendors' OAuth grants use.

Salesforce's JWT bearer flow signs with RS256; NetSuite's machine-to-machine client
credentials flow signs with PS256 (RSA) or ES256/384/512 (EC). PyJWT is not a project
dependency, and the subset needed is small, so `cryptography` does it here. `sign_jwt` is for
tests and demo clients; the sandboxes only verify.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}
_EC_SIZES = {"256": 32, "384": 48, "512": 66}
SUPPORTED_ALGS = frozenset(f"{f}{b}" for f in ("RS", "PS", "ES") for b in _HASHES)


class JwtError(ValueError):
    """The assertion is malformed, badly signed, expired, or for someone else."""


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_jwt(
    claims: dict[str, Any], private_key_pem: bytes, alg: str, *, kid: str | None = None
) -> str:
    if alg not in SUPPORTED_ALGS:
        raise JwtError(f"unsupported alg {alg}")
    header: dict[str, Any] = {"alg": alg, "typ": "JWT"}
    if kid:
        header["kid"] = kid
    signing_input = ".".join(
        b64url_encode(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )
    key = serialization.load_pem_private_key(private_key_pem, password=None)
    signature = _sign(key, alg, signing_input.encode("ascii"))
    return f"{signing_input}.{b64url_encode(signature)}"


def decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims, for picking the key to verify with (by `iss`/`kid`)."""
    try:
        head, body, _sig = token.split(".")
        return json.loads(b64url_decode(head)), json.loads(b64url_decode(body))
    except (ValueError, TypeError) as exc:
        raise JwtError("malformed JWT") from exc


def verify_jwt(
    token: str,
    public_key_pem: bytes,
    *,
    issuer: str | None = None,
    audience: str | None = None,
    leeway: float = 60.0,
) -> dict[str, Any]:
    """The claims, if signature, `exp`, `iss` and `aud` check out."""
    header, claims = decode_unverified(token)
    alg = header.get("alg")
    if alg not in SUPPORTED_ALGS:
        raise JwtError(f"unsupported alg {alg!r}")
    signing_input, _, sig = token.rpartition(".")
    if not _verify(_public_key(public_key_pem), alg, signing_input.encode(), b64url_decode(sig)):
        raise JwtError("invalid signature")
    _check_claims(claims, issuer=issuer, audience=audience, leeway=leeway)
    return claims


def _check_claims(
    claims: dict[str, Any], *, issuer: str | None, audience: str | None, leeway: float
) -> None:
    now = time.time()
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or exp + leeway < now:
        raise JwtError("expired or missing exp")
    if issuer is not None and claims.get("iss") != issuer:
        raise JwtError("wrong issuer")
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if audience is not None and audience not in audiences:
        raise JwtError("wrong audience")


def _public_key(pem: bytes) -> Any:
    if b"BEGIN CERTIFICATE" in pem:
        return x509.load_pem_x509_certificate(pem).public_key()
    return serialization.load_pem_public_key(pem)


def _sign(key: Any, alg: str, data: bytes) -> bytes:
    family, bits = alg[:2], alg[2:]
    digest = _HASHES[bits]()
    if family == "RS":
        return key.sign(data, padding.PKCS1v15(), digest)
    if family == "PS":
        return key.sign(data, _pss(digest), digest)
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(digest)))
    size = _EC_SIZES[bits]
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def _verify(key: Any, alg: str, data: bytes, signature: bytes) -> bool:
    family, bits = alg[:2], alg[2:]
    digest = _HASHES[bits]()
    try:
        if family in ("RS", "PS"):
            if not isinstance(key, rsa.RSAPublicKey):
                return False
            pad = padding.PKCS1v15() if family == "RS" else _pss(digest)
            key.verify(signature, data, pad, digest)
        else:
            if not isinstance(key, ec.EllipticCurvePublicKey):
                return False
            half = len(signature) // 2
            der = encode_dss_signature(
                int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
            )
            key.verify(der, data, ec.ECDSA(digest))
    except InvalidSignature:
        return False
    return True


def _pss(digest: hashes.HashAlgorithm) -> padding.PSS:
    # JWA (RFC 7518 §3.5): salt length equals the hash output length.
    return padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
