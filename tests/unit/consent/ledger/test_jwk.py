"""Reading the Ed25519 public key that tree heads and receipts are checked with."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from broker.keys import public_jwk
from consent.ledger.jwk import KeyFormatError, keys_from_document, pick_key, public_key_from_jwk


def _raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def test_a_jwk_and_the_first_ed25519_key_of_a_jwks_are_read():
    key = Ed25519PrivateKey.generate()
    jwk = public_jwk(key, "k1")
    expected = _raw(key.public_key())
    assert _raw(public_key_from_jwk(jwk)) == expected
    assert _raw(public_key_from_jwk({"keys": [{"kty": "RSA", "n": "x"}, jwk]})) == expected


@pytest.mark.parametrize(
    "document",
    [
        {"kty": "RSA", "n": "x", "e": "AQAB"},
        {"kty": "OKP", "crv": "X25519", "x": "AAAA"},
        {"kty": "OKP", "crv": "Ed25519"},
        {"kty": "OKP", "crv": "Ed25519", "x": "c2hvcnQ"},
        {"keys": []},
        {"keys": [{"kty": "RSA"}]},
        "not a key",
    ],
)
def test_anything_else_is_a_key_format_error(document):
    with pytest.raises(KeyFormatError):
        public_key_from_jwk(document)
    assert issubclass(KeyFormatError, ValueError)  # callers that catch ValueError still do


def test_a_jwks_gives_its_keys_by_kid_and_the_heads_kid_picks_one():
    first, second = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    keys = keys_from_document({"keys": [public_jwk(first, "a"), public_jwk(second, "b")]})
    assert set(keys) == {"a", "b"}
    picked = pick_key(keys, "b")
    assert picked is not None and _raw(picked) == _raw(second.public_key())
    assert pick_key(keys, "c") is None
    only = keys_from_document(public_jwk(first))
    assert pick_key(only, "whatever") is only[None]
