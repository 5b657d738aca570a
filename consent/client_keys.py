"""The public keys a service authenticates with (``private_key_jwt``, RFC 7523 §2.2).

A service registered this way hands the city a JWK Set (RFC 7517 §5) of public signing keys,
inline or at a ``jwks_uri`` it serves. The same check runs on both: before a set is stored at
registration, and on every set fetched from a ``jwks_uri`` later.

Only the algorithms the broker accepts for client assertions are admitted (ES256 on P-256,
EdDSA on Ed25519: FAPI 2.0 Security Profile §5.4.1), each key with a ``kid`` so that a
client can rotate keys, and no private member, so that a private key sent by mistake is
refused rather than stored.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

#: Members that only a private or symmetric JWK has (RFC 7518 §6.2.2, §6.3.2, §6.4.1;
#: RFC 8037 §2).
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
#: The members of a public signing key that are stored; anything else is dropped.
KEPT_MEMBERS = ("kty", "crv", "x", "y", "kid", "use", "alg")
#: (kty, crv) -> the JWS algorithm a key of that kind signs client assertions with.
ALGORITHM_OF = {("EC", "P-256"): "ES256", ("OKP", "Ed25519"): "EdDSA"}
MAX_KEYS = 10
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class InvalidClientKeys(ValueError):
    """A JWK Set or JWKS URI that cannot be used; the message says why, in words."""


def _coordinate(key: dict[str, Any], name: str, length: int, where: str) -> bytes:
    value = key.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidClientKeys(f"{where}: missing '{name}'")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidClientKeys(f"{where}: '{name}' is not base64url") from exc
    if len(raw) != length:
        raise InvalidClientKeys(f"{where}: '{name}' must be {length} bytes")
    return raw


def _check_key(key: Any, where: str) -> dict[str, Any]:
    if not isinstance(key, dict):
        raise InvalidClientKeys(f"{where}: not a JSON object")
    private = sorted(PRIVATE_MEMBERS & set(key))
    if private:
        raise InvalidClientKeys(
            f"{where}: a private or symmetric key (it has {', '.join(private)}); "
            "register the public key only, and keep the private key with the service"
        )
    kind = (key.get("kty"), key.get("crv"))
    if kind not in ALGORITHM_OF:
        raise InvalidClientKeys(
            f"{where}: kty {kind[0]!r} crv {kind[1]!r} is not accepted; use an EC P-256 key "
            "(ES256) or an OKP Ed25519 key (EdDSA)"
        )
    kid = key.get("kid")
    if not isinstance(kid, str) or not kid.strip() or len(kid) > 200:
        raise InvalidClientKeys(f"{where}: every key needs a 'kid' (a short string)")
    if key.get("use", "sig") != "sig":
        raise InvalidClientKeys(f"{where}: 'use' must be 'sig'")
    if key.get("alg", ALGORITHM_OF[kind]) != ALGORITHM_OF[kind]:
        raise InvalidClientKeys(f"{where}: 'alg' must be {ALGORITHM_OF[kind]} for this key")
    try:
        if kind == ("EC", "P-256"):
            x = int.from_bytes(_coordinate(key, "x", 32, where), "big")
            y = int.from_bytes(_coordinate(key, "y", 32, where), "big")
            ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
        else:
            Ed25519PublicKey.from_public_bytes(_coordinate(key, "x", 32, where))
    except ValueError as exc:
        if isinstance(exc, InvalidClientKeys):
            raise
        raise InvalidClientKeys(f"{where}: not a valid public key on its curve") from exc
    return {name: key[name] for name in KEPT_MEMBERS if name in key}


def check_public_jwks(document: Any) -> dict[str, Any]:
    """The JWK Set ``document`` reduced to its public signing keys; raises
    :class:`InvalidClientKeys` naming the first problem."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise InvalidClientKeys('not a JWK Set: expected {"keys": [...]} (RFC 7517 §5)')
    keys = document["keys"]
    if not keys:
        raise InvalidClientKeys("the JWK Set has no keys")
    if len(keys) > MAX_KEYS:
        raise InvalidClientKeys(f"the JWK Set has more than {MAX_KEYS} keys")
    checked = [_check_key(key, f"key {index + 1}") for index, key in enumerate(keys)]
    kids = [key["kid"] for key in checked]
    if len(set(kids)) != len(kids):
        raise InvalidClientKeys("two keys have the same 'kid'")
    return {"keys": checked}


def check_jwks_uri(uri: str, *, production: bool) -> str:
    """A ``jwks_uri`` is https; plain http only on loopback and outside production."""
    parts = urlsplit(uri)
    if not parts.hostname or parts.fragment or parts.username or parts.password:
        raise InvalidClientKeys(f"JWKS URI {uri!r} must be an absolute URL without credentials")
    if parts.scheme == "https":
        return uri
    if parts.scheme == "http" and parts.hostname in LOOPBACK and not production:
        return uri
    raise InvalidClientKeys(
        f"JWKS URI {uri!r} must use https"
        + ("" if production else " (http only on loopback, outside production)")
    )
