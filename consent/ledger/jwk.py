"""The Ed25519 public keys that tree heads and receipts are checked with, read from JWKs.

A key is an ``OKP`` JWK with ``crv`` ``Ed25519`` (RFC 8037), alone or in a JWKS (RFC 7517
§5), as the broker publishes it. Pure: offline verification reads keys with it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from typing import Any

import rfc8785
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


class KeyFormatError(ValueError):
    """A JWK or JWKS that holds no usable Ed25519 public key."""


def _is_ed25519(jwk: object) -> bool:
    return isinstance(jwk, Mapping) and jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519"


def public_key_from_jwk(jwk: Mapping[str, Any]) -> Ed25519PublicKey:
    """Read an Ed25519 public JWK, or the first Ed25519 key of a JWKS; ``KeyFormatError`` if not."""
    if isinstance(jwk, Mapping) and isinstance(jwk.get("keys"), list):
        keys = [key for key in jwk["keys"] if _is_ed25519(key)]
        if not keys:
            raise KeyFormatError("the key set holds no Ed25519 key")
        jwk = keys[0]
    if not _is_ed25519(jwk) or not isinstance(jwk.get("x"), str):
        raise KeyFormatError("not an Ed25519 public JWK (kty OKP, crv Ed25519)")
    x = jwk["x"]
    try:
        raw = base64.urlsafe_b64decode(x + "=" * (-len(x) % 4))
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError) as exc:
        raise KeyFormatError(f"the JWK's key is unreadable: {exc}") from exc


def keys_from_document(document: object) -> dict[str | None, Ed25519PublicKey]:
    """The Ed25519 keys of a JWK or a JWKS, by ``kid`` (None for a JWK without one)."""
    if not isinstance(document, Mapping):
        raise KeyFormatError("a public key is a JSON object: a JWK or a JWKS")
    candidates = document.get("keys") if "keys" in document else [document]
    if not isinstance(candidates, list):
        raise KeyFormatError("a JWKS holds a list under 'keys'")
    keys: dict[str | None, Ed25519PublicKey] = {}
    for jwk in candidates:
        if _is_ed25519(jwk):
            kid = jwk.get("kid")
            keys[kid if isinstance(kid, str) else None] = public_key_from_jwk(jwk)
    if not keys:
        raise KeyFormatError("no Ed25519 public key (kty OKP, crv Ed25519) found")
    return keys


def pick_key(keys: Mapping[str | None, Ed25519PublicKey], key_id: str) -> Ed25519PublicKey | None:
    """The key named ``key_id``, else one without a name, else the only key there is."""
    if key_id in keys:
        return keys[key_id]
    if None in keys:
        return keys[None]
    return next(iter(keys.values())) if len(keys) == 1 else None


def public_jwk_of(key: Ed25519PublicKey) -> dict[str, str]:
    """The RFC 8037 public JWK of ``key``: only its required members."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": base64.urlsafe_b64encode(raw).rstrip(b"=").decode(),
    }


#: The required members of a public JWK of each key type, those RFC 7638 §3.2 hashes
#: (RFC 7518 §6.2.1 and §6.3.1, RFC 8037 §2).
THUMBPRINT_MEMBERS = {
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
    "RSA": ("e", "kty", "n"),
}


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 thumbprint of a public JWK (EC, OKP or RSA): SHA-256 over its required
    members only, in RFC 8785 form (which is RFC 7638's: sorted members, no whitespace).
    DPoP binds tokens to this (RFC 9449 §6.1, ``jkt``); ``KeyFormatError`` if a member lacks."""
    members = THUMBPRINT_MEMBERS.get(str(jwk.get("kty")))
    if members is None or not all(isinstance(jwk.get(name), str) for name in members):
        raise KeyFormatError("not a public JWK of type EC, OKP or RSA with its required members")
    digest = hashlib.sha256(rfc8785.dumps({name: jwk[name] for name in members})).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def thumbprint(key: Ed25519PublicKey) -> str:
    """The RFC 7638 thumbprint of ``key`` (:func:`jwk_thumbprint`). The broker's ``kid`` is
    this."""
    return jwk_thumbprint(public_jwk_of(key))
